"""Searchers on the crash suite (`experiments.lab.suites.crash`): how many trials crash, and how good the
best value is, through the lab's in-process driver; and the failure model's strength swept on the
development half.

    python -m experiments.crash --jobs 2                       # every stage of PLAN, then the report
    python -m experiments.crash --report-only                  # re-score the committed runs (seconds)
    python -m experiments.crash --quick                        # the smoke run (seconds)

A crash is told as Tune tells it (`experiments.lab.driver.Driver.complete`): a trial that raised (out of
memory, a lost node, a numerical error) completes with ``on_trial_complete(trial_id, None, error=True)``;
a diverged one reports its NaN metric. PGSearcher learns from both (its failure model); Ray's
`OptunaSearch` marks a raised trial FAIL (TPE ignores it) and cannot tell Optuna a NaN, so that trial stays
RUNNING, which Optuna 5's constant liar counts as a bad result from then on; `HEBOSearch` observes
neither; random search ignores everything.

Scores: a crash counts as the worst finite value of the objective's dense random sample, in the runs and
in that sample alike, so the score (100 the optimum, 0 random search's expected best at the same number
of trials, crashes included) measures what a searcher found among the trials that finished. Crashes are
counted after each trial; a lost node (a crash the config did not cause, `crash.LOST_NODE_RATE`) is
counted with the others and apart. Where a crash happened is told by its ask index (`startup`): the
startup (PGSearcher's and TPE's first `STARTUP` draws, or the first C asks of C in flight, which no
result can steer), the rest of the first half, the second half.

Runs are cached (``experiments/results/runs/crash/<setting>/<searcher>.jsonl.gz``, committed) and reused:
the command runs only what is missing. Writes crash.md, crash.json and crash.png to
``experiments/results/crash/``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from experiments.external import Stage, run_plan
from experiments.lab import cli, render, stats
from experiments.lab.arms import searcher_names
from experiments.lab.cache import RunCache
from experiments.lab.driver import random_samples
from experiments.lab.protocol import DEV, HALVES, HELD_OUT, Setting, half_label
from experiments.lab.suites import SUITES, get_objective
from experiments.lab.suites import crash as suite

RESULTS = cli.RESULTS / "crash"
CACHE = cli.RESULTS / "runs" / "crash"
STARTUP = 10  # asks: PGSearcher's Latin-hypercube draws and Optuna TPE's random startup trials
PEERS = ("random", "tpe", "hebo")
STRENGTHS = {"pgsearcher_fail0": 0.0, "pgsearcher_fail3": 3.0, "pgsearcher": 10.0, "pgsearcher_fail30": 30.0}
SWEEP = tuple(STRENGTHS)
WIDE = "100x8,320x32"
CHECK = "100x4"  # the check: 4 in flight on the held-out half, against TPE
PACKAGES = ("scipy", "optuna", "hebo", "torch")

# The strength sweep with the peers on the development half at 8 and 32 in flight; the default and the
# peers on the held-out half; the check at 4 in flight on both halves (the held-out half decides it, the
# development half shows the sweep there too); HEBO (seconds per trial) on few seeds.
PLAN = (
    Stage(("random", "tpe") + SWEEP, "crash:dev", WIDE, 32),
    Stage(("random", "tpe", "pgsearcher"), "crash:held_out", WIDE, 32),
    Stage(("random", "tpe", "pgsearcher"), "crash:held_out", CHECK, 32),
    Stage(("random", "tpe") + SWEEP, "crash:dev", CHECK, 32),
    Stage(("hebo",), "crash", "100x8", 2),
    Stage(("hebo",), "crash", "320x32", 1),
)
QUICK = (Stage(("random", "tpe", "pgsearcher", "pgsearcher_fail0"), "crash_oom_mlp,crash_edge_curved5", "12x4", 2),)


def points(setting: Setting) -> list[int]:
    """The trials at which a setting is reported: after min(100, half the budget) and at the budget."""
    return sorted({min(100, setting.budget // 2), setting.budget})


# ---------------------------------------------------------------- one run


def crashes_of(run: Mapping) -> list[tuple[int, int, str]]:
    """A cached run's crashes: (completion index, ask index, kind)."""
    return [tuple(c) for c in run.get("crashes", [])]


