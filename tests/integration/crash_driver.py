"""A Tune experiment run in a subprocess by test_restore.py, which SIGKILLs it mid-run."""

import os
import sys
import time

import ray
from ray import tune

from ray_pgsearch import PGSearcher

SPACE = {"x": tune.uniform(-1.0, 1.0), "act": tune.choice(["relu", "tanh"]), "depth": tune.randint(1, 5)}
NUM_SAMPLES = 24


def train(config):
    for it in range(3):
        time.sleep(0.1)
        tune.report({"loss": (config["x"] - 0.2) ** 2 + 0.1 * config["depth"] + (config["act"] == "tanh") + it})


def train_crashing(config):
    """The same job, out of memory for x > 0.5 (the search must learn to stay below)."""
    if config["x"] > 0.5:
        raise RuntimeError("CUDA out of memory")
    train(config)


def tuner(storage_path: str, trainable=train) -> tune.Tuner:
    return tune.Tuner(
        trainable,
        param_space=SPACE,
        tune_config=tune.TuneConfig(
            search_alg=PGSearcher(seed=0),
            metric="loss",
            mode="min",
            num_samples=NUM_SAMPLES,
            max_concurrent_trials=2,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(storage_path=storage_path, name="exp", verbose=0),
    )


if __name__ == "__main__":
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    tuner(sys.argv[1], train_crashing if sys.argv[2:] == ["crashing"] else train).fit()
