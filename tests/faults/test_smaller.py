"""Defect 10: the smaller holes (plug-in imports, file modes, preset paths, run files, silent options)."""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import stat

import pytest

import ladd_core.plugins as plugins_mod
from ladd_core.plugins import load_plugins
from tests.faults._cli import cli, error_line, train_args


@pytest.mark.parametrize("body", ["import sys\nsys.exit(3)\n", "raise KeyboardInterrupt\n", "raise SystemExit\n"])
def test_plugin_exiting_at_import_is_isolated(tmp_path, monkeypatch, body):
    (tmp_path / "ladd_hostile_plugin.py").write_text(body)
    monkeypatch.syspath_prepend(str(tmp_path))
    good = md.EntryPoint(name="schedules", value="ladd_schedules", group="ladd")
    bad = md.EntryPoint(name="hostile", value="ladd_hostile_plugin", group="ladd")
    monkeypatch.setattr(plugins_mod, "_iter_entry_points", lambda: [bad, good])
    comps = load_plugins()
    failure = {f.plugin: f for f in comps.failures}["hostile"]
    assert failure.stage == "import" and ("SystemExit" in failure.error or "KeyboardInterrupt" in failure.error)
    assert "linear" in comps.registry("schedule"), "the other plug-ins still load"


def test_unknown_plugin_selection_is_reported(monkeypatch, capsys):
    monkeypatch.setenv("LADD_LOAD_PLUGINS", "bogus")
    comps = load_plugins()
    assert "bogus" in capsys.readouterr().err
    assert any(f.plugin == "bogus" and f.stage == "LADD_LOAD_PLUGINS" for f in comps.failures)


def test_files_and_directories_follow_the_umask(tmp_path, capsys):
    old = os.umask(0o022)
    try:
        assert cli(capsys, *train_args(tmp_path / "run", 2))[0] == 0
    finally:
        os.umask(old)
    run = tmp_path / "run"
    ck = run / "checkpoints" / "step-00000002"
    for path, mode in [(run / "config.json", 0o644), (ck, 0o755), (ck / "model.safetensors", 0o644),
                       (ck / "state.json", 0o644), (run / "checkpoints" / "latest", 0o644)]:  # fmt: skip
        assert stat.S_IMODE(path.stat().st_mode) == mode, path


def test_preset_path_resolves_against_the_config_file(tmp_path, monkeypatch, capsys):
    sub = tmp_path / "configs"
    sub.mkdir()
    (sub / "base.yaml").write_text("preset: sawtooth-mdlm\nseed: 7\n")
    (sub / "child.yaml").write_text("preset: base.yaml\ndescription: child\n")
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(capsys, "config", "show", "configs/child.yaml", "--json")
    assert code == 0, err
    cfg = json.loads(out)
    assert cfg["seed"] == 7 and cfg["description"] == "child"


@pytest.mark.parametrize("name", ["config.json", "metrics.jsonl", "checkpoints/latest", ".lock"])
def test_sample_never_overwrites_the_runs_own_files(trained_run, capsys, name):
    target = trained_run / name
    before = target.read_bytes()
    code, _, err = cli(capsys, "sample", trained_run, "--steps", "2", "--out", target)
    error_line(code, err, "would overwrite the run's own")
    assert target.read_bytes() == before


def test_samples_may_still_go_inside_the_run(trained_run, capsys):
    assert (
        cli(capsys, "sample", trained_run, "--steps", "2", "--num-samples", "2", "--out", trained_run / "s.jsonl")[0]
        == 0
    )


def test_negative_max_steps_and_stages_on_mdlm_are_refused(tmp_path, capsys):
    error_line(*cli(capsys, "train", "sawtooth-mdlm", "--out", tmp_path / "a", "--max-steps", "-5")[::2], "--max-steps")
    code, _, err = cli(capsys, *train_args(tmp_path / "b", 2, "--set", "train.stages=[0,1]"))
    error_line(code, err, "train.stages", "one stage")


def test_eval_checks_every_run_directory_before_sampling(trained_run, tmp_path, capsys, monkeypatch):
    import ladd_core.evaluation.engine as engine

    def no_sampling(*a, **k):
        raise AssertionError("sampled before checking every run directory")

    monkeypatch.setattr(engine, "draw_samples", no_sampling)
    code, _, err = cli(capsys, "eval", trained_run, tmp_path / "missing", "--steps", "2", "--out", tmp_path / "r.json")
    error_line(code, err, "missing")
