"""Strategies of the time-to-solution study (`python -m experiments.time_to_solution`) through real Ray Tune:
one seeded run of a searcher and scheduler (or BOHB, or PBT) on a workload, recorded epoch by epoch (`Run`),
its clock started at a gate that holds the first epochs until every slot is up (`wait_at_gate`) and stopped
by a wall-clock budget (`GateBudget`), or in a quick run by a number of trials."""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import importlib.util
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import ray
from ray import tune
from ray.tune.schedulers import HyperBandForBOHB, HyperBandScheduler, PopulationBasedTraining, TrialScheduler
from ray.tune.search import ConcurrencyLimiter, Searcher
from ray.tune.search.basic_variant import BasicVariantGenerator
from ray.tune.search.sample import Domain

from experiments import cnn, lc_surrogate
from experiments.lab.arms import make_searcher
from experiments.lab.peers import PEERS, tune_bohb
from experiments.lab.protocol import Setting
from experiments.lab.spaces import to_python
from experiments.lab.timing import TimedSearcher
from ray_pgsearch.pbt import pbt_mutations

BEST = 6  # trials averaged, as in the NERSC study
BOHB = "BOHB"
PBT = "PBT (lr)"
NUM_SAMPLES = 100_000  # more trials than any budget here runs: the time budget ends every run
PBT_INTERVAL = 3  # epochs between PBT's exploit/explore steps
QUICK_TRIALS, QUICK_EPOCHS = 12, 9  # --quick: trials per run, surrogate epochs per trial


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


def live_slots(folder: Path) -> int:
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
        if live_slots(folder) >= slots or time.time() - start > GATE_PATIENCE:
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
class Panel:
    """One panel of the study: a workload ("surrogate" or "cnn") driven under a lab `Setting` (trials in
    flight, wall-clock seconds per run; a quick run has a trial budget and no clock) at a surrogate epoch
    time."""

    workload: str
    setting: Setting
    epoch_seconds: float = 0.0

    @property
    def quick(self) -> bool:
        """A test-sized run: a number of trials ends it, not the clock."""
        return self.setting.budget > 0

    @property
    def concurrency(self) -> int:
        return self.setting.concurrency

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
        """The run cache's group: every setting that changes a run's result, with a hash of the workload's code."""
        if self.workload == "cnn":
            source = hashlib.sha256(Path(cnn.__file__).read_bytes()).hexdigest()[:8]
        else:
            source = lc_surrogate.fingerprint()
        return f"{self.workload}-{self.setting.key}-e{self.epoch_seconds:g}-{source}"


def strategy_searcher(name: str, seed: int, concurrency: int) -> Searcher:
    """A seeded searcher: BOHB's model for HyperBandForBOHB (`experiments.lab.peers.tune_bohb`), the others
    from `experiments.lab.arms.make_searcher` (HEBO among the peers suggests batches of `concurrency`)."""
    if name == "bohb":
        return tune_bohb(seed, concurrency)
    if name == "hebo":
        return PEERS["hebo"](seed, NUM_SAMPLES, concurrency)
    return make_searcher(name, seed, NUM_SAMPLES, concurrency)


def tune_strategy(strategy: str, seed: int, panel: Panel, storage: str) -> Run:
    """One Tune run of `strategy` in `panel`."""
    epochs, concurrency = panel.epochs, panel.concurrency
    if panel.workload == "cnn":
        space: dict = {**cnn.SPACE, "epochs": epochs, "seed": seed}
    else:
        space = {**lc_surrogate.SPACE, "epochs": epochs, "epoch_seconds": panel.epoch_seconds, "seed": seed}
    recorder = Recorder([key for key, value in space.items() if isinstance(value, Domain)])
    space["workload"] = panel.workload
    gate = None
    if not panel.quick:  # the clock starts at the gate; quick runs end by trial counts
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
            num_samples=panel.setting.budget or NUM_SAMPLES,
            reuse_actors=True,
        )
    # every strategy runs at most `concurrency` trials at a time: each takes its share of Ray's CPUs
    cpus = np.floor(ray.cluster_resources()["CPU"] / concurrency * 1e4) / 1e4  # Ray's resource precision
    start = time.time()
    crash = ""
    with run_env(pending):
        tuner = tune.Tuner(
            tune.with_resources(run_trial, {"cpu": cpus}),
            param_space=space,
            tune_config=tune_config,
            run_config=tune.RunConfig(
                storage_path=storage,
                name=f"{strategy.replace(' ', '').replace('(', '').replace(')', '')}_{seed}",
                verbose=0,
                callbacks=[recorder],
                stop=GateBudget(gate, panel.setting.seconds) if gate else None,
            ),
        )
        try:
            tuner.fit()
        except Exception as error:  # a searcher that raises ends its run, not the study
            lines = [line for line in str(error).splitlines() if line.strip()]
            crash = f"{type(error).__name__}: {lines[-1].strip() if lines else ''}"
            print(f"  {panel.title} {strategy} seed {seed} crashed: {crash}", flush=True)
    run = recorder.shift(open_time(gate) if gate else None)
    run.crash = crash
    run.wall = time.time() - start
    run.searcher_seconds = timed.seconds if timed is not None else 0.0
    return run


@contextlib.contextmanager
def run_env(pending: int | None) -> Iterator[None]:
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