def crash_count(run: Mapping, point: int, lost: bool = True) -> int:
    """Crashed trials among a run's first `point` completions (lost nodes too unless `lost` is False)."""
    return sum(1 for done, _, kind in crashes_of(run) if done < point and (lost or kind != "lost"))


def filled(values: Sequence[float | None], worst: float) -> np.ndarray:
    """Values with every crash (None or NaN) replaced by `worst`."""
    v = np.array([np.nan if x is None else x for x in values], dtype=float)
    return np.where(np.isfinite(v), v, worst)


def startup(setting: Setting) -> int:
    """The asks no result can steer: the startup draws, or the first C asks with C in flight."""
    return max(STARTUP, setting.concurrency)


def phase_of(ask: int, setting: Setting) -> str:
    """Where an ask falls: the startup, the rest of the first half, the second half."""
    return "startup" if ask < startup(setting) else "first half" if ask < setting.budget // 2 else "second half"


# ---------------------------------------------------------------- scoring


def score_cache(cache: RunCache, jobs: int = 1) -> dict:
    """Every cached (setting, searcher, objective) cell scored: crashes, best values and scores at the
    setting's points, seconds per trial, crashes by phase and kind; and the objectives' random samples'
    crash rates."""
    settings = sorted(cache.groups(), key=lambda key: (Setting.parse(key).budget, Setting.parse(key).concurrency))
    runs: dict[tuple[str, str, str], dict[int, dict]] = {}
    for s in settings:
        for name in cache.searchers(s):
            for (o, seed), run in cache.every_run(s, name).items():
                runs.setdefault((s, name, o), {})[seed] = run
    used = [o for o in SUITES["crash"].names if any(key[2] == o for key in runs)]
    samples = random_samples(used, cache.root, jobs)
    worst = {o: float(np.nanmax(samples[o])) for o in used}
    filled_samples = {o: filled(list(samples[o]), worst[o]) for o in used}
    seen = {o: [float(np.nanmin(samples[o]))] for o in used}
    for (_, _, o), by_seed in runs.items():
        seen[o] += [min((v for v in r["values"] if v is not None), default=worst[o]) for r in by_seed.values()]
    optimum = {o: stats.optimum_of(get_objective(o).optimum, seen[o]) for o in used}
    out: dict = {
        "objectives": {
            o: {
                "half": DEV if o in SUITES["crash"].dev else HELD_OUT,
                "random_crash_rate": float(np.mean(~np.isfinite(samples[o]))),
                "sample": len(samples[o]),
                "worst": worst[o],
                "optimum": optimum[o],
                "lost_nodes": o in suite.FLAKY,
            }
            for o in used
        },
        "cells": {},
    }
    for (s, name, o), by_seed in sorted(runs.items()):
        setting = Setting.parse(s)
        seeds = sorted(by_seed)
        scored = {k: dict(by_seed[k], values=list(filled(by_seed[k]["values"], worst[o]))) for k in seeds}
        cell = stats.Cell.of(
            scored, setting.budget, stats.expected_best_curve(filled_samples[o], setting.budget), optimum[o]
        )
        cell_out: dict = {"seeds": seeds, "seconds_per_trial": cell.seconds.tolist(), "at": {}}
        for point in points(setting):
            cell_out["at"][str(point)] = {
                "crashes": [crash_count(by_seed[k], point) for k in seeds],
                "config_crashes": [crash_count(by_seed[k], point, lost=False) for k in seeds],
                "best": cell.best[:, point - 1].tolist(),
                "score": cell.scores[:, point - 1].tolist(),
            }
        phases: dict[str, int] = {}
        kinds: dict[str, int] = {}
        for k in seeds:
            for _, ask, kind in crashes_of(by_seed[k]):
                kinds[kind] = kinds.get(kind, 0) + 1
                if kind != "lost":
                    phase = phase_of(ask, setting)
                    phases[phase] = phases.get(phase, 0) + 1
        late = setting.budget - setting.budget // 2
        cell_out["late_crash_rate"] = [
            sum(kind != "lost" and ask >= setting.budget // 2 for _, ask, kind in crashes_of(by_seed[k])) / late
            for k in seeds
        ]
        cell_out["phases"] = {p: n / len(seeds) for p, n in phases.items()}  # mean per run
        cell_out["kinds"] = {p: n / len(seeds) for p, n in kinds.items()}
        cell_out["crash_curve"] = np.mean(
            [np.cumsum(np.isin(np.arange(setting.budget), [c[0] for c in crashes_of(by_seed[k])])) for k in seeds],
            axis=0,
        ).tolist()
        cell_out["score_curve"] = cell.scores.mean(axis=0).tolist()
        cell_out["best_curve"] = cell.best.mean(axis=0).tolist()
        out["cells"][f"{s}|{name}|{o}"] = cell_out
    out["settings"] = settings
    return out


def cell(summary: dict, setting: str, name: str, objective: str) -> dict | None:
    """One scored cell, or None."""
    return summary["cells"].get(f"{setting}|{name}|{objective}")


def by_seed(summary: dict, setting: str, name: str, objective: str, point: int, key: str) -> dict[int, float]:
    """A measure of a cell at a point, by seed ({} where the cell is missing)."""
    c = cell(summary, setting, name, objective)
    if c is None:
        return {}
    return dict(zip(c["seeds"], c["at"][str(point)][key], strict=True))


def pooled(summary: dict, setting: str, name: str, objectives: Sequence[str], point: int, key: str) -> tuple:
    """The mean over objectives of the mean over seeds (± its s.e.), and the fewest seeds of a cell;
    (nan, nan, 0) unless every objective has the cell."""
    cells = [by_seed(summary, setting, name, o, point, key) for o in objectives]
    if not cells or not all(cells):
        return float("nan"), float("nan"), 0
    mean, se = stats.pooled(stats.mean_se(c.values()) for c in cells)
    return mean, se, min(len(c) for c in cells)


def paired_pooled(
    summary: dict, setting: str, a: str, b: str, objectives: Sequence[str], point: int, key: str
) -> tuple[float, float]:
    """b - a paired by seed per objective, then the mean over objectives (± its s.e.)."""
    diffs = []
    for o in objectives:
        d = stats.paired(by_seed(summary, setting, a, o, point, key), by_seed(summary, setting, b, o, point, key))
        if not d["seeds"]:
            return float("nan"), float("nan")
        diffs.append((d["mean"], d["stderr"]))
    return stats.pooled(diffs)


def seconds(summary: dict, setting: str, name: str, objectives: Sequence[str]) -> float:
    """Mean searcher milliseconds per trial over the cells' runs."""
    values = [
        v for o in objectives if (c := cell(summary, setting, name, o)) is not None for v in c["seconds_per_trial"]
    ]
    return 1000 * float(np.mean(values)) if values else float("nan")


# ---------------------------------------------------------------- report


def names_in(summary: dict, setting: str) -> list[str]:
    """The searchers with runs under a setting, in report order."""
    present = {key.split("|")[1] for key in summary["cells"] if key.split("|")[0] == setting}
    return [n for n in searcher_names() if n in present]


def half_objectives(summary: dict, half: str) -> list[str]:
    """The objectives of a half that have runs."""
    return [o for o, info in summary["objectives"].items() if info["half"] == half]


def fmt(mean_se: tuple, digits: int = 1) -> str:
    """'mean ± s.e.' or '—'."""
    mean, se = mean_se[0], mean_se[1]
    return "—" if not np.isfinite(mean) else render.pm(mean, se, digits)


def halves_table(summary: dict, setting: str) -> list[str]:
    """Crashes and scores per searcher and half at the setting's points."""
    parsed = Setting.parse(setting)
    head = ["searcher", "half", "seeds"]
    for p in points(parsed):
        head += [f"crashes @{p}", f"score @{p}"]
    head += ["of them lost nodes", "ms / trial"]
    rows = []
    for half in HALVES:
        objectives = half_objectives(summary, half)
        for name in names_in(summary, setting):
            first = pooled(summary, setting, name, objectives, parsed.budget, "crashes")
            if first[2] == 0:
                continue
            row = [name, half_label(half), str(first[2])]
            for p in points(parsed):
                row += [
                    fmt(pooled(summary, setting, name, objectives, p, "crashes")),
                    fmt(pooled(summary, setting, name, objectives, p, "score")),
                ]
            config = pooled(summary, setting, name, objectives, parsed.budget, "config_crashes")
            row += [f"{first[0] - config[0]:.1f}", f"{seconds(summary, setting, name, objectives):.2g}"]
            rows.append(row)
    return render.table(head, rows)


def objective_table(summary: dict, setting: str) -> list[str]:
    """Per objective: crashes and the mean best value at the budget per searcher."""
    budget = Setting.parse(setting).budget
    names = names_in(summary, setting)
    rows = []
    for o in SUITES["crash"].names:
        for name in names:
            crashes = by_seed(summary, setting, name, o, budget, "crashes")
            if not crashes:
                continue
            best = by_seed(summary, setting, name, o, budget, "best")
            late = cell(summary, setting, name, o)["late_crash_rate"]
            rows.append(
                [
                    o,
                    half_label(summary["objectives"][o]["half"]),
                    name,
                    str(len(crashes)),
                    fmt(stats.mean_se(crashes.values())),
                    render.pm(*stats.mean_se(best.values()), digits=4),
                    f"{np.median(list(best.values())):.4g}",
                    f"{100 * np.mean(late):.0f}%",
                ]
            )
    head = ["objective", "half", "searcher", "seeds", f"crashes @{budget}", f"best @{budget}", "median best"]
    return render.table(head + ["config crashes among the second half's asks"], rows)


def to_match(summary: dict, setting: str, a: str, b: str, objective: str) -> tuple[int, float] | None:
    """When b's mean best value first reaches a's mean best at the budget: (trials, b's mean crashes by
    then); None if it never does."""
    budget = Setting.parse(setting).budget
    target = np.mean(list(by_seed(summary, setting, a, objective, budget, "best").values()))
    reached = np.flatnonzero(np.array(cell(summary, setting, b, objective)["best_curve"]) <= target)
    if not reached.size:
        return None
    return int(reached[0]) + 1, float(cell(summary, setting, b, objective)["crash_curve"][reached[0]])


def check_table(
    summary: dict, setting: str, half: str, a: str = "tpe", b: str = "pgsearcher"
) -> tuple[list[str], dict]:
    """The issue's check on one half: b's crashes against a's (at most half) and best values (no worse); and
    how many trials and crashes b took to reach a's final best value (`to_match`)."""
    budget = Setting.parse(setting).budget
    rows, verdict, matched = [], {}, []
    objectives = half_objectives(summary, half)
    for o in objectives:
        ca, cb = (by_seed(summary, setting, n, o, budget, "crashes") for n in (a, b))
        ba, bb = (by_seed(summary, setting, n, o, budget, "best") for n in (a, b))
        if not (ca and cb):
            continue
        diff = stats.paired(ba, bb)
        ratio = np.mean(list(cb.values())) / max(np.mean(list(ca.values())), 1e-9)
        match = to_match(summary, setting, a, b, o)
        matched.append(match)
        rows.append(
            [
                o,
                str(diff["seeds"]),
                fmt(stats.mean_se(ca.values())),
                fmt(stats.mean_se(cb.values())),
                f"{ratio:.2f}",
                render.pm(*stats.mean_se(ba.values()), digits=4),
                render.pm(*stats.mean_se(bb.values()), digits=4),
                render.pm(diff["mean"], diff["stderr"], 4, signed=True),
                "never" if match is None else f"{match[0]} ({match[1]:.1f})",
            ]
        )
    crashes_a = pooled(summary, setting, a, objectives, budget, "crashes")
    crashes_b = pooled(summary, setting, b, objectives, budget, "crashes")
    score_diff = paired_pooled(summary, setting, a, b, objectives, budget, "score")
    if rows:
        ratio = crashes_b[0] / crashes_a[0]
        reached = None if None in matched else float(np.mean([m[1] for m in matched]))
        rows.append(
            [
                "**mean**",
                str(crashes_b[2]),
                fmt(crashes_a),
                fmt(crashes_b),
                f"**{ratio:.2f}**",
                f"score {fmt(pooled(summary, setting, a, objectives, budget, 'score'))}",
                f"score {fmt(pooled(summary, setting, b, objectives, budget, 'score'))}",
                f"score {render.pm(*score_diff, signed=True)}",
                "" if reached is None else f"({reached:.1f}: {reached / crashes_a[0]:.2f} of {a}'s)",
            ]
        )
        verdict = {
            "crash_ratio": ratio,
            "crashes": {a: crashes_a[:2], b: crashes_b[:2]},
            "score_difference": score_diff,
            "half_the_crashes": bool(ratio <= 0.5),
            "score_no_worse": bool(score_diff[0] + 2 * score_diff[1] >= 0),
            "crashes_to_match": reached,
        }
    head = ["objective", "seeds", f"{a} crashes", f"{b} crashes", f"{b} / {a}", f"{a} best", f"{b} best", f"{b} - {a}"]
    head.append(f"{b}'s trials (crashes) to reach {a}'s best")
    return render.table(head, rows), verdict


def sweep_table(summary: dict, setting: str, half: str) -> list[str]:
    """The strength arms on a half: crashes and scores, and their differences from the default paired by seed."""
    parsed = Setting.parse(setting)
    objectives = half_objectives(summary, half)
    head = ["failures.strength", "arm"]
    for p in points(parsed):
        head += [f"crashes @{p}", f"Δ crashes @{p}", f"score @{p}", f"Δ score @{p}"]
    rows = []
    for name, strength in STRENGTHS.items():
        if pooled(summary, setting, name, objectives, parsed.budget, "crashes")[2] == 0:
            continue
        row = [f"{strength:g}" + (" (default)" if name == "pgsearcher" else ""), name]
        for p in points(parsed):
            row.append(fmt(pooled(summary, setting, name, objectives, p, "crashes")))
            row.append(
                ""
                if name == "pgsearcher"
                else render.pm(
                    *paired_pooled(summary, setting, "pgsearcher", name, objectives, p, "crashes"), signed=True
                )
            )
            row.append(fmt(pooled(summary, setting, name, objectives, p, "score")))
            row.append(
                ""
                if name == "pgsearcher"
                else render.pm(
                    *paired_pooled(summary, setting, "pgsearcher", name, objectives, p, "score"), signed=True
                )
            )
        rows.append(row)
    for peer in ("tpe", "random"):
        if pooled(summary, setting, peer, objectives, parsed.budget, "crashes")[2] == 0:
            continue
        row = ["", peer]
        for p in points(parsed):
            row += [
                fmt(pooled(summary, setting, peer, objectives, p, "crashes")),
                "",
                fmt(pooled(summary, setting, peer, objectives, p, "score")),
                "",
            ]
        rows.append(row)
    return render.table(head, rows)


def phase_table(summary: dict, setting: str) -> list[str]:
    """Where the crashes the config caused happened (mean per run, summed over a half's objectives), and
    the lost nodes."""
    budget, first = Setting.parse(setting).budget, startup(Setting.parse(setting))
    head = [
        "searcher",
        "half",
        f"startup (asks 1-{first})",
        f"asks {first + 1}-{budget // 2}",
        f"asks {budget // 2 + 1}-{budget}",
        "oom",
        "nan",
        "error",
        "lost",
    ]
    rows = []
    for half in HALVES:
        objectives = half_objectives(summary, half)
        for name in names_in(summary, setting):
            cells = [cell(summary, setting, name, o) for o in objectives]
            if not all(cells):
                continue
            phase = {p: sum(c["phases"].get(p, 0.0) for c in cells) for p in ("startup", "first half", "second half")}
            kind = {k: sum(c["kinds"].get(k, 0.0) for c in cells) / len(cells) for k in ("oom", "nan", "error", "lost")}
            asks = {"startup": first, "first half": budget // 2 - first, "second half": budget - budget // 2}
            mean = {p: phase[p] / len(cells) for p in phase}
            rows.append(
                [name, half_label(half)]
                + [f"{mean[p]:.1f} ({100 * mean[p] / max(asks[p], 1):.0f}%)" for p in phase]
                + [f"{kind[k]:.1f}" for k in kind]
            )
    return render.table(head, rows)


def plot(summary: dict, path: Path) -> None:
    """Mean crashes and mean score against trials, per setting and half."""
    settings = summary["settings"]
    fig, axes = render.panels(4 * len(settings), 4, 4.2, 3.2)
    show = [n for n in searcher_names() if n in PEERS or n in STRENGTHS]
    colour = {name: f"C{i}" for i, name in enumerate(show)}
    for i, s in enumerate(settings):
        for j, half in enumerate(HALVES):
            objectives = half_objectives(summary, half)
            ax_c, ax_s = axes[4 * i + 2 * j], axes[4 * i + 2 * j + 1]
            for name in show:
                cells = [cell(summary, s, name, o) for o in objectives]
                if not all(cells):
                    continue
                seeds = min(len(c["seeds"]) for c in cells)
                crash_curve = np.mean([c["crash_curve"] for c in cells], axis=0)
                score_curve = np.mean([c["score_curve"] for c in cells], axis=0)
                x = np.arange(1, len(crash_curve) + 1)
                label = f"{name} ({seeds} seeds)"
                ax_c.plot(x, crash_curve, color=colour[name], label=label)
                ax_s.plot(x, score_curve, color=colour[name], label=label)
            ax_c.set_title(f"{s}, {half_label(half)}: crashed trials", fontsize=9)
            ax_c.set_xlabel("trials")
            ax_c.set_ylabel("crashes (mean per objective)")
            ax_c.grid(alpha=0.3)
            ax_c.legend(fontsize=6)
            render.score_axes(ax_s, f"{s}, {half_label(half)}: score", "trials", "score (100 optimum, 0 random)", -40)
    render.save(fig, path, dpi=90, title="Crash suite: crashed trials and the best value found")


def markdown(summary: dict, argv: list[str] | None, wall: float | None) -> str:
    """The report."""
    lines = render.header("crash", "The crash suite: crashed trials and best values", argv, PACKAGES)
    lines += [f"Code measured: ray_pgsearch at {render.code_version()}.", ""]
    if wall is not None:
        lines += [f"Wall time of this command: {wall / 60:.1f} min.", ""]
    lines += [
        "Each objective returns a validation loss or crashes as a trainable would (`experiments/lab/suites/crash.py`): "
        "it raises (out of memory, a lost node, a numerical error), which the driver tells the searcher as "
        "`on_trial_complete(trial_id, None, error=True)`, or it reports a NaN loss (diverged). "
        "Settings `BxC`: B trials with up to C in flight, completed in a seeded random order that every searcher "
        "shares. **crashes @n**: crashed trials among the first n to complete (mean ± s.e. over seeds, then the mean "
        "over the half's objectives, its s.e. pooled). **score @n**: 100 the optimum, 0 random search's expected "
        "best after n trials, a crash counting as the sample's worst finite value. Δ: the arm minus the default "
        "paired by seed, pooled over objectives. PGSearcher's `failures.strength` defaults to 10 (`pgsearcher`); "
        "`pgsearcher_failS` sets it to S (0: the failure model off).",
        "",
        "## The suite",
        "",
    ]
    rows = []
    for o, info in summary["objectives"].items():
        rows.append(
            [
                o,
                half_label(info["half"]),
                f"{100 * info['random_crash_rate']:.0f}%",
                "yes" if info["lost_nodes"] else "",
                f"{info['optimum']:.4g}",
                get_objective(o).description,
            ]
        )
    lines += render.table(["objective", "half", "random draws that crash", "lost nodes (3%)", "optimum", "what"], rows)
    verdicts = {}
    check_settings = [s for s in summary["settings"] if Setting.parse(s).concurrency == 4]
    if check_settings:
        s = check_settings[0]
        lines += [
            f"## The check: PGSearcher against TPE at {s} on the held-out half",
            "",
            "PGSearcher's crashed trials must be at most half of TPE's, with a best loss no worse (per objective: "
            "the mean best loss at the budget, and PGSearcher minus TPE paired by seed; last row: the mean crashes, "
            "the scores and their paired difference). Last column: after how many trials PGSearcher's mean best "
            "loss first reaches TPE's mean best at the budget, and PGSearcher's mean crashes by then (a secondary "
            "measure: crashes for the same progress; the check itself compares whole runs).",
            "",
        ]
        table, verdicts[s] = check_table(summary, s, HELD_OUT)
        lines += table
        table, verdicts[f"{s} dev"] = check_table(summary, s, DEV)
        lines += ["The same on the development half:", ""] + table
    for s in summary["settings"]:
        lines += [f"## {Setting.parse(s).title} ({s})", "", "### Crashes and scores per half", ""]
        lines += halves_table(summary, s)
        if any(
            pooled(summary, s, n, half_objectives(summary, DEV), Setting.parse(s).budget, "crashes")[2]
            for n in SWEEP
            if n != "pgsearcher"
        ):
            lines += ["### The failure model's strength (development half)", ""] + sweep_table(summary, s, DEV)
        lines += [
            "### Where the crashes happen",
            "",
            "Crashes the config caused, by when the trial was asked (mean per run and objective, and the share "
            "of those asks); then every crash by kind (mean per run and objective).",
            "",
        ]
        lines += phase_table(summary, s)
        lines += ["### Per objective", ""] + objective_table(summary, s)
    summary["checks"] = verdicts
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Run what the cache lacks of the plan (or the smoke plan), then score and report."""
    start = time.time()
    done = run_plan(__doc__, argv, (PLAN, QUICK), ("crash", RESULTS, CACHE), "two objectives, 12 trials, 2 seeds")
    if done is None:
        return
    args, cache, tasks = done
    summary = score_cache(cache, args.jobs)
    text = markdown(summary, argv, time.time() - start if tasks else None)  # the wall time of runs, if any
    (args.out / "crash.md").write_text(text + "\n")
    compact = {k: v for k, v in summary.items() if k != "cells"}
    compact["cells"] = {
        key: {k: v for k, v in c.items() if k not in ("crash_curve", "score_curve", "best_curve")}
        for key, c in summary["cells"].items()
    }
    (args.out / "crash.json").write_text(json.dumps(compact) + "\n")
    plot(summary, args.out / "crash.png")
    print(text)


if __name__ == "__main__":
    main()
