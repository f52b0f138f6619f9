"""Progress output: throttled plain lines (no carriage returns) off a terminal, a bar on one, silence when quiet."""

from __future__ import annotations

import io

from ladd_core.progress import Progress, format_seconds


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_plain_lines_are_throttled_and_end_with_a_final_line() -> None:
    out, clock = io.StringIO(), _Clock()
    with Progress(10, "sampling run", unit="samples", stream=out, interactive=False, interval=30, clock=clock) as p:
        for _ in range(10):
            clock.now += 10  # 10 s per unit: a line every third unit
            p.update()
    text = out.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert lines[0] == "sampling run: 3/10 samples (30%) 30.0s, eta 1m10s"
    assert lines[-1] == "sampling run: 10/10 samples (100%) 1m40s"
    assert len(lines) == 4  # 3, 6, 9 and the final line


def test_eta_uses_the_average_rate() -> None:
    clock = _Clock()
    p = Progress(8, "x", stream=io.StringIO(), interactive=False, clock=clock)
    assert p.eta() is None
    clock.now += 6
    p.update(2)
    assert p.eta() == 18.0


def test_a_stopped_bar_says_so_and_quiet_prints_nothing(monkeypatch) -> None:
    out = io.StringIO()
    try:
        with Progress(5, "eval", stream=out, interactive=False, interval=1e9) as p:
            p.update(2)
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert out.getvalue().rstrip().endswith("(stopped)") and "2/5" in out.getvalue()
    monkeypatch.setenv("LADD_QUIET", "1")
    quiet_out = io.StringIO()
    with Progress(5, "eval", stream=quiet_out, interactive=False, interval=0) as p:
        p.update(5)
    assert quiet_out.getvalue() == ""


def test_terminal_gets_a_tqdm_bar() -> None:
    out = io.StringIO()
    with Progress(4, "train", stream=out, interactive=True) as p:
        p.update(4)
    assert "train" in out.getvalue() and "4/4" in out.getvalue()


def test_format_seconds() -> None:
    assert [format_seconds(s) for s in (5.25, 75, 3725)] == ["5.2s", "1m15s", "1h02m"]


def test_cli_quiet_drops_step_lines_and_sampling_prints_one_final_line(tmp_path, capsys, monkeypatch) -> None:
    from ladd_core.cli.main import main

    monkeypatch.delenv("LADD_QUIET", raising=False)
    run = tmp_path / "run"
    tiny = ["model.backbone.hidden=16", "model.backbone.layers=1", "model.backbone.heads=2",
            "model.backbone.cond_dim=8", "data.seq_len=16", "data.train_size=64", "data.val_size=16",
            "train.batch_size=8", "train.log_every=1", "train.eval_batches=1", "train.threads=0"]  # fmt: skip
    args = ["--quiet", "train", "sawtooth-mdlm", "--out", str(run), "--max-steps", "2"]
    assert main(args + [a for s in tiny for a in ("--set", s)]) == 0
    cap = capsys.readouterr()
    assert "step 1/2" not in cap.err and '"step": 2' in cap.out  # the result line is not progress
    monkeypatch.delenv("LADD_QUIET", raising=False)  # main() set it for this process
    out = tmp_path / "s.jsonl"
    assert main(["sample", str(run), "--num-samples", "4", "--batch-size", "2", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "sampling run (ancestral, N=" in err and "4/4 samples (100%)" in err and "\r" not in err
    res = tmp_path / "r.json"
    assert (
        main(["eval", str(run), "--steps", "1,2", "--metrics", "entropy", "--num-samples", "4", "--out", str(res)]) == 0
    )
    err = capsys.readouterr().err
    assert "eval: 2/2 cells (100%)" in err and "\r" not in err
