"""The model step: proposals from the policy and the good density, ranked by l(x) / g(x).

The results split at a reward quantile into a good group (the best gamma of the window) and a bad
one (the rest); trials in flight join the bad group at a small weight (a soft constant liar, so
parallel workers do not duplicate each other), running trials that reported join the group their
report's rung quantile puts them in, and a warm start's good results join the good group. Of the
``count`` proposals, a ``model_fraction`` is drawn from l(x) itself, the rest from the policy; each
is scored by log l(x) - log g(x) (``_model.ParzenModel``, the acquisition of TPE, Bergstra et al.
2011, used on policy samples).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ._book import TrialBook
from ._history import History
from ._model import ParzenModel, Points
from ._policy import Policy
from ._settings import CandidateSettings, ModelSettings
from ._space import SearchSpace

__all__ = ["DensityRatio"]

Scalarize = Callable[[np.ndarray], np.ndarray]


class DensityRatio:
    """The groups of the Parzen density ratio, its proposals and their scores."""

    def __init__(self, space: SearchSpace, model: ModelSettings, candidates: CandidateSettings, window: int):
        self.space = space
        self.settings = model
        self.candidates = candidates
        self.pending_cap = max(1, window // 2)  # pending trials drawn into g(x) at most (their weight kept)
        self.model = ParzenModel(space.n_numeric, space.category_sizes, model.bandwidth, model.category_smoothing)

    def groups(
        self,
        history: History,
        book: TrialBook,
        scalarize: Scalarize,
        rng: np.random.Generator,
        extra_good: Points | None = None,
    ) -> tuple[Points, Points] | None:
        """The good and bad points; None while there are fewer than two results and neither reports
        nor ``extra_good`` (a warm start's results)."""
        rows, rewards = history.arrays()
        running = self._running_points(book) if len(book) else None
        if rows.shape[0] < 2 and extra_good is None and running is None:
            return None
        rewards = scalarize(rewards)
        n_good = max(1, int(math.ceil(self.settings.gamma * rewards.size))) if rewards.size else 0
        order = (-rewards).argsort(kind="stable")
        view = self.space.model_view
        good = [Points.of(view(rows[order[:n_good]]))]
        bad = [Points.of(view(rows[order[n_good:]]))]
        if len(book):
            bad.append(self._pending_points(book, rng))
        if running is not None:
            good.append(running[0])
            bad.append(running[1])
        if extra_good is not None:
            good.append(extra_good)
        return Points.stack(*good), Points.stack(*bad)

    def _pending_points(self, book: TrialBook, rng: np.random.Generator) -> Points:
        """The pending trials, each at ``pending_weight``; beyond ``pending_cap`` of them, a random
        subset of that size carries their whole weight, so the cost of an ask stays bounded however
        many trials run."""
        pending = list(book.pending.values())
        weight = self.settings.pending_weight
        if len(pending) > self.pending_cap:
            weight = weight * len(pending) / self.pending_cap
            pending = [pending[i] for i in rng.choice(len(pending), self.pending_cap, replace=False)]
        return Points.of(self.space.model_view(np.array(pending)), weight)

    def _running_points(self, book: TrialBook) -> tuple[Points, Points] | None:
        """The running trials that reported at a level with enough results: good when their latest
        value's quantile there is in the best gamma, bad otherwise, each at ``partial_weight``."""
        if not book.reports or self.settings.partial_weight == 0.0:
            return None
        rows, good = [], []
        for trial_id in book.reports:
            q = book.quantile(trial_id)
            if q is not None:
                rows.append(book.pending[trial_id])
                good.append(q > 1.0 - self.settings.gamma)
        if not rows:
            return None
        view, is_good, w = self.space.model_view(np.array(rows)), np.array(good), self.settings.partial_weight
        return Points.of(view[is_good], w), Points.of(view[~is_good], w)

    def propose(self, rng: np.random.Generator, policy: Policy, good: Points, n_running: int) -> np.ndarray:
        """x_1..x_M: M (1 - model_fraction) draws of the policy, and M model_fraction draws of l(x)
        (with ``uniform_weight`` of its uniform point once ``n_running`` + 1 trials are in flight);
        the policy alone while no good point has weight."""
        c = self.candidates
        n_model = int(round(c.model_fraction * c.count))
        candidates = policy.sample(rng, c.count - n_model)
        if good.mass:
            uniform = c.uniform_weight if n_running + 1 >= c.uniform_min_running else 0.0
            candidates = np.vstack([candidates, self.model.sample(rng, good, n_model, uniform)])
        return candidates

    def rank(self, candidates: np.ndarray, good: Points, bad: Points, extra: np.ndarray | None = None) -> np.ndarray:
        """The candidates' order by log l(x) - log g(x) (+ ``extra``, e.g. log P(ok | x)), best first."""
        scores = self.model.score(self.space.model_view(candidates), good, bad)
        if extra is not None:
            scores = scores + extra
        return (-scores).argsort(kind="stable")
