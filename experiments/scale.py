"""Scale study (issue 15): PGSearcher inside Ray Tune on a real multi-node Ray cluster on this one
machine, against Tune's default random search on the same setup. Writes experiments/results/scale.md
and scale.json (``--name`` other names).

    python -m experiments.scale                  # 4 nodes x 32 logical CPUs, 128 trials in flight, 1,024 trials
    python -m experiments.scale --repeats 2      # each arm twice, alternating
    python -m experiments.scale --mean-s 4 --checkpoint-trials 0 --name scale-short   # short trials: the driver's limit
    python -m experiments.scale --quick          # a smoke-sized run (2 nodes x 8 CPUs, 48 trials)

What it does:

* starts a Ray cluster of ``--nodes`` nodes (``RayCluster``: ``ray start --block`` for a head and
  workers, each with ``--cpus-per-node`` logical CPUs, its own short temp dir, random ports,
  ``RAY_AUTH_MODE=disabled`` set explicitly, the open-files limit raised) and stops every process it
  started by PID at the end (never ``ray stop``: other Ray clusters may share the host);
* runs each arm (PGSearcher, Tune's default ``BasicVariantGenerator``) in a fresh driver process
  (``run_arm`` → ``python -m experiments.scale --drive SPEC``) against a fresh cluster: ``--trials``
  trials, ``max_concurrent_trials`` = nodes x CPUs per node, ``reuse_actors=True``, 1 CPU per trial.
  Each trial (``sleeper``) sleeps and reports ``--reports`` times; its duration is drawn uniformly
  from [0.5, 1.5] x ``--mean-s``, seeded by the trial's index, so both arms run the same work and
  trials end out of order. The first wave waits at a start barrier (``wait_for_first_wave``) until
  all trials of the wave have started;
* measures the wall time of ``Tuner.fit``, the driver's CPU time and peak RSS, the time the driver
  spent inside PGSearcher's callbacks (``TimedPGSearcher``, used only here), the nodes trials ran on,
  the most trials running at once (Tune's count and the trials' own clocks), and configs that were
  in flight twice at the same time;
* measures in-process (no cluster) the cost of ``suggest`` and of a finished trial's callbacks against
  the number of pending trials, with and without the TensorBoard writer PGSearcher attaches inside
  Tune (``callback_costs``), and the searcher checkpoint's size and ``save()`` time after 1,000 /
  3,000 / 10,000 finished trials with 256 pending (``checkpoint_cost``).

``RayCluster``, ``Setup`` and ``run_arm`` are reused by tests/integration/test_scale.py;
tests/integration/test_slurm.py runs
``--drive SPEC`` (a spec without an address uses ``RAY_ADDRESS``) as the driver of a Slurm job.
The driver's ``ray_pgsearch`` is the first one on ``PYTHONPATH``, else the project's.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import glob
import json
import logging
import math
import os
import pickle
import random
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from ray import tune

from experiments.lab.render import RESULTS, header, table
from experiments.long_run import SPACE, loss  # the space and cheap loss of the long-run study
from ray_pgsearch import PGSearcher

ROOT = Path(__file__).resolve().parent.parent
RAY_BIN = os.path.join(os.path.dirname(sys.executable), "ray")


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


# ---- a Ray cluster of several nodes on this host ---------------------------------------------------


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_time(pid: int) -> int | None:
    """The kernel's start time of process ``pid`` (tells a process from a later one with its PID)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def descendants(pid: int) -> list[int]:
    """The PIDs of every process below ``pid`` (from /proc, no extra package)."""
    children: dict[int, list[int]] = {}
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.split("/")[2]))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def process_name(pid: int) -> str:
    """The command name of ``pid`` (``/proc/<pid>/comm``), or "" once it is gone."""
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def ray_env(auth_mode: str = "disabled", base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a cluster's nodes and its drivers: ``RAY_AUTH_MODE`` set explicitly (a
    ``~/.ray/auth_token`` left by a local ``ray.init()`` would otherwise turn token auth on for the head
    only), a random token in token mode, no 30 s drain on shutdown, no usage stats, no RAY_ADDRESS of
    another cluster, and this interpreter's virtualenv first on PATH."""
    env = dict(os.environ if base is None else base)
    env.pop("RAY_ADDRESS", None)
    env.update(RAY_AUTH_MODE=auth_mode, RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S="0", RAY_USAGE_STATS_ENABLED="0")
    if auth_mode == "token":
        env["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
    else:
        env.pop("RAY_AUTH_TOKEN", None)
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    return env


def _raise_nofile_limit() -> None:
    """In a node's process before exec: the open-files soft limit as high as the hard limit allows
    (up to 65536); many workers on one raylet need far more than the usual 1024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536 if hard == resource.RLIM_INFINITY else min(65536, hard)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


class RayCluster:
    """A Ray cluster of ``nodes`` nodes on this host: node 0 is the head, each node one
    ``ray start --block`` process with ``cpus_per_node`` logical CPUs, a short temp dir of its own
    and random ports (the dashboard agent's included, which would otherwise clash at 52365).

        with RayCluster(4, 32, log_path="ray.log") as cluster:
            subprocess.run([...], env=dict(cluster.env, RAY_ADDRESS=cluster.address))

    ``start`` returns once every node has joined (polling, no fixed sleep). A worker node whose
    ``ray start`` gives up while the cluster comes up (Ray waits only 30 s for a raylet to register,
    too little on an overloaded machine) is started again, up to ``node_retries`` times. ``stop`` sends
    SIGTERM to the ``ray start`` processes (each stops its own node), then SIGKILLs whatever they had
    started and left behind, by PID (checking the PID still names the same process), and removes the
    temp dirs. ``procs[i]`` is node i's ``ray start`` process; ``node_env`` adds variables to single
    nodes (their workers inherit them).
    """

    def __init__(
        self,
        nodes: int,
        cpus_per_node: int,
        *,
        log_path: str | os.PathLike,
        auth_mode: str = "disabled",
        object_store_mb: int = 200,
        node_env: Sequence[Mapping[str, str]] | None = None,
        wait_s: float = 300.0,
        node_retries: int = 2,
    ):
        self.nodes = nodes
        self.cpus_per_node = cpus_per_node
        self.log_path = str(log_path)
        self.env = ray_env(auth_mode)
        self.object_store_mb = object_store_mb
        self.node_env = list(node_env or [{}] * nodes)
        self.wait_s = wait_s
        self.node_retries = node_retries
        self.tmp_root = f"/tmp/rc{os.getpid()}{secrets.token_hex(2)}"  # short: socket paths < 107 bytes
        self.address = ""
        self.procs: list[subprocess.Popen] = []
        # Every process seen below each node's `ray start` (PID, start time): what stop() may have to
        # kill, even after a parent's exit handed its children to init.
        self._seen: list[set[tuple[int, int]]] = [set() for _ in range(nodes)]
        self._log: TextIO | None = None

    def __enter__(self) -> RayCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _start_node(self, index: int, args: list[str]) -> None:
        """Starts (or starts again) node ``index`` as ``procs[index]``."""
        cmd = [RAY_BIN, "start", "--block", f"--num-cpus={self.cpus_per_node}", "--num-gpus=0"]
        cmd += [f"--temp-dir={self.tmp_root}-{index}", f"--object-store-memory={self.object_store_mb * 2**20}"]
        cmd += ["--min-worker-port=0", "--max-worker-port=0", f"--dashboard-agent-listen-port={free_port()}"]
        cmd += ["--disable-usage-stats", *args]
        proc = subprocess.Popen(
            cmd,
            env={**self.env, **self.node_env[index]},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=_raise_nofile_limit,
        )
        if index < len(self.procs):
            self.procs[index] = proc
        else:
            self.procs.append(proc)

    def _remember(self) -> None:
        """Adds the nodes' current descendants to what stop() kills."""
        for seen, proc in zip(self._seen, self.procs, strict=False):
            for pid in descendants(proc.pid):
                started = _start_time(pid)
                if started is not None:
                    seen.add((pid, started))

    @staticmethod
    def _kill(processes: Iterable[tuple[int, int]]) -> None:
        """SIGKILLs the processes that still run as the same process (PID and start time)."""
        for pid, started in processes:
            if _start_time(pid) == started:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def log_tail(self, chars: int = 6000) -> str:
        """The end of the nodes' shared ``ray start`` log (for error messages)."""
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-chars:]
        except OSError:
            return ""

    def _check_alive(self, deadline: float, what: str, retries: list[int] | None = None) -> None:
        """Raises RuntimeError when a node has exited or the deadline has passed; with ``retries``
        (what is left per node), a worker node that exited is started again instead while it has some."""
        self._remember()
        for i, proc in enumerate(self.procs):
            if proc.poll() is None:
                continue
            if retries is None or i == 0 or retries[i] <= 0:
                raise RuntimeError(f"Ray node {i} exited ({proc.returncode}) while {what}\n{self.log_tail()}")
            retries[i] -= 1
            print(
                f"Ray node {i} exited ({proc.returncode}) while {what}: starting it again", file=self._log, flush=True
            )
            self._kill(self._seen[i])
            self._seen[i].clear()
            self._start_node(i, [f"--address={self.address}", "--node-ip-address=127.0.0.1"])
        if time.time() > deadline:
            raise RuntimeError(f"timed out after {self.wait_s:.0f} s while {what}\n{self.log_tail()}")

    def start(self) -> None:
        """Starts the head, waits until it answers, starts the workers, waits until all have joined."""
        self._log = open(self.log_path, "a")
        port = free_port()
        self.address = f"127.0.0.1:{port}"
        self._start_node(
            0,
            [
                "--head",
                "--node-ip-address=127.0.0.1",
                f"--port={port}",
                "--include-dashboard=false",
                f"--ray-client-server-port={free_port()}",
                f"--dashboard-port={free_port()}",
            ],
        )
        deadline = time.time() + self.wait_s
        check = [RAY_BIN, "health-check", "--address", self.address]
        while subprocess.run(check, env=self.env, capture_output=True).returncode != 0:
            self._check_alive(deadline, "the head came up")
            time.sleep(0.5)
        for i in range(1, self.nodes):
            self._start_node(i, [f"--address={self.address}", "--node-ip-address=127.0.0.1"])
        # One short-lived driver that polls the node count (the node processes cannot tell).
        poll = (
            "import sys, time, ray\n"
            "ray.init(address=sys.argv[1], logging_level='ERROR', log_to_driver=False)\n"
            "while sum(n['Alive'] for n in ray.nodes()) < int(sys.argv[2]):\n"
            "    time.sleep(0.5)\n"
        )
        waiter = subprocess.Popen(
            [sys.executable, "-c", poll, self.address, str(self.nodes)],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        retries = [self.node_retries] * self.nodes
        try:
            while waiter.poll() is None:
                self._check_alive(deadline, f"{self.nodes} nodes joined", retries)
                time.sleep(0.5)
        finally:
            if waiter.poll() is None:
                waiter.kill()
                waiter.wait()
        if waiter.returncode != 0:
            raise RuntimeError(f"could not count the cluster's nodes\n{self.log_tail()}")
        self._check_alive(deadline, f"{self.nodes} nodes joined")

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stops every process this cluster started (by PID), then removes its temp dirs."""
        self._remember()
        for proc in reversed(self.procs):  # workers first, the head last
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for seen in self._seen:
            self._kill(seen)
            seen.clear()
        self.procs = []
        for path in glob.glob(f"{self.tmp_root}-*"):
            shutil.rmtree(path, ignore_errors=True)
        if self._log is not None:
            self._log.close()
            self._log = None


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


# ---- timing and concurrency probes (driver side) ---------------------------------------------------

_TIMES: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0, 0.0, 0.0])  # calls, wall, cpu, max wall
_PROBE: dict[str, int] = {"live_max": 0, "dup_in_flight": 0}
_LIVE_KEYS: collections.Counter = collections.Counter()
_LIVE: dict[str, str] = {}


def config_key(config: Mapping[str, Any]) -> str:
    """A config's searched values as one string (two trials with equal keys ran the same config)."""
    return json.dumps({k: config.get(k) for k in SPACE}, sort_keys=True, default=str)


def _timed(name: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    wall, cpu = time.perf_counter(), time.thread_time()
    try:
        return fn(*args, **kwargs)
    finally:
        wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
        entry = _TIMES[name]
        entry[0] += 1
        entry[1] += wall
        entry[2] += cpu
        entry[3] = max(entry[3], wall)


class TimedPGSearcher(PGSearcher):
    """PGSearcher that adds the wall and CPU time of each callback to this module's ``_TIMES`` and
    tracks, from the searcher's side, how many suggested trials are live and whether a config is
    suggested while an equal one is still live. Used only by this study; the counters live outside
    the object so that its checkpoints are exactly PGSearcher's."""

    def suggest(self, trial_id: str) -> dict | None:
        config = _timed("suggest", super().suggest, trial_id)
        if isinstance(config, dict):
            key = config_key(config)
            _PROBE["dup_in_flight"] += _LIVE_KEYS[key] > 0
            _LIVE_KEYS[key] += 1
            _LIVE[trial_id] = key
            _PROBE["live_max"] = max(_PROBE["live_max"], len(_LIVE))
        return config

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        _timed("on_trial_result", super().on_trial_result, trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        _timed("on_trial_complete", super().on_trial_complete, trial_id, result, error)
        key = _LIVE.pop(trial_id, None)
        if key is not None:
            _LIVE_KEYS[key] -= 1

    def save(self, checkpoint_path: str) -> None:
        _timed("save", super().save, checkpoint_path)


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
    searcher = TimedPGSearcher(seed=setup.seed) if spec["arm"] == "pgsearch" else None
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
        "trial_s_mean": _mean(m["t_end"] - m["t_start"] for m in metrics if "t_end" in m),
    }
    if searcher is not None:
        import ray_pgsearch

        opt = searcher.optimizer
        out["searcher"] = {
            "code": os.path.dirname(ray_pgsearch.__file__),
            "times": {
                k: dict(zip(("calls", "wall_s", "cpu_s", "max_wall_s"), v, strict=True)) for k, v in _TIMES.items()
            },
            "n_asked": opt.n_asked,
            "n_told": opt.n_told,
            "n_failed": opt.n_failed,
            "pending": len(opt.pending),
            "live_max": _PROBE["live_max"],
            "dup_in_flight": _PROBE["dup_in_flight"],
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


# ---- the searcher alone (in-process, no cluster) ---------------------------------------------------------


def _feeder(pending: int, events_dir: str | None, seed: int = 0) -> tuple[PGSearcher, random.Random]:
    """A PGSearcher over SPACE as Tune sets it up (param_space, metric, mode, max_concurrent_trials).
    With ``events_dir`` its first ``save`` attaches the TensorBoard writer there, as inside Tune;
    without, none is attached (the private ``_log_dir`` set after the optimizer exists tells ``save``
    that the events go elsewhere)."""
    searcher = PGSearcher(seed=seed)
    searcher.set_search_properties("loss", "min", SPACE)
    searcher.set_max_concurrency(pending)
    _ = searcher.optimizer  # built now, before _log_dir is set below
    if events_dir is not None:
        searcher.save(os.path.join(events_dir, "searcher-state.pkl"))
    else:
        searcher._log_dir = "<no events>"
    return searcher, random.Random(seed)


def _cycle(searcher: PGSearcher, trial_id: str, config: Mapping[str, Any], reports: int) -> None:
    """What Tune calls for one finished trial: on_trial_result per report, then on_trial_complete."""
    value = loss(config)
    for step in range(1, reports + 1):
        searcher.on_trial_result(trial_id, {"loss": value + 1.0 / step, "training_iteration": step})
    searcher.on_trial_complete(trial_id, {"loss": value + 1.0 / reports, "training_iteration": reports})


def checkpoint_cost(
    trials: int = 10000, pending: int = 256, at: Sequence[int] = (1000, 3000, 10000), reports: int = 3, seed: int = 0
) -> list[dict[str, Any]]:
    """Feeds a PGSearcher ``trials`` suggest / on_trial_result x ``reports`` / on_trial_complete cycles
    with ``pending`` trials always live, completing them in a seeded random order; after each count in
    ``at`` finished trials it times ``save`` (the best of 3) and ``restore`` and records the file size
    and the pickled size of the state's largest parts. No TensorBoard writer (``log_dir`` outside the
    run), so the per-call costs of ``callback_costs`` stay separate."""
    searcher, rng = _feeder(pending, None, seed)
    rows: list[dict[str, Any]] = []
    live: list[tuple[str, dict]] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "searcher-state.pkl")
        for done in range(1, trials + 1):
            while len(live) < pending:
                trial_id = f"t{done:05d}-{len(live)}"
                config = searcher.suggest(trial_id)
                assert config is not None
                live.append((trial_id, config))
            _cycle(searcher, *live.pop(rng.randrange(len(live))), reports)
            if done not in at:
                continue
            saves = []
            for _ in range(3):
                t0 = time.perf_counter()
                searcher.save(path)
                saves.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            PGSearcher().restore(path)
            restore_s = time.perf_counter() - t0
            with open(path, "rb") as f:
                state = pickle.load(f)["state"]
            parts = {k: len(pickle.dumps(v)) for k, v in state.items()}
            rows.append(
                {
                    "finished": done,
                    "pending": len(searcher.optimizer.pending),
                    "bytes": os.path.getsize(path),
                    "save_ms": 1e3 * min(saves),
                    "restore_ms": 1e3 * restore_s,
                    "largest_parts": dict(sorted(parts.items(), key=lambda kv: -kv[1])[:4]),
                }
            )
            print(
                f"  {done:>6} finished, {rows[-1]['pending']} pending: checkpoint {rows[-1]['bytes'] / 1024:.0f} KiB, "
                f"save {rows[-1]['save_ms']:.1f} ms, restore {rows[-1]['restore_ms']:.1f} ms",
                flush=True,
            )
    return rows


def callback_costs(
    pendings: Sequence[int] = (8, 128, 256), trials: int = 600, reports: int = 3, seed: int = 0
) -> list[dict[str, Any]]:
    """Wall and CPU milliseconds of ``suggest`` and of one finished trial's on_trial_result x
    ``reports`` + on_trial_complete, with ``pending`` trials live, over the last half of ``trials``
    (the window of finished trials is full by then): the median (robust to the other jobs of a
    shared machine) and the mean of each. The largest depth is also measured with the TensorBoard
    writer that PGSearcher attaches inside Tune (its first ``save`` does that)."""
    rows = []
    cases = [(p, False) for p in pendings] + [(max(pendings), True)]
    for pending, writer in cases:
        live: list[tuple[str, dict]] = []
        calls: dict[str, list[tuple[float, float]]] = {"suggest": [], "complete": []}
        with tempfile.TemporaryDirectory() as tmp:
            searcher, rng = _feeder(pending, tmp if writer else None, seed)
            for done in range(trials):
                measured = done >= trials // 2
                while len(live) < pending:
                    wall, cpu = time.perf_counter(), time.thread_time()
                    trial_id = f"t{done:05d}-{len(live)}"
                    live.append((trial_id, searcher.suggest(trial_id) or {}))
                    if measured:
                        calls["suggest"].append((time.perf_counter() - wall, time.thread_time() - cpu))
                wall, cpu = time.perf_counter(), time.thread_time()
                _cycle(searcher, *live.pop(rng.randrange(len(live))), reports)
                if measured:
                    calls["complete"].append((time.perf_counter() - wall, time.thread_time() - cpu))
            if searcher._writer is not None:
                searcher._writer.close()
        row: dict[str, Any] = {"pending": pending, "writer": writer, "trials": trials}
        for name, pairs in calls.items():
            walls, cpus = [1e3 * w for w, _ in pairs], [1e3 * c for _, c in pairs]
            row[f"{name}_ms"], row[f"{name}_mean_ms"] = statistics.median(walls), statistics.fmean(walls)
            row[f"{name}_cpu_ms"], row[f"{name}_cpu_mean_ms"] = statistics.median(cpus), statistics.fmean(cpus)
        rows.append(row)
        print(
            f"  {pending:>3} pending{' + writer' if writer else ''} (medians): suggest {row['suggest_ms']:.2f} ms "
            f"(CPU {row['suggest_cpu_ms']:.2f}), results + complete {row['complete_ms']:.2f} ms "
            f"(CPU {row['complete_cpu_ms']:.2f})",
            flush=True,
        )
    return rows


# ---- the study --------------------------------------------------------------------------------------


def searcher_share(arm: Mapping[str, Any]) -> dict[str, float]:
    """PGSearcher's time in the driver: total wall and CPU seconds in its callbacks, as fractions of
    the fit's wall time and of the driver's CPU time."""
    times = arm["searcher"]["times"]
    wall = sum(t["wall_s"] for t in times.values())
    cpu = sum(t["cpu_s"] for t in times.values())
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "of_wall": wall / arm["wall_s"],
        "of_driver_cpu": cpu / arm["driver_cpu_s"] if arm["driver_cpu_s"] else math.nan,
    }


def meminfo_gib(field: str) -> float:
    """A field of /proc/meminfo (MemTotal, MemAvailable, ...) in GiB."""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 2**20
    return math.nan


def run_study(setup: Setup, arms: Sequence[str], workdir: Path) -> list[dict[str, Any]]:
    """Each arm in turn on a fresh cluster of ``setup.nodes`` nodes; returns their measurements. A run
    whose measurements are already in ``workdir`` (an earlier, interrupted study with the same
    ``--workdir``) is taken from there; a run that fails is recorded with its error (``failed``) and
    the study goes on."""
    workdir.mkdir(parents=True, exist_ok=True)
    out = []
    for i, arm in enumerate(arms):
        summary = workdir / f"{i}-{arm}" / f"{arm}.json"
        if summary.exists():
            result = json.loads(summary.read_text())
            if result.get("setup") == dataclasses.asdict(setup):
                print(f"[{arm}] run {i + 1}: measured earlier ({summary})", flush=True)
                out.append(result)
                continue
        load_before, available = os.getloadavg(), meminfo_gib("MemAvailable")
        print(f"[{arm}] load average {load_before[0]:.1f}; {available:.1f} GiB available", flush=True)
        started = time.time()
        try:
            with RayCluster(setup.nodes, setup.cpus_per_node, log_path=workdir / f"nodes-{i}.log") as cluster:
                up_s = time.time() - started
                result = run_arm(cluster, setup, arm, workdir / f"{i}-{arm}")
        except RuntimeError as e:
            print(f"[{arm}] run {i + 1} failed: {str(e)[-2000:]}", flush=True)
            out.append({"arm": arm, "failed": str(e)[-4000:], "load_before": load_before, "available_gib": available})
            continue
        result.update(cluster_up_s=up_s, load_before=load_before, load_after=os.getloadavg(), available_gib=available)
        summary.write_text(json.dumps(result))
        print(
            f"[{arm}] fit {result['wall_s']:.1f} s (all {setup.in_flight} running after {result['ramp_s']:.0f} s), "
            f"driver CPU {result['driver_cpu_s']:.1f} s, peak RSS {result['peak_rss_mb']:.0f} MB, "
            f"{result['num_trials']} trials ({result['num_errors']} errors) on {result['nodes']} nodes, max running "
            f"{result['max_running_tune']} (Tune) / {result['max_running_inside']} (inside), duplicates in flight "
            f"{result['dup_in_flight']}",
            flush=True,
        )
        out.append(result)
    return out


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return sum(values) / len(values) if values else math.nan


def _describe_code(code_dir: str) -> str:
    """Where the measured ray_pgsearch came from: the commit of the git checkout it lies in (and
    whether the package had uncommitted changes), else its directory (e.g. an archive of a commit
    named after it)."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=code_dir, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("log", "-1", "--format=%h", "--", ".")
    if not commit:
        return f"`{os.path.dirname(code_dir)}` (not a git checkout)"
    dirty = " with uncommitted changes" if git("status", "--porcelain", ".") else ""
    return f"`ray_pgsearch` of commit {commit}{dirty}"


def write_report(
    argv: list[str] | None,
    setup: Setup,
    arms: list[dict[str, Any]],
    ckpt: list[dict[str, Any]],
    costs: list[dict[str, Any]],
    out: Path,
    name: str = "scale",
) -> None:
    """<name>.md (tables and what they show) and <name>.json (everything measured) in ``out``."""
    lines = header("scale", "Scale: PGSearcher in Ray Tune on a 4-node Ray cluster on one machine", argv, [])
    codes = sorted({a["searcher"]["code"] for a in arms if "searcher" in a and "code" in a["searcher"]})
    if codes:
        lines += [f"ray_pgsearch measured: {', '.join(_describe_code(c) for c in codes)}.", ""]
    barrier = (
        f"The first {setup.in_flight} trials wait for each other at a start barrier (files in a directory), so "
        f"none ends before all {setup.in_flight} trial actors are up and the rest of the run goes at full width; "
        "without it, a trial that ends while actors are still starting hands its actor to a pending trial and "
        "Tune cancels that trial's starting actor, so fewer actors ever run."
        if setup.barrier
        else "No start barrier: trials start as their actors come up."
    )
    lines += [
        f"Setup: a Ray cluster of {setup.nodes} nodes started with `ray start` on this one machine "
        f"({os.cpu_count()} cores, {meminfo_gib('MemTotal'):.0f} GiB), {setup.cpus_per_node} logical CPUs each "
        f"(`--num-cpus`); {setup.trials} trials of 1 CPU, `max_concurrent_trials={setup.in_flight}`, "
        f"`reuse_actors=True`; each trial sleeps U(0.5, 1.5) x {setup.mean_s:g} s (drawn from its index: both "
        f"arms run the same work) in {setup.reports} steps and reports after each. {barrier} Each arm runs in a "
        "fresh driver process against a fresh cluster; the arms alternate. Other jobs shared the machine "
        f"(load averages in {name}.json).",
        "",
    ]
    rows = []
    for i, a in enumerate(arms):
        load = f"{a['load_before'][0]:.0f}" if "load_before" in a else "—"
        if "failed" in a:
            errors = [line for line in a["failed"].splitlines() if "Error" in line] or a["failed"].splitlines()
            reason = errors[-1].strip()[:160]
            rows.append([str(i + 1), a["arm"], f"failed: {reason}"] + ["—"] * 9 + [load])
            continue
        rows.append(
            [
                str(i + 1),
                a["arm"],
                f"{a['wall_s']:.1f}",
                f"{a['ramp_s']:.0f}",
                f"{a['wall_s'] - a['ramp_s']:.0f}",
                f"{a['driver_cpu_s']:.1f}",
                f"{a['peak_rss_mb']:.0f}",
                f"{a['num_trials']} ({a['num_errors']})",
                str(a["nodes"]),
                f"{a['max_running_tune']} / {a['max_running_inside']}",
                str(a["dup_in_flight"]),
                f"{a['best_loss']:.3f}",
                load,
            ]
        )
    lines += table(
        [
            "run",
            "arm",
            "fit wall s",
            f"s until {setup.in_flight} running",
            "s after",
            "driver CPU s",
            "peak driver RSS MB",
            "trials (errors)",
            "nodes",
            "max running (Tune / in trials)",
            "dup configs in flight",
            "best loss",
            "load avg before",
        ],
        rows,
    )
    done = [a for a in arms if "failed" not in a]
    pg = [a for a in done if a["arm"] == "pgsearch"]
    rnd = [a for a in done if a["arm"] == "random"]
    if pg and rnd:
        pg_wall, rnd_wall = _mean(a["wall_s"] for a in pg), _mean(a["wall_s"] for a in rnd)
        pg_after = _mean(a["wall_s"] - a["ramp_s"] for a in pg)
        rnd_after = _mean(a["wall_s"] - a["ramp_s"] for a in rnd)
        pg_cpu, rnd_cpu = _mean(a["driver_cpu_s"] for a in pg), _mean(a["driver_cpu_s"] for a in rnd)
        lines += [
            f"Mean fit wall time: PGSearcher {pg_wall:.1f} s, random {rnd_wall:.1f} s: PGSearcher takes "
            f"{100 * (pg_wall / rnd_wall - 1):+.1f} % (target: at most +5 %). After all {setup.in_flight} trials "
            f"were running (the part the searcher can slow down; the start-up before it is Ray starting "
            f"{setup.in_flight} trial workers on {os.cpu_count()} cores): PGSearcher {pg_after:.1f} s, random "
            f"{rnd_after:.1f} s ({100 * (pg_after / rnd_after - 1):+.1f} %). Driver CPU: PGSearcher {pg_cpu:.1f} s, "
            f"random {rnd_cpu:.1f} s ({pg_cpu - rnd_cpu:+.1f} s, {1e3 * (pg_cpu - rnd_cpu) / setup.trials:.0f} ms "
            "per trial).",
            "",
        ]
    if pg:
        lines += [
            "## PGSearcher's share of the driver",
            "",
            "Time inside PGSearcher's callbacks (a timing subclass, `TimedPGSearcher`): wall time as a share of "
            "the fit's wall time, CPU time (thread time) as a share of the driver process's CPU time. Inside "
            "Tune, PGSearcher's first `save` attaches its TensorBoard writer (`<experiment>/pgsearch`), which "
            "writes the policy after an update at most once a second (`log_every_s`), inside `on_trial_complete`; "
            "the writer's own background thread "
            "(tensorboardX) is not in the searcher's thread time, only in the driver's CPU time.",
            "",
        ]
        share_rows = []
        for i, a in enumerate(arms):
            if a["arm"] != "pgsearch" or "failed" in a:
                continue
            share, s = searcher_share(a), a["searcher"]
            calls = ", ".join(
                f"{k} {t['calls']} x {1e3 * t['wall_s'] / max(1, t['calls']):.2f} ms "
                f"(CPU {1e3 * t['cpu_s'] / max(1, t['calls']):.2f})"
                for k, t in s["times"].items()
            )
            share_rows.append(
                [
                    str(i + 1),
                    f"{share['wall_s']:.1f} s = {100 * share['of_wall']:.1f} %",
                    f"{share['cpu_s']:.1f} s = {100 * share['of_driver_cpu']:.1f} %",
                    calls,
                    f"{s['n_told']} / {s['n_asked']} ({s['n_failed']} failed, {s['pending']} pending)",
                    str(s["live_max"]),
                    str(s["dup_in_flight"]),
                    f"{s.get('checkpoint_bytes', 0) / 1024:.0f} KiB",
                ]
            )
        lines += table(
            [
                "run",
                "wall in searcher",
                "CPU in searcher",
                "calls x mean wall (CPU) ms",
                "learned from / suggested",
                "most live (searcher's view)",
                "dup configs live (searcher's view)",
                "final checkpoint",
            ],
            share_rows,
        )
    if costs:
        lines += [
            "## Cost per call against the number of pending trials (in-process)",
            "",
            f"A PGSearcher over the same space, {costs[0]['trials']} trials, {setup.reports} reports each; medians "
            f"over the last half of the trials (window full), wall (CPU) ms per call; the means are in {name}.json.",
            "",
        ]
        lines += table(
            ["pending", "TensorBoard writer", "suggest", f"{setup.reports} x on_trial_result + on_trial_complete"],
            [
                [
                    str(c["pending"]),
                    "yes" if c["writer"] else "no",
                    f"{c['suggest_ms']:.2f} ({c['suggest_cpu_ms']:.2f})",
                    f"{c['complete_ms']:.2f} ({c['complete_cpu_ms']:.2f})",
                ]
                for c in costs
            ],
        )
    if ckpt:
        lines += [
            f"## The searcher checkpoint at {ckpt[-1]['finished']:,} finished trials (in-process)",
            "",
            f"A PGSearcher over the same space fed suggest / {setup.reports} x on_trial_result / "
            "on_trial_complete cycles with 256 trials always pending, completed in random order; `save` is "
            "the best of 3.",
            "",
        ]
        lines += table(
            ["finished", "pending", "checkpoint KiB", "save ms", "restore ms", "largest parts (pickled KiB)"],
            [
                [
                    f"{r['finished']:,}",
                    str(r["pending"]),
                    f"{r['bytes'] / 1024:.0f}",
                    f"{r['save_ms']:.1f}",
                    f"{r['restore_ms']:.1f}",
                    ", ".join(f"{k} {v / 1024:.0f}" for k, v in r["largest_parts"].items()),
                ]
                for r in ckpt
            ],
        )
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.md").write_text("\n".join(lines) + "\n")
    everything = {"setup": dataclasses.asdict(setup), "arms": arms, "checkpoint": ckpt, "callback_costs": costs}
    (out / f"{name}.json").write_text(json.dumps(everything, indent=1) + "\n")
    print(f"wrote {out / (name + '.md')} and {out / (name + '.json')}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--drive", metavar="SPEC", help=argparse.SUPPRESS)  # one arm's driver (run_arm)
    parser.add_argument("--nodes", type=int, default=Setup.nodes)
    parser.add_argument("--cpus-per-node", type=int, default=Setup.cpus_per_node)
    parser.add_argument("--trials", type=int, default=Setup.trials)
    parser.add_argument("--reports", type=int, default=Setup.reports)
    parser.add_argument("--mean-s", type=float, default=Setup.mean_s, help="mean trial duration, seconds")
    parser.add_argument("--no-barrier", action="store_true", help="no start barrier for the first wave")
    parser.add_argument("--repeats", type=int, default=1, help="runs per arm (alternating, PGSearcher first)")
    parser.add_argument("--arms", default="pgsearch,random")
    parser.add_argument("--checkpoint-trials", type=int, default=10000, help="0: skip the in-process part")
    parser.add_argument("--quick", action="store_true", help="smoke size: 2 nodes x 8 CPUs, 48 trials of ~3 s")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--name", default="scale", help="the result files' name: <out>/<name>.md and .json")
    parser.add_argument("--workdir", type=Path, help="where runs write (default: a temp dir, removed)")
    args = parser.parse_args(argv)
    if args.drive:
        spec = json.loads(Path(args.drive).read_text())
        Path(spec["summary"]).write_text(json.dumps(drive(spec)))
        return

    size = dict(nodes=2, cpus_per_node=8, trials=48, mean_s=3.0) if args.quick else {}
    setup = Setup(
        **{
            "nodes": args.nodes,
            "cpus_per_node": args.cpus_per_node,
            "trials": args.trials,
            "mean_s": args.mean_s,
            **size,
            "reports": args.reports,
            "barrier": not args.no_barrier,
        }
    )
    if args.quick:
        args.checkpoint_trials = min(args.checkpoint_trials, 1000)
    arms = [a for _ in range(args.repeats) for a in args.arms.split(",") if a]
    print(f"{meminfo_gib('MemAvailable'):.1f} GiB available; {setup}", flush=True)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="scale-"))
    try:
        results = run_study(setup, arms, workdir)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    ckpt: list[dict[str, Any]] = []
    costs: list[dict[str, Any]] = []
    if args.checkpoint_trials:
        print("cost per call against pending trials:", flush=True)
        costs = callback_costs(reports=setup.reports, trials=300 if args.quick else 600)
        print(f"checkpoint cost, {args.checkpoint_trials} trials with 256 pending:", flush=True)
        at = [n for n in (1000, 3000) if n < args.checkpoint_trials] + [args.checkpoint_trials]
        ckpt = checkpoint_cost(args.checkpoint_trials, 256, at, setup.reports)
    write_report(argv, setup, results, ckpt, costs, args.out, args.name)


if __name__ == "__main__":
    main()
