"""The test kit's own strategies: derived configs are valid for every registered component, the
``Config.strategy()`` hook wins, invalid values are rejected, shape strategies have their shapes."""

from __future__ import annotations

from typing import Literal

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import Field

from ladd_core.components.schedules import ScheduleConfig
from ladd_core.kinds import KINDS
from ladd_core.plugins import get_components
from ladd_core.testing import strategies as S
from ladd_core.testing.toys import config_model, tiny_config

COMPS = get_components()
COMPONENTS = [(k, n) for k, kind in KINDS.items() if kind.is_component for n in COMPS.registry(k).list()]


@pytest.mark.parametrize(("kind", "name"), COMPONENTS, ids=[f"{k}:{n}" for k, n in COMPONENTS])
@settings(max_examples=3)
@given(data=st.data())
def test_derived_configs_are_valid_for_every_registered_component(kind, name, data):
    cls = COMPS.get(kind, name)
    refs = {k: v for k, v in tiny_config(COMPS, kind, name).items() if isinstance(v, dict)}
    if "files" in cls.Config.model_fields and cls.Config.model_fields["files"].is_required():
        refs["files"] = ["corpus.txt"]  # a required field without a strategy must be given
    cfg = data.draw(S.configs(cls.Config, fixed=refs, model=config_model(COMPS, kind, name)))
    assert isinstance(cfg, cls.Config) and cfg.name == name


class _Hooked(ScheduleConfig):
    name: Literal["hooked"] = "hooked"
    power: float = Field(2.0, gt=0)

    @classmethod
    def strategy(cls):
        return st.builds(cls, power=st.sampled_from([7.0, 9.0]))


@given(S.configs(_Hooked))
def test_a_config_strategy_classmethod_overrides_the_derivation(cfg):
    assert cfg.power in (7.0, 9.0)


@given(S.config_dicts(_Hooked, draw=lambda f: f == "power"))
def test_config_dicts_draw_within_the_field_constraints(d):
    assert d["name"] == "hooked" and d["power"] > 0 and "eps" not in d


class _Needs(ScheduleConfig):
    name: Literal["needs"] = "needs"
    path: str


def test_a_required_field_without_a_strategy_is_reported():
    with pytest.raises(ValueError, match="path is required"):
        S.configs(_Needs)


@given(S.configs(_Needs, fixed={"path": "x"}))
def test_a_required_field_can_be_fixed(cfg):
    assert cfg.path == "x"


def test_invalid_values_cover_both_bounds_and_nan():
    bad = dict.fromkeys(f for f, _ in S.invalid_field_values(ScheduleConfig))
    values = [v for f, v in S.invalid_field_values(ScheduleConfig) if f == "eps"]
    assert "eps" in bad and any(v != v for v in values) and any(v < 0 for v in values if v == v)


@given(S.tokens_BL(3, 2, 5), S.times_B(4))
def test_shape_strategies(tokens, t):
    assert tokens.shape == (2, 5) and tokens.dtype == torch.long and ((tokens >= 0) & (tokens < 3)).all()
    assert t.shape == (4,) and t.dtype == torch.float64 and ((t >= 1e-4) & (t <= 1)).all()


def test_profiles_are_registered_with_no_deadline():
    S.register_profiles()
    for name in ("ci", "dev", "thorough"):
        profile = settings.get_profile(name)
        assert profile.deadline is None
    assert settings.get_profile("ci").max_examples < settings.get_profile("thorough").max_examples
