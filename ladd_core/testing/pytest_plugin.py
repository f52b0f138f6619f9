"""pytest plug-in of the ladd test kit (opt-in, never auto-loaded).

Enable it in the ``conftest.py`` at the root of your tests::

    pytest_plugins = ["ladd_core.testing.pytest_plugin"]

It registers the hypothesis profiles ``ci`` (default), ``dev`` and ``thorough`` and
loads the one named by ``HYPOTHESIS_PROFILE``, and provides the fixtures below.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

import pytest
import torch

from ladd_core.plugins import Components, load_plugins

__all__ = ["ladd_components", "ladd_generator", "ladd_pm", "pytest_configure", "tiny_batch", "tiny_vocab"]


def pytest_configure(config: pytest.Config) -> None:
    """Register and load the hypothesis profiles (when hypothesis is installed)."""
    if importlib.util.find_spec("hypothesis") is not None:
        from ladd_core.testing.strategies import load_profile

        load_profile()


@pytest.fixture(scope="session")
def ladd_components() -> Components:
    """The installed plug-ins (entry points of group ``ladd``), loaded once per session."""
    return load_plugins()


@pytest.fixture
def ladd_pm() -> Callable[..., Components]:
    """Factory of fresh registries: ``ladd_pm(("mine", my_module), entry_points=True)``.

    Each ``(name, module_or_object)`` is registered directly, as an installed plug-in
    would be; ``entry_points=False`` leaves out everything installed (built-ins included).
    """

    def make(*plugins: tuple[str, object], entry_points: bool = True) -> Components:
        return load_plugins(extra_plugins=list(plugins), use_entry_points=entry_points)

    return make


@pytest.fixture
def tiny_vocab() -> int:
    """A data vocabulary small enough to enumerate sequences over (3 ids; the mask id is 3)."""
    return 3


@pytest.fixture
def ladd_generator() -> torch.Generator:
    """A CPU generator seeded with 0."""
    return torch.Generator().manual_seed(0)


@pytest.fixture
def tiny_batch(tiny_vocab: int) -> Any:
    """A :class:`~ladd_core.components.data.Batch` of 4 x 6 tokens with some right padding."""
    from ladd_core.testing._model_contracts import toy_batch

    return toy_batch(tiny_vocab, 4, 6)
