"""Time to solution (issues 6.3 and 16), measured as the NERSC HPO study did: the mean validation loss of the
best 6 trials against wall-clock time, for search algorithms and schedulers side by side on the same
compute budget, with many trials in flight.

    python -m experiments.time_to_solution [--workload surrogate cnn] [--concurrency 8 32] [--seeds N]
        [--budget SECONDS] [--epoch-seconds S] [--cnn-seeds N] [--cnn-budget SECONDS]
        [--strategies PATTERN ...] [--rerun PATTERN ...] [--jobs J] [--quick]

Workloads:

* ``surrogate`` (``experiments.lc_surrogate``): learning curves that cost no training. Each trial sleeps a
  compressed epoch time (``--epoch-seconds`` times a cost that grows with the model's size) and reports the
  next point of its config's curve, up to 27 epochs. Sleeping trials make 8 or 32 in flight cheap on two
  cores, through real Ray Tune (``reuse_actors=True``); the ground truth is known.
* ``cnn`` (``experiments.cnn``): the real torch CNN on digits, 2 trials at a time, one CPU thread each, up
  to 10 epochs; a smaller check of the ASHA strategies.

Strategies (``--strategies`` selects by shell pattern, e.g. ``"pgsearcher*"``): random search, Optuna's
TPE, HEBO (Ray's ``HEBOSearch``, which suggests synchronous batches of ``concurrency`` trials) and
PGSearcher, each with FIFO (every trial trains all its epochs), ASHA (rungs at 1, 3, 9, 27 epochs, the
best third promoted) and synchronous HyperBand (brackets over the same rungs; paused trials resume from a
checkpoint); BOHB (``TuneBOHB`` with ``HyperBandForBOHB``); and PBT of the lr (a population of
``concurrency`` random configs, at least 6, trained to the trials' epoch limit, the lr mutated x0.8 / x1.2
or resampled every 3 epochs, exploiting the top quarter; the run ends when the population has trained).
HEBO is left out of HyperBand: its batch waits for every live trial to end, and HyperBand's paused trials
are live.

Same compute budget: every run gets the same wall-clock time and runs at most ``concurrency`` trials at
a time. The clock starts at a start gate that holds the first epochs until ``concurrency`` trial processes
are up (starting 32 Ray actors takes tens of seconds on two loaded cores; a cluster pays that once per
job), and a stopper ends the run ``--budget`` seconds later. Each trial takes ``1 / concurrency`` of the
logical CPUs of a local Ray (``--jobs`` surrogate settings run side by side, each on its own Ray: the
runs mostly sleep, and most of their CPU goes to starting actors before the gate opens; the CNN, which
trains, runs alone after them). A ``ConcurrencyLimiter`` of
``concurrency`` also caps the trials suggested ahead (except under HyperBand, where it would count paused
trials and starve the brackets: there Tune keeps ``concurrency`` trials pending). The clock includes the
searcher's time in the driver (reported as "searcher s"), which with compressed epochs weighs more than on
a cluster, where an epoch takes minutes; for the same reason idle trial actors are kept until the run ends
(Tune would stop them whenever no trial is pending, as between HEBO's batches, and start new ones later).
The strategies of a seed run one after another, seeds in order, so that a change in the machine's load
hits every strategy alike.

Measures per strategy, mean ± sd over seeds where not said otherwise:

* the curve: at time t, each trial that has reported by t contributes its best loss so far; the curve is
  the mean of the 6 lowest (undefined while fewer than 6 trials have reported), so it never increases;
* the end value of the curve, and its value at half the budget;
* time to target: the target is the ``TARGET_QUANTILE`` quantile of the end values of every seed of the
  ``TARGET_BEST`` strategies with the lowest mean end value (a level those strategies reach in most seeds,
  not the worst strategy's end). A seed's time is the first time its curve is at or below the target
  (never: infinite); reported as the median over seeds, and in how many seeds it was reached;
* trials finished (trained all epochs or stopped by the scheduler within the budget), epochs trained, the
  surrogate's mean cost of an epoch trained (strategies that pick big models train fewer epochs), and the
  seconds the driver spent inside the searcher.

Runs are cached as JSON under ``<out>/cache/tts/<settings>/`` (the settings key holds the workload,
concurrency, budget, epoch time and a hash of the surrogate's curves or of ``cnn.py``; delete a folder when
the study's own mechanics change): a rerun loads every cached (strategy, seed) and runs only the missing
ones and those ``--rerun`` names, e.g. after a change of PGSearcher ``--rerun "pgsearcher*"``.
``--quick`` is the test-sized path: no time budget and no sleep; every run ends after a number of trials
(PBT: when its population has trained its epochs), so nothing in it depends on the machine's speed.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import fnmatch
import hashlib
import heapq
import importlib.util
import json
import logging
import multiprocessing
import os
import subprocess
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import ray
from ray import tune
from ray.tune.schedulers import HyperBandForBOHB, HyperBandScheduler, PopulationBasedTraining, TrialScheduler
from ray.tune.search import ConcurrencyLimiter, Searcher
from ray.tune.search.basic_variant import BasicVariantGenerator
from ray.tune.search.sample import Domain

from experiments import cnn, lc_surrogate
from experiments.lab.driver import make_searcher
from experiments.lab.render import Scale, header, mean_sd, parse_args, start_ray, table
from experiments.lab.spaces import to_python
from ray_pgsearch.pbt import pbt_mutations

FULL, QUICK = Scale(seeds=10, budget=60), Scale(seeds=1, budget=0)  # budget: seconds per run (quick: none)
CNN_FULL = Scale(seeds=4, budget=120)
BEST = 6  # trials averaged, as in the NERSC study
SEARCHERS = ["random", "tpe", "hebo", "pgsearcher"]
SCHEDULERS = ["FIFO", "ASHA", "HyperBand"]
BOHB = "BOHB"
PBT = "PBT (lr)"
STRATEGIES = [
    f"{name} + {scheduler}"
    for name in SEARCHERS
    for scheduler in SCHEDULERS
    if (name, scheduler) != ("hebo", "HyperBand")
] + [BOHB, PBT]
CNN_STRATEGIES = ["random + ASHA", "tpe + ASHA", "pgsearcher + ASHA"]
NUM_SAMPLES = 100_000  # more trials than any budget here runs: the time budget ends every run
PBT_INTERVAL = 3  # epochs between PBT's exploit/explore steps
QUICK_TRIALS, QUICK_EPOCHS = 12, 9  # --quick: trials per run, surrogate epochs per trial
TARGET_BEST, TARGET_QUANTILE = 3, 0.75
GRID = 201  # time points of the curves
CACHE = Path("cache/tts")  # under --out


@dataclass
class Run:
    """One strategy's seeded run: every reported epoch as (seconds since the run started, trial id,
    validation loss), the trials that ended within the budget, the driver's seconds inside the
    searcher, the run's wall-clock seconds with start and teardown, and each trial's searched values
    as it started."""

    events: list[tuple[float, str, float]] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)
    searcher_seconds: float = 0.0
    wall: float = 0.0
    configs: dict[str, dict] = field(default_factory=dict)
    errors: int = 0  # trials that failed (a killed worker, say): a run to look at, or to rerun
    crash: str = ""  # the exception that ended the run early (a searcher's bug), if any

    @property
    def epochs(self) -> int:
        """Epochs trained, all trials together."""
        return len(self.events)

    @property
    def trials(self) -> int:
        """Trials that reported at least one epoch."""
        return len({trial for _, trial, _ in self.events})

    def epochs_per_finished_trial(self) -> float:
        """Mean epochs a finished trial trained (NaN when none finished)."""
        done = set(self.finished)
        return sum(trial in done for _, trial, _ in self.events) / len(done) if done else float("nan")

    def to_json(self) -> dict:
        """A JSON-ready dict (losses that are not finite become None)."""
        out = asdict(self)
        out["events"] = [(t, trial, loss if np.isfinite(loss) else None) for t, trial, loss in self.events]
        return out

    @classmethod
    def from_json(cls, data: dict) -> Run:
        """The inverse of `to_json`."""
        events = [(t, trial, float("nan") if loss is None else loss) for t, trial, loss in data["events"]]
        extra = {key: data[key] for key in ("configs", "errors", "crash") if key in data}
        return cls(events, data["finished"], data["searcher_seconds"], data["wall"], **extra)

    def epoch_cost(self) -> float:
        """The surrogate's mean cost of an epoch trained (`lc_surrogate.epoch_seconds` at 1 s per unit),
        over every epoch of the trials whose surrogate config is known (NaN when none is)."""
        costs = {
            trial: lc_surrogate.epoch_seconds({**c, "epoch_seconds": 1.0})
            for trial, c in self.configs.items()
            if {"width", "depth", "batch_size"} <= set(c)
        }
        known = [costs[trial] for _, trial, _ in self.events if trial in costs]
        return float(np.mean(known)) if known else float("nan")


class Recorder(tune.Callback):
    """Fills a `Run` from the driver: each result is one epoch, stamped with the clock time it arrived
    (`shift` makes the times relative to the run's start); a trial is finished when Tune completes it
    (its last epoch, or a scheduler's stop), not when the time budget stops it."""

    def __init__(self, keys: list[str]) -> None:
        self.run = Run()
        self.start = time.time()
        self.keys = keys

    def setup(self, stop: Any = None, num_samples: Any = None, total_num_samples: Any = None, **info: Any) -> None:
        self.start = time.time()

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: object) -> None:
        config = {k: to_python(trial.config[k]) for k in self.keys if k in trial.config}
        self.run.configs.setdefault(trial.trial_id, config)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: object) -> None:
        self.run.events.append((time.time(), trial.trial_id, float(result["loss"])))

    def shift(self, origin: float | None) -> Run:
        """The run with event times in seconds since `origin` (None: since Tune's setup)."""
        origin = self.start if origin is None else origin
        self.run.events = [(t - origin, trial, loss) for t, trial, loss in self.run.events]
        return self.run

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: object) -> None:
        self.run.finished.append(trial.trial_id)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: object) -> None:
        self.run.errors += 1


