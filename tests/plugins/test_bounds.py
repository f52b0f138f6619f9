"""The ``nelbo`` metric on assembled MDLM, Co-LADD and Di-LADD models: which bound terms each reports."""

from __future__ import annotations

import pytest
import torch

from ladd_core.build import build_data, build_model
from ladd_core.components.metrics import EvalContext
from ladd_core.config.experiment import validate_config
from ladd_core.config.loading import apply_overrides
from ladd_metrics.likelihood import NELBO

COMMON = [
    "data.seq_len=16",
    "data.val_size=32",
    "model.backbone.hidden=16",
    "model.backbone.layers=1",
    "model.backbone.cond_dim=8",
]
LATENT = ["model.latent.encoder.hidden=16", "model.latent.encoder.layers=1"]


def _nelbo(components, tmp_path, preset: str, overrides: list[str]) -> dict:
    need = {"sawtooth-coladd": ("backbone", "mmdit"), "sawtooth-diladd": ("backbone", "mmdit")}.get(preset)
    if need and need[1] not in components.registry(need[0]).list():
        pytest.skip(f"{need[0]} {need[1]!r} is not installed")
    data = apply_overrides(components.get("preset", preset), [*COMMON, *overrides])
    cfg = validate_config(data, components)
    src = build_data(cfg, components, tmp_path / preset)
    torch.manual_seed(0)
    model = build_model(cfg, components, vocab_size=src.vocab_size, seq_len=src.seq_len).eval()
    metric = NELBO(NELBO.Config(batches=1, batch_size=16, draws=2))
    return metric.compute(EvalContext(src, model, seed=0))


def test_mdlm_reports_the_bound_without_token_term(components, tmp_path) -> None:
    out = _nelbo(components, tmp_path, "sawtooth-mdlm", [])
    assert "nelbo" in out and "token-nelbo" not in out and "latent-nelbo" not in out
    assert out["nelbo"].value > 0 and out["nelbo"].unit == "bits/token"


def test_deterministic_coladd_reports_only_the_token_channel_term(components, tmp_path) -> None:
    out = _nelbo(components, tmp_path, "sawtooth-coladd", LATENT)
    assert "token-nelbo" in out and out["token-nelbo"].value > 0
    assert "nelbo" not in out and "latent-nelbo" not in out  # no valid joint bound: docs/coladd.md


def test_fixed_sigma_coladd_reports_joint_bound_as_sum_of_terms(components, tmp_path) -> None:
    fixed = [*LATENT, "model.latent.variance=fixed", "model.latent.sigma=0.5"]
    out = _nelbo(components, tmp_path, "sawtooth-coladd", fixed)
    assert {"nelbo", "token-nelbo", "latent-nelbo"} <= set(out)
    assert out["nelbo"].value == pytest.approx(out["token-nelbo"].value + out["latent-nelbo"].value, rel=1e-9)


def test_diladd_bound_is_token_plus_code_term(components, tmp_path) -> None:
    vq = [*LATENT, "model.latent.codebook_size=16", "model.latent.code_dim=8"]
    out = _nelbo(components, tmp_path, "sawtooth-diladd", vq)
    assert out["latent-nelbo"].value > 0
    assert out["nelbo"].value == pytest.approx(out["token-nelbo"].value + out["latent-nelbo"].value, rel=1e-9)
    assert NELBO.not_compared == {"token-nelbo", "latent-nelbo"}
