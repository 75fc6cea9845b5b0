"""PGSearcher: the thin Ray Tune ``Searcher`` adapter around the ask/tell core.

What reaches the policy (the documented rule):

* A trial that completes normally or is stopped by a scheduler is learned from with the metric of
  its last result; when that value is missing or not a finite number, the last finite value the
  trial reported through ``on_trial_result`` is used instead.
* A trial that errored (``error=True``), or that never reported a finite value of the metric
  (NaN, inf, None, a string, or no metric at all), is not learned from: it is counted in
  ``n_failed`` and never reaches the gradient or the model.
* A trial stopped by a scheduler at iteration r, before the longest trials' length, counts with its
  rung-aware value (``ray_pgsearch.rungs``): its quantile among the values trials reported at r,
  mapped to the same quantile of the values at the longest length.
* Completions of trial ids this searcher did not suggest (e.g. ``restart_errored`` after a
  restore) and second completions of the same id are ignored.
"""

from __future__ import annotations

import logging
import os
import pickle
from typing import Any, Callable, Mapping, Sequence

from ray.tune.search import Searcher

from .optimizer import PGOptimizer, Settings, as_reward
from .rungs import RungCalibrator
from .space import SearchSpace

logger = logging.getLogger(__name__)

_STATE_FORMAT = 1


