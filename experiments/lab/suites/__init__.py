"""Benchmark suites, each split into a fixed development half and a fixed held-out half.

- `ours`: the project's 11 objectives (`experiments.lab.objectives`).
- `bayesmark`: the NeurIPS 2020 black-box optimization challenge's scikit-learn problems
  (`experiments.lab.suites.bayesmark`).
- `bbob`: COCO's continuous functions in 2, 5 and 10 dimensions (`experiments.lab.suites.coco`).
- `bbob_mixint`: COCO's mixed-integer functions in 5 and 10 dimensions.
- `crash`: deep-learning-like objectives with regions where trials crash (out of memory, divergence, the
  optimum at a failure boundary, lost nodes) (`experiments.lab.suites.crash`).
- `noisy`: the synthetic and mixed objectives of `ours` with observation noise, and pure noise
  (`experiments.lab.suites.noisy`).

The split is by problem, so the held-out half asks for generalization to functions, models and data
sets not seen while developing: in COCO each half takes one function of a pair of the same BBOB group
(dev | held out: separable Rastrigin | Bueche-Rastrigin, Rosenbrock | rotated Rosenbrock, ellipsoid |
discus, Rastrigin | Schaffer F7, Gallagher 101 | Gallagher 21 peaks) in every dimension; in bayesmark each
half has one problem per model (see `bayesmark.PROBLEMS`); in `ours` each half has synthetic, mixed and
model objectives; in `crash` each half has one objective per kind of crash region. Develop and tune on the
development half only; look at the held-out half to check, never to tune (`experiments.lab.protocol`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

from experiments.lab.objectives import OBJECTIVES, Objective
from experiments.lab.protocol import DEV, HELD_OUT


@dataclass(frozen=True)
class Suite:
    """A named suite: its development and held-out objective names and a builder for its objectives."""

    name: str
    dev: tuple[str, ...]
    held_out: tuple[str, ...]
    build: Callable[[], dict[str, Objective]]

    @property
    def names(self) -> tuple[str, ...]:
        """Every objective of the suite, development half first."""
        return self.dev + self.held_out


# ---------------------------------------------------------------- COCO

# (dev function, held-out function) pairs from the same BBOB group.
BBOB_PAIRS = ((3, 4), (8, 9), (10, 11), (15, 17), (21, 22))
BBOB_DIMENSIONS = {2: 1, 5: 2, 10: 3}  # dimension -> instance used
MIXINT_PAIRS = ((3, 4), (8, 9), (15, 17), (21, 22))
MIXINT_DIMENSIONS = {5: 1, 10: 2}


def _coco_half(suite: str, pairs: tuple[tuple[int, int], ...], dimensions: dict[int, int], half: int) -> list[tuple]:
    """(suite, function, dimension, instance) of one half of a COCO suite."""
    return [(suite, pair[half], d, i) for d, i in dimensions.items() for pair in pairs]


def _coco_suite(name: str, suite: str, pairs: tuple[tuple[int, int], ...], dimensions: dict[int, int]) -> Suite:
    """A COCO suite split by function pair."""
    from experiments.lab.suites import coco

    halves = [_coco_half(suite, pairs, dimensions, h) for h in (0, 1)]

    def build() -> dict[str, Objective]:
        return {o.name: o for o in (coco.objective(*args) for args in halves[0] + halves[1])}

    return Suite(name, *(tuple(coco.problem_name(*args) for args in half) for half in halves), build)


# ---------------------------------------------------------------- bayesmark


def _bayesmark_suite() -> Suite:
    """Bayesmark's problems: the first half of `PROBLEMS` for development, the second held out."""
    from experiments.lab.suites import bayesmark

    names = [bayesmark.problem_name(*p) for p in bayesmark.PROBLEMS]
    half = len(names) // 2
    return Suite("bayesmark", tuple(names[:half]), tuple(names[half:]), bayesmark.objectives)


def _crash_suite() -> Suite:
    """The crash suite, split by kind of crash region (`crash.DEV`, `crash.HELD_OUT`)."""
    from experiments.lab.suites import crash

    return Suite("crash", crash.DEV, crash.HELD_OUT, crash.objectives)


def _noisy_suite() -> Suite:
    """The noisy suite, split as `ours` is (`noisy.DEV`, `noisy.HELD_OUT`)."""
    from experiments.lab.suites import noisy

    return Suite("noisy", noisy.DEV, noisy.HELD_OUT, noisy.objectives)


OURS_DEV = ("branin", "rosenbrock4", "ackley5", "mixed_bowls", "digits_sgd", "diabetes_tree")
OURS_HELD_OUT = ("hartmann6", "styblinski_tang5", "levy4", "mixed_categorical", "cancer_svc")

SUITES: dict[str, Suite] = {
    s.name: s
    for s in (
        Suite("ours", OURS_DEV, OURS_HELD_OUT, lambda: dict(OBJECTIVES)),
        _bayesmark_suite(),
        _coco_suite("bbob", "bbob", BBOB_PAIRS, BBOB_DIMENSIONS),
        _coco_suite("bbob_mixint", "bbob-mixint", MIXINT_PAIRS, MIXINT_DIMENSIONS),
        _crash_suite(),
        _noisy_suite(),
    )
}


@functools.cache
def suite_objectives(suite: str) -> dict[str, Objective]:
    """The objectives of one suite, built once per process (bayesmark and COCO are imported here)."""
    built = SUITES[suite].build()
    return {name: built[name] for name in SUITES[suite].names}


def suite_of(objective: str) -> str:
    """The suite an objective belongs to."""
    for suite in SUITES.values():
        if objective in suite.names:
            return suite.name
    raise KeyError(f"unknown objective {objective!r}")


def half_of(objective: str) -> str:
    """`DEV` or `HELD_OUT`: the half an objective belongs to."""
    return DEV if objective in SUITES[suite_of(objective)].dev else HELD_OUT


def get_objective(name: str) -> Objective:
    """An objective of any suite by name."""
    return suite_objectives(suite_of(name))[name]


# Suites a selection of "all" leaves out: each has its own study and score (experiments.crash, experiments.noise).
APART = ("crash", "noisy")


def expand(selection: str) -> list[str]:
    """Objective names for a comma-separated selection of suites ("all" for every one but those
    `APART`), halves (`bbob:dev`, `ours:held_out`) and objective names."""
    names: list[str] = []
    for item in selection.split(","):
        suite, _, half = item.partition(":")
        if item == "all":
            names += [n for name, s in SUITES.items() if name not in APART for n in s.names]
        elif suite in SUITES:
            s = SUITES[suite]
            names += list({"": s.names, DEV: s.dev, HELD_OUT: s.held_out}[half])
        else:
            suite_of(item)  # raises for an unknown name
            names.append(item)
    return list(dict.fromkeys(names))
