"""The noisy suite: the lab's synthetic and mixed objectives seen through observation noise, and pure noise.

A real training run's validation loss is one draw: the same config trained again gives another value. A
noisy objective is an objective of `experiments.lab.objectives` whose every evaluation the driver
(`experiments.lab.driver.Driver.evaluate`) returns with Gaussian noise added, of standard deviation
`FRACTION` of the objective's spread (the median of a seeded uniform sample less its best value, the range
that Bayesmark's score normalizes by). The run keeps the true values beside what the searcher saw, and a
run is judged by the true value of the config it would return: the one with the best observed value.

Pure noise objectives have a constant true value: whatever a searcher learns from them is noise. They check
that a search fed noise goes on sampling its whole space: every value of a small integer domain (Ray's own
sampling test asks that of a searcher; here it is fed pure noise for 1,000 trials first).

`DEV` and `HELD_OUT` follow the halves of the `ours` suite, with one pure noise objective in each.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
from ray import tune

from experiments.lab.objectives import OBJECTIVES, Objective
from experiments.lab.spaces import sample_config

FRACTION = 0.05
SPREAD_SAMPLE = 1000  # seeded uniform configs that set an objective's spread
DEV_BASES = ("branin", "rosenbrock4", "ackley5", "mixed_bowls")
HELD_OUT_BASES = ("hartmann6", "styblinski_tang5", "levy4", "mixed_categorical")

# The integer parameter first: `coverage` counts the values it takes.
PURE_NOISE = {
    "pure_noise_int": {"n": tune.randint(-9, 15), "x": tune.uniform(0, 1), "c": tune.choice(list("abcd"))},
    "pure_noise_mixed": {
        "k": tune.randint(1, 9),
        "lr": tune.loguniform(1e-5, 1e-1),
        "opt": tune.choice(["sgd", "adam", "adamw", "rmsprop", "lion"]),
        "drop": tune.quniform(0.0, 0.5, 0.1),
    },
}
DEV = tuple(f"noisy_{b}" for b in DEV_BASES) + ("pure_noise_int",)
HELD_OUT = tuple(f"noisy_{b}" for b in HELD_OUT_BASES) + ("pure_noise_mixed",)


def spread(objective: Objective) -> float:
    """The median less the best of `SPREAD_SAMPLE` seeded uniform configs' values."""
    rng = np.random.default_rng(0)
    values = np.array([objective.fn(sample_config(objective.space, rng)) for _ in range(SPREAD_SAMPLE)])
    return float(np.median(values) - values.min())


def noisy(base: Objective) -> Objective:
    """`base` seen with Gaussian noise of `FRACTION` of its spread."""
    sd = FRACTION * spread(base)
    return dataclasses.replace(
        base,
        name=f"noisy_{base.name}",
        noise=sd,
        description=f"{base.name} ({base.description}) with observation noise of standard deviation {sd:.3g}",
    )


def _zero(config: dict) -> float:
    """The true value of a pure noise objective: the same everywhere."""
    return 0.0


def pure_noise(name: str) -> Objective:
    """Standard normal noise around a constant, over `PURE_NOISE[name]`."""
    return Objective(name, "mixed", PURE_NOISE[name], _zero, 0.0, "standard normal noise, nothing to learn", 1.0)


@functools.cache
def objectives() -> dict[str, Objective]:
    """Every objective of the suite by name."""
    built = [noisy(OBJECTIVES[b]) for b in DEV_BASES + HELD_OUT_BASES] + [pure_noise(n) for n in PURE_NOISE]
    return {o.name: o for o in built}
