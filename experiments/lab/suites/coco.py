"""COCO's `bbob` and `bbob-mixint` functions (package `coco-experiment`, module `cocoex`) as `Objective`s.

`bbob`: the 24 noiseless functions on [-5, 5]^d, each variable a Tune `uniform(-5, 5)`. `bbob-mixint`: the
same functions with 80 % of the variables discretized; in dimension d the first d/5 variables take 2
values, the next d/5 take 4, then 8 and 16 (`randint(0, k)`), and the last d/5 are `uniform(-5, 5)`.
Integers are rounded before evaluation (some searchers suggest them off the grid).

Known optima: a bbob instance's f_opt is its value at `cocoex.BareProblem(...).best_parameter()`; COCO
shifts each bbob-mixint problem so that the optimum lies on its lattice and scales the objective by a
per-function factor (`SCALING` below, from COCO's `suite_bbob_mixint.c`), so its f_opt is the factor times
the bbob instance's f_opt (true below dimension 40, where COCO switches to its large-scale functions).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from ray import tune

from experiments.lab.objectives import Objective

# COCO's suite_bbob_mixint_scaling_factors, f1 ... f24.
SCALING = (1, 1e-3, 1e-1, 1e-1, 1, 1e-2, 1, 1e-2, 1e-2, 1e-3, 1e-2, 1e-4) + (
    1e-1,
    1,
    1e-1,
    1,
    10,
    1,
    10,
    1e-1,
    1,
    1,
    10,
    1e-1,
)
NAMES = {
    3: "separable Rastrigin",
    4: "Bueche-Rastrigin",
    8: "Rosenbrock",
    9: "rotated Rosenbrock",
    10: "ellipsoid",
    11: "discus",
    15: "Rastrigin",
    17: "Schaffer F7",
    21: "Gallagher 101 peaks",
    22: "Gallagher 21 peaks",
}


def problem_name(suite: str, function: int, dimension: int, instance: int) -> str:
    """The objective's name: `bbob_f03_d05_i2`, `mixint_f08_d10_i1`."""
    prefix = "mixint" if suite == "bbob-mixint" else "bbob"
    return f"{prefix}_f{function:02d}_d{dimension:02d}_i{instance}"


def integer_cardinalities(suite: str, dimension: int) -> list[int]:
    """How many values each variable takes (0: continuous), COCO's layout for `bbob-mixint`."""
    if suite != "bbob-mixint":
        return [0] * dimension
    return [(2, 4, 8, 16, 0)[i // (dimension // 5)] for i in range(dimension)]


def tune_space(suite: str, dimension: int) -> dict:
    """`x0` ... `x{d-1}`: `randint(0, k)` for a variable with k values, else `uniform(-5, 5)`."""
    return {
        f"x{i}": tune.randint(0, k) if k else tune.uniform(-5.0, 5.0)
        for i, k in enumerate(integer_cardinalities(suite, dimension))
    }


def known_optimum(suite: str, function: int, dimension: int, instance: int) -> float:
    """f_opt of the problem (see the module docstring)."""
    import cocoex

    bare = cocoex.BareProblem("bbob", function, dimension, instance)
    fopt = float(bare(np.asarray(bare.best_parameter(), dtype=float)))
    return fopt * SCALING[function - 1] if suite == "bbob-mixint" else fopt


class CocoFunction:
    """One COCO problem as a function of a Tune config (the problem is built lazily, per process)."""

    def __init__(self, suite: str, function: int, dimension: int, instance: int) -> None:
        self.suite, self.function, self.dimension, self.instance = suite, function, dimension, instance
        self._cardinalities = integer_cardinalities(suite, dimension)

    @functools.cached_property
    def _problem(self) -> Any:
        """The cocoex problem, from a suite of just that problem (a whole suite takes seconds to build; the
        suite is kept alive with its problem)."""
        import cocoex

        only = f"function_indices: {self.function} dimensions: {self.dimension} instance_indices: {self.instance}"
        self._suite = cocoex.Suite(self.suite, "", only)
        return self._suite.get_problem_by_function_dimension_instance(self.function, self.dimension, self.instance)

    def __call__(self, config: dict) -> float:
        """The function's value, integer variables rounded into their range."""
        x = np.array([float(config[f"x{i}"]) for i in range(self.dimension)])
        for i, k in enumerate(self._cardinalities):
            if k:
                x[i] = np.clip(np.round(x[i]), 0, k - 1)
        return float(self._problem(x))


def objective(suite: str, function: int, dimension: int, instance: int) -> Objective:
    """An `Objective` for one COCO problem, kind "synthetic" (bbob) or "mixed" (bbob-mixint)."""
    label = NAMES.get(function, f"f{function}")
    return Objective(
        problem_name(suite, function, dimension, instance),
        "mixed" if suite == "bbob-mixint" else "synthetic",
        tune_space(suite, dimension),
        CocoFunction(suite, function, dimension, instance),
        known_optimum(suite, function, dimension, instance),
        f"COCO {suite} f{function} ({label}), {dimension}-D, instance {instance}",
    )