class PGSearcher(Searcher):
    """Suggests trial configs from a policy over the search space that learns from trial results.

    Args:
        space: a Tune search space (nested dict of ``tune.*`` domains and constants). Optional: the
            ``param_space`` given to ``tune.Tuner`` is used otherwise.
        metric, mode: the metric to optimize and ``"min"``/``"max"``; optional here when given
            to ``tune.TuneConfig`` together with a ``param_space``.
        points_to_evaluate: configs to try first, in order (nested dicts over the space's keys).
        evaluated_rewards: metric values of ``points_to_evaluate`` already known: the policy learns
            from them instead of running them.
        seed: seed of the one random generator behind every suggestion (saved in checkpoints).
        log_dir: where the policy's TensorBoard events go (see ``ray_pgsearch.tensorboard``). By
            default, inside Tune, ``<experiment dir>/pgsearch``, learned from the first ``save``.
        constraint: a picklable function config -> bool; configs it refuses are never suggested
            (``points_to_evaluate`` excepted), and the best config reported always satisfies it.
        **settings: algorithm settings, see ``ray_pgsearch.Settings`` (e.g. ``n_startup=10``).
    """

    def __init__(
        self,
        space: Mapping[str, Any] | None = None,
        metric: str | None = None,
        mode: str | None = None,
        points_to_evaluate: Sequence[Mapping[str, Any]] | None = None,
        evaluated_rewards: Sequence[Any] | None = None,
        seed: int | None = None,
        log_dir: str | None = None,
        constraint: Callable[[dict], bool] | None = None,
        **settings: Any,
    ):
        super().__init__(metric=metric, mode=mode)
        Settings(**settings)  # fail at construction on an unknown or invalid setting
        if evaluated_rewards is not None and len(evaluated_rewards) != len(points_to_evaluate or []):
            raise ValueError("evaluated_rewards needs one value per point of points_to_evaluate")
        self._settings = settings
        self._seed = seed
        self._log_dir = log_dir
        self._constraint = constraint
        self._space = SearchSpace(space) if space is not None else None
        if evaluated_rewards is None:
            self._points, self._evaluated = list(points_to_evaluate or []), []
        else:
            self._points, self._evaluated = [], list(zip(points_to_evaluate, evaluated_rewards))
        self._opt: PGOptimizer | None = None
        self._live: dict[str, list] = {}  # trial id -> [config, last finite metric value or None, its iteration]
        self._rungs = RungCalibrator()
        self.max_concurrent: int | None = None

    # -- setup ------------------------------------------------------------------------------------
    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        """Takes metric/mode where none were given, and the space from ``param_space`` when the
        constructor had none (returns False, as Tune expects, when it keeps its own space)."""
        if self._opt is not None:
            return False
        self._metric = self._metric or metric
        self._mode = self._mode or mode
        if self._space is not None:
            return False
        self._space = SearchSpace(config)
        return True

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
            if self._metric is None or self._mode is None:
                raise RuntimeError(
                    "PGSearcher has no metric/mode: pass PGSearcher(metric=..., mode=...), or give them to "
                    "tune.TuneConfig together with a param_space"
                )
            self._opt = PGOptimizer(
                self._space, self._mode, self._seed, self._points, log_dir=self._log_dir,
                constraint=self._constraint, **self._settings
            )
            for point, value in self._evaluated:
                self._opt.tell(self._opt.space.complete(point), value)
        return self._opt

    # -- the Searcher contract --------------------------------------------------------------------
    def suggest(self, trial_id: str) -> dict | None:
        if self.max_concurrent is None and not self._live and self.optimizer.n_asked == 0:
            logger.warning(
                "PGSearcher: without tune.TuneConfig(max_concurrent_trials=N) Ray Tune keeps one trial pending "
                "for a custom searcher, so trials start one at a time and short ones run one after another; "
                "set it to the number of trials to run at once."
            )
        config = self.optimizer.ask(trial_id)
        self._live[trial_id] = [config, None, None]
        return config

    def _metric_value(self, result: dict) -> Any:
        """The result's finite metric value (a list of them for several metrics), else None."""
        metrics = [self._metric] if isinstance(self._metric, str) else self._metric
        values = [result.get(m) for m in metrics]
        if any(as_reward(v, "max") is None for v in values):
            return None
        return values[0] if isinstance(self._metric, str) else values

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        """Keeps the trial's latest finite metric value (the fallback if its last result has none)
        and adds it to the reference values of its training iteration."""
        live = self._live.get(trial_id)
        value = self._metric_value(result)
        if live is not None and value is not None:
            live[1], live[2] = value, result.get("training_iteration")
            self._observe(live[2], value)

    def _observe(self, iteration: int | None, value: Any) -> None:
        if iteration is not None and isinstance(self._metric, str):  # rungs: single metric only
            self._rungs.observe(iteration, value)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        live = self._live.pop(trial_id, None)
        if live is None:
            logger.debug("PGSearcher ignores the completion of unknown or finished trial %s", trial_id)
            return
        config, value, iteration = live
        result = result or {}
        final = self._metric_value(result)
        if final is not None:
            value, iteration = final, result.get("training_iteration")
            self._observe(iteration, value)  # the stopping result skips on_trial_result
        if error or value is None:
            self.optimizer.forget(trial_id)
        else:
            if iteration is not None and isinstance(self._metric, str):
                value = self._rungs.calibrate(iteration, value)
            self.optimizer.tell(config, value, trial_id)

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
            self._evaluated.append((parameters, value))
        else:
            self._opt.tell(self._opt.space.complete(parameters), value)

    # -- checkpoints ------------------------------------------------------------------------------
    def get_state(self) -> dict:
        return {"format": _STATE_FORMAT, "state": dict(self.__dict__)}

    def set_state(self, state: dict) -> None:
        if not isinstance(state, dict) or state.get("format") != _STATE_FORMAT:
            raise ValueError("not a PGSearcher state (unknown format)")
        self.__dict__.update(state["state"])

    def save(self, checkpoint_path: str) -> None:
        """Pickles the whole state (space, policy, window, pending trials, random generator).

        Tune's ``save_to_dir`` calls this with a temporary name and renames the file afterwards, so a
        crash never leaves half a checkpoint (a second temporary file here only raced Tune's
        directory sync, which warned about vanished files). Without an explicit ``log_dir``, the
        policy's events go to ``pgsearch/`` next to the checkpoint (Tune saves into the experiment's
        staging directory, which it syncs to the experiment directory)."""
        directory = os.path.dirname(os.path.abspath(checkpoint_path))
        if self._log_dir is None and self._opt is not None:
            self._opt.log_dir = os.path.join(directory, "pgsearch")
        with open(checkpoint_path, "wb") as f:
            pickle.dump(self.get_state(), f)

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
