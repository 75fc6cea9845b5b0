"""The history: the last ``window`` results (latent row, reward vector), in a ring buffer.

The policy update and the model read only these, so the cost of a trial never depends on how
many trials came before.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["History"]


class History:
    """A ring buffer of the last ``capacity`` (latent row, reward vector) pairs."""

    def __init__(self, capacity: int, dim: int, n_objectives: int = 1):
        self.rows = np.empty((capacity, dim))
        self.rewards = np.empty((capacity, n_objectives))
        self.count = 0  # pairs ever added

    def __len__(self) -> int:
        return min(self.count, self.rows.shape[0])

    def add(self, row: np.ndarray, reward: np.ndarray) -> None:
        i = self.count % self.rows.shape[0]
        self.rows[i], self.rewards[i] = row, reward
        self.count += 1

    def latest(self, k: int) -> np.ndarray:
        """Indices (into ``arrays()``) of the ``k`` results added last."""
        cap = self.rows.shape[0]
        return np.arange(self.count - min(k, len(self)), self.count) % cap

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """The rows and rewards held (in buffer order, not time order)."""
        n = len(self)
        return self.rows[:n], self.rewards[:n]

    def state(self) -> dict[str, Any]:
        rows, rewards = self.arrays()
        return {"rows": rows.copy(), "rewards": rewards.copy(), "count": self.count}

    def load(self, state: dict[str, Any]) -> None:
        n = state["rows"].shape[0]
        self.rows[:n], self.rewards[:n], self.count = state["rows"], state["rewards"], int(state["count"])
