"""Each built-in metric on constructed inputs with known answers, and the causal-LM judge on a tiny local model."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
import torch

from ladd_core.components.data import Batch, DataSource
from ladd_core.components.metrics import EvalContext
from ladd_data.sawtooth import Sawtooth
from ladd_metrics.distribution import (
    Entropy,
    Repetition,
    SlicedWasserstein,
    TokenKL,
    random_directions,
    repeated_ngram_rate,
    sliced_wasserstein,
    token_kl,
    unigram_entropy,
)
from ladd_metrics.generator import PhaseKS, TrueNLL, ks_pvalue, ks_uniform
from ladd_metrics.genppl import GenPPL, token_weighted_ppl


@pytest.fixture(scope="module")
def saw() -> Sawtooth:
    return Sawtooth(Sawtooth.Config(seq_len=128, val_size=512, grid_points=1024))


@pytest.fixture(scope="module")
def real(saw: Sawtooth) -> torch.Tensor:
    return saw.sample(512, seed=1)[0]


def test_registered_with_requires(components):
    reg = components.registry("metric")
    assert {"true-nll", "phase-ks", "swd", "token-kl", "entropy", "repetition", "nelbo", "gen-ppl"} <= set(reg.list())
    assert reg.get("gen-ppl").requires == {"judge", "text"}
    assert reg.get("nelbo").requires == {"model"} and reg.get("true-nll").requires == {"known_generator"}


def test_true_nll_real_near_entropy_constant_far_worse(saw, real):
    ctx = EvalContext(saw)
    m = TrueNLL(TrueNLL.Config(reference_size=512))
    out = m.compute(real, ctx)
    assert 0.74 < out["true-nll"].value < 0.79 and out["true-nll"].stderr < 0.01
    assert 0.74 < out["data-entropy"].value < 0.79
    assert abs(out["true-nll-ratio"].value - 1.0) < 0.05
    const = m.compute(torch.zeros(64, 128, dtype=torch.long), ctx)
    assert const["true-nll-ratio"].value > 1.5 and const["true-nll"].unit == "bits/token"


def test_phase_ks_uniform_vs_collapsed(saw, real):
    ctx = EvalContext(saw)
    m = PhaseKS(PhaseKS.Config())
    assert m.compute(real, ctx)["phase-ks"].value < 0.1
    collapsed = m.compute(real[:1].repeat(512, 1), ctx)
    assert collapsed["phase-ks"].value > 0.5 and collapsed["phase-ks-pvalue"].value < 1e-6


def test_ks_helpers():
    assert ks_uniform((torch.arange(100, dtype=torch.float64) + 0.5) / 100) == pytest.approx(0.005)
    assert ks_uniform(torch.zeros(10)) == 1.0
    assert ks_pvalue(0.0, 100) == 1.0 and ks_pvalue(0.5, 100) < 1e-10


def test_swd_zero_on_itself_and_grows_with_shift(real):
    dirs = random_directions(128, 200, seed=0)
    a = real[:256]
    assert sliced_wasserstein(a, a, dirs) == 0.0
    assert sliced_wasserstein(a, torch.cat([a, a]), dirs) == pytest.approx(0.0, abs=1e-12)  # unequal sizes
    one, two = sliced_wasserstein(a, a + 1, dirs), sliced_wasserstein(a, a + 2, dirs)
    assert 0.5 < one < two and two == pytest.approx(2 * one, rel=1e-9)


def test_swd_matches_scipy_for_unequal_sizes():
    stats = pytest.importorskip("scipy.stats")
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(7, 3, generator=g), torch.randn(5, 3, generator=g) + 0.3
    d = random_directions(3, 1, seed=1)
    ref = stats.wasserstein_distance((a.double() @ d)[:, 0].numpy(), (b.double() @ d)[:, 0].numpy())
    assert sliced_wasserstein(a, b, d, p=1) == pytest.approx(ref, rel=1e-9)


def test_swd_metric_against_reference(saw, real):
    m = SlicedWasserstein(SlicedWasserstein.Config(projections=100, bootstrap=4))
    out = m.compute(real[:128], EvalContext(saw))["swd"]
    assert 0 < out.value < 0.5 and out.stderr is not None
    worse = m.compute(torch.ones(128, 128, dtype=torch.long), EvalContext(saw))["swd"]
    assert worse.value > 3 * out.value


def test_token_kl_known_values(saw, real):
    assert token_kl(real.flatten(), real.flatten(), 2, 1e-4) == pytest.approx(0.0, abs=1e-12)
    half = torch.tensor([0, 1] * 50)
    skew = torch.tensor([0, 0, 0, 1] * 25)
    exact = 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)
    assert token_kl(half, skew, 2, 1e-9) == pytest.approx(exact, rel=1e-6)
    assert token_kl(half, torch.zeros(100, dtype=torch.long), 2, 1e-4) < math.log(2 / 1e-4)  # smoothed: finite
    out = TokenKL(TokenKL.Config(bootstrap=4)).compute(real, EvalContext(saw))["token-kl"]
    assert out.value < 0.01


def test_entropy_constant_and_uniform(saw):
    v = 16
    toks = torch.stack([torch.zeros(64, dtype=torch.long), torch.arange(64) % v])
    ent = unigram_entropy(toks)
    assert ent[0] == 0.0 and ent[1] == pytest.approx(math.log(v))
    out = Entropy(Entropy.Config(reference_size=64)).compute(torch.zeros(4, 128, dtype=torch.long), EvalContext(saw))
    assert out["entropy"].value == 0.0 and out["entropy-real"].value > 0.6


def test_repetition_periodic_high_random_low(saw):
    periodic = (torch.arange(128) % 4)[None]
    random = torch.randperm(128, generator=torch.Generator().manual_seed(0))[None]
    assert repeated_ngram_rate(periodic, 4)[0] > 0.9
    assert repeated_ngram_rate(random, 4)[0] == 0.0
    out = Repetition(Repetition.Config()).compute(torch.cat([periodic, periodic]), EvalContext(saw))
    assert out["repetition"].value > 0.9 and out["unique-samples"].value == 0.5


class _Words:
    """A 'tokenizer' over a fixed word list (ids are word indices)."""

    words: ClassVar[list[str]] = ["the", "cat", "sat", "on", "mat"]
    vocab_size = 5
    pad_id = None

    def decode(self, ids: list[int]) -> str:
        return " ".join(self.words[i] for i in ids)


class _TextData(DataSource):
    capabilities = frozenset({"text"})

    def __init__(self) -> None:
        super().__init__(DataSource.Config(name="words", seq_len=6), 0, Path("."))

    @property
    def tokenizer(self):  # type: ignore[override]
        return _Words()

    def num_train_batches(self, batch_size: int) -> int:
        return 1

    def train_batches(self, batch_size: int, epoch: int, start: int = 0) -> Iterator[Batch]:
        yield from self.val_batches(batch_size)

    def val_batches(self, batch_size: int, max_batches: int | None = None) -> Iterator[Batch]:
        toks = torch.tensor([[0, 1, 2, 3, 0, 4]] * 4)
        yield Batch(toks, torch.ones_like(toks, dtype=torch.bool))


class _ThreeWayJudge:
    """Every token costs log 3 nats: perplexity exactly 3."""

    def score(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        n = torch.tensor([len(t.split()) for t in texts], dtype=torch.float64)
        return n * math.log(3.0), n


def test_gen_ppl_token_weighted_with_entropy():
    ctx = EvalContext(_TextData(), judge=_ThreeWayJudge())
    out = GenPPL(GenPPL.Config(reference_size=4)).compute(torch.tensor([[0, 1, 2, 3, 0, 4], [1] * 6]), ctx)
    assert out["gen-ppl"].value == pytest.approx(3.0) and out["gen-ppl-real"].value == pytest.approx(3.0)
    assert "entropy" in out and out["entropy"].value > 0
    # token weighting: exp(total nll / total tokens), not the mean of per-text perplexities
    ppl, _ = token_weighted_ppl(torch.tensor([1.0, 10.0]), torch.tensor([1.0, 10.0]))
    assert ppl == pytest.approx(math.e)


def test_causal_lm_judge_on_tiny_local_model(tmp_path):
    transformers = pytest.importorskip("transformers", reason="the judge needs the optional extra ladd[eval]")
    from tokenizers import Tokenizer, models, pre_tokenizers

    from ladd_core.evaluation.judge import CausalLMJudge, resolve_judge

    vocab = {w: i for i, w in enumerate(["<bos>", "<unk>", "the", "cat", "sat", "on", "mat"])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<bos>", unk_token="<unk>")
    fast.save_pretrained(tmp_path)
    cfg = transformers.GPT2Config(vocab_size=len(vocab), n_positions=8, n_embd=16, n_layer=1, n_head=2)
    torch.manual_seed(0)
    transformers.GPT2LMHeadModel(cfg).save_pretrained(tmp_path)
    judge = CausalLMJudge(resolve_judge(str(tmp_path)), batch_size=2)
    assert judge.max_length == 8 and judge.prefix_id == 0
    texts = ["the cat sat on the mat", "the cat sat on the mat " * 3, ""]
    nll, n = judge.score(texts)
    assert n.tolist() == [6.0, 18.0, 0.0]  # every word scored once, windows included
    assert nll[0] > 0 and nll[2] == 0
    ppl, se = token_weighted_ppl(nll[:2], n[:2])
    assert 1.0 < ppl < 50.0 and se is not None
    assert resolve_judge("none") is None
    with pytest.raises(FileNotFoundError):
        resolve_judge(str(tmp_path / "missing"))
