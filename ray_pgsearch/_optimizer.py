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

import itertools
import math
from collections import Counter
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from ._gp import GaussianProcess, expected_improvement, normal_scores
from ._model import ParzenModel, Points
from ._policy import Policy
from ._prior import Prior, load_prior
from ._rungs import RungCalibrator
from ._settings import Settings
from ._space import SearchSpace
from ._util import copy_config, is_finite_number, one_blas_thread

__all__ = ["PGOptimizer", "UpdateHook", "as_reward"]

_GP_MIN_RESULTS = 10  # results before the Gaussian process reranks proposals
_GP_REFIT = 8  # results between two picks of the GP's length scale and noise
_GP_BEST, _GP_RECENT = 32, 16  # the GP conditions on the window's 32 best and 16 latest results
_GP_RUNNING = 8  # ... and on the 8 running trials asked last (their reports, else as believers)
_PRIOR_REPLAY = 4  # a warm start opens with the prior's 4 best results, between the startup design's draws
_PRIOR_EVIDENCE = 6  # results of this search before the prior's agreement is judged
_PRIOR_JUDGED = 3.0  # ... and until this many halflives of results: later the prior weighs next to nothing
_PRIOR_FULL_TRUST = 0.3  # a rank correlation from here on keeps the prior at full weight
_PRIOR_REJECT = 0.0  # a rank correlation below this drops the prior

UpdateHook = Callable[["PGOptimizer", np.ndarray], None]
"""Called after every policy update with the optimizer and the window's utilities (e.g. a
``ray_pgsearch.tensorboard.PolicyWriter``)."""


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

    def latest(self, k: int) -> np.ndarray:
        """Indices (into ``arrays()``) of the ``k`` results added last."""
        cap = self.rows.shape[0]
        return np.arange(self.count - min(k, len(self)), self.count) % cap

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        n = len(self)
        return self.rows[:n], self.rewards[:n]


def as_reward(value: Any, mode: str) -> float | None:
    """The reward of a reported metric value (-value for "min"), or None when it is not a finite
    number (None, NaN, inf, a string): such trials never reach the policy or the model."""
    if not is_finite_number(value):
        return None
    return -float(value) if mode == "min" else float(value)


