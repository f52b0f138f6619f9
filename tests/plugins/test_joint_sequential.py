"""Tests of the ``joint`` and ``sequential`` samplers with fake networks that count their calls."""

from __future__ import annotations

from typing import Any, Literal

import pytest
import torch
from torch import Tensor, nn

from ladd_core.build import build_model, build_sampler
from ladd_core.components.backbones import Backbone, BackboneConfig, BackboneOutput
from ladd_core.components.latents import LatentChannel, LatentConfig, LatentTrainOutput, Networks
from ladd_core.config.errors import ConfigError
from ladd_core.config.experiment import validate_config
from ladd_core.model import LaddModel
from ladd_masked.process import MaskedProcess
from ladd_objectives.token import Nelbo
from ladd_samplers.joint import JointSampler
from ladd_samplers.sequential import SequentialSampler
from ladd_schedules.schedules import LinearSchedule

B, L, K = 3, 10, 2


class CountingNet(Backbone):
    """Token logits strongly favour id 1 (id 0 keeps some mass); latent output = input + 1. Records every call."""

    class Config(BackboneConfig):
        name: Literal["counting"] = "counting"

    capabilities = frozenset({"tokens", "latent_stream"})

    def __init__(self) -> None:
        super().__init__(self.Config(), None)  # type: ignore[arg-type]
        self.w = nn.Parameter(torch.zeros(()))
        self.calls: list[dict[str, Any]] = []

    def forward(self, tokens, latents, t_x, t_y, attention_mask=None) -> BackboneOutput:  # type: ignore[override]
        self.calls.append({"tokens": tokens.clone(), "latents": latents.clone(), "t_x": t_x, "t_y": t_y})
        logits = torch.zeros(*tokens.shape, 3)
        logits[..., 1] = 2.0
        return BackboneOutput(logits, latents + 1.0)


class FakeChannel(LatentChannel):
    """A non-Gaussian channel: state ``(B, K, 1)`` counts steps; the latent chain uses the joint network
    with the all-mask token prior (Di-LADD style), so no latent denoiser is needed.  Implements
    ``SequentialSampling``, so it offers ``"joint"`` and ``"sequential"`` without declaring them."""

    class Config(LatentConfig):
        name: Literal["fake-latent"] = "fake-latent"

    def __init__(self) -> None:
        super().__init__(self.Config())
        self.steps: list[tuple[float, float]] = []
        self.finalized: list[Tensor] = []

    @property
    def num_slots(self) -> int:
        return K

    def training_forward(self, nets, batch, *, stage=1) -> LatentTrainOutput:
        raise NotImplementedError

    def sample_prior(self, batch_size, device, generator=None) -> Tensor:
        return torch.zeros(batch_size, K, 1, device=device)

    def network_input(self, state: Tensor) -> Tensor:
        return state

    def latent_step(self, state, latent_out, t, s, generator=None) -> Tensor:
        assert t.shape == s.shape == (state.shape[0],)
        self.steps.append((float(t[0]), float(s[0])))
        return state + 1.0

    def latent_finalize(self, state, latent_out, t, generator=None) -> Tensor:
        self.finalized.append(state.clone())
        return latent_out + 100.0

    def predict_latent(self, nets: Networks, state, t_y, token_prior) -> Tensor:
        out = nets.backbone(token_prior, self.network_input(state), torch.zeros_like(t_y), t_y)
        return out.latent_out

    def token_condition(self, state: Tensor) -> tuple[Tensor, Tensor]:
        return state, torch.full((state.shape[0],), -1.0)

    def prompt_latent(self, nets: Networks, tokens: Tensor, visible: Tensor) -> Tensor | None:
        return None


def _model(channel: LatentChannel | None = None) -> LaddModel:
    sched = LinearSchedule(LinearSchedule.Config())
    proc = MaskedProcess(MaskedProcess.Config(), schedule=sched, vocab_size=2)
    return LaddModel(
        process=proc,
        latent=channel or FakeChannel(),
        backbone=CountingNet(),
        objective=Nelbo(Nelbo.Config()),
        seq_len=L,
    )


