"""The ask/tell core: PGOptimizer, usable without Ray Tune's trial machinery.

    opt = PGOptimizer({"lr": tune.loguniform(1e-4, 1e-1), "act": tune.choice(["relu", "tanh"])}, mode="min", seed=0)
    for _ in range(100):
        config = opt.ask()
        opt.tell(config, train(config))

Each ``ask`` returns, in this order: the user's ``points_to_evaluate``; a Latin-hypercube sample of
the prior for the first ``n_startup`` trials; then the best of ``n_candidates`` policy samples
under the Parzen density-ratio model of the window. With a ``constraint`` (config -> bool), refused
samples are replaced by the next best ones (counted in ``n_rejected``), and ``best_config`` only
ever holds a config that satisfies it. Each ``tell`` with a finite value adds the
trial to a bounded window and takes one policy-gradient step on it, so the cost of a trial never
depends on how many trials came before.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Iterator, Mapping, Sequence

import numpy as np

from .model import ParzenModel
from .policy import Policy, PolicySettings
from .space import SearchSpace


@dataclass(frozen=True)
class Settings(PolicySettings):
    """All knobs of PGOptimizer; the defaults are the ones benchmarked in experiments/results.

    n_startup: trials drawn from a Latin hypercube over the prior before the model step starts.
    n_candidates: policy samples the model chooses from at each ask (1 = sample the policy only).
    window: finished trials kept for the policy update and the model (bounds the cost per trial).
    gamma: fraction of the window counted as "good" by the model.
    bandwidth: Parzen bandwidth factor in latent units, h = bandwidth * m^(-1/(d+4)).
    cat_prior: weight of every category in a category kernel (its own weighs 1), relative to m + 1 for a
        group of m points: the kernel's smoothing shrinks as the group grows.
    model_candidates: fraction of the candidates drawn from the good density l(x) instead of the policy.
    pending_weight: weight of each pending trial in the model's bad density g(x), relative to a result.
    max_rejections: samples a constraint may reject in a row before ask() raises RuntimeError.
    """

    n_startup: int = 10
    n_candidates: int = 256
    window: int = 128
    gamma: float = 0.15
    bandwidth: float = 0.1
    cat_prior: float = 1.0
    model_candidates: float = 0.25
    pending_weight: float = 0.1
    max_rejections: int = 1000

    def __post_init__(self) -> None:
        if self.n_startup < 0 or self.n_candidates < 1 or self.window < 2:
            raise ValueError("n_startup >= 0, n_candidates >= 1 and window >= 2 are required")
        if not 0.0 < self.gamma < 1.0:
            raise ValueError("gamma must lie in (0, 1)")
        if not 0.0 < self.pending_weight or not 0.0 < self.cat_prior:
            raise ValueError("pending_weight and cat_prior must be positive")
        if not 0.0 < self.min_std <= self.init_std <= self.max_std:
            raise ValueError("0 < min_std <= init_std <= max_std is required")


class Window:
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

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        n = len(self)
        return self.rows[:n], self.rewards[:n]


def as_reward(value: Any, mode: str) -> float | None:
    """The reward of a reported metric value (-value for "min"), or None when it is not a finite
    number (None, NaN, inf, a string): such trials never reach the policy or the model."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    value = float(value)
    if not math.isfinite(value):
        return None
    return -value if mode == "min" else value


