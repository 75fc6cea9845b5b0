"""The main job: tune a scikit-learn MLP on the digits data set (ships inside scikit-learn) with
PGSearcher and ASHA on Ray Tune, then print the best config and its validation accuracy.

    python -m experiments.tune_digits                       # local Ray, all CPUs of this machine
    RAY_ADDRESS=head:6379 python -m experiments.tune_digits # an existing cluster (slurm/ does this)

Running it again with the same --storage-path and --name resumes the experiment with
``Tuner.restore`` (searcher state included) instead of starting over.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import ray
from ray import tune
from ray.tune.schedulers import ASHAScheduler

from ray_pgsearch import PGSearcher

SPACE = {
    "hidden": tune.lograndint(16, 257),
    "layers": tune.randint(1, 3),
    "activation": tune.choice(["relu", "tanh", "logistic"]),
    "alpha": tune.loguniform(1e-6, 1e-1),
    "lr": tune.loguniform(1e-4, 3e-1),
    "batch_size": tune.choice([32, 64, 128, 256]),
    "epochs": 12,
}


def train_mlp(config: dict) -> None:
    """Trains one epoch per partial_fit call, reporting validation accuracy every epoch so
    ASHA can stop poor configs early."""
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    x, y = load_digits(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)
    scaler = StandardScaler().fit(x_train)
    x_train, x_val = scaler.transform(x_train), scaler.transform(x_val)
    model = MLPClassifier(
        hidden_layer_sizes=(config["hidden"],) * config["layers"],
        activation=config["activation"],
        alpha=config["alpha"],
        learning_rate_init=config["lr"],
        batch_size=config["batch_size"],
        random_state=0,
    )
    # The Ray node that runs this trial (nodes of one machine share hostname and IP, not node ids).
    node_id = ray.get_runtime_context().get_node_id()
    for _ in range(config["epochs"]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.partial_fit(x_train, y_train, classes=np.arange(10))  # one epoch of minibatches
        tune.report({"accuracy": float(model.score(x_val, y_val)), "node_id": node_id})


def main(argv: list[str] | None = None) -> tune.ResultGrid:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-samples", type=int, default=150)
    parser.add_argument("--max-concurrent", type=int, default=0, help="trials at once (0: one per CPU)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--storage-path", default=os.path.abspath("ray_results"))
    parser.add_argument("--name", default="pgsearch_digits")
    parser.add_argument("--no-asha", action="store_true", help="run every trial for all epochs")
    args = parser.parse_args(argv)

    if os.environ.get("RAY_ADDRESS"):
        ray.init(address=os.environ["RAY_ADDRESS"])
    else:
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        ray.init(address="local", include_dashboard=False)
    max_concurrent = args.max_concurrent or max(1, int(ray.cluster_resources().get("CPU", 1)))

    path = os.path.join(args.storage_path, args.name)
    trainable = tune.with_resources(train_mlp, {"cpu": 1})
    if tune.Tuner.can_restore(path):
        print(f"Resuming the experiment at {path}")
        tuner = tune.Tuner.restore(path, trainable=trainable, resume_errored=True)
    else:
        scheduler = None if args.no_asha else ASHAScheduler(max_t=SPACE["epochs"], grace_period=2, reduction_factor=3)
        tuner = tune.Tuner(
            trainable,
            param_space=SPACE,
            tune_config=tune.TuneConfig(
                search_alg=PGSearcher(seed=args.seed),
                scheduler=scheduler,
                metric="accuracy",
                mode="max",
                num_samples=args.num_samples,
                max_concurrent_trials=max_concurrent,
                reuse_actors=True,
            ),
            run_config=tune.RunConfig(storage_path=args.storage_path, name=args.name, verbose=1),
        )
    start = time.time()
    results = tuner.fit()
    best = results.get_best_result(metric="accuracy", mode="max")
    print(
        f"\n{len(results)} trials ({results.num_errors} errors) in {time.time() - start:.0f} s; "
        f"experiment directory: {path}"
    )
    print(f"best validation accuracy: {best.metrics['accuracy']:.4f}")
    print("best config:", {k: v for k, v in best.config.items()})
    return results


if __name__ == "__main__":
    main()
