"""Issue #31, silently wrong results: each is now a correct result or a clear error."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import ladd_core as ladd
from ladd_core.conditioning import ConditionError, from_infill
from ladd_core.config.errors import ConfigError
from ladd_core.evaluation.robustness import SCORES, run_tag
from ladd_core.evaluation.schema import ResultSet
from ladd_core.plugins import get_components
from ladd_core.training.checkpoint import CheckpointError
from tests.faults._cli import cli, error_line, train_char_run


@pytest.fixture(scope="module")
def gpt2():
    """The GPT-2 BPE tokenizer: every string encodes, so a malformed marker would become literal text."""
    cls = get_components().get("tokenizer", "gpt2")
    return cls(cls.Config())


@pytest.mark.parametrize("template", ["ab <mask:-1> cd", "ab <mask:3 cd", "ab <MASK> cd", "ab <mask: 2> cd"])
def test_malformed_mask_markers_are_errors_not_text(gpt2, template):
    with pytest.raises(ConditionError, match="malformed mask marker"):
        from_infill(gpt2, template, 32)
    assert from_infill(gpt2, "ab <mask:2> cd", 32).visible.sum() >= 2  # the well-formed marker still works


def test_malformed_marker_from_the_cli(trained_run, tmp_path, capsys):
    code, _, err = cli(capsys, "sample", trained_run, "--infill", "01<Mask>10", "--out", tmp_path / "s.jsonl")
    error_line(code, err, "malformed mask marker")


def test_a_seed_given_twice_is_refused(trained_run, tmp_path, capsys):
    code, _, err = cli(capsys, "eval", trained_run, "--seeds", "0,0", "--steps", "1", "--out", tmp_path / "r.json")
    error_line(code, err, "--seeds", "more than once")
    with pytest.raises(ConfigError, match="more than once"):
        ladd.evaluate([trained_run], steps=[1], seeds=[1, 1], num_samples=2)


def test_sample_options_never_override_the_named_arguments(trained_run):
    run = ladd.load(trained_run)
    with pytest.raises(ConfigError, match="given twice"):
        run.sample(2, steps=2, options={"steps": 7})
    with pytest.raises(ConfigError, match="sampler"):
        run.sample(2, options={"name": "maskgit"})
    assert run.sample(2, steps=2, options={"cache": False}).nfe <= 2


def test_booleans_are_not_integers(trained_run, tmp_path):
    with pytest.raises(ConfigError, match="max_steps"):
        ladd.train(ladd.config("sawtooth-mdlm"), out=tmp_path / "r", max_steps=True)
    with pytest.raises(ConfigError, match="steps"):
        ladd.load(trained_run).sample(2, steps=True)
    assert not (tmp_path / "r").exists()


def test_a_string_is_not_a_list_of_runs_and_an_empty_list_is_an_error(trained_run):
    with pytest.raises(TypeError, match="runs"):  # an ArgumentError: a ConfigError that is also a TypeError
        ladd.evaluate(str(trained_run))
    with pytest.raises(ConfigError, match="runs: empty list"):
        ladd.evaluate([])
    with pytest.raises(ConfigError, match="steps"):
        ladd.evaluate([trained_run], steps="14")


def test_bench_seeds_report_with_a_missing_seed_is_an_error(tmp_path, capsys):
    out = tmp_path / "seeds"
    run0 = out / run_tag("sawtooth-mdlm", None, 0)
    run0.mkdir(parents=True)
    ResultSet().save(run0 / SCORES, owns=frozenset({SCORES}))
    code, _, err = cli(capsys, "bench-seeds", "sawtooth-mdlm", "--seeds", "0,7", "--report-only", "--out", out)
    error_line(code, err, "no scored run", "s7")
    code, _, err = cli(capsys, "bench-seeds", "sawtooth-mdlm", "--seeds", "0", "--report-only", "--out", out)
    assert code == 0, err


def test_an_export_of_an_unknown_format_is_refused(_base_run, tmp_path, capsys):
    dest = tmp_path / "model"
    assert cli(capsys, "export", _base_run, dest)[0] == 0
    record = json.loads((dest / "config.json").read_text())
    record["export"]["format"] = 99
    (dest / "config.json").write_text(json.dumps(record))
    with pytest.raises(CheckpointError, match="format"):
        ladd.load(dest)
    code, _, err = cli(capsys, "sample", dest, "--out", tmp_path / "s.jsonl")
    error_line(code, err, "format", str(dest / "config.json"))


@pytest.fixture(scope="module")
def char_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-step character-level text run over the letters a-j."""
    return train_char_run(tmp_path_factory.mktemp("zeroshot"))


def test_zero_shot_of_a_file_the_tokenizer_cannot_read_is_a_notice(char_run, tmp_path, capsys):
    unknown = tmp_path / "greek.txt"
    unknown.write_text("αβγδεζηθ" * 40, encoding="utf-8")
    out = tmp_path / "r.json"
    code, _, err = cli(
        capsys, "eval", char_run, "--metrics", "zero-shot-nelbo", "--zero-shot", unknown, "--num-samples", "1",
        "--steps", "1", "--out", out,
    )  # fmt: skip
    assert code == 0, err
    res = json.loads(out.read_text())
    assert not any("zero-shot-nelbo" in row["metrics"] for row in res["rows"])
    assert any("<unk>" in n and str(unknown) in n for n in res["notices"])


def test_zero_shot_of_a_non_utf8_file_is_an_error(char_run, tmp_path, capsys):
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("abc caf\xe9 def ".encode("latin-1") * 40)
    code, _, err = cli(
        capsys, "eval", char_run, "--metrics", "zero-shot-nelbo", "--zero-shot", latin, "--out", tmp_path / "r.json"
    )
    error_line(code, err, "UTF-8", str(latin))


def test_an_edited_export_config_is_a_one_line_error(_base_run, tmp_path, capsys):
    dest = tmp_path / "model"
    assert cli(capsys, "export", _base_run, dest)[0] == 0
    good = (dest / "config.json").read_text()
    for key, value in (("step", "many"), ("stage", -1), ("components", [1, 2]), ("sha256", None)):
        record = json.loads(good)
        record["export"][key] = value
        (dest / "config.json").write_text(json.dumps(record))
        code, _, err = cli(capsys, "sample", dest, "--out", tmp_path / "s.jsonl")
        error_line(code, err, f"export.{key}")
    shutil.rmtree(dest)