def _rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two samples (0 when either is constant)."""
    ra = np.argsort(np.argsort(a, kind="stable"), kind="stable").astype(float)
    rb = np.argsort(np.argsort(b, kind="stable"), kind="stable").astype(float)
    if ra.std() == 0 or rb.std() == 0 or np.all(a == a[0]) or np.all(b == b[0]):
        return 0.0
    return float(np.corrcoef(ra, rb)[0, 1])


class PGOptimizer:
    """Policy-gradient search over a Tune search space, through ask/tell."""

    def __init__(
        self,
        space: Mapping[str, Any] | SearchSpace,
        mode: str | Sequence[str] = "min",
        seed: int | None = None,
        points_to_evaluate: Sequence[Mapping[str, Any]] | None = None,
        constraint: Callable[[dict], bool] | None = None,
        prior: Any = None,
        settings: Settings | None = None,
        **overrides: Any,
    ):
        self.modes = [mode] if isinstance(mode, str) else list(mode)
        if not self.modes or any(m not in ("min", "max") for m in self.modes):
            raise ValueError(f"mode must be 'min' or 'max', or a list of them (one per metric), got {mode!r}")
        self.space = space if isinstance(space, SearchSpace) else SearchSpace(space)
        self.settings = Settings.from_args(settings, **overrides)
        self.rng = np.random.default_rng(seed)
        self.policy = Policy(self.space, self.settings)
        self.model = ParzenModel(
            self.space.n_numeric, self.space.category_sizes, self.settings.bandwidth, self.settings.cat_prior
        )
        self.window = Window(self.settings.window, self.space.dim, len(self.modes))
        self.gp = GaussianProcess(self.space.n_numeric)
        self._gp_fitted_at: int | None = None  # window.count when the GP's length scale was last picked
        self.pending: dict[Hashable, np.ndarray] = {}
        self._in_flight: Counter[bytes] = Counter()  # the pending rows' bytes, to refuse a running config in O(1)
        self.partial: dict[Hashable, tuple[int, float]] = {}  # pending trial -> (level, reward) of its latest report
        self.rungs = RungCalibrator()  # rewards reported at each level (training iteration)
        self.startup = list(self.space.sample_prior(self.rng, self.settings.n_startup))
        for point in points_to_evaluate or []:
            self.space.check_point(point)  # a ValueError now, not at the trial that would run it
        self.points = [copy_config(p) for p in points_to_evaluate or []]
        self.n_asked = 0
        self.n_told = 0
        self.n_failed = 0
        self.n_rejected = 0  # sampled configs the constraint refused
        self.constraint = constraint  # config -> bool; must be picklable (a module-level function)
        self.best_reward = -math.inf
        self.best_config: dict | None = None
        self.n_restarts = 0  # times the search started over (``restart_after``)
        self._since_best = 0  # results of trials asked since the last new best (or the last restart)
        self._best_asked = 0  # n_asked when the last new best was told
        self._asked_at: dict[Hashable, int] = {}  # pending trial -> n_asked when it was asked
        self._stale: set[Hashable] = set()  # trials asked before the last restart and still running
        self._best_epoch: tuple[Policy, Window] | None = None  # the restart that found the best, if not this one
        self._hooks: list[UpdateHook] = []  # not part of the saved state
        self.prior: Prior | None = None
        self.prior_trust = 1.0  # how far this search's results agree with the prior's ranking, in [0, 1]
        self.prior_rejected = False  # the results contradicted the prior: it was dropped and the policy reset
        self._prior_evidence = Window(self.settings.window, 1, 2)  # (prior score, reward) of each own result
        self._replays: set[bytes] = set()  # the prior's configs in the opening, dropped from it with the prior
        if prior is not None:
            self.prior = load_prior(prior, self.space, self.settings.min_std, self.settings.max_std)
            self.policy.warm_start(self.prior.mean, self.prior.std, self.prior.logits)
            self.startup = self._prior_opening()

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_hooks"] = []  # hooks may hold open files (event writers): attach them again after a restore
        del state["_in_flight"]  # derived from the pending trials on restore
        return state

    def __setstate__(self, state: dict) -> None:
        restarts = {
            "n_restarts": 0,
            "_since_best": 0,
            "_best_asked": 0,
            "_asked_at": {},
            "_stale": set(),
            "_best_epoch": None,
        }
        state = {**restarts, **state}
        self.__dict__.update(state)
        self._in_flight = Counter(row.tobytes() for row in self.pending.values())

    def add_update_hook(self, hook: UpdateHook) -> None:
        """Calls ``hook(optimizer, utilities)`` after every policy update (not saved with the state)."""
        self._hooks.append(hook)

    # -- ask --------------------------------------------------------------------------------------
    def ask(self, trial_id: Hashable | None = None) -> dict:
        """The next config to evaluate; with a ``trial_id`` it is kept pending until told."""
        with one_blas_thread():
            return self._ask(trial_id)

    def _ask(self, trial_id: Hashable | None) -> dict:
        if self.points:
            # a partial point takes its missing values from a draw of the policy
            config = self.space.complete(self.points.pop(0), fill=self.policy.sample(self.rng, 1)[0])
            row = self.space.encode(config)
        else:
            rows = self._rows()
            repeats = 0
            for _ in range(self.settings.max_rejections + 1):
                row = next(rows)
                config = self.space.decode(row)
                if not self._allowed(config):
                    self.n_rejected += 1
                    continue
                row = self.space.encode(config)  # the canonical row of the config (integers at bin centres)
                if row.tobytes() not in self._in_flight or repeats >= self.settings.n_candidates:
                    break
                repeats += 1  # the config of a running trial: take the next proposal instead
            else:
                raise RuntimeError(
                    f"the constraint rejected {self.settings.max_rejections + 1} sampled configs in a row; "
                    "check that it can be satisfied inside the search space"
                )
        if trial_id is not None:
            self._release(trial_id)  # an id asked again holds only its new config
            self.pending[trial_id] = row
            self._asked_at[trial_id] = self.n_asked
            self._in_flight[row.tobytes()] += 1
        self.n_asked += 1
        return config

    def _release(self, trial_id: Hashable) -> np.ndarray | None:
        """Removes a trial from the pending ones; returns its row (None if it was not pending)."""
        row = self.pending.pop(trial_id, None)
        self._stale.discard(trial_id)
        self._asked_at.pop(trial_id, None)
        if row is not None:
            key = row.tobytes()
            self._in_flight[key] -= 1
            if not self._in_flight[key]:
                del self._in_flight[key]
        return row

    def _allowed(self, config: Mapping[str, Any]) -> bool:
        return self.constraint is None or bool(self.constraint(dict(config)))

    def _rows(self) -> Iterator[np.ndarray]:
        """Latent rows to try, best first: the startup design, then the proposals ranked by the
        model (a fresh batch whenever one runs out, which only a constraint can cause)."""
        while self.startup:
            yield self.startup.pop(0)
        while True:
            yield from self._proposals()

    def _proposals(self) -> np.ndarray:
        """x_1..x_M ~ pi ranked by log l(x) - log g(x), best first; plain policy samples while the
        model has too little to go on."""
        groups = self._groups()
        if groups is None or self.settings.n_candidates == 1:
            return self.policy.sample(self.rng, self.settings.n_candidates)
        good, bad = groups
        n_model = int(round(self.settings.model_candidates * self.settings.n_candidates))
        candidates = self.policy.sample(self.rng, self.settings.n_candidates - n_model)
        if good.mass:  # empty while only running trials count and none of them is good: the policy alone
            in_flight = len(self.pending) + 1 >= self.settings.prior_candidates_in_flight
            drawn = self.model.sample(self.rng, good, n_model, self.settings.prior_candidates if in_flight else 0.0)
            candidates = np.vstack([candidates, drawn])
        scores = self.model.score(self._model_view(candidates), good, bad)
        order = (-scores).argsort(kind="stable")
        return candidates[self._rerank(candidates, order)]

    def _rerank(self, candidates: np.ndarray, order: np.ndarray) -> np.ndarray:
        """The density ratio's ``gp_rerank`` best proposals reordered by their expected improvement
        under a Gaussian process on the window's best and latest results (``order`` unchanged while
        more than ``gp_max_pending`` trials run). Of the running trials, the ``_GP_RUNNING`` asked last
        enter the process, each with its latest report mapped rung-aware to the finished trials' scale,
        or else as a kriging believer (its predicted value, as if observed), so the cost of an ask stays
        bounded however many trials run. The length scale and noise are picked again every
        ``_GP_REFIT`` results."""
        s = self.settings
        rows, rewards = self.window.arrays()
        if s.gp_rerank < 2 or len(self.pending) > s.gp_max_pending:
            return order
        running = list(itertools.islice(reversed(self.pending), _GP_RUNNING))[::-1]  # the trials asked last
        reported = {
            t: r
            for t in running
            if t in self.partial and t not in self._stale and (r := self.rungs.comparable(*self.partial[t])) is not None
        }
        if rows.shape[0] + len(reported) < _GP_MIN_RESULTS:
            return order
        believers = [self.pending[t] for t in running if t not in reported]
        view = self._model_view
        x = view(np.vstack([rows, *[self.pending[t][None, :] for t in reported]]))
        y = normal_scores(np.concatenate([self._scalarize(rewards), list(reported.values())]))
        keep = np.zeros(y.size, bool)
        keep[(-y[: rows.shape[0]]).argsort(kind="stable")[:_GP_BEST]] = True
        keep[self.window.latest(_GP_RECENT)] = True
        keep[rows.shape[0] :] = True  # the running trials' reports
        x, y = x[keep], y[keep]
        if self._gp_fitted_at is None or self.window.count - self._gp_fitted_at >= _GP_REFIT:
            self.gp.select(x, y)
            self._gp_fitted_at = self.window.count
        top = order[: s.gp_rerank]
        posterior = self.gp.predict(x, y, view(candidates[top]), view(np.array(believers)) if believers else None)
        if posterior is None:
            return order
        ei = expected_improvement(*posterior)
        return np.concatenate([top[(-ei).argsort(kind="stable")], order[s.gp_rerank :]])

    def _groups(self) -> tuple[Points, Points] | None:
        """The model's good and bad points: the best gamma of the window's results against the rest,
        each pending trial with the rest at ``pending_weight`` (a soft constant liar), running trials
        by their latest report, and the prior's good results with the good ones at its current
        weight. None while there are fewer than two results and neither reports nor a prior."""
        rows, rewards = self.window.arrays()
        prior = self._prior_points()
        running = self._running_points() if self.pending else None
        if rows.shape[0] < 2 and prior is None and running is None:
            return None
        rewards = self._scalarize(rewards)
        n_good = max(1, int(math.ceil(self.settings.gamma * rewards.size))) if rewards.size else 0
        order = (-rewards).argsort(kind="stable")
        view = self._model_view
        good = [Points.of(view(rows[order[:n_good]]))]
        bad = [Points.of(view(rows[order[n_good:]]))]
        if self.pending:
            bad.append(self._pending_points())
        if running is not None:
            good.append(running[0])
            bad.append(running[1])
        if prior is not None:
            good.append(prior)
        return Points.stack(*good), Points.stack(*bad)

    def _pending_points(self) -> Points:
        """The pending trials as soft constant liars, each at ``pending_weight``; beyond half a window
        of them, a random half-window subset carries their whole weight, so the cost of an ask stays
        bounded however many trials run."""
        pending = list(self.pending.values())
        cap = max(1, self.settings.window // 2)
        weight = self.settings.pending_weight
        if len(pending) > cap:
            weight = weight * len(pending) / cap
            pending = [pending[i] for i in self.rng.choice(len(pending), cap, replace=False)]
        return Points.of(self._model_view(np.array(pending)), weight)

    def _running_points(self) -> tuple[Points, Points] | None:
        """The running trials that reported at a level with enough results: good when their latest
        value's quantile there is in the best gamma, bad otherwise, each at ``partial_weight``."""
        if not self.partial or self.settings.partial_weight == 0.0:
            return None
        rows, good = [], []
        for trial_id, (level, reward) in self.partial.items():
            if trial_id in self._stale:
                continue
            q = self.rungs.quantile(level, reward)
            if q is not None:
                rows.append(self.pending[trial_id])
                good.append(q > 1.0 - self.settings.gamma)
        if not rows:
            return None
        view, is_good, w = self._model_view(np.array(rows)), np.array(good), self.settings.partial_weight
        return Points.of(view[is_good], w), Points.of(view[~is_good], w)

    # -- prior ------------------------------------------------------------------------------------
    @property
    def prior_weight(self) -> float:
        """The prior's total weight in the model now: prior_weight * trust * 2^(-results / halflife)."""
        if self.prior is None or self.prior_rejected:
            return 0.0
        s = self.settings
        return s.prior_weight * self.prior_trust * 0.5 ** (self.n_told / s.prior_halflife)

    def _prior_points(self, weight: float | None = None) -> Points | None:
        """The prior's good results (their quantile in the best gamma of the earlier search), sharing
        ``weight`` (default: the current ``prior_weight``); None when there is no weight. Its other
        results stay out of the model: an earlier search that converged sampled them next to its best
        ones, so as "bad" points they would mark the good region itself as bad."""
        weight = self.prior_weight if weight is None else weight
        if self.prior is None or weight <= 0.0 or self.prior.rows.shape[0] == 0:
            return None
        p = self.prior
        good = p.quantiles > 1.0 - self.settings.gamma
        good[np.argmax(p.quantiles)] = True
        return Points(p.rows[good], np.full(int(good.sum()), weight / good.sum()), p.known[good])

    def _prior_opening(self) -> list[np.ndarray]:
        """The first asks of a warm start: the cold start's whole startup design (at least as many
        draws as replays), with the prior's best results (what replaying them as points_to_evaluate
        would run; coordinates they do not know drawn from the policy) between its first draws. The
        draws are the controls the prior's agreement is judged against, and a warm start never
        explores less than a cold one. The model step takes over from there, with the prior's results in it."""
        assert self.prior is not None
        p = self.prior
        n = min(_PRIOR_REPLAY, p.rows.shape[0])
        best = np.argsort(-p.quantiles, kind="stable")[:n]
        replays = np.where(p.known[best], p.rows[best], self.policy.sample(self.rng, n))
        controls = list(self.space.sample_prior(self.rng, max(self.settings.n_startup, n, 1)))
        self._replays = {row.tobytes() for row in replays}
        return [row for pair in zip(replays, controls, strict=False) for row in pair] + controls[n:]

    def _observe_prior(self, row: np.ndarray, reward: float) -> None:
        """Checks the prior against this search's results: the rank correlation between each result
        and the density of the prior's good results at its config sets ``prior_trust``; a clearly
        negative one drops the prior (and its configs not yet asked) and restarts the policy from its
        cold-start state."""
        good = self._prior_points(weight=1.0)
        if good is None or self.prior_rejected or self.n_told > _PRIOR_JUDGED * self.settings.prior_halflife:
            return
        score = float(self.model.log_density(self._model_view(row[None, :]), good)[0])
        self._prior_evidence.add(np.zeros(1), np.array([score, reward]))
        _, evidence = self._prior_evidence.arrays()
        if evidence.shape[0] < _PRIOR_EVIDENCE:
            return
        agreement = _rank_correlation(evidence[:, 0], evidence[:, 1])
        self.prior_trust = float(np.clip(agreement / _PRIOR_FULL_TRUST, 0.0, 1.0))
        if agreement < _PRIOR_REJECT:
            self.prior_rejected = True
            self.policy = self._fresh_policy()
            self.startup = [row for row in self.startup if row.tobytes() not in self._replays]

    def _model_view(self, rows: np.ndarray) -> np.ndarray:
        """Rows as the model compares them: in a conditional space every inactive parameter takes one
        shared value (z = 0.5, category -1), so only the values a config used tell configs apart."""
        if not self.space.conditional:
            return rows
        inactive = np.r_[np.full(self.space.n_numeric, 0.5), np.full(len(self.space.categorical), -1.0)]
        return np.where(self.space.active(rows), rows, inactive)

    # -- tell -------------------------------------------------------------------------------------
    def report(self, trial_id: Hashable, value: Any, level: int) -> bool:
        """An intermediate result of a pending trial at ``level`` (a training iteration; single
        objective): the model counts the running trial as good or bad by the quantile of ``value``
        among the results reported at that level, at ``partial_weight``. Returns False (and learns
        nothing) for an unknown trial or a value that is not a finite number."""
        reward = self._reward(value)
        if trial_id not in self.pending or reward is None or reward.size != 1:
            return False
        self.rungs.observe(level, float(reward[0]))
        self.partial[trial_id] = (level, float(reward[0]))
        return True

    def tell(
        self, config: Mapping[str, Any], value: Any, trial_id: Hashable | None = None, level: int | None = None
    ) -> bool:
        """Learn from one evaluated config; returns False (and learns nothing) when ``value`` is
        not a finite number (with several objectives: not one finite number per objective).
        A pending ``trial_id`` is resolved either way. ``level``: the training iteration the value
        was measured at, for a trial a scheduler stopped early; its value then counts rung-aware,
        Q_T(F_r(value)) (see ``_rungs``)."""
        with one_blas_thread():
            return self._tell(config, value, trial_id, level)

    def _tell(self, config: Mapping[str, Any], value: Any, trial_id: Hashable | None, level: int | None) -> bool:
        stale = trial_id in self._stale  # asked before the last restart: it counts for the best config only
        asked = self._asked_at.get(trial_id)
        row = self._release(trial_id) if trial_id is not None else None
        last = self.partial.pop(trial_id, None) if trial_id is not None else None
        reward = self._reward(value)
        if reward is None:
            self.n_failed += 1
            return False
        if row is None:
            row = self.space.encode(config)
        if level is not None and reward.size == 1:
            if last != (level, float(reward[0])):  # not yet recorded through report()
                self.rungs.observe(level, float(reward[0]))
            reward = np.array([self.rungs.calibrate(level, float(reward[0]))])
        if self.prior is not None and reward.size == 1:
            self._observe_prior(row, float(reward[0]))
        if not stale:
            self.window.add(row, reward)
        self.n_told += 1
        if asked is None or asked >= self._best_asked:  # asked before the best was known: no evidence
            self._since_best += 1
        if reward.size == 1 and reward[0] > self.best_reward and self._allowed(config):
            self.best_reward, self.best_config = float(reward[0]), copy_config(config)
            self._since_best, self._best_asked = 0, self.n_asked
            if not stale:
                self._best_epoch = None
        if len(self.window) >= 2 and not stale:
            rows, rewards = self.window.arrays()
            utilities = self.policy.update(rows, self._scalarize(rewards), self.space.active(rows))
            for hook in self._hooks:
                hook(self, utilities)
        if reward.size == 1 and 0 < self.settings.restart_after <= self._since_best:
            self._restart()
        return True

    def _restart(self) -> None:
        """Starts the search over after ``restart_after`` results in a row brought no new best (as
        IPOP-CMA-ES restarts a stagnating run): a fresh policy, an empty window and a new startup
        design. Only results of trials asked after the best was told count toward the wait, since
        those asked before it could not build on it: the wait grows with the trials in flight. The
        best config stays; the trials still running were asked by the old search, so their results
        count for the best config only and do not pull the new search back to where the old one
        settled. The policy and window of the restart that found the best config are kept for
        ``best_epoch``."""
        if self._best_epoch is None:
            self._best_epoch = (self.policy, self.window)
        self.policy = self._fresh_policy()
        self.window = Window(self.settings.window, self.space.dim, len(self.modes))
        self.startup = list(self.space.sample_prior(self.rng, self.settings.n_startup))
        self._stale = set(self.pending)
        self._gp_fitted_at = None
        self._since_best, self._best_asked = 0, self.n_asked
        self.n_restarts += 1

    def _fresh_policy(self) -> Policy:
        """The cold-start policy, continuing the count of updates (TensorBoard's step)."""
        policy = Policy(self.space, self.settings)
        policy.n_updates = self.policy.n_updates
        return policy

    @property
    def best_epoch(self) -> tuple[Policy, Window]:
        """The policy and window of the restart that found the best config (the current ones when
        the search never restarted or found its best since): what a later search warm-starts from."""
        return self._best_epoch or (self.policy, self.window)

    def _reward(self, value: Any) -> np.ndarray | None:
        """The reward vector of a reported value (one entry per objective), or None if invalid."""
        values = [value] if len(self.modes) == 1 else value
        if not isinstance(values, (list, tuple, np.ndarray)) or len(values) != len(self.modes):
            return None
        rewards = [as_reward(v, m) for v, m in zip(values, self.modes, strict=True)]
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

    def forget(self, trial_id: Hashable) -> None:
        """Drop a pending trial that will never report (crashed, cancelled)."""
        self.partial.pop(trial_id, None)
        if self._release(trial_id) is not None:
            self.n_failed += 1

    @property
    def best_value(self) -> float | None:
        """The best metric value told so far, in the metric's own sign (single objective only; for
        several objectives see ``ray_pgsearch.pareto``)."""
        if self.best_config is None:
            return None
        return -self.best_reward if self.modes[0] == "min" else self.best_reward
