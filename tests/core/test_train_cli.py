"""End to end through the CLI on a tiny sawtooth: train -> checkpoint -> resume -> sample."""

from __future__ import annotations

import json

import pytest
import torch

from ladd_core.cli.main import main
from ladd_core.training.checkpoint import latest_checkpoint, load_checkpoint
from tests._cli_runs import tiny_args

TINY = tiny_args(log_every=2, checkpoint_every=3)


def test_train_resume_sample(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "sawtooth-mdlm", "--out", str(run), "--max-steps", "4", *TINY]) == 0
    assert latest_checkpoint(run / "checkpoints").name == "step-00000004"
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["config"]["model"]["backbone"]["hidden"] == 16 and "plugins" in cfg
    assert main(["train", "sawtooth-mdlm", "--out", str(run), "--max-steps", "7", *TINY]) == 0
    assert "resumed from step-00000004" in capsys.readouterr().err
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(steps) and steps[-1] == 7
    out = tmp_path / "s.jsonl"
    assert main(["sample", str(run), "--steps", "4", "--num-samples", "5", "--seed", "3", "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 5
    assert all(len(r["tokens"]) == 32 and set(r["tokens"]) <= {0, 1} for r in rows)
    assert all(r["text"] == "".join(map(str, r["tokens"])) for r in rows)
    assert all(1 <= r["nfe"] <= 5 for r in rows)
    out2 = tmp_path / "s2.jsonl"
    assert main(["sample", str(run), "--steps", "4", "--num-samples", "5", "--seed", "3", "--out", str(out2)]) == 0
    assert out.read_text() == out2.read_text(), "sampling is reproducible under a seed"


def test_resume_is_exact(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["train", "sawtooth-mdlm", "--out", str(a), "--max-steps", "6", *TINY]) == 0
    assert main(["train", "sawtooth-mdlm", "--out", str(b), "--max-steps", "3", *TINY]) == 0
    assert main(["train", "sawtooth-mdlm", "--out", str(b), "--max-steps", "6", *TINY]) == 0
    wa = load_checkpoint(latest_checkpoint(a / "checkpoints"))["model"]
    wb = load_checkpoint(latest_checkpoint(b / "checkpoints"))["model"]
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


def test_nan_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch, capsys):
    from ladd_core.model import LaddModel

    run = tmp_path / "run"
    assert main(["train", "sawtooth-mdlm", "--out", str(run), "--max-steps", "3", *TINY]) == 0
    real = LaddModel.loss
    calls = {"n": 0}

    def poisoned(self, batch, generator=None):
        out = real(self, batch, generator)
        calls["n"] += 1
        if calls["n"] >= 2:
            out.loss = out.loss * float("nan")
        return out

    monkeypatch.setattr(LaddModel, "loss", poisoned)
    assert main(["train", "sawtooth-mdlm", "--out", str(run), "--max-steps", "9", *TINY]) == 3
    err = capsys.readouterr().err
    assert "loss is nan" in err and "Traceback" not in err
    path = latest_checkpoint(run / "checkpoints")
    assert path.name == "step-00000003"
    state = load_checkpoint(path)
    assert all(torch.isfinite(v).all() for v in state["model"].values())


def test_different_config_in_same_dir_refused(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "sawtooth-mdlm", "--out", str(run), "--max-steps", "1", *TINY]) == 0
    assert main(["train", "sawtooth-mdlm", "--out", str(run), "--max-steps", "2", *TINY, "--set", "seed=5"]) == 2
    assert "different config" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["--steps=0", "--temperature=0"])
def test_sample_rejects_bad_options(tmp_path, capsys, bad):
    run = tmp_path / "run"
    assert main(["train", "sawtooth-mdlm", "--out", str(run), "--max-steps", "1", *TINY]) == 0
    assert main(["sample", str(run), bad, "--out", str(tmp_path / "x.jsonl")]) == 2
    assert "sampler." in capsys.readouterr().err


def test_joint_bound_reported_for_vq(tmp_path, capsys):
    run = tmp_path / "di"
    args = ["train", "sawtooth-diladd", "--out", str(run), "--max-steps", "3", *TINY, "--set", "train.stages=[0,2]"]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["val_joint_nelbo_bpt"] >= summary["val_nelbo_bpt"], "L_x + L_y >= L_x (the code term is >= 0)"
    assert 0 < summary["wall_s"] < 600  # the command's own wall time, in the summary line
