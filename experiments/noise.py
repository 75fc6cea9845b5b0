"""Searchers on the noisy suite (`experiments.lab.suites.noisy`): the true value of the config each would
return when every result it sees is one noisy draw, and whether a search fed pure noise goes on sampling its
whole space.

    python -m experiments.noise --jobs 2             # every stage of PLAN (what is cached is reused), then the report
    python -m experiments.noise --report-only        # re-score the committed runs (seconds)
    python -m experiments.noise --quick              # the smoke run (seconds)

A noisy objective's every evaluation reaches the searcher with Gaussian noise of 5% of the objective's
spread (`experiments.lab.driver.Driver.evaluate`); the run keeps the true values beside. **returned @n**:
the score (100 the optimum, 0 random search's expected best true value after n draws, `stats.score`) of the
true value of the config with the best observed value among the first n to complete, the config a user
takes from Tune's ``get_best_result``. **best evaluated @n**: the score of the best true value among them
(what a searcher that knew the noise would return). Their gap is what the noise costs at the pick.

Pure noise: the objectives `pure_noise_int` (dev: ``tune.randint(-9, 15)``, a float and a 4-way choice,
Ray's sampling test's integer domain) and `pure_noise_mixed` (held out: ``tune.randint(1, 9)`` with a
log-uniform float, a 5-way choice and a quantized float) return standard normal noise for 1,000 trials;
**values sampled** counts the distinct values of the integer parameter among asks 501-1,000, where a search
that learned nothing true should still cover its whole domain.

Runs are cached (``experiments/results/runs/noise/<setting>/<searcher>.jsonl.gz``, committed) and reused.
Writes noise.md and noise.json to ``experiments/results/noise/``.
"""

from __future__ import annotations

import dataclasses
import json
import time
import warnings

import numpy as np

from experiments.external import Stage, run_plan
from experiments.lab import cli, render, stats
from experiments.lab.arms import make_searcher, searcher_names
from experiments.lab.cache import RunCache
from experiments.lab.driver import execute, random_samples, run_setting
from experiments.lab.protocol import HALVES, Setting, half_label
from experiments.lab.suites import SUITES, get_objective, half_of
from experiments.lab.suites import noisy as suite

RESULTS = cli.RESULTS / "noise"
CACHE = cli.RESULTS / "runs" / "noise"
PACKAGES = ("scipy", "optuna")
ARMS = ("pgsearcher", "pgsearcher_noise1", "pgsearcher_entropy0.05", "pgsearcher_entropy0.1")
SEARCHERS = ("random", "tpe", *ARMS)
NOISY = ",".join(n for n in SUITES["noisy"].names if n not in suite.PURE_NOISE)
PURE = ",".join(suite.PURE_NOISE)
LATE = 500  # asks after which a pure noise run's coverage counts

PLAN = (
    Stage(SEARCHERS, NOISY, "100x8,100x1", 20),
    Stage(("random", *ARMS), PURE, "1000x1,1000x8", 8),
    Stage(("tpe",), PURE, "1000x1,1000x8", 2),
)
QUICK = (
    Stage(("random", "pgsearcher"), "noisy_branin", "12x4", 2),
    Stage(("random", "pgsearcher"), "pure_noise_int", "24x4", 1),
)


# ---------------------------------------------------------------- runs


def coverage_run(searcher: str, objective: str, setting: str, seed: int) -> dict:
    """One run on a pure noise objective, keeping the value of its integer parameter (the space's first) at
    every ask, in ask order."""
    warnings.filterwarnings("ignore")
    parsed, base = Setting.parse(setting), get_objective(objective)
    key, asked = next(iter(base.space)), []

    def watched(config: dict) -> float:
        asked.append(int(config[key]))
        return base.fn(config)

    record = run_setting(
        make_searcher(searcher, seed, parsed.budget, parsed.concurrency),
        dataclasses.replace(base, fn=watched),
        parsed,
        seed,
        searcher,
    )
    return {"searcher": searcher, "objective": objective, "seed": seed, "asked": asked, "values": record.values}


def run(searcher: str, objective: str, setting: str, seed: int) -> dict:
    """A cached run: `coverage_run` for pure noise, else the lab's `execute` (which keeps the true values)."""
    return (coverage_run if objective in suite.PURE_NOISE else execute)(searcher, objective, setting, seed)


