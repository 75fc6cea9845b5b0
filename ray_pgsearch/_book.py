"""The trial book: the trials in flight, their configs' rows and their latest reports.

Each pending trial holds its latent row until it is told or forgotten; a counter of the rows'
bytes tells in O(1) whether a config is already running. Intermediate reports go to the rung
calibrator (``_rungs``), which maps a value at training iteration r onto the scale of the longest
trials: Q_T(F_r(value)).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Hashable
from typing import Any

import numpy as np

from ._rungs import RungCalibrator
from ._settings import RungSettings

__all__ = ["TrialBook"]


class TrialBook:
    """Pending trials (in the order they were asked), their rows and their latest reports."""

    def __init__(self, settings: RungSettings, capacity: int):
        self.pending: dict[Hashable, np.ndarray] = {}
        self.reports: dict[Hashable, tuple[int, float]] = {}  # trial -> (level, reward) of its latest report
        self.rungs = RungCalibrator(capacity, settings.min_count)
        self._in_flight: Counter[bytes] = Counter()  # the pending rows' bytes

    def __len__(self) -> int:
        return len(self.pending)

    def hold(self, trial_id: Hashable, row: np.ndarray) -> None:
        """A trial asked now; an id asked again holds only its new row."""
        self.release(trial_id)
        self.pending[trial_id] = row
        self._in_flight[row.tobytes()] += 1

    def release(self, trial_id: Hashable) -> tuple[np.ndarray | None, tuple[int, float] | None]:
        """Removes a trial from the pending ones; returns its row and its latest report (None for
        what it does not have)."""
        row = self.pending.pop(trial_id, None)
        if row is not None:
            key = row.tobytes()
            self._in_flight[key] -= 1
            if not self._in_flight[key]:
                del self._in_flight[key]
        return row, self.reports.pop(trial_id, None)

    def running(self, row: np.ndarray) -> bool:
        """Whether a pending trial runs this very config."""
        return row.tobytes() in self._in_flight

    def latest(self, k: int) -> list[Hashable]:
        """The ``k`` pending trials asked last, in the order they were asked."""
        return list(itertools.islice(reversed(self.pending), k))[::-1]

    def report(self, trial_id: Hashable, level: int, reward: float) -> bool:
        """A pending trial's intermediate reward at ``level``; False for an unknown trial."""
        if trial_id not in self.pending:
            return False
        self.rungs.observe(level, reward)
        self.reports[trial_id] = (level, reward)
        return True

    def calibrate(self, level: int, reward: float, last: tuple[int, float] | None) -> float:
        """The value a trial stopped at ``level`` counts with, Q_T(F_r(reward)); ``last`` is its
        latest report (its reward is not recorded twice)."""
        if last != (level, reward):
            self.rungs.observe(level, reward)
        return self.rungs.calibrate(level, reward)

    def quantile(self, trial_id: Hashable) -> float | None:
        """F_r of a trial's latest report among the values reported at its level."""
        return self.rungs.quantile(*self.reports[trial_id])

    def comparable(self, trial_id: Hashable) -> float | None:
        """A running trial's latest report on the finished trials' scale, or None."""
        if trial_id not in self.reports:
            return None
        return self.rungs.comparable(*self.reports[trial_id])

    def state(self, dim: int) -> dict[str, Any]:
        rows = np.array(list(self.pending.values())) if self.pending else np.zeros((0, dim))
        return {
            "pending_ids": list(self.pending),
            "pending_rows": rows,
            "reports": [[trial_id, level, reward] for trial_id, (level, reward) in self.reports.items()],
            "rungs": [[level, list(values)] for level, values in self.rungs.values.items()],
        }

    def load(self, state: dict[str, Any]) -> None:
        self.pending, self.reports, self._in_flight = {}, {}, Counter()
        for trial_id, row in zip(state["pending_ids"], state["pending_rows"], strict=True):
            self.hold(trial_id, np.array(row))
        self.reports = {trial_id: (int(level), float(reward)) for trial_id, level, reward in state["reports"]}
        for level, values in state["rungs"]:
            for value in values:
                self.rungs.observe(int(level), float(value))
