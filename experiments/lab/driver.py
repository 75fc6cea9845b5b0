"""The lab's in-process driver: any Ray Tune `Searcher` run against an objective as asynchronous workers
would (`run_search`), or in the synchronous rounds of the NeurIPS 2020 black-box challenge (`run_batches`),
with the searcher's time measured by `experiments.lab.timing.TimedSearcher`; `execute` is one named,
seeded run as the run cache stores it, and `run_tasks` runs many in worker processes."""

from __future__ import annotations

import datetime
import multiprocessing
import sys
import time
import warnings
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ray.tune.search import Searcher

from experiments.lab.arms import make_searcher
from experiments.lab.cache import RunCache
from experiments.lab.objectives import Objective, TrialCrash
from experiments.lab.protocol import Setting
from experiments.lab.spaces import (
    Categorical,
    Float,
    Integer,
    assert_resolved,
    domain_items,
    get_path,
    int_bounds,
    snap_int,
)
from experiments.lab.suites import get_objective
from experiments.lab.timing import TimedSearcher
from ray_pgsearch import SearchSpace

METRIC = "loss"
# Dense uniform random samples per objective kind, the reference of every score (`RunCache.sample`).
RANDOM_SAMPLE = {"model": 1500, "synthetic": 5000, "mixed": 5000}


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
    # trials that crashed: (completion index, ask index, kind: a `TrialCrash`'s kind or "nan"); their values are NaN
    crashes: list[tuple[int, int, str]] = field(default_factory=list)
    # a noisy objective's true values in completion order (`values` holds what the searcher saw)
    truths: list[float] = field(default_factory=list)

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


def evaluate(objective: Objective, config: dict) -> float | TrialCrash:
    """The objective's value of a config, or the `TrialCrash` it raised (a trainable that crashed)."""
    try:
        return objective.fn(config)
    except TrialCrash as crash:
        return crash


def config_key(space: dict, config: dict) -> tuple:
    """A hashable key of a config's domain values."""
    return tuple(repr(get_path(config, path)) for path, _ in domain_items(space))


class Driver:
    """What `run_search` and `run_batches` share: the searcher's suggest and complete calls (timed) and the
    run's record."""

    def __init__(self, searcher: Searcher, objective: Objective, budget: int, concurrency: int, name: str, seed: int):
        self.searcher = TimedSearcher(searcher)
        self.searcher.set_search_properties(METRIC, "min", objective.space)  # False: it has its own space
        self.searcher.set_max_concurrency(concurrency)  # as Tune's ConcurrencyLimiter tells it
        self.objective = objective
        self.record = RunRecord(name or type(searcher).__name__, objective.name, seed, budget, concurrency, [], [], [])
        self.seen: set[tuple] = set()
        self.in_flight: Counter[tuple] = Counter()  # keys of the pending configs
        self.since_measured = concurrency  # suggestions since the pending set's diversity was last measured
        try:
            self.space: SearchSpace | None = SearchSpace(objective.space)
        except ValueError:
            self.space = None
        self.attempts = 0
        self.asked: dict[str, int] = {}  # trial id -> how many configs were asked before it
        self.charged = 0.0  # searcher seconds attributed to completions so far
        self.best = np.inf
        self.noise = np.random.default_rng([seed, zlib.crc32(objective.name.encode())])
        self.truth: dict[str, float] = {}  # pending trial id -> a noisy objective's true value

    def evaluate(self, trial_id: str, config: dict) -> float | TrialCrash:
        """`evaluate` of the objective, plus observation noise where it has some (drawn in ask order from the
        run's own generator, so a run is reproducible); the true value waits for the trial's completion."""
        value = evaluate(self.objective, config)
        if self.objective.noise > 0.0:
            crashed = isinstance(value, TrialCrash)
            self.truth[trial_id] = float("nan") if crashed else value
            return value if crashed else value + self.objective.noise * float(self.noise.standard_normal())
        return value

    def suggest(self) -> tuple[str, dict | None | str]:
        """Ask for a config under a fresh trial id; count duplicates (overall and in flight) and off-domain
        values of a config. The config is pending until `complete` is called with it."""
        trial_id = f"trial_{self.attempts:06d}"
        self.attempts += 1
        config = self.searcher.suggest(trial_id)
        if config is not None and config != Searcher.FINISHED:
            assert_resolved(config)
            key = config_key(self.objective.space, config)
            self.record.duplicates += key in self.seen
            self.record.in_flight_duplicates += self.in_flight[key] > 0
            self.seen.add(key)
            self.asked[trial_id] = len(self.asked)
            self.in_flight[key] += 1
            self.since_measured += 1
            self.record.off_domain += off_domain_count(self.objective.space, config) > 0
        return trial_id, config

    def complete(self, trial_id: str, config: dict, value: float | TrialCrash) -> None:
        """Tell the searcher a result and record it. As Tune does: a trial that raised (`TrialCrash`)
        completes with ``error=True`` and no result; a diverged one (NaN) with its NaN metric. A crash is
        recorded as a NaN value, with its completion index, ask index and kind in `RunRecord.crashes`."""
        if isinstance(value, TrialCrash):
            self.searcher.on_trial_complete(trial_id, result=None, error=True)
            kind, value = value.kind, float("nan")
        else:
            self.searcher.on_trial_complete(trial_id, result={METRIC: value, "training_iteration": 1, "config": config})
            kind = "nan" if value != value else ""
        if kind:
            self.record.crashes.append((len(self.record.values), self.asked.get(trial_id, -1), kind))
        self.in_flight[config_key(self.objective.space, config)] -= 1
        self.best = min(self.best, value)
        self.record.values.append(value)
        if trial_id in self.truth:
            self.record.truths.append(self.truth.pop(trial_id))
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

    def charge(self, completions: int) -> None:
        """Attribute the searcher time since the last charge to the next `completions` completions, equally."""
        step = self.searcher.seconds - self.charged
        self.charged = self.searcher.seconds
        self.record.step_seconds.extend([step / completions] * completions)

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
    run = Driver(searcher, objective, budget, concurrency, name, seed)
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
            pending[trial_id] = (config, run.evaluate(trial_id, config))
            started += 1
        run.measure([config for config, _ in pending.values()])
        if not pending:
            break
        trial_id = list(pending)[rng.integers(len(pending))]
        run.complete(trial_id, *pending.pop(trial_id))
        run.charge(1)
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
    run = Driver(searcher, objective, budget, batch, name, seed)
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
        results = [(trial_id, config, run.evaluate(trial_id, config)) for trial_id, config in asked]
        for result in results:
            run.complete(*result)
        run.charge(len(asked))
    return run.finish()


