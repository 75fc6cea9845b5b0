"""The ask/tell core: PGOptimizer, usable without Ray Tune's trial machinery.

    opt = PGOptimizer({"lr": tune.loguniform(1e-4, 1e-1), "act": tune.choice(["relu", "tanh"])}, mode="min", seed=0)
    for _ in range(100):
        config = opt.ask()
        opt.tell(config, train(config))

The optimizer is a short orchestration of named components, each owning its settings and state:

* ``Opening``: the user's points to evaluate, then a Latin-hypercube startup design;
* ``Policy``: a Gaussian per numeric latent and a softmax per choice, x ~ pi;
* ``DensityRatio``: proposals from the policy and the good density, ranked by l(x) / g(x);
* ``GPReranker``: a Gaussian process reorders the best proposals by expected improvement;
* ``History`` and ``TrialBook``: the window of results, the trials in flight and their reports;
* ``WarmStart``: an earlier search's policy and results, judged against this search's results;
* ``FailureModel``: where trials crash, which the proposals' scores steer away from.

Each ``tell`` with a finite value adds the trial to the window and takes one policy-gradient step
on it, so the cost of a trial never depends on how many trials came before.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from . import _checkpoint
from ._book import TrialBook
from ._density import DensityRatio
from ._extension import Extension, UpdateHook
from ._failures import FailureModel
from ._history import History
from ._objectives import Objectives
from ._opening import Opening
from ._policy import Policy
from ._rerank import GPReranker
from ._settings import Settings
from ._snapshot import Snapshot, as_list, snapshot_of
from ._space import SearchSpace
from ._state import optimizer_state, restore_optimizer
from ._util import copy_config, one_blas_thread
from ._view import SearchView
from ._warm_start import WarmStart

__all__ = ["PGOptimizer"]


class _Record:
    """The counts of a search and its best config so far."""

    def __init__(self) -> None:
        self.asked = self.told = self.failed = self.crashed = self.rejected = 0
        self.best_reward = -math.inf
        self.best_config: dict | None = None


class PGOptimizer:
    """Policy-gradient search over a Tune search space, through ask/tell.

    Args:
        space: a Tune search space (nested dict of ``tune.*`` domains and constants) or a ``SearchSpace``.
        mode: "min" or "max", or a list of them (one per metric) for several objectives.
        seed: seed of the one random generator behind every suggestion.
        points_to_evaluate: configs to ask first (a key a point leaves out is drawn from the policy).
        constraint: a picklable function config -> bool; refused configs are never asked (points to
            evaluate excepted) and never become the best config.
        warm_start: an earlier search to start from (a ``PGOptimizer``, ``PGSearcher``, checkpoint
            file or experiment directory, or a list of them; see ``_warm_start``).
        settings: a ``Settings``; keyword ``overrides`` replace groups of it (``model={"gamma": 0.2}``).
        extensions: ``Extension`` objects called at fixed points of ask and tell.
    """

    def __init__(
        self,
        space: Mapping[str, Any] | SearchSpace,
        mode: str | Sequence[str] = "min",
        seed: int | None = None,
        points_to_evaluate: Sequence[Mapping[str, Any]] | None = None,
        constraint: Callable[[dict], bool] | None = None,
        warm_start: Any = None,
        settings: Settings | None = None,
        *,
        extensions: Sequence[Extension] = (),
        **overrides: Any,
    ):
        if "prior" in overrides:
            warm_start = _renamed_prior(overrides.pop("prior"), warm_start)
        self._space = space if isinstance(space, SearchSpace) else SearchSpace(space)
        self._settings = s = Settings.from_args(settings, **overrides)
        self._objectives = Objectives(mode, s.objectives)
        self._rng = np.random.default_rng(seed)
        self._policy = Policy(self._space, s.policy)
        self._history = History(s.history.window, self._space.dim, len(self._objectives))
        self._book = TrialBook(s.rungs, capacity=s.history.window)
        self._opening = Opening(self._space, self._rng, s.startup.size, points_to_evaluate)
        self._density = DensityRatio(self._space, s.model, s.candidates, s.history.window)
        self._rerank = GPReranker(self._space, s.rerank)
        self._failures = FailureModel(self._space, s.failures, s.history.window, self._density.model)
        self._constraint = constraint
        self._record = _Record()
        self._extensions = list(extensions)
        self._warm_start: WarmStart | None = None
        if warm_start is not None:  # the policy starts from the earlier one, the opening replays its best
            snapshots = [snapshot_of(source) for source in as_list(warm_start)]
            self._warm_start = WarmStart.of(snapshots, self._space, s.warm_start, s.policy, s.history.window, s.model)
            self._warm_start.begin(self._rng, self._policy, self._opening, s.startup.size)

    # -- ask --------------------------------------------------------------------------------------
    def ask(self, trial_id: Hashable | None = None) -> dict:
        """The next config to evaluate; with a ``trial_id`` it is kept pending until told."""
        with one_blas_thread():
            point = self._opening.next_point()
            if point is not None:  # a partial point takes its missing values from a draw of the policy
                config = self._space.complete(point, fill=self._policy.sample(self._rng, 1)[0])
                row = self._space.encode(config)
            else:
                config, row = self._first_allowed(self._rows())
            if trial_id is not None:
                self._book.hold(trial_id, row)
            self._failures.note_asked(row, self._history, self.n_told)
            self._record.asked += 1
            for ext in self._extensions:
                ext.on_ask(self, trial_id, row)
            return config

    def _first_allowed(self, rows: Iterator[np.ndarray]) -> tuple[dict, np.ndarray]:
        """The first row the constraint allows that no trial in flight runs (after ``candidates.count``
        such repeats, a running config is asked again)."""
        repeats = 0
        for _ in range(self._settings.rejection.max_in_a_row + 1):
            config = self._space.decode(next(rows))
            if not self._allowed(config):
                self._record.rejected += 1
                continue
            row = self._space.encode(config)  # the canonical row of the config (integers at bin centres)
            if not self._book.running(row) or repeats >= self._settings.candidates.count:
                return config, row
            repeats += 1
        raise RuntimeError(
            f"the constraint rejected {self._settings.rejection.max_in_a_row + 1} sampled configs in a row; "
            "check that it can be satisfied inside the search space"
        )

    def _rows(self) -> Iterator[np.ndarray]:
        """Latent rows to try, best first: the startup design, then the proposals ranked by the
        model (a fresh batch whenever one runs out, which only a constraint can cause)."""
        while (row := self._opening.next_row()) is not None:
            yield row
        while True:
            yield from self._proposals()

    def _proposals(self) -> np.ndarray:
        """x_1..x_M ~ pi (and l), ranked by log l(x) - log g(x) and reranked by expected improvement;
        plain policy samples while the model has too little to go on."""
        warm = self._warm_start
        extra = None if warm is None else warm.points(warm.weight(self.n_told))
        groups = self._density.groups(self._history, self._book, self._scalarize, self._rng, extra)
        if groups is None or self._settings.candidates.count == 1:
            candidates = self._policy.sample(self._rng, self._settings.candidates.count)
            log_ok = self._failures.score(candidates, self._history, self.n_told)
            return candidates if log_ok is None else candidates[(-log_ok).argsort(kind="stable")]
        good, bad = groups
        candidates = self._density.propose(self._rng, self._policy, good, len(self._book))
        log_ok = self._failures.score(candidates, self._history, self.n_told)  # None while nothing failed
        order = self._density.rank(candidates, good, bad, log_ok)
        feasible = None if log_ok is None else np.exp(log_ok)
        return candidates[self._rerank.rerank(candidates, order, self._history, self._book, self._scalarize, feasible)]

    def _scalarize(self, rewards: np.ndarray) -> np.ndarray:
        return self._objectives.scalarize(rewards, self._rng)

    def _allowed(self, config: Mapping[str, Any]) -> bool:
        return self._constraint is None or bool(self._constraint(dict(config)))

    # -- tell -------------------------------------------------------------------------------------
    def report(self, trial_id: Hashable, value: Any, level: int) -> bool:
        """An intermediate result of a pending trial at ``level`` (a training iteration; single
        objective), which the model weighs by its quantile at that level; False (nothing learned)
        for an unknown trial or a value that is not a finite number."""
        reward = self._objectives.reward(value)
        if reward is None or reward.size != 1 or not self._learns_from(trial_id):
            return False
        return self._book.report(trial_id, level, float(reward[0]))

    def tell(
        self, config: Mapping[str, Any], value: Any, trial_id: Hashable | None = None, level: int | None = None
    ) -> bool:
        """Learn from one evaluated config; False (nothing learned) when ``value`` is not a finite
        number per objective (a NaN or inf is a failure, see ``fail``); a pending ``trial_id`` is
        resolved either way. ``level``: the training iteration of a trial a scheduler stopped early,
        whose value then counts rung-aware, Q_T(F_r(value)) (see ``_rungs``)."""
        with one_blas_thread():
            learns = self._learns_from(trial_id)
            row, last = self._book.release(trial_id) if trial_id is not None else (None, None)
            reward = self._objectives.reward(value)
            if reward is None:
                self._record.failed += 1
                if self._objectives.diverged(value):  # NaN or inf: the run diverged, a failure of the config
                    self._record.crashed += 1
                    self._failures.add(self._space.encode(config) if row is None else row, self.n_told)
                return False
            row = self._space.encode(config) if row is None else row
            if level is not None and reward.size == 1:
                reward = np.array([self._book.calibrate(level, float(reward[0]), last)])
            if self._warm_start is not None and reward.size == 1:  # a contradicted warm start resets the policy
                self._warm_start.judge(row, float(reward[0]), self.n_told, self._policy, self._opening)
            if learns:
                self._history.add(row, reward)
            self._record.told += 1
            new_best = reward.size == 1 and reward[0] > self._record.best_reward and self._allowed(config)
            if new_best:
                self._record.best_reward, self._record.best_config = float(reward[0]), copy_config(config)
            if len(self._history) >= 2 and learns:  # one policy-gradient step on the window
                rows, rewards = self._history.arrays()
                utilities = self._policy.update(rows, self._scalarize(rewards), self._space.active(rows))
                for ext in self._extensions:
                    ext.on_update(self.view(), utilities)
            for ext in self._extensions:
                ext.on_result(self, trial_id, reward, new_best)
            return True

    def _learns_from(self, trial_id: Hashable | None) -> bool:
        return all(ext.learns_from(trial_id) for ext in self._extensions)

    def fail(self, trial_id: Hashable | None = None, config: Mapping[str, Any] | None = None) -> None:
        """A trial crashed (an exception, out of memory): its config is evidence for the failure model.
        Give the pending ``trial_id``, or the ``config`` of a trial that was never asked."""
        row = self._book.release(trial_id)[0] if trial_id is not None else None
        if row is None and config is not None:
            row = self._space.encode(config)
        if row is not None:
            self._record.failed += 1
            self._record.crashed += 1
            self._failures.add(row, self.n_told)

    def forget(self, trial_id: Hashable) -> None:
        """Drop a pending trial that will never report and did not fail (cancelled, stopped by the
        user, or stopped by a scheduler before it reported); no evidence either way."""
        if self._book.release(trial_id)[0] is not None:
            self._record.failed += 1

    def start_over(self) -> None:
        """A fresh search in the same space: the policy cold, the window empty, a new startup design
        (for extensions; the counts, the best config and the trials in flight stay)."""
        s = self._settings
        self._policy.reset()
        self._history = History(s.history.window, self._space.dim, len(self._objectives))
        self._opening.rows = list(self._space.latin_hypercube(self._rng, s.startup.size))
        self._rerank.reset()

    # -- what it knows ----------------------------------------------------------------------------
    n_asked = property(lambda self: self._record.asked, doc="Configs asked so far.")
    n_told = property(lambda self: self._record.told, doc="Finite results told so far.")
    n_failed = property(lambda self: self._record.failed, doc="Trials not learned from: failed, not finite, forgotten.")
    n_crashed = property(lambda self: self._record.crashed, doc="Trials that failed (``fail``, NaN or inf).")
    n_rejected = property(lambda self: self._record.rejected, doc="Sampled configs the constraint refused.")
    space = property(lambda self: self._space, doc="The compiled search space.")
    settings = property(lambda self: self._settings, doc="The settings of the search.")

    @property
    def best_config(self) -> dict | None:
        """The best config told so far that satisfies the constraint (single objective only)."""
        return copy_config(self._record.best_config)

    @property
    def best_value(self) -> float | None:
        """The best metric value told so far, in the metric's own sign (single objective only; for
        several objectives see ``ray_pgsearch.pareto``)."""
        if self._record.best_config is None:
            return None
        return self._objectives.value(self._record.best_reward)

    def view(self) -> SearchView:
        """A read-only view of the search in the user's units (what integrations read)."""
        return SearchView(self)

    def snapshot(self) -> Snapshot:
        """What a later search warm-starts from: the space, the policy and the window's results."""
        state = {"policy": self._policy.state(), "history": self._history.state(), "space": self._space}
        return Snapshot.from_optimizer_state(state)

    def add_update_hook(self, hook: Callable[[SearchView, np.ndarray], None]) -> None:
        """Calls ``hook(view, utilities)`` after every policy update (not saved with the state)."""
        self._extensions.append(UpdateHook(hook))

    # -- state ------------------------------------------------------------------------------------
    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_extensions"] = [e for e in self._extensions if not e.transient]  # hooks may hold open files
        return state

    def state(self) -> dict[str, Any]:
        """The whole state as JSON values and numpy arrays (its layout: ``_state``)."""
        return optimizer_state(self)

    def save(self, path: str) -> None:
        """Writes a checkpoint file (zip of JSON and numpy arrays, no pickle; see ``_checkpoint``)."""
        _checkpoint.write(path, "optimizer", self.state())

    @classmethod
    def load(cls, source: str | Mapping[str, Any], space: Any = None, constraint: Any = None, extensions=()) -> Any:
        """The optimizer a checkpoint file of ``save`` (or a ``state()``) holds. ``space``: the search
        space given again (needed when its spec holds objects JSON cannot hold: classes, functions);
        ``constraint`` and ``extensions`` are code, not state: pass them again."""
        state = source if isinstance(source, Mapping) else _checkpoint.read(source, kinds=("optimizer",))[1]
        return restore_optimizer(cls, state, space, constraint, extensions)


def _renamed_prior(prior: Any, warm_start: Any) -> Any:
    warnings.warn("prior= is now warm_start= (the old name goes away in the next release)", DeprecationWarning, 3)
    if warm_start is not None:
        raise TypeError("pass warm_start= only (prior= is its old name)")
    return prior


_MOVED = {  # 0.2's public attributes of the optimizer, which 0.3 keeps private, and what to read instead
    "policy": "view().numeric and view().choices",
    "window": "view().results() and view().rewards",
    "pending": "view().n_running",
    "prior": "view().warm_start",
    "prior_weight": "view().warm_start.weight",
    "prior_trust": "view().warm_start.trust",
    "prior_rejected": "view().warm_start.rejected",
    "n_restarts": "the Restarts extension of the benchmark lab",
    "rng": "nothing: the generator is the search's own (seed= sets it)",
}


def _moved_attribute(self: PGOptimizer, name: str) -> Any:
    if name in _MOVED:
        raise AttributeError(f"PGOptimizer.{name} is private since 0.3: read {_MOVED[name]} instead")
    raise AttributeError(f"'PGOptimizer' object has no attribute {name!r}")


PGOptimizer.__getattr__ = _moved_attribute  # type: ignore[attr-defined]
