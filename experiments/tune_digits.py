"""The main job: tune a scikit-learn MLP on the digits data set (ships inside scikit-learn) with
PGSearcher and ASHA on Ray Tune, then print the best config and its validation accuracy.

    python -m experiments.tune_digits                       # local Ray, all CPUs of this machine
    RAY_ADDRESS=head:6379 python -m experiments.tune_digits # an existing cluster (slurm/ does this)

A default run is 60 trials, one per CPU at a time, under ASHA (a trial trains 2, 6 or 12 epochs).
It prints one progress line (trials finished of the experiment's total, the best accuracy so far),
then a summary: the best config and its validation accuracy. ``--verbose`` shows Ray Tune's own
trial tables and the workers' logs. On a local Ray the trials run at the driver's priority (Ray
lowers its workers' by 15 by default, which starves them on a busy machine); ``nice`` the command
to lower both.

Experiments live in ``<storage-path>/<name>`` (default ``ray_results/pgsearch_digits``):

* Without ``--resume`` every run starts a new experiment: ``<name>``, or ``<name>-YYYYmmdd-HHMMSS``
  when ``<name>`` is taken.
* ``--resume --name NAME`` continues the experiment ``<storage-path>/NAME`` with ``Tuner.restore``
  (searcher state included; the experiment keeps the settings it started with, such as
  ``--num-samples``, ``--subset`` and ``--warm-start``).
* ``--resume`` without ``--name`` continues the most recently run experiment of this job's default
  name: ``pgsearch_digits`` or one of its ``pgsearch_digits-YYYYmmdd-HHMMSS`` siblings.
* When the experiment to continue has finished, it prints so, with its summary, and runs nothing;
  when there is none, a new experiment starts (so a job script can always pass ``--resume``).

After an interrupted run (Ctrl+C) and ``--resume``, the progress line counts the whole experiment:
the trials finished before the interruption are counted, and the best accuracy is the best of all.

Warm start: tune on a subset of the training data first, then start the full-data search from it:

    python -m experiments.tune_digits --subset 0.25 --num-samples 60 --name digits_quarter
    python -m experiments.tune_digits --warm-start ray_results/digits_quarter --num-samples 60

``--subset F`` trains every trial on a stratified fraction F of the training rows (the validation set
stays whole; F is a constant of the search space, so the experiment's configs record it). ``--warm-start``
takes an earlier experiment directory (its newest searcher checkpoint) or a searcher checkpoint file
and passes it to ``PGSearcher(warm_start=...)``; the run ends with the warm start's weight and trust.
"""

from __future__ import annotations

import argparse
import glob
import json
import logging
import os
import re
import sys
import time
import warnings
from typing import Any

import numpy as np
import ray
from ray import tune
from ray.tune.experiment import Trial
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search import SearchGenerator

from ray_pgsearch import PGSearcher

DEFAULT_NAME = "pgsearch_digits"
_STAMP = "%Y%m%d-%H%M%S"

SPACE = {
    "hidden": tune.lograndint(16, 257),
    "layers": tune.randint(1, 3),
    "activation": tune.choice(["relu", "tanh", "logistic"]),
    "alpha": tune.loguniform(1e-6, 1e-1),
    "lr": tune.loguniform(1e-4, 3e-1),
    "batch_size": tune.choice([32, 64, 128, 256]),
    "epochs": 12,
}

# The scaled data per training fraction, kept by each worker process: with reuse_actors one worker
# runs many trials, which then skip reading and scaling the data again.
_DATA: dict[float, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}


def digits(subset: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_val, y_val), standardized on the training rows: 70 % of the digits for
    training (its stratified fraction ``subset``), 30 % for validation, the same rows every time."""
    if subset not in _DATA:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
        from sklearn.preprocessing import StandardScaler

        x, y = load_digits(return_X_y=True)
        x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)
        if subset < 1.0:
            x_train, _, y_train, _ = train_test_split(
                x_train, y_train, train_size=subset, random_state=0, stratify=y_train
            )
        scaler = StandardScaler().fit(x_train)
        _DATA[subset] = (scaler.transform(x_train), y_train, scaler.transform(x_val), y_val)
    return _DATA[subset]


def train_mlp(config: dict) -> None:
    """Trains one epoch per partial_fit call, reporting validation accuracy every epoch so
    ASHA can stop poor configs early."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    x_train, y_train, x_val, y_val = digits(config.get("subset", 1.0))
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


def accuracy(metrics: dict | None) -> float:
    """A trial's last validation accuracy; NaN when it reported none."""
    value = (metrics or {}).get("accuracy")
    return float(value) if isinstance(value, (int, float)) else float("nan")


def ended(metrics: dict | None, errored: bool) -> bool:
    """Whether a trial has ended: it errored, or its last result is its final one (``done``: it ran
    all its epochs or ASHA stopped it). A trial cut off by Ctrl+C has not; a resume runs it again."""
    return errored or bool((metrics or {}).get("done"))


