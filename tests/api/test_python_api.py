"""The Python API (`ladd_core.config/train/load/evaluate`, `Run.sample`) and the docs example that uses it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

import ladd_core as ladd
from ladd_core.config.errors import ConfigError

TINY = {
    "model.latent.encoder.hidden": 16, "model.latent.encoder.layers": 1, "model.latent.encoder.dim": 8,
    "model.backbone.hidden": 16, "model.backbone.layers": 1, "model.backbone.heads": 2, "model.backbone.cond_dim": 8,
    "model.latent_denoiser.hidden": 16, "model.latent_denoiser.layers": 1, "model.latent_denoiser.cond_dim": 8,
    "data.seq_len": 16, "data.train_size": 128, "data.val_size": 32, "train.batch_size": 8, "train.max_steps": 4,
    "train.stages": [0, 2], "train.log_every": 2, "train.eval_batches": 1, "train.threads": 0,
}  # fmt: skip


@pytest.fixture(scope="module")
def trained(tmp_path_factory, components):
    cfg = ladd.config("sawtooth-coladd", TINY, components=components)
    return ladd.train(cfg, out=tmp_path_factory.mktemp("api") / "co", components=components)


def test_config_validates_and_names_the_field(components) -> None:
    cfg = ladd.config("sawtooth-coladd", {"train.max_steps": 7}, components=components)
    assert cfg.train.max_steps == 7 and cfg.model.latent.name == "gaussian"
    assert ladd.config(cfg, ["train.lr=0.01"], components=components).train.lr == 0.01  # a config is a source too
    with pytest.raises(ConfigError, match=r"train\.max_steps"):
        ladd.config("sawtooth-coladd", {"train.max_steps": -1}, components=components)
    with pytest.raises(ConfigError, match="sawtooth-mdlm"):  # unknown preset: the known ones are listed
        ladd.config("sawtooth-mdml", components=components)
    with pytest.raises(TypeError, match="mapping"):
        ladd.config("sawtooth-coladd", "train.max_steps=3", components=components)  # type: ignore[arg-type]


def test_train_load_sample_round_trip(trained, components) -> None:
    assert trained.step == 4 and "val_nelbo_bpt" in trained.result
    again = ladd.load(trained.run_dir, components=components)
    a = trained.sample(num_samples=5, steps=2, seed=3)
    b = again.sample(num_samples=5, steps=2, seed=3)
    assert torch.equal(a.tokens, b.tokens) and a.texts == b.texts  # same weights, same seed, same samples
    assert a.tokens.shape == (5, 16) and len(a) == 5 and set(a.tokens.unique().tolist()) <= {0, 1}
    assert a.texts == trained.data.decode(a.tokens) and a.nfe >= 1
    c = trained.sample(num_samples=5, steps=2, seed=4)
    assert not torch.equal(a.tokens, c.tokens)
    p = trained.sample(num_samples=4, steps=1, prompt="0110", seed=1)
    assert p.tokens[:, :4].tolist() == [[0, 1, 1, 0]] * 4 and all(t.startswith("0110") for t in p.texts)
    f = trained.sample(num_samples=4, steps=1, infill="1" * 6 + "<mask:4>" + "0" * 6, seed=1)
    assert f.tokens[:, :6].eq(1).all() and f.tokens[:, 10:].eq(0).all()
    with pytest.raises(ValueError, match="40 tokens long; the model generates 16"):
        trained.sample(prompt="01" * 20)
    with pytest.raises(ConfigError, match="steps"):
        trained.sample(steps=0)
    with pytest.raises(ValueError, match="either prompt or infill"):
        trained.sample(prompt="01", infill="0<mask>")


def test_evaluate_returns_rows(trained, components) -> None:
    res = ladd.evaluate([trained], steps=[1, 2], metrics=["true-nll"], num_samples=8, components=components)
    rows = [r for r in res.rows if r.kind == "samples"]
    assert sorted(r.steps for r in rows) == [1, 2]
    assert all(r.metrics["true-nll"].value > 0 for r in rows)
    with pytest.raises(Exception, match="true-nll"):  # unknown metric names list the known ones
        ladd.evaluate([trained], metrics=["true-nl"], components=components)


def test_docs_api_example_runs(tmp_path, monkeypatch) -> None:
    """The example in docs/api.md runs as written (shrunk by its own TINY override block)."""
    text = (Path(__file__).parents[2] / "docs" / "api.md").read_text(encoding="utf-8")
    code = re.search(r"```python\n(.*?)```", text, re.S)
    assert code is not None, "docs/api.md has no python example"
    source = code.group(1)
    assert '{"train.max_steps": 2000}' in source
    source = source.replace('{"train.max_steps": 2000}', repr(TINY))
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "docs_example"}
    exec(compile(source, "docs/api.md", "exec"), namespace)
    assert namespace["out"].tokens.shape[0] == 8 and namespace["scores"].rows
