"""Time to solution, measured as the NERSC HPO study did: the mean validation loss of the
best 6 trials against wall-clock time, for search algorithms and schedulers side by side on the same
compute budget, with many trials in flight.

    python -m experiments.time_to_solution [--workload surrogate cnn] [--concurrency 8 32] [--seeds N]
        [--budget SECONDS] [--epoch-seconds S] [--cnn-seeds N] [--cnn-budget SECONDS]
        [--strategies PATTERN ...] [--rerun PATTERN ...] [--jobs J] [--quick]

Workloads:

* ``surrogate`` (``experiments.lc_surrogate``): learning curves that cost no training. Each trial sleeps a
  compressed epoch time (``--epoch-seconds`` times a cost that grows with the model's size) and reports the
  next point of its config's curve, up to 27 epochs. Sleeping trials make 8 or 32 in flight cheap on two
  cores, through real Ray Tune (``reuse_actors=True``); the ground truth is known.
* ``cnn`` (``experiments.cnn``): the real torch CNN on digits, 2 trials at a time, one CPU thread each, up
  to 10 epochs; a smaller check of the ASHA strategies.

Strategies (``--strategies`` selects by shell pattern, e.g. ``"pgsearcher*"``): random search, Optuna's
TPE, HEBO (Ray's ``HEBOSearch``, which suggests synchronous batches of ``concurrency`` trials) and
PGSearcher, each with FIFO (every trial trains all its epochs), ASHA (rungs at 1, 3, 9, 27 epochs, the
best third promoted) and synchronous HyperBand (brackets over the same rungs; paused trials resume from a
checkpoint); BOHB (``TuneBOHB`` with ``HyperBandForBOHB``); and PBT of the lr (a population of
``concurrency`` random configs, at least 6, trained to the trials' epoch limit, the lr mutated x0.8 / x1.2
or resampled every 3 epochs, exploiting the top quarter; the run ends when the population has trained).
HEBO is left out of HyperBand: its batch waits for every live trial to end, and HyperBand's paused trials
are live.

Same compute budget: every run gets the same wall-clock time and runs at most ``concurrency`` trials at
a time. The clock starts at a start gate that holds the first epochs until ``concurrency`` trial processes
are up (starting 32 Ray actors takes tens of seconds on two loaded cores; a cluster pays that once per
job), and a stopper ends the run ``--budget`` seconds later. Each trial takes ``1 / concurrency`` of the
logical CPUs of a local Ray (``--jobs`` surrogate settings run side by side, each on its own Ray: the
runs mostly sleep, and most of their CPU goes to starting actors before the gate opens; the CNN, which
trains, runs alone after them). A ``ConcurrencyLimiter`` of
``concurrency`` also caps the trials suggested ahead (except under HyperBand, where it would count paused
trials and starve the brackets: there Tune keeps ``concurrency`` trials pending). The clock includes the
searcher's time in the driver (reported as "searcher s"), which with compressed epochs weighs more than on
a cluster, where an epoch takes minutes; for the same reason idle trial actors are kept until the run ends
(Tune would stop them whenever no trial is pending, as between HEBO's batches, and start new ones later).
The strategies of a seed run one after another, seeds in order, so that a change in the machine's load
hits every strategy alike.

Measures per strategy, mean ± sd over seeds where not said otherwise:

* the curve: at time t, each trial that has reported by t contributes its best loss so far; the curve is
  the mean of the 6 lowest (undefined while fewer than 6 trials have reported), so it never increases;
* the end value of the curve, and its value at half the budget;
* time to target: the target is the ``TARGET_QUANTILE`` quantile of the end values of every seed of the
  ``TARGET_BEST`` strategies with the lowest mean end value (a level those strategies reach in most seeds,
  not the worst strategy's end). A seed's time is the first time its curve is at or below the target
  (never: infinite); reported as the median over seeds, and in how many seeds it was reached;
* trials finished (trained all epochs or stopped by the scheduler within the budget), epochs trained, the
  surrogate's mean cost of an epoch trained (strategies that pick big models train fewer epochs), and the
  seconds the driver spent inside the searcher.

Runs are kept in the run cache (``experiments.lab.cache``; default ``<out>/runs/time_to_solution/``), one
group per panel (its key holds the workload, concurrency, budget, epoch time and a hash of the surrogate's
curves or of ``cnn.py``; delete a group when the study's own mechanics change): a rerun loads every cached
(strategy, seed) and runs only the missing ones and those ``--rerun`` names, e.g. after a change of
PGSearcher ``--rerun "pgsearcher*"``. The strategies run through Tune in ``experiments.time_to_solution_tune``.
``--quick`` is the test-sized path: no time budget and no sleep; every run ends after a number of trials
(PBT: when its population has trained its epochs), so nothing in it depends on the machine's speed.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import fnmatch
import json
import tempfile
from dataclasses import asdict
from pathlib import Path

import numpy as np
import ray

from experiments import lc_surrogate
from experiments import time_to_solution_tune as tts
from experiments.lab import cli, render
from experiments.lab.cache import RunCache
from experiments.lab.cli import Scale
from experiments.lab.cluster import start_ray
from experiments.lab.driver import process_pool
from experiments.lab.protocol import Setting
from experiments.time_to_solution_tune import (
    BEST,
    BOHB,
    PBT,
    QUICK_TRIALS,
    Panel,
    Run,
    installed,
    on_grid,
    tune_strategy,
)

FULL, QUICK = Scale(seeds=10, budget=60), Scale(seeds=1, budget=0)  # budget: seconds per run (quick: none)
CNN_FULL = Scale(seeds=4, budget=120)
SEARCHERS = ["random", "tpe", "hebo", "pgsearcher"]
SCHEDULERS = ["FIFO", "ASHA", "HyperBand"]
STRATEGIES = [
    f"{name} + {scheduler}"
    for name in SEARCHERS
    for scheduler in SCHEDULERS
    if (name, scheduler) != ("hebo", "HyperBand")
] + [BOHB, PBT]
CNN_STRATEGIES = ["random + ASHA", "tpe + ASHA", "pgsearcher + ASHA"]
TARGET_BEST, TARGET_QUANTILE = 3, 0.75
GRID = 201  # time points of the curves


def load_or_run(
    panel: Panel, strategies: list[str], seeds: int, rerun: list[str], cache_root: Path, ray_cpus: int
) -> tuple[dict[str, list[Run]], dict[str, list[dict]]]:
    """Every (strategy, seed) of `panel`: from the run cache unless a pattern of `rerun` matches the
    strategy, else run (seeds in order, strategies of a seed one after another; a local Ray of `ray_cpus`
    CPUs started for the first unless one runs) and cached. Returns the runs and each run's metadata
    (the code and date it ran)."""
    cache, group = RunCache(cache_root), panel.key()
    runs: dict[str, list[Run]] = {s: [] for s in strategies}
    meta: dict[str, list[dict]] = {s: [] for s in strategies}
    with tempfile.TemporaryDirectory() as storage:
        for seed in range(seeds):
            for strategy in strategies:
                fresh = any(fnmatch.fnmatch(strategy, pattern) for pattern in rerun)
                if fresh or not cache.has(group, strategy, panel.workload, seed):
                    start_ray(tts.__name__, num_cpus=ray_cpus)
                    run = tune_strategy(strategy, seed, panel, storage)
                    info = {
                        "commit": render.code_version(),
                        "date": datetime.datetime.now().isoformat(timespec="seconds"),
                    }
                    cache.add(
                        group,
                        {
                            "searcher": strategy,
                            "objective": panel.workload,
                            "seed": seed,
                            "meta": info,
                            **run.to_json(),
                        },
                    )
                    errors = f", {run.errors} trials failed" if run.errors else ""
                    print(
                        f"  {panel.title} {strategy:>22} seed {seed}: {len(run.finished)} trials finished of "
                        f"{run.trials}, {run.epochs} epochs, searcher {run.searcher_seconds:.1f} s, {run.wall:.0f} s"
                        f"{errors}",
                        flush=True,
                    )
                cached = cache.runs(group, strategy, panel.workload)[seed]
                runs[strategy].append(Run.from_json(cached))
                meta[strategy].append(cached["meta"])
    cache.compact()
    return runs, meta


def time_to_target(curves: np.ndarray, grid: np.ndarray, target: float) -> np.ndarray:
    """Per seed (row of `curves`), the first grid time the curve is at or below `target` (inf: never)."""
    out = np.full(len(curves), np.inf)
    for i, curve in enumerate(curves):
        reached = np.flatnonzero(curve <= target)
        if reached.size:
            out[i] = grid[reached[0]]
    return out


def summarize(runs: dict[str, list[Run]], horizon: float) -> tuple[dict[str, dict], float]:
    """Per strategy on a time grid up to `horizon`: the curves (seeds x grid), their mean and standard
    error, the end and half-time values per seed, seconds to the target per seed and the counts; and
    the target: the `TARGET_QUANTILE` quantile of the per-seed end values of the `TARGET_BEST`
    strategies with the lowest mean end value."""
    grid = np.linspace(0.0, horizon, GRID)
    out: dict[str, dict] = {}
    for strategy, seeds in runs.items():
        curves = np.array([on_grid(run, grid) for run in seeds])
        with np.errstate(invalid="ignore"), contextlib.suppress(RuntimeWarning):
            se = curves.std(axis=0, ddof=1) / np.sqrt(len(seeds)) if len(seeds) > 1 else np.zeros(GRID)
        out[strategy] = {
            "grid": grid,
            "curves": curves,
            "mean": curves.mean(axis=0),
            "se": se,
            "end": curves[:, -1],
            "half": curves[:, GRID // 2],
            "finished": np.array([len(r.finished) for r in seeds], float),
            "trials": np.array([r.trials for r in seeds], float),
            "epochs": np.array([r.epochs for r in seeds], float),
            "searcher_seconds": np.array([r.searcher_seconds for r in seeds]),
            "epoch_cost": np.array([r.epoch_cost() for r in seeds]),
            "errors": np.array([r.errors for r in seeds]),
            "crashes": [r.crash for r in seeds],
        }
    ranked = sorted((s for s in out if np.isfinite(out[s]["end"]).all()), key=lambda s: float(np.mean(out[s]["end"])))
    best = ranked[:TARGET_BEST]
    target = float(np.quantile(np.concatenate([out[s]["end"] for s in best]), TARGET_QUANTILE)) if best else np.nan
    for s in out.values():
        s["to_target"] = time_to_target(s["curves"], grid, target)
    return out, target


def median_time(times: np.ndarray) -> float:
    """The median of per-seed times to target (inf when more than half the seeds never reached it)."""
    return float(np.median(times))


def _seconds(value: float) -> str:
    """Seconds to target, or "never" (not reached in most seeds)."""
    return f"{value:.1f} s" if np.isfinite(value) else "never"


def _met(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def bar_lines(summaries: dict[Panel, tuple[dict, float]]) -> list[str]:
    """The bar, checked on the results: on the surrogate at the highest concurrency,
    PGSearcher + ASHA reaches the target in at most half the time of random + ASHA and no later than
    BOHB, and ends with the lowest best-6 loss; on the CNN, it does no worse than TPE + ASHA (end
    value and time to target). A strategy that never reaches the target is later than any that does."""
    lines = []
    pg = "pgsearcher + ASHA"
    surrogate = [s for s in summaries if s.workload == "surrogate"]
    if surrogate:
        panel = max(surrogate, key=lambda s: s.concurrency)
        summary, _ = summaries[panel]
        if {pg, "random + ASHA", BOHB} <= set(summary):
            t_pg, t_rand, t_bohb = (median_time(summary[s]["to_target"]) for s in (pg, "random + ASHA", BOHB))
            ends = {s: float(np.mean(v["end"])) for s, v in summary.items()}
            lowest = min(ends, key=lambda s: ends[s])
            lines += [
                f"- {panel.title}: PGSearcher + ASHA reaches the target in {_seconds(t_pg)}, random + ASHA in "
                f"{_seconds(t_rand)} (at most half: {_met(np.isfinite(t_pg) and t_pg <= 0.5 * t_rand)}), BOHB in "
                f"{_seconds(t_bohb)} (no later: {_met(np.isfinite(t_pg) and t_pg <= t_bohb)}); lowest mean best-6 "
                f"loss at the end: {lowest} {ends[lowest]:.4f}, PGSearcher + ASHA {ends[pg]:.4f} "
                f"({_met(lowest == pg)}).",
            ]
    for panel in (s for s in summaries if s.workload == "cnn"):
        summary, _ = summaries[panel]
        if {pg, "tpe + ASHA"} <= set(summary):
            e_pg, e_tpe = (float(np.mean(summary[s]["end"])) for s in (pg, "tpe + ASHA"))
            t_pg, t_tpe = (median_time(summary[s]["to_target"]) for s in (pg, "tpe + ASHA"))
            ok = e_pg <= e_tpe and np.isfinite(t_pg) and t_pg <= t_tpe
            lines += [
                f"- {panel.title}: PGSearcher + ASHA ends at best-6 loss {e_pg:.4f} against TPE + ASHA "
                f"{e_tpe:.4f} and reaches the target in {_seconds(t_pg)} against {_seconds(t_tpe)} (no worse on "
                f"both: {_met(ok)}).",
            ]
    return lines


def _style(strategy: str) -> tuple[str, str]:
    """(colour, line style): the colour names the searcher, the line style the scheduler."""
    if strategy == PBT:
        return "k", "-."
    if strategy == BOHB:
        return "C4", "-"
    name, _, scheduler = strategy.partition(" + ")
    return f"C{SEARCHERS.index(name)}", {"FIFO": ":", "ASHA": "-", "HyperBand": "--"}[scheduler]


def plot(summaries: dict[Panel, tuple[dict, float]], path: Path) -> None:
    """One figure panel per study panel: the seed-mean best-6 curve per strategy with a band of ± one standard
    error, the target dotted, the ground truth (surrogate) dashed."""
    fig, axes = render.panels(len(summaries), len(summaries), 6.5, 5.5)
    for ax, (panel, (summary, target)) in zip(axes, summaries.items(), strict=True):
        for strategy, s in summary.items():
            color, style = _style(strategy)
            ax.plot(s["grid"], s["mean"], color=color, linestyle=style, label=strategy, linewidth=1.3)
            ax.fill_between(s["grid"], s["mean"] - s["se"], s["mean"] + s["se"], color=color, alpha=0.12)
        ax.axhline(target, color="grey", linewidth=0.8, linestyle=":", label=f"target {target:.4f}")
        if panel.workload == "surrogate":
            truth = lc_surrogate.ground_truth(panel.epochs)[0]
            ax.axhline(truth, color="k", linewidth=0.8, linestyle="--", label=f"ground truth {truth:.4f}")
        ends = np.concatenate([s["mean"][np.isfinite(s["mean"])] for s in summary.values()])
        if ends.size:
            ax.set_yscale("log")
            low = min(np.min(ends), target) * 0.9
            ax.set_ylim(low, min(np.quantile(ends, 0.9), low * 8))
        n = len(next(iter(summary.values()))["end"])
        ax.set_title(f"{panel.title} ({n} seeds)")
        ax.set_xlabel("wall-clock seconds since the run started")
        ax.set_ylabel(f"mean validation loss of the best {BEST} trials")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, ncol=2)
    render.save(
        fig,
        path,
        dpi=100,
        title="Time to solution: best-6 loss against wall-clock time (mean over seeds, band ± 1 s.e.)",
    )


def _fmt(values: np.ndarray, fmt: str) -> str:
    """'mean ± sd' over seeds, or — when a seed's value is undefined."""
    return render.mean_sd(values, fmt) if np.isfinite(values).all() else "—"