def _grid(n: int, t_final: float) -> list[float]:
    return torch.linspace(1.0, t_final, n + 1, dtype=torch.float64).tolist()


@pytest.mark.parametrize(("n", "m"), [(4, None), (1, None), (6, 2), (2, 5), (3, 0)])
def test_joint_nfe_and_latent_grid(n: int, m: int | None) -> None:
    model = _model()
    sampler = JointSampler(JointSampler.Config(steps=n, latent_steps=m))
    out = sampler.sample(model, B, generator=torch.Generator().manual_seed(0))
    calls, ch = model.backbone.calls, model.latent
    mm = n if m is None else m
    assert out.nfe == len(calls) == n + 1
    assert out.tokens.shape == (B, L) and not bool((out.tokens == 2).any())
    ts, ts_y = _grid(n, 1e-5), _grid(mm, 1e-5)
    assert [float(c["t_x"][0]) for c in calls] == pytest.approx([*ts[:n], 1e-5])
    assert [float(c["t_y"][0]) for c in calls] == pytest.approx([ts_y[min(i, mm)] for i in range(n + 1)])
    # the latent steps while i < M; with M < N it then stays put, with M > N the final call resolves it
    assert ch.steps == [(ts_y[i], ts_y[i + 1]) for i in range(min(n, mm))]
    assert [float(c["latents"][0, 0, 0]) for c in calls] == [min(i, mm) for i in range(n + 1)]
    (final_state,) = ch.finalized
    assert float(final_state[0, 0, 0]) == min(n, mm)
    torch.testing.assert_close(out.latents, final_state + 1.0 + 100.0)  # latent_finalize of the last call
    assert out.info["latent_steps"] == mm and out.info["steps"] == n


@pytest.mark.parametrize(("n", "m"), [(4, 8), (1, 1), (3, 0), (5, 2)])
def test_sequential_nfe_when_masks_remain(n: int, m: int) -> None:
    """With a late t_final masks survive the token chain, so the noise-removal call happens: (M+1)+(N+1)."""
    model = _model()
    t_final = 0.9
    sampler = SequentialSampler(SequentialSampler.Config(steps=n, latent_steps=m, t_final=t_final))
    torch.manual_seed(0)
    out = sampler.sample(model, B, generator=torch.Generator().manual_seed(1), length=200)
    calls = model.backbone.calls
    assert out.nfe == len(calls) == (m + 1) + (n + 1)
    assert out.info["latent_nfe"] == m + 1 and out.info["token_nfe"] == n + 1
    ts_y, ts = _grid(m, t_final), _grid(n, t_final)
    latent_calls, token_calls = calls[: m + 1], calls[m + 1 :]
    for c in latent_calls:  # the latent chain reads the all-mask prior
        assert bool((c["tokens"] == 2).all())
    assert [float(c["t_y"][0]) for c in latent_calls] == pytest.approx(ts_y)
    assert model.latent.steps == [(ts_y[j], ts_y[j + 1]) for j in range(m)]
    assert [float(c["t_x"][0]) for c in token_calls] == pytest.approx([*ts[:n], t_final])
    for c in token_calls:  # fixed condition from token_condition(clean latent)
        assert bool((c["t_y"] == -1).all())
        torch.testing.assert_close(c["latents"], out.latents)
    torch.testing.assert_close(out.latents, torch.full((B, K, 1), m + 1.0 + 100.0))
    assert out.tokens.shape == (B, 200) and not bool((out.tokens == 2).any())


def test_sequential_counts_only_calls_made() -> None:
    model = _model()
    out = SequentialSampler(SequentialSampler.Config(steps=4, latent_steps=3)).sample(
        model, B, generator=torch.Generator().manual_seed(0)
    )
    assert out.nfe == len(model.backbone.calls) == out.info["latent_nfe"] + out.info["token_nfe"]
    assert out.info["latent_nfe"] == 4 and out.info["token_nfe"] in (4, 5)


