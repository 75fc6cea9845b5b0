"""Multi-node tests: the project's sbatch script on a real (emulated 2-node) Slurm cluster, a job
cancelled and submitted again, and a Ray node SIGKILLed mid-run (no Slurm needed for that one).

The Slurm tests need a Slurm cluster with two idle nodes; on one Debian machine (root) bring up the
emulated one first:  bash .ci/slurm-up.sh   (then: python -m pytest -q tests/test_slurm.py).
Everything these tests start they stop by PID (never `ray stop`: other Ray clusters may share the host).
"""

from __future__ import annotations

import glob
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SBATCH = os.path.join(ROOT, "slurm", "pgsearch.sbatch")
HOW_TO = (
    "no Slurm cluster with 2 idle nodes (sinfo): bring the emulated one up with `bash .ci/slurm-up.sh` "
    "(root, Debian 12), then run `python -m pytest -q tests/test_slurm.py` (see slurm/README.md)"
)


def _idle_slurm_nodes() -> int:
    try:
        out = subprocess.run(
            ["sinfo", "-h", "-N", "-t", "idle", "-o", "%N"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return len(set(out.stdout.split())) if out.returncode == 0 else 0


needs_slurm = pytest.mark.skipif(_idle_slurm_nodes() < 2, reason=HOW_TO)


def _job_env(job_dir: str) -> dict:
    """The environment sbatch passes to the job: this interpreter's virtualenv on PATH, the job dir."""
    env = dict(os.environ, PGS_JOB_DIR=job_dir, PGS_PROJECT_DIR=ROOT)
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    env.pop("RAY_ADDRESS", None)
    return env


def _show_logs(job_dir: str) -> str:
    text = []
    for path in sorted(glob.glob(os.path.join(job_dir, "*.log")) + glob.glob(os.path.join(job_dir, "*.out"))):
        with open(path, errors="replace") as f:
            text.append(f"==> {path}\n{f.read()[-6000:]}")
    return "\n".join(text)


def _sbatch(job_dir: str, name: str, *args: str, wait: bool = True) -> subprocess.CompletedProcess:
    cmd = ["sbatch", "--parsable", f"--job-name={name}", f"--output={job_dir}/slurm-%j.out"]
    cmd += ["--wait"] if wait else []
    return subprocess.run(
        cmd + [SBATCH, *args], cwd=ROOT, env=_job_env(job_dir), capture_output=True, text=True, timeout=300
    )


def _last_results(experiment_dir: str) -> dict[str, dict]:
    """trial dir -> the last line of its result.json (trials that reported at least once)."""
    out = {}
    for path in glob.glob(os.path.join(experiment_dir, "*", "result.json")):
        with open(path) as f:
            lines = [line for line in f.read().splitlines() if line.strip()]
        if lines:
            out[os.path.dirname(path)] = json.loads(lines[-1])
    return out


@needs_slurm
def test_sbatch_runs_the_main_job_on_both_nodes(tmp_path):
    job_dir, name = str(tmp_path / "job"), f"pgs-test-{secrets.token_hex(3)}"
    os.makedirs(job_dir)
    done = _sbatch(job_dir, name, "--num-samples", "8")
    assert done.returncode == 0, done.stderr + _show_logs(job_dir)

    # Where slurm/README.md says things end up.
    experiment = os.path.join(job_dir, "results", name)
    with open(os.path.join(job_dir, "best_config.json")) as f:
        best = json.load(f)
    assert best["experiment_dir"] == experiment and os.path.isdir(experiment)
    assert best["num_trials"] == 8 and best["trial_status"] == {"TERMINATED": 8}
    assert set(best["best_config"]) >= {"hidden", "layers", "activation", "alpha", "lr", "batch_size"}
    assert 0.0 < best["best_value"] <= 1.0
    job_id = done.stdout.strip().split(";")[0]
    assert os.path.isfile(os.path.join(job_dir, f"job-{job_id}.log"))

    # Trials ran on both Ray nodes (both emulated nodes share hostname and IP: compare node ids).
    results = _last_results(experiment)
    assert len(results) == 8
    assert len({r["node_id"] for r in results.values()}) == 2, _show_logs(job_dir)
    assert not glob.glob(f"/tmp/ray-{job_id}-*"), "the job left its Ray temp dirs behind"


@needs_slurm
def test_cancelled_job_resumes_when_submitted_again(tmp_path):
    job_dir, name, num_samples = str(tmp_path / "job"), f"pgs-test-{secrets.token_hex(3)}", 12
    os.makedirs(job_dir)
    args = ("--num-samples", str(num_samples), "--no-asha")
    submitted = _sbatch(job_dir, name, *args, wait=False)
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.strip().split(";")[0]
    experiment = os.path.join(job_dir, "results", name)

    # Cancel once the experiment state is on disk and some, not all, trials have reported.
    deadline = time.time() + 120
    while not (glob.glob(os.path.join(experiment, "experiment_state-*.json")) and len(_last_results(experiment)) >= 3):
        assert time.time() < deadline, "the job never got going\n" + _show_logs(job_dir)
        time.sleep(0.2)
    subprocess.run(["scancel", job_id], check=True)
    while subprocess.run(["squeue", "-h", "-j", job_id], capture_output=True, text=True).stdout.strip():
        assert time.time() < deadline + 60, "the cancelled job did not end"
        time.sleep(0.5)
    assert not os.path.exists(os.path.join(job_dir, "best_config.json")), "the job finished before scancel"

    again = _sbatch(job_dir, name, *args)
    assert again.returncode == 0, again.stderr + _show_logs(job_dir)
    second_id = again.stdout.strip().split(";")[0]
    with open(os.path.join(job_dir, f"job-{second_id}.log")) as f:
        log = f.read()
    assert "Resuming the experiment" in log, log[-4000:]
    with open(os.path.join(job_dir, "best_config.json")) as f:
        best = json.load(f)
    assert best["num_trials"] == num_samples and best["trial_status"] == {"TERMINATED": num_samples}
    results = _last_results(experiment)
    assert len(results) == num_samples and len({r["trial_id"] for r in results.values()}) == num_samples
    assert all(r["training_iteration"] == 12 for r in results.values())  # --no-asha: every trial ran to the end


SHELL_SCRIPTS = ["slurm/pgsearch.sbatch", "slurm/pgsearch-symmetric.sbatch", ".ci/slurm-up.sh", ".ci/run"]


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="needs shellcheck: apt-get install shellcheck")
def test_shell_scripts_are_shellcheck_clean():
    done = subprocess.run(["shellcheck", *SHELL_SCRIPTS], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


# ---- a Ray node SIGKILLed mid-run, no Slurm -----------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(pid: int) -> list[int]:
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


def _name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def _stop(procs: list[subprocess.Popen]) -> None:
    """SIGTERM the `ray start --block` processes (they stop their node), then SIGKILL what is left."""
    left = [c for p in procs for c in _descendants(p.pid)]
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_a_killed_ray_node_loses_no_trial(tmp_path):
    port, client_port, dashboard_port = _free_port(), _free_port(), _free_port()
    tmp_root = f"/tmp/rft-{os.getpid()}"  # short: Ray's socket paths must stay under 107 bytes
    env = dict(
        os.environ,
        RAY_AUTH_MODE="token",
        RAY_AUTH_TOKEN=secrets.token_hex(32),
        RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S="0",
        RAY_USAGE_STATS_ENABLED="0",
    )
    env.pop("RAY_ADDRESS", None)
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    ray_cmd = [
        os.path.join(os.path.dirname(sys.executable), "ray"),
        "start",
        "--block",
        "--num-cpus",
        "1",
        "--disable-usage-stats",
    ]
    logs = open(tmp_path / "ray-start.log", "w")
    procs: list[subprocess.Popen] = []
    try:
        procs.append(
            subprocess.Popen(
                ray_cmd
                + [
                    "--head",
                    "--node-ip-address",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--include-dashboard=false",
                    "--ray-client-server-port",
                    str(client_port),
                    "--dashboard-port",
                    str(dashboard_port),
                    "--temp-dir",
                    f"{tmp_root}-h",
                ],
                env=dict(env, FAULT_TEST_NODE="head"),
                stdout=logs,
                stderr=subprocess.STDOUT,
            )
        )
        address = f"127.0.0.1:{port}"
        deadline = time.time() + 90
        while (
            subprocess.run([ray_cmd[0], "health-check", "--address", address], env=env, capture_output=True).returncode
            != 0
        ):
            assert procs[0].poll() is None and time.time() < deadline, open(tmp_path / "ray-start.log").read()
            time.sleep(0.5)
        procs.append(
            subprocess.Popen(
                ray_cmd + ["--address", address, "--temp-dir", f"{tmp_root}-w"],
                env=dict(env, FAULT_TEST_NODE="worker"),
                stdout=logs,
                stderr=subprocess.STDOUT,
            )
        )

        num_samples, storage, name = 6, str(tmp_path / "results"), "fault"
        summary_path = str(tmp_path / "summary.json")
        driver = subprocess.Popen(
            [
                sys.executable,
                os.path.join(ROOT, "tests", "ray_fault_driver.py"),
                storage,
                name,
                str(num_samples),
                summary_path,
            ],
            cwd=ROOT,
            env=dict(env, RAY_ADDRESS=address),
            stdout=open(tmp_path / "driver.log", "w"),
            stderr=subprocess.STDOUT,
        )
        experiment = os.path.join(storage, name)

        # Once a trial on the worker node has checkpointed a few steps, SIGKILL that node's raylet.
        victim = None
        while victim is None:
            assert driver.poll() is None and time.time() < deadline + 60, open(tmp_path / "driver.log").read()
            for r in _last_results(experiment).values():
                if r.get("node_tag") == "worker" and r["step"] >= 3:
                    victim = r["trial_id"]
            time.sleep(0.1)
        raylets = [pid for pid in _descendants(procs[1].pid) if _name(pid) == "raylet"]
        assert len(raylets) == 1
        os.kill(raylets[0], signal.SIGKILL)

        assert driver.wait(timeout=180) == 0, open(tmp_path / "driver.log").read()
    finally:
        _stop(procs)
        logs.close()
        subprocess.run(["rm", "-rf", f"{tmp_root}-h", f"{tmp_root}-w"])

    with open(summary_path) as f:
        summary = json.load(f)
    # The experiment finished and every trial ended TERMINATED, all steps done.
    assert len(summary["status"]) == num_samples
    assert set(summary["status"].values()) == {"TERMINATED"}, summary
    assert summary["num_errors"] == 0 and all(t["step"] == 12 for t in summary["trials"].values())
    # The trial from the dead node failed once and went on from its checkpoint on the head node.
    assert summary["num_failures"][victim] >= 1
    results = {r["trial_id"]: r for r in _last_results(experiment).values()}
    assert results[victim]["node_tag"] == "head" and results[victim]["start_step"] >= 3, results[victim]
    # The searcher saw each trial exactly once: nothing lost, nothing counted twice.
    assert summary["searcher"] == {
        "n_asked": num_samples,
        "n_told": num_samples,
        "n_failed": 0,
        "pending": 0,
        "live": 0,
    }
