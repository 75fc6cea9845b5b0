"""PGSearcher and its ablation arms as named configurations, and `make_searcher`, the one way a study gets a
searcher by name (an arm here or a peer of `experiments.lab.peers`).

An arm is a name plus the keyword overrides it passes to ``PGSearcher`` (and through it to
``PGOptimizer``'s ``Settings``): ``PGSearcher(seed=seed, **arm.overrides)``. A component that the library
lets a caller plug in goes into the overrides the same way, under its keyword. The names are those the
committed results use; a new arm is one more entry of `ARMS` (see experiments/README.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ray.tune.search import Searcher

from experiments.lab.peers import PEERS, quiet
from experiments.lab.restarts import Restarts


@dataclass(frozen=True)
class Arm:
    """A named PGSearcher configuration: `overrides` are keyword arguments of ``PGSearcher`` (its
    ``Settings`` fields among them)."""

    name: str
    overrides: Mapping[str, Any] = field(default_factory=dict)
    note: str = ""
    extensions: Callable[[], list] | None = None  # fresh extensions (their state is per search)

    def searcher(self, seed: int | None, **extra: Any) -> Searcher:
        """A fresh ``PGSearcher(seed=seed, **overrides, **extra)`` (``extra``: per-run arguments such as
        ``warm_start=`` or ``points_to_evaluate=``; they may not repeat an override)."""
        from ray_pgsearch import PGSearcher

        if self.extensions is not None:
            extra = {**extra, "extensions": self.extensions()}
        return PGSearcher(seed=seed, **self.overrides, **extra)


ARMS: dict[str, Arm] = {
    arm.name: arm
    for arm in (
        Arm("pgsearcher", {}, "the defaults"),
        Arm(
            "pgsearcher_no_prior_candidates",
            {"candidates": {"uniform_weight": 0.0}},
            "no uniform draws among the candidates from the good density (candidates.uniform_weight), however "
            "many trials are in flight",
        ),
        Arm(
            "pgsearcher_prior_candidates",
            {"candidates": {"uniform_weight": 1.0, "uniform_min_running": 1}},
            "uniform draws among those candidates however few trials are in flight (candidates.uniform_min_running)",
        ),
        Arm(
            "pgsearcher_restarts",
            {"candidates": {"uniform_weight": 0.0}},
            "starts over after 128 results without a new best (the Restarts extension, not in the library), "
            "measured against the search without prior candidates",
            extensions=lambda: [Restarts(128)],
        ),
        *(
            Arm(
                f"pgsearcher_fail{strength:g}",
                {"failures": {"strength": float(strength)}},
                f"the failure model's strength {strength:g} (failures.strength; 0: off) instead of the default",
            )
            for strength in (0, 3, 30)
        ),
        *(
            Arm(
                f"pgsearcher_entropy{coef:g}",
                {"policy": {"entropy_coef": coef}},
                f"an entropy bonus of {coef:g} in every policy step (policy.entropy_coef) instead of the default",
            )
            for coef in (0.05, 0.1)
        ),
        Arm(
            "pgsearcher_noise1",
            {"rerank": {"noises": (1e-3, 1e-1, 1.0)}},
            "the Gaussian process may also pick a noise variance of 1 (as large as the normal scores' variance)",
        ),
    )
}


def searcher_names() -> list[str]:
    """Every searcher a study can name, in report order: the peers, then PGSearcher's arms."""
    return list(PEERS) + list(ARMS)


def make_searcher(name: str, seed: int, budget: int, concurrency: int) -> Searcher:
    """A fresh, seeded searcher by name, from `ARMS` or `experiments.lab.peers.PEERS`; told the run's budget
    and concurrency (for those that use them). Metric and mode are set later, by the driver or by Tune."""
    quiet()
    if name in ARMS:
        return ARMS[name].searcher(seed)
    if name in PEERS:
        return PEERS[name](seed, budget, concurrency)
    raise KeyError(f"unknown searcher {name!r}; known: {searcher_names()}")
