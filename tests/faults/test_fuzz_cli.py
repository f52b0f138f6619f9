"""CLI fuzz: generated bad configs, config files and arguments through ``main`` never hang or show a traceback.

Every example runs in-process under a deadline.  Bad field values come from the config schema
(:func:`ladd_core.testing.strategies.invalid_field_values`) plus hostile values no schema
lists; bad arguments are drawn per option.  A value that fails validation must give exit
status 2 and exactly one ``error:`` line; arbitrary input may also be accepted (status 0).
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from ladd_core.config.experiment import TrainConfig
from ladd_core.plugins import get_components
from ladd_core.testing.strategies import invalid_field_values
from tests.faults._cli import cli, error_line, train_args

FUZZ = settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],  # bounded time even when it fails: no shrinking (examples are tiny)
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
HOSTILE: list[Any] = [None, "", "x" * 300, [], {}, {"name": "nope"}, [1, [2]], True, 10**30, -(10**30), 1e308,
                      "1e23", "\x00", "é", float("inf"), float("-inf")]  # fmt: skip


def _sections() -> list[tuple[str, type[BaseModel]]]:
    comps = get_components()
    return [
        ("train", TrainConfig),
        ("data", comps.get("data", "sawtooth").Config),
        ("model.backbone", comps.get("backbone", "dit").Config),
        ("sampler", comps.get("sampler", "ancestral").Config),
        ("objective", comps.get("objective", "masked-ce").Config),
    ]


def _yaml_value(v: Any) -> str:
    if isinstance(v, float) and not math.isfinite(v):
        return ".nan" if math.isnan(v) else (".inf" if v > 0 else "-.inf")
    return json.dumps(v)


def _invalid(cls: type[BaseModel], field: str, value: Any) -> bool:
    base = {"name": cls.model_fields["name"].default} if "name" in cls.model_fields else {}
    try:
        cls.model_validate({**base, field: value})
    except ValidationError:
        return True
    return False


SCHEMA_BAD = [(f"{p}.{f}", v) for p, cls in _sections() for f, v in invalid_field_values(cls) if _invalid(cls, f, v)]
FIELDS = [f"{p}.{f}" for p, cls in _sections() for f in cls.model_fields if f != "name"] + ["seed", "train.betas"]


@FUZZ
@given(bad=st.sampled_from(SCHEMA_BAD))
def test_schema_invalid_values_are_one_line_errors(tmp_path_factory, capsys, bad):
    path, value = bad
    run = tmp_path_factory.mktemp("fuzz") / "run"
    code, _, err = cli(capsys, *train_args(run, 1, "--set", f"{path}={_yaml_value(value)}"), timeout=30)
    error_line(code, err, path.split(".")[-1])


@FUZZ
@given(path=st.sampled_from(FIELDS), value=st.sampled_from(HOSTILE) | st.text(max_size=12) | st.floats())
def test_hostile_values_never_trace_back(capsys, path, value):
    code, _, err = cli(capsys, "config", "validate", "sawtooth-mdlm", "--set", f"{path}={_yaml_value(value)}")
    assert code in (0, 2) and "Traceback" not in err
    if code == 2:
        error_line(code, err)


_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
_docs = st.recursive(_scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3))


@FUZZ
@given(doc=st.dictionaries(st.sampled_from(["train", "model", "data", "seed", "preset", "sampler", "x"]), _docs))
def test_generated_config_files(tmp_path_factory, capsys, doc):
    f = tmp_path_factory.mktemp("cfg") / "c.yaml"
    f.write_text(yaml.safe_dump(doc), encoding="utf-8")
    code, _, err = cli(capsys, "config", "validate", f)
    assert code in (0, 2) and "Traceback" not in err
    if code == 2:
        error_line(code, err)


@FUZZ
@given(blob=st.binary(max_size=64))
def test_binary_config_files(tmp_path_factory, capsys, blob):
    f = tmp_path_factory.mktemp("bin") / "c.yaml"
    f.write_bytes(blob)
    code, _, err = cli(capsys, "config", "validate", f)
    assert code in (0, 2) and "Traceback" not in err
    if code == 2:
        error_line(code, err)


_BAD_ARGS = st.one_of(
    st.tuples(st.just("--batch-size"), st.integers(-(2**40), 0).map(str)),
    st.tuples(st.just("--num-samples"), st.integers(-(2**40), 0).map(str)),
    st.tuples(st.just("--seed"), st.sampled_from([str(2**63), str(2**70), "-1", "2**70", "1e23", "x"])),
    st.tuples(st.just("--steps"), st.integers(-5, 0).map(str)),
    st.tuples(st.just("--temperature"), st.sampled_from(["0", "-1", "nan", "inf", "hot"])),
    st.tuples(st.just("--top-p"), st.sampled_from(["0", "1.5", "nan", "-0.1"])),
    st.tuples(st.just("--device"), st.text("abcxyz:!", min_size=1, max_size=8).filter(lambda d: d not in ("cpu",))),
)


@pytest.mark.usefixtures("trained_run")
@FUZZ
@given(arg=_BAD_ARGS)
def test_bad_sample_arguments(trained_run, tmp_path_factory, capsys, arg):
    out = tmp_path_factory.mktemp("s") / "s.jsonl"
    code, _, err = cli(capsys, "sample", trained_run, "--steps", "2", *arg, "--out", out, timeout=30)
    error_line(code, err)
    assert not out.exists()


_BAD_EVAL_ARGS = st.one_of(
    st.tuples(st.just("--steps"), st.sampled_from(["0", "-1", "1,0", "x", ",", "2.5"])),
    st.tuples(st.just("--temperatures"), st.sampled_from(["0", "-1", "nan", "inf", "a,b", "1,-2"])),
    st.tuples(st.just("--latent-steps"), st.integers(-5, 0).map(str)),
    st.tuples(st.just("--seeds"), st.sampled_from(["-1", str(2**64), "1,,x", "0,-3"])),
    st.tuples(st.just("--batch-size"), st.integers(-(2**40), 0).map(str)),
    st.tuples(st.just("--num-samples"), st.integers(-(2**40), 0).map(str)),
    st.tuples(st.just("--metrics"), st.text("abc-", min_size=1, max_size=6).map(lambda m: f"zz{m}")),
)


@FUZZ
@given(arg=_BAD_EVAL_ARGS)
def test_bad_eval_arguments(trained_run, tmp_path_factory, capsys, arg):
    out = tmp_path_factory.mktemp("e") / "r.json"
    code, _, err = cli(capsys, "eval", trained_run, *arg, "--judge", "none", "--out", out, timeout=30)
    error_line(code, err)
    assert not out.exists()


@FUZZ
@given(
    arg=st.one_of(
        st.tuples(st.just("--max-steps"), st.integers(-(2**40), -1).map(str)),
        st.tuples(st.just("--set"), st.sampled_from(["noequals", "=5", "train.lr", "seed.x=1", "train=3"])),
    )
)
def test_bad_train_arguments(tmp_path_factory, capsys, arg):
    run = tmp_path_factory.mktemp("t") / "run"
    code, _, err = cli(capsys, "train", "sawtooth-mdlm", "--out", run, *arg, timeout=30)
    error_line(code, err)
    assert not (run / "checkpoints").exists()
