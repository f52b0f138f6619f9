"""Thread counts that follow the machine's load ("auto"), measured from CPU counters; fixed counts stay fixed."""

from __future__ import annotations

from pathlib import Path

import pytest

from ladd_core.training.threads import (
    CHECK_SECONDS,
    CpuSample,
    ThreadGovernor,
    choose_threads,
    other_busy_cores,
    read_cpu_sample,
)


def test_other_processes_load_is_total_minus_own() -> None:
    a = CpuSample(busy=100.0, own=10.0, wall=0.0)
    b = CpuSample(busy=106.0, own=12.0, wall=4.0)  # 6 busy-seconds in 4 s, 2 of them ours
    assert other_busy_cores(a, b) == pytest.approx(1.0)
    assert other_busy_cores(b, b) == 0.0


@pytest.mark.parametrize(
    ("cores", "others", "ceiling", "want"),
    [(2, 0.0, 2, 2), (2, 0.4, 2, 2), (2, 0.6, 2, 1), (2, 1.9, 2, 1), (16, 5.2, 16, 11), (16, 0.0, 4, 4)],
)
def test_choose_threads(cores, others, ceiling, want) -> None:
    assert choose_threads(cores, others, ceiling) == want


class _Machine:
    """A fake machine: other processes keep ``others`` cores busy; we use ``threads`` cores while training."""

    def __init__(self) -> None:
        self.t, self.busy, self.own, self.others, self.threads = 0.0, 0.0, 0.0, 0.0, 2

    def run(self, seconds: float) -> None:
        ours = min(self.threads, 2 - min(self.others, 2))
        self.t += seconds
        self.own += ours * seconds
        self.busy += (ours + self.others) * seconds

    def sample(self) -> CpuSample:
        return CpuSample(self.busy, self.own, self.t)


def test_auto_follows_a_competitor_and_says_so() -> None:
    m, notes = _Machine(), []

    def set_threads(n: int) -> None:
        m.threads = n

    gov = ThreadGovernor(
        "auto",
        notes.append,
        sample=m.sample,
        set_threads=set_threads,
        get_threads=lambda: 2,
        cores=2,
        clock=lambda: m.t,
    )
    gov.start()
    m.run(CHECK_SECONDS + 1)
    assert gov.check() == 2 and not notes  # idle machine: both cores
    m.others = 1.0  # a competing job starts
    m.run(CHECK_SECONDS + 1)
    assert gov.check() == 1 and m.threads == 1
    assert "other processes keep 1.0 of 2 cores busy; using 1 thread" in notes[-1]
    m.run(1.0)
    assert gov.check() == 1 and len(notes) == 1  # no re-measurement inside the window
    m.others = 0.0  # it ends
    m.run(CHECK_SECONDS + 1)
    assert gov.check() == 2 and "back to 2 threads" in notes[-1] and gov.changes == 2


def test_fixed_counts_are_applied_once_and_never_adapted() -> None:
    m, seen = _Machine(), []
    gov = ThreadGovernor(1, seen.append, sample=m.sample, set_threads=lambda n: seen.append(n), get_threads=lambda: 1)
    gov.start()
    m.others = 2.0
    m.run(CHECK_SECONDS + 1)
    assert gov.check(force=True) == 1 and seen == [1]
    leave = ThreadGovernor(0, seen.append, sample=m.sample, set_threads=lambda n: seen.append(n), get_threads=lambda: 3)
    leave.start()
    assert leave.threads == 3 and seen == [1]


def test_auto_never_exceeds_the_starting_count() -> None:
    m = _Machine()
    gov = ThreadGovernor(
        "auto", print, sample=m.sample, set_threads=lambda n: None, get_threads=lambda: 1, cores=2, clock=lambda: m.t
    )
    gov.start()
    m.run(CHECK_SECONDS + 1)
    assert gov.check() == 1  # the test suite pins torch to 1 thread: auto keeps results reproducible there


def test_reads_this_machine_or_degrades(tmp_path: Path) -> None:
    now = read_cpu_sample()
    if Path("/proc/stat").exists():
        assert now is not None and now.busy > 0 and now.own > 0
    bad = tmp_path / "stat"
    bad.write_text("garbage\n")
    assert read_cpu_sample(bad) is None and read_cpu_sample(tmp_path / "missing") is None
    gov = ThreadGovernor("auto", print, sample=lambda: None, set_threads=lambda n: None, get_threads=lambda: 2)
    gov.start()
    assert gov.check(force=True) == 2  # no counters: nothing adapts


def _fake_torch(start: int):
    state = {"n": start}
    return state, (lambda n: state.__setitem__("n", n)), (lambda: state["n"])


def test_restore_gives_back_the_count_from_before_the_run() -> None:
    m = _Machine()
    state, set_threads, get_threads = _fake_torch(2)
    gov = ThreadGovernor(
        "auto", print, sample=m.sample, set_threads=set_threads, get_threads=get_threads, cores=2, clock=lambda: m.t
    )
    gov.start()
    m.others = 1.0
    m.run(CHECK_SECONDS + 1)
    assert gov.check() == 1 and state["n"] == 1  # a competitor took a core during training
    gov.restore()
    assert state["n"] == 2 and gov.threads == 2  # what comes after the run (sampling, eval) gets both again
    state, set_threads, get_threads = _fake_torch(4)
    fixed = ThreadGovernor(1, print, sample=m.sample, set_threads=set_threads, get_threads=get_threads)
    fixed.start()
    assert state["n"] == 1
    fixed.restore()
    assert state["n"] == 4


def test_a_training_run_leaves_torchs_thread_count_as_it_found_it(tmp_path: Path) -> None:
    import torch

    import ladd_core as ladd

    before = torch.get_num_threads()
    other = 2 if before != 2 else 1
    cfg = ladd.config(
        "sawtooth-mdlm",
        {
            "train.max_steps": 2, "train.threads": other, "train.batch_size": 4, "train.eval_every": 0,
            "model.backbone.hidden": 16, "model.backbone.layers": 1, "model.backbone.heads": 2,
            "model.backbone.cond_dim": 8, "data.seq_len": 16, "data.train_size": 32, "data.val_size": 8,
        },
    )  # fmt: skip
    ladd.train(cfg, out=tmp_path / "run")
    assert torch.get_num_threads() == before
