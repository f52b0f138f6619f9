"""The ladd test kit: contract tests, hypothesis strategies and exact references for plug-in authors.

* :mod:`ladd_core.testing.contracts` -- ``ScheduleContract``, ``TokenProcessContract``,
  ``ObjectiveContract``, ``BackboneContract``, ``EncoderContract``, ``LatentContract``,
  ``SamplerContract``: subclass one, set ``name``, and pytest runs it on your component;
* :mod:`ladd_core.testing.strategies` -- hypothesis strategies for configs and tensors, and the
  ``ci`` / ``dev`` / ``thorough`` profiles (imports hypothesis: import it explicitly);
* :mod:`ladd_core.testing.pytest_plugin` -- fixtures (``ladd_components``, ``ladd_pm``,
  ``tiny_vocab`` ...), enabled with ``pytest_plugins = ["ladd_core.testing.pytest_plugin"]``;
* :mod:`ladd_core.testing.exact` -- exact ``p_N(x)`` and NELBOs of masked diffusion on tiny spaces;
* :mod:`ladd_core.testing.toys` -- tiny configs, model builders and table oracles;
* :mod:`ladd_core.testing.plumbing` -- the oracle encoder and the latent-plumbing check (``LatentContract`` runs it).

Importing this package imports nothing else (no hypothesis, no pytest, no plug-ins).
See docs/testing.md.
"""

from __future__ import annotations

__all__: list[str] = []