GATE_PATIENCE = 600.0  # seconds the gate waits for all slots before it opens anyway


def open_time(gate: str) -> float | None:
    """When the start gate in folder `gate` opened (clock seconds), None while it is closed."""
    try:
        return float(Path(gate, "open").read_text())
    except (OSError, ValueError):
        return None


def _live_slots(folder: Path) -> int:
    """Trial processes waiting at the gate that are still alive (Ray's memory monitor may kill some)."""
    live = 0
    for slot in folder.glob("slot-*"):
        try:
            os.kill(int(slot.name.removeprefix("slot-")), 0)
            live += 1
        except (ProcessLookupError, ValueError):
            slot.unlink(missing_ok=True)
        except PermissionError:
            live += 1
    return live


def wait_at_gate(gate: str, slots: int) -> None:
    """Hold a trial's first epoch until `slots` trial processes have reached the gate (or
    `GATE_PATIENCE` passed), so that the run's clock starts with every slot busy: starting 32 Ray
    actors takes tens of seconds on two loaded cores, a cost that would otherwise count in the
    budget, unevenly across runs, and that a cluster pays once per job, not per compressed epoch.
    Trials that reach an open gate (a reused actor, a resumed trial) pass at once."""
    folder = Path(gate)
    if open_time(gate) is not None:
        return
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"slot-{os.getpid()}").touch()
    start = time.time()
    while open_time(gate) is None:
        if _live_slots(folder) >= slots or time.time() - start > GATE_PATIENCE:
            tmp = folder / f"open-{os.getpid()}"
            tmp.write_text(repr(time.time()))
            os.replace(tmp, folder / "open")  # atomic: a racing slot writes an equal time
            return
        time.sleep(0.02)


