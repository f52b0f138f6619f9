"""`ladd export`: a self-contained model directory that samples like its run and fails clearly when broken."""

from __future__ import annotations

import json

import pytest

from ladd_core.cli.main import main

TINY = [
    "model.backbone.hidden=16", "model.backbone.layers=1", "model.backbone.heads=2", "model.backbone.cond_dim=8",
    "data.seq_len=16", "data.train_size=128", "data.val_size=32", "train.batch_size=8", "train.eval_batches=1",
    "train.threads=0", "train.log_every=2",
]  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "mdlm"
    args = ["train", "sawtooth-mdlm", "--out", str(out), "--max-steps", "3"]
    for s in TINY:
        args += ["--set", s]
    assert main(args) == 0
    return out


def _sample(src, out, *extra):
    assert (
        main(["sample", str(src), "--steps", "3", "--num-samples", "4", "--seed", "5", "--out", str(out), *extra]) == 0
    )
    return [json.loads(line)["tokens"] for line in out.read_text().splitlines()]


def test_export_samples_exactly_like_the_run(run, tmp_path, capsys) -> None:
    dest = tmp_path / "model"
    assert main(["export", str(run), str(dest)]) == 0
    assert sorted(p.name for p in dest.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    record = json.loads((dest / "config.json").read_text())
    ex = record["export"]
    assert ex["step"] == 3 and ex["ema"] is True and ex["format"] == 1
    assert ex["components"]["model.latent"]["name"] == "none"
    assert ex["components"]["data"] == {
        "kind": "data", "name": "sawtooth", "plugin": "data", "distribution": "ladd", "version": "0.1.0",
    }  # fmt: skip
    card = (dest / "README.md").read_text()
    assert "## Training budget" in card and "3 of" in card and "| data | data | sawtooth | data | ladd 0.1.0 |" in card
    assert _sample(run, tmp_path / "a.jsonl") == _sample(dest, tmp_path / "b.jsonl")


def test_export_refuses_a_non_empty_target_and_leaves_nothing_half_written(run, tmp_path, capsys) -> None:
    dest = tmp_path / "taken"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    assert main(["export", str(run), str(dest)]) == 2
    assert "not an empty directory" in capsys.readouterr().err
    assert [p.name for p in dest.iterdir()] == ["keep.txt"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".taken")]


def test_altered_weights_are_detected(run, tmp_path, capsys) -> None:
    dest = tmp_path / "model"
    assert main(["export", str(run), str(dest)]) == 0
    blob = bytearray((dest / "model.safetensors").read_bytes())
    blob[-1] ^= 0xFF
    (dest / "model.safetensors").write_bytes(bytes(blob))
    assert main(["sample", str(dest), "--num-samples", "1", "--out", str(tmp_path / "s.jsonl")]) == 2
    assert "checksum mismatch" in capsys.readouterr().err


def test_missing_plugin_is_named_with_its_package(run, tmp_path, capsys) -> None:
    dest = tmp_path / "model"
    assert main(["export", str(run), str(dest)]) == 0
    record = json.loads((dest / "config.json").read_text())
    record["config"]["data"]["name"] = "wavelets"
    record["export"]["components"]["data"] = {
        "kind": "data", "name": "wavelets", "plugin": "waves", "distribution": "ladd-waves", "version": "1.2",
    }  # fmt: skip
    (dest / "config.json").write_text(json.dumps(record))
    assert main(["sample", str(dest), "--num-samples", "1", "--out", str(tmp_path / "s.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "'wavelets' from plug-in 'waves'" in err and "pip install 'ladd-waves==1.2'" in err
