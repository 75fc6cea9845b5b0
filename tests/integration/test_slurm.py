"""Multi-node tests: the project's sbatch script on a real (emulated) Slurm cluster, on 2 nodes and
on 4 nodes with 64 trials in flight, a job cancelled and submitted again, and a Ray node SIGKILLed
mid-run (no Slurm needed for that one).

The Slurm tests need a Slurm cluster with idle nodes (2 nodes; the 4-node test: 4 nodes of 16 CPUs);
on one Debian machine (root) bring up the emulated one first:  bash .ci/slurm-up.sh   (then:
python -m pytest -q tests/integration/test_slurm.py). Everything these tests start they stop by PID (never
`ray stop`: other Ray clusters may share the host).
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time

import pytest

from experiments.lab.cluster import RayCluster, descendants, process_name
from experiments.scale_driver import Setup

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SBATCH = os.path.join(ROOT, "slurm", "pgsearch.sbatch")


def _how_to(nodes: int, cpus: int) -> str:
    return (
        f"no Slurm cluster with {nodes} idle nodes of at least {cpus} CPUs (sinfo): bring the emulated one up "
        "with `bash .ci/slurm-up.sh` (root, Debian 12; 4 nodes of 16 CPUs), then run "
        "`python -m pytest -q tests/integration/test_slurm.py` (see slurm/README.md)"
    )


def _idle_slurm_nodes(min_cpus: int = 1) -> int:
    """How many Slurm nodes are idle and have at least ``min_cpus`` CPUs (0 without Slurm)."""
    try:
        out = subprocess.run(
            ["sinfo", "-h", "-N", "-t", "idle", "-o", "%N %c"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return 0
    if out.returncode != 0:
        return 0
    nodes = {}
    for line in out.stdout.splitlines():
        name, cpus = line.split()
        nodes[name] = int(cpus)
    return sum(cpus >= min_cpus for cpus in nodes.values())


needs_slurm = pytest.mark.skipif(_idle_slurm_nodes(2) < 2, reason=_how_to(2, 2))
needs_4_slurm_nodes = pytest.mark.skipif(_idle_slurm_nodes(16) < 4, reason=_how_to(4, 16))


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


def _sbatch(
    job_dir: str, name: str, *args: str, wait: bool = True, options: tuple[str, ...] = (), timeout_s: float = 300
) -> subprocess.CompletedProcess:
    """``sbatch`` of slurm/pgsearch.sbatch with ``args`` (the script's own) and sbatch ``options``.
    ``timeout_s`` only guards against a hung job."""
    cmd = ["sbatch", "--parsable", f"--job-name={name}", f"--output={job_dir}/slurm-%j.out", *options]
    cmd += ["--wait"] if wait else []
    return subprocess.run(
        cmd + [SBATCH, *args], cwd=ROOT, env=_job_env(job_dir), capture_output=True, text=True, timeout=timeout_s
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


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.scale
@needs_4_slurm_nodes
def test_sbatch_runs_64_trials_in_flight_on_4_nodes(tmp_path):
    """The sbatch script at 4 nodes x 16 CPUs with the scale study's driver (PGSearcher, trials that
    sleep and report, the first 64 waiting for each other at a start barrier): the job succeeds,
    64 trials ran at once, on all 4 Slurm nodes and their 4 Ray nodes."""
    job_dir, name = str(tmp_path / "job"), f"pgs-test-{secrets.token_hex(3)}"
    os.makedirs(job_dir)
    setup = Setup(nodes=4, cpus_per_node=16, trials=128, reports=3, mean_s=2.0)  # two waves of 64
    spec_path, summary_path = tmp_path / "spec.json", tmp_path / "summary.json"
    spec = {
        "arm": "pgsearch",  # the driver connects to the job's cluster through RAY_ADDRESS
        "setup": dataclasses.asdict(setup),
        "storage": str(tmp_path / "results"),
        "summary": str(summary_path),
    }
    spec_path.write_text(json.dumps(spec))
    done = _sbatch(
        job_dir,
        name,
        *("python", "-u", "-m", "experiments.scale", "--drive", str(spec_path)),
        options=(f"--nodes={setup.nodes}", f"--cpus-per-task={setup.cpus_per_node}"),
        timeout_s=3600,
    )
    assert done.returncode == 0, done.stderr + _show_logs(job_dir)
    job_id = done.stdout.strip().split(";")[0]

    summary = json.loads(summary_path.read_text())
    assert summary["alive_nodes"] == 4 and summary["cluster_cpus"] == 64, summary
    assert summary["num_trials"] == setup.trials and summary["num_errors"] == 0
    assert summary["finished"] == setup.trials
    # 64 trials in flight: all running at one moment, on every Slurm node (its own Ray node each).
    assert summary["max_running_tune"] >= 60 and summary["max_running_inside"] >= 60, summary
    # ($SLURMD_NODENAME of the trials' workers: the emulated nodes share hostname and IP.)
    assert len(summary["slurm_nodes"]) == setup.nodes and summary["nodes"] == setup.nodes, summary
    assert summary["dup_in_flight"] == 0 and summary["searcher"]["dup_in_flight"] == 0
    searcher = summary["searcher"]
    assert searcher["live_max"] == 64 and searcher["n_told"] == setup.trials and searcher["n_failed"] == 0
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


def test_a_killed_ray_node_loses_no_trial(tmp_path):
    # A head and one worker node of 1 CPU each, token auth; FAULT_TEST_NODE tells trials which node runs them.
    cluster = RayCluster(
        2,
        1,
        log_path=tmp_path / "ray-start.log",
        auth_mode="token",
        node_env=[{"FAULT_TEST_NODE": "head"}, {"FAULT_TEST_NODE": "worker"}],
        wait_s=120,
    )
    with cluster:
        num_samples, storage, name = 6, str(tmp_path / "results"), "fault"
        summary_path = str(tmp_path / "summary.json")
        driver = subprocess.Popen(
            [
                sys.executable,
                os.path.join(ROOT, "tests", "integration", "ray_fault_driver.py"),
                storage,
                name,
                str(num_samples),
                summary_path,
            ],
            cwd=ROOT,
            env=dict(cluster.env, RAY_ADDRESS=cluster.address),
            stdout=open(tmp_path / "driver.log", "w"),
            stderr=subprocess.STDOUT,
        )
        experiment = os.path.join(storage, name)
        try:
            # Once a trial on the worker node has checkpointed a few steps, SIGKILL that node's raylet.
            deadline = time.time() + 150
            victim = None
            while victim is None:
                assert driver.poll() is None and time.time() < deadline, open(tmp_path / "driver.log").read()
                for r in _last_results(experiment).values():
                    if r.get("node_tag") == "worker" and r["step"] >= 3:
                        victim = r["trial_id"]
                time.sleep(0.1)
            raylets = [pid for pid in descendants(cluster.procs[1].pid) if process_name(pid) == "raylet"]
            assert len(raylets) == 1
            os.kill(raylets[0], signal.SIGKILL)

            assert driver.wait(timeout=180) == 0, open(tmp_path / "driver.log").read()
        finally:
            if driver.poll() is None:  # a failed check: stop the driver before its cluster
                driver.kill()
                driver.wait()

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
