"""Drive any Ray Tune `Searcher` in-process against an objective, as asynchronous workers would."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from ray.tune.search import Searcher

from experiments.objectives import Objective
from experiments.spaces import (
    Categorical,
    Float,
    Integer,
    assert_resolved,
    domain_items,
    get_path,
    int_bounds,
    sample_config,
    snap_int,
)

METRIC = "loss"


@dataclass
class RunRecord:
    """What one searcher did on one objective: best-so-far curve, values and searcher time."""

    searcher: str
    objective: str
    seed: int
    budget: int
    concurrency: int
    curve: list[float]  # best value after each completion
    values: list[float]  # values in completion order
    step_seconds: list[float]  # searcher time since the previous completion, per completion
    duplicates: int = 0  # configs suggested more than once
    off_domain: int = 0  # values outside their domain (off-grid integers, out of bounds...)
    notes: list[str] = field(default_factory=list)

    @property
    def best(self) -> float:
        """The best value found."""
        return self.curve[-1]

    @property
    def seconds_per_trial(self) -> float:
        """Mean searcher seconds (suggest + on_trial_complete) per completed trial."""
        return float(np.sum(self.step_seconds) / max(len(self.step_seconds), 1))


def off_domain_count(space: dict, config: dict) -> int:
    """How many of a config's values lie outside their domain."""
    count = 0
    for path, domain in domain_items(space):
        value = get_path(config, path)
        if isinstance(domain, Categorical):
            count += value not in domain.categories
        elif isinstance(domain, Integer):
            low, high, _ = int_bounds(domain)
            count += value != snap_int(value, domain) or not low <= value <= high
        elif isinstance(domain, Float):
            count += not domain.lower <= value <= domain.upper
    return count


def _config_key(space: dict, config: dict) -> tuple:
    """A hashable key of a config's domain values."""
    return tuple(repr(get_path(config, path)) for path, _ in domain_items(space))


def run_search(
    searcher: Searcher,
    objective: Objective,
    budget: int,
    concurrency: int,
    order_seed: int,
    name: str = "",
    seed: int = 0,
) -> RunRecord:
    """Run `budget` trials keeping up to `concurrency` pending, completed in a seeded random order.

    Each suggested config is evaluated at once but its result is reported only when the trial
    is picked (uniformly among the pending ones) for completion. Only the time inside
    `suggest` and `on_trial_complete` is counted as searcher time.
    """
    searcher.set_search_properties(METRIC, "min", objective.space)  # False: it has its own space
    searcher.set_max_concurrency(concurrency)  # as Tune's ConcurrencyLimiter tells it
    rng = np.random.default_rng(order_seed)
    pending: dict[str, tuple[dict, float]] = {}
    record = RunRecord(name or type(searcher).__name__, objective.name, seed, budget, concurrency, [], [], [])
    seen: set[tuple] = set()
    started = attempts = 0
    finished = False
    step = 0.0
    best = np.inf
    while len(record.values) < budget:
        while not finished and started < budget and len(pending) < concurrency:
            trial_id = f"trial_{attempts:06d}"
            attempts += 1
            t0 = time.perf_counter()
            config = searcher.suggest(trial_id)
            step += time.perf_counter() - t0
            if config is None or config == Searcher.FINISHED:
                finished = config == Searcher.FINISHED or not pending
                if finished:
                    record.notes.append(f"stopped suggesting after {started} trials")
                break
            assert_resolved(config)
            key = _config_key(objective.space, config)
            record.duplicates += key in seen
            seen.add(key)
            record.off_domain += off_domain_count(objective.space, config) > 0
            pending[trial_id] = (config, objective.fn(config))
            started += 1
        if not pending:
            break
        trial_id = list(pending)[rng.integers(len(pending))]
        config, value = pending.pop(trial_id)
        t0 = time.perf_counter()
        searcher.on_trial_complete(trial_id, result={METRIC: value, "training_iteration": 1, "config": config})
        step += time.perf_counter() - t0
        best = min(best, value)
        record.values.append(value)
        record.curve.append(best)
        record.step_seconds.append(step)
        step = 0.0
    record.curve.extend([best] * (budget - len(record.curve)))  # a searcher that gave up
    return record


