"""Issue #31, bounds before allocation: huge steps, holes and sizes are one-line errors, with nothing half-made."""

from __future__ import annotations

import resource
from pathlib import Path

import pytest

import ladd_core as ladd
from ladd_core.conditioning import ConditionError
from ladd_core.config.errors import ConfigError
from tests.faults._cli import TINY, cli, error_line, train_args

GIB = 2**30


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


@pytest.fixture(scope="module")
def latent_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-step tiny Co-LADD run (it has latent steps)."""
    from ladd_core.cli.main import main

    run = tmp_path_factory.mktemp("bounds") / "coladd"
    extra = ["--set", "model.latent_denoiser.layers=1", "--set", "train.stages=[0,1]"]
    args = ["train", "sawtooth-coladd", "--out", str(run), "--max-steps", "2", *TINY, *extra]
    assert main(args) == 0
    return run


def test_huge_latent_steps_are_refused_before_any_allocation(latent_run, tmp_path, capsys):
    peak = _peak_rss()
    code, _, err = cli(
        capsys, "sample", latent_run, "--sampler", "sequential", "--steps", "1", "--latent-steps", "1000000000",
        "--num-samples", "2", "--out", tmp_path / "s.jsonl", timeout=60,
    )  # fmt: skip
    error_line(code, err, "--latent-steps", "GiB")
    assert _peak_rss() - peak < GIB
    assert not (tmp_path / "s.jsonl").exists()


@pytest.mark.parametrize("steps", ["1000000000", "1000000000000"])
def test_huge_token_steps_are_refused(trained_run, tmp_path, capsys, steps):
    peak = _peak_rss()
    code, _, err = cli(capsys, "sample", trained_run, "--steps", steps, "--out", tmp_path / "s.jsonl", timeout=60)
    error_line(code, err, "--steps", "GiB")
    code, _, err = cli(capsys, "eval", trained_run, "--steps", f"1,{steps}", "--out", tmp_path / "r.json")
    error_line(code, err, "--steps")
    assert _peak_rss() - peak < GIB


def test_a_huge_mask_marker_is_refused_before_its_list_is_built(trained_run, tmp_path, capsys):
    peak = _peak_rss()
    code, _, err = cli(
        capsys, "sample", trained_run, "--infill", "01<mask:999999999999999>", "--out", tmp_path / "s.jsonl",
        timeout=20,
    )  # fmt: skip
    error_line(code, err, "generates 32")
    assert _peak_rss() - peak < GIB
    with pytest.raises(ConditionError, match="more tokens than any model"):
        ladd.load(trained_run).sample(2, infill="<mask:" + "9" * 5000 + ">")


@pytest.mark.parametrize(
    ("override", "field"),
    [("model.backbone.hidden=40000", "model.backbone.hidden"), ("data.seq_len=1000000000", "data.seq_len")],
)
def test_sizes_beyond_the_machine_are_refused_and_leave_no_run_directory(tmp_path, capsys, override, field):
    out = tmp_path / "big"
    peak = _peak_rss()
    code, _, err = cli(capsys, *train_args(out, 2, "--set", override), timeout=120)
    error_line(code, err, field, "GiB")
    assert not out.exists()
    cfg = ladd.config("sawtooth-mdlm", [a for a in TINY if a != "--set"] + [override])
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        ladd.train(cfg, out=tmp_path / "api", max_steps=2)
    assert not (tmp_path / "api").exists()
    assert _peak_rss() - peak < 2 * GIB


def test_a_failed_start_removes_the_directory_it_made(tmp_path, monkeypatch, capsys):
    import ladd_core.training.factory as factory

    def broken(*args, **kwargs):
        raise OSError("simulated failure while building the data")

    monkeypatch.setattr(factory, "build_data", broken)
    code, _, err = cli(capsys, *train_args(tmp_path / "fresh", 2))
    error_line(code, err, "simulated failure")
    assert not (tmp_path / "fresh").exists()


def test_a_failed_resume_never_removes_the_run(trained_run, monkeypatch, capsys):
    import ladd_core.training.factory as factory

    def broken(*args, **kwargs):
        raise OSError("simulated failure while building the data")

    before = sorted(p.name for p in trained_run.rglob("*"))
    monkeypatch.setattr(factory, "build_data", broken)
    code, _, err = cli(capsys, *train_args(trained_run, 6))
    error_line(code, err, "simulated failure")
    assert sorted(p.name for p in trained_run.rglob("*")) == before
