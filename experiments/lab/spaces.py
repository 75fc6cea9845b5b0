"""Helpers for Ray Tune search spaces (nested dicts of `ray.tune` domains)."""

from __future__ import annotations

from typing import Any

import numpy as np
from ray.tune.search.sample import Categorical, Domain, Float, Integer, LogUniform, Quantized

Path = tuple[str, ...]


def domain_items(space: dict, prefix: Path = ()) -> list[tuple[Path, Domain]]:
    """List (path, domain) for every domain in a nested space, in insertion order."""
    items: list[tuple[Path, Domain]] = []
    for key, value in space.items():
        if isinstance(value, dict):
            items.extend(domain_items(value, prefix + (key,)))
        elif isinstance(value, Domain):
            items.append((prefix + (key,), value))
    return items


def set_path(config: dict, path: Path, value: Any) -> None:
    """Set `config[path[0]][path[1]]... = value` in place."""
    for key in path[:-1]:
        config = config[key]
    config[path[-1]] = value


def get_path(config: dict, path: Path) -> Any:
    """Return `config[path[0]][path[1]]...`."""
    for key in path:
        config = config[key]
    return config


def to_python(value: Any) -> Any:
    """Convert numpy scalars to plain Python numbers (other values unchanged)."""
    return value.item() if isinstance(value, np.generic) else value


def _copy_dicts(space: dict) -> dict:
    """Copy the nested dicts of a space (leaves are shared)."""
    return {k: _copy_dicts(v) if isinstance(v, dict) else v for k, v in space.items()}


def fill(space: dict, values: dict[Path, Any]) -> dict:
    """A copy of `space` with each domain replaced by its value from `values`."""
    config = _copy_dicts(space)
    for path, value in values.items():
        set_path(config, path, to_python(value))
    return config


def sample_config(space: dict, rng: np.random.Generator) -> dict:
    """One uniform draw from `space`, each domain sampled with Ray's own sampler."""
    return fill(space, {p: d.sample(random_state=rng) for p, d in domain_items(space)})


def assert_resolved(config: Any) -> None:
    """Raise if a suggested config still contains a raw `Domain` (a searcher bug)."""
    if isinstance(config, Domain):
        raise TypeError(f"searcher returned an unresolved domain: {config!r}")
    if isinstance(config, dict):
        for value in config.values():
            assert_resolved(value)


def int_bounds(domain: Integer) -> tuple[int, int, int]:
    """(lowest, highest, step) of the values an Integer domain can take (both inclusive).

    Quantized integers are the multiples of q in [lower, upper]; plain ones are [lower, upper).
    """
    sampler = domain.get_sampler()
    if isinstance(sampler, Quantized):
        q = int(sampler.q)
        return -(-int(domain.lower) // q) * q, int(domain.upper) // q * q, q
    return int(domain.lower), int(domain.upper) - 1, 1


def is_log(domain: Domain) -> bool:
    """Whether a numeric domain is sampled on the log scale."""
    sampler = domain.get_sampler()
    if isinstance(sampler, Quantized):
        sampler = sampler.get_sampler()
    return isinstance(sampler, LogUniform)


def snap_int(value: float, domain: Integer) -> int:
    """Round a (possibly off-grid) number to the nearest value an Integer domain can take."""
    low, high, q = int_bounds(domain)
    return int(np.clip(round(float(value) / q) * q, low, high))


__all__ = [
    "Categorical",
    "Domain",
    "Float",
    "Integer",
    "Path",
    "assert_resolved",
    "domain_items",
    "fill",
    "get_path",
    "int_bounds",
    "is_log",
    "sample_config",
    "set_path",
    "snap_int",
    "to_python",
]
