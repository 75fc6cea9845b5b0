"""Restarts, a lever measured and not kept: an extension that starts a stagnating search over.

After ``after`` results in a row without a new best, the search starts over as IPOP-CMA-ES restarts
a stagnating run: a fresh policy, an empty window and a new startup design (``PGOptimizer.start_over``).
Only results of trials asked after the best was told count toward the wait, since those asked before
it could not build on it: the wait grows with the trials in flight. The best config stays; the
trials still running were asked by the old search, so their results count for the best config only
and do not pull the new search back to where the old one settled.

    PGSearcher(extensions=[Restarts(128)])
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np

from ray_pgsearch import Extension


class Restarts(Extension):
    """Starts the search over after ``after`` results in a row brought no new best."""

    def __init__(self, after: int):
        if after < 1:
            raise ValueError(f"Restarts needs after >= 1, got {after}")
        self.after = after
        self.since_best = 0  # results of trials asked since the last new best (or the last restart)
        self.best_asked = 0  # configs asked when the last new best was told
        self.asked_at: dict[Hashable, int] = {}  # trial in flight -> configs asked before it
        self.stale: set[Hashable] = set()  # trials asked before the last restart and still running
        self.n_restarts = 0

    def on_ask(self, optimizer: Any, trial_id: Hashable | None, row: np.ndarray) -> None:
        if trial_id is not None:
            self.stale.discard(trial_id)
            self.asked_at[trial_id] = optimizer.n_asked - 1

    def learns_from(self, trial_id: Hashable | None) -> bool:
        return trial_id not in self.stale

    def on_result(self, optimizer: Any, trial_id: Hashable | None, reward: np.ndarray, new_best: bool) -> None:
        asked = self.asked_at.pop(trial_id, None)
        self.stale.discard(trial_id)
        if asked is None or asked >= self.best_asked:  # asked before the best was known: no evidence
            self.since_best += 1
        if new_best:
            self.since_best, self.best_asked = 0, optimizer.n_asked
        if reward.size == 1 and self.since_best >= self.after:
            optimizer.start_over()
            self.stale = set(self.asked_at)
            self.since_best, self.best_asked = 0, optimizer.n_asked
            self.n_restarts += 1

    def state(self) -> dict[str, Any]:
        return {
            "since_best": self.since_best,
            "best_asked": self.best_asked,
            "asked_at": [[t, n] for t, n in self.asked_at.items()],
            "stale": list(self.stale),
            "n_restarts": self.n_restarts,
        }

    def load(self, state: dict[str, Any]) -> None:
        self.since_best, self.best_asked = state["since_best"], state["best_asked"]
        self.asked_at = {t: n for t, n in state["asked_at"]}
        self.stale, self.n_restarts = set(state["stale"]), state["n_restarts"]