def run_trial(config: dict) -> None:
    """The study's Tune trainable: waits at the run's start gate (``config["gate"]``, if any), then
    trains ``config["workload"]``'s trainable (the surrogate's or the CNN's). The CNN's imports and
    data load once before the gate, as they would before a cluster job's clock starts."""
    if config.get("gate"):
        if config["workload"] == "cnn":
            import torch  # noqa: F401

            cnn.load(config["dataset"])
        wait_at_gate(config["gate"], config["slots"])
    trainable = cnn.train_cnn if config["workload"] == "cnn" else lc_surrogate.train_surrogate
    trainable(config)


class GateBudget(tune.Stopper):
    """Stops the run `budget` seconds after its start gate opened (or when the gate never opened
    within `GATE_PATIENCE` plus the budget)."""

    def __init__(self, gate: str, budget: float) -> None:
        self.gate, self.budget, self.created = gate, budget, time.time()

    def __call__(self, trial_id: str, result: dict) -> bool:
        return False

    def stop_all(self) -> bool:
        opened = open_time(self.gate)
        if opened is None:
            return time.time() - self.created > GATE_PATIENCE + self.budget
        return time.time() - opened >= self.budget


class TimedSearcher(Searcher):
    """A wrapper that forwards every hook to `searcher` and adds up the seconds spent in
    ``suggest``, ``on_trial_result`` and ``on_trial_complete``. Tune treats it as a wrapper (it has a
    ``searcher`` attribute): a ``ConcurrencyLimiter`` inside still sets Tune's pending-trial depth,
    and ``HyperBandForBOHB``'s pause and unpause calls reach TuneBOHB."""

    def __init__(self, searcher: Searcher) -> None:
        super().__init__(metric=searcher.metric, mode=searcher.mode)
        self.searcher = searcher
        self.seconds = 0.0

    @property
    def metric(self) -> str:
        return self.searcher.metric

    @property
    def mode(self) -> str:
        return self.searcher.mode

    @contextlib.contextmanager
    def _timed(self) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds += time.perf_counter() - start

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        return self.searcher.set_search_properties(metric, mode, config, **spec)

    def set_max_concurrency(self, max_concurrent: int) -> bool:
        return self.searcher.set_max_concurrency(max_concurrent)

    def suggest(self, trial_id: str) -> dict | None:
        with self._timed():
            return self.searcher.suggest(trial_id)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        with self._timed():
            self.searcher.on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        with self._timed():
            self.searcher.on_trial_complete(trial_id, result=result, error=error)

    def on_pause(self, trial_id: str) -> None:
        self.searcher.on_pause(trial_id)  # type: ignore[attr-defined]

    def on_unpause(self, trial_id: str) -> None:
        self.searcher.on_unpause(trial_id)  # type: ignore[attr-defined]

    def save(self, checkpoint_path: str) -> None:
        self.searcher.save(checkpoint_path)

    def restore(self, checkpoint_path: str) -> None:
        self.searcher.restore(checkpoint_path)

    def get_state(self) -> dict:
        return {"seconds": self.seconds}

    def set_state(self, state: dict) -> None:
        self.seconds = state["seconds"]


def best_k_curve(events: list[tuple[float, str, float]], k: int = BEST) -> tuple[np.ndarray, np.ndarray]:
    """(times, values) of the step curve: after each reported epoch, the mean of the `k` lowest
    per-trial best validation losses so far (NaN while fewer than `k` trials have a finite one)."""
    best: dict[str, float] = {}
    times, values = [], []
    for t, trial, loss in sorted(events):
        if np.isfinite(loss):
            best[trial] = min(loss, best.get(trial, np.inf))
        times.append(t)
        values.append(float(np.mean(heapq.nsmallest(k, best.values()))) if len(best) >= k else np.nan)
    return np.asarray(times), np.asarray(values)


def on_grid(run: Run, grid: np.ndarray, k: int = BEST) -> np.ndarray:
    """The run's best-k curve at each time of `grid` (NaN before it is defined); epochs whose result
    reached the driver after the budget (trained within it) count at its end, the grid's last time."""
    times, values = best_k_curve(run.events, k)
    idx = np.searchsorted(np.minimum(times, grid[-1]), grid, side="right") - 1
    return np.array([values[i] if i >= 0 else np.nan for i in idx])


