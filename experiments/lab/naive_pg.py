"""The source article's naive policy-gradient searcher: the baseline PGSearcher must beat.

One categorical actor per choice (equal initial logits, a weighted draw, a softmax gradient
step of lr 0.1 on the chosen action only) and one Gaussian actor per numeric value (in the
domain's own units, log domains on the log scale), both updated on every completed trial with
the trial's reward normalized by the mean and standard deviation of all rewards so far.
"""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
from ray.tune.search import Searcher

from experiments.lab.spaces import (
    Categorical,
    Domain,
    Float,
    Integer,
    Path,
    domain_items,
    fill,
    int_bounds,
    is_log,
    snap_int,
)


class CategoricalActor:
    """A softmax policy over `n` categories with equal initial logits."""

    def __init__(self, n: int, lr: float) -> None:
        self.logits = np.zeros(n)
        self.lr = lr

    def probs(self) -> np.ndarray:
        """Softmax of the logits."""
        z = np.exp(self.logits - self.logits.max())
        return z / z.sum()

    def sample(self, rng: np.random.Generator) -> int:
        """Draw a category index weighted by the policy's probabilities."""
        return int(rng.choice(len(self.logits), p=self.probs()))

    def update(self, action: int, advantage: float) -> None:
        """Ascend advantage * grad log pi(action): the masked (one-hot) softmax gradient."""
        mask = np.zeros_like(self.logits)
        mask[action] = 1.0
        self.logits += self.lr * advantage * (mask - self.probs())


class GaussianActor:
    """A Gaussian policy on [low, high] starting at the middle with a quarter-range std."""

    def __init__(self, low: float, high: float, lr: float) -> None:
        self.low, self.high, self.lr = low, high, lr
        self.mean = (low + high) / 2
        self.log_std = np.log((high - low) / 4)

    def sample(self, rng: np.random.Generator) -> float:
        """Draw a value from N(mean, std) clipped to the bounds."""
        return float(np.clip(rng.normal(self.mean, np.exp(self.log_std)), self.low, self.high))

    def update(self, action: float, advantage: float) -> None:
        """REINFORCE step for the mean and log-std (mean step scaled by the variance)."""
        std = np.exp(self.log_std)
        z = (action - self.mean) / std
        self.mean = float(np.clip(self.mean + self.lr * advantage * z * std, self.low, self.high))
        self.log_std = float(
            np.clip(
                self.log_std + self.lr * advantage * (z * z - 1),
                np.log((self.high - self.low) * 1e-3),
                np.log(self.high - self.low),
            )
        )


def _numeric_bounds(domain: Domain) -> tuple[float, float]:
    """The actor's bounds for a numeric domain: log10 units for log domains."""
    low, high = int_bounds(domain)[:2] if isinstance(domain, Integer) else (domain.lower, domain.upper)
    return (np.log10(low), np.log10(high)) if is_log(domain) else (low, high)


class NaivePGSearcher(Searcher):
    """Naive policy gradient (REINFORCE with normalized rewards), one actor per parameter."""

    def __init__(
        self, metric: str | None = None, mode: str | None = None, lr: float = 0.1, seed: int | None = None
    ) -> None:
        super().__init__(metric=metric, mode=mode)
        self._lr = lr
        self._rng = np.random.default_rng(seed)
        self._space: dict | None = None
        self._actors: dict[Path, CategoricalActor | GaussianActor] = {}
        self._domains: dict[Path, Domain] = {}
        self._live: dict[str, dict[Path, Any]] = {}
        self._reward_sums = np.zeros(3)  # count, sum, sum of squares

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        """Adopt metric, mode and the Tune search space; build one actor per domain."""
        if self._space is not None:
            return False
        self._metric = metric or self._metric
        self._mode = mode or self._mode
        self._space = config
        for path, domain in domain_items(config):
            if isinstance(domain, Categorical):
                actor = CategoricalActor(len(domain.categories), self._lr)
            elif isinstance(domain, (Float, Integer)):
                actor = GaussianActor(*_numeric_bounds(domain), self._lr)
            else:
                raise ValueError(f"unsupported domain at {path}: {domain!r}")
            self._actors[path], self._domains[path] = actor, domain
        return True

    def _decode(self, path: Path, action: float | int) -> Any:
        """Turn an actor's action into the config value for the domain at `path`."""
        domain = self._domains[path]
        if isinstance(domain, Categorical):
            return domain.categories[action]
        value = 10.0**action if is_log(domain) else action
        return snap_int(value, domain) if isinstance(domain, Integer) else float(value)

    def suggest(self, trial_id: str) -> dict | None:
        """Sample every actor and remember the actions for this trial."""
        actions = {path: actor.sample(self._rng) for path, actor in self._actors.items()}
        self._live[trial_id] = actions
        return fill(self._space, {p: self._decode(p, a) for p, a in actions.items()})

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        """Update every actor with this trial's normalized reward."""
        actions = self._live.pop(trial_id)
        if error or not result or self._metric not in result:
            return
        reward = float(result[self._metric]) * (1.0 if self._mode == "max" else -1.0)
        self._reward_sums += (1.0, reward, reward * reward)
        count, total, squares = self._reward_sums
        if count < 2:
            return
        mean = total / count
        std = np.sqrt(max(squares / count - mean * mean, 0.0))
        advantage = (reward - mean) / (std + 1e-8)
        for path, action in actions.items():
            self._actors[path].update(action, advantage)

    def save(self, checkpoint_path: str) -> None:
        """Pickle the searcher's state."""
        with open(checkpoint_path, "wb") as f:
            pickle.dump(self.__dict__, f)

    def restore(self, checkpoint_path: str) -> None:
        """Load the state written by `save`."""
        with open(checkpoint_path, "rb") as f:
            self.__dict__.update(pickle.load(f))
