"""Driver of the node-failure test (tests/integration/test_slurm.py): PGSearcher on an existing Ray cluster
(RAY_ADDRESS) with a trainable that checkpoints every step, FailureConfig(max_failures=3).

    RAY_ADDRESS=ip:port python tests/integration/ray_fault_driver.py STORAGE NAME NUM_SAMPLES SUMMARY.json

Each result carries ``node_tag`` (the FAULT_TEST_NODE variable of the raylet that started the worker),
the Ray node id, and ``start_step`` (the step the trial resumed from, 0 when it started fresh).
The summary holds every trial's status and the searcher's counts after the run.
"""

from __future__ import annotations

import glob
import json
import os
import sys
import tempfile
import time

import ray
from ray import tune

from ray_pgsearch import PGSearcher

STEPS = 12
STEP_S = 0.4


def trainable(config: dict) -> None:
    start = 0
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as d:
            with open(os.path.join(d, "step.json")) as f:
                start = json.load(f)["step"]
    node_id = ray.get_runtime_context().get_node_id()
    tag = os.environ.get("FAULT_TEST_NODE", "?")
    for step in range(start + 1, STEPS + 1):
        time.sleep(STEP_S)
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "step.json"), "w") as f:
                json.dump({"step": step}, f)
            tune.report(
                {
                    "score": -((config["x"] - 0.3) ** 2) * step / STEPS,
                    "step": step,
                    "start_step": start,
                    "node_tag": tag,
                    "node_id": node_id,
                },
                checkpoint=tune.Checkpoint.from_directory(d),
            )


def main() -> None:
    storage, name, num_samples, summary_path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    ray.init(address=os.environ["RAY_ADDRESS"], log_to_driver=False)
    searcher = PGSearcher(seed=0)
    tuner = tune.Tuner(
        tune.with_resources(trainable, {"cpu": 1}),
        param_space={"x": tune.uniform(0, 1)},
        tune_config=tune.TuneConfig(
            search_alg=searcher, metric="score", mode="max", num_samples=num_samples, max_concurrent_trials=2
        ),
        run_config=tune.RunConfig(
            storage_path=storage,
            name=name,
            verbose=0,
            failure_config=tune.FailureConfig(max_failures=3),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
        ),
    )
    results = tuner.fit()
    experiment = os.path.join(storage, name)
    saved = PGSearcher()
    saved.restore(sorted(glob.glob(os.path.join(experiment, "searcher-state-*.pkl")))[-1])
    opt = saved.optimizer
    summary = {
        "trials": {
            r.metrics["trial_id"]: {"status": "ERROR" if r.error else "TERMINATED", "step": r.metrics.get("step")}
            for r in results
        },
        "num_errors": results.num_errors,
        "searcher": {
            "n_asked": opt.n_asked,
            "n_told": opt.n_told,
            "n_failed": opt.n_failed,
            "pending": opt.view().n_running,
            "live": len(saved._live),
        },
    }
    from ray.tune import ExperimentAnalysis

    analysis = ExperimentAnalysis(experiment)
    summary["status"] = {t.trial_id: t.status for t in analysis.trials}
    summary["num_failures"] = {t.trial_id: t.run_metadata.num_failures for t in analysis.trials}
    with open(summary_path, "w") as f:
        json.dump(summary, f, indent=2)


if __name__ == "__main__":
    main()
