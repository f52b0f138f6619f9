"""The ``bits`` latent passes ladd's latent-channel contract (shapes, bounds, samplers, state dicts ...)."""

from typing import ClassVar

from ladd_core.testing.contracts import LatentContract


class TestBitsLatent(LatentContract):
    name = "bits"
    config: ClassVar = {"bits": 3}


class TestBernoulliBitsLatent(LatentContract):
    name = "bits"
    config: ClassVar = {"bits": 3, "estimator": "bernoulli"}


class TestTiedClockBitsLatent(LatentContract):
    name = "bits"
    config: ClassVar = {"clocks": "tied"}
