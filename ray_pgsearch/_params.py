"""The parameters of a search space: each Tune domain compiled to a map between its values and a
latent coordinate.

A numeric parameter takes one coordinate ``z`` in the unit interval [0, 1], laid out so that a
uniform ``z`` gives the domain's own distribution (uniform, log-uniform, normal through its CDF);
a ``tune.choice`` takes one coordinate that holds the index of the chosen category. This module
and ``_space`` are the only places that know Tune's domain types.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

from ray.tune.search.sample import (
    Categorical,
    Domain,
    Float,
    Function,
    Integer,
    LogUniform,
    Normal,
    Quantized,
    Uniform,
)

from ._util import KeyPath, path_str

__all__ = ["CategoricalParam", "NumericParam", "compile_domain", "contains_domain", "domains", "invalid", "same"]

Path = KeyPath

_STANDARD_NORMAL = NormalDist()
_Z_EPS = 1e-12  # keeps the normal inverse CDF finite at the ends of [0, 1]


def invalid(path: Path, message: str) -> ValueError:
    return ValueError(f"search space key '{path_str(path)}': {message}")


def contains_domain(value: Any) -> bool:
    """True when a choice's category still holds Tune domains (a conditional space)."""
    if isinstance(value, Domain):
        return True
    if isinstance(value, Mapping):
        return any(contains_domain(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(contains_domain(v) for v in value)
    return False


def same(a: Any, b: Any) -> bool:
    """Equality that keeps ``True`` apart from ``1`` and copes with array-like categories."""
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    try:
        return bool(a == b)
    except (ValueError, TypeError):  # e.g. numpy arrays compare elementwise
        return False


@dataclass(frozen=True)
class NumericParam:
    """A float or integer domain mapped to z in [0, 1].

    The value is ``inv(t_lo + z * (t_hi - t_lo))`` where ``t`` is the identity, ``log`` (log
    domains) or the standard normal CDF of ``(v - mean) / sd`` (normal domains). Integer domains
    take ``floor`` of that, so every integer owns a bin of z; quantized domains snap to the grid.
    """

    path: Path
    kind: str  # "uniform", "log" or "normal"
    lower: float  # value range (for integers: the grid index range [lower, upper))
    upper: float
    integer: bool
    q: float | None  # quantization step, None when not quantized
    mean: float = 0.0  # normal domains only
    sd: float = 1.0

    def _t(self, v: float) -> float:
        if self.kind == "log":
            return math.log(v)
        return v

    def _t_inv(self, t: float) -> float:
        if self.kind == "log":
            return math.exp(t)
        return t

    def decode(self, z: float) -> int | float:
        """The domain value that latent ``z`` stands for, as a native int or float."""
        z = min(max(float(z), 0.0), 1.0)
        if self.kind == "normal":
            zc = min(max(z, _Z_EPS), 1.0 - _Z_EPS)
            v = self.mean + self.sd * _STANDARD_NORMAL.inv_cdf(zc)
            if self.q:
                v = round(v / self.q) * self.q
            return int(round(v)) if self.integer else float(v)
        t_lo, t_hi = self._t(self.lower), self._t(self.upper)
        v = self._t_inv(t_lo + z * (t_hi - t_lo))
        if self.integer:
            k = min(max(math.floor(v), int(self.lower)), int(self.upper) - 1)
            return int(k * (self.q or 1))
        if self.q:
            v = min(max(round(v / self.q) * self.q, self.lower), self.upper)
        else:
            v = min(max(v, self.lower), self.upper)
        return float(v)

    def encode(self, value: float) -> float:
        """The latent z of ``value``: the centre of its integer bin, or its exact position."""
        if self.kind == "normal":
            return min(max(_STANDARD_NORMAL.cdf((float(value) - self.mean) / self.sd), 0.0), 1.0)
        t_lo, t_hi = self._t(self.lower), self._t(self.upper)
        if self.integer:
            k = int(round(float(value) / (self.q or 1)))
            k = min(max(k, int(self.lower)), int(self.upper) - 1)
            t = 0.5 * (self._t(k) + self._t(k + 1))  # bin [k, k + 1) in t space
        else:
            t = self._t(min(max(float(value), self.lower), self.upper))
        return min(max((t - t_lo) / (t_hi - t_lo), 0.0), 1.0)

    def contains(self, value: Any) -> bool:
        """Whether ``value`` is a value this domain can take (type, bounds and grid)."""
        if self.integer:
            if not isinstance(value, int) or isinstance(value, bool):
                return False
        elif not isinstance(value, float):
            return False
        if self.q and not math.isclose(value / self.q, round(value / self.q), abs_tol=1e-6):
            return False
        if self.kind == "normal":
            return math.isfinite(value)
        scale = self.q or 1
        if self.integer:
            return self.lower * scale <= value <= (self.upper - 1) * scale
        return self.lower <= value <= self.upper


@dataclass(frozen=True)
class CategoricalParam:
    """A ``tune.choice``: latent value = index into ``categories``; decode returns the object."""

    path: Path
    categories: tuple

    @property
    def size(self) -> int:
        return len(self.categories)

    def decode(self, index: float) -> Any:
        return self.categories[int(index)]

    def encode(self, value: Any) -> float:
        for i, category in enumerate(self.categories):
            if same(category, value):
                return float(i)
        raise ValueError(f"{value!r} is not one of the choices of '{path_str(self.path)}'")

    def contains(self, value: Any) -> bool:
        return any(same(c, value) for c in self.categories)


def _compile_numeric(path: Path, domain: Float | Integer) -> NumericParam:
    """Validate one Float/Integer domain and describe it as a NumericParam."""
    sampler = domain.get_sampler()
    q = None
    if isinstance(sampler, Quantized):
        q = sampler.q
        sampler = sampler.get_sampler()
        if not (isinstance(q, (int, float)) and math.isfinite(q) and q > 0):
            raise invalid(path, f"the quantization step q must be a positive number, got {q!r}")
    integer = isinstance(domain, Integer)
    lower, upper = domain.lower, domain.upper
    if isinstance(sampler, Normal):
        if not (math.isfinite(sampler.mean) and math.isfinite(sampler.sd) and sampler.sd > 0):
            raise invalid(path, f"randn needs a finite mean and sd > 0, got {sampler.mean}, {sampler.sd}")
        return NumericParam(path, "normal", -math.inf, math.inf, integer, q, sampler.mean, sampler.sd)
    if not isinstance(sampler, (Uniform, LogUniform)):
        raise invalid(path, f"unsupported sampler {type(sampler).__name__}")
    if not (math.isfinite(lower) and math.isfinite(upper) and lower < upper):
        raise invalid(path, f"needs finite bounds with lower < upper, got [{lower}, {upper}]")
    kind = "log" if isinstance(sampler, LogUniform) else "uniform"
    if kind == "log" and lower <= 0:
        raise invalid(path, f"a log domain needs lower > 0, got {lower}")
    if integer:
        # Grid index range [lower, upper): Tune's samplers are upper-exclusive for plain integers and
        # for q == 1, upper-inclusive for quantized integers with q > 1.
        step = q or 1
        lo, hi = math.ceil(lower / step), math.floor(upper / step) + (0 if step == 1 else 1)
        if hi <= lo:
            raise invalid(path, f"no multiple of q={step} in [{lower}, {upper})")
        return NumericParam(path, kind, lo, hi, True, q if step != 1 else None)
    if q:
        lower, upper = math.ceil(lower / q) * q, math.floor(upper / q) * q
        if upper < lower or (kind == "log" and lower <= 0):
            raise invalid(path, f"no multiple of q={q} in [{domain.lower}, {domain.upper}]")
        if upper == lower:
            raise invalid(path, f"only one multiple of q={q} in [{domain.lower}, {domain.upper}]: use a constant")
    return NumericParam(path, kind, float(lower), float(upper), False, q)


def compile_domain(path: Path, domain: Domain) -> NumericParam | CategoricalParam:
    if isinstance(domain, Categorical):
        if domain.is_grid():
            raise invalid(path, "grid_search is not supported by PGSearcher: use tune.choice(values)")
        if len(domain.categories) == 0:
            raise invalid(path, "tune.choice needs at least one category")
        return CategoricalParam(path, tuple(domain.categories))
    if isinstance(domain, Function):
        raise invalid(
            path,
            "tune.sample_from cannot be learned: put it in Tuner(param_space=...), where "
            "Tune resolves it after each suggestion, or use tune.choice/tune.uniform",
        )
    if isinstance(domain, (Float, Integer)):
        return _compile_numeric(path, domain)
    raise invalid(path, f"unsupported domain type {type(domain).__name__}")


def domains(node: Any, path: Path = ()) -> Iterator[tuple[Path, Domain]]:
    """Every Tune domain in a nested spec (dicts and lists), with its key path."""
    if isinstance(node, Domain):
        yield path, node
    elif isinstance(node, Mapping):
        if set(node) == {"grid_search"}:
            raise invalid(path, "grid_search is not supported by PGSearcher: use tune.choice(values)")
        for key, value in node.items():
            yield from domains(value, path + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from domains(value, path + (i,))
    elif isinstance(node, tuple) and contains_domain(node):
        raise invalid(path, "Tune domains inside a tuple cannot be filled in: use a list")