def _time(times: np.ndarray) -> str:
    """Median seconds to target and in how many seeds it was reached."""
    median = median_time(times)
    reached = int(np.isfinite(times).sum())
    return f"{median:.1f} ({reached}/{len(times)})" if np.isfinite(median) else f"— ({reached}/{len(times)})"


def markdown(
    summaries: dict[Panel, tuple[dict, float]],
    meta: dict[Panel, dict[str, list[dict]]],
    walls: float,
    argv: list[str] | None,
) -> str:
    """The results file: setup, the bar, then one table per panel."""
    lines = render.header(
        "time_to_solution",
        "Time to solution: searchers and schedulers on the same wall-clock budget, 8 and 32 trials in flight",
        argv,
        ["torch", "optuna", "hebo", "hpbandster"],
    )
    truth, config = lc_surrogate.ground_truth()
    best = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in config)
    lines += [
        "Setup: see the docstring of `experiments/time_to_solution.py` (strategies, target, measures) and "
        "of `experiments/lc_surrogate.py` (the surrogate's curves). Surrogate: up to "
        f"{lc_surrogate.MAX_EPOCHS} epochs per trial; ground truth (the lowest noiseless loss any config "
        f"reaches): {truth:.4f} ({best}). "
        f"Study time: {walls / 3600:.1f} h of runs (cached runs counted with their own time).",
        "",
        "Time to target: median over seeds of the first time the seed's best-6 curve reaches the target "
        "(seeds that reached it in parentheses; — when more than half did not). Cost per epoch: the "
        "surrogate's mean cost of the epochs trained (1: width 256, depth 3, batch 128; bigger models cost "
        "more wall-clock time). Searcher s: seconds the driver spent inside the searcher per run. —: "
        "undefined (fewer than 6 trials in some seed).",
        "",
    ]
    bar = bar_lines(summaries)
    if bar:
        lines += ["## The bar", "", *bar, ""]
    for panel, (summary, target) in summaries.items():
        budget = f"{panel.setting.seconds:g} s per run" if not panel.quick else f"{QUICK_TRIALS} trials per run"
        epoch = f", epoch time {panel.epoch_seconds:g} s x cost" if panel.workload == "surrogate" else ""
        commits = sorted({m.get("commit", "?") for s, ms in meta[panel].items() if "pgsearcher" in s for m in ms})
        failed = [f"{s} seed {i}" for s, v in summary.items() for i, n in enumerate(v["errors"]) if n]
        crashed = [f"{s} seed {i} ({c})" for s, v in summary.items() for i, c in enumerate(v["crashes"]) if c]
        lines += [
            f"## {panel.title}",
            "",
            f"{budget}{epoch}, up to {panel.epochs} epochs per trial; target {target:.4f}; "
            f"PGSearcher's runs on ray_pgsearch of commits {', '.join(commits) or '—'}"
            + (f"; runs with failed trials: {', '.join(failed)}" if failed else "")
            + (f"; runs that crashed (their curve holds its last value): {'; '.join(crashed)}" if crashed else "")
            + ".",
            "",
        ]
        surrogate = panel.workload == "surrogate"
        rows = [
            [
                strategy,
                _time(s["to_target"]),
                _fmt(s["end"], ".4f"),
                _fmt(s["half"], ".4f"),
                render.mean_sd(s["finished"], ".0f"),
                render.mean_sd(s["epochs"], ".0f"),
                *([_fmt(s["epoch_cost"], ".2f")] if surrogate else []),
                render.mean_sd(s["searcher_seconds"], ".1f"),
            ]
            for strategy, s in sorted(summary.items(), key=lambda kv: np.nan_to_num(np.mean(kv[1]["end"]), nan=np.inf))
        ]
        head = ["strategy", "s to target", f"best-{BEST} loss at the end", "at half time", "trials finished"]
        lines += render.table([*head, "epochs trained", *(["cost per epoch"] if surrogate else []), "searcher s"], rows)
    return "\n".join(lines)


