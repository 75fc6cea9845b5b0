"""The search space: Tune domains <-> one latent row per config.

Every config of a Tune search space is encoded as one row of floats: the numeric parameters'
latent ``z`` first, then the choices' category indices (``_params`` compiles each domain). The
actors, the policy and the models work on these rows only and never branch on Tune's domain types.
A space also describes itself as JSON (``describe``), so a checkpoint can hold it without a pickle.
"""

from __future__ import annotations

import copy
import json
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Union

import numpy as np
from ray.tune.search.sample import Categorical

from ._codec import Codec, Opaque, objects
from ._params import (
    CategoricalParam,
    NumericParam,
    compile_domain,
    contains_domain,
    domains,
    invalid,
    same,
)
from ._util import KeyPath, copy_config, get_path, is_number, path_str, set_path

__all__ = ["CategoricalParam", "NumericParam", "SearchSpace"]

Path = KeyPath
Row = Union[np.ndarray, Sequence[float]]  # a latent row


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
        self._spec = copy.deepcopy(dict(spec))  # what ``describe`` writes
        root = self._compile_scope(copy.deepcopy(self._spec), (), (), found, branches)
        if not found:
            raise ValueError(
                "the search space holds no Tune domains to search over (tune.uniform, tune.choice, ...); if its "
                "hyperparameters are in PopulationBasedTraining's hyperparam_mutations: PBT refuses every search "
                "algorithm, and ray_pgsearch.pbt is the way to use a PGSearcher policy with PBT"
            )
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
        for path, domain in list(domains(node)):
            name = prefix + path
            index = len(found)
            if isinstance(domain, Categorical) and any(contains_domain(c) for c in domain.categories):
                found.append((compile_domain(name, domain), condition))
                branches[index] = [
                    self._compile_scope(copy.deepcopy(c), name + (i,), condition + ((index, i),), found, branches)
                    if contains_domain(c)
                    else None
                    for i, c in enumerate(domain.categories)
                ]
            else:
                found.append((compile_domain(name, domain), condition))
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

    # -- as JSON ----------------------------------------------------------------------------------
    def codec(self, strict: bool = True) -> Codec:
        """The codec of this space's values: the objects of its spec JSON cannot hold are referred to
        by their place in it, so a config written with it reads back with the same objects."""
        return Codec(objects(self._spec), strict=strict)

    def describe(self) -> dict[str, Any]:
        """The spec as JSON (``_codec``): domains with their bounds, samplers and quanta, constants
        and categories as values."""
        return {"spec": self.codec().encode(self._spec)}

    @classmethod
    def from_description(cls, description: Mapping[str, Any]) -> SearchSpace:
        """The space ``describe`` wrote; objects JSON could not hold become ``Opaque`` stand-ins
        (``holds_stand_ins``), which keep the layout but are not the user's objects."""
        return cls(Codec(strict=False).decode(description["spec"]))

    @property
    def holds_stand_ins(self) -> bool:
        """Whether this space was read from a description that held objects JSON cannot hold."""
        return any(isinstance(o, Opaque) for o in objects(self._spec))

    def same_as(self, description: Mapping[str, Any]) -> bool:
        """Whether ``description`` is this space's (objects compared by type, not by repr)."""

        def plain(tree: Any) -> Any:
            if isinstance(tree, list):
                return [plain(v) for v in tree]
            if isinstance(tree, dict):
                return {k: plain(v) for k, v in tree.items() if not ("$object" in tree and k in ("repr", "$object"))}
            return tree

        try:
            other = SearchSpace.from_description(description).describe()
        except (ValueError, KeyError, TypeError):
            return False
        return json.dumps(plain(self.describe()), sort_keys=True) == json.dumps(plain(other), sort_keys=True)

    def model_view(self, rows: np.ndarray) -> np.ndarray:
        """Rows as the models compare them: in a conditional space every inactive parameter takes one
        shared value (z = 0.5, category -1), so only the values a config used tell configs apart."""
        if not self.conditional:
            return rows
        inactive = np.r_[np.full(self.n_numeric, 0.5), np.full(len(self.categorical), -1.0)]
        return np.where(self.active(rows), rows, inactive)

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
                    raise invalid(param.path, f"expected a number, got {value!r}")
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
            if scopes[index] is None and same(category, value):
                return index
        for index, scope in enumerate(scopes):
            if scope is not None and self._fits(scope, value):
                return index
        raise invalid(self.params[i].path, f"{value!r} matches none of the choices")

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
            raise invalid(param.path, f"expected a number, got {value!r}")
        value = int(value) if param.integer else float(value)
        if not param.contains(value):
            raise invalid(param.path, f"{value!r} lies outside the domain")
        return value

    def sample_prior(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """0.2's name of ``latin_hypercube`` (deprecated)."""
        warnings.warn("SearchSpace.sample_prior is now latin_hypercube", DeprecationWarning, stacklevel=2)
        return self.latin_hypercube(rng, n)

    def latin_hypercube(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` rows of a Latin hypercube over the domains' own distributions: each numeric z in n bins,
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
        raise invalid(name, "missing from the config") from None
