"""Issue #31, export leaks: an export copies the tokenizer's own files only and never follows a link out of the run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.faults._cli import cli, error_line, train_char_run

SECRET = "API_KEY=do-not-copy"


@pytest.fixture(scope="module")
def _text_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_char_run(tmp_path_factory.mktemp("links"))


@pytest.fixture
def text_run(_text_run: Path, tmp_path: Path) -> Path:
    import shutil

    run = tmp_path / "run"
    shutil.copytree(_text_run, run, symlinks=True)
    return run


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "secret.env"
    path.write_text(SECRET)
    return path


def _all_text(root: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in root.rglob("*") if p.is_file())


def test_a_link_to_a_secret_file_and_extra_files_are_left_out_and_named(text_run, secret, tmp_path, capsys):
    tok = text_run / "data" / "tokenizer"
    (tok / "credentials").symlink_to(secret)
    (tok / "etc").symlink_to("/etc")
    (tok / "notes.txt").write_text(SECRET)
    dest = tmp_path / "model"
    code, _, err = cli(capsys, "export", text_run, dest)
    assert code == 0, err
    assert sorted(p.name for p in (dest / "data" / "tokenizer").iterdir()) == ["char_tokenizer.json"]
    assert SECRET not in _all_text(dest)
    assert "left out" in err and "credentials" in err and "etc" in err and "notes.txt" in err
    code, _, err = cli(capsys, "sample", dest, "--steps", "2", "--num-samples", "2", "--out", tmp_path / "s.jsonl")
    assert code == 0, err


def test_a_linked_tokenizer_file_is_refused(text_run, secret, tmp_path, capsys):
    tok = text_run / "data" / "tokenizer" / "char_tokenizer.json"
    real = tmp_path / "outside.json"
    real.write_text(tok.read_text())
    tok.unlink()
    tok.symlink_to(real)
    code, _, err = cli(capsys, "export", text_run, tmp_path / "model")
    error_line(code, err, "symbolic link", "char_tokenizer.json")
    assert not (tmp_path / "model").exists() and not list(tmp_path.glob(".model.*"))


def test_a_linked_tokenizer_folder_holding_a_key_is_refused(text_run, secret, tmp_path, capsys):
    outside = tmp_path / "elsewhere"
    tok = text_run / "data" / "tokenizer"
    tok.rename(outside)
    (outside / "id_rsa").write_text(SECRET)
    tok.symlink_to(outside, target_is_directory=True)
    code, _, err = cli(capsys, "export", text_run, tmp_path / "model")
    error_line(code, err, "symbolic link", "tokenizer")
    assert not (tmp_path / "model").exists()


def test_the_export_config_names_no_copied_extras(text_run, tmp_path, capsys):
    dest = tmp_path / "model"
    assert cli(capsys, "export", text_run, dest)[0] == 0
    assert json.loads((dest / "config.json").read_text())["export"]["step"] == 2
    assert sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file()) == [
        "README.md", "config.json", "data/tokenizer/char_tokenizer.json", "model.safetensors",
    ]  # fmt: skip


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"type": "char"}', '{"type": "char", "chars": [1, "ab"]}'])
def test_a_malformed_tokenizer_file_is_one_line_naming_it(text_run, tmp_path, capsys, text):
    tok = text_run / "data" / "tokenizer" / "char_tokenizer.json"
    tok.write_text(text)
    code, _, err = cli(capsys, "sample", text_run, "--steps", "2", "--num-samples", "2", "--out", tmp_path / "s.jsonl")
    error_line(code, err, str(tok))
    assert tok.read_text() == text  # never refit over it
