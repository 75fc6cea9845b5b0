"""One arm of the scale study (`python -m experiments.scale`) on a running Ray cluster: the trials (sleepers
that report, the first wave held at a start barrier), the driver (`drive`, a fresh process per arm: ``python
-m experiments.scale --drive SPEC``, also a Slurm job's driver) with its probes (the searcher's time and the
configs it had live, through `experiments.lab.timing.TimedSearcher`; Tune's count of running trials), and
`run_arm`, which starts that driver against a `experiments.lab.cluster.RayCluster`. tests/integration use
`Setup` and `run_arm`."""

from __future__ import annotations

import collections
import dataclasses
import glob
import json
import logging
import math
import os
import random
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ray import tune

from experiments.lab.cluster import RayCluster
from experiments.lab.timing import TimedSearcher
from experiments.long_run import SPACE, loss  # the space and cheap loss of the long-run study
from ray_pgsearch import PGSearcher

ROOT = Path(__file__).resolve().parent.parent


@dataclasses.dataclass(frozen=True)
class Setup:
    """One run's size: the cluster, the trials and how long each sleeps."""

    nodes: int = 4
    cpus_per_node: int = 32
    trials: int = 1024
    reports: int = 3
    mean_s: float = 30.0
    seed: int = 0
    barrier: bool = True
    barrier_timeout_s: float = 1800.0

    @property
    def in_flight(self) -> int:
        """Trials at once: one per logical CPU of the cluster (max_concurrent_trials)."""
        return self.nodes * self.cpus_per_node

    @property
    def key(self) -> str:
        """The run cache's group of this setup's runs."""
        barrier = f"-barrier{self.barrier_timeout_s:g}" if self.barrier else ""
        return (
            f"n{self.nodes}x{self.cpus_per_node}-t{self.trials}-r{self.reports}-m{self.mean_s:g}-s{self.seed}{barrier}"
        )


# ---- the trials -------------------------------------------------------------------------------------


def trial_index(trial: Any) -> int:
    """The trial's creation index: the counter Tune puts first in its experiment tag."""
    return int(str(trial.experiment_tag).split("_", 1)[0])


def trial_dirname(trial: Any) -> str:
    """Short trial directory names that carry the trial's index (the trainable reads it back)."""
    return f"trial_{trial_index(trial):05d}"


def wait_for_first_wave(plan: Mapping[str, Any], trial_id: str) -> None:
    """The start barrier: until ``plan["wave"]`` trials have started, a starting trial registers in
    ``plan["barrier_dir"]`` (a directory every node sees; here, one host) and waits for the others, at
    most ``plan["barrier_timeout_s"]``. So no trial ends before the whole first wave runs: Ray starts
    all ``wave`` trial actors, and reuse keeps them (a trial that ends while actors are still starting
    takes over a pending trial, whose starting actor Tune then cancels). Later trials pass at once."""
    directory = plan.get("barrier_dir")
    if not directory:
        return
    released = os.path.join(directory, "released")
    if os.path.exists(released):
        return
    open(os.path.join(directory, f"started-{trial_id}"), "w").close()
    deadline = time.time() + plan["barrier_timeout_s"]
    while not os.path.exists(released) and time.time() < deadline:
        if sum(name.startswith("started-") for name in os.listdir(directory)) >= plan["wave"]:
            open(released, "a").close()
            return
        time.sleep(1.0)


def sleeper(config: dict, plan: Mapping[str, Any]) -> None:
    """Waits at the start barrier (``wait_for_first_wave``), then sleeps for a duration drawn (seeded
    by the trial's index) from [0.5, 1.5] x plan["mean_s"], in plan["reports"] equal steps, reporting
    after each: the loss (closer to loss(config) at each step), the Ray node (and the Slurm node, when
    Ray runs inside a Slurm job), and when this function started and last reported (time.time(), one
    clock for all nodes of this host)."""
    import ray

    start = time.time()
    context = tune.get_context()
    index = int(os.path.basename(context.get_trial_dir()).split("_")[1])
    wait_for_first_wave(plan, context.get_trial_id())
    duration = plan["mean_s"] * random.Random(f"{plan['seed']}-{index}").uniform(0.5, 1.5)
    where = {"node_id": ray.get_runtime_context().get_node_id(), "slurm_node": os.environ.get("SLURMD_NODENAME", "")}
    value = loss(config)
    for step in range(1, plan["reports"] + 1):
        time.sleep(duration / plan["reports"])
        tune.report({"loss": value + 1.0 / step, **where, "index": index, "t_start": start, "t_end": time.time()})


