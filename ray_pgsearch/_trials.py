"""The Tune searcher's bookkeeping: metric and mode checks, live trials and their checkpoint form."""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ray.tune.search import ConcurrencyLimiter

from ._util import is_finite_number, is_number

__all__ = ["LiveTrial", "check_metric_mode", "decode_live", "diverged", "encode_live", "limited", "metric_value"]


@dataclass
class LiveTrial:
    """A suggested trial that has not completed: its config and its latest finite metric value."""

    config: dict
    value: Any = None
    iteration: int | None = None


def check_metric_mode(metric: Any, mode: Any) -> None:
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


def _metrics(metric: Any) -> list[str]:
    return [metric] if isinstance(metric, str) else list(metric or [])


def metric_value(result: Mapping[str, Any], metric: Any) -> Any:
    """The result's finite metric value (a list of them for several metrics), else None."""
    values = [result.get(m) for m in _metrics(metric)]
    if not values or any(not is_finite_number(v) for v in values):
        return None
    return values[0] if isinstance(metric, str) else values


def diverged(result: Mapping[str, Any], metric: Any) -> bool:
    """Whether the result reports a metric as a NaN or infinite number."""
    values = [result.get(m) for m in _metrics(metric)]
    return any(is_number(v) and not math.isfinite(float(v)) for v in values if v is not None)


def limited() -> bool:
    """Whether a ConcurrencyLimiter above this searcher gates it (it may sit above a wrapper that
    does not pass the limit down, as Repeater)."""
    frame: Any = sys._getframe(2)
    for _ in range(12):
        if frame is None:
            return False
        if isinstance(frame.f_locals.get("self"), ConcurrencyLimiter):
            return True
        frame = frame.f_back
    return False


def encode_live(codec: Any, trial_id: str, live: LiveTrial) -> list:
    return [codec.encode(trial_id), codec.encode(live.config), codec.encode(live.value), live.iteration]


def decode_live(codec: Any, item: list) -> tuple[str, LiveTrial]:
    trial_id, config, value, iteration = item
    return codec.decode(trial_id), LiveTrial(codec.decode(config), codec.decode(value), iteration)
