"""Warm starts: what an earlier search carries over into a new one.

An earlier search (its ``PGOptimizer``, a ``PGSearcher``, a searcher checkpoint file or a Tune
experiment directory holding one) is matched to the new search space by key path. For every
parameter both spaces share, the earlier policy is mapped through the parameter's *values*, not its
latent coordinates (a range that changed moves the latent, not the value): a Gaussian's mean and
one-sigma interval are decoded in the old space and encoded in the new one, a choice's logits are
carried over category by category (matched by value; new categories start at the mean logit).
Parameters only the new space has start from their prior; parameters only the old one had are
dropped. The earlier results become model points in the new space: their known coordinates mapped
the same way, the others left unknown (a uniform kernel), and their reward replaced by its quantile
among the earlier search's results, since two tasks' metrics need not share a scale. Of an earlier
search that restarted (``restart_after``), the policy and results carried over are those of the
restart that found its best config.
"""

from __future__ import annotations

import glob
import os
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ._space import CategoricalParam, NumericParam, SearchSpace
from ._util import path_str, softmax

if TYPE_CHECKING:
    from ._optimizer import PGOptimizer

__all__ = ["Prior", "as_list", "load_prior", "optimizer_of"]

_CHECKPOINT_GLOB = "searcher-state-*.pkl"  # Tune's name for a searcher checkpoint (Searcher.CKPT_FILE_TMPL)


@dataclass
class Prior:
    """An earlier search mapped into this search space.

    mean, std: per numeric parameter of the new space, the mapped Gaussian (NaN where not shared).
    logits: per choice of the new space, the mapped logits (None where not shared).
    rows, known: the earlier results as latent rows of the new space, and which coordinates they know.
    quantiles: each earlier result's reward quantile within its own search, in (0, 1], 1 the best.
    """

    mean: np.ndarray
    std: np.ndarray
    logits: list[np.ndarray | None]
    rows: np.ndarray
    known: np.ndarray
    quantiles: np.ndarray
    shared: list[str]


def optimizer_of(source: Any) -> PGOptimizer:
    """The PGOptimizer inside a source: itself, a PGSearcher's, a checkpoint file's or an experiment
    directory's newest checkpoint's. A ValueError that says why when there is none."""
    from ._optimizer import PGOptimizer

    if isinstance(source, PGOptimizer):
        return source
    if hasattr(source, "optimizer") and hasattr(source, "suggest"):  # a PGSearcher
        try:
            return source.optimizer
        except RuntimeError as e:
            raise ValueError(f"the prior searcher has not started: {e}") from None
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if os.path.isdir(path):
            found = sorted(glob.glob(os.path.join(path, _CHECKPOINT_GLOB)), key=os.path.getmtime)
            if not found:
                raise ValueError(f"prior {path}: no PGSearcher checkpoint ({_CHECKPOINT_GLOB}) in this directory")
            path = found[-1]
        try:
            with open(path, "rb") as f:
                state = pickle.load(f)
        except FileNotFoundError:
            raise ValueError(f"prior {path}: no such file or directory") from None
        except Exception as e:
            raise ValueError(f"prior {path}: not a PGSearcher checkpoint ({e!r})") from None
        if isinstance(state, PGOptimizer):
            return state
        opt = state.get("state", {}).get("_opt") if isinstance(state, dict) else None
        if not isinstance(opt, PGOptimizer):
            raise ValueError(f"prior {path}: not a PGSearcher checkpoint, or one of a search that never started")
        return opt
    raise ValueError(
        f"a prior must be a PGOptimizer, a PGSearcher, a checkpoint file or an experiment directory, "
        f"got {type(source).__name__}"
    )


def _map_numeric(old: NumericParam, new: NumericParam, z: np.ndarray) -> np.ndarray:
    """Latent values of ``old`` -> the latent values of the same parameter values in ``new``."""
    return np.array([new.encode(old.decode(float(v))) for v in np.atleast_1d(z)])


def _map_logits(old: CategoricalParam, new: CategoricalParam, logits: np.ndarray) -> np.ndarray:
    """The old logits of the categories both choices hold, the mean old logit for new categories."""
    index = {i: old.encode(c) for i, c in enumerate(new.categories) if old.contains(c)}
    mapped = np.full(new.size, float(np.mean(logits)))
    for i, j in index.items():
        mapped[i] = logits[int(j)]
    return mapped