class PGOptimizer:
    """Policy-gradient search over a Tune search space, through ask/tell."""

    def __init__(
        self,
        space: Mapping[str, Any] | SearchSpace,
        mode: str | Sequence[str] = "min",
        seed: int | None = None,
        points_to_evaluate: Sequence[Mapping[str, Any]] | None = None,
        log_dir: str | None = None,
        constraint: Callable[[dict], bool] | None = None,
        **settings: Any,
    ):
        self.modes = [mode] if isinstance(mode, str) else list(mode)
        if not self.modes or any(m not in ("min", "max") for m in self.modes):
            raise ValueError(f"mode must be 'min' or 'max', or a list of them (one per metric), got {mode!r}")
        self.space = space if isinstance(space, SearchSpace) else SearchSpace(space)
        self.settings = Settings(**settings)
        self.rng = np.random.default_rng(seed)
        self.policy = Policy(self.space, self.settings)
        self.model = ParzenModel(
            self.space.n_numeric, self.space.category_sizes, self.settings.bandwidth, self.settings.cat_prior
        )
        self.window = Window(self.settings.window, self.space.dim, len(self.modes))
        self.pending: dict[Hashable, np.ndarray] = {}
        self.startup = list(self.space.sample_prior(self.rng, self.settings.n_startup))
        self.points = [self.space.complete(p) for p in points_to_evaluate or []]
        self.n_asked = 0
        self.n_told = 0
        self.n_failed = 0
        self.n_rejected = 0  # sampled configs the constraint refused
        self.constraint = constraint  # config -> bool; must be picklable (a module-level function)
        self.best_reward = -math.inf
        self.best_config: dict | None = None
        self.log_dir = log_dir  # TensorBoard event files of the policy go here, when set
        self._writer: Any = None  # created on the first update; not part of the saved state

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_writer"] = None  # event-file writers hold open files
        return state

    # -- ask --------------------------------------------------------------------------------------
    def ask(self, trial_id: Hashable | None = None) -> dict:
        """The next config to evaluate; with a ``trial_id`` it is kept pending until told."""
        if self.points:
            config = self.points.pop(0)
            row = self.space.encode(config)
        else:
            rows = self._rows()
            for _ in range(self.settings.max_rejections + 1):
                row = next(rows)
                config = self.space.decode(row)
                if self._allowed(config):
                    break
                self.n_rejected += 1
            else:
                raise RuntimeError(
                    f"the constraint rejected {self.settings.max_rejections + 1} sampled configs in a row; "
                    "check that it can be satisfied inside the search space"
                )
        if trial_id is not None:
            self.pending[trial_id] = row
        self.n_asked += 1
        return config

    def _allowed(self, config: Mapping[str, Any]) -> bool:
        return self.constraint is None or bool(self.constraint(config))

    def _rows(self) -> Iterator[np.ndarray]:
        """Latent rows to try, best first: the startup design, then the proposals ranked by the
        model (a fresh batch whenever one runs out, which only a constraint can cause)."""
        while self.startup:
            yield self.startup.pop(0)
        while True:
            yield from self._proposals()

    def _proposals(self) -> np.ndarray:
        """x_1..x_M ~ pi ranked by log l(x) - log g(x), best first; plain policy samples before two results."""
        rows, rewards = self.window.arrays()
        if rows.shape[0] < 2 or self.settings.n_candidates == 1:
            return self.policy.sample(self.rng, self.settings.n_candidates)
        rewards = self._scalarize(rewards)
        n_good = max(1, int(math.ceil(self.settings.gamma * rewards.size)))
        order = np.argsort(-rewards, kind="stable")
        good = rows[order[:n_good]]
        n_model = int(round(self.settings.model_candidates * self.settings.n_candidates))
        candidates = np.vstack([
            self.policy.sample(self.rng, self.settings.n_candidates - n_model),
            self.model.sample(self.rng, good, n_model),
        ])
        bad = np.vstack([rows[order[n_good:]], *self.pending.values()])  # pending trials: soft constant liars
        weights = np.r_[np.ones(rows.shape[0] - n_good), np.full(len(self.pending), self.settings.pending_weight)]
        scores = self.model.score(*(self._model_view(a) for a in (candidates, good, bad)), weights)
        return candidates[np.argsort(-scores, kind="stable")]

    def _model_view(self, rows: np.ndarray) -> np.ndarray:
        """Rows as the model compares them: in a conditional space every inactive parameter takes one
        shared value (z = 0.5, category -1), so only the values a config used tell configs apart."""
        if not self.space.conditional:
            return rows
        inactive = np.r_[np.full(self.space.n_numeric, 0.5), np.full(len(self.space.categorical), -1.0)]
        return np.where(self.space.active(rows), rows, inactive)

    # -- tell -------------------------------------------------------------------------------------
    def tell(self, config: Mapping[str, Any], value: Any, trial_id: Hashable | None = None) -> bool:
        """Learn from one evaluated config; returns False (and learns nothing) when ``value`` is
        not a finite number (with several objectives: not one finite number per objective).
        A pending ``trial_id`` is resolved either way."""
        row = self.pending.pop(trial_id, None) if trial_id is not None else None
        reward = self._reward(value)
        if reward is None:
            self.n_failed += 1
            return False
        if row is None:
            row = self.space.encode(config)
        self.window.add(row, reward)
        self.n_told += 1
        if reward.size == 1 and reward[0] > self.best_reward and self._allowed(config):
            self.best_reward, self.best_config = float(reward[0]), dict(config)
        if len(self.window) >= 2:
            rows, rewards = self.window.arrays()
            utilities = self.policy.update(rows, self._scalarize(rewards), self.space.active(rows))
            self._log_update(utilities)
        return True

    def _reward(self, value: Any) -> np.ndarray | None:
        """The reward vector of a reported value (one entry per objective), or None if invalid."""
        values = [value] if len(self.modes) == 1 else value
        if not isinstance(values, (list, tuple, np.ndarray)) or len(values) != len(self.modes):
            return None
        rewards = [as_reward(v, m) for v, m in zip(values, self.modes)]
        return None if any(r is None for r in rewards) else np.array(rewards)

    def _scalarize(self, rewards: np.ndarray) -> np.ndarray:
        """One reward per trial. With several objectives: the augmented Chebyshev scalarization
        -max_k w_k (1 - r~_ik) - rho sum_k (1 - r~_ik) of the window-normalized rewards r~ in [0, 1],
        under weights w ~ Dirichlet(1) drawn anew at every call (ParEGO, Knowles 2006)."""
        if rewards.shape[1] == 1:
            return rewards[:, 0]
        lo, hi = rewards.min(axis=0), rewards.max(axis=0)
        gap = 1.0 - (rewards - lo) / np.where(hi > lo, hi - lo, 1.0)
        weights = self.rng.dirichlet(np.ones(rewards.shape[1]))
        return -np.max(weights * gap, axis=1) - 0.05 * gap.sum(axis=1)

    def _log_update(self, utilities: np.ndarray) -> None:
        """Writes the policy after an update to TensorBoard when a log_dir is set."""
        if self.log_dir is None:
            return
        if self._writer is None:
            from .tensorboard import PolicyWriter

            self._writer = PolicyWriter(self.log_dir)
        self._writer.write(self, utilities)

    def forget(self, trial_id: Hashable) -> None:
        """Drop a pending trial that will never report (crashed, cancelled)."""
        if self.pending.pop(trial_id, None) is not None:
            self.n_failed += 1

    @property
    def best_value(self) -> float | None:
        """The best metric value told so far, in the metric's own sign (single objective only; for
        several objectives see ``ray_pgsearch.pareto``)."""
        if self.best_config is None:
            return None
        return -self.best_reward if self.modes[0] == "min" else self.best_reward
