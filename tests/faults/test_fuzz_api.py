"""API fuzz (issue #31): wrong types, booleans, huge values, empty and string-for-list arguments into the
Python API raise only the project's own errors, never hang and never allocate beyond the memory bound.

Each example replaces one argument of a call that is otherwise valid and tiny, so an accepted value
really runs (it must then finish under the deadline).
"""

from __future__ import annotations

import contextlib
import resource
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import ladd_core as ladd
from ladd_core.conditioning import ConditionError
from ladd_core.config.errors import ConfigError
from ladd_core.outputs import OutputError
from ladd_core.registry import ComponentError
from ladd_core.training.checkpoint import CheckpointError
from tests.faults._cli import TINY, deadline

FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# the project's errors, and the OS's own about a path the caller named (no such file, name too long)
PROJECT_ERRORS = (ConfigError, ConditionError, OutputError, CheckpointError, ComponentError, OSError)
HOSTILE: list[Any] = [None, "", " ", "x" * 300, [], {}, (), True, False, 0, -1, 10**30, -(10**30), 2**63, 1e308,
                      float("nan"), float("inf"), 2.5, "5", b"5", Path(""), object(), ["a"], [True], [10**12],
                      [None], {"a": 1}, "<mask:99999999999999999>", "0,1"]  # fmt: skip
VALUES = st.one_of(
    st.sampled_from(HOSTILE),
    st.integers(min_value=2**40),
    st.integers(max_value=0),
    st.text(max_size=8),
    st.lists(st.integers(min_value=-3, max_value=2**40), max_size=3),
)
GIB = 2**30


def _tiny() -> list[str]:
    return [a for a in TINY if a != "--set"] + ["train.max_steps=2"]


def _peak() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _call(fn: Any, *args: Any, **kwargs: Any) -> None:
    """Call under a deadline; an error must be one of the project's, with a message naming something."""
    before = _peak()
    try:
        with deadline(60):
            fn(*args, **kwargs)
    except PROJECT_ERRORS as exc:
        assert str(exc).strip()
    assert _peak() - before < GIB, "allocated beyond the bound"


@pytest.fixture(scope="module")
def run(_base_run: Path) -> ladd.Run:
    return ladd.load(_base_run)


SAMPLE_ARGS = ["num_samples", "steps", "sampler", "latent_steps", "temperature", "top_p", "prompt", "infill", "seed",
               "batch_size", "options"]  # fmt: skip


@FUZZ
@given(name=st.sampled_from(SAMPLE_ARGS), value=VALUES)
def test_sample(run, name, value):
    kwargs: dict[str, Any] = {"num_samples": 2, "steps": 2, name: value}
    num = kwargs.pop("num_samples")
    _call(run.sample, num, **kwargs)


EVAL_ARGS = ["runs", "steps", "samplers", "metrics", "temperatures", "latent_steps", "num_samples", "seeds",
             "batch_size", "device", "metric_options"]  # fmt: skip


@FUZZ
@given(name=st.sampled_from(EVAL_ARGS), value=VALUES)
def test_evaluate(_base_run, name, value):
    kwargs: dict[str, Any] = {"runs": [_base_run], "steps": [1], "num_samples": 2, "metrics": ["true-nll"]}
    kwargs[name] = value
    _call(ladd.evaluate, kwargs.pop("runs"), **kwargs)


@FUZZ
@given(name=st.sampled_from(["source", "overrides", "components"]), value=VALUES)
def test_config(name, value):
    kwargs: dict[str, Any] = {"source": "sawtooth-mdlm", "overrides": _tiny(), name: value}
    _call(ladd.config, kwargs.pop("source"), kwargs.pop("overrides"), **kwargs)


@FUZZ
@given(name=st.sampled_from(["path", "device", "use_ema", "components"]), value=VALUES)
def test_load(_base_run, name, value):
    kwargs: dict[str, Any] = {"path": _base_run, name: value}
    _call(ladd.load, kwargs.pop("path"), **kwargs)


@FUZZ
@given(name=st.sampled_from(["cfg", "out", "max_steps"]), value=VALUES)
def test_train(tmp_path_factory, name, value):
    where = tmp_path_factory.mktemp("fuzz")
    kwargs: dict[str, Any] = {"cfg": ladd.config("sawtooth-mdlm", _tiny()), "out": where / "run", "max_steps": 2}
    kwargs[name] = value
    with contextlib.chdir(where):  # a relative ``out`` lands here, never in the working tree
        _call(ladd.train, kwargs.pop("cfg"), **kwargs)


@pytest.mark.parametrize("value", [{"data.seq_len": 10**9}, {"model.backbone.hidden": 40000}])
def test_huge_config_values_train_nothing(tmp_path, value):
    cfg = ladd.config("sawtooth-mdlm", {**{k: v for k, v in (o.split("=") for o in _tiny())}, **value})
    with pytest.raises(ConfigError, match="GiB"):
        _call_raising(ladd.train, cfg, out=tmp_path / "r", max_steps=2)
    assert not (tmp_path / "r").exists()


def _call_raising(fn: Any, *args: Any, **kwargs: Any) -> None:
    before = _peak()
    try:
        with deadline(60):
            fn(*args, **kwargs)
    finally:
        assert _peak() - before < GIB
