"""Latent capabilities derive from typed protocols: a claim without the methods is rejected, naming them."""

from __future__ import annotations

from typing import Literal

import pytest
import torch
from torch import Tensor

from ladd_core import hookimpl
from ladd_core.components.latent_protocols import (
    CodeChannel,
    JointSampling,
    SequentialSampling,
    as_protocol,
    implemented_capabilities,
    protocol_members,
    unbacked_claims,
)
from ladd_core.components.latents import LatentChannel, LatentConfig, LatentTrainOutput
from ladd_core.config.capabilities import check_capabilities
from ladd_core.plugins import load_plugins
from ladd_core.testing.toys import tiny_config

JOINT = ("sample_prior", "network_input", "latent_step", "latent_finalize")


class _Plain(LatentChannel):
    """A channel with no sampling methods."""

    class Config(LatentConfig):
        name: Literal["plain"] = "plain"

    num_slots = property(lambda self: 1)

    def training_forward(self, nets, batch, *, stage=1) -> LatentTrainOutput:  # pragma: no cover
        raise NotImplementedError


class _Joint(_Plain):
    class Config(LatentConfig):
        name: Literal["joint-only"] = "joint-only"

    def sample_prior(self, batch_size, device, generator=None) -> Tensor:
        return torch.zeros(batch_size, 1, 1, device=device)

    def network_input(self, state: Tensor) -> Tensor:
        return state

    def latent_step(self, state, latent_out, t, s, generator=None) -> Tensor:
        return state

    def latent_finalize(self, state, latent_out, t, generator=None) -> Tensor:
        return latent_out


class _Both(_Joint):
    class Config(LatentConfig):
        name: Literal["both"] = "both"

    def predict_latent(self, nets, state, t_y, token_prior) -> Tensor:
        return state

    def token_condition(self, state: Tensor) -> tuple[Tensor, Tensor]:
        return state, torch.zeros(state.shape[0])

    def prompt_latent(self, nets, tokens, visible) -> Tensor | None:
        return None


class _Liar(_Plain):
    """Claims ``"joint"`` in its class attribute without the methods."""

    class Config(LatentConfig):
        name: Literal["liar"] = "liar"

    capabilities = frozenset({"joint"})


class _Overclaim(_Joint):
    """Implements joint sampling only, but its config-dependent override claims ``"sequential"`` too."""

    class Config(LatentConfig):
        name: Literal["overclaim"] = "overclaim"

    backbone_requires = frozenset({"latent_stream"})

    @classmethod
    def capabilities_for(cls, config: LatentConfig, *, has_latent_denoiser: bool = False) -> frozenset[str]:
        return super().capabilities_for(config) | {"sequential"}


def _plugin(*classes: type[LatentChannel]) -> object:
    class P:
        @staticmethod
        @hookimpl
        def ladd_register_latents(register):
            for cls in classes:
                register(cls.Config.model_fields["name"].default, cls)

    return P


def test_protocol_members_are_the_sampling_api() -> None:
    assert protocol_members(JointSampling) == JOINT
    assert protocol_members(SequentialSampling) == (*JOINT, "predict_latent", "token_condition", "prompt_latent")
    assert protocol_members(CodeChannel) == ("num_codes", "encode_codes")


def test_the_base_class_has_no_sampling_methods() -> None:
    assert all(not hasattr(LatentChannel, m) for m in protocol_members(SequentialSampling))
    assert not isinstance(_Plain(_Plain.Config()), JointSampling)


def test_capabilities_derive_from_the_implemented_protocols() -> None:
    assert _Plain.capabilities_for(_Plain.Config()) == frozenset()
    assert _Joint.capabilities_for(_Joint.Config()) == {"joint"}
    assert _Both.capabilities_for(_Both.Config()) == {"joint", "sequential"}
    assert implemented_capabilities(_Both) == {"joint", "sequential"}
    both = _Both(_Both.Config())
    assert isinstance(both, SequentialSampling) and isinstance(both, JointSampling)
    assert isinstance(_Joint(_Joint.Config()), JointSampling) and not isinstance(
        _Joint(_Joint.Config()), SequentialSampling
    )


def test_as_protocol_names_the_missing_methods() -> None:
    joint = _Joint(_Joint.Config())
    assert as_protocol(joint, JointSampling) is joint
    with pytest.raises(TypeError, match="_Joint does not implement SequentialSampling: missing predict_latent, "
                                        "token_condition, prompt_latent"):  # fmt: skip
        as_protocol(joint, SequentialSampling)


def test_a_plugin_claiming_joint_without_the_methods_is_rejected() -> None:
    comps = load_plugins([("liar", _plugin(_Liar)), ("good", _plugin(_Both))], use_entry_points=False)
    assert comps.registry("latent").list() == ["both"]
    (failure,) = comps.failures
    assert failure.plugin == "liar"
    assert "declares 'joint' but does not implement JointSampling: missing " + ", ".join(JOINT) in failure.error


def test_an_override_claiming_an_unimplemented_protocol_fails_validation() -> None:
    comps = load_plugins([("over", _plugin(_Overclaim))])
    assert not comps.failures
    assert unbacked_claims(_Overclaim, {"joint", "sequential", "joint_bound"}) == [
        "_Overclaim declares 'sequential' but does not implement SequentialSampling: "
        "missing predict_latent, token_condition, prompt_latent"
    ]
    data = {
        "model": {
            "token_process": {"name": "masked"},
            "latent": {"name": "overclaim"},
            "backbone": tiny_config(comps, "backbone", "mmdit"),
        },
        "sampler": {"name": "joint"},
    }
    draft = comps.config_model.model_validate(data)
    problems = check_capabilities(draft, comps)
    assert [p for p, _ in problems] == ["model.latent.name"]
    assert "missing predict_latent, token_condition, prompt_latent" in problems[0][1]


def test_every_registered_latent_implements_what_it_declares(components) -> None:
    for name, cls in components.registry("latent").items():
        for den in (False, True):
            caps = cls.capabilities_for(cls.Config(), has_latent_denoiser=den)
            assert not unbacked_claims(cls, caps), name
            assert caps & {"joint", "sequential", "codes"} <= implemented_capabilities(cls), name
