"""Built-in data sources: ``sawtooth``, ``mixture`` and ``markov`` (synthetic, exact likelihood), ``text``,
``shakespeare``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ladd_core import hookimpl
from ladd_core.registry import register_targets

if TYPE_CHECKING:
    from ladd_core.components.data import DataSource
    from ladd_core.registry import Register


@hookimpl
def ladd_register_data_sources(register: Register[type[DataSource]]) -> None:
    register_targets(
        register,
        {
            "sawtooth": "ladd_data.sawtooth:Sawtooth",
            "mixture": "ladd_data.mixture:Mixture",
            "text": "ladd_data.text:TextSource",
            "shakespeare": "ladd_data.shakespeare:ShakespeareSource",
            "markov": "ladd_data.markov:MarkovSource",
        },
    )
