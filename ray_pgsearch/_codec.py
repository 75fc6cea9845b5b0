"""Values as plain JSON, for checkpoints that load without running code.

JSON holds None, booleans, numbers, strings, lists and dicts with string keys. Everything else a
config or a search space may hold is written as a tagged object:

* ``{"$float": "nan" | "inf" | "-inf"}``: a float JSON cannot hold;
* ``{"$numpy": dtype, "value": v}``: a numpy scalar;
* ``{"$tuple": [...]}``, ``{"$dict": [[key, value], ...]}`` (a dict with a key that is not a
  string, or a string starting with ``$``);
* ``{"$domain": kind, ...}``: a Tune domain (``float``, ``int`` with its bounds, sampler and
  quantum, ``choice`` with its categories);
* ``{"$object": i, "type": ..., "repr": ...}``: any other object (a class, a function, an
  instance). JSON cannot hold it: ``i`` is its place among the objects of the search space's spec
  (``objects(spec)``), so it is read back as the same object of the same space given again; read
  without that space it becomes an ``Opaque`` stand-in that only keeps its type and repr.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from ray.tune.search.sample import Categorical, Domain, Float, Integer, LogUniform, Normal, Quantized

__all__ = ["Codec", "Opaque", "category_key", "objects"]


class Opaque:
    """A stand-in for an object a checkpoint could not hold: its type's name and its repr."""

    def __init__(self, type_name: str, text: str):
        self.type_name, self.text = type_name, text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Opaque) and (self.type_name, self.text) == (other.type_name, other.text)

    def __hash__(self) -> int:
        return hash((self.type_name, self.text))

    def __repr__(self) -> str:
        return f"Opaque({self.type_name}: {self.text})"


