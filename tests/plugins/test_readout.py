"""The ``latent-readout`` probe: bits/char a linear head recovers from a latent about each chunk's characters."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from ladd_core.build import build_data, build_model
from ladd_core.components.metrics import EvalContext
from ladd_core.config.experiment import validate_config
from ladd_core.evaluation.context import MetricNotApplicable
from ladd_encoders.zero import ZeroEncoder
from ladd_metrics.readout import LatentReadout, chunk_counts, histogram_oracle, latent_readout, readout_split

N, L, V, Q = 160, 32, 8, 4
FAST = {"max_iter": 60}


@pytest.fixture(scope="module")
def topical() -> tuple[torch.Tensor, torch.Tensor]:
    """Sequences whose every quarter draws its characters from one of 3 "topics" (chunk-specific information)."""
    g = torch.Generator().manual_seed(0)
    topics = torch.softmax(3 * torch.randn(3, V, generator=g), dim=-1)  # (3, V)
    probs = topics[torch.randint(0, 3, (N, Q), generator=g)]  # (N, Q, V)
    parts = [torch.multinomial(probs[:, q], L // Q, replacement=True, generator=g) for q in range(Q)]  # Q x (N, L/Q)
    return torch.cat(parts, dim=1), torch.ones(N, L, dtype=torch.bool)  # (N, L)


def test_chunk_counts_and_oracle() -> None:
    tokens = torch.tensor([[0, 1, 1, 2, 3, 3, 3, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 1, 1, 0, 1]], dtype=torch.bool)
    counts = chunk_counts(tokens, mask, 4, 2)
    assert counts[0, 0].tolist() == [1, 2, 1, 0] and counts[0, 1].tolist() == [1, 0, 0, 2]  # padding not counted
    oracle = histogram_oracle(tokens, mask, 4, 2)
    assert oracle.shape == (1, 2, 4) and torch.allclose(oracle.sum(-1), torch.ones(1, 2))


def test_histogram_oracle_reads_clearly_positive(topical) -> None:
    tokens, mask = topical
    res = latent_readout(histogram_oracle(tokens, mask, V), tokens, mask, V, **FAST)
    assert res.bits_per_char > 0.3 and res.bits_per_char > 10 * res.stderr
    assert len(res.per_chunk) == Q and all(b > 0.2 for b in res.per_chunk)
    for uni, ce, per, ent in zip(
        res.unigram_ce_bits, res.heldout_ce_bits, res.per_chunk, res.train_entropy_bits, strict=True
    ):
        assert math.isclose(uni - ce, per, rel_tol=1e-9) and 0 < ent <= math.log2(V) and abs(uni - ent) < 0.2
    assert abs(res.bits_vs_train_entropy - res.bits_per_char) < 0.2


def test_zero_encoder_reads_zero(topical) -> None:
    tokens, mask = topical
    enc = ZeroEncoder(ZeroEncoder.Config(num_slots=2, dim=4, hidden=8, layers=1, heads=2), V, L).eval()
    with torch.no_grad():
        latents = enc(tokens, mask)
    res = latent_readout(latents, tokens, mask, V, **FAST)
    assert res.rank == 0  # nothing to read: the head is the unigram
    assert abs(res.bits_per_char) < 1e-6
    noise = torch.randn(N, 4, 8, generator=torch.Generator().manual_seed(3))  # informative of nothing either
    res = latent_readout(noise, tokens, mask, V, **FAST)
    assert res.rank == 32 and abs(res.bits_per_char) < 0.02 + 3 * res.stderr


def test_only_held_out_pairs_count(topical) -> None:
    """Breaking the latent/row pairing on the held-out rows alone removes the read-out: the score is held-out only
    (memorised train rows cannot leak into it); breaking it on the train rows alone removes it too."""
    tokens, mask = topical
    oracle = histogram_oracle(tokens, mask, V)
    train, test = readout_split(N, 0.7, 0)
    assert len(set(train.tolist()) & set(test.tolist())) == 0 and len(train) + len(test) == N
    g = torch.Generator().manual_seed(1)
    for rows in (test, train):
        shuffled = oracle.clone()
        shuffled[rows] = oracle[rows[torch.randperm(len(rows), generator=g)]]
        res = latent_readout(shuffled, tokens, mask, V, **FAST)
        assert res.bits_per_char < 0.03 + 2 * res.stderr, rows is test


def test_readout_validates_and_is_deterministic(topical) -> None:
    tokens, mask = topical
    with pytest.raises(ValueError, match="same number"):
        latent_readout(torch.zeros(5, 1, 1), tokens, mask, V)
    lat = torch.randn(N, 2, 3, generator=torch.Generator().manual_seed(0))
    assert latent_readout(lat, tokens, mask, V, **FAST) == latent_readout(lat, tokens, mask, V, **FAST)


def test_metric_on_a_tiny_model(components, tmp_path: Path) -> None:
    data = {
        "model": {
            "latent": {
                "name": "gaussian",
                "encoder": {"name": "transformer", "num_slots": 2, "dim": 4, "hidden": 8, "layers": 1, "heads": 2},
            },
            "backbone": {"name": "mmdit", "hidden": 8, "layers": 1, "heads": 2, "cond_dim": 8},
        },
        "data": {"name": "sawtooth", "seq_len": 16, "train_size": 64, "val_size": 64},
        "sampler": {"name": "joint"},
    }
    cfg = validate_config(data, components)
    src = build_data(cfg, components, tmp_path / "data")
    torch.manual_seed(0)
    model = build_model(cfg, components, vocab_size=2, seq_len=16)
    metric = LatentReadout(LatentReadout.Config(sequences=64, max_iter=20))
    out = metric.compute(EvalContext(src, model=model))
    assert set(out) == {"latent-readout", *(f"latent-readout-q{i}" for i in range(4))}
    assert all(math.isfinite(v.value) for v in out.values()) and out["latent-readout"].unit == "bits/char"
    assert set(out) <= LatentReadout.not_compared
    with pytest.raises(MetricNotApplicable):
        metric.compute(EvalContext(src))
    with pytest.raises(MetricNotApplicable, match="at least 20"):
        LatentReadout(LatentReadout.Config()).compute(EvalContext(src, model=model, references={256: (
            torch.zeros(6, 16, dtype=torch.long), torch.ones(6, 16, dtype=torch.bool))}))  # fmt: skip
    with pytest.raises(MetricNotApplicable, match="max_vocab"):  # subword vocabularies are not probed
        LatentReadout(LatentReadout.Config(max_vocab=1)).compute(EvalContext(src, model=model))
    assert components.get("metric", "latent-readout") is LatentReadout
