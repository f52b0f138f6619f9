"""The capability vocabulary: one typed enum, string-compatible, covering every built-in declaration."""

from __future__ import annotations

import json
from typing import Literal

from ladd_core.capability import Capability
from ladd_core.cli.capabilities_cmds import capability_table
from ladd_core.cli.main import main


def test_members_are_their_strings() -> None:
    assert Capability.JOINT == "joint" and "joint" in frozenset({Capability.JOINT})
    assert Capability("sequential") is Capability.SEQUENTIAL
    assert all(c.scope in ("model", "network", "data", "schedule", "resource") and c.meaning for c in Capability)


def test_every_builtin_declaration_is_in_the_vocabulary(components) -> None:
    """A typo in a built-in's `requires` would make a sampler or metric silently never apply: none exist."""
    rows = capability_table(components)
    own = [r["capability"] for r in rows if r["scope"] == "plug-in's own"]
    assert own == [], f"built-in components declare capabilities outside Capability: {own}"
    by = {r["capability"]: r for r in rows}
    assert "latent gaussian" in by["joint"]["offered_by"] and "latent vq" in by["joint"]["offered_by"]
    assert by["joint"]["required_by"] == ["sampler joint"] and "sampler ancestral" in by["no_latent"]["required_by"]
    assert "metric true-nll" in by["known_generator"]["required_by"]


def test_a_plugins_own_capability_is_listed_as_such(components) -> None:
    from ladd_core import hookimpl
    from ladd_core.components.samplers import Sampler, SamplerConfig
    from ladd_core.plugins import load_plugins

    class Bits(Sampler):
        """Needs a capability of its own plug-in."""

        class Config(SamplerConfig):
            name: Literal["bits-sampler"] = "bits-sampler"

        requires = frozenset({"bit_latent"})

        def sample(self, model, num_samples, *, generator, length=None, condition=None):  # pragma: no cover
            raise NotImplementedError

    class Mine:
        @staticmethod
        @hookimpl
        def ladd_register_samplers(register):
            register("bits-sampler", Bits)

    comps = load_plugins([("mine", Mine)])
    assert not comps.failures
    rows = {r["capability"]: r for r in capability_table(comps)}
    assert rows["bit_latent"]["scope"] == "plug-in's own" and rows["bit_latent"]["required_by"] == [
        "sampler bits-sampler"
    ]


def test_cli_lists_them(capsys) -> None:
    assert main(["capabilities", "--json"]) == 0
    names = [r["capability"] for r in json.loads(capsys.readouterr().out)]
    assert names[: len(Capability)] == [c.value for c in Capability]
