"""Test configuration of the plug-in: ladd's test kit (hypothesis profiles, fixtures)."""

import torch

pytest_plugins = ["ladd_core.testing.pytest_plugin"]

torch.set_num_threads(1)  # the tests use tiny models: threads only add overhead