def strategy_searcher(name: str, seed: int, concurrency: int) -> Searcher:
    """A seeded searcher: HEBO and BOHB through Ray's wrappers (the benchmark harness has neither),
    the others from `experiments.lab.driver.make_searcher`."""
    if name == "hebo":
        import torch
        from ray.tune.search.hebo import HEBOSearch

        torch.set_num_threads(1)  # its GP runs in the driver, next to the trials' bookkeeping
        return HEBOSearch(random_state_seed=seed, max_concurrent=concurrency)
    if name == "bohb":
        from ray.tune.search.bohb import TuneBOHB

        np.random.seed(seed)  # hpbandster's KDE samples with numpy's global generator
        return TuneBOHB(seed=seed, max_concurrent=concurrency)
    return make_searcher(name, seed, NUM_SAMPLES, concurrency)


def installed(strategy: str) -> bool:
    """Whether the peer a strategy needs is importable (HEBO and BOHB's model come from
    experiments/install_peers.sh, not from the project's extras); a missing one is skipped, said once."""
    module = {"hebo": "hebo", BOHB: "hpbandster"}.get(strategy.split(" + ")[0])
    if module is None or importlib.util.find_spec(module) is not None:
        return True
    if module not in _MISSING:
        _MISSING.add(module)
        print(f"{module} is not installed (bash experiments/install_peers.sh): skipping its strategies")
    return False


_MISSING: set[str] = set()


def scheduler_of(name: str, epochs: int, space: dict) -> TrialScheduler | None:
    """The scheduler of a strategy's part after " + " (or of BOHB / PBT) over `epochs` epochs."""
    if name == "FIFO":
        return None
    if name == "ASHA":
        return cnn.asha(epochs)
    if name == "HyperBand":
        return HyperBandScheduler(time_attr="training_iteration", max_t=epochs, reduction_factor=3)
    if name == BOHB:
        return HyperBandForBOHB(time_attr="training_iteration", max_t=epochs, reduction_factor=3)
    if name == PBT:
        return PopulationBasedTraining(
            time_attr="training_iteration",
            perturbation_interval=PBT_INTERVAL,
            metric="loss",
            mode="min",
            hyperparam_mutations=pbt_mutations(space, ["lr"]),
        )
    raise ValueError(f"unknown scheduler {name!r}")


def rungs(epochs: int) -> list[int]:
    """The epochs where HyperBand may pause a trial: powers of 3 below `epochs`."""
    return [3**i for i in range(20) if 3**i < epochs]


@dataclass(frozen=True)
class Setting:
    """One panel of the study: a workload at a concurrency, budget and (surrogate) epoch time."""

    workload: str
    concurrency: int
    budget: float  # seconds per run; 0: no time budget (quick: a trial budget)
    epoch_seconds: float
    quick: bool = False

    @property
    def epochs(self) -> int:
        """Epochs per trial at most."""
        if self.workload == "cnn":
            return cnn.QUICK_EPOCHS if self.quick else cnn.SPACE["epochs"]
        return QUICK_EPOCHS if self.quick else lc_surrogate.MAX_EPOCHS

    @property
    def title(self) -> str:
        """How the panel is named in the table and figure."""
        return f"{self.workload}, {self.concurrency} in flight"

    def key(self) -> str:
        """The cache folder's name: every setting that changes a run's result."""
        if self.workload == "cnn":
            source = hashlib.sha256(Path(cnn.__file__).read_bytes()).hexdigest()[:8]
        else:
            source = lc_surrogate.fingerprint()
        quick = "-quick" if self.quick else ""
        return f"{self.workload}-c{self.concurrency}-b{self.budget:g}-e{self.epoch_seconds:g}-{source}{quick}"


def tune_strategy(strategy: str, seed: int, setting: Setting, storage: str) -> Run:
    """One Tune run of `strategy` in `setting`."""
    epochs, concurrency = setting.epochs, setting.concurrency
    if setting.workload == "cnn":
        space: dict = {**cnn.SPACE, "epochs": epochs, "seed": seed}
    else:
        space = {**lc_surrogate.SPACE, "epochs": epochs, "epoch_seconds": setting.epoch_seconds, "seed": seed}
    recorder = Recorder([key for key, value in space.items() if isinstance(value, Domain)])
    space["workload"] = setting.workload
    gate = None
    if setting.budget:  # the clock starts at the gate; quick runs end by trial counts
        gate = tempfile.mkdtemp(prefix="gate-", dir=storage)
        space.update(gate=gate, slots=concurrency)
    timed = None
    pending = None  # Tune's pending-trial depth when no ConcurrencyLimiter sets it
    if strategy == PBT:
        space["checkpoint_every"] = PBT_INTERVAL  # all kept (a few bytes each): an exploit never misses one
        # PBT refuses search algorithms; the population is at least the trials the curve averages
        population = max(concurrency, BEST)
        tune_config = tune.TuneConfig(
            search_alg=BasicVariantGenerator(random_state=seed),
            scheduler=scheduler_of(PBT, epochs, space),
            num_samples=population,
            reuse_actors=True,
        )
    else:
        name, _, scheduler = strategy.partition(" + ")
        if strategy == BOHB:
            name, scheduler = "bohb", BOHB
        searcher = strategy_searcher(name, seed, concurrency)
        if scheduler == "HyperBand":
            # a ConcurrencyLimiter counts paused trials, so HyperBand could not fill a bracket: the
            # resources cap the running trials, Tune keeps `concurrency` trials pending
            space["checkpoint_at"] = rungs(epochs)
            searcher.set_max_concurrency(concurrency)
            timed, pending = TimedSearcher(searcher), concurrency
        else:
            if scheduler == BOHB:
                space["checkpoint_at"] = rungs(epochs)  # TuneBOHB counts only running trials
            timed = TimedSearcher(ConcurrencyLimiter(searcher, max_concurrent=concurrency))
        tune_config = tune.TuneConfig(
            search_alg=timed,
            scheduler=scheduler_of(scheduler, epochs, space),
            metric="loss",
            mode="min",
            num_samples=QUICK_TRIALS if setting.quick else NUM_SAMPLES,
            reuse_actors=True,
        )
    # every strategy runs at most `concurrency` trials at a time: each takes its share of Ray's CPUs
    cpus = np.floor(ray.cluster_resources()["CPU"] / concurrency * 1e4) / 1e4  # Ray's resource precision
    start = time.time()
    crash = ""
    with _run_env(pending):
        tuner = tune.Tuner(
            tune.with_resources(run_trial, {"cpu": cpus}),
            param_space=space,
            tune_config=tune_config,
            run_config=tune.RunConfig(
                storage_path=storage,
                name=f"{strategy.replace(' ', '').replace('(', '').replace(')', '')}_{seed}",
                verbose=0,
                callbacks=[recorder],
                stop=GateBudget(gate, setting.budget) if gate else None,
            ),
        )
        try:
            tuner.fit()
        except Exception as error:  # a searcher that raises ends its run, not the study
            lines = [line for line in str(error).splitlines() if line.strip()]
            crash = f"{type(error).__name__}: {lines[-1].strip() if lines else ''}"
            print(f"  {setting.title} {strategy} seed {seed} crashed: {crash}", flush=True)
    run = recorder.shift(open_time(gate) if gate else None)
    run.crash = crash
    run.wall = time.time() - start
    run.searcher_seconds = timed.seconds if timed is not None else 0.0
    return run


