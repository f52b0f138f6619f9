"""Tests of the cosine EMA vector quantiser of the ``ladd_diladd`` plug-in."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from ladd_diladd.quantizer import LAPLACE_EPS, VectorQuantizer, code_usage_stats


def _vq(c: int = 8, d: int = 4, **kw: float) -> VectorQuantizer:
    torch.manual_seed(0)
    return VectorQuantizer(c, d, **kw)  # type: ignore[arg-type]


def _set_state(vq: VectorQuantizer, codebook: torch.Tensor, sizes: torch.Tensor) -> None:
    with torch.no_grad():
        vq.codebook.copy_(F.normalize(codebook, dim=-1))
        vq.cluster_size.copy_(sizes)
        vq.embed_sum.copy_(vq.codebook * sizes[:, None])
        vq.initialised.fill_(True)


def test_shapes_range_unit_codes_and_eval_leaves_buffers() -> None:
    vq = _vq(16, 6).eval()
    before = {k: v.clone() for k, v in vq.state_dict().items()}
    z = torch.randn(5, 3, 6)
    out = vq(z)
    assert out.z_q.shape == (5, 3, 6) and out.codes.shape == (5, 3) and out.commit_loss.shape == (5,)
    assert out.codes.dtype == torch.long and out.codes.min() >= 0 and out.codes.max() <= 15
    assert torch.allclose(out.z_q.norm(dim=-1), torch.ones(5, 3), atol=1e-5)
    assert torch.allclose(out.z_q, vq.lookup(out.codes), atol=1e-6)
    sims = F.normalize(z, dim=-1) @ F.normalize(vq.codebook, dim=-1).t()
    assert torch.equal(out.codes, sims.argmax(-1))
    for k, v in vq.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_ema_update_matches_hand_formula() -> None:
    c, d, decay = 4, 3, 0.9
    vq = _vq(c, d, decay=decay, dead_threshold=0.0)
    book = torch.eye(4, 3) + 0.01 * torch.arange(12.0).reshape(4, 3)
    book[3] = torch.tensor([1.0, 1.0, 1.0])
    sizes = torch.tensor([3.0, 1.0, 0.5, 2.0])
    _set_state(vq, book, sizes)
    es0, cs0, cb0 = vq.embed_sum.clone(), vq.cluster_size.clone(), vq.codebook.clone()
    z = torch.tensor([[[2.0, 0.1, 0.0]], [[1.0, -0.1, 0.1]], [[0.0, 0.0, 3.0]], [[0.2, 1.0, 0.0]], [[0.1, 0.9, 0.1]]])
    vq.train()
    out = vq(z)
    x = F.normalize(z.reshape(-1, d), dim=-1)
    codes = (x @ cb0.t()).argmax(-1)
    assert torch.equal(out.codes.reshape(-1), codes)
    n = torch.zeros(c)
    s = torch.zeros(c, d)
    for i, k in enumerate(codes.tolist()):
        n[k] += 1
        s[k] += x[i]
    cs = decay * cs0 + (1 - decay) * n
    es = decay * es0 + (1 - decay) * s
    total = cs.sum()
    smoothed = (cs + LAPLACE_EPS) / (total + c * LAPLACE_EPS) * total
    expected = F.normalize(es / smoothed[:, None], dim=-1)
    assert torch.allclose(vq.cluster_size, cs, atol=1e-6)
    assert torch.allclose(vq.embed_sum, es, atol=1e-6)
    assert torch.allclose(vq.codebook, expected, atol=1e-6)


def test_kmeans_init_finds_mixture_centres() -> None:
    g = torch.Generator().manual_seed(3)
    d, k = 8, 4
    centres = F.normalize(torch.randn(k, d, generator=g), dim=-1)
    labels = torch.arange(200) % k
    z = centres[labels] + 0.05 * torch.randn(200, d, generator=g)
    vq = _vq(k, d, kmeans_iters=10, dead_threshold=0.0).train()
    assert not bool(vq.initialised)
    vq(z[:, None, :], generator=torch.Generator().manual_seed(0))
    assert bool(vq.initialised)
    sim = centres @ F.normalize(vq.codebook, dim=-1).t()  # (k, C)
    assert (sim.max(dim=1).values > 0.99).all()  # every mixture centre has a code on it
    assert sorted(sim.argmax(dim=1).tolist()) == list(range(k))  # one code per cluster
    assert torch.allclose(vq.cluster_size.sum(), torch.tensor(200.0), atol=1e-3)


def test_kmeans_init_with_fewer_inputs_than_codes() -> None:
    vq = _vq(32, 4, dead_threshold=0.0).train()
    out = vq(torch.randn(5, 1, 4))
    assert bool(vq.initialised) and out.codes.max() < 32
    assert torch.isfinite(vq.codebook).all()


def test_dead_code_replacement_reseeds_exactly_the_dead_codes() -> None:
    c, d = 6, 5
    book = torch.randn(c, d, generator=torch.Generator().manual_seed(1))
    sizes = torch.tensor([5.0, 5.0, 5.0, 5.0, 0.1, 0.2])  # codes 4 and 5 are dead for threshold 2
    z = torch.randn(10, 2, d, generator=torch.Generator().manual_seed(2))
    ref = _vq(c, d, dead_threshold=0.0).train()
    _set_state(ref, book, sizes)
    ref(z)
    vq = _vq(c, d, dead_threshold=2.0).train()
    _set_state(vq, book, sizes)
    out = vq(z, generator=torch.Generator().manual_seed(0))
    dead = ref.cluster_size < 2.0
    assert out.replaced == int(dead.sum()) >= 2
    assert torch.equal(vq.codebook[~dead], ref.codebook[~dead])
    inputs = F.normalize(z.reshape(-1, d), dim=-1)
    for row in vq.codebook[dead]:
        assert ((inputs - row).abs().max(dim=1).values < 1e-6).any()  # re-seeded from a current input
    assert torch.allclose(vq.cluster_size[dead], torch.full((int(dead.sum()),), 2.0))


def test_straight_through_gradient_is_identity() -> None:
    vq = _vq(8, 4).eval()
    z = torch.randn(3, 2, 4, requires_grad=True)
    out = vq(z)
    g = torch.randn(3, 2, 4)
    (out.z_q * g).sum().backward()
    assert z.grad is not None and torch.allclose(z.grad, g)


def test_commitment_loss_value_and_gradient() -> None:
    vq = _vq(8, 4, commitment=0.25).eval()
    z = torch.randn(3, 2, 4, requires_grad=True)
    out = vq(z)
    zq = vq.lookup(out.codes)
    expected = 0.25 * ((z - zq) ** 2).mean(dim=(1, 2))
    assert torch.allclose(out.commit_loss, expected.detach(), atol=1e-6)
    out.commit_loss.sum().backward()
    assert z.grad is not None and torch.allclose(z.grad, 0.25 * 2 * (z - zq).detach() / 8, atol=1e-6)


def test_usage_stats() -> None:
    codes = torch.tensor([[0, 1], [0, 1], [2, 2], [3, 0]])
    util, ppl, uniq = code_usage_stats(codes, 8)
    assert util == pytest.approx(4 / 8)
    p = torch.tensor([3, 2, 2, 1], dtype=torch.float64) / 8
    assert ppl == pytest.approx(math.exp(float(-(p * p.log()).sum())))
    assert uniq == pytest.approx(3 / 4)


def test_state_dict_round_trip_through_safetensors(tmp_path) -> None:
    vq = _vq(16, 4).train()
    vq(torch.randn(40, 1, 4))
    path = tmp_path / "vq.safetensors"
    save_file({k: v.contiguous() for k, v in vq.state_dict().items()}, str(path))
    loaded = load_file(str(path))
    assert set(loaded) == {"codebook", "cluster_size", "embed_sum", "initialised"}
    other = VectorQuantizer(16, 4)
    other.load_state_dict(loaded)
    for k, v in vq.state_dict().items():
        assert torch.equal(other.state_dict()[k], v), k
    assert bool(other.initialised)
    z = torch.randn(7, 3, 4)
    assert torch.equal(other.eval()(z).codes, vq.eval()(z).codes)


def test_bf16_autocast_keeps_float32() -> None:
    vq = _vq(8, 4).train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = vq(torch.randn(4, 2, 4).to(torch.bfloat16))
    assert out.z_q.dtype == torch.float32 and vq.codebook.dtype == torch.float32