def test_token_temperature_and_top_p_act_on_tokens() -> None:
    for sampler in (
        JointSampler(JointSampler.Config(steps=3, top_p=0.05)),
        SequentialSampler(SequentialSampler.Config(steps=3, latent_steps=1, top_p=0.05)),
        JointSampler(JointSampler.Config(steps=3, temperature=0.01)),
    ):
        out = sampler.sample(_model(), 4, generator=torch.Generator().manual_seed(0), length=64)
        assert bool((out.tokens == 1).all())  # nucleus / low temperature keeps only the favoured id


def test_non_finite_network_output_is_reported() -> None:
    model = _model()
    model.backbone.forward = lambda *a, **k: BackboneOutput(torch.full((B, L, 3), float("nan")), torch.zeros(B, K, 1))
    with pytest.raises(FloatingPointError, match="non-finite"):
        JointSampler(JointSampler.Config(steps=2)).sample(model, B, generator=torch.Generator().manual_seed(0))


def test_samplers_registered_with_requirements(components) -> None:
    assert components.get("sampler", "joint").requires == {"joint"}
    assert components.get("sampler", "sequential").requires == {"sequential"}
    assert components.get("sampler", "ancestral") is not None


def test_validation_messages_list_compatible_samplers(components) -> None:
    with pytest.raises(ConfigError) as e:
        validate_config(
            {
                "model": {"latent": {"name": "gaussian"}, "backbone": {"name": "mmdit"}},
                "sampler": {"name": "sequential"},
            },
            components,
        )
    assert "sequential" in str(e.value) and "Compatible samplers: joint" in str(e.value)
    with pytest.raises(ConfigError) as e:
        validate_config({"sampler": {"name": "joint"}}, components)
    assert "'none'" in str(e.value) and "Compatible samplers: ancestral" in str(e.value)


_TINY = {
    "latent": {
        "name": "gaussian",
        "encoder": {"name": "transformer", "num_slots": 2, "dim": 8, "hidden": 16, "layers": 1, "heads": 2},
    },
    "backbone": {"name": "mmdit", "hidden": 16, "layers": 1, "heads": 2, "cond_dim": 8},
}


@pytest.mark.parametrize("prediction", ["x0", "eps"])
@pytest.mark.parametrize("step", ["ddim", "ancestral"])
def test_real_gaussian_models_sample(components, prediction: str, step: str) -> None:
    latent = {**_TINY["latent"], "prediction": prediction, "latent_step": step}
    joint = validate_config(
        {
            "model": {**_TINY, "latent": latent},
            "data": {"name": "sawtooth", "seq_len": 12},
            "sampler": {"name": "joint", "steps": 3, "latent_steps": 5},
        },
        components,
    )
    seq = validate_config(
        {
            "model": {
                **_TINY,
                "latent": latent,
                "latent_denoiser": {"name": "latent-dit", "hidden": 16, "layers": 1, "heads": 2, "cond_dim": 8},
            },
            "data": {"name": "sawtooth", "seq_len": 12},
            "sampler": {"name": "sequential", "steps": 3, "latent_steps": 2},
        },
        components,
    )
    for cfg in (joint, seq):
        torch.manual_seed(0)
        model = build_model(cfg, components, vocab_size=2, seq_len=12).eval()
        out = build_sampler(components, cfg.sampler).sample(model, 4, generator=torch.Generator().manual_seed(0))
        assert out.tokens.shape == (4, 12) and set(out.tokens.unique().tolist()) <= {0, 1}
        assert out.latents is not None and out.latents.shape == (4, 2, 8) and torch.isfinite(out.latents).all()
        limit = 3 + 1 if cfg.sampler.name == "joint" else (2 + 1) + (3 + 1)
        assert out.nfe <= limit and (cfg.sampler.name != "joint" or out.nfe == limit)
