"""The latent-health probe and the training alarm (issue: latents that do not collapse)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from ladd_core.build import build_data, build_model
from ladd_core.config.experiment import validate_config
from ladd_core.diagnostics import HealthThresholds, assess, latent_health
from ladd_core.training.factory import build_trainer

TINY_BACKBONE = {"name": "mmdit", "hidden": 16, "layers": 1, "heads": 2, "cond_dim": 8}
TINY_DENOISER = {"name": "latent-dit", "hidden": 16, "layers": 1, "heads": 2, "cond_dim": 8}


def _coladd(components, encoder: str = "transformer", **train: Any):
    data = {
        "model": {
            "latent": {
                "name": "gaussian",
                "encoder": {"name": encoder, "num_slots": 1, "dim": 8, "hidden": 16, "layers": 1, "heads": 2},
            },
            "backbone": TINY_BACKBONE,
            "latent_denoiser": TINY_DENOISER,
        },
        "data": {"name": "sawtooth", "seq_len": 16, "train_size": 256, "val_size": 64},
        "sampler": {"name": "sequential", "steps": 4, "latent_steps": 2},
        "train": {"batch_size": 16, "max_steps": 4, "log_every": 2, "threads": 1, **train},
    }
    return validate_config(data, components)


def _model(components, cfg):
    torch.manual_seed(0)
    return build_model(cfg, components, vocab_size=2, seq_len=16)


def _batch(components, cfg, tmp_path: Path):
    data = build_data(cfg, components, tmp_path / "data")
    return next(iter(data.val_batches(16, 1)))


def _collapse(encoder: torch.nn.Module) -> None:
    """Make a transformer encoder map every input to the same unit vector (what a collapsed run learns)."""
    with torch.no_grad():
        encoder.final.linear.weight.zero_()
        encoder.final.linear.bias.copy_(torch.linspace(-1.0, 1.0, encoder.final.linear.bias.numel()))


def test_collapsed_encoder_is_reported(components, tmp_path: Path) -> None:
    cfg = _coladd(components)
    model = _model(components, cfg)
    batch = _batch(components, cfg, tmp_path)
    healthy = latent_health(model, batch, torch.Generator().manual_seed(0))
    assert healthy["latent_spread"] > 0.02  # a random encoder still tells sequences apart
    _collapse(model.latent.encoder)
    collapsed = latent_health(model, batch, torch.Generator().manual_seed(0))
    assert collapsed["latent_spread"] < 1e-6
    problems = assess(collapsed)
    assert any("collapsed" in p for p in problems)


def test_gain_is_zero_without_information_and_restores_mode(components, tmp_path: Path) -> None:
    cfg = _coladd(components, encoder="zero")
    model = _model(components, cfg)
    model.train()
    health = latent_health(model, _batch(components, cfg, tmp_path), torch.Generator().manual_seed(0))
    assert model.training  # the probe restores the mode it found
    assert health["latent_gain_bpt"] == 0.0 and health["latent_gain_full_bpt"] == 0.0
    assert any("useless" in p for p in assess(health))


def test_gain_measures_the_latent_used_by_the_token_network(components, tmp_path: Path) -> None:
    """A token network that reads the latent: the gain is the CE difference, computed independently here."""
    cfg = _coladd(components)
    model = _model(components, cfg).eval()
    with torch.no_grad():  # zero-initialised heads ignore every input: give the network weights that read them
        for p in model.backbone.parameters():
            p.add_(0.3 * torch.randn_like(p))
    batch = _batch(components, cfg, tmp_path)
    health = latent_health(model, batch, torch.Generator().manual_seed(3))
    # the same all-mask comparison by hand
    x0, attn = batch.tokens, batch.attention_mask
    full = model.process.prior(*x0.shape, x0.device)
    ones, zeros = torch.ones(x0.shape[0]), torch.zeros(x0.shape[0])
    with torch.no_grad():
        mu = model.latent.encoder(x0, attn.bool())
        ce = []
        for lat in (mu, torch.zeros_like(mu)):
            lp = model.process.log_probs(model.backbone(full, lat, ones, zeros, attn).token_logits, full)
            ce.append(-lp.gather(-1, x0[..., None]).mean() / torch.log(torch.tensor(2.0)))
    assert health["latent_gain_full_bpt"] == pytest.approx(float(ce[1] - ce[0]), abs=1e-5)
    assert health["latent_gain_full_bpt"] != 0.0


def test_mdlm_has_no_health_numbers(components, tmp_path: Path) -> None:
    cfg = validate_config(
        {
            "model": {"backbone": {"name": "dit", "hidden": 16, "layers": 1, "heads": 2, "cond_dim": 8}},
            "data": {"name": "sawtooth", "seq_len": 16, "train_size": 256, "val_size": 64},
        },
        components,
    )
    assert latent_health(_model(components, cfg), _batch(components, cfg, tmp_path)) == {}


def test_assess_thresholds() -> None:
    th = HealthThresholds(min_spread=0.1, min_code_perplexity=2.0, min_gain_bpt=0.01)
    assert assess({"latent_spread": 0.5, "latent_gain_full_bpt": 0.2}, th) == []
    assert len(assess({"latent_spread": 0.05, "latent_gain_full_bpt": 0.005}, th)) == 2
    assert "codes have collapsed" in assess({"latent_code_perplexity": 1.2}, th)[0]


def test_training_warns_once_and_reports_in_the_summary(components, tmp_path: Path) -> None:
    cfg = _coladd(components, encoder="zero", health_after=2, max_steps=6)
    lines: list[str] = []
    trainer = build_trainer(cfg, components, tmp_path / "run", log=lines.append)
    result = trainer.train()
    warnings = [ln for ln in lines if ln.startswith("warning:")]
    assert warnings and all("step 2 " in w for w in warnings)  # once (stage 1), from health_after on
    assert any("collapsed" in w for w in warnings) and any("useless" in w for w in warnings)
    assert result["latent_health"]["latent_spread"] == 0.0
    assert any("useless" in p for p in result["latent_problems"])
    logged = (tmp_path / "run" / "metrics.jsonl").read_text()
    assert '"latent_gain_full_bpt"' in logged


def test_no_warning_before_health_after(components, tmp_path: Path) -> None:
    cfg = _coladd(components, encoder="zero", health_after=100, max_steps=4)
    lines: list[str] = []
    build_trainer(cfg, components, tmp_path / "run", log=lines.append).train()
    assert not [ln for ln in lines if ln.startswith("warning:")]


def test_diladd_probe_reports_code_use(components, tmp_path: Path) -> None:
    cfg = validate_config(
        {
            "model": {
                "latent": {
                    "name": "vq",
                    "codebook_size": 8,
                    "kmeans_iters": 0,
                    "encoder": {"name": "transformer", "num_slots": 1, "dim": 8, "hidden": 16, "layers": 1, "heads": 2},
                },
                "backbone": TINY_BACKBONE,
            },
            "data": {"name": "sawtooth", "seq_len": 16, "train_size": 256, "val_size": 64},
            "sampler": {"name": "joint", "steps": 4},
        },
        components,
    )
    health = latent_health(_model(components, cfg), _batch(components, cfg, tmp_path), torch.Generator().manual_seed(0))
    assert 1.0 <= health["latent_code_perplexity"] <= 8.0
    assert "latent_gain_full_bpt" in health


def test_latent_health_metric_in_eval(components, tmp_path: Path) -> None:
    from ladd_core.components.metrics import EvalContext
    from ladd_metrics.health import LatentHealth

    cfg = _coladd(components, encoder="zero")
    data = build_data(cfg, components, tmp_path / "data")
    metric = LatentHealth(LatentHealth.Config(batches=2, batch_size=16))
    values = metric.compute(EvalContext(data, _model(components, cfg)))
    assert values["latent-spread"].value == 0.0
    assert values["latent-gain-full"].value == 0.0
    assert values["latent-problems"].value == 2.0  # collapsed and useless


# -- anti-collapse switches ------------------------------------------------------------------
def test_variance_floor_penalises_collapse_and_correlation() -> None:
    from ladd_coladd.regularizers import variance_floor

    gen = torch.Generator().manual_seed(0)
    spread = torch.randn(512, 1, 8, generator=gen)  # std ~1 per dimension, nearly uncorrelated
    assert float(variance_floor(spread, target=0.5)) < 0.02
    constant = torch.ones(512, 1, 8)
    assert float(variance_floor(constant, target=0.5)) == pytest.approx(0.5 - 1e-2, abs=1e-3)
    one_direction = torch.randn(512, 1, 1, generator=gen).expand(512, 1, 8)  # every dimension the same
    assert float(variance_floor(one_direction, target=0.5)) > 1.0  # off-diagonal covariance is penalised
    y = torch.full((64, 1, 8), 0.3, requires_grad=True)
    with torch.no_grad():
        y[:, 0, 0] += torch.linspace(-0.01, 0.01, 64)
    variance_floor(y, target=0.5).backward()
    assert float(y.grad[-1, 0, 0]) < 0 < float(y.grad[0, 0, 0])  # descent spreads the dimension apart


def test_info_nce_prefers_matching_views() -> None:
    from ladd_coladd.regularizers import info_nce

    gen = torch.Generator().manual_seed(0)
    a = torch.randn(32, 2, 8, generator=gen)
    matched = info_nce(a, a + 0.05 * torch.randn(32, 2, 8, generator=gen), tau=0.1)
    shuffled = info_nce(a, a[torch.randperm(32, generator=gen)], tau=0.1)
    assert float(matched) < 0.05 < float(shuffled)


def test_full_mask_fraction_only_in_training(components, tmp_path: Path) -> None:
    cfg = _coladd(components)
    cfg = cfg.model_copy(update={"objective": cfg.objective.model_copy(update={"full_mask_fraction": 0.5})})
    model = _model(components, cfg)
    t = model.objective.training_times(4096, torch.device("cpu"), torch.Generator().manual_seed(0))
    share = float((t == 1.0).double().mean())
    assert 0.47 < share < 0.53
    t_eval = model.objective.sample_times(4096, torch.device("cpu"), torch.Generator().manual_seed(0))
    assert float((t_eval == 1.0).double().mean()) < 0.01


def test_regularisers_reach_the_encoder_in_stage_one_only(components, tmp_path: Path) -> None:
    cfg = validate_config(
        {
            "model": {
                "latent": {
                    "name": "gaussian",
                    "two_stage": True,
                    "variance_floor": 1.0,
                    "infonce_weight": 1.0,
                    "encoder": {"name": "transformer", "num_slots": 1, "dim": 8, "hidden": 16, "layers": 1, "heads": 2},
                },
                "backbone": TINY_BACKBONE,
                "latent_denoiser": TINY_DENOISER,
            },
            "data": {"name": "sawtooth", "seq_len": 16, "train_size": 256, "val_size": 64},
            "sampler": {"name": "sequential", "steps": 4, "latent_steps": 2},
            "train": {"stages": [0, 10]},
        },
        components,
    )
    model = _model(components, cfg).train()
    batch = _batch(components, cfg, tmp_path)
    model.set_stage(1)
    out1 = model.loss(batch, torch.Generator().manual_seed(0))
    assert out1.logs["latent_loss"] > 0  # stage 1: no latent MSE, so this is the regulariser
    model.set_stage(2)
    out2 = model.loss(batch, torch.Generator().manual_seed(0))
    model.latent.config = model.latent.config.model_copy(update={"variance_floor": 0.0, "infonce_weight": 0.0})
    out2_plain = model.loss(batch, torch.Generator().manual_seed(0))
    assert out2.logs["latent_loss"] == pytest.approx(out2_plain.logs["latent_loss"])  # frozen encoder: off


def test_still_rising_flags_a_stage_that_ends_while_the_latent_is_learned() -> None:
    from ladd_core.training.health import still_rising

    # the all-mask gains of two real stage-1 runs (sawtooth-coladd at width 40, seeds 1 and 0), steps 100..1000
    weak = [0.0, 0.0, -0.0, -0.0, 0.022, 0.001, 0.003, 0.004, 0.017, 0.073]  # scored 1.374 x entropy at N = 1
    good = [0.0, 0.018, 0.043, 0.06, 0.248, 0.269, 0.27, 0.255, 0.272, 0.25]  # scored 1.013
    assert still_rising([(100 * (i + 1), g) for i, g in enumerate(weak)]) == (0.004, 0.073)
    assert still_rising([(100 * (i + 1), g) for i, g in enumerate(good)]) is None
    assert still_rising([(100, 0.0), (200, 0.5)]) is None  # too few observations to judge


def test_monitor_warns_once_when_the_next_stage_begins(monkeypatch) -> None:
    from ladd_core.training import health as health_mod

    gains = iter([0.0, 0.001, 0.003, 0.004, 0.05, 0.08, 0.08])
    monkeypatch.setattr(
        health_mod, "latent_health", lambda *a, **k: {"latent_gain_clean_bpt": next(gains), "latent_spread": 0.9}
    )
    warned: list[str] = []
    mon = health_mod.HealthMonitor(model=None, after_step=10**9, warn=warned.append)  # type: ignore[arg-type]
    for step in (100, 200, 300, 400, 500):
        mon.observe(None, step, 1, None)  # type: ignore[arg-type]
    assert not warned
    mon.observe(None, 600, 2, None)  # type: ignore[arg-type]
    mon.observe(None, 700, 2, None)  # type: ignore[arg-type]
    assert len(warned) == 1 and "stage 1 ended while the latent's use was still rising" in warned[0]
    assert any("still rising" in p for p in mon.summary()["latent_problems"])  # type: ignore[union-attr]