def to_json(summaries: dict[Panel, tuple[dict, float]]) -> dict:
    """The summary numbers and seed-mean curves, per panel and strategy."""

    def clean(values: np.ndarray) -> list:
        return [None if not np.isfinite(v) else round(float(v), 6) for v in np.asarray(values, float)]

    out = {}
    for panel, (summary, target) in summaries.items():
        out[panel.key()] = {
            "panel": asdict(panel),
            "target": target,
            "grid": clean(next(iter(summary.values()))["grid"]),
            "strategies": {
                strategy: {
                    key: clean(s[key])
                    for key in ("mean", "se", "end", "half", "to_target", "finished", "trials", "epochs")
                }
                | {key: clean(s[key]) for key in ("searcher_seconds", "epoch_cost")}
                for strategy, s in summary.items()
            },
        }
    return out


def main(argv: list[str] | None = None) -> dict[Panel, dict[str, list[Run]]]:
    """Run (or load) every strategy, seed and panel; write the table, JSON and figure; return the runs."""

    def add(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--workload", nargs="+", choices=["surrogate", "cnn"], default=["surrogate", "cnn"])
        parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 32], help="surrogate trials in flight")
        parser.add_argument("--epoch-seconds", type=float, default=0.5, help="surrogate epoch time at cost 1")
        parser.add_argument("--cnn-seeds", type=int, help=f"CNN seeds (default {CNN_FULL.seeds})")
        parser.add_argument("--cnn-budget", type=int, help=f"CNN seconds per run (default {CNN_FULL.budget})")
        parser.add_argument("--strategies", nargs="+", default=["*"], help="shell patterns of strategies to include")
        parser.add_argument("--rerun", nargs="+", default=[], help="shell patterns of strategies to rerun")

    budget_unit = "seconds of wall-clock time per run"
    args = cli.parse_args(__doc__, FULL, QUICK, argv, add, budget_unit=budget_unit, study="time_to_solution")

    def setting(concurrency: int, seconds: float) -> Setting:
        return Setting(QUICK_TRIALS, concurrency) if args.quick else Setting(0, concurrency, seconds=seconds)

    panels = []
    if "surrogate" in args.workload:
        epoch_seconds = 0.0 if args.quick else args.epoch_seconds
        panels += [Panel("surrogate", setting(c, args.budget), epoch_seconds) for c in args.concurrency]
    if "cnn" in args.workload:
        panels += [Panel("cnn", setting(2, args.cnn_budget or CNN_FULL.budget))]
    cnn_seeds = args.cnn_seeds or (QUICK.seeds if args.quick else CNN_FULL.seeds)
    tasks = {}
    for panel in panels:
        pool = CNN_STRATEGIES if panel.workload == "cnn" else STRATEGIES
        strategies = [s for s in pool if any(fnmatch.fnmatch(s, p) for p in args.strategies) and installed(s)]
        seeds = cnn_seeds if panel.workload == "cnn" else args.seeds
        tasks[panel] = (panel, strategies, seeds, args.rerun, args.cache)
    results: dict[Panel, tuple[dict[str, list[Run]], dict[str, list[dict]]]] = {}
    side_by_side = [p for p in panels if p.workload == "surrogate"]
    if args.jobs > 1 and len(side_by_side) > 1 and not args.quick and not ray.is_initialized():
        # surrogate panels side by side, each on its own local Ray: their runs mostly sleep, and most of
        # their CPU goes to starting actors before each run's gate opens (the CNN trains: it runs alone);
        # each writes its own group of the cache
        with process_pool(min(args.jobs, len(side_by_side))) as ex:
            order = sorted(side_by_side, key=lambda p: -p.concurrency)  # the longest first
            futures = {p: ex.submit(load_or_run, *tasks[p], ray_cpus=p.concurrency) for p in order}
            results = {p: futures[p].result() for p in side_by_side}
    ray_cpus = max(p.concurrency for p in panels)
    results |= {p: load_or_run(*tasks[p], ray_cpus=ray_cpus) for p in panels if p not in results}
    results = {p: results[p] for p in panels}
    all_runs, summaries, meta = {}, {}, {}
    for panel, (runs, meta[panel]) in results.items():
        horizon = panel.setting.seconds or max(t for rs in runs.values() for r in rs for t, _, _ in r.events)
        all_runs[panel] = runs
        summaries[panel] = summarize(runs, horizon)
    walls = sum(r.wall for runs in all_runs.values() for rs in runs.values() for r in rs)
    plot(summaries, args.out / "time_to_solution.png")
    (args.out / "time_to_solution.md").write_text(markdown(summaries, meta, walls, argv))
    (args.out / "time_to_solution.json").write_text(json.dumps(to_json(summaries), indent=1) + "\n")
    print(f"wrote {args.out}/time_to_solution.md, .json and .png")
    return all_runs


if __name__ == "__main__":
    main()
