"""Attention backends: registration, numerical agreement, fallbacks, and selection from configs."""

from __future__ import annotations

import logging

import pytest
import torch

import ladd_attention.backends as ab
from ladd_attention.backends import (
    MathAttention,
    SDPAAttention,
    XFormersAttention,
    math_attention,
    sdpa_attention,
    visible_keys,
)
from ladd_core.build import build_component
from ladd_core.components.backbones import BackboneSpec
from ladd_core.config.errors import ConfigError
from ladd_core.config.experiment import validate_config

B, H, L, DH = 3, 2, 11, 8
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _qkv(device: str = "cpu", dtype: torch.dtype = torch.float32, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(B, H, L, DH, generator=g).to(device=device, dtype=dtype) for _ in range(3))


def _mask(device: str = "cpu") -> torch.Tensor:
    mask = torch.ones(B, L, dtype=torch.bool)
    mask[0, 7:] = False  # right padding
    mask[1, :3] = False  # left padding
    mask[2] = False  # all padding: attends to every key instead
    return mask.to(device)


def test_registered(components) -> None:
    reg = components.registry("attention")
    assert {"sdpa", "math", "xformers"} <= set(reg.list())
    assert components.get("attention", "sdpa") is SDPAAttention
    assert components.get("attention", "math") is MathAttention
    assert components.get("attention", "xformers") is XFormersAttention


@pytest.mark.parametrize("masked", [False, True])
def test_sdpa_matches_math_reference(masked: bool) -> None:
    q, k, v = (t.requires_grad_() for t in _qkv())
    mask = _mask() if masked else None
    out_s = sdpa_attention(q, k, v, mask)
    grads_s = torch.autograd.grad(out_s.square().sum(), (q, k, v))
    out_m = math_attention(q, k, v, mask)
    grads_m = torch.autograd.grad(out_m.square().sum(), (q, k, v))
    assert out_s.shape == (B, H, L, DH) and torch.isfinite(out_s).all()
    torch.testing.assert_close(out_s, out_m, atol=1e-5, rtol=1e-5)
    for gs, gm in zip(grads_s, grads_m):
        torch.testing.assert_close(gs, gm, atol=1e-4, rtol=1e-4)
    if masked:  # padding keys carry no weight: changing them changes nothing
        v2 = v.detach().clone()
        v2[0, :, 7:] = 100.0
        torch.testing.assert_close(math_attention(q, k, v2, mask)[0], out_m[0].detach())


@pytest.mark.parametrize("dh", [10, 5, 3])
@pytest.mark.parametrize("masked", [False, True])
def test_sdpa_unaligned_head_dim_is_padded_without_changing_the_math(dh: int, masked: bool, monkeypatch) -> None:
    """Head dims off the CPU alignment are zero-padded for speed: same outputs and gradients as the reference."""
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(dh)
    q, k, v = (torch.randn(B, H, L, dh, generator=g, dtype=torch.float64).requires_grad_() for _ in range(3))
    mask = _mask() if masked else None
    seen: list[int] = []
    real = F.scaled_dot_product_attention

    def spy(q_, *args, **kwargs):  # the kernel really gets an aligned head dim
        seen.append(q_.shape[-1])
        return real(q_, *args, **kwargs)

    monkeypatch.setattr(F, "scaled_dot_product_attention", spy)
    out = sdpa_attention(q, k, v, mask)
    assert seen == [-(-dh // 8) * 8] and out.shape == (B, H, L, dh)
    scores = q @ k.transpose(-2, -1) / dh**0.5  # (B, H, L, L), float64 reference with the true scale
    if masked:
        scores = scores.masked_fill(~visible_keys(mask)[:, None, None, :], float("-inf"))
    ref = scores.softmax(-1) @ v
    torch.testing.assert_close(out, ref, atol=1e-12, rtol=1e-10)
    for ga, gr in zip(torch.autograd.grad(out.sum(), (q, k, v)), torch.autograd.grad(ref.sum(), (q, k, v))):
        torch.testing.assert_close(ga, gr, atol=1e-12, rtol=1e-10)


def test_bf16_close_to_float32_reference() -> None:
    q, k, v = _qkv(dtype=torch.bfloat16)
    out = sdpa_attention(q, k, v, _mask())
    ref = math_attention(q.float(), k.float(), v.float(), _mask())
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), ref, atol=3e-2, rtol=3e-2)


def test_xformers_on_cpu_falls_back_to_sdpa_with_one_notice(caplog, monkeypatch) -> None:
    monkeypatch.setattr(ab, "_NOTICES", set())
    backend = XFormersAttention(XFormersAttention.Config())
    q, k, v = _qkv()
    with caplog.at_level(logging.WARNING, logger="ladd.attention"):
        out1 = backend(q, k, v, _mask())
        backend(q, k, v, _mask())
    torch.testing.assert_close(out1, sdpa_attention(q, k, v, _mask()))
    notices = [r for r in caplog.records if r.name == "ladd.attention"]
    assert len(notices) == 1 and "CUDA" in notices[0].getMessage()