class Progress(tune.Callback):
    """One line of progress: trials finished of the experiment's total and the best accuracy of
    the finished trials, the same numbers the summary gives. A resumed experiment counts the trials
    it finished before (its first line says so). The line is rewritten in place on a terminal and
    printed every tenth of the run otherwise."""

    shown = -1  # finished trials at the last line printed; -1 before the first step

    def __init__(self, total: int):
        self.total = total

    def on_step_begin(self, iteration: int, trials: list, **info: Any) -> None:
        if self.shown < 0:
            self.shown = 0
            if any(ended(t.last_result, t.status == Trial.ERROR) for t in trials):
                self._show(trials, None, "resumed: ")

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._show(trials, trial)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._show(trials, trial)

    def _show(self, trials: list, ending: Any, prefix: str = "") -> None:
        # the trial that is ending is still RUNNING while its completion is reported
        finished = [t for t in trials if t is ending or ended(t.last_result, t.status == Trial.ERROR)]
        done = len(finished)
        best = np.nanmax([accuracy(t.last_result) for t in finished] + [-np.inf])
        line = f"{prefix}trials {done:>4}/{self.total}   best validation accuracy {best:.4f}"
        if sys.stdout.isatty():
            print("\r" + line, end="" if done < self.total and not prefix else "\n", flush=True)
        elif prefix or done % max(1, self.total // 10) == 0 or done >= self.total:
            print(line, flush=True)
        self.shown = done


def best_result(results: tune.ResultGrid) -> tune.Result | None:
    """The ended trial with the highest accuracy; equal accuracies are ordered by their config, so
    the same trials always give the same answer. None when no ended trial reported an accuracy."""
    finished = [r for r in results if ended(r.metrics, r.error is not None) and np.isfinite(accuracy(r.metrics))]
    return min(
        finished,
        key=lambda r: (-accuracy(r.metrics), json.dumps(r.config, sort_keys=True, default=str)),
        default=None,
    )


def fraction(text: str) -> float:
    """A training-data fraction in (0, 1] (argparse type)."""
    value = float(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"a fraction in (0, 1] is needed, got {text}")
    return value


def search_lines(path: str) -> list[str]:
    """What the search did in the experiment at ``path`` (from the searcher's checkpoint there): the
    trials that crashed, and its warm start's weight and trust at the end if it had one."""
    searcher = PGSearcher()
    searcher.restore_from_dir(path)
    view = searcher.view()
    lines = [f"crashed trials (an exception, NaN or inf) the search learned to avoid: {view.n_crashed}"]
    warm = view.warm_start
    if warm is not None:
        state = "rejected (this search's results contradicted it)" if warm.rejected else "kept"
        start = searcher.optimizer.settings.warm_start.weight
        lines.append(
            f"warm start: {state}; weight now {warm.weight:.2f} results (started at {start:g}), "
            f"trust {warm.trust:.2f}, after {view.n_told} results"
        )
    return lines


def last_run(path: str) -> float:
    """When the experiment at ``path`` last saved its state (Unix seconds); -inf if it never did."""
    states = glob.glob(os.path.join(path, "experiment_state-*.json")) + glob.glob(os.path.join(path, "tuner.pkl"))
    return max((os.path.getmtime(f) for f in states), default=-np.inf)


def experiment_to_resume(storage_path: str, name: str | None) -> str:
    """The directory ``--resume`` continues: ``<storage_path>/<name>``, or without a name the most
    recently run of ``DEFAULT_NAME`` and its ``DEFAULT_NAME-YYYYmmdd-HHMMSS`` siblings (the default
    name's directory when there is none of them)."""
    if name is not None:
        return os.path.join(storage_path, name)
    pattern = re.compile(re.escape(DEFAULT_NAME) + r"(-\d{8}-\d{6}(-\d+)?)?")
    entries = os.listdir(storage_path) if os.path.isdir(storage_path) else []
    candidates = [os.path.join(storage_path, e) for e in entries if pattern.fullmatch(e)]
    candidates = [c for c in candidates if tune.Tuner.can_restore(c)]
    return max(candidates, key=last_run, default=os.path.join(storage_path, DEFAULT_NAME))


def fresh_name(storage_path: str, name: str) -> str:
    """``name``, or ``name-YYYYmmdd-HHMMSS`` (with ``-2``, ``-3``, ... within the same second) when
    ``<storage_path>/<name>`` is taken."""
    if not os.path.exists(os.path.join(storage_path, name)):
        return name
    stamped = f"{name}-{time.strftime(_STAMP)}"
    candidate, n = stamped, 1
    while os.path.exists(os.path.join(storage_path, candidate)):
        n += 1
        candidate = f"{stamped}-{n}"
    return candidate


def has_finished(path: str, results: tune.ResultGrid) -> bool:
    """Whether the experiment at ``path`` has finished: its searcher made every trial it was asked
    for (read from its checkpoint there) and every trial of ``results`` ended."""
    search = SearchGenerator(PGSearcher())
    try:
        search.restore_from_dir(path)
    except RuntimeError:  # no searcher checkpoint yet: stopped before its first save
        return False
    return search.is_finished() and all(ended(r.metrics, r.error is not None) for r in results)


def print_summary(results: tune.ResultGrid, path: str) -> None:
    """The experiment's ended trials, the best config among them and its validation accuracy, and
    what the search did (crashes, its warm start if it had one)."""
    best = best_result(results)
    n_ended = sum(ended(r.metrics, r.error is not None) for r in results)
    print(f"{n_ended} trials ended ({results.num_errors} errors); experiment directory: {path}")
    if best is None:
        print("no trial reported a validation accuracy")
    else:
        print(f"best validation accuracy: {accuracy(best.metrics):.4f}")
        print("best config:", json.dumps(best.config, sort_keys=True))
    for line in search_lines(path):
        print(line)


def start_ray(verbose: bool) -> None:
    """A caller's Ray as it is (the tests'); the cluster at RAY_ADDRESS; else a local Ray on this
    machine, whose workers run at the driver's priority (Ray's default lowers it by 15, which
    starves the trials on a machine that runs anything else)."""
    quiet = {} if verbose else {"log_to_driver": False, "logging_level": logging.WARNING}
    if ray.is_initialized():
        return
    if os.environ.get("RAY_ADDRESS"):
        ray.init(address=os.environ["RAY_ADDRESS"], **quiet)
        return
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_worker_niceness", "0")
    ray.init(address="local", include_dashboard=False, **quiet)


def main(argv: list[str] | None = None) -> tune.ResultGrid:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-samples", type=int, default=60, help="trials of a new experiment")
    parser.add_argument("--max-concurrent", type=int, default=0, help="trials at once (0: one per CPU)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--storage-path", default=os.path.abspath("ray_results"))
    parser.add_argument(
        "--name",
        help=f"the experiment's directory under --storage-path (default {DEFAULT_NAME}; a new experiment "
        "takes NAME-YYYYmmdd-HHMMSS when NAME is taken)",
    )
    parser.add_argument("--no-asha", action="store_true", help="run every trial for all epochs")
    parser.add_argument(
        "--resume",
        action="store_true",
        help=f"continue the experiment --name, or without --name the most recently run {DEFAULT_NAME}[-DATE-TIME]; "
        "a finished one prints its summary, a missing one starts new",
    )
    parser.add_argument("--verbose", action="store_true", help="Ray Tune's own trial tables and worker logs")
    parser.add_argument("--subset", type=fraction, default=1.0, help="train on this fraction of the training data")
    parser.add_argument(
        "--warm-start",
        "--prior",  # its name before 0.3
        dest="warm_start",
        help="an earlier experiment directory or searcher checkpoint to start from (PGSearcher(warm_start=...))",
    )
    args = parser.parse_args(argv)
    try:  # an earlier search that is not a PGSearcher checkpoint stops here, with the reason
        searcher = PGSearcher(seed=args.seed, warm_start=args.warm_start)
    except ValueError as e:
        parser.error(str(e))

    trainable = tune.with_resources(train_mlp, {"cpu": 1})
    tuner = None
    if args.resume:
        path = experiment_to_resume(args.storage_path, args.name)
        if tune.Tuner.can_restore(path):
            tuner = tune.Tuner.restore(path, trainable=trainable, resume_errored=True)
            results = tuner.get_results()
            if has_finished(path, results):
                print(f"The experiment at {path} has finished: nothing to resume.")
                print_summary(results, path)
                return results
            note = " (its searcher keeps the warm start it began with; --warm-start is ignored)"
            note = note if args.warm_start else ""
            print(f"Resuming the experiment at {path}{note}")
        else:
            print(f"No experiment to resume at {path}: starting a new one.")
    start_ray(args.verbose)
    if tuner is None:
        name = args.name or DEFAULT_NAME
        fresh = fresh_name(args.storage_path, name)
        if fresh != name:
            print(
                f"{os.path.join(args.storage_path, name)} holds an earlier experiment (--resume --name {name} "
                f"continues it); this run starts in {fresh}"
            )
        path = os.path.join(args.storage_path, fresh)
        max_concurrent = args.max_concurrent or max(1, int(ray.cluster_resources().get("CPU", 1)))
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
                name=fresh,
                verbose=1 if args.verbose else 0,
                callbacks=[Progress(args.num_samples)],
            ),
        )
    start = time.time()
    results = tuner.fit()
    print(f"\nThis run took {time.time() - start:.0f} s.")
    if not has_finished(path, results):
        storage, name = os.path.split(path)
        print(
            "The experiment has not finished; continue it with\n"
            f"    python -m experiments.tune_digits --resume --name {name} --storage-path {storage}"
        )
    print_summary(results, path)
    return results


if __name__ == "__main__":
    main()