def run_setting(searcher: Searcher, objective: Objective, setting: Setting, seed: int = 0, name: str = "") -> RunRecord:
    """Run `seed` under `setting`: `run_batches` for a batched setting, else `run_search` in the setting's
    completion order for `seed` on `objective` (`Setting.order_seed`)."""
    if setting.batched:
        return run_batches(searcher, objective, setting.budget, setting.concurrency, name, seed)
    order = setting.order_seed(seed, objective.name)
    return run_search(searcher, objective, setting.budget, setting.concurrency, order, name, seed)


def execute(searcher: str, objective: str, setting: str, seed: int) -> dict[str, Any]:
    """One run of a named searcher on a named objective (of any suite), as the run cache stores it: values
    at full precision, the searcher's seconds in all, what the driver counted."""
    warnings.filterwarnings("ignore")
    parsed = Setting.parse(setting)
    start = time.perf_counter()
    record = run_setting(
        make_searcher(searcher, seed, parsed.budget, parsed.concurrency),
        get_objective(objective),
        parsed,
        seed,
        searcher,
    )
    run = {
        "searcher": searcher,
        "objective": objective,
        "seed": seed,
        "values": [None if v != v else v for v in record.values] if record.crashes else record.values,
        "seconds": float(f"{sum(record.step_seconds):.4g}"),
        "duplicates": record.duplicates,
        "in_flight_duplicates": record.in_flight_duplicates,
        "diversity": [round(d, 4) for d in record.diversity],
        "off_domain": record.off_domain,
        "notes": record.notes,
        "wall_seconds": round(time.perf_counter() - start, 2),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    if record.crashes:  # crashed values are null, and each crash is [completion index, ask index, kind]
        run["crashes"] = [list(crash) for crash in record.crashes]
    if record.truths:  # a noisy objective's true values, in the order of `values` (what the searcher saw)
        run["truths"] = record.truths
    return run


def fill_cache(cache: RunCache, tasks: Sequence[tuple], jobs: int, fn: Callable[..., dict] = execute) -> list[str]:
    """Run the (searcher, objective, setting, seed) `tasks` with `fn` (`execute` unless a study records more) in
    `jobs` processes, add each run to `cache` under its setting as it is ready, then compact the cache. Returns
    the runs that failed, as text, which it also prints on stderr."""
    failures = run_tasks(fn, tasks, jobs, lambda task, run: cache.add(task[2], run))
    cache.compact()
    if failures:
        print(f"{len(failures)} runs failed:\n" + "\n".join(failures), file=sys.stderr)
    return failures


def one_thread() -> None:
    """One BLAS / OpenMP thread in this process (the lab's fits are tiny; the machine is shared)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def process_pool(jobs: int) -> ProcessPoolExecutor:
    """Worker processes, spawned (a fork after torch or OpenMP code can deadlock), one thread each."""
    return ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"), initializer=one_thread)


def run_tasks(
    fn: Callable[..., Any], tasks: Sequence[tuple], jobs: int, done: Callable[[tuple, Any], None] | None = None
) -> list[str]:
    """``fn(*task)`` for every task, in this process (`jobs` 1) or in `jobs` worker processes, handing each
    result to ``done(task, result)`` in task order as it is ready, with progress on stderr. A task that
    raises is left out and returned as text, so that one searcher's failure does not stop the rest."""
    start, failures = time.time(), []

    def finish(i: int, task: tuple, result: Any) -> None:
        label = " ".join(str(part) for part in task if isinstance(part, (str, int, float)))
        elapsed = time.time() - start
        left = f"{elapsed / 60:.1f} min, about {elapsed / i * (len(tasks) - i) / 60:.0f} min left"
        if isinstance(result, BaseException):
            failures.append(f"{label}: {type(result).__name__}: {result}")
            print(f"  {i}/{len(tasks)} FAILED {failures[-1]} ({left})", file=sys.stderr, flush=True)
            return
        if done is not None:
            done(task, result)
        print(f"  {i}/{len(tasks)} {label} ({left})", file=sys.stderr, flush=True)

    if jobs <= 1:
        for i, task in enumerate(tasks, 1):
            try:
                result = fn(*task)
            except Exception as err:  # a searcher's bug must not stop the other runs
                result = err
            finish(i, task, result)
        return failures
    with process_pool(jobs) as pool:
        futures = [(task, pool.submit(fn, *task)) for task in tasks]
        for i, (task, future) in enumerate(futures, 1):
            finish(i, task, future.exception() or future.result())
    return failures


def _search(name: str, objective: Objective, seed: int, budget: int, concurrency: int) -> RunRecord:
    """One seeded search of `objective` by the searcher `name`, completed in the order of `seed`."""
    warnings.filterwarnings("ignore")
    searcher = make_searcher(name, seed, budget, concurrency)
    return run_search(searcher, objective, budget, concurrency, order_seed=seed, name=name, seed=seed)


def compare(
    objective: Objective, names: list[str], seeds: int, budget: int, concurrency: int, jobs: int
) -> dict[str, list[RunRecord]]:
    """Every searcher of `names` on `objective` for seeds 0..seeds-1, `jobs` searches at a time."""
    records: dict[str, list[RunRecord]] = {name: [] for name in names}

    def done(task: tuple, record: RunRecord) -> None:
        records[task[0]].append(record)

    tasks = [(name, objective, seed, budget, concurrency) for name in names for seed in range(seeds)]
    failures = run_tasks(_search, tasks, jobs, done)
    if failures:
        raise RuntimeError("searches failed:\n" + "\n".join(failures))
    return records


def _sample(objective: str, cache: str) -> np.ndarray:
    """The cached dense random sample of one objective (computed in a worker process where missing)."""
    warnings.filterwarnings("ignore")
    obj = get_objective(objective)
    return RunCache(cache).sample(obj, RANDOM_SAMPLE[obj.kind])


def random_samples(objectives: Sequence[str], cache: Any, jobs: int = 1) -> dict[str, np.ndarray]:
    """The dense random sample of every objective (of any suite), from the cache at `cache` (a path), computed
    where missing in `jobs` processes."""
    out: dict[str, np.ndarray] = {}

    def done(task: tuple, values: np.ndarray) -> None:
        out[task[0]] = values

    failures = run_tasks(_sample, [(o, str(cache)) for o in objectives], jobs, done)
    if failures:
        raise RuntimeError("random samples failed:\n" + "\n".join(failures))
    return {o: out[o] for o in objectives}