def _qualname(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', type(obj).__name__)}"


def _identify(value: Any) -> tuple[str, str]:
    """A stable (type, text) for an object: the qualified name of a class or function (a repr with
    a memory address would differ between processes), else its type's name and its repr."""
    if isinstance(value, Opaque):
        return value.type_name, value.text
    if isinstance(value, type) or callable(value) and hasattr(value, "__qualname__"):
        return type(value).__name__, _qualname(value)
    return _qualname(type(value)), repr(value)


def _is_plain(value: Any) -> bool:
    """A value JSON holds as itself (tagged floats and containers aside)."""
    return value is None or isinstance(value, (bool, int, float, str, list, tuple, dict, np.generic, Domain))


def objects(spec: Any) -> list[Any]:
    """The objects of a spec that JSON cannot hold, in a fixed walk order (the ``$object`` indices)."""
    found: list[Any] = []

    def walk(node: Any) -> None:
        if isinstance(node, Categorical):
            for c in node.categories:
                walk(c)
        elif isinstance(node, Domain):
            if not isinstance(node, (Float, Integer)):
                found.append(node)
        elif isinstance(node, Mapping):
            for k, v in node.items():
                walk(k)
                walk(v)
        elif isinstance(node, (list, tuple)):
            for v in node:
                walk(v)
        elif not _is_plain(node):
            found.append(node)

    walk(spec)
    return found


def category_key(value: Any) -> str:
    """A key that tells categories apart across processes: their JSON, or (type, repr)."""
    import json

    return json.dumps(Codec().encode(value), sort_keys=True)


class Codec:
    """Encodes values into JSON and back; ``known`` are the objects ``$object`` indices refer to."""

    def __init__(self, known: Sequence[Any] = (), strict: bool = False):
        self.known = list(known)
        self.strict = strict  # an unknown object raises ValueError instead of becoming an Opaque

    def encode(self, value: Any) -> Any:
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, int):
            return value
        if isinstance(value, float):
            return value if math.isfinite(value) else {"$float": repr(value)}
        if isinstance(value, np.generic):
            return {"$numpy": value.dtype.str, "value": self.encode(value.item())}
        if isinstance(value, list):
            return [self.encode(v) for v in value]
        if isinstance(value, tuple):
            return {"$tuple": [self.encode(v) for v in value]}
        if isinstance(value, Mapping):
            if all(isinstance(k, str) and not k.startswith("$") for k in value):
                return {k: self.encode(v) for k, v in value.items()}
            return {"$dict": [[self.encode(k), self.encode(v)] for k, v in value.items()]}
        if isinstance(value, (Float, Integer, Categorical)):
            return self._encode_domain(value)
        type_name, text = _identify(value)
        return {"$object": self._index(value), "type": type_name, "repr": text}

    def _index(self, value: Any) -> int | None:
        for i, k in enumerate(self.known):
            if k is value:
                return i
        for i, k in enumerate(self.known):
            try:
                if type(k) is type(value) and bool(k == value):
                    return i
            except Exception:  # an == that raises or returns an array: not this one
                continue
        return None

    def _encode_domain(self, domain: Any) -> dict[str, Any]:
        if isinstance(domain, Categorical):
            return {"$domain": "choice", "categories": [self.encode(c) for c in domain.categories]}
        sampler, q = domain.get_sampler(), None
        if isinstance(sampler, Quantized):
            sampler, q = sampler.get_sampler(), sampler.q
        kind = (
            "normal" if isinstance(sampler, Normal) else "loguniform" if isinstance(sampler, LogUniform) else "uniform"
        )
        out = {
            "$domain": "float" if isinstance(domain, Float) else "int",
            "lower": self.encode(domain.lower),
            "upper": self.encode(domain.upper),
            "sampler": kind,
            "q": self.encode(q),
        }
        if kind == "normal":
            out.update(mean=self.encode(sampler.mean), sd=self.encode(sampler.sd))
        return out

    def decode(self, data: Any) -> Any:
        if isinstance(data, list):
            return [self.decode(v) for v in data]
        if not isinstance(data, dict):
            return data
        if "$float" in data:
            return float(data["$float"])
        if "$numpy" in data:
            return np.dtype(data["$numpy"]).type(self.decode(data["value"]))
        if "$tuple" in data:
            return tuple(self.decode(v) for v in data["$tuple"])
        if "$dict" in data:
            return {self.decode(k): self.decode(v) for k, v in data["$dict"]}
        if "$domain" in data:
            return self._decode_domain(data)
        if "$object" in data:
            return self._decode_object(data)
        return {k: self.decode(v) for k, v in data.items()}

    def _decode_object(self, data: dict[str, Any]) -> Any:
        i = data["$object"]
        if i is not None and 0 <= i < len(self.known) and _identify(self.known[i])[0] == data["type"]:
            return self.known[i]
        if self.strict:
            raise ValueError(
                f"the checkpoint refers to a {data['type']} ({data['repr']}) that JSON cannot hold, and the "
                "search space it was written with was not given again"
            )
        return Opaque(data["type"], data["repr"])

    def _decode_domain(self, data: dict[str, Any]) -> Domain:
        if data["$domain"] == "choice":
            return Categorical([self.decode(c) for c in data["categories"]]).uniform()
        cls = Float if data["$domain"] == "float" else Integer
        domain = cls(self.decode(data["lower"]), self.decode(data["upper"]))
        if data["sampler"] == "normal":
            domain = domain.normal(self.decode(data["mean"]), self.decode(data["sd"]))  # type: ignore[union-attr]
        elif data["sampler"] == "loguniform":
            domain = domain.loguniform()
        else:
            domain = domain.uniform()
        q = self.decode(data["q"])
        return domain if q is None else domain.quantized(q)


def walk_arrays(tree: Any, path: str = "") -> Iterator[tuple[str, np.ndarray]]:
    """Every numpy array in a tree of dicts and lists, with a path naming it."""
    if isinstance(tree, np.ndarray):
        yield path, tree
    elif isinstance(tree, Mapping):
        for k, v in tree.items():
            yield from walk_arrays(v, f"{path}.{k}" if path else str(k))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            yield from walk_arrays(v, f"{path}.{i}")
