"""The opening of a search: the user's points to evaluate, then a Latin-hypercube design.

Each ask takes, in this order: the next of the user's ``points_to_evaluate`` (a partial point takes
its missing values from a draw of the policy), then the next row of the startup design, a Latin
hypercube over the domains' own distributions (with a warm start, interleaved with the earlier
search's best configs). The model step takes over once both are used up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ._space import SearchSpace
from ._util import copy_config

__all__ = ["Opening"]


class Opening:
    """The points to evaluate and the design rows not asked yet."""

    def __init__(
        self,
        space: SearchSpace,
        rng: np.random.Generator,
        size: int,
        points: Sequence[Mapping[str, Any]] | None = None,
    ):
        self.rows = list(space.latin_hypercube(rng, size))
        for point in points or []:
            space.check_point(point)  # a ValueError now, not at the trial that would run it
        self.points = [copy_config(p) for p in points or []]

    def next_point(self) -> dict | None:
        """The next point to evaluate (partial or whole), or None when there is none left."""
        return self.points.pop(0) if self.points else None

    def next_row(self) -> np.ndarray | None:
        """The next row of the design, or None when it is used up."""
        return self.rows.pop(0) if self.rows else None

    def drop(self, rows: set[bytes]) -> None:
        """Takes these rows out of the design (an earlier search's configs once it is rejected)."""
        self.rows = [row for row in self.rows if row.tobytes() not in rows]

    def state(self, dim: int) -> dict[str, Any]:
        return {"points": copy_config(self.points), "rows": np.array(self.rows).reshape(-1, dim)}

    def load(self, state: dict[str, Any]) -> None:
        self.points = copy_config(state["points"])
        self.rows = [row.copy() for row in state["rows"]]
