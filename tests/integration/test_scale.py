"""PGSearcher inside Ray Tune at cluster scale: a real Ray cluster of 4 nodes (``ray start``, 32
logical CPUs each) on this machine, 128 trials in flight, 1,024 trials in all, ``reuse_actors=True``.

Behaviour only, never speed: every trial finished, trials ran on all 4 nodes, 128 trials ran at one
moment (Tune's count and the trials' own clocks), no config was in flight twice, and the searcher
learned from every trial. The cluster (``experiments.lab.cluster``), the driver (a separate process:
``experiments.scale_driver.run_arm``) and the trial workload (trials that sleep and report; the first 128
wait for each other at a start barrier so that all 128 trial actors come up) are those of the scale study
(``python -m experiments.scale``). Each trial's Ray worker holds about 115 MB, so the test needs
about 16 GiB of free memory; it skips with a hint when there is less.

    python -m pytest -q tests/integration/test_scale.py      # about 6-10 minutes on a loaded 2-core machine
"""

from __future__ import annotations

import pytest

from experiments.lab.cluster import RayCluster, meminfo_gib
from experiments.scale_driver import Setup, run_arm

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.scale]

# 4 nodes x 32 logical CPUs = 128 trials in flight; short trials after the start barrier, so the run
# is mostly the 128 actors coming up and the driver working through 1,024 trials.
SETUP = Setup(nodes=4, cpus_per_node=32, trials=1024, reports=3, mean_s=4.0, barrier=True, barrier_timeout_s=1800.0)
NEEDS_GIB = 16.0


def test_pgsearcher_keeps_128_trials_in_flight_on_4_ray_nodes(tmp_path):
    available = meminfo_gib("MemAvailable")
    if available < NEEDS_GIB:
        pytest.skip(
            f"needs about {NEEDS_GIB:.0f} GiB of free memory for 128 Ray trial workers, {available:.1f} GiB available"
        )
    with RayCluster(SETUP.nodes, SETUP.cpus_per_node, log_path=tmp_path / "nodes.log") as cluster:
        # A generous limit against a hung run only; nothing here depends on how fast the machine is.
        result = run_arm(cluster, SETUP, "pgsearch", tmp_path / "run", timeout_s=3600)

    assert result["alive_nodes"] == SETUP.nodes and result["cluster_cpus"] == SETUP.in_flight
    # Every trial finished, all its reports, none errored.
    assert result["num_trials"] == SETUP.trials and result["num_errors"] == 0
    assert result["finished"] == SETUP.trials
    # Trials ran on every node, and all 128 were running at one moment: as Tune counts them (start
    # minus end events) and as the trials themselves saw it (their start and last-report times).
    assert result["nodes"] == SETUP.nodes
    assert result["max_running_tune"] >= 120, result
    assert result["max_running_inside"] >= 120, result
    # No config was in flight twice at the same time (nor at all), from the trials' and the searcher's view.
    searcher = result["searcher"]
    assert result["dup_in_flight"] == 0 and searcher["dup_in_flight"] == 0
    assert result["dup_configs_total"] == 0
    # The searcher kept 128 trials live (not Tune's default of 1 pending trial for custom searchers)
    # and learned from every trial: each suggested trial was told back, none failed, none left pending.
    assert searcher["live_max"] == SETUP.in_flight
    assert searcher["n_asked"] == SETUP.trials and searcher["n_told"] == SETUP.trials
    assert searcher["n_failed"] == 0 and searcher["pending"] == 0
    assert searcher["times"]["on_trial_complete"]["calls"] == SETUP.trials
    assert searcher["times"]["on_trial_result"]["calls"] == SETUP.trials * SETUP.reports
