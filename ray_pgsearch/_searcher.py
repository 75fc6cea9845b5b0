"""PGSearcher: the thin Ray Tune ``Searcher`` adapter around the ask/tell core.

What reaches the policy (the documented rule):

* A trial that completes normally or is stopped by a scheduler is learned from with the metric of
  its last result; when that value is missing or not a finite number, the last finite value the
  trial reported through ``on_trial_result`` is used instead.
* A trial that errored (``error=True``), or that never reported a finite value of the metric
  (NaN, inf, None, a string, or no metric at all), is not learned from: it is counted in
  ``n_failed`` and never reaches the gradient or the model. When several trials in a row end that
  way, PGSearcher logs one warning that names the metric.
* A trial stopped by a scheduler at iteration r, before the longest trials' length, counts with its
  rung-aware value (``_rungs``): its quantile among the values trials reported at r, mapped to the
  same quantile of the values at the longest length.
* Completions of trial ids this searcher did not suggest (e.g. ``restart_errored`` after a
  restore) and second completions of the same id are ignored.

Metric and mode follow Ray Tune's built-in searchers: given only a mode, the search uses Tune's
anonymous metric (what a function trainable's ``return value`` reports); metric and mode passed by
Tune take precedence over the constructor's when the space comes from Tune's ``param_space``, and
only fill in what the constructor left open when the searcher has its own space.
"""

from __future__ import annotations

import copy
import logging
import os
import pickle
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ray.tune.result import DEFAULT_METRIC
from ray.tune.search import Searcher

from ._optimizer import PGOptimizer, as_reward
from ._prior import as_list, load_prior, optimizer_of
from ._settings import Settings
from ._space import SearchSpace
from ._util import copy_config, seconds

__all__ = ["PGSearcher"]

logger = logging.getLogger(__name__)

_STATE_FORMAT = 2
_NONFINITE_STREAK_WARNING = 3  # completions in a row without a finite metric value before the warning


@dataclass
class _LiveTrial:
    """A suggested trial that has not completed: its config and its latest finite metric value."""

    config: dict
    value: Any = None
    iteration: int | None = None


def _check_metric_mode(metric: Any, mode: Any) -> None:
    """ValueError unless mode is "min"/"max" (or a list of them, one per metric of a list)."""
    modes = mode if isinstance(mode, (list, tuple)) else [mode]
    if mode is not None and (not modes or any(m not in ("min", "max") for m in modes)):
        raise ValueError(f"mode must be 'min' or 'max', or a list of them (one per metric), got {mode!r}")
    if metric is not None:
        metrics = metric if isinstance(metric, (list, tuple)) else [metric]
        if not metrics or any(not isinstance(m, str) for m in metrics):
            raise ValueError(f"metric must be a name or a list of names, got {metric!r}")
        if mode is not None and (
            isinstance(metric, (list, tuple)) != isinstance(mode, (list, tuple)) or len(metrics) != len(modes)
        ):
            raise ValueError(f"metric {metric!r} and mode {mode!r} need one mode per metric")


