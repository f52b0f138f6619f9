"""The sampling benchmark's call counting, and the time rows the chains build once."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
import torch

from ladd_core.build import build_sampler
from ladd_core.testing.toys import build_tiny_model
from ladd_samplers._chains import grid_rows, time_grid

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from minimal_mdlm import minimal_ancestral
from sampling_speed import CallCounter, HandWritten, measure


def test_grid_rows_hold_the_values_full_gave_per_step():
    ts = time_grid(7, 1e-5, torch.device("cpu"))
    for dtype in (torch.float32, torch.float64):
        rows = grid_rows(ts, 3, dtype)  # (N + 1, B)
        assert rows.shape == (8, 3) and rows.is_contiguous()
        for i in range(8):
            assert torch.equal(rows[i], torch.full((3,), float(ts[i]), dtype=dtype))


@pytest.mark.parametrize("name", ["ancestral", "maskgit", "remdm"])
def test_counted_calls_are_the_nfe_and_the_forward_is_restored(components, name):
    model = build_tiny_model(components, {"name": "none"}, vocab_size=5, seq_len=6).model.eval()
    cls = components.get("sampler", name)
    sampler = build_sampler(components, cls.Config(steps=4, cache=False))
    with CallCounter(model.backbone) as counter:
        out = sampler.sample(model, 2, generator=torch.Generator().manual_seed(0))
    assert counter.calls == out.nfe
    assert "forward" not in vars(model.backbone)  # the wrapper is gone
    r = measure(model, sampler, 2, turns=1, clock=time.perf_counter, device=torch.device("cpu"))
    assert r["calls"] == {"token": out.nfe} and r["ideal"] > 0 and r["sample"] > 0
    # sample time / time inside its own calls - 1: the calls are part of the sample, and the sampler adds work
    assert 0 < r["in_chain"] < 10
    # the time outside the calls per call is what the ratio says: (in-chain overhead) x (mean time inside a call)
    assert 0 < r["outside"] < r["sample"]
    assert "forward" not in vars(model.backbone)  # the timed wrapper is gone too


def test_in_chain_timing_adds_up_the_time_inside_the_calls():
    net = torch.nn.Linear(2, 2)
    ticks = iter(range(100))
    with CallCounter(net, clock=lambda: float(next(ticks))) as counter:
        net(torch.zeros(1, 2))
        net(torch.zeros(1, 2))
    assert counter.calls == 2 and counter.seconds == 2.0  # each call read the clock twice: 1 tick per call


def test_the_hand_written_reference_samples_the_same_law_and_is_timed_like_a_sampler(components):
    """The yardstick row: MDLM's ancestral loop in plain torch on the same network; N + 1 calls, no mask left, and
    the reveal law of one step: a masked id stays masked w.p. s / t."""
    model = build_tiny_model(components, {"name": "none"}, vocab_size=5, seq_len=6).model.eval()
    with CallCounter(model.backbone) as counter:
        x = HandWritten(4).sample(model, 3, generator=torch.Generator().manual_seed(0))
    assert counter.calls == 5 and x.shape == (3, 6) and bool(((x >= 0) & (x < 5)).all())
    r = measure(model, HandWritten(4), 2, turns=1, clock=time.perf_counter, device=torch.device("cpu"))
    assert r["calls"] == {"token": 5} and r["in_chain"] > 0
    # one step t = 1 -> s = 0.5 (steps = 2, the second call only fills): half the positions stay masked until the fill
    seen: list[float] = []
    hook = model.backbone.register_forward_hook(lambda m, a, o: seen.append(float((a[0] == 5).double().mean())))
    try:
        minimal_ancestral(model.backbone, 5, 4000, 6, 1, torch.Generator().manual_seed(1), t_final=0.5)
    finally:
        hook.remove()
    assert seen[0] == 1.0 and abs(seen[1] - 0.5) < 0.02
