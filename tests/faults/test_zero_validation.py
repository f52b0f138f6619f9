"""Defect 3: validation over zero tokens reported ``val_nelbo_bpt: 0.0``, a perfect score from no data."""

from __future__ import annotations

import json

from tests.faults._cli import cli, train_args


def test_no_validation_tokens_means_no_number(tmp_path, capsys):
    run = tmp_path / "run"
    code, out, err = cli(capsys, *train_args(run, 2, "--set", "data.val_size=0"))
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary.get("val_nelbo_bpt") is None, summary
    assert "no tokens" in err and "notice" in err
    final = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()][-1]
    assert final.get("final") and final.get("val_nelbo_bpt") is None


def test_validation_with_data_still_reports_a_number(trained_run, capsys):
    code, out, err = cli(capsys, "train", "sawtooth-mdlm", "--out", trained_run, "--max-steps", "5")
    assert code == 0, err
    assert json.loads(out.strip().splitlines()[-1])["val_nelbo_bpt"] > 0
