"""Defect 5: a text run must carry its tokenizer (with a vocabulary checksum); never refit it silently."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.faults._cli import cli, error_line

TEXT = [
    "--set", "model.backbone.hidden=16", "--set", "model.backbone.layers=1", "--set", "model.backbone.heads=2",
    "--set", "model.backbone.cond_dim=8", "--set", "train.batch_size=4", "--set", "train.log_every=1",
    "--set", "train.eval_batches=1", "--set", "train.threads=0", "--set", "train.warmup_steps=1",
    "--set", "train.eval_every=0",
]  # fmt: skip


def _corpus(path, alphabet: str) -> None:
    lines = [" ".join(alphabet[(i * 7 + j) % len(alphabet)] * (1 + j % 3) for j in range(12)) for i in range(120)]
    path.write_text("\n\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def text_run(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    _corpus(corpus, "abcdefghij")
    run = tmp_path / "run"
    data = ["--set", "data.name=text", "--set", f"data.files=[{corpus}]", "--set", "data.seq_len=16"]
    code, _, err = cli(capsys, "train", "shakespeare-mdlm", "--out", run, "--max-steps", "2", *TEXT, *data)
    assert code == 0, err
    return run, corpus


def test_text_run_records_a_vocabulary_checksum(text_run):
    run, _ = text_run
    tok = json.loads((run / "config.json").read_text())["tokenizer"]
    assert tok["fitted"] and tok["vocab_size"] > 10 and len(tok["vocab_sha256"]) == 64


def test_sampling_does_not_need_the_corpus(text_run, tmp_path, capsys):
    run, corpus = text_run
    corpus.unlink()
    code, _, err = cli(capsys, "sample", run, "--steps", "2", "--num-samples", "2", "--out", tmp_path / "s.jsonl")
    assert code == 0, err
    assert len((tmp_path / "s.jsonl").read_text().splitlines()) == 2


def test_missing_tokenizer_is_an_error_not_a_refit(text_run, tmp_path, capsys):
    run, corpus = text_run
    shutil.rmtree(run / "data" / "tokenizer")
    _corpus(corpus, "klmnopqrst")  # a refit would learn a different vocabulary
    code, _, err = cli(capsys, "sample", run, "--steps", "2", "--out", tmp_path / "s.jsonl")
    error_line(code, err, "tokenizer", "never refit")
    assert not (run / "data" / "tokenizer").exists()
    code, _, err = cli(capsys, "train", "shakespeare-mdlm", "--out", run, "--max-steps", "3")
    error_line(code, err, "tokenizer")


def test_changed_tokenizer_is_a_mismatch_error(text_run, tmp_path, capsys):
    run, _ = text_run
    (tok_file,) = (run / "data" / "tokenizer").iterdir()
    payload = json.loads(tok_file.read_text(encoding="utf-8"))
    payload["chars"] = list(reversed(payload["chars"]))
    tok_file.write_text(json.dumps(payload), encoding="utf-8")
    code, _, err = cli(capsys, "sample", run, "--steps", "2", "--out", tmp_path / "s.jsonl")
    error_line(code, err, "does not match", "checksum")
