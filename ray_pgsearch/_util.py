"""Small primitives every layer uses: key paths into nested configs, copies of configs, numbers
that count as a result, and a softmax whose logits stay within a floor of the largest."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = [
    "KeyPath",
    "copy_config",
    "floor_logits",
    "get_path",
    "is_finite_number",
    "is_number",
    "mean_ranks",
    "path_str",
    "seconds",
    "set_path",
    "softmax",
    "tie_counts",
]

KeyPath = tuple  # a key path into a nested config, e.g. ("model", "layers", 0)


_BLAS: list | None = None  # threadpoolctl's controllers of this process's BLAS libraries, found on first use


class _OneBlasThread:
    """Sets every BLAS library that runs on more than one thread to one, and back on exit. It reads
    and sets the thread counts directly: threadpoolctl's own ``limit`` first gathers a full report
    of the libraries, which costs more than the search's matrix products."""

    def __init__(self, libraries: list):
        self._libraries = libraries
        self._saved: list[tuple[Any, int]] = []

    def __enter__(self) -> None:
        self._saved = [(lib, n) for lib in self._libraries if (n := lib.num_threads) != 1]
        for lib, _ in self._saved:
            lib.set_num_threads(1)

    def __exit__(self, *exc: object) -> None:
        for lib, n in self._saved:
            lib.set_num_threads(n)


def one_blas_thread() -> _OneBlasThread:
    """A context in which BLAS runs on one thread. The search's matrices are small (a window of
    results by a few hundred candidates), and a BLAS that spreads them over threads on a machine
    whose cores are busy with trials waits far longer than it computes."""
    global _BLAS
    if _BLAS is None:
        from threadpoolctl import ThreadpoolController

        _BLAS = ThreadpoolController().select(user_api="blas").lib_controllers
    return _OneBlasThread(_BLAS)


def path_str(path: KeyPath) -> str:
    """``("model", "lr")`` -> ``"model/lr"``, the way Tune names flattened keys."""
    return "/".join(str(p) for p in path)


def get_path(config: Any, path: KeyPath) -> Any:
    """The value at ``path`` in nested dicts and lists; KeyError, IndexError or TypeError when missing."""
    node = config
    for key in path:
        node = node[key]
    return node


def set_path(config: Any, path: KeyPath, value: Any) -> Any:
    """Puts ``value`` at ``path``, creating missing dicts on the way; returns ``config`` (the value
    itself for the empty path)."""
    if not path:
        return value
    node: Any = config
    for key in path[:-1]:
        if isinstance(node, dict):
            node = node.setdefault(key, {})
        else:
            node = node[key]
    node[path[-1]] = value
    return config


def copy_config(config: Any) -> Any:
    """A copy of the dicts and lists of a nested config; the leaves (values) are shared."""
    if isinstance(config, Mapping):
        return {k: copy_config(v) for k, v in config.items()}
    if isinstance(config, list):
        return [copy_config(v) for v in config]
    return config


def is_number(value: Any) -> bool:
    """A real number, bools excluded (``True`` is not a metric value or a parameter value)."""
    return not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))


def is_finite_number(value: Any) -> bool:
    """A real number that is neither NaN nor infinite: what counts as a reported result."""
    return is_number(value) and math.isfinite(float(value))


def seconds(name: str, value: Any) -> float:
    """``value`` as a duration in seconds: a number >= 0, else a ValueError naming ``name``."""
    if not (isinstance(value, (int, float)) and value >= 0):
        raise ValueError(f"{name} must be a number >= 0 (seconds), got {value!r}")
    return float(value)


def tie_counts(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each value, how many values are smaller and how many are equal to it (itself included)."""
    ordered = np.sort(values)
    below = ordered.searchsorted(values, "left")
    return below, ordered.searchsorted(values, "right") - below


def mean_ranks(values: np.ndarray) -> np.ndarray:
    """The 0-based rank of each value in ascending order; tied values share their mean rank."""
    below, equal = tie_counts(values)
    return below + 0.5 * (equal - 1)


def softmax(logits: np.ndarray) -> np.ndarray:
    """p_k = exp(theta_k) / sum_j exp(theta_j), computed stably (along the last axis)."""
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def floor_logits(logits: np.ndarray, max_prob_ratio: float) -> np.ndarray:
    """Logits shifted so the largest is 0 and clipped at -log(max_prob_ratio): no category falls
    below 1/max_prob_ratio of the likeliest one's probability (along the last axis)."""
    return np.maximum(logits - logits.max(axis=-1, keepdims=True), -math.log(max_prob_ratio))
