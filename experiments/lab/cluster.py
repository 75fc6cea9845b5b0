"""Ray on this host for the lab: a local Ray for a Tune study (`start_ray`), a Ray cluster of several
nodes started with ``ray start`` (`RayCluster`), and the process helpers that find and stop what such a
cluster started (`descendants`, `process_name`). Everything started here is stopped by PID, never with
``ray stop`` or a pattern kill: other Ray clusters may share the host. ``RAY_AUTH_MODE`` is always set
explicitly for anything that joins a cluster."""

from __future__ import annotations

import glob
import math
import os
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TextIO

RAY_BIN = os.path.join(os.path.dirname(sys.executable), "ray")


def start_ray(module: str, num_cpus: int | None = None) -> None:
    """A local Ray for a Tune study, unless one runs already: ``address="local"`` so it never attaches
    to another user's cluster on this host, token auth off unless ``RAY_AUTH_MODE`` says otherwise,
    `num_cpus` CPUs (default: all). `module` (the caller's ``__name__``) is shipped to the workers by
    value when it was imported rather than run as ``__main__``, whose functions pickle by value anyway."""
    import ray

    if not ray.is_initialized():
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
    if module != "__main__":
        ray.cloudpickle.register_pickle_by_value(sys.modules[module])


def meminfo_gib(field: str) -> float:
    """A field of /proc/meminfo (MemTotal, MemAvailable, ...) in GiB."""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 2**20
    return math.nan


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_time(pid: int) -> int | None:
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


def raise_nofile_limit() -> None:
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
            preexec_fn=raise_nofile_limit,
        )
        if index < len(self.procs):
            self.procs[index] = proc
        else:
            self.procs.append(proc)

    def _remember(self) -> None:
        """Adds the nodes' current descendants to what stop() kills."""
        for seen, proc in zip(self._seen, self.procs, strict=False):
            for pid in descendants(proc.pid):
                started = start_time(pid)
                if started is not None:
                    seen.add((pid, started))

    @staticmethod
    def _kill(processes: Iterable[tuple[int, int]]) -> None:
        """SIGKILLs the processes that still run as the same process (PID and start time)."""
        for pid, started in processes:
            if start_time(pid) == started:
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