# ---------------------------------------------------------------- scoring


def returned(values: list, truths: list, n: int) -> tuple[float, float]:
    """The true value of the best observed config among the first n, and the best true value among them."""
    observed = np.asarray(values[:n], dtype=float)
    true = np.asarray(truths[:n], dtype=float)
    return float(true[np.nanargmin(observed)]), float(np.nanmin(true))


def domain_size(objective: str) -> int:
    """How many values the pure noise objective's integer parameter takes."""
    domain = next(iter(suite.PURE_NOISE[objective].values()))
    return int(domain.upper - domain.lower)


def score_cache(cache: RunCache) -> dict:
    """Every cached (setting, searcher, objective) cell: per seed the returned and best evaluated scores at the
    setting's points, or the pure noise coverage."""
    used = {o for s in cache.groups() for n in cache.searchers(s) for o, _ in cache.every_run(s, n)}
    samples = random_samples([o for o in NOISY.split(",") if o in used], cache.root)
    cells: dict[str, dict] = {}
    for s in cache.groups():
        budget = Setting.parse(s).budget
        points = sorted({min(50, budget), budget})
        for name in cache.searchers(s):
            for (o, seed), r in cache.every_run(s, name).items():
                cell = cells.setdefault(
                    f"{s}|{name}|{o}", {"setting": s, "searcher": name, "objective": o, "seeds": {}}
                )
                if o in suite.PURE_NOISE:
                    late = set(r["asked"][LATE:]) if len(r["asked"]) > LATE else set()
                    cell["seeds"][seed] = {"late": len(late), "all": len(set(r["asked"])), "size": domain_size(o)}
                    continue
                optimum = stats.optimum_of(get_objective(o).optimum, samples[o])
                row = {"seconds": r["seconds"] / len(r["values"])}
                for n in points:
                    pick, best = returned(r["values"], r["truths"], n)
                    rand = stats.expected_best(samples[o], n)
                    row[f"returned@{n}"] = stats.score(pick, rand, optimum)
                    row[f"best@{n}"] = stats.score(best, rand, optimum)
                    row[f"value@{n}"] = pick
                cell["seeds"][seed] = row
    return {
        "cells": cells,
        "settings": sorted(
            {c["setting"] for c in cells.values()},
            key=lambda k: (Setting.parse(k).budget, Setting.parse(k).concurrency),
        ),
    }


def per_seed(summary: dict, setting: str, searcher: str, objective: str, key: str) -> dict[int, float]:
    cell = summary["cells"].get(f"{setting}|{searcher}|{objective}")
    return {} if cell is None else {seed: row[key] for seed, row in cell["seeds"].items()}


def half_mean(summary: dict, setting: str, searcher: str, half: str, key: str) -> tuple[float, float, int]:
    """The mean over the half's noisy objectives of the mean over seeds, its pooled s.e., and the fewest seeds."""
    names = [o for o in NOISY.split(",") if half_of(o) == half]
    found = [per_seed(summary, setting, searcher, o, key) for o in names]
    if not all(found):
        return float("nan"), float("nan"), 0
    m, se = stats.pooled(stats.mean_se(v.values()) for v in found)
    return m, se, min(len(v) for v in found)


def paired_half(summary: dict, setting: str, a: str, b: str, half: str, key: str) -> tuple[float, float]:
    """b - a paired by seed, pooled over the half's noisy objectives."""
    names = [o for o in NOISY.split(",") if half_of(o) == half]
    diffs = [stats.paired(per_seed(summary, setting, a, o, key), per_seed(summary, setting, b, o, key)) for o in names]
    return stats.pooled((d["mean"], d["stderr"]) for d in diffs if d["seeds"])


# ---------------------------------------------------------------- report


