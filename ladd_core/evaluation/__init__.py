"""The evaluation engine behind ``ladd eval``.

* :mod:`~ladd_core.evaluation.schema` -- :class:`ResultRow` / :class:`ResultSet`, the JSON results schema;
* :mod:`~ladd_core.evaluation.engine` -- running samplers over a step grid and matching metrics to runs;
* :mod:`~ladd_core.evaluation.context` -- reference data for metrics and :class:`MetricNotApplicable`;
* :mod:`~ladd_core.evaluation.aggregate` -- merging seeds, and where latent models do not win;
* :mod:`~ladd_core.evaluation.table`, :mod:`~ladd_core.evaluation.plots` -- text table and figures;
* :mod:`~ladd_core.evaluation.judge` -- the causal-LM judge of generative perplexity.
"""

from __future__ import annotations

from ladd_core.evaluation.context import MetricNotApplicable
from ladd_core.evaluation.schema import ResultRow, ResultSet

__all__ = ["MetricNotApplicable", "ResultRow", "ResultSet"]
