"""The learning-rate factor: linear warm-up, then constant or a cosine to ``min_lr_ratio`` at ``max_steps``."""

from __future__ import annotations

import itertools

import pytest

from ladd_core.config.experiment import TrainConfig
from ladd_core.training.optim import lr_factor


def test_constant_after_warmup_is_the_old_schedule():
    cfg = TrainConfig(warmup_steps=10, max_steps=100)
    assert [lr_factor(s, cfg) for s in range(12)] == [min(1.0, (s + 1) / 10) for s in range(12)]
    assert lr_factor(10**6, cfg) == 1.0


def test_cosine_runs_from_one_to_the_floor_at_max_steps():
    cfg = TrainConfig(warmup_steps=10, max_steps=110, lr_decay="cosine", min_lr_ratio=0.2)
    assert lr_factor(4, cfg) == pytest.approx(0.5)
    assert lr_factor(9, cfg) == pytest.approx(1.0)
    assert lr_factor(59, cfg) == pytest.approx(0.6)  # half-way: (1 + 0.2) / 2
    assert lr_factor(109, cfg) == pytest.approx(0.2) and lr_factor(500, cfg) == pytest.approx(0.2)
    values = [lr_factor(s, cfg) for s in range(9, 120)]
    assert all(a >= b for a, b in itertools.pairwise(values)), "non-increasing after the warm-up"