# ---- the driver's probes ----------------------------------------------------------------------------


def config_key(config: Mapping[str, Any]) -> str:
    """A config's searched values as one string (two trials with equal keys ran the same config)."""
    return json.dumps({k: config.get(k) for k in SPACE}, sort_keys=True, default=str)


class ProbedSearcher(TimedSearcher):
    """A timed searcher that also tracks, from the searcher's side, how many suggested trials are live and
    whether a config is suggested while an equal one is still live. Tune takes it for the searcher: its
    checkpoints (through the timed ``save``) are the searcher's own file."""

    def __init__(self, searcher: PGSearcher) -> None:
        super().__init__(searcher, wrapper=False)  # Tune checkpoints through the timed save
        self.live: dict[str, str] = {}
        self.live_keys: collections.Counter = collections.Counter()
        self.live_max = self.dup_in_flight = 0

    def suggest(self, trial_id: str) -> dict | str | None:
        config = super().suggest(trial_id)
        if isinstance(config, dict):
            key = config_key(config)
            self.dup_in_flight += self.live_keys[key] > 0
            self.live_keys[key] += 1
            self.live[trial_id] = key
            self.live_max = max(self.live_max, len(self.live))
        return config

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        super().on_trial_complete(trial_id, result, error)
        key = self.live.pop(trial_id, None)
        if key is not None:
            self.live_keys[key] -= 1


class RunningTrials(tune.Callback):
    """Tune's own view of concurrency: the most trials RUNNING at once (start minus end events)."""

    def __init__(self) -> None:
        self.running = 0
        self.max_running = 0

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.running += 1
        self.max_running = max(self.max_running, self.running)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.running -= 1

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.running -= 1


def overlap(intervals: Iterable[tuple[float, float, str]]) -> tuple[int, int, float]:
    """(the most intervals open at one moment, intervals that opened while one with the same key was
    open, when that most was first reached) for (start, end, key) triples; at equal times an end
    counts before a start."""
    events = sorted((t, kind, key) for start, end, key in intervals for t, kind in ((start, 1), (end, 0)))
    open_keys: collections.Counter = collections.Counter()
    most = now = duplicates = 0
    reached = math.nan
    for t, kind, key in events:
        if kind:
            duplicates += open_keys[key] > 0
            open_keys[key] += 1
            now += 1
            if now > most:
                most, reached = now, t
        else:
            open_keys[key] -= 1
            now -= 1
    return most, duplicates, reached


# ---- one arm: a driver process against a running cluster --------------------------------------------


def mean(values: list[float]) -> float:
    """The mean (nan for none)."""
    return sum(values) / len(values) if values else math.nan


