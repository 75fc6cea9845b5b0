"""A PGOptimizer's state as JSON values and numpy arrays, and back.

The state (``checkpoint version 1``, kind ``optimizer``) holds:

* ``settings``: every group and field (``Settings.to_dict``); ``modes``: "min"/"max" per metric;
* ``space``: the search space's spec (``SearchSpace.describe``);
* ``rng``: the random generator's bit-generator state (PCG64: two 128-bit integers);
* ``record``: counts (asked, told, failed, rejected) and the best reward and config;
* ``policy``: the Gaussians' latent means and log standard deviations, the logits (a row per
  choice, padded with -inf), and the count of updates;
* ``history``: the window's latent rows and reward vectors, and how many results it ever took;
* ``book``: the pending trials' ids and rows (in the order they were asked), their latest reports
  and the values reported at each training iteration;
* ``opening``: the points to evaluate and the startup rows not asked yet;
* ``rerank``: the Gaussian process's length scale and noise, and when it picked them;
* ``warm_start``: the earlier searches mapped into this space, the trust in them (or null);
* ``failures``: the rows of the trials that failed and the results told when each failed;
* ``extensions``: the state of each extension that is not transient, in order.

Configs, trial ids and other values go through the space's codec (``_codec``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ._checkpoint import CheckpointError
from ._extension import Extension
from ._settings import Settings
from ._space import SearchSpace
from ._warm_start import WarmStart

__all__ = ["check_space", "optimizer_state", "restore_optimizer"]


def optimizer_state(opt: Any) -> dict[str, Any]:
    """The state of a ``PGOptimizer``, in the layout above."""
    codec, dim = opt._space.codec(), opt._space.dim
    record, book = opt._record, opt._book.state(dim)
    return {
        "settings": opt._settings.to_dict(),
        "modes": list(opt._objectives.modes),
        "space": opt._space.describe(),
        "rng": opt._rng.bit_generator.state,
        "record": {
            "asked": record.asked,
            "told": record.told,
            "failed": record.failed,
            "crashed": record.crashed,
            "rejected": record.rejected,
            "best_reward": record.best_reward,
            "best_config": codec.encode(record.best_config),
        },
        "policy": opt._policy.state(),
        "history": opt._history.state(),
        "book": {**book, "pending_ids": codec.encode(book["pending_ids"]), "reports": codec.encode(book["reports"])},
        "opening": {**opt._opening.state(dim), "points": codec.encode(opt._opening.points)},
        "rerank": opt._rerank.state(),
        "warm_start": None if opt._warm_start is None else opt._warm_start.state(),
        "failures": opt._failures.state(),
        "extensions": [e.state() for e in opt._extensions if not e.transient],
    }


def check_space(state: Mapping[str, Any], space: Mapping[str, Any] | SearchSpace | None) -> SearchSpace:
    """The space of a state: ``space`` when given (it must be the same space), else the one the
    state describes (which must not need objects JSON cannot hold)."""
    if space is not None:
        space = space if isinstance(space, SearchSpace) else SearchSpace(space)
        if not space.same_as(state["space"]):
            raise CheckpointError(
                "the checkpoint was written for another search space than the one given: "
                f"{SearchSpace.from_description(state['space']).names()} against {space.names()}"
            )
        return space
    space = SearchSpace.from_description(state["space"])
    if space.holds_stand_ins:
        raise CheckpointError(
            "the checkpoint's search space holds objects JSON cannot hold (classes, functions, instances); "
            "give the space again: Tuner.restore(..., param_space=...), PGSearcher(space=...) or "
            "PGOptimizer.load(path, space=...)"
        )
    return space


def restore_optimizer(
    cls: type,
    state: Mapping[str, Any],
    space: Mapping[str, Any] | SearchSpace | None,
    constraint: Callable[[dict], bool] | None,
    extensions: Sequence[Extension],
) -> Any:
    """An optimizer of class ``cls`` in the state ``optimizer_state`` wrote."""
    compiled = check_space(state, space)
    settings = Settings.from_dict(state["settings"])
    opt = cls(compiled, state["modes"], seed=0, constraint=constraint, settings=settings, extensions=extensions)
    codec = compiled.codec()
    opt._rng.bit_generator.state = state["rng"]
    r = state["record"]
    opt._record.asked, opt._record.told, opt._record.failed = int(r["asked"]), int(r["told"]), int(r["failed"])
    opt._record.rejected, opt._record.best_reward = int(r["rejected"]), float(r["best_reward"])
    opt._record.crashed = int(r["crashed"])
    opt._record.best_config = codec.decode(r["best_config"])
    opt._policy.load(state["policy"])
    opt._history.load(state["history"])
    book = state["book"]
    opt._book.load({**book, "pending_ids": codec.decode(book["pending_ids"]), "reports": codec.decode(book["reports"])})
    opening = state["opening"]
    opt._opening.load({**opening, "points": codec.decode(opening["points"])})
    opt._rerank.load(state["rerank"])
    opt._failures.load(state["failures"])
    if state["warm_start"] is not None:
        opt._warm_start = WarmStart.from_state(
            settings.warm_start, settings.history.window, state["warm_start"], settings.model, compiled
        )
    saved = state["extensions"]
    kept = [e for e in opt._extensions if not e.transient]
    if len(saved) != len(kept):
        raise CheckpointError(f"the checkpoint holds the state of {len(saved)} extensions, {len(kept)} were given")
    for ext, ext_state in zip(kept, saved, strict=True):
        ext.load(ext_state)
    return opt