@contextlib.contextmanager
def _run_env(pending: int | None) -> Iterator[None]:
    """Environment for one run, restored afterwards: no per-trial CSV/JSON/TensorBoard files (the
    Recorder keeps what the study needs, and at 32 trials in flight the files cost the driver time);
    `pending` trials kept waiting for a free slot (None: Tune's own rule); and Tune's idle trial actors
    kept until the run ends. Tune stops a cached actor as soon as no trial is pending for it, as
    between HEBO's batches; starting it again takes seconds on a cluster but tens of seconds here,
    dozens of compressed epochs, so the study keeps it (every strategy alike: the resources of at most
    ``concurrency`` actors, whether running or idle)."""
    from ray.tune.utils.object_cache import _ObjectCache

    env = {"TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1"}
    if pending is not None:
        env["TUNE_MAX_PENDING_TRIALS_PG"] = str(pending)
    old = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    analysis = logging.getLogger("ray.tune.analysis.experiment_analysis")
    level = analysis.level
    analysis.setLevel(logging.ERROR)  # the missing result files of every trial
    flush = _ObjectCache.flush_cached_objects

    def flush_at_the_end(cache: _ObjectCache, force_all: bool = False) -> Iterator:
        return flush(cache, force_all=True) if force_all else iter(())

    _ObjectCache.flush_cached_objects = flush_at_the_end  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        _ObjectCache.flush_cached_objects = flush  # type: ignore[method-assign]
        analysis.setLevel(level)
        for key, value in old.items():
            if value is None:
                del os.environ[key]
            else:
                os.environ[key] = value