def test_xformers_raising_not_implemented_falls_back(caplog, monkeypatch) -> None:
    monkeypatch.setattr(ab, "_NOTICES", set())

    class FakeOps:
        calls = 0

        @classmethod
        def memory_efficient_attention(cls, *a, **k):
            cls.calls += 1
            raise NotImplementedError("No operator found for `memory_efficient_attention_forward`")

    backend = XFormersAttention(XFormersAttention.Config())
    monkeypatch.setattr(backend, "supports", lambda q: True)
    backend._ops = FakeOps
    q, k, v = _qkv()
    with caplog.at_level(logging.WARNING, logger="ladd.attention"):
        out = backend(q, k, v, _mask())
        backend(q, k, v, _mask())
    torch.testing.assert_close(out, sdpa_attention(q, k, v, _mask()))
    assert FakeOps.calls == 1, "after the first failure xformers is not tried again"
    assert backend.disabled and "NotImplementedError" in backend.disabled
    assert len([r for r in caplog.records if r.name == "ladd.attention"]) == 1


def test_xformers_missing_falls_back(monkeypatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_xformers(name, *a, **k):
        if name.startswith("xformers"):
            raise ImportError("No module named 'xformers'")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_xformers)
    backend = XFormersAttention(XFormersAttention.Config())
    assert not backend.active and "unavailable" in backend.disabled


def _perturbed(net: torch.nn.Module) -> torch.nn.Module:
    torch.manual_seed(0)
    for p in net.parameters():  # break adaLN-Zero so attention matters
        torch.nn.init.normal_(p, std=0.1)
    return net


def test_dit_selects_backend_from_config(components) -> None:
    spec = BackboneSpec(num_classes=5, seq_len=L)
    tokens = torch.randint(0, 5, (B, L), generator=torch.Generator().manual_seed(1))
    outs = {}
    for name in ("sdpa", "math"):
        bb = {"name": "dit", "hidden": 16, "heads": 2, "layers": 2, "cond_dim": 8, "attention": {"name": name}}
        cfg = validate_config({"model": {"backbone": bb}}, components)
        assert cfg.model.backbone.attention.name == name
        net = _perturbed(build_component(components, "backbone", cfg.model.backbone, spec=spec))
        assert isinstance(net.attn_backend, components.get("attention", name))
        assert all(blk.attn_backend is net.attn_backend for blk in net.blocks)
        outs[name] = net(tokens, None, None, None, attention_mask=_mask()).token_logits
    torch.testing.assert_close(outs["sdpa"], outs["math"], atol=1e-4, rtol=1e-4)


def test_mmdit_joint_attention_uses_backend(components) -> None:
    from ladd_mmdit.mmdit import MMDiT

    spec = BackboneSpec(num_classes=5, seq_len=L, num_slots=2, latent_in_dim=4, latent_out_dim=4)
    tokens = torch.randint(0, 5, (B, L), generator=torch.Generator().manual_seed(1))
    lat = torch.randn(B, 2, 4, generator=torch.Generator().manual_seed(2))
    cfg = MMDiT.Config(hidden=16, heads=2, layers=2, cond_dim=8)
    assert isinstance(MMDiT(cfg, spec).attn_backend, SDPAAttention), "direct construction defaults to sdpa"
    outs = {}
    for name in ("sdpa", "math"):
        cls = components.get("attention", name)
        net = _perturbed(MMDiT(cfg, spec, attention=cls(cls.Config())))
        out = net(tokens, lat, torch.rand(B), torch.rand(B), attention_mask=_mask())
        outs[name] = torch.cat([out.token_logits.flatten(), out.latent_out.flatten()])
    torch.testing.assert_close(outs["sdpa"], outs["math"], atol=1e-4, rtol=1e-4)


def test_unknown_backend_is_a_config_error(components) -> None:
    with pytest.raises(ConfigError, match="attention"):
        validate_config({"model": {"backbone": {"name": "dit", "attention": {"name": "flash9"}}}}, components)


@cuda
@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cuda_sdpa_matches_math(dtype: torch.dtype) -> None:
    q, k, v = _qkv("cuda", dtype)
    tol = 1e-4 if dtype == torch.float32 else 3e-2
    ref = math_attention(q.float(), k.float(), v.float(), _mask("cuda"))
    torch.testing.assert_close(sdpa_attention(q, k, v, _mask("cuda")).float(), ref, atol=tol, rtol=tol)


@cuda
@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_cuda_xformers_matches_math(dtype: torch.dtype) -> None:
    pytest.importorskip("xformers.ops")
    backend = XFormersAttention(XFormersAttention.Config())
    q, k, v = _qkv("cuda", dtype)
    out = backend(q, k, v, _mask("cuda"))
    if backend.disabled:
        pytest.skip(f"xformers not usable here: {backend.disabled}")
    ref = math_attention(q.float(), k.float(), v.float(), _mask("cuda"))
    torch.testing.assert_close(out.float(), ref, atol=3e-2, rtol=3e-2)


def test_backend_for_knows_only_builtin_backends() -> None:
    """A direct construction cannot reach other plug-ins' backends through a global registry."""
    from ladd_core.config.base import ComponentConfig

    assert isinstance(ab.backend_for(ComponentConfig(name="math")), MathAttention)
    with pytest.raises(ValueError, match="build_model"):
        ab.backend_for(ComponentConfig(name="flash9"))
