"""Defect 9: hostile inputs that ended in tracebacks are one-line errors with exit status 2."""

from __future__ import annotations

import os

import pytest

from tests.faults._cli import TINY, cli, error_line, train_args
from tests.faults.test_text_run import TEXT


@pytest.mark.parametrize(
    ("sets", "needle"),
    [
        (["train.betas=[1.5,2]"], "train.betas.0"),
        (["train.betas=[0.9,1.0]"], "train.betas.1"),
        (["seed=1e23"], "seed"),
        (["seed=-1"], "seed"),
        (["train.lr=1e300"], "train.lr"),
        (["train.lr=.nan"], "train.lr"),
        (["train.weight_decay=.inf"], "train.weight_decay"),
        (["train.device=banana"], "train.device"),
        (["train.stages=[5]"], "train.stages"),
        (["train.batch_size=0"], "train.batch_size"),
    ],
)
def test_values_that_pass_types_but_cannot_work(tmp_path, capsys, sets, needle):
    extra = [x for s in sets for x in ("--set", s)]
    code, _, err = cli(capsys, *train_args(tmp_path / "run", 1, *extra))
    error_line(code, err, needle)
    assert not (tmp_path / "run").exists(), "nothing written for an invalid config"


def test_config_files(tmp_path, capsys):
    loop = tmp_path / "loop.yaml"
    loop.write_text("preset: loop.yaml\n")
    error_line(*cli(capsys, "config", "validate", loop)[::2], "includes itself")
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text("preset: b.yaml\n")
    b.write_text("preset: a.yaml\n")
    error_line(*cli(capsys, "config", "validate", a)[::2], "includes itself")
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"name: caf\xe9\n")
    error_line(*cli(capsys, "train", latin, "--out", tmp_path / "r")[::2], "not UTF-8", "latin.yaml")
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    error_line(*cli(capsys, "config", "show", bad)[::2], "cannot parse", "bad.json")
    error_line(*cli(capsys, "config", "show", tmp_path)[::2], "not a file")


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"", "no text"),
        (b"\x00\xff\xfe\x89PNG\r\n\x1a\n" * 50, "UTF-8"),
        ("caf\xe9 cr\xe8me br\xfbl\xe9e\n".encode("latin-1") * 200, "UTF-8"),
        (b"hi\n", "training examples"),
    ],
    ids=["empty", "binary", "latin-1", "too-small"],
)
def test_bad_text_files(tmp_path, capsys, content, needle):
    corpus = tmp_path / "corpus.txt"
    corpus.write_bytes(content)
    data = ["--set", "data.name=text", "--set", f"data.files=[{corpus}]", "--set", "data.seq_len=16"]
    code, _, err = cli(capsys, "train", "shakespeare-mdlm", "--out", tmp_path / "run", "--max-steps", "1", *TEXT, *data)
    error_line(code, err, needle)


def test_sample_and_eval_arguments(trained_run, tmp_path, capsys):
    out = ["--out", tmp_path / "s.jsonl"]
    error_line(*cli(capsys, "sample", trained_run, "--device", "banana", *out)[::2], "--device", "banana")
    error_line(*cli(capsys, "eval", trained_run, "--device", "banana", "--out", tmp_path / "r.json")[::2], "--device")
    error_line(*cli(capsys, "sample", trained_run, "--seed", str(2**70), *out)[::2], "--seed")
    error_line(*cli(capsys, "sample", trained_run, "--seed", "2**70", *out)[::2], "--seed")
    error_line(*cli(capsys, "sample", trained_run, "--seed", "-1", *out)[::2], "--seed")
    error_line(*cli(capsys, "eval", trained_run, "--seeds", "0,-4", "--out", tmp_path / "r.json")[::2], "--seed")
    error_line(*cli(capsys, "sample", trained_run, "--out", tmp_path)[::2], "is a directory")
    error_line(*cli(capsys, "eval", trained_run, "--out", tmp_path)[::2], "is a directory")
    error_line(*cli(capsys, "sample", tmp_path / "nope", *out)[::2], "nope")


def test_output_locations(trained_run, tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    error_line(*cli(capsys, *train_args(afile, 1))[::2], "not a directory")
    other = tmp_path / "notes"
    other.mkdir()
    (other / "thesis.tex").write_text("x")
    error_line(*cli(capsys, *train_args(other, 1))[::2], "not a ladd run")
    error_line(*cli(capsys, *train_args(tmp_path / "sub" / "run", 1, "--set", "x.y=1"))[::2], "x")
    error_line(*cli(capsys, *train_args("/proc/ladd-cannot-write/run", 1))[::2], "/proc/ladd-cannot-write")
    code, _, err = cli(capsys, "sample", trained_run, "--steps", "2", "--out", "/proc/ladd-cannot-write.jsonl")
    error_line(code, err, "ladd-cannot-write")


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_output_directory(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        error_line(*cli(capsys, *train_args(ro / "run", 1))[::2], "Permission denied")
    finally:
        ro.chmod(0o755)


def test_debug_env_shows_the_traceback(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LADD_DEBUG", "1")
    with pytest.raises(ValueError):
        cli(capsys, *train_args(tmp_path / "run", 1, "--set", "train.betas=[1.5,2]"))


def test_tiny_args_are_valid(tmp_path, capsys):
    assert TINY and cli(capsys, "config", "validate", "sawtooth-mdlm", *TINY)[0] == 0
