"""Every registered component passes the contract of its kind (third-party plug-ins included).

The registries are read from the installed plug-ins, so an installed third-party
plug-in is held to the same bar as the built-ins.
"""

from __future__ import annotations

from ladd_core.plugins import get_components
from ladd_core.testing.contracts import (
    BackboneContract,
    EncoderContract,
    LatentContract,
    ObjectiveContract,
    SamplerContract,
    ScheduleContract,
    TokenProcessContract,
    names_fixture,
)

CONTRACTS = {
    "schedule": ScheduleContract,
    "token_process": TokenProcessContract,
    "objective": ObjectiveContract,
    "backbone": BackboneContract,
    "encoder": EncoderContract,
    "latent": LatentContract,
    "sampler": SamplerContract,
}
"""Kind -> its contract; a test class per kind is generated below (``TestSchedule``, ``TestLatent``, ...)."""


def registered(kind: str) -> list[str]:
    return get_components().registry(kind).list()


for _kind, _contract in CONTRACTS.items():
    _name = "Test" + "".join(part.title() for part in _kind.split("_"))
    globals()[_name] = type(_name, (_contract,), {"component_name": names_fixture(registered(_kind))})


def test_the_contracts_cover_every_component_kind_with_a_contract():
    comps = get_components()
    for kind in CONTRACTS:
        assert comps.registry(kind).list(), f"no {kind} registered"
