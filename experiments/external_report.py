"""The external study's scores and report (`python -m experiments.external`): every cached run scored against
random search, per suite half and per half of all suites (development and held-out side by side), ranks,
problems won, differences paired by seed, and external.md / external_objectives.md / external.json /
external.png. Bayesmark's problems under the challenge's protocol are also scored as the challenge scored them
(`stats.bayesmark_score`): per half after 32, 64 and 128 evaluations, per problem, and problems won."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from experiments.lab import render, stats
from experiments.lab.arms import searcher_names
from experiments.lab.cache import RunCache
from experiments.lab.driver import random_samples
from experiments.lab.protocol import DEV, HALVES, HELD_OUT, Setting, half_label
from experiments.lab.suites import SUITES, expand, get_objective, half_of, suite_of

WIDE_PENDING = 32  # settings with at least this many pending get the high-concurrency report
BAYESMARK_POINTS = (32, 64, 128)  # evaluations at which a batched setting's bayesmark runs get Bayesmark's score
PACKAGES = ["scikit-learn", "optuna", "hyperopt", "nevergrad", "hpbandster", "smac", "hebo", "ax-platform"]


def is_wide(setting: str) -> bool:
    """An asynchronous setting with `WIDE_PENDING` or more pending ("320x32")."""
    parsed = Setting.parse(setting)
    return not parsed.batched and parsed.concurrency >= WIDE_PENDING


# ---------------------------------------------------------------- scoring


def score_runs(
    cache: RunCache,
    searchers: list[str] | None = None,
    settings: list[str] | None = None,
    objectives: list[str] | None = None,
    jobs: int = 1,
    pairs: list[tuple[str, str]] | None = None,
) -> dict:
    """Score every cached run of the selected searchers, settings and objectives (default: all cached).

    A searcher is scored on a suite's half in a setting only where it has runs on every objective of the
    half, on the seeds it has on all of them; the optimum of an objective without a known one is the best
    value any of these runs or the random sample found (the challenge's definition). ``pairs`` (a, b):
    also b - a paired by seed (`_paired`). Returns the summary that `markdown` and `plot` read.
    """
    if settings is None:
        found = [Setting.parse(group) for group in cache.groups()]
        settings = [s.key for s in sorted(found, key=lambda s: (s.batched, s.budget, -s.concurrency))]
    wanted = set(objectives or expand("all"))
    names = searchers or [n for n in searcher_names() if any(cache.shard(s, n).exists() for s in settings)]
    runs: dict[tuple[str, str, str], dict[int, dict]] = {}
    for s in settings:
        for n in names:
            for (o, seed), run in cache.every_run(s, n).items():
                if o in wanted:
                    runs.setdefault((s, n, o), {})[seed] = run
    used = list(dict.fromkeys(o for o in expand("all") if any(key[2] == o for key in runs)))
    samples = random_samples(used, cache.root, jobs)
    optimum = stats.optima(
        ((o, r) for (_, _, o), r in runs.items()), samples, {o: get_objective(o).optimum for o in used}
    )
    out: dict = {"optimum": optimum, "searchers": names, "settings": {}, "pairs": [list(p) for p in pairs or []]}
    for s in settings:
        setting = Setting.parse(s)
        cells = stats.cells_of(
            {(n, o): r for (s_, n, o), r in runs.items() if s_ == s}, setting.budget, samples, optimum
        )
        in_setting = [o for o in used if any((n, o) in cells for n in names)]
        groups = {
            f"{suite}:{half}": [o for o in in_setting if suite_of(o) == suite and half_of(o) == half]
            for suite in SUITES
            for half in HALVES
        }
        groups = {k: v for k, v in groups.items() if v}
        for point in setting.score_points:
            summary = _summarize_point(s, point, names, groups, cells)
            summary["paired"] = [_paired(cells, groups, a, b, point) for a, b in pairs or []]
            out["settings"][f"{s}@{point}"] = summary
        if setting.batched:
            bayesmark = _bayesmark_scores(setting, names, groups, cells, samples, optimum)
            if bayesmark:
                out.setdefault("bayesmark", {})[s] = bayesmark
    return out


def _bayesmark_scores(
    setting: Setting, names: list[str], groups: dict, cells: dict, samples: dict, optimum: dict
) -> dict[str, dict]:
    """Bayesmark's score (`stats.bayesmark_score`) of the bayesmark suite's halves under a batched setting,
    after each of `BAYESMARK_POINTS` evaluations within its budget: per half, every searcher that ran all of
    it (on the seeds it has on all of it) with its score ± standard error over seeds, the challenge's
    leaderboard value, normalized mean per problem, the lab's score and rank on the same runs, and random
    search's normalized means; and per pair of searchers the problems of the half where the first one's
    normalized mean is lower (ties count half). Keyed by the number of evaluations, then by half."""
    out: dict[str, dict] = {}
    for point in (p for p in BAYESMARK_POINTS if p <= setting.budget):
        halves = {}
        for half in HALVES:
            objectives = groups.get(f"bayesmark:{half}", [])
            searchers = [n for n in names if objectives and _common_seeds(cells, n, objectives)]
            if not searchers:
                continue
            lab = _group_stats(cells, objectives, searchers, point)
            scored, random = {}, {}
            for n in searchers:
                rows = {o: cells[(n, o)].at(_common_seeds(cells, n, objectives)) for o in objectives}
                best = {o: cells[(n, o)].best[rows[o], point - 1] for o in objectives}
                found = stats.bayesmark_score(best, {o: samples[o] for o in objectives}, optimum, point)
                random = found["random"]
                runs = np.mean([found["runs"][o] for o in objectives], axis=0)  # each seed's mean over problems
                per_seed = 1.0 - runs / np.mean(list(random.values()))
                scored[n] = {
                    "score": found["score"],
                    "stderr": 100.0 * stats.mean_se(per_seed)[1],
                    "leaderboard": found["leaderboard"],
                    "mean": found["mean"],
                    "normed_mean": found["normed_mean"],
                    "seeds": len(best[objectives[0]]),
                    "problems": found["problems"],
                    "lab_problems": {o: float(cells[(n, o)].scores[rows[o], point - 1].mean()) for o in objectives},
                    "lab": {k: lab[n][k] for k in ("mean", "stderr", "rank", "won")},
                }
            won = {
                a: {
                    b: sum(
                        float(scored[a]["problems"][o] < scored[b]["problems"][o])
                        + 0.5 * (scored[a]["problems"][o] == scored[b]["problems"][o])
                        for o in objectives
                    )
                    for b in searchers
                    if b != a
                }
                for a in searchers
            }
            halves[half] = {
                "objectives": objectives,
                "random": random,
                "random_leaderboard": 100.0 * (1.0 - float(np.mean(list(random.values())))),
                "searchers": scored,
                "won": won,
            }
        if halves:
            out[str(point)] = halves
    return out


def _common_seeds(cells: dict, searcher: str, objectives: list[str]) -> list[int]:
    """Seeds a searcher has on every objective of a group (empty if it misses an objective)."""
    if any((searcher, o) not in cells for o in objectives):
        return []
    return sorted(set.intersection(*(set(cells[(searcher, o)].seeds) for o in objectives)))


def _half_scores(cells: dict, groups: dict, keys: list[str], searcher: str, seeds: list[int], point: int) -> np.ndarray:
    """Per seed: the mean over the suites `keys` of the mean over each suite half's objectives."""
    return np.mean(
        [
            np.mean([cells[(searcher, o)].scores[cells[(searcher, o)].at(seeds), point - 1] for o in groups[k]], axis=0)
            for k in keys
        ],
        axis=0,
    )


def _paired(cells: dict, groups: dict, a: str, b: str, point: int) -> dict[str, dict]:
    """Per half, b - a paired by seed: the half's score after ``point`` evaluations on each seed both ran on
    all of the half; mean and standard error over those seeds. A half either did not run all of is left out."""
    out = {}
    for half in HALVES:
        keys = [k for k in groups if k.endswith(":" + half)]
        objectives = [o for k in keys for o in groups[k]]
        if not keys or any((n, o) not in cells for n in (a, b) for o in objectives):
            continue
        seeds = sorted(set(_common_seeds(cells, a, objectives)) & set(_common_seeds(cells, b, objectives)))
        if seeds:
            scores = {
                n: dict(zip(seeds, _half_scores(cells, groups, keys, n, seeds, point), strict=True)) for n in (a, b)
            }
            out[half] = stats.paired(scores[a], scores[b])
    return out


def _group_stats(cells: dict, objectives: list[str], searchers: list[str], point: int) -> dict[str, dict]:
    """Mean (over seeds of the mean over objectives) ± standard error, median, mean rank among `searchers`
    (per objective and seed they all ran), searcher ms per trial and mean score curve, per searcher."""
    out = {}
    for n in searchers:
        seeds = _common_seeds(cells, n, objectives)
        scores = np.array([cells[(n, o)].scores[cells[(n, o)].at(seeds), :point] for o in objectives])
        mean, stderr = stats.mean_se(scores[:, :, -1].mean(axis=0))
        out[n] = {
            "mean": mean,
            "stderr": stderr,
            "median": float(np.median(scores[:, :, -1])),
            "seeds": len(seeds),
            "ms_per_trial": 1000 * float(np.mean([cells[(n, o)].seconds.mean() for o in objectives])),
            "diversity": stats.nanmean(
                np.concatenate([cells[(n, o)].diversity[cells[(n, o)].at(seeds)] for o in objectives])
            ),
            "in_flight_duplicates": stats.nanmean(
                np.concatenate([cells[(n, o)].in_flight[cells[(n, o)].at(seeds)] for o in objectives])
            ),
            "curve": scores.mean(axis=(0, 1)).tolist(),
            "per_objective": {o: float(scores[j, :, -1].mean()) for j, o in enumerate(objectives)},
        }
    ranks: dict[str, list[float]] = {n: [] for n in searchers}
    for o in objectives:
        shared = sorted(set.intersection(*(set(cells[(n, o)].seeds) for n in searchers))) if searchers else []
        if shared:
            bests = np.array([cells[(n, o)].best[cells[(n, o)].at(shared), point - 1] for n in searchers])
            for n, r in zip(searchers, stats.ranks(bests), strict=True):
                ranks[n] += r.tolist()
    won = stats.problems_won({n: out[n].pop("per_objective") for n in searchers})
    for n in searchers:
        out[n]["rank"] = float(np.mean(ranks[n])) if ranks[n] else float("nan")
        out[n]["won"] = won[n]
    return out


def _summarize_point(setting: str, point: int, names: list[str], groups: dict, cells: dict) -> dict:
    """Per group ("suite:half") and per half (mean over its suites, equal weight each): the searchers that
    ran all of it, their score, median, rank among them, problems won and cost; and the mean score per objective."""
    covering = {k: [n for n in names if _common_seeds(cells, n, objs)] for k, objs in groups.items()}
    group_stats = {k: _group_stats(cells, objs, covering[k], point) for k, objs in groups.items()}
    halves: dict = {}
    for half in HALVES:
        keys = [k for k in groups if k.endswith(":" + half)]
        full = [n for n in names if keys and all(n in covering[k] for k in keys)]
        per_group = [_group_stats(cells, groups[k], full, point) for k in keys]
        halves[half] = {
            "suites": [k.split(":")[0] for k in keys],
            "searchers": {
                n: {
                    "mean": float(np.mean([g[n]["mean"] for g in per_group])),
                    "stderr": float(np.sqrt(np.sum([g[n]["stderr"] ** 2 for g in per_group])) / len(keys)),
                    "median": float(np.mean([g[n]["median"] for g in per_group])),
                    "rank": float(np.mean([g[n]["rank"] for g in per_group])),
                    "won": float(np.sum([g[n]["won"] for g in per_group])),
                    "seeds": min(g[n]["seeds"] for g in per_group),
                    "ms_per_trial": float(np.mean([g[n]["ms_per_trial"] for g in per_group])),
                    "diversity": stats.nanmean([g[n]["diversity"] for g in per_group]),
                    "in_flight_duplicates": stats.nanmean([g[n]["in_flight_duplicates"] for g in per_group]),
                    "curve": np.mean([g[n]["curve"] for g in per_group], axis=0).tolist(),
                }
                for n in full
            },
        }
    per_objective = {
        o: {
            n: [float(cells[(n, o)].scores[:, point - 1].mean()), len(cells[(n, o)].seeds)]
            for n in names
            if (n, o) in cells
        }
        for objs in groups.values()
        for o in objs
    }
    return {
        "setting": setting,
        "evaluations": point,
        "groups": group_stats,
        "halves": halves,
        "per_objective": per_objective,
    }


# ---------------------------------------------------------------- reporting


def _fmt(stats_: dict | None, key: str = "mean") -> str:
    """A statistic as text ("—" where the searcher did not run that part)."""
    if stats_ is None:
        return "—"
    if key == "mean":
        return render.pm(stats_["mean"], stats_.get("stderr", float("nan")))
    return f"{stats_[key]:.2f}" if key == "rank" else f"{stats_[key]:{'g' if key == 'won' else '.1f'}}"


def _half_row(halves: dict, name: str, wide: bool) -> list[str]:
    """A searcher's row of a setting's main table: both halves side by side (and for a wide setting the
    diversity of the configs in flight and the in-flight duplicates per run), then its cost per trial."""
    found = [halves[h]["searchers"].get(name) for h in HALVES]
    cells = [_fmt(halves[h]["searchers"].get(name), key) for key in ("mean", "median", "rank", "won") for h in HALVES]
    if wide:
        cells += ["—" if s is None or not np.isfinite(s["diversity"]) else f"{s['diversity']:.3f}" for s in found]
        in_flight = stats.nanmean([s["in_flight_duplicates"] for s in found if s is not None])
        cells.append("—" if not np.isfinite(in_flight) else f"{in_flight:.1f}")
    ms = np.mean([s["ms_per_trial"] for s in found if s is not None])
    return [name, str(min(s["seeds"] for s in found if s is not None))] + cells + [f"{ms:.1f}"]


def _title(key: str) -> str:
    """A setting@point key as a heading."""
    setting, point = key.split("@")
    parsed = Setting.parse(setting)
    if parsed.batched:
        return f"{setting}: the challenge's protocol ({parsed.title}), score after {point} evaluations"
    title = f"{setting}: {point} evaluations, up to {parsed.concurrency} pending (asynchronous)"
    return f"High concurrency {title}" if is_wide(setting) else title


INTRO = (
    "Score at n evaluations = 100 × (1 − (best − optimum) / (random − optimum)): 100 is the optimum, 0 the "
    "exact expected best of n uniform random draws (from a dense random sample per objective), negative "
    "is worse than random search. `optimum` is the known optimum (COCO, our synthetic functions) or the "
    "best value any cached run or the random sample found (bayesmark's definition). A half's score is the "
    "mean over its suites (each suite weighs the same) of the mean over the suite half's objectives, "
    "± standard error over seeds; median: of the per-objective-and-seed scores; rank: mean rank among the "
    "searchers of the table on the objectives and seeds they all ran (1 is best); won: objectives of the half "
    "where the searcher's mean score is the highest of the table's (ties shared). ms / trial: searcher "
    "time (suggest + on_trial_complete) per completed trial, on this shared 2-core machine. A searcher is "
    "shown for a half only where it ran every objective of it; seeds: the fewest it has on a suite half."
)
WIDE_INTRO = (
    "Settings with 32 or more trials pending, about 10 trials per worker, completed in the same seeded random "
    "order for every searcher. Besides the score: **diversity**, the mean pairwise distance of the configs in "
    "flight each time the pending set is full (measured once per `concurrency` suggestions), in the unit latent "
    "space of `ray_pgsearch.SearchSpace`: sqrt(sum of squared differences of the numeric latents + number of "
    "differing categories) / sqrt(number of parameters), so 0 is one point and 1 opposite corners, mean over a "
    "run then over objectives and seeds (uniform random search gives the reference); **dups in flight**: "
    "configs suggested while an equal config was pending, per run. TPE is Optuna's TPESampler as Ray's "
    "OptunaSearch builds it, which from Optuna 5.0 runs the constant liar; NGOpt is told the number of workers."
)


BAYESMARK_INTRO = (
    "Bayesmark's problems under the challenge's protocol, scored as bayesmark 0.0.8 scores them "
    "(`experiments.lab.stats.bayesmark_score`: `experiment_baseline.compute_baseline` and "
    "`experiment_analysis.compute_aggregates`). Per problem, each run's best loss after n evaluations is "
    "normalized linearly, 0 at the best loss any run or the random sample found (`PERF_BEST`, less a tiny "
    "pad) and 1 at the median of random search's evaluations (`PERF_CLIP`, the random sample's median), and "
    "clipped to [-1, 1]; the problem's **normalized mean** is the mean over runs (lower is better). Random "
    "search's normalized mean is the same normalization of its unbiased expected best of n draws from the "
    "random sample clipped at the median (`expected_max.expected_min`). **leaderboard** = 100 × (1 − the mean "
    "over the half's problems of the normalized means), what `experiment_analysis.main` prints as the "
    "leaderboard's score (random search's own value in the random search row); **Bayesmark score** = "
    "100 × (1 − that mean / random search's mean of normalized means, `summary[NORMED_MEAN]`): 0 is random "
    "search at the same number of evaluations, 100 the best loss in every run. The two order searchers "
    "alike. ± standard error over seeds (the score of each seed's runs). Next to them the lab's score and "
    "rank on the same runs (measured against random search's expected best, so a problem where that is "
    "already near the best loss can weigh far more than the others in a half's mean). Problems won: on how "
    "many of the half's problems the row's searcher has a lower normalized mean than the column's (ties "
    "count half)."
)


def _bayesmark_markdown(bayesmark: dict) -> list[str]:
    """The section of Bayesmark's own score (`_bayesmark_scores`): per setting and number of evaluations, the
    halves side by side with the lab's score and rank, problems won, and the normalized mean per problem."""
    if not bayesmark:
        return []
    lines = ["## Bayesmark's own score", "", BAYESMARK_INTRO, ""]
    for setting, points in bayesmark.items():
        for point, halves in points.items():
            names = list(dict.fromkeys(n for h in halves.values() for n in h["searchers"]))
            lines += [f"### {setting}: Bayesmark's score after {point} evaluations", ""]
            head = ["searcher", "seeds"] + [
                f"{h} {what}" for what in ("score", "leaderboard", "lab score", "lab rank") for h in ("dev", "held-out")
            ]
            rows = []
            for n in names:
                found = [halves.get(h, {}).get("searchers", {}).get(n) for h in HALVES]
                seeds = "/".join(str(f["seeds"]) if f else "—" for f in found)
                row = [n, seeds] + ["—" if f is None else render.pm(f["score"], f["stderr"]) for f in found]
                row += ["—" if f is None else f"{f['leaderboard']:.1f}" for f in found]
                row += ["—" if f is None else render.pm(f["lab"]["mean"], f["lab"]["stderr"]) for f in found]
                row += ["—" if f is None else f"{f['lab']['rank']:.2f}" for f in found]
                rows.append(row)
            random = [halves.get(h) for h in HALVES]
            rows.append(
                ["random search (expected)", "—", "0.0", "0.0"]
                + ["—" if r is None else f"{r['random_leaderboard']:.1f}" for r in random]
                + ["0.0", "0.0", "—", "—"]
            )
            lines += render.table(head, rows)
            if len(names) > 1:
                lines += [
                    f"Problems won ({setting}, {point} evaluations): of the dev / held-out problems, on how many "
                    "the row's normalized mean is lower than the column's.",
                    "",
                ]
                won = [
                    [a]
                    + [
                        "—"
                        if a == b
                        else " / ".join(
                            f"{halves[h]['won'][a][b]:g} of {len(halves[h]['objectives'])}"
                            if h in halves and b in halves[h]["won"].get(a, {})
                            else "—"
                            for h in HALVES
                        )
                        for b in names
                    ]
                    for a in names
                ]
                lines += render.table(["row vs column"] + names, won)
            lines += [
                f"Normalized mean per problem ({setting}, {point} evaluations; lower is better, 0 the best loss, "
                "1 random search's median evaluation; 3 significant digits); the lab's score of the same runs in "
                "brackets.",
                "",
            ]
            per_problem = []
            for h in HALVES:
                if h not in halves:
                    continue
                for o in halves[h]["objectives"]:
                    found = halves[h]["searchers"]
                    row = [o, half_label(h), f"{halves[h]['random'][o]:.3g}"]
                    row += [
                        f"{found[n]['problems'][o]:.3g} ({found[n]['lab_problems'][o]:.0f})" if n in found else "—"
                        for n in names
                    ]
                    per_problem.append(row)
            lines += render.table(["problem", "half", "random search"] + names, per_problem)
    return lines


def markdown(summary: dict, argv: list[str] | None, wall: float | None) -> tuple[str, str]:
    """external.md (per setting: halves side by side, per suite, cost) and external_objectives.md."""
    names = summary["searchers"]
    intro = [
        INTRO,
        "",
        "**dev** is the development half (tune on it), **held out** the held-out half (only check on it); "
        "the split is fixed in `experiments/lab/suites/__init__.py`.",
        "",
    ]
    if wall is not None:
        intro += [f"Wall time of this command: {wall / 60:.1f} min.", ""]
    lines = render.header("external", "Searchers on external suites, development and held-out halves", argv, PACKAGES)
    lines += intro + ["## Suites", ""]
    lines += render.table(
        ["suite", "dev", "held out"], [[s.name, ", ".join(s.dev), ", ".join(s.held_out)] for s in SUITES.values()]
    )
    objectives_md = render.header("external", "Score per objective", argv, PACKAGES) + [
        "Mean score over seeds (seeds in brackets) per objective, setting and searcher; see external.md.",
        "",
    ]
    keys = list(summary["settings"])
    wide = [k for k in keys if is_wide(summary["settings"][k]["setting"])]
    for key in [k for k in keys if k not in wide] + wide:
        point = summary["settings"][key]
        halves = point["halves"]
        if wide and key == wide[0]:
            hebo_ran = any("hebo" in summary["settings"][k]["halves"][h]["searchers"] for k in wide for h in HALVES)
            hebo = (
                "HEBO suggests a whole batch of as many configs as run at once per model fit (Ray's HEBOSearch "
                "with `max_concurrent` set to it)."
                if hebo_ran
                else "HEBO is left out (~0.3-1 s per suggestion here)."
            )
            lines += ["## High concurrency", "", f"{WIDE_INTRO} {hebo}", ""]
        lines += [f"## {_title(key)}", ""]
        shown = [n for n in names if any(n in halves[h]["searchers"] for h in HALVES)]
        if shown:
            suites = {h: ", ".join(halves[h]["suites"]) for h in HALVES}
            lines += [f"Suites: dev {suites[DEV] or '—'}; held out {suites[HELD_OUT] or '—'}.", ""]
            head = ["searcher", "seeds"] + [
                f"{h} {what}" for what in ("score", "median", "rank", "won") for h in ("dev", "held-out")
            ]
            if key in wide:
                head += ["dev diversity", "held-out diversity", "dups in flight"]
            lines += render.table(head + ["ms / trial"], [_half_row(halves, n, key in wide) for n in shown])
        paired = [(p, d) for p, d in zip(summary["pairs"], point["paired"], strict=True) if d]
        if paired:
            lines += ["Paired by seed (the same seeds and completion orders), b − a:", ""]
            lines += render.table(
                ["b − a", "dev", "held out", "seeds"],
                [
                    [f"{b} − {a}"] + [_fmt(d.get(h)) for h in HALVES] + [str(min(v["seeds"] for v in d.values()))]
                    for (a, b), d in paired
                ],
            )
        groups = point["groups"]
        in_groups = [n for n in names if any(n in g for g in groups.values())]
        lines += [f"Per suite half ({key}): mean score ± standard error (seeds), ms / trial in brackets.", ""]
        lines += render.table(
            ["searcher"] + [k.replace(":", " ").replace(HELD_OUT, half_label(HELD_OUT)) for k in groups],
            [
                [n]
                + [
                    f"{_fmt(g[n])} ({g[n]['seeds']}) [{g[n]['ms_per_trial']:.1f}]" if n in g else "—"
                    for g in groups.values()
                ]
                for n in in_groups
            ],
        )
        per_objective = point["per_objective"]
        with_runs = [n for n in names if any(n in v for v in per_objective.values())]
        objectives_md += [f"## {_title(key)}", ""]
        objectives_md += render.table(
            ["objective", "suite", "half", "optimum"] + with_runs,
            [
                [o, suite_of(o), half_label(half_of(o)), f"{summary['optimum'][o]:.6g}"]
                + [f"{v[n][0]:.1f} ({v[n][1]})" if n in v else "—" for n in with_runs]
                for o, v in per_objective.items()
            ],
        )
    lines += _bayesmark_markdown(summary.get("bayesmark", {}))
    return "\n".join(lines), "\n".join(objectives_md)


def plot(summary: dict, path: Path) -> None:
    """Mean score of the best so far (against random search at the same number of evaluations) per
    searcher, one panel per setting: development half solid, held-out half dashed."""
    last: dict[str, dict] = {}
    for point in summary["settings"].values():  # the largest evaluation count of each setting
        last[point["setting"]] = point
    fig, axes = render.panels(len(last), 2, 6.5, 4.8)
    for ax, (setting, point) in zip(axes, last.items(), strict=True):
        for i, name in enumerate(summary["searchers"]):
            for half, style in ((DEV, "-"), (HELD_OUT, "--")):
                found = point["halves"][half]["searchers"].get(name)
                if found is not None:
                    label = name if half == DEV or name not in point["halves"][DEV]["searchers"] else None
                    x = np.arange(1, len(found["curve"]) + 1)
                    ax.plot(x, found["curve"], style, color=f"C{i % 10}", lw=1.2, label=label)
        title = f"{setting}: dev (solid), held out (dashed)"
        render.score_axes(ax, title, "evaluations", "mean score (0: random search at that budget)")
    render.save(fig, path)


def report(
    cache: RunCache,
    out: Path,
    searchers: list[str] | None,
    argv: list[str] | None,
    wall: float | None,
    pairs: list[tuple[str, str]] | None = None,
    jobs: int = 1,
) -> str:
    """Re-score the cache and write external.md / external_objectives.md / external.json / external.png."""
    summary = score_runs(cache, searchers, pairs=pairs, jobs=jobs)
    text, per_objective = markdown(summary, argv, wall)
    out.mkdir(parents=True, exist_ok=True)
    (out / "external.md").write_text(text)
    (out / "external_objectives.md").write_text(per_objective)
    (out / "external.json").write_text(json.dumps(summary))
    plot(summary, out / "external.png")
    return text
