"""The contract suite uses the hypothesis profiles of the test kit (``HYPOTHESIS_PROFILE``, default ``ci``)."""

from ladd_core.testing.strategies import load_profile

load_profile()
