"""Built-in data sources: ``sawtooth``, ``mixture``, ``markov`` and ``phrases`` (synthetic, exact likelihood),
``text``, ``shakespeare``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ladd_core import hookimpl
from ladd_core.registry import register_classes

if TYPE_CHECKING:
    from ladd_core.components.data import DataSource
    from ladd_core.registry import Register


@hookimpl
def ladd_register_data_sources(register: Register[type[DataSource]]) -> None:
    from ladd_data.markov import MarkovSource
    from ladd_data.mixture import Mixture
    from ladd_data.phrases import PhrasesSource
    from ladd_data.sawtooth import Sawtooth
    from ladd_data.shakespeare import ShakespeareSource
    from ladd_data.text import TextSource

    register_classes(register, Sawtooth, Mixture, TextSource, ShakespeareSource, MarkovSource, PhrasesSource)
