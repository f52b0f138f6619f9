"""The core training schedule of diffused latents (``ladd_core.components.latent_schedule``) with a fake channel."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import pytest
import torch
from torch import Tensor, nn

from ladd_core.components.backbones import BackboneOutput
from ladd_core.components.latent_process import (
    CleanLatent,
    DiffusedLatent,
    LatentLoss,
    LatentStep,
    NoisedLatent,
    TrainPlan,
)
from ladd_core.components.latent_schedule import latent_rows
from ladd_core.components.latents import LatentBatch, LatentConfig, Networks

B, L, K, D = 6, 5, 2, 3


class FakeLatent(DiffusedLatent):
    """``y_0 = 1``; ``y_t = y_0 + t``; records the steps its loss piece sees."""

    class Config(LatentConfig):
        name: Literal["fake"] = "fake"
        clocks: Literal["tied", "independent"] = "tied"
        t_min: float = 0.25

    latent_network: ClassVar[Any] = "joint"

    def __init__(self, plan: TrainPlan, p: float = 0.0, **kw: Any) -> None:
        super().__init__(self.Config(**kw))
        self._plan, self._p = plan, p
        self.steps: list[LatentStep] = []

    num_slots = property(lambda self: K)

    @property
    def dropout(self) -> float:
        return self._p

    def plan(self, stage: int, nets: Networks) -> TrainPlan:
        return self._plan

    def encode_latent(self, x0, x_t, attention_mask, stage, generator) -> CleanLatent:  # type: ignore[override]
        y0 = torch.ones(x0.shape[0], K, D)
        return CleanLatent(y0, y0, torch.tensor(0.5))

    def forward_sample(self, clean: CleanLatent, t: Tensor, generator: torch.Generator | None) -> NoisedLatent:
        y_t = clean.value + t[:, None, None]
        return NoisedLatent(y_t, y_t, torch.zeros_like(y_t))

    def latent_loss(self, step: LatentStep) -> LatentLoss:
        self.steps.append(step)
        return LatentLoss(torch.ones(step.keep.shape[0]), None, {"n": float(step.latent_out is not None)})


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[dict[str, Any]] = []

    def forward(self, tokens, latents, t_x, t_y, attention_mask=None) -> BackboneOutput:  # type: ignore[no-untyped-def]
        self.calls.append({"tokens": tokens, "latents": latents, "t_x": t_x, "t_y": t_y})
        logits = None if tokens is None else torch.zeros(*tokens.shape, 3)
        return BackboneOutput(logits, torch.zeros(latents.shape[0], K, D))


def _run(ch: FakeLatent, nets: Networks, seed: int = 0) -> Any:
    x0 = torch.zeros(B, L, dtype=torch.long)
    t_x = torch.linspace(0.3, 0.9, B)
    out = ch.train().training_forward(
        nets, LatentBatch(x0, x0, t_x, torch.ones(B, L, dtype=torch.bool), torch.Generator().manual_seed(seed))
    )
    return out, t_x


def test_joint_step_is_one_call_on_the_noised_latent() -> None:
    net = Net()
    out, t_x = _run(FakeLatent(TrainPlan()), Networks(net))  # type: ignore[arg-type]
    (call,) = net.calls
    assert torch.equal(call["t_y"], t_x) and torch.allclose(call["latents"], 1 + t_x[:, None, None].expand(B, K, D))
    assert torch.equal(out.latent_loss, torch.full((B,), 1.5))  # latent loss + the encoding's regulariser


def test_independent_clock_draws_latent_times() -> None:
    net = Net()
    _run(FakeLatent(TrainPlan(), clocks="independent"), Networks(net))  # type: ignore[arg-type]
    t_y = net.calls[0]["t_y"]
    assert ((t_y >= 0.25) & (t_y <= 1)).all() and not torch.equal(t_y, torch.linspace(0.3, 0.9, B))


def test_sequential_step_reads_the_clean_latent_then_predicts_it() -> None:
    tok, den = Net(), Net()
    ch = FakeLatent(TrainPlan(joint=False))
    ch.latent_network = "denoiser"
    _run(ch, Networks(tok, den))  # type: ignore[arg-type]
    (t_call,), (l_call,) = tok.calls, den.calls
    assert bool((t_call["t_y"] == 0).all()) and torch.equal(t_call["latents"], torch.ones(B, K, D))
    assert l_call["tokens"] is None and ch.steps[-1].latent_out is not None


def test_sequential_step_on_the_joint_network_reads_the_token_prior() -> None:
    """One call on 2B rows: the token pass (x_t, clean latent, t_y = 0), then the latent pass (prior, y_t, t_x = 1)."""
    net = Net()
    prior = Networks(net, None, lambda b, n, dev: torch.full((b, n), 7, dtype=torch.long))  # type: ignore[arg-type]
    ch = FakeLatent(TrainPlan(joint=False))
    _, t_x = _run(ch, prior)
    (call,) = net.calls
    assert call["tokens"].shape == (2 * B, L) and bool((call["tokens"][B:] == 7).all())
    assert torch.equal(call["t_x"], torch.cat([t_x, torch.ones(B)])) and bool((call["t_y"][:B] == 0).all())
    assert torch.equal(call["latents"][:B], torch.ones(B, K, D)) and bool((call["latents"][B:] > 1).all())
    assert ch.steps[-1].latent_out is not None and ch.steps[-1].latent_out.shape[0] == B
    with pytest.raises(ValueError, match="token_prior"):
        _run(FakeLatent(TrainPlan(joint=False)), Networks(Net()))  # type: ignore[arg-type]


def test_token_only_step_draws_nothing() -> None:
    net = Net()
    ch = FakeLatent(TrainPlan(joint=False, latent=False, draw=False))
    out, _ = _run(ch, Networks(net))  # type: ignore[arg-type]
    assert len(net.calls) == 1 and ch.steps[-1].noised is None and out.logs["n"] == 0.0


def test_latent_dropout_zeroes_clean_and_noised_latents() -> None:
    net = Net()
    ch = FakeLatent(TrainPlan(), p=0.5)
    _run(ch, Networks(net), seed=1)  # type: ignore[arg-type]
    keep = ch.steps[-1].keep
    assert 0 < int(keep.sum()) < B
    assert bool((net.calls[0]["latents"][~keep] == 0).all()) and bool((net.calls[0]["latents"][keep] > 1).all())
    assert bool((ch.steps[-1].clean.value[~keep] == 0).all())


class RowLoss(FakeLatent):
    """Its latent loss per row is the row's latent time (so a sub-batch's rescaled mean is checkable)."""

    def __init__(self, rows: float) -> None:
        super().__init__(TrainPlan(joint=False), clocks="independent")
        self._rows = rows

    @property
    def latent_rows(self) -> float:
        return self._rows

    def latent_loss(self, step: LatentStep) -> LatentLoss:
        self.steps.append(step)
        assert step.times is not None and step.latent_out is not None
        assert step.latent_out.shape[0] == step.times.t.shape[0] == step.keep.shape[0]
        return LatentLoss(step.times.t.clone(), step.times.t.clone(), {})


@pytest.mark.parametrize("network", ["joint", "denoiser"])
def test_latent_rows_predicts_the_leading_rows_and_rescales_their_loss(network: str) -> None:
    """``latent_rows < 1``: the latent pass and loss on the first m rows, scaled by B/m; 1 is the full loss."""
    full = RowLoss(1.0)
    full.latent_network = network  # type: ignore[misc]
    net = Net()
    nets = Networks(net, Net(), lambda b, n, dev: torch.full((b, n), 7, dtype=torch.long))  # type: ignore[arg-type]
    out_full, _ = _run(full, nets)
    t_y = full.steps[-1].times.t  # type: ignore[union-attr]
    assert torch.equal(out_full.latent_loss, t_y + 0.5)  # + the encoding's regulariser
    half = RowLoss(0.5)
    half.latent_network = network  # type: ignore[misc]
    out_half, _ = _run(half, nets)
    m = B // 2
    assert half.steps[-1].latent_out.shape[0] == m  # type: ignore[union-attr]
    assert torch.equal(half.steps[-1].times.t, t_y[:m])  # type: ignore[union-attr]  # same draws, leading rows
    expected = torch.cat([t_y[:m] * (B / m), torch.zeros(B - m)])
    assert torch.allclose(out_half.latent_loss, expected + 0.5) and torch.allclose(out_half.latent_nelbo, expected)
    if network == "joint":
        assert net.calls[-1]["tokens"].shape == (B + m, L)
    assert latent_rows(half.train(), B) == m and latent_rows(half.eval(), B) == B  # eval: every row


def test_latent_rows_is_unbiased() -> None:
    """Over many seeds the mean of the sub-batch estimate matches the full-batch mean."""
    full, half = RowLoss(1.0), RowLoss(0.5)
    nets = Networks(Net(), None, lambda b, n, dev: torch.full((b, n), 7, dtype=torch.long))  # type: ignore[arg-type]
    a = torch.stack([_run(full, nets, seed)[0].latent_loss.mean() for seed in range(300)])
    h = torch.stack([_run(half, nets, seed)[0].latent_loss.mean() for seed in range(300)])
    assert torch.isfinite(h).all() and abs(float(h.mean() - a.mean())) < 4 * float(h.std()) / 300**0.5
