"""Side-by-side benchmark of Ray Tune searchers: `python -m experiments.benchmark --help`.

Writes benchmark.md / .json / .png (scores at each budget x concurrency setting) and
overhead.md / .json (searcher seconds per trial as the number of finished trials grows).
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import shlex
import sys
import warnings
import zlib
from concurrent.futures import ProcessPoolExecutor
from importlib import metadata
from pathlib import Path

import numpy as np
from scipy.stats import rankdata

from experiments.lab.driver import SEARCHERS, RunRecord, expected_best, make_searcher, random_values, run_search
from experiments.lab.objectives import OBJECTIVES
from experiments.lab.spaces import domain_items

Setting = tuple[int, int]  # (budget, concurrency)
OVERHEAD_POINTS = (100, 1000, 3000, 10000)
OVERHEAD_WINDOW = 50  # trials either side of each point
OVERHEAD_CAP = {"tpe": 1000, "hyperopt": 1000, "ngopt": 3000}  # slow searchers stop early
RANDOM_SAMPLE = {"model": 1500, "synthetic": 5000, "mixed": 5000}
PACKAGES = ("ray", "numpy", "scipy", "scikit-learn", "optuna", "hyperopt", "nevergrad")


def parse_settings(text: str) -> list[Setting]:
    """Parse "32x8,100x1" into [(32, 8), (100, 1)]."""
    return [tuple(int(v) for v in item.split("x")) for item in text.split(",")]


def order_seed(seed: int, objective: str, setting: Setting) -> int:
    """The completion-order seed of a run: the same for every searcher."""
    return int(np.random.SeedSequence([seed, zlib.crc32(objective.encode()), *setting]).generate_state(1)[0])


def _run_task(searcher: str, objective: str, seed: int, budget: int, concurrency: int) -> RunRecord:
    """One run in a worker process (warnings silenced)."""
    warnings.filterwarnings("ignore")
    return run_search(
        make_searcher(searcher, seed, budget, concurrency),
        OBJECTIVES[objective],
        budget,
        concurrency,
        order_seed(seed, objective, (budget, concurrency)),
        name=searcher,
        seed=seed,
    )


def _random_task(objective: str, cache_dir: str) -> np.ndarray:
    """The cached dense random sample of one objective (computed in a worker process)."""
    warnings.filterwarnings("ignore")
    obj = OBJECTIVES[objective]
    return random_values(obj, RANDOM_SAMPLE[obj.kind], Path(cache_dir))


def run_json(record: RunRecord) -> dict:
    """A run for benchmark.json: its values (7 significant digits) and counters, no curves."""
    skip = {"curve", "values", "step_seconds"}
    return {
        **{k: v for k, v in vars(record).items() if k not in skip},
        "best": record.best,
        "ms_per_trial": 1000 * record.seconds_per_trial,
        "values": [float(f"{v:.7g}") for v in record.values],
    }


def available_searchers(names: list[str]) -> list[str]:
    """Drop PGSearcher, with a warning, while `ray_pgsearch` does not provide it yet."""
    if "pgsearcher" in names:
        try:
            from ray_pgsearch import PGSearcher  # noqa: F401
        except ImportError as err:
            print(f"WARNING: skipping pgsearcher ({err})", file=sys.stderr)
            names = [n for n in names if n != "pgsearcher"]
    return names


def run_all(pool: ProcessPoolExecutor, tasks: list[tuple]) -> list[RunRecord]:
    """Run (searcher, objective, seed, budget, concurrency) tasks, the longest first."""
    order = sorted(tasks, key=lambda t: -t[3])
    futures = [pool.submit(_run_task, *task) for task in order]
    records = []
    for i, future in enumerate(futures, 1):
        records.append(future.result())
        if i % 50 == 0 or i == len(futures):
            print(f"  {i}/{len(futures)} runs", file=sys.stderr, flush=True)
    return records


# ---------------------------------------------------------------- scoring


def score(best: float | np.ndarray, random_best: float, optimum: float) -> float | np.ndarray:
    """100 * (1 - (best - optimum) / (random - optimum)): 100 optimum, 0 random search."""
    return 100.0 * (1.0 - (best - optimum) / (random_best - optimum))


def summarize(
    records: list[RunRecord], samples: dict[str, np.ndarray], settings: list[Setting], searchers: list[str]
) -> dict:
    """Scores, ranks and per-objective tables for every setting."""
    optimum = {}
    for name, values in samples.items():
        seen = min([float(values.min())] + [r.best for r in records if r.objective == name])
        known = OBJECTIVES[name].optimum
        optimum[name] = min(known, seen) if known is not None else seen
    by_key = {(r.searcher, r.objective, r.seed, r.budget, r.concurrency): r for r in records}
    objectives = list(samples)
    seeds = sorted({r.seed for r in records})
    out: dict = {"optimum": optimum, "settings": {}}
    for budget, concurrency in settings:
        rand = {o: expected_best(samples[o], budget) for o in objectives}
        scores = np.full((len(searchers), len(objectives), len(seeds)), np.nan)
        ranks = np.full_like(scores, np.nan)
        curves = np.zeros((len(searchers), budget))
        ms = np.zeros(len(searchers))
        for j, o in enumerate(objectives):
            for k, s in enumerate(seeds):
                runs = [by_key[(name, o, s, budget, concurrency)] for name in searchers]
                ranks[:, j, k] = rankdata([r.best for r in runs])
                scores[:, j, k] = [score(r.best, rand[o], optimum[o]) for r in runs]
                for i, r in enumerate(runs):
                    curves[i] += score(np.asarray(r.curve), rand[o], optimum[o])
                    ms[i] += 1000 * r.seconds_per_trial
        n = len(objectives) * len(seeds)
        per_seed = scores.mean(axis=1)  # searcher x seed
        out["settings"][f"{budget}x{concurrency}"] = {
            "budget": budget,
            "concurrency": concurrency,
            "random_expected": rand,
            "searchers": {
                name: {
                    "mean_score": float(scores[i].mean()),
                    "stderr": float(per_seed[i].std(ddof=1) / np.sqrt(len(seeds))) if len(seeds) > 1 else 0.0,
                    "median_score": float(np.median(scores[i])),
                    "mean_rank": float(ranks[i].mean()),
                    "ms_per_trial": float(ms[i] / n),
                    "per_objective": dict(zip(objectives, scores[i].mean(axis=1).tolist(), strict=False)),
                    "mean_curve": (curves[i] / n).tolist(),
                    "duplicates": int(
                        sum(by_key[(name, o, s, budget, concurrency)].duplicates for o in objectives for s in seeds)
                    ),
                    "off_domain": int(
                        sum(by_key[(name, o, s, budget, concurrency)].off_domain for o in objectives for s in seeds)
                    ),
                }
                for i, name in enumerate(searchers)
            },
        }
    return out


# ---------------------------------------------------------------- reporting


def header(title: str) -> list[str]:
    """Title, the exact command, the date and the package versions."""
    versions = ", ".join(f"{p} {metadata.version(p)}" for p in PACKAGES)
    command = "python -m experiments.benchmark " + shlex.join(sys.argv[1:])
    return [
        f"# {title}",
        "",
        f"Command: `{command}`",
        "",
        f"Date: {datetime.datetime.now().isoformat(timespec='seconds')}; "
        f"Python {platform.python_version()}; {versions}.",
        "",
    ]


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    """A markdown table."""
    return (
        ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        + ["| " + " | ".join(row) + " |" for row in rows]
        + [""]
    )


def markdown(summary: dict, seeds: int, searchers: list[str], wall: float) -> str:
    """The benchmark report."""
    lines = header("Searcher benchmark") + [
        f"Seeds: {seeds}. Wall time: {wall / 60:.1f} min. Score = 100 * (1 - (best - optimum) / "
        "(random - optimum)) per objective and seed: 100 is the optimum, 0 the expected best of "
        "uniform random search at the same budget (exact, from the cached dense random sample), "
        "negative is worse than random. `optimum` is the known minimum, else the best value ever "
        "seen. Mean score ± standard error over seeds (of the mean over objectives); rank 1 is "
        "best, ties averaged, per objective and seed. Searcher time is suggest + "
        "on_trial_complete only.",
        "",
        "## Objectives",
        "",
    ]
    lines += _table(
        ["objective", "kind", "parameters", "optimum used", "description"],
        [
            [
                o.name,
                o.kind,
                str(len(domain_items(o.space))),
                f"{summary['optimum'][o.name]:.6g}",
                o.description.replace("\n", " "),
            ]
            for o in OBJECTIVES.values()
            if o.name in summary["optimum"]
        ],
    )
    for _key, setting in summary["settings"].items():
        res = setting["searchers"]
        lines += [f"## Budget {setting['budget']}, {setting['concurrency']} concurrent", ""]
        lines += _table(
            [
                "searcher",
                "mean score",
                "median score",
                "mean rank",
                "ms / trial",
                "duplicate configs",
                "off-domain configs",
            ],
            [
                [
                    n,
                    f"{res[n]['mean_score']:.1f} ± {res[n]['stderr']:.1f}",
                    f"{res[n]['median_score']:.1f}",
                    f"{res[n]['mean_rank']:.2f}",
                    f"{res[n]['ms_per_trial']:.2f}",
                    str(res[n]["duplicates"]),
                    str(res[n]["off_domain"]),
                ]
                for n in searchers
            ],
        )
        lines += [f"Mean score per objective (budget {setting['budget']}, {setting['concurrency']} concurrent):", ""]
        lines += _table(
            ["objective"] + searchers,
            [[o] + [f"{res[n]['per_objective'][o]:.1f}" for n in searchers] for o in summary["optimum"]],
        )
    return "\n".join(lines + bar_lines(summary))


def bar_lines(summary: dict, name: str = "pgsearcher", naive: str = "naive_pg") -> list[str]:
    """Check `name` against the issue's bar in each setting where it ran (empty if it did not).

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
        checks = [
            (
                f"mean score {mine['mean_score']:.1f} vs best other {best_score:.1f}",
                mine["mean_score"] >= best_score - (5 if setting["budget"] < 100 else 0),
            )
        ]
        if setting["budget"] >= 100:
            checks.append(
                (f"mean rank {mine['mean_rank']:.2f} vs best other {best_rank:.2f}", mine["mean_rank"] <= best_rank)
            )
        if naive in res:
            checks.append(
                (f">= 2x naive PG ({res[naive]['mean_score']:.1f})", mine["mean_score"] >= 2 * res[naive]["mean_score"])
            )
        checks.append((f"{mine['ms_per_trial']:.2f} ms / trial < 1", mine["ms_per_trial"] < 1))
        lines.append(f"- {key}: " + "; ".join(f"{'PASS' if ok else 'FAIL'} {text}" for text, ok in checks))
    return (
        (
            [
                "## Bar for " + name,
                "",
                "Budget 100: best mean score and rank; budget 32: within "
                "5 points of the best mean score; all: >= 2x the naive PG, < 1 ms per trial "
                "(the per-trial growth is in overhead.md).",
                "",
            ]
            + lines
            + [""]
        )
        if lines
        else []
    )


