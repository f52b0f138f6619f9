"""Built-in data sources: ``sawtooth``, ``mixture`` and ``markov`` (synthetic, exact likelihood), ``text``,
``shakespeare``."""

from __future__ import annotations

from typing import Any

from ladd_core import hookimpl


@hookimpl
def ladd_register_data_sources(register: Any) -> None:
    from ladd_data.markov import MarkovSource
    from ladd_data.mixture import Mixture
    from ladd_data.sawtooth import Sawtooth
    from ladd_data.shakespeare import ShakespeareSource
    from ladd_data.text import TextSource

    register("sawtooth", Sawtooth)
    register("mixture", Mixture)
    register("text", TextSource)
    register("shakespeare", ShakespeareSource)
    register("markov", MarkovSource)
