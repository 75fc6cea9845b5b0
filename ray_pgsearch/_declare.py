"""How settings are declared: one ``setting(...)`` per field carries its default, range,
documentation and 0.2 name; validation, error messages, suggestions for misspelled names and the
documentation table are derived from these declarations (``Catalog``).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import typing
from collections.abc import Iterator, Mapping
from dataclasses import field
from typing import Any

from ._util import is_number

__all__ = ["Catalog", "Group", "setting"]


def setting(default: Any, interval: str, doc: str, old: str | None = None) -> Any:
    """A settings field: its default, its range (an interval such as "(0, 1]" or "[2, inf)"), one
    line of documentation and its 0.2 name."""
    left, low, high, right = interval[0], *interval[1:-1].split(","), interval[-1]
    meta = {
        "doc": doc,
        "low": float(low),
        "high": float(high),
        "open_low": left == "(",
        "open_high": right == ")",
        "old": old,
    }
    return field(default=default, metadata=meta)


def _range(meta: Mapping[str, Any]) -> str:
    lo, hi = meta["low"], meta["high"]
    left = "(" if meta["open_low"] or lo == -math.inf else "["
    right = ")" if meta["open_high"] or hi == math.inf else "]"
    return f"{left}{lo:g}, {hi:g}{right}"


def _check_number(where: str, kind: type, value: Any, meta: Mapping[str, Any]) -> None:
    if kind is int:
        ok = not isinstance(value, bool) and isinstance(value, int)
    else:
        ok = is_number(value) and math.isfinite(float(value))
    if ok:
        v = float(value)
        lo, hi = meta["low"], meta["high"]
        ok = (v > lo if meta["open_low"] else v >= lo) and (v < hi if meta["open_high"] else v <= hi)
    if not ok:
        what = "an integer" if kind is int else "a finite number"
        raise ValueError(f"{where} must be {what} in {_range(meta)}, got {value!r}")


class Group:
    """Validation of a group from its fields' declarations (and ``_check`` for relations)."""

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            where = f"Settings.{self._name}.{f.name}"  # type: ignore[attr-defined]
            value, kind = getattr(self, f.name), hints[f.name]
            if kind in (int, float):
                _check_number(where, kind, value, f.metadata)
            else:  # a tuple of numbers
                if not isinstance(value, tuple) or not value:
                    raise ValueError(f"{where} must be a non-empty tuple of numbers, got {value!r}")
                for item in value:
                    _check_number(where, float, item, f.metadata)
        self._check()

    def _check(self) -> None:
        """Relations between fields; a ValueError names them."""


class Catalog:
    """The settings groups by name, and what their declarations give: the 0.2 names, checks of
    field names with suggestions, and the documentation table."""

    def __init__(self, groups: Mapping[str, type[Group]]):
        self.groups = dict(groups)
        self.old_names: dict[str, tuple[str, str]] = {
            f.metadata["old"]: (group, f.name) for group in self.groups for f in self.fields(group) if f.metadata["old"]
        }

    def fields(self, group: str) -> list[dataclasses.Field]:
        return list(dataclasses.fields(self.groups[group]))  # type: ignore[arg-type]

    def check_fields(self, group: str, values: Mapping[str, Any]) -> None:
        """A TypeError for a name that is no field of ``group``, with the close names."""
        known = {f.name for f in self.fields(group)}
        for name in values:
            if name not in known:
                raise TypeError(f"unknown setting {group}.{name}{self.suggestion(f'{group}.{name}', name)}")

    def _names(self) -> Iterator[str]:
        yield from self.groups
        for group in self.groups:
            for f in self.fields(group):
                yield f"{group}.{f.name}"
                yield f.name
        yield from self.old_names

    def suggestion(self, *names: str) -> str:
        """'; did you mean ...?' with the known names closest to ``names``, or the groups."""
        known = sorted(set(self._names()))
        close: list[str] = []
        for name in names:
            close += [c for c in difflib.get_close_matches(name, known, n=3, cutoff=0.7) if c not in close]
        shown = []
        for c in close:  # a bare field name is written with its group
            if c in self.old_names:
                shown.append(f"{c} (now {'.'.join(self.old_names[c])})")
            elif "." not in c and c not in self.groups:
                shown += [f"{g}.{c}" for g in self.groups if any(f.name == c for f in self.fields(g))]
            else:
                shown.append(c)
        shown = list(dict.fromkeys(shown))
        return f"; did you mean {' or '.join(shown)}?" if shown else f"; the groups are {', '.join(self.groups)}"

    def table(self) -> str:
        """A markdown table of every setting: name, default, range, meaning and 0.2 name."""
        lines = ["| setting | default | range | meaning | 0.2 name |", "|---|---|---|---|---|"]
        for group in self.groups:
            for f in self.fields(group):
                default = f.default
                shown = ", ".join(f"{v:g}" for v in default) if isinstance(default, tuple) else f"{default:g}"
                old = f"`{f.metadata['old']}`" if f.metadata["old"] else ""
                doc = f.metadata["doc"].replace("|", "\\|")  # a | inside a cell would end it
                lines.append(f"| `{group}.{f.name}` | {shown} | {_range(f.metadata)} | {doc} | {old} |")
        return "\n".join(lines) + "\n"
