"""Issue 6.3: time to solution on the tunable CNN, measured as the NERSC HPO study did: the mean
validation loss of the best 6 trials against wall-clock time, for random search, Optuna's TPE and
PGSearcher, each without a scheduler (FIFO: every trial trains all its epochs) and with ASHA, and
for PBT of the learning rate, all on the same compute budget.

    python -m experiments.time_to_solution [--seeds N] [--budget SECONDS] [--quick] [--concurrency N]
        [--gpus G] [--dataset digits|mnist] [--population P] [--interval E] [--target LOSS]

Same compute budget: every run gets the same wall-clock time (``TuneConfig(time_budget_s=...)``) on a
local Ray of ``--concurrency`` CPUs, and every trial takes one CPU (and ``--gpus`` GPU, fractions
allowed), so exactly ``concurrency`` trials train at a time in every strategy. The workload is
``experiments.cnn``'s (``SPACE``, ``train_cnn``): up to 10 epochs per trial, metric the validation
loss after each epoch. The searcher arms write no checkpoints (the study found heavy checkpointing
halved ASHA's throughput); PBT, which needs them, saves the model and Adam state (a few hundred KB)
every ``--interval`` epochs only.

PBT: Ray 2.60's ``PopulationBasedTraining`` refuses search algorithms, so its population of
``--population`` trials (default: one per slot, but at least the 6 the metric averages, so on 2 slots
they take turns, paused and restored from checkpoints) starts from random configs of ``SPACE``
(architecture included); it mutates only the lr (``pbt_mutations``: x0.8 / x1.2 or a resample),
exploits copy weights and config from the top quarter, and the population trains until the budget
ends, so no PBT trial "finishes".

The curve: at time t, each trial that has reported by t contributes its best validation loss so far
(the epoch one would keep); the curve is the mean of the 6 lowest (undefined while fewer than 6
trials have reported), so it never increases. Time runs from the start of each Tune run, trial
start-up included. Reported per strategy, mean ± sd over seeds: the curve at the end and at half the
budget, trials finished (all epochs, or stopped by ASHA) and epochs trained within the budget, and
the time the seed-mean curve needs to reach a target loss (default: the worst strategy's final
value, a level every strategy reached).
"""

from __future__ import annotations

import argparse
import heapq
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import ray
from ray import tune
from ray.tune.search.basic_variant import BasicVariantGenerator

from experiments.cnn import QUICK_EPOCHS, SPACE, add_cnn_args, asha, train_cnn
from experiments.harness import make_searcher
from experiments.pbt_schedule import pbt_checkpoints, plain_pbt, train_cnn_pbt
from experiments.study import Scale, header, mean_sd, parse_args, start_ray, table

FULL, QUICK = Scale(seeds=2, budget=60), Scale(seeds=1, budget=10)  # budget: seconds per run
BEST = 6  # trials averaged, as in the NERSC study
SEARCHERS = ["random", "tpe", "pgsearcher"]
PBT = "PBT (lr)"
STRATEGIES = [f"{name}{sched}" for name in SEARCHERS for sched in ("", " + ASHA")] + [PBT]
NUM_SAMPLES = 100_000  # more trials than any budget here runs: the time budget ends every run
PBT_EPOCHS = 100_000  # likewise: PBT's population trains until the budget ends
GRID = 201  # time points of the curves


@dataclass
class Run:
    """One strategy's seeded run: every reported epoch as (seconds since the run started, trial id,
    validation loss), and the trials that ended within the budget."""

    events: list[tuple[float, str, float]] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)

    @property
    def epochs(self) -> int:
        """Epochs trained, all trials together."""
        return len(self.events)

    @property
    def trials(self) -> int:
        """Trials that reported at least one epoch."""
        return len({trial for _, trial, _ in self.events})

    def epochs_per_finished_trial(self) -> float:
        """Mean epochs a finished trial trained (NaN when none finished)."""
        done = set(self.finished)
        return sum(trial in done for _, trial, _ in self.events) / len(done) if done else float("nan")


class Recorder(tune.Callback):
    """Fills a `Run` from the driver: each result is one epoch; a trial is finished when Tune
    completes it (its last epoch, or an ASHA stop), not when the time budget stops it."""

    def __init__(self) -> None:
        self.run = Run()
        self.start = time.time()

    def setup(self, **info: object) -> None:
        self.start = time.time()

    def on_trial_result(self, iteration: int, trials: list, trial: object, result: dict, **info: object) -> None:
        self.run.events.append((time.time() - self.start, trial.trial_id, float(result["loss"])))

    def on_trial_complete(self, iteration: int, trials: list, trial: object, **info: object) -> None:
        self.run.finished.append(trial.trial_id)


def best_k_curve(events: list[tuple[float, str, float]], k: int = BEST) -> tuple[np.ndarray, np.ndarray]:
    """(times, values) of the step curve: after each reported epoch, the mean of the `k` lowest
    per-trial best validation losses so far (NaN while fewer than `k` trials have a finite one)."""
    best: dict[str, float] = {}
    times, values = [], []
    for t, trial, loss in sorted(events):
        if np.isfinite(loss):
            best[trial] = min(loss, best.get(trial, np.inf))
        times.append(t)
        values.append(float(np.mean(heapq.nsmallest(k, best.values()))) if len(best) >= k else np.nan)
    return np.asarray(times), np.asarray(values)


