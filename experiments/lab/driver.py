"""Drive any Ray Tune `Searcher` in-process against an objective, as asynchronous workers would."""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from ray.tune.search import Searcher

from experiments.lab.objectives import Objective
from experiments.lab.spaces import (
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
from ray_pgsearch import SearchSpace

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
    in_flight_duplicates: int = 0  # configs suggested while an equal config was pending
    diversity: list[float] = field(default_factory=list)  # `pending_diversity` of each full pending set
    off_domain: int = 0  # values outside their domain (off-grid integers, out of bounds...)
    notes: list[str] = field(default_factory=list)

    @property
    def best(self) -> float:
        """The best value found."""
        return self.curve[-1]

    @property
    def mean_diversity(self) -> float:
        """Mean diversity of the run's full pending sets (nan where none was measured)."""
        return float(np.mean(self.diversity)) if self.diversity else float("nan")

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


def pending_diversity(space: SearchSpace, configs: list[dict]) -> float:
    """Mean pairwise distance of configs in the unit latent space of `space`, in [0, 1].

    Distance of two configs = sqrt(sum of squared differences of the numeric latents z in [0, 1] + the
    number of categories that differ) / sqrt(number of parameters); 0 for identical configs, 1 for two
    opposite corners that differ in every category. Raises ValueError on a config outside the space.
    """
    rows = np.array([space.encode(c) for c in configs])
    n = len(rows)
    if n < 2:
        return float("nan")
    z, cats = rows[:, : space.n_numeric], rows[:, space.n_numeric :]
    squared = np.sum(z * z, axis=1)
    d2 = squared[:, None] + squared[None, :] - 2.0 * z @ z.T  # pairwise squared numeric distances
    for j in range(cats.shape[1]):
        d2 += cats[:, j, None] != cats[None, :, j]
    upper = np.triu_indices(n, 1)
    return float(np.mean(np.sqrt(np.clip(d2[upper], 0.0, None))) / np.sqrt(space.dim))


def _config_key(space: dict, config: dict) -> tuple:
    """A hashable key of a config's domain values."""
    return tuple(repr(get_path(config, path)) for path, _ in domain_items(space))


@dataclass(frozen=True)
class Setting:
    """How a run is driven: `budget` evaluations, asynchronously with up to `concurrency` pending ("100x8"),
    or in synchronous rounds of `concurrency` suggestions (`batched`, "16r8" = 16 rounds of 8)."""

    budget: int
    concurrency: int
    batched: bool = False

    @property
    def key(self) -> str:
        """ "100x8" (asynchronous) or "16r8" (rounds x batch)."""
        if self.batched:
            return f"{self.budget // self.concurrency}r{self.concurrency}"
        return f"{self.budget}x{self.concurrency}"

    @classmethod
    def parse(cls, text: str) -> Setting:
        """Parse "100x8" (budget x concurrency) or "16r8" (rounds r batch)."""
        if "r" in text:
            rounds, batch = (int(v) for v in text.split("r"))
            return cls(rounds * batch, batch, batched=True)
        budget, concurrency = (int(v) for v in text.split("x"))
        return cls(budget, concurrency)


class _Driver:
    """What `run_search` and `run_batches` share: timed suggest / complete calls and the run's record."""

    def __init__(self, searcher: Searcher, objective: Objective, budget: int, concurrency: int, name: str, seed: int):
        searcher.set_search_properties(METRIC, "min", objective.space)  # False: it has its own space
        searcher.set_max_concurrency(concurrency)  # as Tune's ConcurrencyLimiter tells it
        self.searcher, self.objective = searcher, objective
        self.record = RunRecord(name or type(searcher).__name__, objective.name, seed, budget, concurrency, [], [], [])
        self.seen: set[tuple] = set()
        self.in_flight: Counter[tuple] = Counter()  # keys of the pending configs
        self.since_measured = concurrency  # suggestions since the pending set's diversity was last measured
        try:
            self.space: SearchSpace | None = SearchSpace(objective.space)
        except ValueError:
            self.space = None
        self.attempts = 0
        self.step = 0.0  # searcher seconds not yet attributed to a completion
        self.best = np.inf

    def suggest(self) -> tuple[str, dict | None | str]:
        """Ask for a config under a fresh trial id; count duplicates (overall and in flight) and off-domain
        values of a config. The config is pending until `complete` is called with it."""
        trial_id = f"trial_{self.attempts:06d}"
        self.attempts += 1
        t0 = time.perf_counter()
        config = self.searcher.suggest(trial_id)
        self.step += time.perf_counter() - t0
        if config is not None and config != Searcher.FINISHED:
            assert_resolved(config)
            key = _config_key(self.objective.space, config)
            self.record.duplicates += key in self.seen
            self.record.in_flight_duplicates += self.in_flight[key] > 0
            self.seen.add(key)
            self.in_flight[key] += 1
            self.since_measured += 1
            self.record.off_domain += off_domain_count(self.objective.space, config) > 0
        return trial_id, config

    def complete(self, trial_id: str, config: dict, value: float) -> None:
        """Tell the searcher a result and record it."""
        t0 = time.perf_counter()
        self.searcher.on_trial_complete(trial_id, result={METRIC: value, "training_iteration": 1, "config": config})
        self.step += time.perf_counter() - t0
        self.in_flight[_config_key(self.objective.space, config)] -= 1
        self.best = min(self.best, value)
        self.record.values.append(value)
        self.record.curve.append(self.best)

    def measure(self, pending: list[dict]) -> None:
        """Record the diversity of a full pending set, at most once per `concurrency` suggestions."""
        concurrency = self.record.concurrency
        if self.space is None or concurrency < 2 or len(pending) < concurrency or self.since_measured < concurrency:
            return
        self.since_measured = 0
        try:
            self.record.diversity.append(pending_diversity(self.space, pending))
        except ValueError:  # a config the space cannot encode (off-domain values are counted apart)
            pass

    def finish(self) -> RunRecord:
        """Pad the curve of a searcher that gave up and return the record."""
        self.record.curve.extend([self.best] * (self.record.budget - len(self.record.curve)))
        return self.record


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
    `suggest` and `on_trial_complete` is counted as searcher time. Each time the pending set is full
    (at most once per `concurrency` suggestions) its `pending_diversity` is recorded.
    """
    run = _Driver(searcher, objective, budget, concurrency, name, seed)
    rng = np.random.default_rng(order_seed)
    pending: dict[str, tuple[dict, float]] = {}
    started = 0
    finished = False
    while len(run.record.values) < budget:
        while not finished and started < budget and len(pending) < concurrency:
            trial_id, config = run.suggest()
            if config is None or config == Searcher.FINISHED:
                finished = config == Searcher.FINISHED or not pending
                if finished:
                    run.record.notes.append(f"stopped suggesting after {started} trials")
                break
            pending[trial_id] = (config, objective.fn(config))
            started += 1
        run.measure([config for config, _ in pending.values()])
        if not pending:
            break
        trial_id = list(pending)[rng.integers(len(pending))]
        run.complete(trial_id, *pending.pop(trial_id))
        run.record.step_seconds.append(run.step)
        run.step = 0.0
    return run.finish()


def run_batches(
    searcher: Searcher, objective: Objective, budget: int, batch: int, name: str = "", seed: int = 0
) -> RunRecord:
    """The NeurIPS 2020 challenge's protocol: rounds of `batch` suggestions, a whole round asked before any
    of it is told, until `budget` evaluations.

    Results are told in the order the configs were suggested. A round ends early when the searcher returns
    None; the run stops when a round gets no suggestion. Each completion of a round is charged an equal
    share of the round's searcher time (the asks before it and the tells).
    """
    run = _Driver(searcher, objective, budget, batch, name, seed)
    while len(run.record.values) < budget:
        asked = []
        for _ in range(min(batch, budget - len(run.record.values))):
            trial_id, config = run.suggest()
            if config is None or config == Searcher.FINISHED:
                break
            asked.append((trial_id, config))
        if not asked:
            run.record.notes.append(f"stopped suggesting after {len(run.record.values)} trials")
            break
        if len(asked) < batch:
            run.record.notes.append(f"round of {len(asked)} after {len(run.record.values)} trials")
        run.measure([config for _, config in asked])
        results = [(trial_id, config, objective.fn(config)) for trial_id, config in asked]
        for result in results:
            run.complete(*result)
        run.record.step_seconds.extend([run.step / len(asked)] * len(asked))
        run.step = 0.0
    return run.finish()


def run_setting(
    searcher: Searcher, objective: Objective, setting: Setting, order_seed: int, name: str = "", seed: int = 0
) -> RunRecord:
    """One run under `setting`: `run_batches` for a batched setting, else `run_search` with `order_seed`."""
    if setting.batched:
        return run_batches(searcher, objective, setting.budget, setting.concurrency, name, seed)
    return run_search(searcher, objective, setting.budget, setting.concurrency, order_seed, name, seed)


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
    """Optuna's default sampler (TPE) through Ray's OptunaSearch; from Optuna 5.0 its TPESampler runs the
    constant liar by default (pending trials count as bad), so pending trials steer the next proposals."""
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
    from experiments.lab.naive_pg import NaivePGSearcher

    return NaivePGSearcher(seed=seed)


def _pgsearcher(seed: int, budget: int, concurrency: int, **overrides: Any) -> Searcher:
    """The project's PGSearcher with its defaults, or with single settings replaced."""
    from ray_pgsearch import PGSearcher

    return PGSearcher(seed=seed, **overrides)


SEARCHERS: dict[str, Callable[[int, int, int], Searcher]] = {
    "random": lambda seed, budget, concurrency: RandomSearcher(seed=seed),
    "tpe": _optuna,
    "hyperopt": _hyperopt,
    "ngopt": _nevergrad,
    "naive_pg": _naive_pg,
    "pgsearcher": _pgsearcher,
    # no uniform draws among the candidates from the good density (Settings.prior_candidates), however
    # many trials are in flight
    "pgsearcher_no_prior_candidates": lambda seed, budget, concurrency: _pgsearcher(
        seed, budget, concurrency, prior_candidates=0.0
    ),
    # uniform draws among those candidates however few trials are in flight (Settings.prior_candidates_in_flight)
    "pgsearcher_prior_candidates": lambda seed, budget, concurrency: _pgsearcher(
        seed, budget, concurrency, prior_candidates=1.0, prior_candidates_in_flight=1
    ),
    # starts over after 128 results without a new best (Settings.restart_after, off by default), measured
    # against the search without prior candidates
    "pgsearcher_restarts": lambda seed, budget, concurrency: _pgsearcher(
        seed, budget, concurrency, restart_after=128, prior_candidates=0.0
    ),
}


def make_searcher(name: str, seed: int, budget: int, concurrency: int) -> Searcher:
    """A fresh, seeded searcher by name, from `SEARCHERS` or `experiments.lab.peers.PEERS`.

    Metric and mode are set later by `run_search` / `run_batches`.
    """
    from experiments.lab.peers import PEERS

    _quiet()
    return {**SEARCHERS, **PEERS}[name](seed, budget, concurrency)


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
