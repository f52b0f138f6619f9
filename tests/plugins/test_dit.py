"""Tests of the ``ladd_dit`` plug-in: shared layers and the ``dit`` backbone."""

from __future__ import annotations

import pydantic
import pytest
import torch
from torch import nn

import ladd_dit
from ladd_core.components.backbones import BackboneSpec
from ladd_core.kinds import KINDS
from ladd_core.nn import FinalLayer, TimestepEmbedder, TransformerBlock, apply_rope, attention, rope_cache
from ladd_core.plugins import load_plugins
from ladd_dit.dit import DiT
from tests.plugins._registration import assert_registers

V, L, B = 11, 12, 3


def _perturb_zero_init(model: nn.Module, seed: int = 0) -> None:
    """Give every parameter random values so zero-initialised gates/heads do not hide dependencies."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g))


def _model(time_conditioning: bool = False, perturb: bool = True, **kw: object) -> DiT:
    torch.manual_seed(0)
    cfg = DiT.Config(hidden=32, layers=2, heads=4, cond_dim=16, time_conditioning=time_conditioning, **kw)
    model = DiT(cfg, BackboneSpec(num_classes=V, seq_len=L))
    if perturb:
        _perturb_zero_init(model)
    return model.eval()


def _tokens(seed: int = 1) -> torch.Tensor:
    return torch.randint(0, V, (B, L), generator=torch.Generator().manual_seed(seed))


def test_output_shape_dtype_and_fresh_logits_are_zero() -> None:
    fresh = _model(perturb=False)
    out = fresh(_tokens(), None, torch.rand(B), None)
    assert out.token_logits is not None and out.latent_out is None
    assert out.token_logits.shape == (B, L, V) and out.token_logits.dtype == torch.float32
    assert torch.all(out.token_logits == 0)  # zero-initialised head
    assert fresh.capabilities == frozenset({"tokens"})


def test_logits_float32_under_bf16_autocast() -> None:
    model = _model()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(_tokens(), None, None, None).token_logits
    assert logits.dtype == torch.float32 and torch.isfinite(logits).all()


def test_latents_rejected() -> None:
    with pytest.raises(ValueError, match="latents=None"):
        _model()(_tokens(), torch.zeros(B, 2, 4), None, None)


def test_padding_invariance() -> None:
    model = _model()
    x = _tokens()
    mask = torch.ones(B, L, dtype=torch.bool)
    mask[0, 7:] = False
    mask[1, 3:] = False
    y = x.clone()
    y[~mask] = (x[~mask] + 1 + torch.randint(0, V - 1, (int((~mask).sum()),))) % V  # every padded id changes
    assert torch.all(y[~mask] != x[~mask])
    a = model(x, None, None, None, attention_mask=mask).token_logits
    b = model(y, None, None, None, attention_mask=mask).token_logits
    torch.testing.assert_close(a[mask], b[mask], rtol=1e-5, atol=1e-5)
    # without the mask the padded ids do leak into real positions
    c = model(y, None, None, None).token_logits
    assert not torch.allclose(a[mask], c[mask], atol=1e-4)


def test_fully_padded_row_is_finite() -> None:
    mask = torch.ones(B, L, dtype=torch.bool)
    mask[2] = False
    logits = _model()(_tokens(), None, None, None, attention_mask=mask).token_logits
    assert torch.isfinite(logits).all()


def test_bidirectional() -> None:
    model = _model()
    x = _tokens()
    y = x.clone()
    y[:, -1] = (x[:, -1] + 1) % V
    a = model(x, None, None, None).token_logits
    b = model(y, None, None, None).token_logits
    assert (a[:, 0] - b[:, 0]).abs().max() > 1e-4  # the first position sees the last token


@pytest.mark.parametrize("time_conditioning", [True, False])
def test_time_dependence_follows_flag(time_conditioning: bool) -> None:
    model = _model(time_conditioning=time_conditioning)
    assert model.time_conditioned is time_conditioning
    x = _tokens()
    a = model(x, None, torch.full((B,), 0.1), None).token_logits
    b = model(x, None, torch.full((B,), 0.9), None).token_logits
    assert (a - b).abs().max() > 1e-4 if time_conditioning else torch.equal(a, b)


def test_time_conditioned_requires_t_x_and_accepts_scalar() -> None:
    model = _model(time_conditioning=True)
    with pytest.raises(ValueError, match="t_x"):
        model(_tokens(), None, None, None)
    a = model(_tokens(), None, torch.tensor(0.3), None).token_logits
    b = model(_tokens(), None, torch.full((B,), 0.3), None).token_logits
    torch.testing.assert_close(a, b)


def test_config_validation() -> None:
    assert DiT.Config().hidden == 128 and DiT.Config().time_conditioning is False
    with pytest.raises(pydantic.ValidationError, match="divisible"):
        DiT.Config(hidden=30, heads=4)
    with pytest.raises(pydantic.ValidationError):
        DiT.Config(dropout=1.5)
    with pytest.raises(pydantic.ValidationError):
        DiT.Config(unknown=1)


def test_rope_preserves_norm_and_is_relative() -> None:
    torch.manual_seed(0)
    dh, n = 16, 10
    cos, sin = rope_cache(torch.arange(n), dh)
    assert cos.shape == (n, dh) and cos.dtype == torch.float32
    x = torch.randn(2, 3, n, dh)
    torch.testing.assert_close(apply_rope(x, cos, sin).norm(dim=-1), x.norm(dim=-1))
    # the same q and k at every position: <rope(q, m), rope(k, n)> depends only on m - n
    q = torch.randn(dh).expand(1, 1, n, dh)
    k = torch.randn(dh).expand(1, 1, n, dh)
    scores = apply_rope(q, cos, sin)[0, 0] @ apply_rope(k, cos, sin)[0, 0].T  # (n, n)
    for offset in range(-n + 1, n):
        diag = torch.diagonal(scores, offset)
        torch.testing.assert_close(diag, diag[:1].expand_as(diag), rtol=1e-4, atol=1e-4)
    assert not torch.allclose(torch.diagonal(scores, 0)[0], torch.diagonal(scores, 3)[0])
    # per-example (B, L) positions broadcast over heads
    cos_b, sin_b = rope_cache(torch.arange(n).expand(2, n), dh)
    torch.testing.assert_close(apply_rope(x, cos_b, sin_b), apply_rope(x, cos, sin))
    with pytest.raises(ValueError, match="even"):
        rope_cache(torch.arange(n), 7)


def test_attention_masks_padding_keys() -> None:
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 2, 5, 8) for _ in range(3))
    mask = torch.tensor([[True, True, True, False, False], [False] * 5])
    out = attention(q, k, v, mask)
    ref = attention(q[:1], k[:1, :, :3], v[:1, :, :3])
    torch.testing.assert_close(out[:1], ref)
    assert torch.isfinite(out).all()


def test_timestep_embedder_resolves_unit_interval() -> None:
    emb = TimestepEmbedder(cond_dim=8, freq_dim=32)
    t = torch.tensor([0.0, 1e-3, 0.5, 1.0])
    feats = emb.features(t)
    assert feats.shape == (4, 32)
    assert torch.cdist(feats, feats).masked_fill(torch.eye(4, dtype=torch.bool), 1.0).min() > 1e-2
    assert emb(t).shape == (4, 8)


def test_adaln_zero_block_is_identity() -> None:
    torch.manual_seed(0)
    block = TransformerBlock(hidden=16, heads=2, cond_dim=8)
    x, cond = torch.randn(2, 5, 16), torch.randn(2, 8)
    rope = rope_cache(torch.arange(5), 8)
    torch.testing.assert_close(block(x, cond, rope=rope), x)
    plain = TransformerBlock(hidden=16, heads=2, cond_dim=None)
    assert not torch.allclose(plain(x, rope=rope), x)
    with pytest.raises(ValueError, match="cond"):
        block(x)
    assert torch.all(FinalLayer(16, 4, cond_dim=8)(x, cond) == 0)


def test_gradients_reach_every_parameter() -> None:
    model = _model(time_conditioning=True).train()
    x = _tokens()
    mask = torch.ones(B, L, dtype=torch.bool)
    mask[0, 9:] = False
    logits = model(x, None, torch.rand(B), None, attention_mask=mask).token_logits
    loss = nn.functional.cross_entropy(logits[mask], _tokens(seed=2)[mask])
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_registration() -> None:
    assert_registers("dit", ladd_dit, "backbone", {"dit": DiT})


def test_config_model_validates_dit() -> None:
    comps = load_plugins()
    assert "dit" not in {f.plugin for f in comps.failures}
    # config_model needs a component of every referenced kind; other plug-ins may still be in progress
    if comps.failures:
        pytest.skip(f"other plug-ins failed to load: {sorted({f.plugin for f in comps.failures})}")
    empty = sorted(k for k, r in comps.registries.items() if KINDS[k].is_component and not len(r))
    if empty:
        pytest.skip(f"no components registered yet for kinds {empty}")
    cfg = comps.config_model.model_validate({"model": {"backbone": {"name": "dit", "hidden": 32}}})
    assert isinstance(cfg.model.backbone, DiT.Config) and cfg.model.backbone.hidden == 32


def test_heads_qkv_and_rope_table_match_the_per_tensor_path() -> None:
    """The fused q/k RoPE pass equals chunk + split_heads + apply_rope on q and k; rope_table is rope_cache, cached."""
    from ladd_core.nn import apply_rope, rope_cache, rope_table, split_heads
    from ladd_core.nn.blocks import heads_qkv

    torch.manual_seed(0)
    qkv = torch.randn(2, 7, 3 * 12)  # (B, L, 3D), 3 heads of width 4
    rope = rope_table(7, 4, torch.device("cpu"))
    ref = rope_cache(torch.arange(7), 4)
    assert all(torch.equal(a, b) for a, b in zip(rope, ref)) and rope_table(7, 4, torch.device("cpu")) is rope
    q, k, v = (split_heads(z, 3) for z in qkv.chunk(3, dim=-1))
    fq, fk, fv = heads_qkv(qkv, 3, rope)
    assert torch.equal(fq, apply_rope(q, *ref)) and torch.equal(fk, apply_rope(k, *ref)) and torch.equal(fv, v)
    assert all(torch.equal(a, b) for a, b in zip(heads_qkv(qkv, 3), (q, k, v)))