class PGSearcher(Searcher):
    """Suggests trial configs from a policy over the search space that learns from trial results.

    Args:
        space: a Tune search space (nested dict of ``tune.*`` domains and constants). Optional: the
            ``param_space`` given to ``tune.Tuner`` is used otherwise.
        metric, mode: the metric (or list of metrics) to optimize and ``"min"``/``"max"`` (or one per
            metric); optional here when given to ``tune.TuneConfig`` together with a ``param_space``.
            With a mode and no metric, Tune's anonymous metric is used.
        points_to_evaluate: configs to try first, in order (nested dicts over the space's keys); a
            key a point leaves out is drawn from the policy when the point is run.
        evaluated_rewards: metric values of ``points_to_evaluate`` already known: the policy learns
            from them instead of running them (these points must be complete).
        seed: seed of the one random generator behind every suggestion (saved in checkpoints).
        log_dir: where the policy's TensorBoard events go (see ``ray_pgsearch.tensorboard``). By
            default, inside Tune, ``<experiment dir>/pgsearch``, learned from the first ``save``.
        log_every_s: the least seconds between two writes of the policy to TensorBoard (a write costs
            a few milliseconds; the latest update is written at the next write or ``save``); 0 writes
            every update.
        constraint: a picklable function config -> bool; configs it refuses are never suggested
            (``points_to_evaluate`` excepted), and the best config reported always satisfies it.
        prior: an earlier search to start from (warm start): a Tune experiment directory, a searcher
            checkpoint file, a ``PGSearcher`` or ``PGOptimizer``, or a list of them. The policy starts
            from the earlier one where the spaces share parameters (matched by key path, mapped through
            their values), and the earlier results join the model at a weight that halves every
            ``prior_halflife`` results and falls when this search's results disagree with them.
            A source that is not a PGSearcher checkpoint, or that shares no parameter with the space,
            raises a ValueError.
        settings: a ``ray_pgsearch.Settings``; keyword ``overrides`` (e.g. ``n_startup=10``) replace
            single fields of it (or of the defaults).
    """

    def __init__(
        self,
        space: Mapping[str, Any] | None = None,
        metric: str | Sequence[str] | None = None,
        mode: str | Sequence[str] | None = None,
        points_to_evaluate: Sequence[Mapping[str, Any]] | None = None,
        evaluated_rewards: Sequence[Any] | None = None,
        seed: int | None = None,
        log_dir: str | None = None,
        log_every_s: float = 1.0,
        constraint: Callable[[dict], bool] | None = None,
        prior: Any = None,
        settings: Settings | None = None,
        **overrides: Any,
    ):
        _check_metric_mode(metric, mode)
        metric = list(metric) if isinstance(metric, tuple) else metric
        mode = list(mode) if isinstance(mode, tuple) else mode
        super().__init__(metric=metric, mode=mode)  # type: ignore[arg-type]
        self._settings = Settings.from_args(settings, **overrides)
        points = list(points_to_evaluate or [])
        if evaluated_rewards is not None and len(evaluated_rewards) != len(points):
            raise ValueError("evaluated_rewards needs one value per point of points_to_evaluate")
        self._seed = seed
        self._log_dir = log_dir
        self._log_every_s = seconds("log_every_s", log_every_s)
        self._constraint = constraint
        # the earlier searches themselves, so a restore or requeue never needs their files again
        self._prior = None if prior is None else [copy.deepcopy(optimizer_of(p)) for p in as_list(prior)]
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
        self._live: dict[str, _LiveTrial] = {}
        self._nonfinite_streak = 0
        self._warned_nonfinite = False
        self.max_concurrent: int | None = None

    def _set_space(self, space: SearchSpace) -> None:
        """Adopts a compiled space and checks the points against it (a ValueError before any trial)."""
        for point in self._user_points:
            space.check_point(point)
        for point, _ in self._evaluated:
            space.complete(point)  # a known result needs the whole config
        if self._prior is not None:
            load_prior(self._prior, space, self._settings.min_std, self._settings.max_std)  # fits the space?
        self._space = space

    # -- setup ------------------------------------------------------------------------------------
    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        """Takes the space from Tune's ``param_space`` (returns True) unless the constructor gave one
        (returns False, as Tune expects). Tune's metric and mode take precedence over the
        constructor's with Tune's space, and fill in what the constructor left open otherwise."""
        if self._opt is not None:
            return False
        _check_metric_mode(metric, mode)
        if self._space is not None:
            self._adopt(self._metric or metric, self._mode or mode)
            return False
        self._adopt(metric or self._metric, mode or self._mode)
        self._set_space(SearchSpace(config))
        return True

    def _adopt(self, metric: Any, mode: Any) -> None:
        """Takes metric and mode merged from the constructor's and Tune's, once they fit together
        (e.g. not Tune's single metric with the constructor's list of modes)."""
        _check_metric_mode(metric, mode)
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
                    "PGSearcher has no search space: pass PGSearcher(space=...) or tune.Tuner(param_space=...)"
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
                prior=self._prior,
                settings=self._settings,
            )
            self._prior = None  # mapped into the optimizer's state now
            if self._log_dir is not None:
                self._attach_writer(self._log_dir)
            for point, value in self._evaluated:
                self._opt.tell(self._opt.space.complete(point), value)
        return self._opt

    def _attach_writer(self, log_dir: str) -> None:
        """Writes the policy to TensorBoard after updates (at most once a second), from now on."""
        from .tensorboard import PolicyWriter

        every_s = getattr(self, "_log_every_s", 1.0)  # a checkpoint without the field: the default
        self._writer = PolicyWriter(log_dir, every_s=every_s)
        self.optimizer.add_update_hook(self._writer)

    # -- the Searcher contract --------------------------------------------------------------------
    def suggest(self, trial_id: str) -> dict | None:
        if self.max_concurrent is None and not self._live and self.optimizer.n_asked == 0:
            logger.warning(
                "PGSearcher: without tune.TuneConfig(max_concurrent_trials=N) Ray Tune keeps one trial pending "
                "for a custom searcher, so trials start one at a time and short ones run one after another; "
                "set it to the number of trials to run at once."
            )
        config = self.optimizer.ask(trial_id)
        self._live[trial_id] = _LiveTrial(config)
        return copy_config(config)

    def _metric_value(self, result: Mapping[str, Any]) -> Any:
        """The result's finite metric value (a list of them for several metrics), else None."""
        metrics = [self._metric] if isinstance(self._metric, str) else self._metric
        values = [result.get(m) for m in metrics or []]
        if not values or any(as_reward(v, "max") is None for v in values):
            return None
        return values[0] if isinstance(self._metric, str) else values

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        """Keeps the trial's latest finite metric value (the fallback if its last result has none)
        and adds it to the reference values of its training iteration."""
        live = self._live.get(trial_id)
        value = self._metric_value(result)
        if live is not None and value is not None:
            live.value, live.iteration = value, result.get("training_iteration")
            if live.iteration is not None and isinstance(self._metric, str):  # rungs: single metric only
                self.optimizer.report(trial_id, value, live.iteration)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        live = self._live.pop(trial_id, None)
        if live is None:
            logger.debug("PGSearcher ignores the completion of unknown or finished trial %s", trial_id)
            return
        value, iteration = live.value, live.iteration
        final = self._metric_value(result or {})
        if final is not None:  # the stopping result of a scheduler skips on_trial_result
            value, iteration = final, (result or {}).get("training_iteration")
        if error or value is None:
            self.optimizer.forget(trial_id)
            if not error:
                self._note_nonfinite(result)
            return
        self._nonfinite_streak = 0
        level = iteration if isinstance(self._metric, str) else None
        self.optimizer.tell(live.config, value, trial_id, level=level)

    def _note_nonfinite(self, result: Mapping[str, Any] | None) -> None:
        """One warning when trials keep finishing without a finite metric value: such a search
        never learns."""
        self._nonfinite_streak += 1
        if self._nonfinite_streak >= _NONFINITE_STREAK_WARNING and not self._warned_nonfinite:
            self._warned_nonfinite = True
            seen = sorted(k for k in (result or {}) if not k.startswith("config/"))[:12]
            logger.warning(
                "PGSearcher: the last %d trials finished without a finite value of %r (NaN, inf, None or "
                "missing), so the search learns nothing from them. Keys of the last result: %s",
                self._nonfinite_streak,
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
        return {"format": _STATE_FORMAT, "state": copy.deepcopy(self.__getstate__())}

    def set_state(self, state: dict) -> None:
        if not isinstance(state, dict) or state.get("format") != _STATE_FORMAT:
            raise ValueError("not a PGSearcher state of this version (unknown format)")
        self.__dict__.update(copy.deepcopy(state["state"]))
        if self._log_dir is not None and self._opt is not None:
            self._attach_writer(self._log_dir)

    def save(self, checkpoint_path: str) -> None:
        """Pickles the whole state (space, policy, window, pending trials, random generator).

        Tune's ``save_to_dir`` calls this with a temporary name and renames the file afterwards, so a
        crash never leaves half a checkpoint. Without an explicit ``log_dir``, the policy's events go
        to ``pgsearch/`` next to the checkpoint: Tune saves into the experiment's staging directory,
        which it syncs to the experiment directory, and never tells a searcher that directory."""
        if self._writer is None and self._log_dir is None and self._opt is not None:
            self._attach_writer(os.path.join(os.path.dirname(os.path.abspath(checkpoint_path)), "pgsearch"))
        if self._writer is not None:
            self._writer.flush()  # Tune saves at the end of a run: the last update reaches TensorBoard
        with open(checkpoint_path, "wb") as f:
            pickle.dump({"format": _STATE_FORMAT, "state": self.__getstate__()}, f)

    def restore(self, checkpoint_path: str) -> None:
        """Loads a state written by ``save``; a missing or unreadable file raises ValueError."""
        try:
            with open(checkpoint_path, "rb") as f:
                state = pickle.load(f)
        except FileNotFoundError:
            raise ValueError(f"no PGSearcher checkpoint at {checkpoint_path}") from None
        except Exception as e:  # a truncated or foreign file: say so instead of a pickle traceback
            raise ValueError(f"cannot read the PGSearcher checkpoint {checkpoint_path}: {e!r}") from None
        self.set_state(state)