def _commit() -> str:
    """The checkout's commit (and "+dirty" for uncommitted changes to ray_pgsearch/), for the cache."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "ray_pgsearch"], capture_output=True, text=True)
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _slug(strategy: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in strategy).strip("_")


def load_or_run(
    setting: Setting, strategies: list[str], seeds: int, rerun: list[str], cache: Path, ray_cpus: int
) -> tuple[dict[str, list[Run]], dict[str, list[dict]]]:
    """Every (strategy, seed) of `setting`: loaded from `cache` unless a pattern of `rerun` matches
    the strategy, else run (seeds in order, strategies of a seed one after another; a local Ray of
    `ray_cpus` CPUs started for the first unless one runs) and cached. Returns the runs and each run's
    metadata (commit and date it ran)."""
    folder = cache / setting.key()
    runs: dict[str, list[Run | None]] = {s: [None] * seeds for s in strategies}
    meta: dict[str, list[dict]] = {s: [{}] * seeds for s in strategies}
    with tempfile.TemporaryDirectory() as storage:
        for seed in range(seeds):
            for strategy in strategies:
                path = folder / _slug(strategy) / f"seed{seed}.json"
                fresh = any(fnmatch.fnmatch(strategy, pattern) for pattern in rerun)
                if path.exists() and not fresh:
                    data = json.loads(path.read_text())
                    runs[strategy][seed], meta[strategy][seed] = Run.from_json(data["run"]), data["meta"]
                    continue
                start_ray(__name__, num_cpus=ray_cpus)
                run = tune_strategy(strategy, seed, setting, storage)
                info = {"commit": _commit(), "date": datetime.datetime.now().isoformat(timespec="seconds")}
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps({"meta": info, "setting": asdict(setting), "run": run.to_json()}))
                runs[strategy][seed], meta[strategy][seed] = run, info
                errors = f", {run.errors} trials failed" if run.errors else ""
                print(
                    f"  {setting.title} {strategy:>22} seed {seed}: {len(run.finished)} trials finished of "
                    f"{run.trials}, {run.epochs} epochs, searcher {run.searcher_seconds:.1f} s, {run.wall:.0f} s"
                    f"{errors}",
                    flush=True,
                )
    return {s: [r for r in rs if r is not None] for s, rs in runs.items()}, meta


def time_to_target(curves: np.ndarray, grid: np.ndarray, target: float) -> np.ndarray:
    """Per seed (row of `curves`), the first grid time the curve is at or below `target` (inf: never)."""
    out = np.full(len(curves), np.inf)
    for i, curve in enumerate(curves):
        reached = np.flatnonzero(curve <= target)
        if reached.size:
            out[i] = grid[reached[0]]
    return out


def summarize(runs: dict[str, list[Run]], horizon: float) -> tuple[dict[str, dict], float]:
    """Per strategy on a time grid up to `horizon`: the curves (seeds x grid), their mean and standard
    error, the end and half-time values per seed, seconds to the target per seed and the counts; and
    the target: the `TARGET_QUANTILE` quantile of the per-seed end values of the `TARGET_BEST`
    strategies with the lowest mean end value."""
    grid = np.linspace(0.0, horizon, GRID)
    out: dict[str, dict] = {}
    for strategy, seeds in runs.items():
        curves = np.array([on_grid(run, grid) for run in seeds])
        with np.errstate(invalid="ignore"), contextlib.suppress(RuntimeWarning):
            se = curves.std(axis=0, ddof=1) / np.sqrt(len(seeds)) if len(seeds) > 1 else np.zeros(GRID)
        out[strategy] = {
            "grid": grid,
            "curves": curves,
            "mean": curves.mean(axis=0),
            "se": se,
            "end": curves[:, -1],
            "half": curves[:, GRID // 2],
            "finished": np.array([len(r.finished) for r in seeds], float),
            "trials": np.array([r.trials for r in seeds], float),
            "epochs": np.array([r.epochs for r in seeds], float),
            "searcher_seconds": np.array([r.searcher_seconds for r in seeds]),
            "epoch_cost": np.array([r.epoch_cost() for r in seeds]),
            "errors": np.array([r.errors for r in seeds]),
            "crashes": [r.crash for r in seeds],
        }
    ranked = sorted((s for s in out if np.isfinite(out[s]["end"]).all()), key=lambda s: float(np.mean(out[s]["end"])))
    best = ranked[:TARGET_BEST]
    target = float(np.quantile(np.concatenate([out[s]["end"] for s in best]), TARGET_QUANTILE)) if best else np.nan
    for s in out.values():
        s["to_target"] = time_to_target(s["curves"], grid, target)
    return out, target


def median_time(times: np.ndarray) -> float:
    """The median of per-seed times to target (inf when more than half the seeds never reached it)."""
    return float(np.median(times))


def _seconds(value: float) -> str:
    """Seconds to target, or "never" (not reached in most seeds)."""
    return f"{value:.1f} s" if np.isfinite(value) else "never"


def _met(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def bar_lines(summaries: dict[Setting, tuple[dict, float]]) -> list[str]:
    """The issue's bar, checked on the results: on the surrogate at the highest concurrency,
    PGSearcher + ASHA reaches the target in at most half the time of random + ASHA and no later than
    BOHB, and ends with the lowest best-6 loss; on the CNN, it does no worse than TPE + ASHA (end
    value and time to target). A strategy that never reaches the target is later than any that does."""
    lines = []
    pg = "pgsearcher + ASHA"
    surrogate = [s for s in summaries if s.workload == "surrogate"]
    if surrogate:
        setting = max(surrogate, key=lambda s: s.concurrency)
        summary, _ = summaries[setting]
        if {pg, "random + ASHA", BOHB} <= set(summary):
            t_pg, t_rand, t_bohb = (median_time(summary[s]["to_target"]) for s in (pg, "random + ASHA", BOHB))
            ends = {s: float(np.mean(v["end"])) for s, v in summary.items()}
            lowest = min(ends, key=lambda s: ends[s])
            lines += [
                f"- {setting.title}: PGSearcher + ASHA reaches the target in {_seconds(t_pg)}, random + ASHA in "
                f"{_seconds(t_rand)} (at most half: {_met(np.isfinite(t_pg) and t_pg <= 0.5 * t_rand)}), BOHB in "
                f"{_seconds(t_bohb)} (no later: {_met(np.isfinite(t_pg) and t_pg <= t_bohb)}); lowest mean best-6 "
                f"loss at the end: {lowest} {ends[lowest]:.4f}, PGSearcher + ASHA {ends[pg]:.4f} "
                f"({_met(lowest == pg)}).",
            ]
    for setting in (s for s in summaries if s.workload == "cnn"):
        summary, _ = summaries[setting]
        if {pg, "tpe + ASHA"} <= set(summary):
            e_pg, e_tpe = (float(np.mean(summary[s]["end"])) for s in (pg, "tpe + ASHA"))
            t_pg, t_tpe = (median_time(summary[s]["to_target"]) for s in (pg, "tpe + ASHA"))
            ok = e_pg <= e_tpe and np.isfinite(t_pg) and t_pg <= t_tpe
            lines += [
                f"- {setting.title}: PGSearcher + ASHA ends at best-6 loss {e_pg:.4f} against TPE + ASHA "
                f"{e_tpe:.4f} and reaches the target in {_seconds(t_pg)} against {_seconds(t_tpe)} (no worse on "
                f"both: {_met(ok)}).",
            ]
    return lines


def _style(strategy: str) -> tuple[str, str]:
    """(colour, line style): the colour names the searcher, the line style the scheduler."""
    if strategy == PBT:
        return "k", "-."
    if strategy == BOHB:
        return "C4", "-"
    name, _, scheduler = strategy.partition(" + ")
    return f"C{SEARCHERS.index(name)}", {"FIFO": ":", "ASHA": "-", "HyperBand": "--"}[scheduler]


def plot(summaries: dict[Setting, tuple[dict, float]], path: Path) -> None:
    """One panel per setting: the seed-mean best-6 curve per strategy with a band of ± one standard
    error, the target dotted, the ground truth (surrogate) dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(summaries), figsize=(6.5 * len(summaries), 5.5), squeeze=False)
    for ax, (setting, (summary, target)) in zip(axes[0], summaries.items(), strict=True):
        for strategy, s in summary.items():
            color, style = _style(strategy)
            ax.plot(s["grid"], s["mean"], color=color, linestyle=style, label=strategy, linewidth=1.3)
            ax.fill_between(s["grid"], s["mean"] - s["se"], s["mean"] + s["se"], color=color, alpha=0.12)
        ax.axhline(target, color="grey", linewidth=0.8, linestyle=":", label=f"target {target:.4f}")
        if setting.workload == "surrogate":
            truth = lc_surrogate.ground_truth(setting.epochs)[0]
            ax.axhline(truth, color="k", linewidth=0.8, linestyle="--", label=f"ground truth {truth:.4f}")
        ends = np.concatenate([s["mean"][np.isfinite(s["mean"])] for s in summary.values()])
        if ends.size:
            ax.set_yscale("log")
            low = min(np.min(ends), target) * 0.9
            ax.set_ylim(low, min(np.quantile(ends, 0.9), low * 8))
        n = len(next(iter(summary.values()))["end"])
        ax.set_title(f"{setting.title} ({n} seeds)")
        ax.set_xlabel("wall-clock seconds since the run started")
        ax.set_ylabel(f"mean validation loss of the best {BEST} trials")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, ncol=2)
    fig.suptitle("Time to solution: best-6 loss against wall-clock time (mean over seeds, band ± 1 s.e.)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _fmt(values: np.ndarray, fmt: str) -> str:
    """'mean ± sd' over seeds, or — when a seed's value is undefined."""
    return mean_sd(values, fmt) if np.isfinite(values).all() else "—"


def _time(times: np.ndarray) -> str:
    """Median seconds to target and in how many seeds it was reached."""
    median = median_time(times)
    reached = int(np.isfinite(times).sum())
    return f"{median:.1f} ({reached}/{len(times)})" if np.isfinite(median) else f"— ({reached}/{len(times)})"


def markdown(
    summaries: dict[Setting, tuple[dict, float]],
    meta: dict[Setting, dict[str, list[dict]]],
    walls: float,
    argv: list[str] | None,
) -> str:
    """The results file: setup, the bar, then one table per setting."""
    lines = header(
        "time_to_solution",
        "Time to solution: searchers and schedulers on the same wall-clock budget, 8 and 32 trials in flight",
        argv,
        ["torch", "optuna", "hebo", "hpbandster"],
    )
    truth, config = lc_surrogate.ground_truth()
    best = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in config)
    lines += [
        "Setup: see the docstring of `experiments/time_to_solution.py` (strategies, target, measures) and "
        "of `experiments/lc_surrogate.py` (the surrogate's curves). Surrogate: up to "
        f"{lc_surrogate.MAX_EPOCHS} epochs per trial; ground truth (the lowest noiseless loss any config "
        f"reaches): {truth:.4f} ({best}). "
        f"Study time: {walls / 3600:.1f} h of runs (cached runs counted with their own time).",
        "",
        "Time to target: median over seeds of the first time the seed's best-6 curve reaches the target "
        "(seeds that reached it in parentheses; — when more than half did not). Cost per epoch: the "
        "surrogate's mean cost of the epochs trained (1: width 256, depth 3, batch 128; bigger models cost "
        "more wall-clock time). Searcher s: seconds the driver spent inside the searcher per run. —: "
        "undefined (fewer than 6 trials in some seed).",
        "",
    ]
    bar = bar_lines(summaries)
    if bar:
        lines += ["## The bar (issue 16)", "", *bar, ""]
    for setting, (summary, target) in summaries.items():
        budget = f"{setting.budget:g} s per run" if setting.budget else f"{QUICK_TRIALS} trials per run"
        epoch = f", epoch time {setting.epoch_seconds:g} s x cost" if setting.workload == "surrogate" else ""
        commits = sorted({m.get("commit", "?") for s, ms in meta[setting].items() if "pgsearcher" in s for m in ms})
        failed = [f"{s} seed {i}" for s, v in summary.items() for i, n in enumerate(v["errors"]) if n]
        crashed = [f"{s} seed {i} ({c})" for s, v in summary.items() for i, c in enumerate(v["crashes"]) if c]
        lines += [
            f"## {setting.title}",
            "",
            f"{budget}{epoch}, up to {setting.epochs} epochs per trial; target {target:.4f}; "
            f"PGSearcher's runs from commits {', '.join(commits) or '—'} (+dirty: uncommitted ray_pgsearch/)"
            + (f"; runs with failed trials: {', '.join(failed)}" if failed else "")
            + (f"; runs that crashed (their curve holds its last value): {'; '.join(crashed)}" if crashed else "")
            + ".",
            "",
        ]
        surrogate = setting.workload == "surrogate"
        rows = [
            [
                strategy,
                _time(s["to_target"]),
                _fmt(s["end"], ".4f"),
                _fmt(s["half"], ".4f"),
                mean_sd(s["finished"], ".0f"),
                mean_sd(s["epochs"], ".0f"),
                *([_fmt(s["epoch_cost"], ".2f")] if surrogate else []),
                mean_sd(s["searcher_seconds"], ".1f"),
            ]
            for strategy, s in sorted(summary.items(), key=lambda kv: np.nan_to_num(np.mean(kv[1]["end"]), nan=np.inf))
        ]
        head = ["strategy", "s to target", f"best-{BEST} loss at the end", "at half time", "trials finished"]
        lines += table([*head, "epochs trained", *(["cost per epoch"] if surrogate else []), "searcher s"], rows)
    return "\n".join(lines)


