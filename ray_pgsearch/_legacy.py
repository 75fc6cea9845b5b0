"""Checkpoints of ray_pgsearch 0.2 and older (pickles), read without running their code.

A restricted unpickler rebuilds numpy arrays, numpy's random generators and a few containers;
every other class the pickle names (the old library's, Tune's, the user's) becomes an inert stub
that only keeps the attributes the pickle gives it, so no code of the file runs. The old state is
then converted to the current checkpoint layout (``_state``, ``_searcher``). Its search space is
the one given again (checked parameter by parameter), else rebuilt from the old parameters (a
space without conditional choices).
"""

from __future__ import annotations

import functools
import io
import pickle
from collections.abc import Mapping
from typing import Any

import numpy as np
from ray.tune.search.sample import Categorical, Float, Integer

from ._checkpoint import CheckpointError
from ._codec import Opaque, category_key
from ._settings import OLD_NAMES, Settings
from ._space import SearchSpace
from ._util import path_str, set_path

__all__ = ["read_legacy"]

_ALLOWED = {
    ("numpy", "dtype"),
    ("numpy", "ndarray"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.multiarray", "scalar"),
    ("collections", "Counter"),
    ("collections", "deque"),
    ("collections", "OrderedDict"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "object"),
    ("copyreg", "_reconstructor"),
}


class _Stub:
    """An object of a class the unpickler would not import: its attributes, nothing else."""

    _where = ""

    def __new__(cls, *args: Any, **kwargs: Any) -> _Stub:
        return object.__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2:  # (dict, slots)
            state = {**(state[0] or {}), **(state[1] or {})}
        if isinstance(state, dict):
            self.__dict__.update(state)


@functools.lru_cache(maxsize=None)
def _stub(module: str, name: str) -> type:
    return type(name, (_Stub,), {"_where": f"{module}.{name}"})


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED or module.startswith("numpy.random"):
            return super().find_class(module, name)
        return _stub(module, name)


def _is(obj: Any, name: str) -> bool:
    return isinstance(obj, _Stub) and obj._where.endswith(f".{name}")


def _plain(value: Any) -> Any:
    """A value of the old state with stubs replaced by ``Opaque`` stand-ins."""
    if isinstance(value, type) and issubclass(value, _Stub):
        return Opaque("type", value._where)
    if isinstance(value, _Stub):
        return Opaque(value._where, "?")
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    return value


def _domain(param: Any) -> Any:
    """The Tune domain an old NumericParam or CategoricalParam was compiled from."""
    if _is(param, "CategoricalParam"):
        return Categorical(list(_plain(param.categories))).uniform()
    q = param.q
    if param.kind == "normal":
        domain = Float(None, None).normal(param.mean, param.sd)
        return domain if q is None else domain.quantized(q)
    if param.integer:
        step = q or 1
        domain = Integer(int(param.lower) * step, (int(param.upper) - (0 if step == 1 else 1)) * step)
    else:
        domain = Float(param.lower, param.upper)
    domain = domain.loguniform() if param.kind == "log" else domain.uniform()
    return domain if q is None or q == 1 else domain.quantized(q)


def _space_of(old: Any, given: SearchSpace | None) -> SearchSpace:
    """The space of an old state: ``given`` when its parameters are the old ones, else rebuilt."""
    if old._branches:
        if given is None:
            raise CheckpointError("a 0.2 checkpoint of a conditional space needs the search space given again")
    rebuilt = given
    if given is None:  # the old template (constants, None where each domain stood) with the domains put back
        spec = _plain(old._root.template)
        for path, i in old._root.slots:
            spec = set_path(spec, tuple(path), _domain(old.params[i]))
        rebuilt = SearchSpace(spec)
    assert rebuilt is not None
    old_names = [path_str(tuple(p.path)) for p in old.params]
    if rebuilt.names() != old_names or rebuilt.category_sizes != [len(p.categories) for p in old.categorical]:
        raise CheckpointError(
            f"the 0.2 checkpoint was written for another search space: {old_names} against {rebuilt.names()}"
        )
    return rebuilt


def _resolver(space: SearchSpace) -> Any:
    """Replaces stand-ins in a config by the space's categories they stand for."""
    categories = {category_key(c): c for p in space.categorical for c in p.categories}

    def resolve(value: Any) -> Any:
        if isinstance(value, Opaque):
            key = category_key(value)
            if key not in categories:
                raise CheckpointError(f"the 0.2 checkpoint holds {value!r}, which is no category of the space")
            return categories[key]
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [resolve(v) for v in value]
        if isinstance(value, tuple):
            return tuple(resolve(v) for v in value)
        return value

    return lambda value: resolve(_plain(value))


def _settings(old: Any) -> dict:
    groups: dict[str, dict] = {}
    for name, value in old.__dict__.items():
        if name in OLD_NAMES:
            group, field = OLD_NAMES[name]
            groups.setdefault(group, {})[field] = value
    return Settings.from_dict(groups).to_dict()


def _optimizer(opt: Any, space: SearchSpace) -> dict[str, Any]:
    codec, resolve, dim = space.codec(), _resolver(space), space.dim
    window, n = opt.window, min(opt.window.count, opt.window.rows.shape[0])
    pending = list(opt.pending.items())
    gp_fitted = getattr(opt, "_gp_fitted_at", None)
    state = {
        "settings": _settings(opt.settings),
        "modes": list(opt.modes),
        "space": space.describe(),
        "rng": opt.rng.bit_generator.state,
        "record": {
            "asked": opt.n_asked,
            "told": opt.n_told,
            "failed": opt.n_failed,
            "crashed": 0,
            "rejected": opt.n_rejected,
            "best_reward": float(opt.best_reward),
            "best_config": codec.encode(resolve(opt.best_config)),
        },
        "policy": {
            "mean": opt.policy.gaussian.mean,
            "log_std": opt.policy.gaussian.log_std,
            "logits": opt.policy.categorical.logits,
            "n_updates": opt.policy.n_updates,
        },
        "history": {"rows": window.rows[:n], "rewards": window.rewards[:n], "count": window.count},
        "book": {
            "pending_ids": codec.encode([t for t, _ in pending]),
            "pending_rows": np.array([r for _, r in pending]).reshape(len(pending), dim),
            "reports": codec.encode([[t, level, reward] for t, (level, reward) in opt.partial.items()]),
            "rungs": [[level, list(values)] for level, values in opt.rungs.values.items()],
        },
        "opening": {
            "points": codec.encode(resolve(opt.points)),
            "rows": np.array(opt.startup).reshape(len(opt.startup), dim),
        },
        "rerank": {"fitted_at": gp_fitted, "length_scale": opt.gp.length_scale, "noise": opt.gp.noise},
        "warm_start": None,
        "failures": {
            "failed": {"rows": np.zeros((0, dim)), "rewards": np.zeros((0, 1)), "count": 0},
            "predicted": None,
        },
        "extensions": [],
    }
    if opt.prior is not None:
        p, evidence = opt.prior, opt._prior_evidence
        m = min(evidence.count, evidence.rows.shape[0])
        replays = [np.frombuffer(b) for b in sorted(opt._replays)]
        state["warm_start"] = {
            "mean": p.mean,
            "std": p.std,
            "logits": list(p.logits),
            "rows": p.rows,
            "known": p.known,
            "quantiles": p.quantiles,
            "shared": list(p.shared),
            "trust": opt.prior_trust,
            "rejected": opt.prior_rejected,
            "evidence": {"rows": evidence.rows[:m], "rewards": evidence.rewards[:m], "count": evidence.count},
            "replays": np.array(replays).reshape(len(replays), dim),
        }
    return state


def read_legacy(path: str, space: SearchSpace | None = None) -> tuple[str, dict[str, Any]]:
    """(kind, state) of a pickle ray_pgsearch 0.2 wrote, in the current layout; ``space``: the
    search space given again, if any."""
    try:
        with open(path, "rb") as f:
            data = _Unpickler(io.BytesIO(f.read())).load()
    except Exception as e:
        raise CheckpointError(f"{path}: a pickle, but not one ray_pgsearch 0.2 wrote ({e!r})") from None
    try:
        return _convert(path, data, space)
    except (AttributeError, KeyError, TypeError, IndexError) as e:
        raise CheckpointError(f"{path}: a pickle, but not a checkpoint ray_pgsearch 0.2 wrote ({e!r})") from None


def _convert(path: str, data: Any, space: SearchSpace | None) -> tuple[str, dict[str, Any]]:
    if _is(data, "PGOptimizer"):
        return "optimizer", _optimizer(data, _space_of(data.space, space))
    if not (isinstance(data, Mapping) and data.get("format") == 2 and isinstance(data.get("state"), Mapping)):
        raise CheckpointError(f"{path}: a pickle, but not a PGSearcher checkpoint of ray_pgsearch 0.2")
    old = data["state"]
    opt = old.get("_opt")
    if opt is not None and not _is(opt, "PGOptimizer"):
        raise CheckpointError(f"{path}: a pickle, but not a PGSearcher checkpoint of ray_pgsearch 0.2")
    old_space = opt.space if opt is not None else old.get("_space")
    compiled = None if old_space is None else _space_of(old_space, space)
    state: dict[str, Any] = {
        "metric": old.get("_metric"),
        "mode": old.get("_mode"),
        "space": None if compiled is None else compiled.describe(),
        "optimizer": None if opt is None or compiled is None else _optimizer(opt, compiled),
        "evaluated": [],
        "live": [],
        "nonfinite_streak": old.get("_nonfinite_streak", 0),
        "warned_nonfinite": old.get("_warned_nonfinite", False),
        "max_concurrent": old.get("max_concurrent"),
    }
    if compiled is not None:
        codec, resolve = compiled.codec(), _resolver(compiled)
        state["evaluated"] = codec.encode([[resolve(p), v] for p, v in old.get("_evaluated", [])])
        state["live"] = [
            [codec.encode(t), codec.encode(resolve(live.config)), codec.encode(live.value), live.iteration]
            for t, live in old.get("_live", {}).items()
        ]
    return "searcher", state
