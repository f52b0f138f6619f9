"""Tests of the ``ladd_mmdit`` plug-in: the two-stream ``mmdit`` and the latent-only ``latent-dit`` backbones."""

from __future__ import annotations

import pydantic
import pytest
import torch
from torch import nn

import ladd_mmdit
from ladd_core.components.backbones import BackboneSpec
from ladd_mmdit.latent_dit import LatentDiT
from ladd_mmdit.mmdit import MMDiT
from tests.plugins._registration import assert_registers

C, L, K, DIN, DOUT, B = 11, 10, 3, 4, 5, 3
SPEC = BackboneSpec(num_classes=C, seq_len=L, num_slots=K, latent_in_dim=DIN, latent_out_dim=DOUT)


def _perturb(model: nn.Module, seed: int = 0) -> None:
    """Random offsets on every parameter so zero-initialised gates/heads do not hide dependencies."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g))


def _build(cls: type[MMDiT] | type[LatentDiT], perturb: bool, **kw: object) -> nn.Module:
    torch.manual_seed(0)
    model = cls(cls.Config(hidden=32, layers=2, heads=4, cond_dim=16, **kw), SPEC)
    if perturb:
        _perturb(model)
    return model.eval()


def _mmdit(perturb: bool = True, **kw: object) -> MMDiT:
    return _build(MMDiT, perturb, **kw)


def _latent_dit(perturb: bool = True, **kw: object) -> LatentDiT:
    return _build(LatentDiT, perturb, **kw)


def _tokens(seed: int = 1) -> torch.Tensor:
    return torch.randint(0, C, (B, L), generator=torch.Generator().manual_seed(seed))


def _latents(seed: int = 2) -> torch.Tensor:
    return torch.randn(B, K, DIN, generator=torch.Generator().manual_seed(seed))


def _t(value: float) -> torch.Tensor:
    return torch.full((B,), value)


# ----------------------------------------------------------------------------- mmdit


def test_mmdit_shapes_and_fresh_heads_are_zero() -> None:
    model = _mmdit(perturb=False)
    out = model(_tokens(), _latents(), None, torch.rand(B))
    assert out.token_logits is not None and out.latent_out is not None
    assert out.token_logits.shape == (B, L, C) and out.token_logits.dtype == torch.float32
    assert out.latent_out.shape == (B, K, DOUT)
    assert torch.all(out.token_logits == 0) and torch.all(out.latent_out == 0)
    assert model.capabilities == frozenset({"tokens", "latent_stream"})
    assert model.time_conditioned is True


def test_mmdit_separate_weights_per_stream() -> None:
    model = _mmdit(perturb=False)
    names = {n for n, _ in model.named_parameters()}
    for part in ("qkv.weight", "attn_out.weight", "mlp.fc1.weight", "ada_ln.1.weight"):
        assert f"blocks.0.x.{part}" in names and f"blocks.0.y.{part}" in names
    assert model.blocks[0].x.qkv.weight is not model.blocks[0].y.qkv.weight
    assert isinstance(model.latent_embed, nn.Sequential) and len(model.latent_embed) == 3  # Linear-SiLU-Linear


def test_mmdit_requires_latents() -> None:
    with pytest.raises(ValueError, match="latents"):
        _mmdit()(_tokens(), None, None, _t(0.5))
    with pytest.raises(ValueError, match="latents must have shape"):
        _mmdit()(_tokens(), torch.zeros(B, K + 1, DIN), None, _t(0.5))
    with pytest.raises(ValueError, match="latent channel"):
        MMDiT(MMDiT.Config(hidden=32, heads=4), BackboneSpec(num_classes=C, seq_len=L))


def test_joint_attention_mixes_streams() -> None:
    model = _mmdit()
    x, y, t = _tokens(), _latents(), _t(0.5)
    base = model(x, y, None, t)
    y2 = y.clone()
    y2[:, 0] += 1.0
    assert (model(x, y2, None, t).token_logits - base.token_logits).abs().max() > 1e-4  # latent -> tokens
    x2 = x.clone()
    x2[:, 0] = (x[:, 0] + 1) % C
    assert (model(x2, y, None, t).latent_out - base.latent_out).abs().max() > 1e-4  # tokens -> latent


def test_latent_slots_are_position_aware() -> None:
    model = _mmdit()
    x, y, t = _tokens(), _latents(), _t(0.5)
    perm = torch.tensor([2, 0, 1])
    a = model(x, y, None, t).latent_out[:, perm]
    b = model(x, y[:, perm], None, t).latent_out
    assert (a - b).abs().max() > 1e-4  # RoPE over L + k breaks permutation equivariance


def test_mmdit_padding_invariance() -> None:
    model = _mmdit()
    x, y, t = _tokens(), _latents(), _t(0.3)
    mask = torch.ones(B, L, dtype=torch.bool)
    mask[0, 6:] = False
    mask[1, 2:] = False
    x2 = x.clone()
    x2[~mask] = (x[~mask] + 1) % C  # every padded id changes
    a = model(x, y, None, t, attention_mask=mask)
    b = model(x2, y, None, t, attention_mask=mask)
    torch.testing.assert_close(a.token_logits[mask], b.token_logits[mask], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(a.latent_out, b.latent_out, rtol=1e-5, atol=1e-5)
    c = model(x2, y, None, t)  # without the mask the padded ids leak
    assert (a.latent_out - c.latent_out).abs().max() > 1e-4


def test_fully_padded_row_is_finite() -> None:
    mask = torch.ones(B, L, dtype=torch.bool)
    mask[2] = False
    out = _mmdit()(_tokens(), _latents(), None, _t(0.5), attention_mask=mask)
    assert torch.isfinite(out.token_logits).all() and torch.isfinite(out.latent_out).all()


@pytest.mark.parametrize("token_time", [False, True])
def test_token_time_flag(token_time: bool) -> None:
    model = _mmdit(token_time=token_time)
    x, y = _tokens(), _latents()
    a = model(x, y, _t(0.1), _t(0.5)).token_logits
    b = model(x, y, _t(0.9), _t(0.5)).token_logits
    assert (a - b).abs().max() > 1e-4 if token_time else torch.equal(a, b)
    if not token_time:
        assert torch.equal(a, model(x, y, None, _t(0.5)).token_logits)
    else:
        with pytest.raises(ValueError, match="t_x"):
            model(x, y, None, _t(0.5))


@pytest.mark.parametrize("latent_time", [True, False])
def test_latent_time_flag(latent_time: bool) -> None:
    model = _mmdit(latent_time=latent_time)
    x, y = _tokens(), _latents()
    a = model(x, y, None, _t(0.1))
    b = model(x, y, None, _t(0.9))
    if latent_time:
        assert (a.latent_out - b.latent_out).abs().max() > 1e-4
        assert (a.token_logits - b.token_logits).abs().max() > 1e-4
        with pytest.raises(ValueError, match="t_y"):
            model(x, y, None, None)
        torch.testing.assert_close(model(x, y, None, torch.tensor(0.1)).latent_out, a.latent_out)  # scalar t_y
    else:
        assert torch.equal(a.latent_out, b.latent_out) and torch.equal(a.token_logits, b.token_logits)


def test_mmdit_float32_logits_under_autocast() -> None:
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = _mmdit()(_tokens(), _latents(), None, _t(0.5))
    assert out.token_logits.dtype == torch.float32 and torch.isfinite(out.token_logits).all()


def test_mmdit_gradients_reach_every_parameter() -> None:
    model = _mmdit(token_time=True).train()
    out = model(_tokens(), _latents(), torch.rand(B), torch.rand(B))
    loss = nn.functional.cross_entropy(out.token_logits.reshape(-1, C), _tokens(seed=3).reshape(-1))
    (loss + out.latent_out.pow(2).mean()).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_mmdit_config_validation() -> None:
    cfg = MMDiT.Config()
    assert cfg.token_time is False and cfg.latent_time is True
    with pytest.raises(pydantic.ValidationError, match="divisible"):
        MMDiT.Config(hidden=30, heads=4)
    with pytest.raises(pydantic.ValidationError, match="even"):
        MMDiT.Config(hidden=36, heads=4)
    with pytest.raises(pydantic.ValidationError):
        MMDiT.Config(unknown=1)


# ----------------------------------------------------------------------------- latent-dit


def test_latent_dit_shapes_and_capabilities() -> None:
    model = _latent_dit(perturb=False)
    out = model(None, _latents(), None, _t(0.5))
    assert out.token_logits is None and out.latent_out.shape == (B, K, DOUT)
    assert torch.all(out.latent_out == 0)  # zero-initialised head
    assert model.capabilities == frozenset({"latent_only"})
    assert isinstance(model.latent_embed, nn.Linear)
    assert isinstance(_latent_dit(patch_embed="mlp").latent_embed, nn.Sequential)


@pytest.mark.parametrize("patch_embed", ["linear", "mlp"])
def test_latent_dit_ignores_tokens_and_mask_but_not_t_y(patch_embed: str) -> None:
    model = _latent_dit(patch_embed=patch_embed)
    y = _latents()
    a = model(None, y, None, _t(0.5)).latent_out
    mask = torch.zeros(B, L, dtype=torch.bool)
    b = model(_tokens(), y, _t(0.1), _t(0.5), attention_mask=mask).latent_out
    assert torch.equal(a, b)
    assert (model(None, y, None, _t(0.9)).latent_out - a).abs().max() > 1e-4
    perm = torch.tensor([2, 0, 1])
    assert (model(None, y[:, perm], None, _t(0.5)).latent_out - a[:, perm]).abs().max() > 1e-4  # RoPE over slots


def test_latent_dit_errors() -> None:
    model = _latent_dit()
    with pytest.raises(ValueError, match="latents"):
        model(_tokens(), None, None, _t(0.5))
    with pytest.raises(ValueError, match="t_y"):
        model(None, _latents(), None, None)
    with pytest.raises(ValueError, match="latents must have shape"):
        model(None, torch.zeros(B, K, DIN + 1), None, _t(0.5))


def test_latent_dit_gradients_reach_every_parameter() -> None:
    model = _latent_dit().train()
    model(None, _latents(), None, torch.rand(B)).latent_out.pow(2).mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


# ----------------------------------------------------------------------------- registration


def test_registration() -> None:
    assert_registers("mmdit", ladd_mmdit, "backbone", {"mmdit": MMDiT, "latent-dit": LatentDiT})


# ----------------------------------------------------------------------------- checkpoint names


def _params(*modules: str) -> set[str]:
    return {f"{m}.{w}" for m in modules for w in ("weight", "bias")}


_BLOCK = ("qkv", "attn_out", "mlp.fc1", "mlp.fc2", "ada_ln.1")
_HEAD = ("linear", "ada_ln.1")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "dit",
            {"embed.weight"}
            | _params("time_embed.mlp.0", "time_embed.mlp.2", *(f"blocks.0.{b}" for b in _BLOCK))
            | _params(*(f"final.{h}" for h in _HEAD)),
        ),
        (
            "mmdit",
            {"embed.weight"}
            | _params(
                "latent_embed.0", "latent_embed.2", "time_x.mlp.0", "time_x.mlp.2", "time_y.mlp.0", "time_y.mlp.2"
            )
            | _params(*(f"blocks.0.{s}.{b}" for s in "xy" for b in _BLOCK))
            | _params(*(f"final_{s}.{h}" for s in "xy" for h in _HEAD)),
        ),
        (
            "latent-dit",
            _params("latent_embed", "time_y.mlp.0", "time_y.mlp.2", *(f"blocks.0.{b}" for b in _BLOCK))
            | _params(*(f"final.{h}" for h in _HEAD)),
        ),
    ],
)
def test_state_dict_names_are_stable(name: str, expected: set[str]) -> None:
    """Checkpoints of earlier runs must keep loading: the parameter names of the shared blocks are fixed."""
    from ladd_dit.dit import DiT

    cls = {"dit": DiT, "mmdit": MMDiT, "latent-dit": LatentDiT}[name]
    model = cls(cls.Config(hidden=8, layers=1, heads=2, cond_dim=8), SPEC)
    assert set(model.state_dict()) == expected
