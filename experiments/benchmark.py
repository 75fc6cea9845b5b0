"""Side-by-side benchmark of Ray Tune searchers on the lab's 11 objectives (`experiments.lab.objectives`).

    python -m experiments.benchmark --seeds 40 --no-overhead          # benchmark.md / .json / .png
    python -m experiments.benchmark --overhead-only --searchers random,pgsearcher \\
        --overhead-pending 1,8,32,256 --overhead-objectives mixed_bowls,mixed_categorical --jobs 1
    python -m experiments.benchmark --quick                          # the smoke run (seconds)

The benchmark runs every searcher on every objective under each setting ("32x8": budget 32, up to 8
pending, completed in a seeded random order that every searcher shares) for seeds 0..N-1; each run is kept
in the run cache (``<out>/runs/benchmark/``, committed) and reused, so the command scores the cache again
and runs only what is missing. Writes benchmark.md / .json / .png (scores per setting) and overhead.md /
.json (searcher seconds per trial as the number of finished trials grows; timings, never cached).
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import numpy as np

from experiments.lab import cli, render, stats
from experiments.lab.arms import ARMS, searcher_names
from experiments.lab.cache import RunCache
from experiments.lab.driver import fill_cache, random_samples, run_setting, run_tasks
from experiments.lab.objectives import OBJECTIVES
from experiments.lab.peers import CHEAP
from experiments.lab.protocol import HALVES, Setting, half_label
from experiments.lab.spaces import domain_items
from experiments.lab.suites import half_of

SEARCHERS = (*CHEAP, "naive_pg", "pgsearcher")
OVERHEAD_POINTS = (100, 1000, 3000, 10000)
OVERHEAD_WINDOW = 50  # trials either side of each point
OVERHEAD_CAP = {"tpe": 1000, "hyperopt": 1000, "ngopt": 3000}  # slow searchers stop early
PACKAGES = ("scipy", "scikit-learn", "optuna", "hyperopt", "nevergrad")
FULL = {
    "seeds": 5,
    "settings": "32x8,100x8,100x1",
    "searchers": ",".join(SEARCHERS),
    "objectives": ",".join(OBJECTIVES),
    "overhead_trials": 10000,
    "overhead_repeats": 3,
}
QUICK = {
    "seeds": 1,
    "settings": "8x2",
    "searchers": "random,naive_pg,pgsearcher",
    "objectives": "branin,mixed_categorical",
    "overhead_trials": 100,
    "overhead_repeats": 1,
}


def run_missing(
    cache: RunCache, settings: list[Setting], objectives: list[str], searchers: list[str], seeds: int, jobs: int
) -> None:
    """Run what the cache lacks of settings x objectives x seeds x searchers (the longest first)."""
    tasks = [
        (n, o, s.key, k)
        for s in sorted(settings, key=lambda s: -s.budget)
        for o in objectives
        for k in range(seeds)
        for n in searchers
        if not cache.has(s.key, n, o, k)
    ]
    print(f"{len(tasks)} runs to do", flush=True)
    failures = fill_cache(cache, tasks, jobs)
    if failures:
        raise RuntimeError(f"{len(failures)} runs failed")


def summarize(
    cache: RunCache, settings: list[Setting], objectives: list[str], searchers: list[str], seeds: int, samples: dict
) -> dict:
    """Scores, ranks and per-objective tables for every setting (of seeds 0..seeds-1)."""
    runs = {
        (s.key, n, o): {k: r for k, r in cache.runs(s.key, n, o).items() if k < seeds}
        for s in settings
        for n in searchers
        for o in objectives
    }
    optimum = stats.optima(
        ((o, r) for (_, _, o), r in runs.items()), samples, {o: OBJECTIVES[o].optimum for o in objectives}
    )
    out: dict = {"optimum": optimum, "settings": {}}
    for setting in settings:
        cells = stats.cells_of(
            {(n, o): runs[(setting.key, n, o)] for n in searchers for o in objectives}, setting.budget, samples, optimum
        )
        scores = np.array(
            [[cells[(n, o)].scores[:, -1] for o in objectives] for n in searchers]
        )  # searcher x obj x seed
        bests = np.array([[cells[(n, o)].best[:, -1] for o in objectives] for n in searchers])
        ranks = stats.ranks(bests)
        won = stats.problems_won(
            {n: dict(zip(objectives, scores[i].mean(axis=1), strict=True)) for i, n in enumerate(searchers)}
        )
        out["settings"][setting.key] = {
            "budget": setting.budget,
            "concurrency": setting.concurrency,
            "random_expected": {o: stats.expected_best(samples[o], setting.budget) for o in objectives},
            "searchers": {
                n: {
                    "mean_score": float(scores[i].mean()),
                    "stderr": stats.mean_se(scores[i].mean(axis=0))[1],
                    "median_score": float(np.median(scores[i])),
                    "mean_rank": float(ranks[i].mean()),
                    "problems_won": won[n],
                    "ms_per_trial": 1000 * float(np.mean([cells[(n, o)].seconds for o in objectives])),
                    "per_objective": dict(zip(objectives, scores[i].mean(axis=1).tolist(), strict=True)),
                    "halves": {
                        half: stats.mean_se(scores[i][[half_of(o) == half for o in objectives]].mean(axis=0))
                        for half in HALVES
                        if any(half_of(o) == half for o in objectives)
                    },
                    "mean_curve": np.mean([cells[(n, o)].scores for o in objectives], axis=(0, 1)).tolist(),
                    "duplicates": int(sum(cells[(n, o)].duplicates.sum() for o in objectives)),
                    "off_domain": int(sum(cells[(n, o)].off_domain.sum() for o in objectives)),
                }
                for i, n in enumerate(searchers)
            },
        }
    return out


def markdown(summary: dict, seeds: int, searchers: list[str], wall: float, argv: list[str] | None) -> str:
    """The benchmark report."""
    lines = render.header("benchmark", "Searcher benchmark", argv, PACKAGES) + [
        f"Seeds: {seeds}. Wall time: {wall / 60:.1f} min. Score = 100 * (1 - (best - optimum) / "
        "(random - optimum)) per objective and seed: 100 is the optimum, 0 the expected best of "
        "uniform random search at the same budget (exact, from the cached dense random sample), "
        "negative is worse than random. `optimum` is the known minimum, else the best value ever "
        "seen. Mean score ± standard error over seeds (of the mean over objectives); rank 1 is "
        "best, ties averaged, per objective and seed; won: objectives where the searcher's mean score is the "
        "highest (ties shared). Searcher time is suggest + on_trial_complete only.",
        "",
        "## Objectives",
        "",
    ]
    lines += render.table(
        ["objective", "kind", "parameters", "optimum used", "description"],
        [
            [
                o.name,
                o.kind,
                str(len(domain_items(o.space))),
                f"{summary['optimum'][o.name]:.6g}",
                " ".join(o.description.split()),
            ]
            for o in OBJECTIVES.values()
            if o.name in summary["optimum"]
        ],
    )
    for setting in summary["settings"].values():
        res = setting["searchers"]
        where = f"budget {setting['budget']}, {setting['concurrency']} concurrent"
        lines += [f"## Budget {setting['budget']}, {setting['concurrency']} concurrent", ""]
        head = ["searcher", "mean score", "median score", "mean rank", "won", "ms / trial", "duplicate configs"]
        lines += render.table(
            head + ["off-domain configs"],
            [
                [
                    n,
                    render.pm(res[n]["mean_score"], res[n]["stderr"]),
                    f"{res[n]['median_score']:.1f}",
                    f"{res[n]['mean_rank']:.2f}",
                    f"{res[n]['problems_won']:g}",
                    f"{res[n]['ms_per_trial']:.2f}",
                    str(res[n]["duplicates"]),
                    str(res[n]["off_domain"]),
                ]
                for n in searchers
            ],
        )
        halves = [h for h in HALVES if h in res[searchers[0]]["halves"]]
        lines += [f"The development and held-out halves ({where}): mean score ± standard error over seeds.", ""]
        lines += render.table(
            ["searcher"] + [f"{half_label(h)} half" for h in halves],
            [[n] + [render.pm(*res[n]["halves"][h]) for h in halves] for n in searchers],
        )
        lines += [f"Mean score per objective ({where}):", ""]
        lines += render.table(
            ["objective"] + searchers,
            [[o] + [f"{res[n]['per_objective'][o]:.1f}" for n in searchers] for o in summary["optimum"]],
        )
    return "\n".join(lines + bar_lines(summary))


def bar_lines(summary: dict, name: str = "pgsearcher", naive: str = "naive_pg") -> list[str]:
    """Check `name` against the bar in each setting where it ran (empty if it did not).

    Budget 100: best mean score and best mean rank; budget 32: within 5 points of the best mean
    score; always: at least twice the naive PG's mean score and under 1 ms searcher time per trial.
    """
    lines = []
    for key, setting in summary["settings"].items():
        res = setting["searchers"]
        if name not in res:
            continue
        mine = res[name]
        others = [v for k, v in res.items() if k != name]
        best_score = max(v["mean_score"] for v in others)
        best_rank = min(v["mean_rank"] for v in others)
        slack = 5 if setting["budget"] < 100 else 0
        checks = [
            (
                f"mean score {mine['mean_score']:.1f} vs best other {best_score:.1f}",
                mine["mean_score"] >= best_score - slack,
            )
        ]
        if setting["budget"] >= 100:
            checks.append(
                (f"mean rank {mine['mean_rank']:.2f} vs best other {best_rank:.2f}", mine["mean_rank"] <= best_rank)
            )
        if naive in res:
            naive_score = res[naive]["mean_score"]
            checks.append((f">= 2x naive PG ({naive_score:.1f})", mine["mean_score"] >= 2 * naive_score))
        checks.append((f"{mine['ms_per_trial']:.2f} ms / trial < 1", mine["ms_per_trial"] < 1))
        lines.append(f"- {key}: " + "; ".join(f"{'PASS' if ok else 'FAIL'} {text}" for text, ok in checks))
    if not lines:
        return []
    intro = (
        "Budget 100: best mean score and rank; budget 32: within 5 points of the best mean score; all: >= 2x "
        "the naive PG, < 1 ms per trial (the per-trial growth is in overhead.md)."
    )
    return ["## Bar for " + name, "", intro, "", *lines, ""]


def plot(summary: dict, searchers: list[str], path: Path) -> None:
    """Mean score of the best so far (against random search at the same number of trials) per searcher,
    one panel per setting."""
    fig, axes = render.panels(len(summary["settings"]), 3, 5.5, 4.5)
    for ax, setting in zip(axes, summary["settings"].values(), strict=True):
        x = np.arange(1, setting["budget"] + 1)
        for name in searchers:
            ax.plot(x, setting["searchers"][name]["mean_curve"], label=name)
        title = f"budget {setting['budget']}, {setting['concurrency']} concurrent"
        render.score_axes(ax, title, "completed trials", "mean score of the best so far", low=-100)
    render.save(fig, path)


# ---------------------------------------------------------------- overhead


def _step_seconds(searcher: str, objective: str, budget: int, concurrency: int) -> list[float]:
    """The searcher seconds per completion of one seed-0 run (in a worker process)."""
    from experiments.lab.arms import make_searcher

    warnings.filterwarnings("ignore")
    setting = Setting(budget, concurrency)
    record = run_setting(make_searcher(searcher, 0, budget, concurrency), OBJECTIVES[objective], setting, 0, searcher)
    return record.step_seconds


def overhead(
    searchers: list[str],
    objectives: list[str],
    max_trials: int,
    pending: list[int],
    repeats: int,
    jobs: int,
    argv: list[str] | None,
    out: Path,
) -> None:
    """Searcher ms per trial around 100, 1,000, 3,000 and 10,000 finished trials, per objective and number
    pending: the median over ``repeats`` identical runs, so a busy moment of a shared machine does not count."""
    points = [p for p in OVERHEAD_POINTS if p <= max_trials]
    # past the last point, as many trials as are pending: until then every completion is followed by a suggestion
    budgets = {n: min(max_trials, OVERHEAD_CAP.get(n, max_trials)) + OVERHEAD_WINDOW for n in searchers}
    tasks = [(n, o, budgets[n] + c, c) for _ in range(repeats) for o in objectives for c in pending for n in searchers]
    records: dict[tuple[str, str, int], list[np.ndarray]] = {}
    failures = run_tasks(
        _step_seconds,
        tasks,
        jobs,
        lambda t, steps: records.setdefault((t[1], t[0], t[3]), []).append(np.asarray(steps)),
    )
    if failures:
        raise RuntimeError("overhead runs failed:\n" + "\n".join(failures))
    cells_by_key: dict[str, dict[int, float]] = {}
    rows = []
    for o in objectives:
        for c in pending:
            for name in searchers:
                runs = records[(o, name, c)]
                cells = {
                    p: float(1000 * np.median([s[p - OVERHEAD_WINDOW : p + OVERHEAD_WINDOW].mean() for s in runs]))
                    for p in points
                    if p + OVERHEAD_WINDOW <= min(len(s) for s in runs)
                }
                cells_by_key[f"{o}:{name}@{c}"] = cells
                ratio = f"{cells[points[-1]] / cells[points[0]]:.2f}" if points[-1] in cells else "—"
                rows.append([o, name, str(c)] + [f"{cells[p]:.3f}" if p in cells else "—" for p in points] + [ratio])
    lines = render.header("benchmark", "Searcher overhead", argv, PACKAGES) + [
        "Searcher milliseconds per trial (suggest + on_trial_complete) with the given number of trials pending, "
        f"mean over the trials {OVERHEAD_WINDOW} either side of each point, median of {repeats} identical runs "
        "(seed 0) per objective, searcher and number pending, one after another (--jobs 1 keeps runs from "
        "sharing the cores). `mixed_bowls` has five numeric parameters and one choice, `mixed_categorical` "
        "three numeric ones and five choices. — : not run that far (Optuna and HyperOpt stop at "
        "1,000 and NGOpt at 3,000 finished trials: their cost grows with the history).",
        "",
    ]
    head = ["objective", "searcher", "pending"] + [f"{p:,} trials" for p in points]
    lines += render.table(head + [f"{points[-1]:,} / {points[0]:,}"], rows)
    (out / "overhead.md").write_text("\n".join(lines))
    (out / "overhead.json").write_text(json.dumps(cells_by_key, indent=1))
    print("\n".join(lines))


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run the benchmark and/or the overhead measurement."""
    parser = cli.parser(__doc__)
    for flag, kind, help_ in (
        ("--seeds", int, "seeds 0..N-1"),
        ("--settings", str, "budget x concurrency, comma separated"),
        ("--searchers", str, "comma separated, peers or arms"),
        ("--objectives", str, "comma separated"),
        ("--overhead-trials", int, "finished trials of the overhead runs"),
        ("--overhead-repeats", int, "runs per cell of the overhead table (median)"),
    ):
        key = flag[2:].replace("-", "_")
        parser.add_argument(flag, type=kind, help=f"{help_} (default {FULL[key]}; --quick: {QUICK[key]})")
    parser.add_argument("--overhead-pending", default="8", help="trials pending in the overhead runs, e.g. 1,8,32,256")
    parser.add_argument("--overhead-objectives", default="mixed_bowls", help="objectives of the overhead runs")
    parser.add_argument("--quick", action="store_true", help="a test-sized run (the --quick defaults above)")
    cli.add_output(parser, jobs=2)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--overhead-only", action="store_true")
    group.add_argument("--no-overhead", action="store_true")
    args = parser.parse_args(argv)
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.settings = Setting.parse_list(args.settings)
    cli.resolve_output(args, "benchmark", args.quick)

    searchers, objectives = args.searchers.split(","), args.objectives.split(",")
    overhead_objectives = args.overhead_objectives.split(",")
    unknown = set(objectives + overhead_objectives) - set(OBJECTIVES) | set(searchers) - set(searcher_names())
    if unknown:
        parser.error(f"unknown objectives or searchers: {sorted(unknown)} (arms: {sorted(ARMS)})")
    start = time.time()
    if not args.overhead_only:
        cache = RunCache(args.cache)
        samples = random_samples(objectives, args.cache, args.jobs)
        run_missing(cache, args.settings, objectives, searchers, args.seeds, args.jobs)
        summary = summarize(cache, args.settings, objectives, searchers, args.seeds, samples)
        (args.out / "benchmark.md").write_text(markdown(summary, args.seeds, searchers, time.time() - start, argv))
        (args.out / "benchmark.json").write_text(json.dumps({"summary": summary}))
        plot(summary, searchers, args.out / "benchmark.png")
        print((args.out / "benchmark.md").read_text())
    if not args.no_overhead:
        pending = [int(c) for c in args.overhead_pending.split(",")]
        overhead(
            searchers,
            overhead_objectives,
            args.overhead_trials,
            pending,
            args.overhead_repeats,
            args.jobs,
            argv,
            args.out,
        )


if __name__ == "__main__":
    main()