def on_grid(run: Run, grid: np.ndarray, k: int = BEST) -> np.ndarray:
    """The run's best-k curve at each time of `grid` (NaN before it is defined); epochs whose result
    reached the driver after the budget (trained within it) count at its end, the grid's last time."""
    times, values = best_k_curve(run.events, k)
    idx = np.searchsorted(np.minimum(times, grid[-1]), grid, side="right") - 1
    return np.array([values[i] if i >= 0 else np.nan for i in idx])


def tune_strategy(strategy: str, seed: int, args: argparse.Namespace, storage: str) -> Run:
    """One Tune run of `strategy` for `args.budget` seconds with `args.concurrency` trials at a time."""
    recorder = Recorder()
    budget = dict(time_budget_s=args.budget, reuse_actors=True)
    space = {**SPACE, "epochs": args.epochs, "dataset": args.dataset, "seed": seed}
    if strategy == PBT:
        trainable = train_cnn_pbt
        space.update(epochs=PBT_EPOCHS, checkpoint_every=args.interval)
        # no max_concurrent_trials: it would cap the population itself; the CPUs cap the trials at a time
        tune_config = tune.TuneConfig(
            search_alg=BasicVariantGenerator(random_state=seed),
            scheduler=plain_pbt(args.interval),
            num_samples=args.population,
            **budget,
        )
        checkpoints = pbt_checkpoints(args.population)
    else:
        trainable = train_cnn
        name, _, scheduler = strategy.partition(" + ")
        tune_config = tune.TuneConfig(
            search_alg=make_searcher(name, seed, NUM_SAMPLES, args.concurrency),
            scheduler=asha(args.epochs) if scheduler else None,
            metric="loss",
            mode="min",
            num_samples=NUM_SAMPLES,
            max_concurrent_trials=args.concurrency,
            **budget,
        )
        checkpoints = tune.CheckpointConfig()  # train_cnn writes none
    tune.Tuner(
        tune.with_resources(trainable, {"cpu": 1, "gpu": args.gpus}),
        param_space=space,
        tune_config=tune_config,
        run_config=tune.RunConfig(
            storage_path=storage,
            name=f"{strategy.replace(' ', '')}_{seed}",
            verbose=0,
            callbacks=[recorder],
            checkpoint_config=checkpoints,
        ),
    ).fit()
    return recorder.run


