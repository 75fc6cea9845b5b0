"""The main job: tune a scikit-learn MLP on the digits data set (ships inside scikit-learn) with
PGSearcher and ASHA on Ray Tune, then print the best config and its validation accuracy.

    python -m experiments.tune_digits                       # local Ray, all CPUs of this machine
    RAY_ADDRESS=head:6379 python -m experiments.tune_digits # an existing cluster (slurm/ does this)

It prints one progress line (trials done of the total, the best accuracy so far), then the best
config; ``--verbose`` shows Ray Tune's own trial tables and the workers' logs. Running it again starts
a fresh experiment next to the old one; ``--resume`` continues the experiment at
``--storage-path``/``--name`` with ``Tuner.restore`` (searcher state included).

Warm start: tune on a subset of the training data first, then start the full-data search from it:

    python -m experiments.tune_digits --subset 0.25 --num-samples 60 --name digits_quarter
    python -m experiments.tune_digits --prior ray_results/digits_quarter --num-samples 60

``--subset F`` trains every trial on a stratified fraction F of the training rows (the validation set
stays whole; F is a constant of the search space, so the experiment's configs record it). ``--prior``
takes an earlier experiment directory (its newest searcher checkpoint) or a searcher checkpoint file
and passes it to ``PGSearcher(prior=...)``; the run ends with the prior's weight and trust.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import warnings
from typing import Any

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
    subset = config.get("subset", 1.0)
    if subset < 1.0:  # the same stratified rows for every trial
        x_train, _, y_train, _ = train_test_split(x_train, y_train, train_size=subset, random_state=0, stratify=y_train)
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


class Progress(tune.Callback):
    """One line of progress per finished trial: trials done of the total and the best accuracy so
    far (rewritten in place on a terminal, every tenth of the run otherwise)."""

    def __init__(self, total: int):
        self.total = total
        self.done = 0
        self.best = -np.inf
        self.tty = sys.stdout.isatty()

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.done += 1
        self.best = max(self.best, float(trial.last_result.get("accuracy", -np.inf)))
        line = f"trials {self.done:>4}/{self.total}   best validation accuracy {self.best:.4f}"
        if self.tty:
            print("\r" + line, end="" if self.done < self.total else "\n", flush=True)
        elif self.done % max(1, self.total // 10) == 0 or self.done == self.total:
            print(line, flush=True)


def best_result(results: tune.ResultGrid) -> tune.Result:
    """The result with the highest accuracy; equal accuracies are ordered by their config, so the
    same trials always give the same answer."""
    finished = [r for r in results if r.metrics and np.isfinite(r.metrics.get("accuracy", np.nan))]
    return min(finished, key=lambda r: (-r.metrics["accuracy"], json.dumps(r.config, sort_keys=True, default=str)))


def fraction(text: str) -> float:
    """A training-data fraction in (0, 1] (argparse type)."""
    value = float(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"a fraction in (0, 1] is needed, got {text}")
    return value


def prior_line(path: str) -> str:
    """What the prior did in the experiment at ``path``: its weight and trust at the end (from the
    searcher's checkpoint there)."""
    searcher = PGSearcher()
    searcher.restore_from_dir(path)
    opt = searcher.optimizer
    if opt.prior is None:
        return "prior: none"
    state = "rejected (this search's results contradicted it)" if opt.prior_rejected else "kept"
    return (
        f"prior: {state}; weight now {opt.prior_weight:.2f} results (started at {opt.settings.prior_weight:g}), "
        f"trust {opt.prior_trust:.2f}, after {opt.n_told} results"
    )


def main(argv: list[str] | None = None) -> tune.ResultGrid:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-samples", type=int, default=150)
    parser.add_argument("--max-concurrent", type=int, default=0, help="trials at once (0: one per CPU)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--storage-path", default=os.path.abspath("ray_results"))
    parser.add_argument("--name", default="pgsearch_digits")
    parser.add_argument("--no-asha", action="store_true", help="run every trial for all epochs")
    parser.add_argument(
        "--resume", action="store_true", help="continue the experiment at <storage-path>/<name> if there is one"
    )
    parser.add_argument("--verbose", action="store_true", help="Ray Tune's own trial tables and worker logs")
    parser.add_argument("--subset", type=fraction, default=1.0, help="train on this fraction of the training data")
    parser.add_argument(
        "--prior",
        help="warm start: an earlier experiment directory or a searcher checkpoint (PGSearcher(prior=...))",
    )
    args = parser.parse_args(argv)
    try:  # a prior that is not a PGSearcher checkpoint stops here, with the reason
        searcher = PGSearcher(seed=args.seed, prior=args.prior)
    except ValueError as e:
        parser.error(str(e))

    path = os.path.join(args.storage_path, args.name)
    resume = args.resume and tune.Tuner.can_restore(path)
    if not resume and os.path.exists(path):
        args.name = f"{args.name}-{time.strftime('%Y%m%d-%H%M%S')}"
        print(f"{path} holds an earlier experiment (--resume continues it); this run starts fresh in {args.name}")
        path = os.path.join(args.storage_path, args.name)

    quiet = {} if args.verbose else {"log_to_driver": False, "logging_level": logging.WARNING}
    if ray.is_initialized():  # a caller's Ray (the tests'): use it as it is
        pass
    elif os.environ.get("RAY_ADDRESS"):
        ray.init(address=os.environ["RAY_ADDRESS"], **quiet)
    else:
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        ray.init(address="local", include_dashboard=False, **quiet)
    max_concurrent = args.max_concurrent or max(1, int(ray.cluster_resources().get("CPU", 1)))

    trainable = tune.with_resources(train_mlp, {"cpu": 1})
    if resume:
        note = " (its searcher keeps the prior it started with; --prior is ignored)" if args.prior else ""
        print(f"Resuming the experiment at {path}{note}")
        tuner = tune.Tuner.restore(path, trainable=trainable, resume_errored=True)
    else:
        scheduler = None if args.no_asha else ASHAScheduler(max_t=SPACE["epochs"], grace_period=2, reduction_factor=3)
        tuner = tune.Tuner(
            trainable,
            param_space={**SPACE, "subset": args.subset} if args.subset < 1.0 else SPACE,
            tune_config=tune.TuneConfig(
                search_alg=searcher,
                scheduler=scheduler,
                metric="accuracy",
                mode="max",
                num_samples=args.num_samples,
                max_concurrent_trials=max_concurrent,
                reuse_actors=True,
            ),
            run_config=tune.RunConfig(
                storage_path=args.storage_path,
                name=args.name,
                verbose=1 if args.verbose else 0,
                callbacks=[Progress(args.num_samples)],
            ),
        )
    start = time.time()
    results = tuner.fit()
    best = best_result(results)
    print(
        f"\n{len(results)} trials ({results.num_errors} errors) in {time.time() - start:.0f} s; "
        f"experiment directory: {path}"
    )
    print(f"best validation accuracy: {best.metrics['accuracy']:.4f}")
    print("best config:", json.dumps(best.config, sort_keys=True))
    if args.prior or resume:
        print(prior_line(path))
    return results


if __name__ == "__main__":
    main()
