from __future__ import annotations

import json

import pytest

from ladd_core.cli.main import main
from ladd_core.config.errors import ConfigError
from ladd_core.config.experiment import validate_config
from ladd_core.config.loading import apply_overrides, deep_merge, load_config_source
from ladd_core.plugins import load_plugins


def _problems(components, data):
    with pytest.raises(ConfigError) as exc:
        validate_config(data, components)
    return dict(exc.value.problems)


def test_presets_validate(components):
    for name in ("sawtooth-mdlm", "shakespeare-mdlm"):
        cfg = validate_config(load_config_source(name, components), components)
        assert cfg.model.latent.name == "none"
        assert cfg.model.token_process.schedule.name == "linear"


def test_field_paths_for_typo_type_and_unknown_name(components):
    probs = _problems(
        components,
        {
            "model": {"latent": {"name": "nonne"}, "backbone": {"name": "dit", "hiden": 3}},
            "train": {"lr": "fast"},
            "objective": {"name": "nelbo", "time_sampling": "sobol"},
        },
    )
    assert "Did you mean 'none'?" in probs["model.latent.name"]
    assert "unknown field" in probs["model.backbone.hiden"]
    assert "number" in probs["train.lr"]
    assert "objective.time_sampling" in probs
    assert len(probs) == 4, "all problems are reported at once"


def test_nested_component_path(components):
    probs = _problems(components, {"model": {"token_process": {"name": "masked", "schedule": {"name": "liner"}}}})
    assert "Did you mean 'linear'?" in probs["model.token_process.schedule.name"]
    assert "Known schedule names:" in probs["model.token_process.schedule.name"]


def test_missing_name_and_non_mapping(components):
    probs = _problems(components, {"sampler": {"steps": 4}, "data": 3})
    assert "missing 'name'" in probs["sampler.name"]
    assert "data" in probs


def test_overrides_and_merge():
    data = {"model": {"latent": {"name": "gaussian", "dim": 4}}, "train": {"lr": 1.0}}
    out = apply_overrides(data, ["train.lr=0.5", "train.stages=[0, 10]", "model.latent.name=none", "name=x"])
    assert out["train"] == {"lr": 0.5, "stages": [0, 10]}
    assert out["model"]["latent"] == {"name": "none"}, "changing a component name starts its section afresh"
    assert out["name"] == "x"
    merged = deep_merge({"a": {"name": "p", "x": 1}, "b": 1}, {"a": {"y": 2}})
    assert merged == {"a": {"name": "p", "x": 1, "y": 2}, "b": 1}
    assert deep_merge({"a": {"name": "p", "x": 1}}, {"a": {"name": "q"}}) == {"a": {"name": "q"}}
    with pytest.raises(ConfigError):
        apply_overrides({}, ["novalue"])


def test_yaml_file_with_preset_base(tmp_path, components):
    f = tmp_path / "exp.yaml"
    f.write_text("preset: sawtooth-mdlm\ntrain:\n  max_steps: 7\nmodel:\n  backbone:\n    hidden: 32\n")
    cfg = validate_config(load_config_source(str(f), components), components)
    assert cfg.train.max_steps == 7 and cfg.model.backbone.hidden == 32 and cfg.model.backbone.layers == 4


def test_cli_prints_errors_without_traceback(tmp_path, capsys):
    f = tmp_path / "bad.yaml"
    f.write_text("preset: sawtooth-mdlm\nmodel:\n  latent:\n    name: gausian\ntrain:\n  batchsize: 3\n")
    rc = main(["config", "validate", str(f)])
    err = capsys.readouterr().err
    assert rc == 2
    assert "Traceback" not in err
    assert "model.latent.name" in err and "train.batchsize" in err
    assert main(["config", "validate", "no-such-preset"]) == 2
    assert "Known preset names" in capsys.readouterr().err
    assert main(["train", "sawtooth-mdlm", "--out", str(tmp_path / "r"), "--set", "train.lr=-1"]) == 2
    assert "train.lr" in capsys.readouterr().err


def test_cli_list_show_schema(capsys):
    assert main(["list", "schedule"]) == 0
    out = capsys.readouterr().out
    assert "linear" in out and "cosine" in out
    assert main(["show", "backbone", "dit", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["owner"] == "dit" and "hidden" in info["config_schema"]["properties"]
    assert main(["config", "schema"]) == 0
    assert "ExperimentConfig" in capsys.readouterr().out
    assert main(["plugins", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    names = {p["name"]: p for p in report["plugins"]}
    assert names["schedules"]["components"]["schedule"] == ["linear", "loglinear", "cosine", "sqrt", "polynomial"]
    assert names["schedules"]["version"]


def test_latent_denoiser_must_be_latent_only(components):
    data = load_config_source("sawtooth-coladd", components)
    data["model"]["latent_denoiser"] = {"name": "mmdit"}
    probs = _problems(components, data)
    assert "latent-dit" in probs["model.latent_denoiser.name"]


def test_component_defaults_come_from_plugins(components):
    """The core names no component: ``{}`` is an MDLM on the sawtooth because the presets plug-in says so."""
    defaults = components.registry("default")
    assert dict(defaults.items()) == {
        "data": "sawtooth",
        "model.backbone": "dit",
        "model.latent": "none",
        "model.token_process": "masked",
        "objective": "masked-ce",
        "sampler": "ancestral",
    }
    assert {defaults.entry(n).owner for n in defaults.list()} == {"presets"}
    cfg = validate_config({}, components)
    assert (cfg.model.token_process.name, cfg.model.latent.name, cfg.model.backbone.name) == ("masked", "none", "dit")
    assert (cfg.objective.name, cfg.data.name, cfg.sampler.name) == ("masked-ce", "sawtooth", "ancestral")


def test_without_a_default_the_field_is_required(monkeypatch):
    monkeypatch.setenv("LADD_DISABLE_PLUGINS", "presets")
    comps = load_plugins()
    assert len(comps.registry("default")) == 0
    with pytest.raises(ConfigError) as exc:
        validate_config({}, comps)
    assert "data" in str(exc.value) and "sampler" in str(exc.value)
    full = {
        "model": {"token_process": {"name": "masked"}, "latent": {"name": "none"}, "backbone": {"name": "dit"}},
        "objective": {"name": "masked-ce"},
        "data": {"name": "mixture"},
        "sampler": {"name": "ancestral"},
    }
    assert validate_config(full, comps).data.name == "mixture"


def test_default_for_an_unknown_field_isolates_its_plugin():
    from ladd_core import hookimpl

    class Typo:
        @staticmethod
        @hookimpl
        def ladd_register_config_defaults(register):
            register("model.backbon", "dit")

    comps = load_plugins([("typo", Typo)], use_entry_points=False)
    (failure,) = comps.failures
    assert failure.plugin == "typo" and "model.backbon" in failure.error and "model.backbone" in failure.error


def test_cli_list_summarises_data_kinds(capsys):
    assert main(["list", "default"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.split() == ["data", "sawtooth"] for line in lines)
    assert main(["list", "preset", "sawtooth-mdlm"]) == 0
    assert "MDLM on the binary sawtooth" in capsys.readouterr().out