def to_json(summaries: dict[Setting, tuple[dict, float]]) -> dict:
    """The summary numbers and seed-mean curves, per setting and strategy."""

    def clean(values: np.ndarray) -> list:
        return [None if not np.isfinite(v) else round(float(v), 6) for v in np.asarray(values, float)]

    out = {}
    for setting, (summary, target) in summaries.items():
        out[setting.key()] = {
            "setting": asdict(setting),
            "target": target,
            "grid": clean(next(iter(summary.values()))["grid"]),
            "strategies": {
                strategy: {
                    key: clean(s[key])
                    for key in ("mean", "se", "end", "half", "to_target", "finished", "trials", "epochs")
                }
                | {key: clean(s[key]) for key in ("searcher_seconds", "epoch_cost")}
                for strategy, s in summary.items()
            },
        }
    return out


def main(argv: list[str] | None = None) -> dict[Setting, dict[str, list[Run]]]:
    """Run (or load) every strategy, seed and setting; write the table, JSON and figure; return the runs."""

    def add(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--workload", nargs="+", choices=["surrogate", "cnn"], default=["surrogate", "cnn"])
        parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 32], help="surrogate trials in flight")
        parser.add_argument("--epoch-seconds", type=float, default=0.5, help="surrogate epoch time at cost 1")
        parser.add_argument("--cnn-seeds", type=int, help=f"CNN seeds (default {CNN_FULL.seeds})")
        parser.add_argument("--cnn-budget", type=int, help=f"CNN seconds per run (default {CNN_FULL.budget})")
        parser.add_argument("--strategies", nargs="+", default=["*"], help="shell patterns of strategies to include")
        parser.add_argument("--rerun", nargs="+", default=[], help="shell patterns of strategies to rerun")

    args = parse_args(__doc__, FULL, QUICK, argv, add, budget_unit="seconds of wall-clock time per run")
    settings = []
    if "surrogate" in args.workload:
        epoch_seconds = 0.0 if args.quick else args.epoch_seconds
        settings += [Setting("surrogate", c, args.budget, epoch_seconds, args.quick) for c in args.concurrency]
    if "cnn" in args.workload:
        budget = 0 if args.quick else args.cnn_budget or CNN_FULL.budget
        settings += [Setting("cnn", 2, budget, 0.0, args.quick)]
    cnn_seeds = args.cnn_seeds or (QUICK.seeds if args.quick else CNN_FULL.seeds)
    tasks = {}
    for setting in settings:
        pool = CNN_STRATEGIES if setting.workload == "cnn" else STRATEGIES
        strategies = [s for s in pool if any(fnmatch.fnmatch(s, p) for p in args.strategies) and installed(s)]
        seeds = cnn_seeds if setting.workload == "cnn" else args.seeds
        tasks[setting] = (setting, strategies, seeds, args.rerun, args.out / CACHE)
    results: dict[Setting, tuple[dict[str, list[Run]], dict[str, list[dict]]]] = {}
    side_by_side = [s for s in settings if s.workload == "surrogate"]
    if args.jobs > 1 and len(side_by_side) > 1 and not args.quick and not ray.is_initialized():
        # surrogate settings side by side, each on its own local Ray: their runs mostly sleep, and most
        # of their CPU goes to starting actors before each run's gate opens (the CNN trains: it runs alone)
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(min(args.jobs, len(side_by_side)), mp_context=context) as ex:
            order = sorted(side_by_side, key=lambda s: -s.concurrency)  # the longest first
            futures = {s: ex.submit(load_or_run, *tasks[s], ray_cpus=s.concurrency) for s in order}
            results = {s: futures[s].result() for s in side_by_side}
    ray_cpus = max(s.concurrency for s in settings)
    results |= {s: load_or_run(*tasks[s], ray_cpus=ray_cpus) for s in settings if s not in results}
    results = {s: results[s] for s in settings}
    all_runs, summaries, meta = {}, {}, {}
    for setting, (runs, meta[setting]) in results.items():
        horizon = setting.budget or max(t for rs in runs.values() for r in rs for t, _, _ in r.events)
        all_runs[setting] = runs
        summaries[setting] = summarize(runs, horizon)
    walls = sum(r.wall for runs in all_runs.values() for rs in runs.values() for r in rs)
    plot(summaries, args.out / "time_to_solution.png")
    (args.out / "time_to_solution.md").write_text(markdown(summaries, meta, walls, argv))
    (args.out / "time_to_solution.json").write_text(json.dumps(to_json(summaries), indent=1) + "\n")
    print(f"wrote {args.out}/time_to_solution.md, .json and .png")
    return all_runs


if __name__ == "__main__":
    main()
