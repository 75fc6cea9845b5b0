"""Several objectives: the Pareto front of an experiment, and the hypervolume that measures it.

PGSearcher takes ``metric=[...]`` and ``mode=[...]``; each update and each suggestion scalarizes the
window's results with freshly drawn Chebyshev weights (see ``PGOptimizer._scalarize``), so the search
spreads over the whole front instead of one trade-off.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._util import is_finite_number

__all__ = ["hypervolume_2d", "pareto_front", "pareto_mask"]


def _as_min(values: np.ndarray, modes: Sequence[str]) -> np.ndarray:
    """The values with every "max" objective negated, so that lower is better everywhere."""
    return values * np.where(np.asarray(modes) == "max", -1.0, 1.0)


def pareto_mask(values: np.ndarray, modes: Sequence[str]) -> np.ndarray:
    """True for the rows no other row dominates (at least as good in every objective, better in one)."""
    v = _as_min(np.asarray(values, dtype=float), modes)
    no_worse = np.all(v[:, None, :] <= v[None, :, :], axis=2)  # [i, j]: i is no worse than j anywhere
    better = np.any(v[:, None, :] < v[None, :, :], axis=2)
    return ~np.any(no_worse & better, axis=0)


def hypervolume_2d(values: np.ndarray, modes: Sequence[str], reference: Sequence[float]) -> float:
    """Area dominated by the points and bounded by ``reference`` (in the metrics' own units), for two
    objectives: the sum of the rectangles of the front's points sorted by the first objective."""
    v = _as_min(np.asarray(values, dtype=float), modes)
    ref = _as_min(np.asarray(reference, dtype=float)[None, :], modes)[0]
    front = v[pareto_mask(v, ["min", "min"]) & np.all(v < ref, axis=1)]
    front = front[np.argsort(front[:, 0])]
    if front.size == 0:
        return 0.0
    widths = np.diff(np.r_[front[:, 0], ref[0]])
    return float(np.sum(widths * (ref[1] - front[:, 1])))


def pareto_front(results: Any, metric: Sequence[str], mode: Sequence[str]) -> list[dict]:
    """The non-dominated trials of an experiment (a ``tune.ResultGrid`` or an experiment directory),
    each as ``{"config": ..., <metric>: value, ...}``, sorted by the first metric. Trials without a
    finite value of every metric are left out."""
    if isinstance(results, str):
        from ray import tune

        results = tune.ExperimentAnalysis(results)
        rows = [(t.config, t.last_result) for t in results.trials]
    else:
        rows = [(r.config, r.metrics) for r in results]
    points = [
        (config, [last.get(m) for m in metric])
        for config, last in rows
        if last and all(is_finite_number(last.get(m)) for m in metric)
    ]
    if not points:
        return []
    mask = pareto_mask(np.array([v for _, v in points]), mode)
    front = [
        {"config": c, **dict(zip(metric, v, strict=True))} for (c, v), keep in zip(points, mask, strict=True) if keep
    ]
    return sorted(front, key=lambda row: row[metric[0]])