def plot(summary: dict, samples: dict[str, np.ndarray], searchers: list[str], path: Path) -> None:
    """Mean score-so-far curves per searcher, one panel per setting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    settings = summary["settings"]
    fig, axes = plt.subplots(1, len(settings), figsize=(5.5 * len(settings), 4.5), squeeze=False)
    for ax, setting in zip(axes[0], settings.values(), strict=False):
        budget = setting["budget"]
        x = np.arange(1, budget + 1)
        for name in searchers:
            ax.plot(x, setting["searchers"][name]["mean_curve"], label=name)
        rand = np.mean(
            [
                score(np.array([expected_best(v, t) for t in x]), setting["random_expected"][o], summary["optimum"][o])
                for o, v in samples.items()
            ],
            axis=0,
        )
        ax.plot(x, rand, "k--", lw=1, label="expected random")
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_ylim(-100, 100)
        ax.set_title(f"budget {budget}, {setting['concurrency']} concurrent")
        ax.set_xlabel("completed trials")
        ax.set_ylabel("mean score of best so far (vs random at full budget)")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------- overhead


def overhead(
    pool: ProcessPoolExecutor,
    searchers: list[str],
    objectives: list[str],
    max_trials: int,
    pending: list[int],
    repeats: int,
    out: Path,
) -> None:
    """Searcher ms per trial around 100, 1,000, 3,000 and 10,000 finished trials, per objective and number
    pending: the median over ``repeats`` identical runs, so a busy moment of a shared machine does not count."""
    points = [p for p in OVERHEAD_POINTS if p <= max_trials]
    # past the last point, as many trials as are pending: until then every completion is followed by a suggestion
    budgets = {n: min(max_trials, OVERHEAD_CAP.get(n, max_trials)) + OVERHEAD_WINDOW for n in searchers}
    tasks = [
        (n, o, 0, budgets[n] + c, c) for _ in range(repeats) for o in objectives for c in pending for n in searchers
    ]
    records: dict[tuple[str, str, int], list[np.ndarray]] = {}
    for r in run_all(pool, tasks):
        records.setdefault((r.objective, r.searcher, r.concurrency), []).append(np.asarray(r.step_seconds))
    table: dict[str, dict[int, float]] = {}
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
                table[f"{o}:{name}@{c}"] = cells
                ratio = f"{cells[points[-1]] / cells[points[0]]:.2f}" if points[-1] in cells else "—"
                rows.append([o, name, str(c)] + [f"{cells[p]:.3f}" if p in cells else "—" for p in points] + [ratio])
    lines = header("Searcher overhead") + [
        "Searcher milliseconds per trial (suggest + on_trial_complete) with the given number of trials pending, "
        f"mean over the trials {OVERHEAD_WINDOW} either side of each point, median of {repeats} identical runs "
        "(seed 0) per objective, searcher and number pending, one after another (--jobs 1 keeps runs from "
        "sharing the cores). `mixed_bowls` has five numeric parameters and one choice, `mixed_categorical` "
        "three numeric ones and five choices. — : not run that far (Optuna and HyperOpt stop at "
        "1,000 and NGOpt at 3,000 finished trials: their cost grows with the history).",
        "",
    ]
    head = ["objective", "searcher", "pending"] + [f"{p:,} trials" for p in points]
    lines += _table(head + [f"{points[-1]:,} / {points[0]:,}"], rows)
    (out / "overhead.md").write_text("\n".join(lines))
    (out / "overhead.json").write_text(json.dumps(table, indent=1))
    print("\n".join(lines))


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run the benchmark and/or the overhead measurement."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument(
        "--settings",
        type=parse_settings,
        default=parse_settings("32x8,100x8,100x1"),
        help="budget x concurrency, comma separated",
    )
    parser.add_argument("--searchers", default=",".join(SEARCHERS))
    parser.add_argument("--objectives", default=",".join(OBJECTIVES))
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("experiments/results"))
    parser.add_argument("--overhead-trials", type=int, default=10000)
    parser.add_argument("--overhead-pending", default="8", help="trials pending in the overhead runs, e.g. 1,8,32,256")
    parser.add_argument("--overhead-repeats", type=int, default=3, help="runs per cell of the overhead table (median)")
    parser.add_argument("--overhead-objectives", default="mixed_bowls", help="objectives of the overhead runs")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--overhead-only", action="store_true")
    group.add_argument("--no-overhead", action="store_true")
    args = parser.parse_args(argv)

    searchers = available_searchers(args.searchers.split(","))
    objectives = args.objectives.split(",")
    overhead_objectives = args.overhead_objectives.split(",")
    unknown = set(objectives + overhead_objectives) - set(OBJECTIVES) | set(searchers) - set(SEARCHERS)
    if unknown:
        parser.error(f"unknown objectives or searchers: {sorted(unknown)}")
    args.out.mkdir(parents=True, exist_ok=True)
    start = datetime.datetime.now()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        if not args.overhead_only:
            cache = str(args.out / "cache")
            samples = dict(zip(objectives, pool.map(_random_task, objectives, [cache] * len(objectives)), strict=False))
            tasks = [
                (n, o, s, b, c)
                for b, c in args.settings
                for o in objectives
                for s in range(args.seeds)
                for n in searchers
            ]
            records = run_all(pool, tasks)
            summary = summarize(records, samples, args.settings, searchers)
            wall = (datetime.datetime.now() - start).total_seconds()
            (args.out / "benchmark.md").write_text(markdown(summary, args.seeds, searchers, wall))
            (args.out / "benchmark.json").write_text(
                json.dumps({"summary": summary, "runs": [run_json(r) for r in records]})
            )
            plot(summary, samples, searchers, args.out / "benchmark.png")
            print((args.out / "benchmark.md").read_text())
        if not args.no_overhead:
            pending = [int(c) for c in args.overhead_pending.split(",")]
            overhead(
                pool, searchers, overhead_objectives, args.overhead_trials, pending, args.overhead_repeats, args.out
            )


if __name__ == "__main__":
    main()
