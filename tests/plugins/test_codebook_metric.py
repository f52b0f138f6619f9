"""The ``codebook`` metric: known answers on constructed codes, and selection by the ``"codes"`` capability."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

from ladd_core.build import build_data, build_model
from ladd_core.components.latents import CodeChannel, code_usage
from ladd_core.components.metrics import EvalContext
from ladd_core.config.experiment import validate_config
from ladd_core.config.loading import apply_overrides
from ladd_core.evaluation.context import MetricNotApplicable
from ladd_core.evaluation.engine import select_metrics
from ladd_data.sawtooth import Sawtooth
from ladd_metrics.codebook import CodebookUsage


def test_code_usage_known_values() -> None:
    codes = torch.tensor([[0, 1], [0, 1], [2, 3]])
    u = code_usage(codes, 8)
    p = torch.tensor([2, 2, 1, 1], dtype=torch.float64) / 6
    assert u["utilisation"] == 0.5 and u["unique"] == pytest.approx(2 / 3)
    assert u["perplexity"] == pytest.approx(math.exp(float(-(p * p.log()).sum())))
    assert code_usage(torch.zeros(5, 1, dtype=torch.long), 16) == {
        "utilisation": 1 / 16,
        "perplexity": 1.0,
        "unique": 0.2,
    }
    with pytest.raises(ValueError):
        code_usage(torch.zeros(0, 1, dtype=torch.long), 4)


class _FirstTwoBits(nn.Module):
    """A CodeChannel whose code of a sequence is its first two tokens as one id in 0..3."""

    num_codes = 8

    def encode_codes(self, x0: Tensor, attention_mask: Tensor) -> Tensor:
        return (2 * x0[:, 0] + x0[:, 1])[:, None]  # (B, 1)


class _Model(nn.Module):
    def __init__(self, latent: nn.Module) -> None:
        super().__init__()
        self.latent = latent
        self.w = nn.Parameter(torch.zeros(1))

    @property
    def device(self) -> torch.device:
        return self.w.device


def test_metric_on_a_constructed_channel() -> None:
    data = Sawtooth(Sawtooth.Config(seq_len=32, val_size=256))
    assert isinstance(_FirstTwoBits(), CodeChannel)
    out = CodebookUsage(CodebookUsage.Config(sequences=200, batch_size=64)).compute(
        EvalContext(data, _Model(_FirstTwoBits())),  # type: ignore[arg-type]
    )
    val = torch.cat([b.tokens for b in data.val_batches(64, 4)])[:200]
    expected = code_usage((2 * val[:, 0] + val[:, 1])[:, None], 8)
    assert out["code-sequences"].value == 200
    assert out["code-utilisation"].value == expected["utilisation"] <= 0.5  # at most 4 of 8 ids can occur
    assert out["code-perplexity"].value == pytest.approx(expected["perplexity"])
    with pytest.raises(MetricNotApplicable):
        CodebookUsage(CodebookUsage.Config()).compute(EvalContext(data, _Model(nn.Identity())))  # type: ignore[arg-type]


def test_selected_for_vq_models_only_and_runs_on_a_tiny_diladd(components, tmp_path) -> None:
    if "mmdit" not in components.registry("backbone").list():
        pytest.skip("mmdit is not installed")
    tiny = ["data.seq_len=16", "data.val_size=64", "model.backbone.hidden=16", "model.backbone.layers=1",
            "model.backbone.cond_dim=8", "model.latent.encoder.hidden=16", "model.latent.encoder.layers=1",
            "model.latent.codebook_size=16", "model.latent.code_dim=8"]  # fmt: skip
    cfg = validate_config(apply_overrides(components.get("preset", "sawtooth-diladd"), tiny), components)
    src = build_data(cfg, components, tmp_path / "d")
    model = build_model(cfg, components, vocab_size=src.vocab_size, seq_len=src.seq_len).eval()
    mdlm = validate_config(components.get("preset", "sawtooth-mdlm"), components)
    mdlm_model = build_model(mdlm, components, vocab_size=2, seq_len=128)
    notes: list[str] = []
    pick = select_metrics(
        components, ["codebook", "swd"], src.capabilities | model.capabilities | {"model"}, notes.append, "x"
    )
    assert pick == ["codebook", "swd"]
    skip = select_metrics(
        components, ["codebook"], src.capabilities | mdlm_model.capabilities | {"model"}, notes.append, "y"
    )
    assert skip == [] and "needs ['codes']" in notes[-1]
    out = CodebookUsage(CodebookUsage.Config(sequences=64)).compute(EvalContext(src, model))
    assert out["code-sequences"].value == 64 and 0 < out["code-utilisation"].value <= 1
    assert 1 <= out["code-perplexity"].value <= 16 and 0 < out["code-unique"].value <= 1