def _one(space: SearchSpace, opt: PGOptimizer, min_std: float, max_std: float) -> Prior:
    """One earlier search mapped into ``space``."""
    old_index = {path_str(p.path): k for k, p in enumerate(opt.space.params)}
    pairs = [  # (new index, old index) of the parameters of the same name and kind
        (j, old_index[name])
        for j, name in enumerate(space.names())
        if name in old_index and type(space.params[j]) is type(opt.space.params[old_index[name]])
    ]
    if not pairs:
        raise ValueError(
            f"the prior's search space has no parameter in common with this one (prior: "
            f"{sorted(old_index)}; this one: {space.names()})"
        )
    mean, std = np.full(space.n_numeric, np.nan), np.full(space.n_numeric, np.nan)
    logits: list[np.ndarray | None] = [None] * len(space.categorical)
    policy, window = opt.best_epoch  # after restarts: the one that found the best config
    old_rows, old_rewards = window.arrays()
    old_active = opt.space.active(old_rows)
    rows = np.zeros((old_rows.shape[0], space.dim))
    known = np.zeros((old_rows.shape[0], space.dim), bool)
    gaussian = policy.gaussian
    for j, k in pairs:
        new, old = space.params[j], opt.space.params[k]
        if isinstance(new, NumericParam) and isinstance(old, NumericParam):
            mu, sigma = gaussian.mean[k], gaussian.std[k]
            lo, centre, hi = _map_numeric(old, new, np.array([mu - sigma, mu, mu + sigma]))
            mean[j], std[j] = centre, float(np.clip((hi - lo) / 2.0, min_std, max_std))
            if old_rows.shape[0]:
                rows[:, j] = _map_numeric(old, new, old_rows[:, k])
        elif isinstance(new, CategoricalParam) and isinstance(old, CategoricalParam):
            actor = policy.categorical[k - opt.space.n_numeric]
            logits[j - space.n_numeric] = _map_logits(old, new, actor.logits)
            for i in range(old_rows.shape[0]):
                value = old.decode(old_rows[i, k])
                if new.contains(value):
                    rows[i, j] = new.encode(value)
                else:
                    old_active[i, k] = False  # a category the new choice does not have: unknown
        known[:, j] = old_active[:, k]
    return Prior(mean, std, logits, rows, known, _quantiles(old_rewards), [space.names()[j] for j, _ in pairs])


def _quantiles(rewards: np.ndarray) -> np.ndarray:
    """Each result's reward quantile in (0, 1], 1 the best; with several objectives, the mean of the
    per-objective quantiles."""
    n = rewards.shape[0]
    ranks = np.argsort(np.argsort(rewards, axis=0, kind="stable"), axis=0, kind="stable")
    return ((ranks + 1.0) / max(n, 1)).mean(axis=1) if n else np.zeros(0)


def as_list(sources: Any) -> list:
    """One source or a list of them, as a list."""
    return list(sources) if isinstance(sources, Sequence) and not isinstance(sources, (str, bytes)) else [sources]


def load_prior(sources: Any, space: SearchSpace, min_std: float, max_std: float) -> Prior:
    """Every source (one, or a list) mapped into ``space`` and pooled: the Gaussians by moment
    matching the mixture of the sources' ones, the logits by averaging the probabilities, the results
    side by side. Raises ValueError naming what does not fit."""
    items = as_list(sources)
    if not items:
        raise ValueError("prior: an empty list")
    priors = [_one(space, optimizer_of(s), min_std, max_std) for s in items]
    means = np.array([p.mean for p in priors])
    seen = ~np.isnan(means)
    count = np.maximum(seen.sum(axis=0), 1)
    mean = np.where(seen, means, 0.0).sum(axis=0) / count  # moments of the equal-weight mixture
    second = np.where(seen, np.array([p.std for p in priors]) ** 2 + means**2, 0.0).sum(axis=0) / count
    std = np.clip(np.sqrt(np.maximum(second - mean**2, 0.0)), min_std, max_std)
    unshared = ~seen.any(axis=0)
    mean[unshared], std[unshared] = np.nan, np.nan
    logits: list[np.ndarray | None] = []
    for j in range(len(space.categorical)):
        found = [softmax(lg) for p in priors if (lg := p.logits[j]) is not None]
        logits.append(np.log(np.mean(found, axis=0)) if found else None)
    return Prior(
        mean,
        std,
        logits,
        np.vstack([p.rows for p in priors]),
        np.vstack([p.known for p in priors]),
        np.concatenate([p.quantiles for p in priors]),
        sorted({name for p in priors for name in p.shared}),
    )
