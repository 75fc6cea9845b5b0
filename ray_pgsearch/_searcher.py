"""PGSearcher: the thin Ray Tune ``Searcher`` adapter around the ask/tell core.

What reaches the policy: a completed trial, or one a scheduler stopped, with the metric of its last
result (or its last finite intermediate value; rung-aware when a scheduler stopped it early). A
trial that raised, or whose metric was NaN or infinite, failed: its config feeds the failure model,
never the gradient. A trial that never reported the metric is not learned from; several in a row
get one warning. Completions of unknown or finished trial ids are ignored. Metric and mode follow
Tune's built-in searchers (a mode alone means Tune's anonymous metric; Tune's values win with
Tune's ``param_space``). The user guide's "What reaches the policy" spells each case out.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ray.tune.result import DEFAULT_METRIC
from ray.tune.search import Searcher

from . import _checkpoint
from ._extension import Extension
from ._legacy import read_legacy
from ._optimizer import PGOptimizer
from ._settings import Settings
from ._snapshot import Snapshot, as_list, snapshot_of
from ._space import SearchSpace
from ._state import check_space
from ._trials import LiveTrial, check_metric_mode, decode_live, diverged, encode_live, limited, metric_value
from ._util import copy_config, seconds
from ._view import SearchView
from ._warm_start import WarmStart

__all__ = ["PGSearcher"]

logger = logging.getLogger(__name__)

_NONFINITE_STREAK_WARNING = 3  # completions in a row without a finite metric value before the warning


class PGSearcher(Searcher):
    """Suggests trial configs from a policy over the search space that learns from trial results.

    Args:
        space: a Tune search space (nested dict of ``tune.*`` domains and constants). Optional: the
            ``param_space`` given to ``tune.Tuner`` is used otherwise.
        metric: the metric (or list of metrics) to optimize; optional here when given to
            ``tune.TuneConfig`` together with a ``param_space``.
        mode: ``"min"`` or ``"max"`` (or one per metric); with a mode and no metric, Tune's anonymous
            metric is used.
        points_to_evaluate: configs to try first, in order (nested dicts over the space's keys); a
            key a point leaves out is drawn from the policy when the point is run.
        evaluated_rewards: metric values of ``points_to_evaluate`` already known: the policy learns
            from them instead of running them (these points must be complete).
        seed: seed of the one random generator behind every suggestion (saved in checkpoints).
        log_dir: where the policy's TensorBoard events go (see ``ray_pgsearch.tensorboard``). By
            default, inside Tune, ``<experiment dir>/pgsearch``, learned from the first ``save``;
            ``False``: none.
        log_every_s: the least seconds between two writes of the policy to TensorBoard (a write costs
            a few milliseconds; the latest update is written at the next write or ``save``); 0 writes
            every update.
        constraint: a picklable function config -> bool; configs it refuses are never suggested
            (``points_to_evaluate`` excepted), and the best config reported always satisfies it.
        warm_start: an earlier search to start from (a Tune experiment directory, a searcher
            checkpoint file, a ``PGSearcher``, ``PGOptimizer`` or ``Snapshot``, or a list of them):
            its policy and results, mapped by key path and value (see the user guide); a ValueError
            when it holds no search or shares no parameter with the space.
        settings: a ``ray_pgsearch.Settings``; keyword ``overrides`` replace groups of it, as objects
            or dicts of their fields (``model={"gamma": 0.2}``).
        extensions: ``Extension`` objects the optimizer calls at fixed points of ask and tell.

    Example:
        ```python
        from ray import tune
        from ray_pgsearch import PGSearcher

        def train(config):
            return {"loss": (config["lr"] - 0.01) ** 2 + (config["act"] != "relu")}

        tuner = tune.Tuner(
            train,
            param_space={"lr": tune.loguniform(1e-4, 1e-1), "act": tune.choice(["relu", "tanh"])},
            tune_config=tune.TuneConfig(search_alg=PGSearcher(seed=0), metric="loss", mode="min",
                                        num_samples=40, max_concurrent_trials=4, reuse_actors=True),
        )
        best = tuner.fit().get_best_result().config
        ```
    """

    def __init__(
        self,
        space: Mapping[str, Any] | None = None,
        metric: str | Sequence[str] | None = None,
        mode: str | Sequence[str] | None = None,
        points_to_evaluate: Sequence[Mapping[str, Any]] | None = None,
        evaluated_rewards: Sequence[Any] | None = None,
        seed: int | None = None,
        log_dir: str | None | bool = None,
        log_every_s: float = 1.0,
        constraint: Callable[[dict], bool] | None = None,
        warm_start: Any = None,
        settings: Settings | None = None,
        *,
        extensions: Sequence[Extension] = (),
        **overrides: Any,
    ):
        check_metric_mode(metric, mode)
        metric = list(metric) if isinstance(metric, tuple) else metric
        mode = list(mode) if isinstance(mode, tuple) else mode
        super().__init__(metric=metric, mode=mode)  # type: ignore[arg-type]
        if "prior" in overrides:
            warnings.warn("prior= is now warm_start= (the old name goes away next release)", DeprecationWarning, 2)
            warm_start = overrides.pop("prior")
        self._settings = Settings.from_args(settings, **overrides)
        points = list(points_to_evaluate or [])
        if evaluated_rewards is not None and len(evaluated_rewards) != len(points):
            raise ValueError("evaluated_rewards needs one value per point of points_to_evaluate")
        self._seed = seed
        self._log_dir = log_dir
        self._log_every_s = seconds("log_every_s", log_every_s)
        self._constraint = constraint
        self._extensions = list(extensions)
        # the earlier searches' snapshots, so a restore or requeue never needs their files again
        self._warm_start: list[Snapshot] | None = None
        if warm_start is not None:
            self._warm_start = [snapshot_of(source) for source in as_list(warm_start)]
        self._user_points = points  # checked against the space (keys, constants, domains) once it is known
        if evaluated_rewards is None:
            self._points, self._evaluated = points, []
        else:
            self._points, self._evaluated = [], list(zip(points, evaluated_rewards, strict=True))
        self._space: SearchSpace | None = None
        if space is not None:
            self._set_space(SearchSpace(space))
        self._opt: PGOptimizer | None = None
        self._writer: Any = None  # the TensorBoard hook on the optimizer; never saved
        self._live: dict[str, LiveTrial] = {}
        self._nonfinite_streak = 0
        self._warned_nonfinite = False
        self.max_concurrent: int | None = None

    def _set_space(self, space: SearchSpace) -> None:
        """Adopts a compiled space and checks the points against it (a ValueError before any trial)."""
        for point in self._user_points:
            space.check_point(point)
        for point, _ in self._evaluated:
            space.complete(point)  # a known result needs the whole config
        if self._warm_start is not None:  # fits the space?
            WarmStart.of(
                self._warm_start, space, self._settings.warm_start, self._settings.policy, 2, self._settings.model
            )
        self._space = space

    # -- setup ------------------------------------------------------------------------------------
    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        """Takes the space from Tune's ``param_space`` (returns True) unless the constructor gave one
        (returns False, as Tune expects). Tune's metric and mode take precedence over the
        constructor's with Tune's space, and fill in what the constructor left open otherwise. The
        space is checked here, before the first trial: a ValueError names the key and the fix."""
        if self._opt is not None:
            return False
        check_metric_mode(metric, mode)
        if self._space is not None:
            self._adopt(self._metric or metric, self._mode or mode)
            return False
        self._adopt(metric or self._metric, mode or self._mode)
        try:
            space = SearchSpace(config)
        except ValueError as e:
            raise ValueError(f"PGSearcher cannot search Tune's param_space: {e}") from None
        self._set_space(space)
        return True

    def _adopt(self, metric: Any, mode: Any) -> None:
        """Takes metric and mode merged from the constructor's and Tune's, once they fit together
        (e.g. not Tune's single metric with the constructor's list of modes)."""
        check_metric_mode(metric, mode)
        self._metric, self._mode = metric, mode
        self._default_metric()

    def _default_metric(self) -> None:
        """With a single mode and no metric: Tune's anonymous metric, as its built-in searchers use."""
        if self._metric is None and isinstance(self._mode, str):
            self._metric = DEFAULT_METRIC

    def set_max_concurrency(self, max_concurrent: int) -> bool:
        """Remembers the limit; returns False so Tune's ConcurrencyLimiter does the gating."""
        self.max_concurrent = max_concurrent
        return False

    @property
    def optimizer(self) -> PGOptimizer:
        """The ask/tell core, built on first use once space, metric and mode are known."""
        if self._opt is None:
            if self._space is None:
                raise RuntimeError(
                    "PGSearcher has no search space: Tune hands a searcher the param_space only when it holds "
                    "something; pass tune.Tuner(param_space={...tune.uniform/tune.choice...}) or "
                    "PGSearcher(space=...)"
                )
            if self._mode is None:
                raise RuntimeError(
                    "PGSearcher has no mode: pass PGSearcher(metric=..., mode=...), or give them to "
                    "tune.TuneConfig together with a param_space"
                )
            self._default_metric()
            if self._metric is None:
                raise RuntimeError("PGSearcher with a list of modes needs the list of metrics too")
            self._opt = PGOptimizer(
                self._space,
                self._mode,
                self._seed,
                self._points,
                constraint=self._constraint,
                warm_start=self._warm_start,
                settings=self._settings,
                extensions=self._extensions,
            )
            self._warm_start = None  # mapped into the optimizer's state now
            if isinstance(self._log_dir, str):
                self._attach_writer(self._log_dir)
            for point, value in self._evaluated:
                self._opt.tell(self._opt.space.complete(point), value)
        return self._opt

    def view(self) -> SearchView:
        """A read-only view of the search in the user's units (``PGOptimizer.view``)."""
        return self.optimizer.view()

    def snapshot(self) -> Snapshot:
        """What a later search warm-starts from (``PGOptimizer.snapshot``)."""
        return self.optimizer.snapshot()

    def _attach_writer(self, log_dir: str) -> None:
        """Writes the policy to TensorBoard after updates (at most once a second), from now on."""
        from .tensorboard import PolicyWriter

        self._writer = PolicyWriter(log_dir, every_s=self._log_every_s)
        self.optimizer.add_update_hook(self._writer)

    # -- the Searcher contract --------------------------------------------------------------------
    def suggest(self, trial_id: str) -> dict | None:
        """The config of a new trial (Tune calls this)."""
        if self.max_concurrent is None and not self._live and self.optimizer.n_asked == 0 and not limited():
            logger.warning(
                "PGSearcher: without tune.TuneConfig(max_concurrent_trials=N) Ray Tune keeps one trial pending "
                "for a custom searcher, so trials start one at a time and short ones run one after another; "
                "set it to the number of trials to run at once."
            )
        config = self.optimizer.ask(trial_id)
        self._live[trial_id] = LiveTrial(config)
        return copy_config(config)

    def close(self) -> None:
        """Writes the latest policy update and closes its TensorBoard event files."""
        if self._writer is not None:
            self._writer.close()

    def on_pause(self, trial_id: str) -> None:
        """A scheduler paused the trial (HyperBandForBOHB): it stays in flight for the search."""

    def on_unpause(self, trial_id: str) -> None:
        """A paused trial goes on."""

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        """Keeps the trial's latest finite metric value (the fallback if its last result has none)
        and adds it to the reference values of its training iteration."""
        live = self._live.get(trial_id)
        value = metric_value(result, self._metric)
        if live is not None and value is not None:
            live.value, live.iteration = value, result.get("training_iteration")
            if live.iteration is not None and isinstance(self._metric, str):  # rungs: single metric only
                self.optimizer.report(trial_id, value, live.iteration)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        """A trial ended: learned from, a failure, or dropped (the module docstring's rules)."""
        live = self._live.pop(trial_id, None)
        if live is None:
            logger.debug("PGSearcher ignores the completion of unknown or finished trial %s", trial_id)
            return
        value, iteration = live.value, live.iteration
        final = metric_value(result or {}, self._metric)
        if final is not None:  # the stopping result of a scheduler skips on_trial_result
            value, iteration = final, (result or {}).get("training_iteration")
        if error or value is None:
            failed = error or diverged(result or {}, self._metric)
            if failed:  # an exception, or NaN / inf: evidence of a failure
                self.optimizer.fail(trial_id)
            else:  # stopped before it reported, or never reported the metric: no evidence
                self.optimizer.forget(trial_id)
            if not error:
                self._note_nonfinite(result, failed)
            return
        self._nonfinite_streak = 0
        level = iteration if isinstance(self._metric, str) else None
        self.optimizer.tell(live.config, value, trial_id, level=level)

    def _note_nonfinite(self, result: Mapping[str, Any] | None, failed: bool) -> None:
        """One warning when trials keep finishing without a finite value of the metric and the search
        learns nothing: three in a row that never reported it, or nothing but NaN or inf so far."""
        self._nonfinite_streak += 0 if failed else 1
        stuck = self._nonfinite_streak >= _NONFINITE_STREAK_WARNING
        stuck |= self.optimizer.n_told == 0 and self.optimizer.n_crashed >= _NONFINITE_STREAK_WARNING
        if stuck and not self._warned_nonfinite:
            self._warned_nonfinite = True
            seen = sorted(k for k in (result or {}) if not k.startswith("config/"))[:12]
            logger.warning(
                "PGSearcher: trials keep finishing without a finite value of %r (NaN, inf, None or missing), "
                "so the search learns nothing from them. Keys of the last result: %s",
                self._metric,
                seen,
            )

    def add_evaluated_point(
        self,
        parameters: dict,
        value: float,
        error: bool = False,
        pruned: bool = False,
        intermediate_values: list | None = None,
    ) -> None:
        """Warm start: learn from a config evaluated elsewhere, without running it."""
        if error:
            return
        if self._opt is None:
            if self._space is not None:
                self._space.complete(parameters)  # a ValueError now for a foreign or partial config
            self._evaluated.append((parameters, value))
        else:
            self._opt.tell(self._opt.space.complete(parameters), value)

    # -- checkpoints ------------------------------------------------------------------------------
    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_writer"] = None  # holds open event files; attached again where needed
        return state

    def get_state(self) -> dict:
        """The state as JSON values and numpy arrays (what ``save`` writes); a subclass with state of
        its own extends this and ``set_state``."""
        space = self._opt.space if self._opt is not None else self._space
        codec = space.codec() if space is not None else None
        return {
            "metric": self._metric,
            "mode": self._mode,
            "space": None if space is None else space.describe(),
            "optimizer": None if self._opt is None else self._opt.state(),
            "evaluated": [] if codec is None else codec.encode([list(e) for e in self._evaluated]),
            "live": [] if codec is None else [encode_live(codec, t, live) for t, live in self._live.items()],
            "nonfinite_streak": self._nonfinite_streak,
            "warned_nonfinite": self._warned_nonfinite,
            "max_concurrent": self.max_concurrent,
        }

    def set_state(self, state: dict) -> None:
        """Takes back a state of ``get_state`` (or a checkpoint's)."""
        if not isinstance(state, dict) or "optimizer" not in state or "live" not in state:
            raise ValueError("not a PGSearcher state (get_state's layout)")
        self._metric, self._mode = state["metric"], state["mode"]
        if state["space"] is not None:
            self._space = check_space(state, self._space)
        self.max_concurrent = state["max_concurrent"]
        self._nonfinite_streak, self._warned_nonfinite = state["nonfinite_streak"], state["warned_nonfinite"]
        codec = self._space.codec() if self._space is not None else None
        self._evaluated = [] if codec is None else [tuple(e) for e in codec.decode(state["evaluated"])]
        self._live = {} if codec is None else dict(decode_live(codec, item) for item in state["live"])
        self._opt = None
        if state["optimizer"] is not None:
            self._opt = PGOptimizer.load(state["optimizer"], self._space, self._constraint, self._extensions)
            self._warm_start = None
            if isinstance(self._log_dir, str):
                self._attach_writer(self._log_dir)

    def save(self, checkpoint_path: str) -> None:
        """Writes the whole state (space, policy, window, pending trials, random generator) as a
        checkpoint file: a zip of JSON and numpy arrays, no pickle (``ray_pgsearch._checkpoint``).

        Tune's ``save_to_dir`` calls this with a temporary name and renames the file afterwards, so a
        crash never leaves half a checkpoint. Without an explicit ``log_dir``, the policy's events go
        to ``pgsearch/`` next to the checkpoint: Tune saves into the experiment's staging directory,
        which it syncs to the experiment directory, and never tells a searcher that directory."""
        if self._writer is None and self._log_dir is None and self._opt is not None:  # log_dir=False: never
            self._attach_writer(os.path.join(os.path.dirname(os.path.abspath(checkpoint_path)), "pgsearch"))
        if self._writer is not None:
            self._writer.flush()  # Tune saves at the end of a run: the last update reaches TensorBoard
        _checkpoint.write(checkpoint_path, "searcher", self.get_state())

    def restore(self, checkpoint_path: str) -> None:
        """Loads a checkpoint written by ``save`` (or by ray_pgsearch 0.2, a pickle read without
        running its code); a missing, foreign or newer file raises ``CheckpointError`` (a ValueError)."""
        try:
            _, state = _checkpoint.read(checkpoint_path, kinds=("searcher",))
        except _checkpoint.LegacyCheckpoint:
            _, state = read_legacy(checkpoint_path, self._space)
        self.set_state(state)