def summarize(runs: dict[str, list[Run]], budget: float, target: float | None) -> tuple[dict, float]:
    """Per strategy: the seed-mean curve on the time grid, the end and half-time values per seed and
    the time the mean curve reaches the target; and the target (default: the worst mean end value)."""
    grid = np.linspace(0.0, budget, GRID)
    out = {}
    for strategy, seeds in runs.items():
        curves = np.array([on_grid(run, grid) for run in seeds])
        out[strategy] = {"grid": grid, "mean": curves.mean(axis=0), "end": curves[:, -1], "half": curves[:, GRID // 2]}
    if target is None:
        ends = [s["mean"][-1] for s in out.values() if np.isfinite(s["mean"][-1])]
        target = max(ends) if ends else float("nan")
    for s in out.values():
        reached = np.flatnonzero(s["mean"] <= target)
        s["to_target"] = float(grid[reached[0]]) if reached.size else float("nan")
    return out, target


def plot(runs: dict[str, list[Run]], summary: dict, target: float, path: Path) -> None:
    """Left: the seed-mean best-6 curve per strategy; right: trials finished and epochs trained."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [3, 2]})
    for i, strategy in enumerate(runs):
        name, _, scheduler = strategy.partition(" + ")
        color = "k" if strategy == PBT else f"C{SEARCHERS.index(name)}"
        s = summary[strategy]
        ax.plot(s["grid"], s["mean"], color=color, linestyle="--" if scheduler else "-", label=strategy)
        finished = [len(run.finished) for run in runs[strategy]]
        epochs = [run.epochs for run in runs[strategy]]
        bx.bar(i - 0.2, np.mean(finished), 0.4, color="C0", label="trials finished" if i == 0 else None)
        bx.bar(i + 0.2, np.mean(epochs) / 10, 0.4, color="C1", label="epochs trained / 10" if i == 0 else None)
    ax.axhline(target, color="grey", linewidth=0.8, linestyle=":", label=f"target {target:.4f}")
    if any(np.isfinite(s["mean"]).any() for s in summary.values()):
        ax.set_yscale("log")
    ax.set_xlabel("wall-clock seconds since the run started")
    ax.set_ylabel(f"mean validation loss of the best {BEST} trials")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    bx.set_xticks(range(len(runs)), list(runs), rotation=30, ha="right", fontsize=8)
    bx.set_ylabel("mean over seeds")
    bx.grid(alpha=0.3, axis="y")
    bx.legend(fontsize=8)
    n = len(next(iter(runs.values())))
    fig.suptitle(f"tunable CNN: time to solution on the same compute budget (mean of {n} seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def markdown(
    runs: dict[str, list[Run]],
    summary: dict,
    target: float,
    walls: list[float],
    args: argparse.Namespace,
    argv: list[str] | None,
) -> str:
    """The results file: setup, then per strategy the table row."""
    lines = header(
        "time_to_solution",
        "Time to solution on the tunable CNN: searchers, ASHA and PBT on the same compute budget",
        argv,
        ["torch", "optuna"],
    )
    device = f"{args.gpus:g} GPU and 1 CPU per trial" if args.gpus else "1 CPU (one torch thread) per trial"
    lines += [
        f"Data: {args.dataset}. Budget: {args.budget} s of wall-clock time per run "
        f"(`time_budget_s`), {args.concurrency} trials at a time, {device}; seeds 0..{args.seeds - 1} "
        f"(the 7 strategies run one after another within each seed; {np.mean(walls):.0f} s per run with "
        f"start and teardown). Searcher trials train up to {args.epochs} epochs (FIFO: all of them; ASHA: "
        f"grace period 1, reduction factor 3); PBT: population {args.population}, perturbation interval "
        f"{args.interval} epochs, trained until the budget ends.",
        "",
        f"Metric: the mean validation loss of the best {BEST} trials, each trial counted with its best "
        "validation loss reported so far; mean ± sd over seeds. Trials finished: trials that trained all "
        f"their epochs or were stopped by ASHA within the budget. Target: {target:.4f} "
        f"({'given' if args.target is not None else 'the worst strategy’s final mean value'}); "
        "time to target on the seed-mean curve. —: undefined (fewer than 6 trials had reported in some "
        "seed, no trial finished, or the target was not reached).",
        "",
    ]

    def defined(values: list[float] | np.ndarray, fmt: str) -> str:
        return mean_sd(values, fmt) if np.isfinite(values).all() else "—"

    rows = []
    for strategy, seeds in runs.items():
        s = summary[strategy]
        per_trial = [r.epochs_per_finished_trial() for r in seeds]
        rows.append(
            [
                strategy,
                defined(s["end"], ".4f"),
                defined(s["half"], ".4f"),
                mean_sd([len(r.finished) for r in seeds], ".1f"),
                mean_sd([r.trials for r in seeds], ".1f"),
                mean_sd([r.epochs for r in seeds], ".0f"),
                defined(per_trial, ".2f"),
                defined([s["to_target"]], ".1f"),
            ]
        )
    lines += table(
        [
            "strategy",
            f"best-{BEST} val loss at the end",
            f"at {args.budget / 2:g} s",
            "trials finished",
            "trials run",
            "epochs trained",
            "epochs per finished trial",
            "s to target",
        ],
        rows,
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, list[Run]]:
    """Run every strategy for every seed; write the table and figure; return the runs."""

    def add(parser: argparse.ArgumentParser) -> None:
        add_cnn_args(parser)
        parser.add_argument("--concurrency", type=int, default=2, help="trials at a time (default 2)")
        parser.add_argument("--population", type=int, help="PBT population (default: concurrency, at least 6)")
        parser.add_argument("--interval", type=int, help="PBT perturbation interval in epochs (default 2, quick 1)")
        parser.add_argument("--target", type=float, help="target loss for the time to target")

    args = parse_args(__doc__, FULL, QUICK, argv, add, budget_unit="seconds of wall-clock time per run")
    args.epochs = QUICK_EPOCHS if args.quick else SPACE["epochs"]
    args.population = args.population or max(BEST, args.concurrency)
    args.interval = args.interval or (1 if args.quick else 2)
    if args.population < BEST:
        raise ValueError(f"--population must be at least {BEST}: the curve averages the best {BEST} trials")
    start_ray(__name__, num_cpus=args.concurrency)
    if ray.cluster_resources().get("CPU", 0) > args.concurrency:
        raise ValueError(
            f"Ray has more CPUs than --concurrency {args.concurrency}: PBT would run more trials at "
            "a time than the other strategies"
        )
    runs: dict[str, list[Run]] = {strategy: [] for strategy in STRATEGIES}
    walls = []
    with tempfile.TemporaryDirectory() as storage:
        for seed in range(args.seeds):
            for strategy in STRATEGIES:
                start = time.time()
                run = tune_strategy(strategy, seed, args, storage)
                walls.append(time.time() - start)
                runs[strategy].append(run)
                print(
                    f"  {strategy:>18} seed {seed}: {len(run.finished)} trials finished of {run.trials}, "
                    f"{run.epochs} epochs, {walls[-1]:.0f} s",
                    flush=True,
                )
    summary, target = summarize(runs, args.budget, args.target)
    plot(runs, summary, target, args.out / "time_to_solution.png")
    (args.out / "time_to_solution.md").write_text(markdown(runs, summary, target, walls, args, argv))
    print(f"wrote {args.out}/time_to_solution.md and time_to_solution.png")
    return runs


if __name__ == "__main__":
    main()