def noisy_tables(summary: dict, setting: str) -> list[str]:
    budget = Setting.parse(setting).budget
    early = min(50, budget)
    names = [n for n in searcher_names() if any(k.startswith(f"{setting}|{n}|") for k in summary["cells"])]
    rows = []
    for half in HALVES:
        for n in names:
            r_early, r_end, best = (
                half_mean(summary, setting, n, half, k)
                for k in (f"returned@{early}", f"returned@{budget}", f"best@{budget}")
            )
            if not r_end[2]:
                continue
            secs = np.mean(
                [
                    row["seconds"]
                    for k, c in summary["cells"].items()
                    if k.startswith(f"{setting}|{n}|")
                    for row in c["seeds"].values()
                    if "seconds" in row
                ]
            )
            delta = (
                ""
                if n == "pgsearcher"
                else render.pm(*paired_half(summary, setting, "pgsearcher", n, half, f"returned@{budget}"), signed=True)
            )
            rows.append(
                [
                    n,
                    half_label(half),
                    str(r_end[2]),
                    render.pm(*r_early[:2]),
                    render.pm(*r_end[:2]),
                    render.pm(*best[:2]),
                    delta,
                    f"{1000 * secs:.2g}",
                ]
            )
    lines = render.table(
        [
            "searcher",
            "half",
            "seeds",
            f"returned @{early}",
            f"returned @{budget}",
            f"best evaluated @{budget}",
            f"Δ returned @{budget} vs pgsearcher",
            "ms / trial",
        ],
        rows,
    )
    rows = []
    for o in NOISY.split(","):
        values = {n: per_seed(summary, setting, n, o, f"value@{budget}") for n in names}
        if not any(values.values()):
            continue
        rows.append(
            [o, half_label(half_of(o)), f"{get_objective(o).noise:.3g}"]
            + [render.mean_sd(v.values()) if v else "" for v in values.values()]
        )
    lines += [
        f"True value of the returned config after {budget} trials, per objective "
        "(mean ± sd over seeds; lower is better):",
        "",
    ]
    return lines + render.table(["objective", "half", "noise sd", *names], rows)


def coverage_table(summary: dict) -> tuple[list[str], dict]:
    rows, verdict = [], {}
    for _, cell in sorted(summary["cells"].items()):
        if cell["objective"] not in suite.PURE_NOISE or Setting.parse(cell["setting"]).budget <= LATE:
            continue
        seeds = cell["seeds"].values()
        late = [r["late"] for r in seeds]
        size = next(iter(seeds))["size"]
        full = sum(v == size for v in late)
        if cell["searcher"] == "pgsearcher":
            verdict[f"{cell['objective']} {cell['setting']}"] = full == len(late)
        rows.append(
            [
                cell["objective"],
                half_label(half_of(cell["objective"])),
                cell["setting"],
                cell["searcher"],
                str(len(late)),
                f"{np.mean(late):.1f} of {size}",
                str(min(late)),
                f"{full} of {len(late)}",
            ]
        )
    head = [
        "objective",
        "half",
        "setting",
        "searcher",
        "seeds",
        "values sampled in asks 501-1,000",
        "fewest",
        "runs that sampled every value",
    ]
    return render.table(head, rows), verdict


def markdown(summary: dict, argv: list[str] | None, wall: float | None) -> str:
    lines = render.header("noise", "Noisy results: what a searcher returns, and pure noise", argv, PACKAGES)
    lines += [f"Code measured: ray_pgsearch at {render.code_version()}.", ""]
    if wall is not None:
        lines += [f"Wall time of this command: {wall / 60:.1f} min.", ""]
    lines += [(__doc__ or "").split("\n\n")[2].replace("\n", " "), "", "## The suite", ""]
    rows = [[o, half_label(half_of(o)), get_objective(o).description] for o in SUITES["noisy"].names]
    lines += render.table(["objective", "half", "what"], rows)
    for s in summary["settings"]:
        if any(c["setting"] == s and c["objective"] not in suite.PURE_NOISE for c in summary["cells"].values()):
            lines += [f"## {Setting.parse(s).title} ({s})", ""] + noisy_tables(summary, s)
    table, verdict = coverage_table(summary)
    lines += ["## Pure noise for 1,000 trials", "", (__doc__ or "").split("\n\n")[3].replace("\n", " "), ""] + table
    summary["coverage"] = verdict
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Run what the cache lacks of the plan (or the smoke plan), then score and report."""
    start = time.time()
    done = run_plan(__doc__, argv, (PLAN, QUICK), ("noise", RESULTS, CACHE), "seconds", run)
    if done is None:
        return
    args, cache, tasks = done
    summary = score_cache(cache)
    text = markdown(summary, argv, time.time() - start if tasks else None)
    (args.out / "noise.md").write_text(text + "\n")
    (args.out / "noise.json").write_text(json.dumps(summary, default=float) + "\n")
    print(text)


if __name__ == "__main__":
    main()
