"""The ``markov`` data source: an exact likelihood that matches what it generates, its entropy rate, seeding."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
import torch

from ladd_core.components.metrics import EvalContext
from ladd_data.markov import MarkovSource
from ladd_data.markov_chain import fit_markov_chain
from ladd_metrics.generator import TrueNLL

CORPUS = "the cat sat. a cat ate the hat. that hat sat at the tea. " * 3


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(CORPUS, encoding="utf-8")
    return path


def _source(corpus, seed: int = 0, **fields) -> MarkovSource:
    cfg = MarkovSource.Config(files=[corpus], **{"order": 2, "seq_len": 3, **fields})
    return MarkovSource(cfg, seed=seed)


def test_likelihood_matches_a_brute_force_count_of_generated_sequences(corpus):
    src = _source(corpus)
    v = src.tokenizer.unk_id  # the corpus' characters: ids 0 .. V-1
    every = torch.tensor(list(itertools.product(range(v), repeat=3)))  # (V^3, 3)
    p = src.log_likelihood(every).exp()
    assert abs(float(p.sum()) - 1.0) < 1e-12, "an exact likelihood sums to 1 over all sequences"
    n = 200_000
    draws = src.sample(n, seed=1)
    codes = (draws * torch.tensor([v * v, v, 1])).sum(dim=1)
    counts = torch.bincount(codes, minlength=v**3).double()
    # Pearson chi-square over cells expected >= 5 times plus one pooled rest cell, against 5 sigma of its law
    big = p * n >= 5
    obs = torch.cat([counts[big], counts[~big].sum()[None]])
    exp = torch.cat([p[big] * n, (p[~big] * n).sum()[None]])
    chi2, dof = float(((obs - exp) ** 2 / exp).sum()), len(obs) - 1
    assert dof > 100 and chi2 < dof + 5 * math.sqrt(2 * dof), (chi2, dof)
    top = int(torch.argmax(p))
    assert src.tokenizer.decode(every[top].tolist()) in CORPUS, "the likeliest trigram is one of the corpus"


def test_conditionals_are_witten_bell_of_the_counts():
    ids = np.array([0, 1, 0, 1, 0, 2])  # after 0: 1 twice, 2 once
    chain = fit_markov_chain(ids, 3, order=1)
    after0 = chain.probs[1]  # state order: empty, then the 1-grams 0, 1, 2
    lam = 3 / (3 + 2)
    unigram_lam = 6 / (6 + 3)
    unigram = unigram_lam * np.array([3, 2, 1]) / 6 + (1 - unigram_lam) / 3
    expected = lam * np.array([0, 2, 1]) / 3 + (1 - lam) * unigram
    assert np.allclose(after0, expected, atol=1e-15)
    transition = np.zeros((chain.num_states, chain.num_states))
    np.add.at(transition, (np.repeat(np.arange(chain.num_states), 3), chain.next_state.ravel()), chain.probs.ravel())
    assert np.allclose(chain.stationary @ transition, chain.stationary, atol=1e-9)


def test_entropy_rate_against_monte_carlo(corpus):
    src = _source(corpus, seq_len=64, order=3)
    h = src.entropy_rate() / math.log(2)
    bits = -src.log_likelihood(src.sample(4000, seed=2)) / (64 * math.log(2))  # per-token entropy of L=64 sequences
    mc, se = float(bits.mean()), float(bits.std() / math.sqrt(len(bits)))
    # H(X_1..X_L) / L >= h, and exceeds it by at most k log2 V / L (the first k symbols)
    v = src.tokenizer.unk_id
    assert h - 4 * se <= mc <= h + 3 * math.log2(v) / 64 + 4 * se, (h, mc, se)
    assert abs(mc - h) < 0.1


def test_batches_are_pure_functions_of_seed_epoch_and_index(corpus):
    a, b, c = _source(corpus), _source(corpus), _source(corpus, seed=1)
    first = next(a.train_batches(8, epoch=0)).tokens
    assert torch.equal(first, next(b.train_batches(8, epoch=0)).tokens)
    assert not torch.equal(first, next(a.train_batches(8, epoch=1)).tokens), "regenerated per epoch"
    assert not torch.equal(first, next(c.train_batches(8, epoch=0)).tokens)
    assert torch.equal(list(a.train_batches(8, epoch=0))[2].tokens, next(a.train_batches(8, 0, start=2)).tokens)
    assert torch.equal(next(a.val_batches(8)).tokens, next(c.val_batches(8)).tokens), "validation ignores the seed"
    assert first.dtype == torch.long and int(first.max()) < a.tokenizer.unk_id


def test_impossible_ids_have_zero_likelihood(corpus):
    src = _source(corpus)
    x = src.sample(2, seed=0)
    x[1, 0] = src.tokenizer.pad_id
    ll = src.log_likelihood(x)
    assert torch.isfinite(ll[0]) and ll[1] == -math.inf


def test_true_nll_reports_the_exact_entropy_rate(corpus):
    src = _source(corpus, seq_len=32, val_size=256)
    out = TrueNLL(TrueNLL.Config(reference_size=256)).compute(src.sample(64, seed=3), EvalContext(src))
    assert out["entropy-rate"].value == pytest.approx(src.entropy_rate() / math.log(2))
    assert abs(out["data-entropy"].value - out["entropy-rate"].value) < 0.15
    assert abs(out["true-nll-ratio"].value - 1.0) < 0.1, "real samples are as likely as the validation data"


def test_true_nll_end_to_end_on_a_tiny_model(corpus, tmp_path, capsys):
    from ladd_core.cli.main import main

    run, res = tmp_path / "run", tmp_path / "eval.json"
    sets = [
        f"data.files=[{json.dumps(str(corpus))}]", "data.seq_len=16", "data.order=2", "data.train_size=64",
        "data.val_size=32", "model.backbone.hidden=16", "model.backbone.layers=1", "model.backbone.heads=2",
        "model.backbone.cond_dim=8", "train.batch_size=8", "train.eval_batches=1", "train.threads=1",
        "train.warmup_steps=2", "train.log_every=2",
    ]  # fmt: skip
    overrides = [a for s in sets for a in ("--set", s)]
    assert main(["train", "markov-mdlm", "--out", str(run), "--max-steps", "4", *overrides]) == 0
    argv = ["eval", str(run), "--steps", "4", "--num-samples", "16", "--metrics", "true-nll", "--out", str(res)]
    assert main(argv) == 0
    text = res.read_text()
    for name in ("true-nll", "data-entropy", "entropy-rate"):
        assert f'"{name}"' in text, name
    capsys.readouterr()
