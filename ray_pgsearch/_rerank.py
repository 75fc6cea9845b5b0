"""The reranker: a small Gaussian process reorders the density ratio's best proposals.

The density ratio ranks proposals by where good results are dense; inside the good region it
cannot tell two proposals apart by more than its bandwidth. A Gaussian process (``_gp``) on the
window's best and latest results can: the ``size`` best proposals are reordered by their expected
improvement. Of the running trials, the ``running`` asked last enter the process, each with its
latest report mapped rung-aware to the finished trials' scale, or else as a kriging believer (its
predicted value, as if observed), so the cost of an ask stays bounded however many trials run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ._book import TrialBook
from ._gp import GaussianProcess, expected_improvement, normal_scores
from ._history import History
from ._settings import RerankSettings
from ._space import SearchSpace

__all__ = ["GPReranker"]


class GPReranker:
    """The Gaussian process over the window and the cadence at which it picks its hyperparameters."""

    def __init__(self, space: SearchSpace, settings: RerankSettings):
        self.space = space
        self.settings = settings
        self.gp = GaussianProcess(space.n_numeric, settings.length_scales, settings.noises)
        self.fitted_at: int | None = None  # history.count when the length scale and noise were last picked

    def rerank(
        self,
        candidates: np.ndarray,
        order: np.ndarray,
        history: History,
        book: TrialBook,
        scalarize: Callable[[np.ndarray], np.ndarray],
        feasible: np.ndarray | None = None,
    ) -> np.ndarray:
        """``order`` with its ``size`` first entries reordered by expected improvement, times
        ``feasible`` (each candidate's P(ok | x)) when given; unchanged while more than
        ``max_running`` trials run or with fewer than ``min_results`` results."""
        s = self.settings
        rows, rewards = history.arrays()
        if s.size < 2 or len(book) > s.max_running:
            return order
        running = book.latest(s.running)
        reported = {t: r for t in running if (r := book.comparable(t)) is not None}
        if rows.shape[0] + len(reported) < s.min_results:
            return order
        believers = [book.pending[t] for t in running if t not in reported]
        view = self.space.model_view
        x = view(np.vstack([rows, *[book.pending[t][None, :] for t in reported]]))
        y = normal_scores(np.concatenate([scalarize(rewards), list(reported.values())]))
        keep = np.zeros(y.size, bool)
        keep[(-y[: rows.shape[0]]).argsort(kind="stable")[: s.best]] = True
        keep[history.latest(s.recent)] = True
        keep[rows.shape[0] :] = True  # the running trials' reports
        x, y = x[keep], y[keep]
        if self.fitted_at is None or history.count - self.fitted_at >= s.refit_every:
            self.gp.select(x, y)
            self.fitted_at = history.count
        top = order[: s.size]
        posterior = self.gp.predict(x, y, view(candidates[top]), view(np.array(believers)) if believers else None)
        if posterior is None:
            return order
        ei = expected_improvement(*posterior)
        if feasible is not None:
            ei = ei * feasible[top]
        return np.concatenate([top[(-ei).argsort(kind="stable")], order[s.size :]])

    def reset(self) -> None:
        """Picks the hyperparameters again at the next rerank."""
        self.fitted_at = None

    def state(self) -> dict[str, Any]:
        return {"fitted_at": self.fitted_at, "length_scale": self.gp.length_scale, "noise": self.gp.noise}

    def load(self, state: dict[str, Any]) -> None:
        self.fitted_at = state["fitted_at"]
        self.gp.length_scale, self.gp.noise = float(state["length_scale"]), float(state["noise"])
