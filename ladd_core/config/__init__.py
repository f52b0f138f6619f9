"""Configs: pydantic schemas, loading (presets, files, ``--set`` overrides), validation and errors.

``ladd_core.config(...)`` (the Python API's validated-config call) is this package made callable by
the root package; see :mod:`ladd_core`.
"""
