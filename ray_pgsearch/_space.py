"""The search space: Tune domains <-> one latent vector per config.

Every config of a Tune search space is encoded as one row of floats. Each numeric parameter takes
one coordinate ``z`` in the unit interval [0, 1], laid out so that a uniform ``z`` gives the domain's
own prior (uniform, log-uniform, normal through its CDF); each ``tune.choice`` takes one coordinate
that holds the index of the chosen category. The actors, the policy and the model work on these
rows only and never branch on Tune's domain types: this module is the one place that knows them.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Union

import numpy as np
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

from ._util import KeyPath, copy_config, get_path, is_number, path_str, set_path

__all__ = ["CategoricalParam", "NumericParam", "SearchSpace"]

Path = KeyPath
Row = Union[np.ndarray, Sequence[float]]  # a latent row

_STANDARD_NORMAL = NormalDist()
_Z_EPS = 1e-12  # keeps the normal inverse CDF finite at the ends of [0, 1]


def _invalid(path: Path, message: str) -> ValueError:
    return ValueError(f"search space key '{path_str(path)}': {message}")


def _contains_domain(value: Any) -> bool:
    """True when a choice's category still holds Tune domains (a conditional space)."""
    if isinstance(value, Domain):
        return True
    if isinstance(value, Mapping):
        return any(_contains_domain(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_contains_domain(v) for v in value)
    return False


def _same(a: Any, b: Any) -> bool:
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
            if _same(category, value):
                return float(i)
        raise ValueError(f"{value!r} is not one of the choices of '{path_str(self.path)}'")

    def contains(self, value: Any) -> bool:
        return any(_same(c, value) for c in self.categories)


def _compile_numeric(path: Path, domain: Float | Integer) -> NumericParam:
    """Validate one Float/Integer domain and describe it as a NumericParam."""
    sampler = domain.get_sampler()
    q = None
    if isinstance(sampler, Quantized):
        q = sampler.q
        sampler = sampler.get_sampler()
        if not (isinstance(q, (int, float)) and math.isfinite(q) and q > 0):
            raise _invalid(path, f"the quantization step q must be a positive number, got {q!r}")
    integer = isinstance(domain, Integer)
    lower, upper = domain.lower, domain.upper
    if isinstance(sampler, Normal):
        if not (math.isfinite(sampler.mean) and math.isfinite(sampler.sd) and sampler.sd > 0):
            raise _invalid(path, f"randn needs a finite mean and sd > 0, got {sampler.mean}, {sampler.sd}")
        return NumericParam(path, "normal", -math.inf, math.inf, integer, q, sampler.mean, sampler.sd)
    if not isinstance(sampler, (Uniform, LogUniform)):
        raise _invalid(path, f"unsupported sampler {type(sampler).__name__}")
    if not (math.isfinite(lower) and math.isfinite(upper) and lower < upper):
        raise _invalid(path, f"needs finite bounds with lower < upper, got [{lower}, {upper}]")
    kind = "log" if isinstance(sampler, LogUniform) else "uniform"
    if kind == "log" and lower <= 0:
        raise _invalid(path, f"a log domain needs lower > 0, got {lower}")
    if integer:
        # Grid index range [lower, upper): Tune's samplers are upper-exclusive for plain integers and
        # for q == 1, upper-inclusive for quantized integers with q > 1.
        step = q or 1
        lo, hi = math.ceil(lower / step), math.floor(upper / step) + (0 if step == 1 else 1)
        if hi <= lo:
            raise _invalid(path, f"no multiple of q={step} in [{lower}, {upper})")
        return NumericParam(path, kind, lo, hi, True, q if step != 1 else None)
    if q:
        lower, upper = math.ceil(lower / q) * q, math.floor(upper / q) * q
        if upper < lower or (kind == "log" and lower <= 0):
            raise _invalid(path, f"no multiple of q={q} in [{domain.lower}, {domain.upper}]")
        if upper == lower:
            raise _invalid(path, f"only one multiple of q={q} in [{domain.lower}, {domain.upper}]: use a constant")
    return NumericParam(path, kind, float(lower), float(upper), False, q)


def _compile(path: Path, domain: Domain) -> NumericParam | CategoricalParam:
    if isinstance(domain, Categorical):
        if domain.is_grid():
            raise _invalid(path, "grid_search is not supported by PGSearcher: use tune.choice(values)")
        if len(domain.categories) == 0:
            raise _invalid(path, "tune.choice needs at least one category")
        return CategoricalParam(path, tuple(domain.categories))
    if isinstance(domain, Function):
        raise _invalid(
            path,
            "tune.sample_from cannot be learned: put it in Tuner(param_space=...), where "
            "Tune resolves it after each suggestion, or use tune.choice/tune.uniform",
        )
    if isinstance(domain, (Float, Integer)):
        return _compile_numeric(path, domain)
    raise _invalid(path, f"unsupported domain type {type(domain).__name__}")


def _domains(node: Any, path: Path = ()) -> Iterator[tuple[Path, Domain]]:
    """Every Tune domain in a nested spec (dicts and lists), with its key path."""
    if isinstance(node, Domain):
        yield path, node
    elif isinstance(node, Mapping):
        if set(node) == {"grid_search"}:
            raise _invalid(path, "grid_search is not supported by PGSearcher: use tune.choice(values)")
        for key, value in node.items():
            yield from _domains(value, path + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _domains(value, path + (i,))
    elif isinstance(node, tuple) and _contains_domain(node):
        raise _invalid(path, "Tune domains inside a tuple cannot be filled in: use a list")


@dataclass
class _Scope:
    """A (sub)spec with its domains taken out: ``template`` holds None where each domain stood, and
    ``slots`` says which parameter fills which path. A conditional choice's categories are scopes."""

    template: Any
    slots: list[tuple[Path, int]]


class SearchSpace:
    """A compiled Tune search space: parameter list, latent layout, and config <-> row maps.

    Row layout: ``[z_1 .. z_n, c_1 .. c_k]``, numeric latents first (``numeric``), then category
    indices (``categorical``). Constants and Tune placeholders in the spec are copied into every
    config untouched.

    Conditional spaces: a ``tune.choice`` whose categories hold their own domains (dicts, lists or
    domains, at any depth) owns a scope per category. Every parameter of every branch has a
    coordinate, named ``<choice path>/<category index>/<path inside the category>``; a parameter is
    *active* in a row when every choice above it picked its branch (``conditions``), and only active
    parameters appear in the decoded config.
    """

    def __init__(self, spec: Mapping[str, Any]):
        if not isinstance(spec, Mapping):
            raise ValueError(f"the search space must be a dict of Tune domains, got {type(spec).__name__}")
        found: list[tuple[NumericParam | CategoricalParam, tuple]] = []
        branches: dict[int, list[_Scope | None]] = {}
        root = self._compile_scope(copy.deepcopy(dict(spec)), (), (), found, branches)
        if not found:
            raise ValueError("the search space holds no Tune domains to search over")
        # Layout: numeric parameters first, then choices; renumber everything found in walk order.
        order = [i for i, (p, _) in enumerate(found) if isinstance(p, NumericParam)]
        order += [i for i, (p, _) in enumerate(found) if isinstance(p, CategoricalParam)]
        new = {old: new for new, old in enumerate(order)}
        self.params: list[NumericParam | CategoricalParam] = [found[i][0] for i in order]
        self.conditions: list[tuple[tuple[int, int], ...]] = [tuple((new[k], c) for k, c in found[i][1]) for i in order]
        self.numeric: list[NumericParam] = [p for p in self.params if isinstance(p, NumericParam)]
        self.categorical: list[CategoricalParam] = [p for p in self.params if isinstance(p, CategoricalParam)]
        self._local_path: dict[int, Path] = {}  # parameter -> its path inside its scope
        for scope in [root] + [s for scopes in branches.values() for s in scopes if s is not None]:
            scope.slots = [(path, new[i]) for path, i in scope.slots]
            self._local_path.update((i, path) for path, i in scope.slots)
        self._root = root
        self._branches = {new[i]: scopes for i, scopes in branches.items()}

    def _compile_scope(self, node: Any, prefix: Path, condition: tuple, found: list, branches: dict) -> _Scope:
        """Take the domains out of ``node`` (a spec, or a category of a conditional choice)."""
        slots = []
        for path, domain in list(_domains(node)):
            name = prefix + path
            index = len(found)
            if isinstance(domain, Categorical) and any(_contains_domain(c) for c in domain.categories):
                found.append((_compile(name, domain), condition))
                branches[index] = [
                    self._compile_scope(copy.deepcopy(c), name + (i,), condition + ((index, i),), found, branches)
                    if _contains_domain(c)
                    else None
                    for i, c in enumerate(domain.categories)
                ]
            else:
                found.append((_compile(name, domain), condition))
            slots.append((path, index))
            node = set_path(node, path, None)
        return _Scope(node, slots)

    @property
    def dim(self) -> int:
        return len(self.params)

    @property
    def n_numeric(self) -> int:
        return len(self.numeric)

    @property
    def category_sizes(self) -> list[int]:
        return [p.size for p in self.categorical]

    @property
    def conditional(self) -> bool:
        return bool(self._branches)

    def names(self) -> list[str]:
        return [path_str(p.path) for p in self.params]

    def active(self, rows: np.ndarray) -> np.ndarray:
        """(n, dim) mask: which parameters of each row appear in its config."""
        mask = np.ones(rows.shape, dtype=bool)
        for j, condition in enumerate(self.conditions):
            for k, c in condition:
                mask[:, j] &= rows[:, k] == c
        return mask

    def _fill(self, scope: _Scope, source: Any, plain: Callable, choose: Callable) -> Any:
        """A copy of the scope's template with every slot filled from ``source``: ``plain(i, source)``
        is plain parameter i's value; ``choose(i, source)`` gives a conditional choice's category
        index and the source of its branch, which is filled in recursively."""
        config = copy_config(scope.template)
        for path, i in scope.slots:
            if i in self._branches:
                index, inner = choose(i, source)
                sub = self._branches[i][index]
                value = self._choice(i).categories[index] if sub is None else self._fill(sub, inner, plain, choose)
            else:
                value = plain(i, source)
            config = set_path(config, path, value)
        return config

    def decode(self, row: Row) -> dict:
        """Latent row -> a full nested config (constants included, domains replaced by values)."""
        return self._fill(self._root, row, lambda i, r: self.params[i].decode(r[i]), lambda i, r: (int(r[i]), r))

    def encode(self, config: Mapping[str, Any]) -> np.ndarray:
        """Nested config -> latent row (inactive parameters at the centre of their range, choices at
        category 0); raises ValueError naming a missing or foreign value."""
        row = np.array([0.5] * self.n_numeric + [0.0] * len(self.categorical))
        self._encode_scope(self._root, config, row)
        return row

    def _encode_scope(self, scope: _Scope, node: Any, row: np.ndarray) -> None:
        for _, i in scope.slots:
            if i in self._branches:
                row[i], value = self._chosen(i, node)
                branch = self._branches[i][int(row[i])]
                if branch is not None:
                    self._encode_scope(branch, value, row)
            else:
                param, value = self.params[i], self._slot_value(i, node)
                if isinstance(param, NumericParam) and not is_number(value):
                    raise _invalid(param.path, f"expected a number, got {value!r}")
                row[i] = param.encode(value)

    def _choice(self, i: int) -> CategoricalParam:
        """Parameter i, which the caller knows to be a choice."""
        param = self.params[i]
        assert isinstance(param, CategoricalParam)
        return param

    def _branch_of(self, i: int, value: Any) -> int:
        """The category of conditional choice i that ``value`` was filled from: an equal plain
        category first, else the first branch whose template ``value`` fits."""
        scopes = self._branches[i]
        for index, category in enumerate(self._choice(i).categories):
            if scopes[index] is None and _same(category, value):
                return index
        for index, scope in enumerate(scopes):
            if scope is not None and self._fits(scope, value):
                return index
        raise _invalid(self.params[i].path, f"{value!r} matches none of the choices")

    def _fits(self, scope: _Scope, node: Any) -> bool:
        """Whether ``node`` holds a valid value in every slot of the scope and its constants."""
        probe = copy_config(node)
        try:
            for path, i in scope.slots:
                value = _lookup(probe, path, self.params[i].path)
                if i in self._branches:
                    self._branch_of(i, value)
                elif not self.params[i].contains(value):
                    return False
                probe = set_path(probe, path, None)
        except ValueError:
            return False
        return probe == scope.template

    def complete(self, point: Mapping[str, Any], fill: Row | None = None) -> dict:
        """A user-given nested config (``points_to_evaluate``) -> a full config, its values checked
        against the domains (ValueError naming the key otherwise) and cast to native types. A key the
        point leaves out takes its value from the latent row ``fill``; without one it is an error. A
        branch of a conditional choice is either left out or given whole."""
        if not isinstance(point, Mapping):
            raise ValueError(f"a point to evaluate must be a dict, got {type(point).__name__}")
        return self._fill(
            self._root, point, lambda i, node: self._checked(i, node, fill), lambda i, node: self._chosen(i, node, fill)
        )

    def check_point(self, point: Mapping[str, Any]) -> None:
        """Raises the ValueError ``complete`` would for a value of ``point``, and one for a key the
        space does not have or a constant the point changes (the trial would not run the point the
        user gave); missing keys are allowed."""
        self.complete(point, fill=np.r_[np.full(self.n_numeric, 0.5), np.zeros(len(self.categorical))])
        _check_known(self._root.template, point, (), {path for path, _ in self._root.slots})

    def _slot_value(self, i: int, node: Any) -> Any:
        """Parameter i's value inside ``node``, the part of a config that holds its scope."""
        return _lookup(node, self._local_path[i], self.params[i].path)

    def _chosen(self, i: int, node: Any, fill: Row | None = None) -> tuple[int, Any]:
        """The category index of conditional choice i in ``node`` and the value its branch is read
        from; a missing choice takes its category from ``fill`` (and its whole branch with it)."""
        try:
            value = self._slot_value(i, node)
        except ValueError:
            if fill is None:
                raise
            return int(fill[i]), {}
        return self._branch_of(i, value), value

    def _checked(self, i: int, node: Any, fill: Row | None = None) -> Any:
        """Parameter i's value in a user's point, validated and cast to its native type (decoded from
        ``fill`` when the point leaves it out)."""
        param = self.params[i]
        try:
            value = self._slot_value(i, node)
        except ValueError:
            if fill is None:
                raise
            return param.decode(fill[i])
        if isinstance(param, CategoricalParam):
            return param.decode(param.encode(value))
        if not is_number(value):
            raise _invalid(param.path, f"expected a number, got {value!r}")
        value = int(value) if param.integer else float(value)
        if not param.contains(value):
            raise _invalid(param.path, f"{value!r} lies outside the domain")
        return value

    def sample_prior(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` rows of a Latin hypercube over the prior: each numeric z stratified in n bins,
        each choice cycled through its categories in random order."""
        rows = np.empty((n, self.dim))
        for j in range(self.n_numeric):
            rows[:, j] = (rng.permutation(n) + rng.random(n)) / n
        for j, size in enumerate(self.category_sizes, start=self.n_numeric):
            rows[:, j] = rng.permutation(np.arange(n) % size)
        return rows


def _check_known(template: Any, value: Any, path: Path, slots: set) -> None:
    """ValueError unless ``value`` (a user's point, or a part of it at ``path``) only sets keys of the
    spec and leaves its constants as they are; the values at parameter paths (``slots``) are checked
    by ``complete``."""
    if path in slots:
        return
    where = f"point to evaluate: '{path_str(path)}'"
    if isinstance(value, Mapping) and isinstance(template, Mapping):
        for key, item in value.items():
            if key not in template:
                raise ValueError(f"point to evaluate: '{path_str(path + (key,))}' is not a key of the search space")
            _check_known(template[key], item, path + (key,), slots)
    elif isinstance(value, list) and isinstance(template, list):
        if len(value) > len(template):
            raise ValueError(f"{where} has {len(value)} items, the search space {len(template)}")
        for i, item in enumerate(value):
            _check_known(template[i], item, path + (i,), slots)
    elif isinstance(template, (Mapping, list)) and _holds_slot(path, slots):
        raise ValueError(f"{where} holds parameters in the search space, the point gives {value!r}")
    elif not _equal_constant(template, value):
        raise ValueError(f"{where} is the constant {template!r} in the search space, the point gives {value!r}")


def _holds_slot(path: Path, slots: set) -> bool:
    return any(slot[: len(path)] == path for slot in slots)


def _equal_constant(a: Any, b: Any) -> bool:
    """Equality of constants that keeps ``True`` apart from ``1`` and copes with array-likes."""
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    try:
        return bool(a == b)
    except (ValueError, TypeError):
        return a is b


def _lookup(config: Any, path: Path, name: Path) -> Any:
    """The value at ``path`` in a nested config; a ValueError naming ``name`` when it is missing."""
    try:
        return get_path(config, path)
    except (KeyError, IndexError, TypeError):
        raise _invalid(name, "missing from the config") from None
