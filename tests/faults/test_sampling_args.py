"""Defect 1: ``--batch-size 0`` hung ``ladd sample``/``ladd eval``; negative sizes ended in a traceback."""

from __future__ import annotations

import time

import pytest

from ladd_core.config.errors import ConfigError
from ladd_core.plugins import get_components
from ladd_core.sampling import draw_samples, sampler_config
from ladd_core.training.runs import load_run
from tests.faults._cli import cli, deadline, error_line


@pytest.mark.parametrize(
    ("option", "value"),
    [("--batch-size", "0"), ("--batch-size", "-3"), ("--num-samples", "0"), ("--num-samples", "-1")],
)
def test_sample_rejects_counts_below_one(trained_run, tmp_path, capsys, option, value):
    t0 = time.monotonic()
    code, _, err = cli(capsys, "sample", trained_run, "--steps", "2", option, value, "--out", tmp_path / "s.jsonl")
    error_line(code, err, option)
    assert time.monotonic() - t0 < 10 and not (tmp_path / "s.jsonl").exists()


@pytest.mark.parametrize("option", ["--batch-size", "--num-samples"])
def test_eval_rejects_counts_below_one(trained_run, tmp_path, capsys, option):
    code, _, err = cli(capsys, "eval", trained_run, "--steps", "2", option, "0", "--out", tmp_path / "r.json")
    error_line(code, err, option)


def test_draw_samples_refuses_an_empty_batch(trained_run):
    comps = get_components()
    run = load_run(trained_run, comps)
    scfg = sampler_config(comps, run, steps=2)
    with deadline(20), pytest.raises(ConfigError, match="--batch-size"):
        draw_samples(comps, run, scfg, num_samples=4, seed=0, batch_size=0)
    with pytest.raises(ConfigError, match="--seed"):
        draw_samples(comps, run, scfg, num_samples=4, seed=2**64, batch_size=2)