def drive(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The driver of one arm (run in a fresh process by ``run_arm``, or by a Slurm job): connects to
    ``spec["address"]`` (default: ``RAY_ADDRESS``), runs the trials and returns what it measured."""
    import ray

    setup = Setup(**spec["setup"])
    ray.init(
        address=spec.get("address") or os.environ["RAY_ADDRESS"], logging_level=logging.WARNING, log_to_driver=False
    )
    cluster_cpus = ray.cluster_resources().get("CPU", 0)
    alive_nodes = sum(n["Alive"] for n in ray.nodes())
    searcher = ProbedSearcher(PGSearcher(seed=setup.seed)) if spec["arm"] == "pgsearch" else None
    plan: dict[str, Any] = {"mean_s": setup.mean_s, "reports": setup.reports, "seed": setup.seed}
    if setup.barrier:
        plan.update(wave=setup.in_flight, barrier_timeout_s=setup.barrier_timeout_s)
        plan["barrier_dir"] = os.path.join(spec["storage"], f"barrier-{spec['arm']}")
        os.makedirs(plan["barrier_dir"], exist_ok=True)
    running = RunningTrials()
    tuner = tune.Tuner(
        tune.with_resources(tune.with_parameters(sleeper, plan=plan), {"cpu": 1}),
        param_space=SPACE,
        tune_config=tune.TuneConfig(
            search_alg=searcher,
            metric="loss",
            mode="min",
            num_samples=setup.trials,
            max_concurrent_trials=setup.in_flight,
            reuse_actors=True,
            trial_dirname_creator=trial_dirname,
        ),
        run_config=tune.RunConfig(storage_path=spec["storage"], name=spec["arm"], verbose=0, callbacks=[running]),
    )
    cpu0, wall0, started = time.process_time(), time.perf_counter(), time.time()
    results = tuner.fit()
    wall, driver_cpu = time.perf_counter() - wall0, time.process_time() - cpu0

    trials = [results[i] for i in range(len(results))]
    metrics = [r.metrics or {} for r in trials]
    keys = [config_key(r.config or {}) for r in trials]
    max_inside, dup_inside, reached = overlap(
        (m["t_start"], m["t_end"], key) for m, key in zip(metrics, keys, strict=True) if "t_end" in m
    )
    out: dict[str, Any] = {
        "arm": spec["arm"],
        "setup": dataclasses.asdict(setup),
        "cluster_cpus": cluster_cpus,
        "alive_nodes": alive_nodes,
        "wall_s": wall,
        "driver_cpu_s": driver_cpu,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "num_trials": len(results),
        "num_errors": results.num_errors,
        "finished": sum(1 for m in metrics if m.get("training_iteration") == setup.reports),
        "nodes": len({m["node_id"] for m in metrics if "node_id" in m}),
        "slurm_nodes": sorted({m["slurm_node"] for m in metrics if m.get("slurm_node")}),
        "max_running_tune": running.max_running,
        "max_running_inside": max_inside,
        "ramp_s": reached - started,
        "dup_in_flight": dup_inside,
        "dup_configs_total": len(keys) - len(set(keys)),
        "best_loss": min(m["loss"] for m in metrics if "loss" in m),
        "trial_s_mean": mean([m["t_end"] - m["t_start"] for m in metrics if "t_end" in m]),
    }
    if searcher is not None:
        import ray_pgsearch

        opt = searcher.inner.optimizer
        out["searcher"] = {
            "code": os.path.dirname(ray_pgsearch.__file__),
            "times": searcher.times.as_dict(),
            "n_asked": opt.n_asked,
            "n_told": opt.n_told,
            "n_failed": opt.n_failed,
            "pending": opt.view().n_running,
            "live_max": searcher.live_max,
            "dup_in_flight": searcher.dup_in_flight,
            "best_value": opt.best_value,
        }
        states = sorted(glob.glob(os.path.join(spec["storage"], spec["arm"], "searcher-state-*.pkl")))
        if states:
            out["searcher"]["checkpoint_bytes"] = os.path.getsize(states[-1])
    ray.shutdown()
    return out


def run_arm(
    cluster: RayCluster, setup: Setup, arm: str, workdir: str | os.PathLike, timeout_s: float | None = None
) -> dict[str, Any]:
    """Runs one arm ("pgsearch" or "random") in a fresh driver process against ``cluster`` and
    returns its measurements (``drive``'s dict). The driver's output goes to ``<workdir>/<arm>.log``;
    a failed driver raises RuntimeError with the end of that log and of the nodes' log."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    # A fresh start: no experiment or start barrier left by an earlier, failed run of this arm here
    # (a barrier released earlier would let the new first wave through at once).
    for stale in (workdir / "results" / arm, workdir / "results" / f"barrier-{arm}"):
        shutil.rmtree(stale, ignore_errors=True)
    spec = {
        "address": cluster.address,
        "arm": arm,
        "setup": dataclasses.asdict(setup),
        "storage": str(workdir / "results"),
        "summary": str(workdir / f"{arm}.json"),  # what the driver writes
    }
    (workdir / f"{arm}-spec.json").write_text(json.dumps(spec))
    # Tune's experiment checkpoint on its own schedule ("auto": at most every 10 s), whatever the
    # caller's environment says (the test suite checkpoints every step, far too often at this size).
    # The project root comes after any PYTHONPATH given (which may name another ray_pgsearch to measure).
    env = dict(cluster.env, TUNE_GLOBAL_CHECKPOINT_S="auto")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [env.get("PYTHONPATH"), str(ROOT)]))
    log_path = workdir / f"{arm}.log"
    with open(log_path, "w") as log:
        done = subprocess.run(
            [sys.executable, "-m", "experiments.scale", "--drive", str(workdir / f"{arm}-spec.json")],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=timeout_s,
        )
    if done.returncode != 0:
        raise RuntimeError(
            f"the {arm} driver failed ({done.returncode}):\n{log_path.read_text(errors='replace')[-6000:]}\n"
            f"nodes:\n{cluster.log_tail(3000)}"
        )
    return json.loads((workdir / f"{arm}.json").read_text())
