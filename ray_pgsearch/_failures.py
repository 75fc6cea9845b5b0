"""The failure model: where trials crash, learned from the configs that failed.

A trial that raised (out of memory, a diverging loss that the trainable turns into an exception) or
reported a NaN or infinite metric is a failure. Its latent row joins a bounded buffer; the model
compares it with the rows of the finished trials (the window) by the same product kernels as the
density ratio, with one uniform pseudo-point on each side:

    P(ok | x) = (sum_s k(x, s) + u(x)) / (sum_s k(x, s) + sum_f w_f k(x, f) + 2 u(x)),

w_f = 2^(-results told since f failed / halflife). The proposals' scores take strength * log P(ok | x)
on top of log l(x) - log g(x), and the Gaussian process's expected improvement is multiplied by
P(ok | x)^strength (constrained expected improvement, sharpened: a trial that crashes costs its slot,
so a candidate that probably fails must promise much more to be asked). A failure is evidence with a
weight, not a wall: a region that also produced finished trials keeps them in the numerator, and
every failure's weight halves every ``halflife`` results, so one crash the config did not cause (a
lost node) fades.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._history import History
from ._model import ParzenModel, Points
from ._settings import FailureSettings
from ._space import SearchSpace

__all__ = ["FailureModel"]


class FailureModel:
    """The rows of the trials that failed (the last ``capacity``), with when they failed."""

    def __init__(self, space: SearchSpace, settings: FailureSettings, capacity: int, model: ParzenModel):
        self.space = space
        self.settings = settings
        self.model = model
        self.failed = History(capacity, space.dim, 1)  # rows, and the count of results told at the failure
        self.predicted: float | None = None  # P(fail) of the config asked last, as the model saw it

    @property
    def active(self) -> bool:
        """Whether the model weighs in: it is on and some trial failed."""
        return self.settings.strength > 0.0 and len(self.failed) > 0

    def add(self, row: np.ndarray, n_told: int) -> None:
        """A trial with this config failed after ``n_told`` results."""
        self.failed.add(row, np.array([float(n_told)]))

    def score(self, candidates: np.ndarray, history: History, n_told: int) -> np.ndarray | None:
        """strength * log P(ok | x) for each candidate row; None while the model is silent."""
        if not self.active or candidates.shape[0] < 2:
            return None
        return self.settings.strength * self.log_ok(self.space.model_view(candidates), history, n_told)

    def log_ok(self, candidates: np.ndarray, history: History, n_told: int) -> np.ndarray:
        """log P(ok | x) for each candidate row (as the model sees rows)."""
        rows, told_at = self.failed.arrays()
        weights = 0.5 ** ((n_told - told_at[:, 0]) / self.settings.halflife)
        view = self.space.model_view
        failures = Points(view(rows), weights)
        successes = Points.of(view(history.arrays()[0]))
        log_f = self.model.log_density(candidates, failures) + np.log(failures.mass + 1.0)
        log_s = self.model.log_density(candidates, successes) + np.log(successes.mass + 1.0)
        return log_s - np.logaddexp(log_f, log_s)

    def note_asked(self, row: np.ndarray, history: History, n_told: int) -> None:
        """Remembers the model's P(fail) for the config asked last (while it weighs in)."""
        if self.active:
            log_ok = self.log_ok(self.space.model_view(row[None, :]), history, n_told)
            self.predicted = float(1.0 - np.exp(log_ok[0]))

    def state(self) -> dict[str, Any]:
        return {"failed": self.failed.state(), "predicted": self.predicted}

    def load(self, state: dict[str, Any]) -> None:
        self.failed.load(state["failed"])
        self.predicted = state.get("predicted")
