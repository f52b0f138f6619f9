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


def registered(kind: str) -> list[str]:
    return get_components().registry(kind).list()


class TestSchedules(ScheduleContract):
    component_name = names_fixture(registered("schedule"))


class TestTokenProcesses(TokenProcessContract):
    component_name = names_fixture(registered("token_process"))


class TestObjectives(ObjectiveContract):
    component_name = names_fixture(registered("objective"))


class TestBackbones(BackboneContract):
    component_name = names_fixture(registered("backbone"))


class TestEncoders(EncoderContract):
    component_name = names_fixture(registered("encoder"))


class TestLatents(LatentContract):
    component_name = names_fixture(registered("latent"))


class TestSamplers(SamplerContract):
    component_name = names_fixture(registered("sampler"))


def test_the_contracts_cover_every_component_kind_with_a_contract():
    comps = get_components()
    for kind in ("schedule", "token_process", "objective", "backbone", "encoder", "latent", "sampler"):
        assert comps.registry(kind).list(), f"no {kind} registered"
