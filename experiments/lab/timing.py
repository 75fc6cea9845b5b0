"""The lab's one timing wrapper: `TimedSearcher` forwards every hook of a Tune `Searcher` and adds the wall
and CPU (thread) time of its decisions to a `CallTimes`. The in-process driver, the time-to-solution
study and the scale study all measure a searcher's cost through it."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from ray.tune.search import Searcher

DECISIONS = ("suggest", "on_trial_result", "on_trial_complete")  # what a searcher's cost per trial counts


class CallTimes:
    """Per named call: how many, their wall and CPU seconds, and the longest wall time of one."""

    def __init__(self) -> None:
        self.calls: dict[str, list[float]] = {}

    @contextlib.contextmanager
    def timed(self, name: str) -> Iterator[None]:
        """Add the time of the block to `name`."""
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            yield
        finally:
            wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
            entry = self.calls.setdefault(name, [0, 0.0, 0.0, 0.0])
            entry[0] += 1
            entry[1] += wall
            entry[2] += cpu
            entry[3] = max(entry[3], wall)

    def wall(self, names: tuple[str, ...] = DECISIONS) -> float:
        """Wall seconds of the named calls together."""
        return sum(self.calls[name][1] for name in names if name in self.calls)

    def as_dict(self) -> dict[str, dict[str, float]]:
        """{name: {calls, wall_s, cpu_s, max_wall_s}}, JSON-ready."""
        fields = ("calls", "wall_s", "cpu_s", "max_wall_s")
        return {name: dict(zip(fields, entry, strict=True)) for name, entry in self.calls.items()}


class TimedSearcher(Searcher):
    """Forwards every hook to `searcher`, timing ``suggest``, ``on_trial_result``, ``on_trial_complete`` and
    ``save`` in `times`.

    With `wrapper` (the default) Tune sees a wrapper (a ``searcher`` attribute): a ``ConcurrencyLimiter``
    inside still sets Tune's pending-trial depth, a scheduler's ``on_pause`` and ``on_unpause`` reach the
    searcher, and Tune checkpoints the searcher itself, past this wrapper (so ``save`` is not timed).
    Without, Tune takes this object for the searcher and checkpoints it through ``save``, timed, which
    writes the searcher's own file."""

    def __init__(self, searcher: Searcher, times: CallTimes | None = None, wrapper: bool = True) -> None:
        super().__init__(metric=searcher.metric, mode=searcher.mode)
        self.inner = searcher
        if wrapper:
            self.searcher = searcher
        self.times = times if times is not None else CallTimes()

    @property
    def seconds(self) -> float:
        """Wall seconds spent in the searcher's decisions (suggest and the results it was told)."""
        return self.times.wall()

    @property
    def metric(self) -> str:
        return self.inner.metric

    @property
    def mode(self) -> str:
        return self.inner.mode

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        return self.inner.set_search_properties(metric, mode, config, **spec)

    def set_max_concurrency(self, max_concurrent: int) -> bool:
        return self.inner.set_max_concurrency(max_concurrent)

    def suggest(self, trial_id: str) -> dict | str | None:
        with self.times.timed("suggest"):
            return self.inner.suggest(trial_id)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        with self.times.timed("on_trial_result"):
            self.inner.on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        with self.times.timed("on_trial_complete"):
            self.inner.on_trial_complete(trial_id, result=result, error=error)

    def add_evaluated_point(self, *args: Any, **kwargs: Any) -> None:
        self.inner.add_evaluated_point(*args, **kwargs)

    def on_pause(self, trial_id: str) -> None:
        self.inner.on_pause(trial_id)  # type: ignore[attr-defined]

    def on_unpause(self, trial_id: str) -> None:
        self.inner.on_unpause(trial_id)  # type: ignore[attr-defined]

    def save(self, checkpoint_path: str) -> None:
        with self.times.timed("save"):
            self.inner.save(checkpoint_path)

    def restore(self, checkpoint_path: str) -> None:
        self.inner.restore(checkpoint_path)

    def get_state(self) -> dict:
        return {"times": self.times.calls}

    def set_state(self, state: dict) -> None:
        self.times.calls = state["times"]