class RandomSearcher(Searcher):
    """Uniform random search: every domain sampled with Ray's own sampler (nested spaces too)."""

    def __init__(self, metric: str | None = None, mode: str | None = None, seed: int | None = None) -> None:
        super().__init__(metric=metric, mode=mode)
        self._rng = np.random.default_rng(seed)
        self._space: dict | None = None

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        """Adopt the Tune search space."""
        if self._space is not None:
            return False
        self._metric, self._mode, self._space = metric, mode, config
        return True

    def suggest(self, trial_id: str) -> dict:
        """A uniform draw from the space."""
        return sample_config(self._space, self._rng)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        """Random search ignores results."""


def _quiet() -> None:
    """Silence the peer searchers' logging."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    for name in ("hyperopt", "ray.tune.search"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _optuna(seed: int, budget: int, concurrency: int) -> Searcher:
    """Optuna's default sampler (TPE) through Ray's OptunaSearch."""
    from ray.tune.search.optuna import OptunaSearch

    return OptunaSearch(seed=seed)


def _hyperopt(seed: int, budget: int, concurrency: int) -> Searcher:
    """HyperOpt TPE through Ray's HyperOptSearch."""
    from ray.tune.search.hyperopt import HyperOptSearch

    return HyperOptSearch(random_state_seed=seed)


def _nevergrad(seed: int, budget: int, concurrency: int) -> Searcher:
    """Nevergrad's NGOpt, told the budget and number of workers, seeded via its parametrization."""
    import nevergrad as ng
    from ray.tune.search.nevergrad import NevergradSearch

    class SeededNevergradSearch(NevergradSearch):
        def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
            ok = super().set_search_properties(metric, mode, config, **spec)
            self._nevergrad_opt.parametrization.random_state = np.random.RandomState(seed)
            return ok

    return SeededNevergradSearch(
        optimizer=ng.optimizers.NGOpt, optimizer_kwargs={"budget": budget, "num_workers": concurrency}
    )


def _naive_pg(seed: int, budget: int, concurrency: int) -> Searcher:
    """The article's naive policy gradient."""
    from experiments.naive_pg import NaivePGSearcher

    return NaivePGSearcher(seed=seed)


def _pgsearcher(seed: int, budget: int, concurrency: int) -> Searcher:
    """The project's PGSearcher with its defaults."""
    from ray_pgsearch import PGSearcher

    return PGSearcher(seed=seed)


SEARCHERS: dict[str, Callable[[int, int, int], Searcher]] = {
    "random": lambda seed, budget, concurrency: RandomSearcher(seed=seed),
    "tpe": _optuna,
    "hyperopt": _hyperopt,
    "ngopt": _nevergrad,
    "naive_pg": _naive_pg,
    "pgsearcher": _pgsearcher,
}


def make_searcher(name: str, seed: int, budget: int, concurrency: int) -> Searcher:
    """A fresh, seeded searcher by name (metric and mode are set later by `run_search`)."""
    _quiet()
    return SEARCHERS[name](seed, budget, concurrency)


def expected_best(values: np.ndarray, budget: int) -> float:
    """Exact expected minimum of `budget` uniform draws (with replacement) from `values`.

    With v_(1) <= ... <= v_(N): sum_i v_(i) * [((N-i+1)/N)^B - ((N-i)/N)^B].
    """
    v = np.sort(np.asarray(values, dtype=float))
    n = len(v)
    above = (n - np.arange(n, dtype=float)) / n  # (N-i+1)/N for i = 1..N
    return float(np.sum(v * (above**budget - (above - 1.0 / n) ** budget)))


def random_values(objective: Objective, size: int, cache_dir: Path, seed: int = 0) -> np.ndarray:
    """Values of `size` seeded uniform random configs, cached in `cache_dir/<name>.npy`.

    The cache is keyed by name and size only: delete it when an objective changes.
    """
    path = Path(cache_dir) / f"{objective.name}.npy"
    if path.exists():
        values = np.load(path)
        if len(values) == size:
            return values
    rng = np.random.default_rng(seed)
    values = np.array([objective.fn(sample_config(objective.space, rng)) for _ in range(size)])
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, values)
    return values
