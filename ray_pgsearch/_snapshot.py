"""A snapshot of a search: what a warm start needs of it, and nothing else.

A snapshot holds the search's space (as ``SearchSpace.describe`` writes it), its policy on the
latent rows (the Gaussians' means and standard deviations, the choices' logits) and the results of
its window (latent rows and reward vectors). ``snapshot_of`` takes any form of an earlier search:
a ``Snapshot``, an object with a ``snapshot()`` method (``PGOptimizer``, ``PGSearcher``), a
checkpoint file of either (or of a snapshot), or a Tune experiment directory holding a searcher
checkpoint; it reads files through the checkpoint format only (``_checkpoint``).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _checkpoint
from ._space import SearchSpace

__all__ = ["CHECKPOINT_GLOB", "Snapshot", "as_list", "checkpoint_file", "read_snapshot", "snapshot_of"]

CHECKPOINT_GLOB = "searcher-state-*.pkl"  # Tune's name for a searcher checkpoint (Searcher.CKPT_FILE_TMPL)


@dataclass
class Snapshot:
    """An earlier search's space, policy (latent units) and window of results."""

    space: SearchSpace
    mean: np.ndarray  # per numeric parameter
    std: np.ndarray
    logits: list[np.ndarray]  # per choice, one logit per category
    rows: np.ndarray  # (n, dim) latent rows of its results
    rewards: np.ndarray  # (n, objectives)

    def state(self) -> dict[str, Any]:
        return {
            "space": self.space.describe(),
            "mean": self.mean,
            "std": self.std,
            "logits": list(self.logits),
            "rows": self.rows,
            "rewards": self.rewards,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Snapshot:
        space = SearchSpace.from_description(state["space"])
        return cls(space, state["mean"], state["std"], list(state["logits"]), state["rows"], state["rewards"])

    @classmethod
    def from_optimizer_state(cls, state: dict[str, Any]) -> Snapshot:
        """The snapshot inside a ``PGOptimizer`` checkpoint's state (its space described, or compiled)."""
        policy, history = state["policy"], state["history"]
        space = state["space"]
        space = space if isinstance(space, SearchSpace) else SearchSpace.from_description(space)
        logits = [row[:size].copy() for row, size in zip(policy["logits"], space.category_sizes, strict=True)]
        return cls(space, policy["mean"], np.exp(policy["log_std"]), logits, history["rows"], history["rewards"])

    def save(self, path: str) -> None:
        """Writes the snapshot as a checkpoint file (``kind`` snapshot)."""
        _checkpoint.write(path, "snapshot", self.state())


def checkpoint_file(path: str) -> str:
    """``path`` itself when it is a file, the newest searcher checkpoint when it is a directory (a
    Tune experiment's); a ValueError that says which is missing."""
    if not os.path.exists(path):
        raise ValueError(f"{path}: no such file or directory")
    if not os.path.isdir(path):
        return path
    found = sorted(glob.glob(os.path.join(path, CHECKPOINT_GLOB)), key=os.path.getmtime)
    if not found:
        raise ValueError(f"{path}: no PGSearcher checkpoint ({CHECKPOINT_GLOB}) in this directory")
    return found[-1]


def read_snapshot(path: str) -> Snapshot:
    """The snapshot in a checkpoint file of a searcher, an optimizer or a snapshot."""
    from ._legacy import read_legacy

    try:
        kind, state = _checkpoint.read(path)
    except _checkpoint.LegacyCheckpoint:
        kind, state = read_legacy(path)
    if kind == "snapshot":
        return Snapshot.from_state(state)
    if kind == "searcher":
        if state.get("optimizer") is None:
            raise ValueError(f"{path}: the checkpoint of a search that never started (no results)")
        state = state["optimizer"]
    return Snapshot.from_optimizer_state(state)


def snapshot_of(source: Any) -> Snapshot:
    """The snapshot of an earlier search in any of its forms; a ValueError that says why when
    ``source`` holds none."""
    if isinstance(source, Snapshot):
        return source
    if hasattr(source, "snapshot") and callable(source.snapshot):
        return source.snapshot()
    if isinstance(source, (str, os.PathLike)):
        return read_snapshot(checkpoint_file(os.fspath(source)))
    raise ValueError(
        "an earlier search must be a PGOptimizer, a PGSearcher, a Snapshot, a checkpoint file or an "
        f"experiment directory, got {type(source).__name__}"
    )


def as_list(sources: Any) -> list:
    """One source or a list of them, as a list."""
    return list(sources) if isinstance(sources, Sequence) and not isinstance(sources, (str, bytes)) else [sources]
