"""What a reported value is worth: the reward of each objective, and one reward per trial.

The reward of a value is -value for "min" and +value for "max", so the search always maximizes.
A value that is not a finite number (None, NaN, inf, a string) has no reward: such trials never
reach the policy or the model. With several objectives the rewards are scalarized afresh at every
use under random Chebyshev weights (ParEGO, Knowles 2006), so the search spreads over the front.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._settings import ObjectiveSettings
from ._util import is_finite_number, is_number

__all__ = ["Objectives", "as_reward"]


def as_reward(value: Any, mode: str) -> float | None:
    """The reward of a reported metric value (-value for "min"), or None when it is not a finite
    number (None, NaN, inf, a string)."""
    if not is_finite_number(value):
        return None
    return -float(value) if mode == "min" else float(value)


class Objectives:
    """The modes of the metrics a search optimizes ("min"/"max", one per metric)."""

    def __init__(self, mode: str | Sequence[str], settings: ObjectiveSettings):
        self.modes = [mode] if isinstance(mode, str) else list(mode)
        if not self.modes or any(m not in ("min", "max") for m in self.modes):
            raise ValueError(f"mode must be 'min' or 'max', or a list of them (one per metric), got {mode!r}")
        self.settings = settings

    def __len__(self) -> int:
        return len(self.modes)

    def reward(self, value: Any) -> np.ndarray | None:
        """The reward vector of a reported value (one entry per objective), or None if invalid."""
        values = [value] if len(self.modes) == 1 else value
        if not isinstance(values, (list, tuple, np.ndarray)) or len(values) != len(self.modes):
            return None
        rewards = [as_reward(v, m) for v, m in zip(values, self.modes, strict=True)]
        return None if any(r is None for r in rewards) else np.array(rewards)

    def diverged(self, value: Any) -> bool:
        """Whether a reported value holds a NaN or infinite number (a diverged run, not a missing value)."""
        values = [value] if len(self.modes) == 1 else value
        if not isinstance(values, (list, tuple, np.ndarray)):
            return False
        return any(is_number(v) and not math.isfinite(float(v)) for v in values)

    def value(self, reward: float) -> float:
        """A single objective's reward back in the metric's own sign."""
        return -reward if self.modes[0] == "min" else reward

    def scalarize(self, rewards: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One reward per trial. With several objectives: the augmented Chebyshev scalarization
        -max_k w_k (1 - r~_ik) - rho sum_k (1 - r~_ik) of the window-normalized rewards r~ in [0, 1],
        under weights w ~ Dirichlet(1) drawn anew at every call."""
        if rewards.shape[1] == 1:
            return rewards[:, 0]
        lo, hi = rewards.min(axis=0), rewards.max(axis=0)
        gap = 1.0 - (rewards - lo) / np.where(hi > lo, hi - lo, 1.0)
        weights = rng.dirichlet(np.ones(rewards.shape[1]))
        return -np.max(weights * gap, axis=1) - self.settings.rho * gap.sum(axis=1)
