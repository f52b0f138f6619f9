"""Fixtures of the fault tests (helpers live in ``_cli.py``)."""

from __future__ import annotations

from tests.faults._cli import _base_run, trained_run

__all__ = ["_base_run", "trained_run"]
