"""Property suite: hypothesis profiles from the test kit (``HYPOTHESIS_PROFILE``: ci (default), dev, thorough)."""

from __future__ import annotations

import pytest
import torch

from ladd_core.testing.strategies import load_profile

load_profile()


@pytest.fixture(autouse=True)
def _deterministic_torch():
    """Properties draw all randomness from seeded generators; the global RNG is fixed for nn init."""
    torch.manual_seed(0)
