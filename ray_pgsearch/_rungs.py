"""Rung-aware values: results at training iteration r judged against the results at r.

Used for trials a scheduler (ASHA, HyperBand) stopped early, and for the intermediate results of
running trials.

A trial stopped at training iteration r is judged against the trials that reached r, not against
fully trained ones: its value's quantile q among the values reported at iteration r is mapped to the
same quantile of the values reported at the longest length T seen so far,

    v' = Q_T(F_r(v)),    F_r = empirical CDF of the values at r,  Q_T = empirical quantile at T.

So a trial in the top 10 % of its rung counts like a trial in the top 10 % of the finished ones,
whatever its absolute (less trained) value. Trials that reached T, and trials of experiments without
enough reference values (fewer than ``min_count`` at r or at T), keep their raw value.
"""

from __future__ import annotations

from collections import deque

import numpy as np

__all__ = ["RungCalibrator"]


class RungCalibrator:
    """The last ``capacity`` metric values reported at each training iteration, and the map above."""

    def __init__(self, capacity: int = 128, min_count: int = 3):
        self.capacity = capacity
        self.min_count = min_count
        self.values: dict[int, deque] = {}

    def observe(self, iteration: int, value: float) -> None:
        """Record a value a trial reported at ``iteration``."""
        self.values.setdefault(iteration, deque(maxlen=self.capacity)).append(value)

    def quantile(self, iteration: int, value: float) -> float | None:
        """F_r(value): the mid-rank quantile of ``value`` among the values reported at ``iteration``,
        or None with fewer than ``min_count`` of them."""
        at_r = self.values.get(iteration, ())
        if len(at_r) < self.min_count:
            return None
        ref = np.fromiter(at_r, float)
        return float((np.sum(ref < value) + 0.5 * np.sum(ref == value)) / ref.size)

    def calibrate(self, iteration: int, value: float) -> float:
        """The value a trial stopped at ``iteration`` counts with: Q_T(F_r(value)) (the raw value
        without enough reference values)."""
        mapped = self.comparable(iteration, value)
        return value if mapped is None else mapped

    def comparable(self, iteration: int, value: float) -> float | None:
        """Q_T(F_r(value)), or the value itself at the longest length T; None when there are not
        enough reference values to map it."""
        longest = max((t for t, v in self.values.items() if len(v) >= self.min_count), default=None)
        if longest is not None and iteration >= longest:
            return value
        q = self.quantile(iteration, value)
        if longest is None or q is None:
            return None
        return float(np.quantile(np.fromiter(self.values[longest], float), q))
