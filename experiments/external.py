"""Searchers on external suites (bayesmark, COCO bbob / bbob-mixint) and ours, development and held-out halves.

    python -m experiments.external --plan            # every stage of PLAN (what is cached is reused), then report
    python -m experiments.external --report-only     # re-score everything in the cache (seconds)
    python -m experiments.external --searchers pgsearcher --suites all --settings 32x8,100x8,100x1 --seeds 10
    python -m experiments.external --plan --searchers pgsearcher --rerun pgsearcher   # PGSearcher's stages again
    python -m experiments.external --plan prior_candidates --cache experiments/results/cache/prior_candidates \
        --out experiments/results/prior_candidates --jobs 2 --paired \
        pgsearcher_no_prior_candidates:pgsearcher_prior_candidates,pgsearcher_no_prior_candidates:pgsearcher,\
tpe:pgsearcher,hebo:pgsearcher
    python -m experiments.external --report-only --report-searchers tpe,hebo,pgsearcher \
        --cache experiments/results/cache/prior_candidates --out experiments/results/prior_candidates_peers \
        --paired tpe:pgsearcher,hebo:pgsearcher --jobs 2    # the same runs, ranked among the three peers only
    python -m experiments.external --plan restarts --cache experiments/results/cache/restarts \
        --out experiments/results/restarts --paired pgsearcher_no_prior_candidates:pgsearcher_restarts \
        --jobs 2                                                     # RESTARTS
    python -m experiments.external --searchers random,tpe,ngopt,naive_pg,pgsearcher --suites ours,bbob,bbob_mixint \
        --settings 320x32,640x64,1280x128 --seeds 2                  # high concurrency (WIDE), issue 15

Settings: "100x8" runs 100 evaluations asynchronously with up to 8 pending (completed in a seeded random
order shared by all searchers, `experiments.lab.driver.run_search`); "16r8" is the NeurIPS 2020 black-box
challenge's protocol, 16 rounds of 8 suggestions with a whole round asked before any of it is told
(`run_batches`), scored after 32 and after 128 evaluations. Settings with 32 or more pending (`WIDE`,
about 10 trials per worker) are reported in a section of their own, with the diversity of the configs in
flight (mean pairwise latent distance of a full pending set, `experiments.lab.driver.pending_diversity`) and
the configs suggested while an equal one was pending.

Every finished run (values in completion order, searcher seconds per completion) is stored as JSON under
`experiments/results/cache/runs/<setting>/<searcher>/<objective>.json` (one file per searcher, setting and
objective; seeds inside) and reused: a command runs only the (searcher, objective, setting, seed) runs
missing from the cache, or those of the searchers named by --rerun. Delete a searcher's folder when its
code changes in a way you do not want mixed with older runs, and the whole cache when an objective changes.

Writes external.md (tables per setting, development and held-out halves side by side, cost per trial next
to the score), external_objectives.md (score per objective), external.json and external.png (score against
evaluations) into experiments/results/.
"""

from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.stats import rankdata

from experiments.benchmark import RANDOM_SAMPLE, order_seed, score
from experiments.lab.driver import SEARCHERS, Setting, expected_best, make_searcher, random_values, run_setting
from experiments.lab.peers import PEERS
from experiments.lab.render import header, table
from experiments.lab.suites import DEV, HELD_OUT, SUITES, expand, get_objective, half_of, suite_of

RESULTS = Path("experiments/results")
CACHE = RESULTS / "cache"  # shared with experiments.benchmark: the dense random samples sit here
ORDER = (
    "random",
    "tpe",
    "hyperopt",
    "ngopt",
    "bohb",
    "smac",
    "hebo",
    "ax",
    "optuna_gp",
    "naive_pg",
    "pgsearcher",
    "pgsearcher_no_prior_candidates",
    "pgsearcher_prior_candidates",
    "pgsearcher_restarts",
)
HALVES = (DEV, HELD_OUT)
ASYNC = "32x8,100x8,100x1"
CHALLENGE = "16r8"
CHEAP = ("random", "tpe", "hyperopt", "ngopt")
# High concurrency, ~10 trials per worker (issue 15). HEBO (0.07-0.16 s per trial there) runs in stages of its own.
WIDE = "320x32,640x64,1280x128"
WIDE_SEARCHERS = ("random", "tpe", "ngopt", "naive_pg", "pgsearcher")
WIDE_PENDING = 32  # settings with at least this many pending get the wide report
PACKAGES = ["scikit-learn", "optuna", "hyperopt", "nevergrad", "hpbandster", "smac", "hebo", "ax-platform"]


@dataclass(frozen=True)
class Stage:
    """Runs of some searchers on some suites under some settings, for seeds 0..seeds-1."""

    searchers: tuple[str, ...]
    suites: str
    settings: str
    seeds: int


# The whole comparison, most informative per hour first; a later stage with more seeds adds only the seeds
# missing. HEBO, Ax and SMAC3 cost seconds of searcher time per trial on this 2-core machine, so they run
# only the challenge's own protocol on bayesmark, with few seeds; Optuna's GP sampler (0.1-0.2 s) also
# runs the asynchronous settings.
PLAN = (
    Stage(CHEAP + ("pgsearcher",), "ours,bbob,bbob_mixint", ASYNC, 3),
    Stage(CHEAP + ("pgsearcher",), "bayesmark", CHALLENGE, 3),
    Stage(("smac", "hebo"), "bayesmark", CHALLENGE, 1),
    Stage(("optuna_gp",), "ours,bbob,bbob_mixint", ASYNC, 3),
    Stage(CHEAP + ("pgsearcher",), "bayesmark", ASYNC, 2),
    Stage(("bohb",), "bayesmark", CHALLENGE, 3),
    Stage(("ax",), "bayesmark", CHALLENGE, 1),
    Stage(CHEAP + ("pgsearcher",), "bayesmark", CHALLENGE, 5),
    Stage(CHEAP + ("pgsearcher",), "ours,bbob,bbob_mixint", ASYNC, 5),
    Stage(CHEAP + ("pgsearcher",), "ours,bbob,bbob_mixint", ASYNC, 10),
    Stage(CHEAP + ("pgsearcher",), "bayesmark", CHALLENGE, 10),
    Stage(CHEAP + ("pgsearcher",), "bayesmark", ASYNC, 5),
    Stage(("smac", "hebo"), "bayesmark", CHALLENGE, 3),
)
# The restarts (Settings.restart_after, off by default): PGSearcher without prior candidates, with and
# without restarts where they can happen (budgets above 128); the two 2-D functions with many peaks
# (Gallagher's, f21 and f22) at 64 at once with 40 seeds, for how often a run ends on a lesser peak;
# the held-out half at 64 at once with 16 seeds and TPE, since one such run moves that half's mean by
# tens of points; and the development half at 64 at once with 24 seeds, so that the half where the
# default is chosen sees such runs too.
_RESTART_ARMS = ("pgsearcher_no_prior_candidates", "pgsearcher_restarts")
RESTARTS = (
    Stage(_RESTART_ARMS, "ours,bbob,bbob_mixint", WIDE, 8),
    Stage(_RESTART_ARMS, "bbob_f21_d02_i1,bbob_f22_d02_i1", "640x64", 40),
    Stage(("tpe",) + _RESTART_ARMS, "ours:held_out,bbob:held_out,bbob_mixint:held_out", "640x64", 16),
    Stage(_RESTART_ARMS, "ours:dev,bbob:dev,bbob_mixint:dev", "640x64", 24),
)
# The uniform prior point among the candidates drawn from the good density (Settings.prior_candidates):
# PGSearcher without it, with it however few trials are in flight, and by default (with it from 32 in
# flight), on both halves at every asynchronous setting; the two 2-D Gallagher functions at 64 at once
# with 80 seeds, for how often a run ends on a lesser peak; both halves at 64 at once with 24
# (development) and 16 (held-out, with TPE) seeds, where one such run moves a half's mean by tens of
# points, and TPE on the development half there with 8; Bayesmark's problems under the challenge's
# protocol; 256 at once, with random search (TPE's cost grows with the history: it would take hours
# there); and HEBO in batch mode (a batch per model fit of as many configs as run at once): with TPE at
# 32 at once (2 seeds), alone at 64 at once (4 seeds) and at 128 at once (2 seeds on the held-out half,
# 1 on the development half; 50-200 s per run); last, Bayesmark's problems under the challenge's protocol
# with TPE and the default at 20 seeds and HEBO at 10 (about 70 s per run), so that the order of the three
# does not rest on a few seeds of one problem.
_PRIOR_CANDIDATE_ARMS = ("pgsearcher_no_prior_candidates", "pgsearcher_prior_candidates", "pgsearcher")
PRIOR_CANDIDATES = (
    Stage(_PRIOR_CANDIDATE_ARMS, "ours,bbob,bbob_mixint", f"{ASYNC},{WIDE}", 8),
    Stage(_PRIOR_CANDIDATE_ARMS, "bbob_f21_d02_i1,bbob_f22_d02_i1", "640x64", 80),
    Stage(("tpe",) + _PRIOR_CANDIDATE_ARMS, "ours:held_out,bbob:held_out,bbob_mixint:held_out", "640x64", 16),
    Stage(_PRIOR_CANDIDATE_ARMS, "ours:dev,bbob:dev,bbob_mixint:dev", "640x64", 24),
    Stage(("tpe",), "ours:dev,bbob:dev,bbob_mixint:dev", "640x64", 8),
    Stage(_PRIOR_CANDIDATE_ARMS, "bayesmark", CHALLENGE, 5),
    Stage(("random", "pgsearcher_no_prior_candidates", "pgsearcher"), "ours,bbob,bbob_mixint", "2560x256", 4),
    Stage(("tpe", "hebo"), "ours,bbob,bbob_mixint", "320x32", 2),
    Stage(("hebo",), "ours,bbob,bbob_mixint", "640x64", 4),
    Stage(("hebo",), "ours:held_out,bbob:held_out,bbob_mixint:held_out", "1280x128", 2),
    Stage(("hebo",), "ours:dev,bbob:dev,bbob_mixint:dev", "1280x128", 1),
    Stage(("tpe", "pgsearcher"), "bayesmark", CHALLENGE, 20),
    Stage(("hebo",), "bayesmark", CHALLENGE, 10),
)
PLANS = {"external": PLAN, "restarts": RESTARTS, "prior_candidates": PRIOR_CANDIDATES}


def is_wide(setting: str) -> bool:
    """An asynchronous setting with `WIDE_PENDING` or more pending ("320x32")."""
    parsed = Setting.parse(setting)
    return not parsed.batched and parsed.concurrency >= WIDE_PENDING


def searcher_names() -> list[str]:
    """Every searcher the harness and `experiments.lab.peers` know, in report order."""
    known = {**SEARCHERS, **PEERS}
    return [n for n in ORDER if n in known] + [n for n in known if n not in ORDER]


# ---------------------------------------------------------------- cache


def run_path(cache: Path, setting: str, searcher: str, objective: str) -> Path:
    """The JSON file holding every cached seed of one searcher on one objective under one setting."""
    return cache / "runs" / setting / searcher / f"{objective}.json"


def load_runs(cache: Path, setting: str, searcher: str, objective: str) -> dict[int, dict]:
    """Cached runs by seed (empty if none)."""
    path = run_path(cache, setting, searcher, objective)
    if not path.exists():
        return {}
    return {int(seed): run for seed, run in json.loads(path.read_text())["runs"].items()}


def save_run(cache: Path, setting: str, run: dict) -> None:
    """Add (or replace) one run in its file."""
    path = run_path(cache, setting, run["searcher"], run["objective"])
    runs = load_runs(cache, setting, run["searcher"], run["objective"])
    runs[run["seed"]] = run
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"searcher": run["searcher"], "objective": run["objective"], "setting": setting}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({**body, "runs": {str(k): runs[k] for k in sorted(runs)}}))
    tmp.replace(path)


def execute(searcher: str, objective: str, setting: str, seed: int) -> dict:
    """One run, as the dict the cache stores (values at full precision, searcher seconds to 4 digits)."""
    warnings.filterwarnings("ignore")
    parsed = Setting.parse(setting)
    start = time.perf_counter()
    record = run_setting(
        make_searcher(searcher, seed, parsed.budget, parsed.concurrency),
        get_objective(objective),
        parsed,
        order_seed(seed, objective, (parsed.budget, parsed.concurrency)),
        name=searcher,
        seed=seed,
    )
    return {
        "searcher": searcher,
        "objective": objective,
        "seed": seed,
        "values": record.values,
        "step_seconds": [float(f"{s:.4g}") for s in record.step_seconds],
        "duplicates": record.duplicates,
        "in_flight_duplicates": record.in_flight_duplicates,
        "diversity": [round(d, 4) for d in record.diversity],
        "off_domain": record.off_domain,
        "notes": record.notes,
        "wall_seconds": round(time.perf_counter() - start, 2),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
    }


def _limit_threads() -> None:
    """One BLAS / OpenMP thread per process (scikit-learn's fits are tiny; the machine is shared)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def _pool(jobs: int) -> ProcessPoolExecutor:
    """Worker processes (spawned: a fork after torch or OpenMP code can deadlock), one thread each."""
    return ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_limit_threads)


def _random_sample(objective: str, cache: str) -> np.ndarray:
    """The cached dense random sample of one objective (`experiments.benchmark`'s sizes)."""
    warnings.filterwarnings("ignore")
    obj = get_objective(objective)
    return random_values(obj, RANDOM_SAMPLE[obj.kind], Path(cache))


def random_samples(objectives: list[str], cache: Path, jobs: int) -> dict[str, np.ndarray]:
    """Dense random samples, computed where missing."""
    if jobs == 1:
        return {o: _random_sample(o, str(cache)) for o in objectives}
    with _pool(jobs) as pool:
        return dict(zip(objectives, pool.map(_random_sample, objectives, [str(cache)] * len(objectives)), strict=True))


def run_missing(tasks: list[tuple[str, str, str, int]], cache: Path, jobs: int) -> list[str]:
    """Run (searcher, objective, setting, seed) tasks and cache each as it finishes; a run that raises is
    reported, left out of the cache and returned (as text) so that one peer's failure does not stop the rest."""
    start = time.time()
    failures: list[str] = []

    def done(i: int, task: tuple[str, str, str, int], run: dict | BaseException) -> None:
        elapsed = time.time() - start
        left = f"({elapsed / 60:.1f} min, about {elapsed / i * (len(tasks) - i) / 60:.0f} min left)"
        if isinstance(run, BaseException):
            failures.append(f"{task}: {type(run).__name__}: {run}")
            print(f"  {i}/{len(tasks)} {task} FAILED: {failures[-1]} {left}", file=sys.stderr, flush=True)
            return
        save_run(cache, task[2], run)
        print(
            f"  {i}/{len(tasks)} {task[2]} {task[0]} {task[1]} seed {task[3]}: best {min(run['values']):.5g}, "
            f"{run['wall_seconds']:.1f} s {left}",
            file=sys.stderr,
            flush=True,
        )

    if jobs == 1:
        for i, task in enumerate(tasks, 1):
            try:
                result: dict | BaseException = execute(*task)
            except Exception as err:  # a peer's bug must not stop the other runs
                result = err
            done(i, task, result)
        return failures
    with _pool(jobs) as pool:
        futures = [(task, pool.submit(execute, *task)) for task in tasks]
        for i, (task, future) in enumerate(futures, 1):
            done(i, task, future.exception() or future.result())
    return failures


def plan_tasks(
    stages: tuple[Stage, ...] | list[Stage], cache: Path, only: list[str] | None, rerun: set[str]
) -> list[tuple[str, str, str, int]]:
    """The runs the stages ask for that are not cached (or whose searcher is in `rerun`), deduplicated.

    Within a stage seed 0 comes first for every searcher, objective and setting, then seed 1...: a stage
    stopped part way leaves whole seeds behind.
    """
    tasks: dict[tuple[str, str, str, int], None] = {}
    for stage in stages:
        settings = [Setting.parse(s).key for s in stage.settings.split(",")]
        searchers = [n for n in stage.searchers if only is None or n in only]
        cached = {
            (n, o, s): {} if n in rerun else load_runs(cache, s, n, o)
            for s in settings
            for n in searchers
            for o in expand(stage.suites)
        }
        for seed in range(stage.seeds):
            for (searcher, objective, setting), have in cached.items():
                if seed not in have:
                    tasks[(searcher, objective, setting, seed)] = None
    return list(tasks)


# ---------------------------------------------------------------- scoring


def _curve(values: list[float], budget: int) -> np.ndarray:
    """Best-so-far after each evaluation, padded to `budget` (a searcher that stopped early keeps its best)."""
    curve = np.minimum.accumulate(np.asarray(values, dtype=float))
    return np.concatenate([curve, np.full(budget - len(curve), curve[-1])]) if len(curve) < budget else curve


def score_points(setting: Setting) -> list[int]:
    """Evaluations at which a setting is scored: the budget, and 32 for the challenge's batched protocol."""
    return sorted({min(32, setting.budget), setting.budget}) if setting.batched else [setting.budget]


@dataclass
class Cell:
    """One searcher's cached runs on one objective under one setting."""

    seeds: list[int]
    best: np.ndarray  # seeds x budget: best value so far
    scores: np.ndarray  # seeds x budget: score of the best so far against random search at that budget
    seconds: np.ndarray  # seeds: searcher seconds per trial
    diversity: np.ndarray  # seeds: mean diversity of the run's full pending sets (nan: not measured)
    in_flight: np.ndarray  # seeds: configs suggested while an equal config was pending (nan: not counted)

    def at(self, seeds: list[int]) -> np.ndarray:
        """Row indices of `seeds`."""
        return np.array([self.seeds.index(k) for k in seeds])


def score_runs(
    cache: Path = CACHE,
    searchers: list[str] | None = None,
    settings: list[str] | None = None,
    objectives: list[str] | None = None,
    jobs: int = 1,
    pairs: list[tuple[str, str]] | None = None,
) -> dict:
    """Score every cached run of the selected searchers, settings and objectives (default: all cached).

    Score of a run at n evaluations = 100 * (1 - (best - optimum) / (random - optimum)), random = the exact
    expected best of n uniform random draws from the objective's dense random sample, optimum = the known
    optimum if any, else the best value any cached run or the sample found (the challenge's definition).
    A searcher is scored on a suite's half in a setting only where it has runs on every objective of the
    half, on the seeds it has on all of them. ``pairs`` (a, b): also b - a paired by seed (`_paired`).
    Returns the summary that `markdown` and `plot` read.
    """
    runs_dir = cache / "runs"
    if settings is None:
        found = [Setting.parse(p.name) for p in runs_dir.iterdir()] if runs_dir.exists() else []
        settings = [s.key for s in sorted(found, key=lambda s: (s.batched, s.budget, -s.concurrency))]
    names = searchers or [n for n in searcher_names() if any((runs_dir / s / n).exists() for s in settings)]
    runs = {
        (s, n, o): load_runs(cache, s, n, o)
        for s in settings
        for n in names
        for o in objectives or expand("all")
        if run_path(cache, s, n, o).exists()
    }
    used = list(dict.fromkeys(key[2] for key in runs))
    samples = random_samples(used, cache, jobs)
    optimum = {}
    for o in used:
        found = [min(r["values"]) for (_, _, obj), cached in runs.items() if obj == o for r in cached.values()]
        seen = min([float(samples[o].min())] + found)
        known = get_objective(o).optimum
        optimum[o] = min(known, seen) if known is not None else seen
    out: dict = {"optimum": optimum, "searchers": names, "settings": {}, "pairs": [list(p) for p in pairs or []]}
    for s in settings:
        setting = Setting.parse(s)
        in_setting = [o for o in used if any((s, n, o) in runs for n in names)]
        random_best = {
            o: np.array([expected_best(samples[o], t) for t in range(1, setting.budget + 1)]) for o in in_setting
        }
        cells = {}
        for (s_, n, o), cached in runs.items():
            if s_ == s and cached:
                seeds = sorted(cached)
                best = np.array([_curve(cached[k]["values"], setting.budget) for k in seeds])
                seconds = np.array([np.sum(cached[k]["step_seconds"]) / len(cached[k]["values"]) for k in seeds])
                diversity = np.array([_mean_or_nan(cached[k].get("diversity")) for k in seeds])
                in_flight = np.array([cached[k].get("in_flight_duplicates", np.nan) for k in seeds], dtype=float)
                scores = score(best, random_best[o], optimum[o])
                cells[(n, o)] = Cell(seeds, best, scores, seconds, diversity, in_flight)
        groups = {
            f"{suite}:{half}": [o for o in in_setting if suite_of(o) == suite and half_of(o) == half]
            for suite in SUITES
            for half in HALVES
        }
        groups = {k: v for k, v in groups.items() if v}
        for point in score_points(setting):
            summary = _summarize_point(s, point, names, groups, cells)
            summary["paired"] = [_paired(cells, groups, a, b, point) for a, b in pairs or []]
            out["settings"][f"{s}@{point}"] = summary
    return out


def _paired(cells: dict, groups: dict, a: str, b: str, point: int) -> dict[str, dict]:
    """Per half, b - a paired by seed: the half's score (mean over its suites of the mean over the suite
    half's objectives) after ``point`` evaluations on each seed both ran on all of the half; mean and
    standard error over those seeds. A half that either searcher did not run all of is left out."""
    out = {}
    for half in HALVES:
        keys = [k for k in groups if k.endswith(":" + half)]
        objectives = [o for k in keys for o in groups[k]]
        if not keys or any((n, o) not in cells for n in (a, b) for o in objectives):
            continue
        seeds = sorted(set(_common_seeds(cells, a, objectives)) & set(_common_seeds(cells, b, objectives)))
        if not seeds:
            continue
        half_score = {  # per seed: the mean over the half's suites of the mean over each suite's objectives
            n: np.mean(
                [
                    np.mean([cells[(n, o)].scores[cells[(n, o)].at(seeds), point - 1] for o in groups[k]], axis=0)
                    for k in keys
                ],
                axis=0,
            )
            for n in (a, b)
        }
        diff = half_score[b] - half_score[a]
        stderr = float(diff.std(ddof=1) / np.sqrt(diff.size)) if diff.size > 1 else float("nan")
        out[half] = {"mean": float(diff.mean()), "stderr": stderr, "seeds": len(seeds)}
    return out


def _mean_or_nan(values: list[float] | None) -> float:
    """Mean of a run's measurements; nan for a run without them (cached before they were recorded)."""
    return float(np.mean(values)) if values else float("nan")


def _nanmean(values: list[float] | np.ndarray) -> float:
    """Mean of the finite values (nan if none)."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    return float(finite.mean()) if finite.size else float("nan")


def _common_seeds(cells: dict, searcher: str, objectives: list[str]) -> list[int]:
    """Seeds a searcher has on every objective of a group (empty if it misses an objective)."""
    if any((searcher, o) not in cells for o in objectives):
        return []
    return sorted(set.intersection(*(set(cells[(searcher, o)].seeds) for o in objectives)))


def _group_stats(cells: dict, objectives: list[str], searchers: list[str], point: int) -> dict[str, dict]:
    """Mean (over seeds of the mean over objectives) +- standard error, median, mean rank among `searchers`
    (per objective and seed they all ran), searcher ms per trial and mean score curve, per searcher."""
    stats = {}
    for n in searchers:
        seeds = _common_seeds(cells, n, objectives)
        scores = np.array([cells[(n, o)].scores[cells[(n, o)].at(seeds), :point] for o in objectives])
        per_seed = scores[:, :, -1].mean(axis=0)
        stats[n] = {
            "mean": float(per_seed.mean()),
            "stderr": float(per_seed.std(ddof=1) / np.sqrt(len(seeds))) if len(seeds) > 1 else float("nan"),
            "median": float(np.median(scores[:, :, -1])),
            "seeds": len(seeds),
            "ms_per_trial": 1000 * float(np.mean([cells[(n, o)].seconds.mean() for o in objectives])),
            "diversity": _nanmean([cells[(n, o)].diversity[cells[(n, o)].at(seeds)] for o in objectives]),
            "in_flight_duplicates": _nanmean([cells[(n, o)].in_flight[cells[(n, o)].at(seeds)] for o in objectives]),
            "curve": scores.mean(axis=(0, 1)).tolist(),
            "ranks": [],
        }
    for o in objectives:
        shared = sorted(set.intersection(*(set(cells[(n, o)].seeds) for n in searchers))) if searchers else []
        for k in shared:
            bests = [cells[(n, o)].best[cells[(n, o)].seeds.index(k), point - 1] for n in searchers]
            for n, r in zip(searchers, rankdata(bests), strict=True):
                stats[n]["ranks"].append(float(r))
    for n in searchers:
        ranks = stats[n].pop("ranks")
        stats[n]["rank"] = float(np.mean(ranks)) if ranks else float("nan")
    return stats


def _summarize_point(setting: str, point: int, names: list[str], groups: dict, cells: dict) -> dict:
    """Per group ("suite:half") and per half (mean over its suites, equal weight each): the searchers that
    ran all of it, their score, median, rank among them and cost; and the mean score per objective."""
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
                    "seeds": min(g[n]["seeds"] for g in per_group),
                    "ms_per_trial": float(np.mean([g[n]["ms_per_trial"] for g in per_group])),
                    "diversity": _nanmean([g[n]["diversity"] for g in per_group]),
                    "in_flight_duplicates": _nanmean([g[n]["in_flight_duplicates"] for g in per_group]),
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


def _fmt(stats: dict | None, key: str = "mean", digits: int = 1) -> str:
    """A statistic as text ("—" where the searcher did not run that part)."""
    if stats is None:
        return "—"
    value = stats[key]
    if key == "mean" and np.isfinite(stats.get("stderr", np.nan)):
        return f"{value:.{digits}f} ± {stats['stderr']:.{digits}f}"
    return f"{value:.{digits if key != 'rank' else 2}f}"


def _half_row(halves: dict, name: str) -> list[str]:
    """A searcher's row of a setting's main table: both halves side by side, then its cost per trial."""
    stats = [halves[h]["searchers"][name] for h in HALVES if name in halves[h]["searchers"]]
    cells = [_fmt(halves[h]["searchers"].get(name), key) for key in ("mean", "median", "rank") for h in HALVES]
    ms = np.mean([s["ms_per_trial"] for s in stats])
    return [name, str(min(s["seeds"] for s in stats))] + cells + [f"{ms:.1f}"]


def _wide_row(halves: dict, name: str) -> list[str]:
    """A searcher's row of a wide setting's main table: `_half_row` with the diversity of the configs in
    flight per half and the in-flight duplicates per run inserted before the cost."""
    row = _half_row(halves, name)
    stats = [halves[h]["searchers"].get(name) for h in HALVES]
    diversity = ["—" if s is None or not np.isfinite(s["diversity"]) else f"{s['diversity']:.3f}" for s in stats]
    in_flight = _nanmean([s["in_flight_duplicates"] for s in stats if s is not None])
    return row[:-1] + diversity + ["—" if not np.isfinite(in_flight) else f"{in_flight:.1f}"] + row[-1:]


def _title(key: str) -> str:
    """A setting@point key as a heading."""
    setting, point = key.split("@")
    parsed = Setting.parse(setting)
    if parsed.batched:
        return (
            f"{setting}: the challenge's protocol ({parsed.budget // parsed.concurrency} rounds of "
            f"{parsed.concurrency}), score after {point} evaluations"
        )
    title = f"{setting}: {point} evaluations, up to {parsed.concurrency} pending (asynchronous)"
    return f"High concurrency {title}" if is_wide(setting) else title


def markdown(summary: dict, argv: list[str] | None, wall: float | None) -> tuple[str, str]:
    """external.md (per setting: halves side by side, per suite, cost) and external_objectives.md."""
    names = summary["searchers"]
    intro = [
        "Score at n evaluations = 100 × (1 − (best − optimum) / (random − optimum)): 100 is the optimum, 0 the "
        "exact expected best of n uniform random draws (from a dense random sample per objective), negative "
        "is worse than random search. `optimum` is the known optimum (COCO, our synthetic functions) or the "
        "best value any cached run or the random sample found (bayesmark's definition). A half's score is the "
        "mean over its suites (each suite weighs the same) of the mean over the suite half's objectives, "
        "± standard error over seeds; median: of the per-objective-and-seed scores; rank: mean rank among the "
        "searchers of the table on the objectives and seeds they all ran (1 is best). ms / trial: searcher "
        "time (suggest + on_trial_complete) per completed trial, on this shared 2-core machine. A searcher is "
        "shown for a half only where it ran every objective of it; seeds: the fewest it has on a suite half.",
        "",
        "**dev** is the development half (tune on it), **held out** the held-out half (only check on it); "
        "the split is fixed in `experiments/lab/suites/__init__.py`.",
        "",
    ]
    if wall is not None:
        intro += [f"Wall time of this command: {wall / 60:.1f} min.", ""]
    lines = header("external", "Searchers on external suites, development and held-out halves", argv, PACKAGES) + intro
    lines += ["## Suites", ""]
    lines += table(
        ["suite", "dev", "held out"],
        [[s.name, ", ".join(s.dev), ", ".join(s.held_out)] for s in SUITES.values()],
    )
    objectives_md = header("external", "Score per objective", argv, PACKAGES) + [
        "Mean score over seeds (seeds in brackets) per objective, setting and searcher; see external.md.",
        "",
    ]
    keys = list(summary["settings"])
    wide = [k for k in keys if is_wide(summary["settings"][k]["setting"])]
    for key in [k for k in keys if k not in wide] + wide:
        point = summary["settings"][key]
        if wide and key == wide[0]:
            hebo_ran = any("hebo" in summary["settings"][k]["halves"][h]["searchers"] for k in wide for h in HALVES)
            hebo = (
                "HEBO suggests a whole batch of as many configs as run at once per model fit (Ray's HEBOSearch "
                "with `max_concurrent` set to it)."
                if hebo_ran
                else "HEBO is left out (~0.3-1 s per suggestion here)."
            )
            lines += [
                "## High concurrency (issue 15)",
                "",
                "Settings with 32 or more trials pending, about 10 trials per worker, completed in the same "
                "seeded random order for every searcher. Besides the score: **diversity**, the mean pairwise "
                "distance of the configs in flight each time the pending set is full (measured once per "
                "`concurrency` suggestions), in the unit latent space of `ray_pgsearch.SearchSpace`: "
                "sqrt(sum of squared differences of the numeric latents + number of differing categories) / "
                "sqrt(number of parameters), so 0 is one point and 1 opposite corners, mean over a run then "
                "over objectives and seeds (uniform random search gives the reference); **dups in flight**: "
                "configs suggested while an equal config was pending, per run. TPE is Optuna's TPESampler as "
                "Ray's OptunaSearch builds it, which from Optuna 5.0 runs the constant liar; NGOpt is told the "
                f"number of workers. {hebo}",
                "",
            ]
        lines += [f"## {_title(key)}", ""]
        halves = point["halves"]
        shown = [n for n in names if any(n in halves[h]["searchers"] for h in HALVES)]
        if shown:
            suites = {h: ", ".join(halves[h]["suites"]) for h in HALVES}
            lines += [f"Suites: dev {suites[DEV] or '—'}; held out {suites[HELD_OUT] or '—'}.", ""]
            head = ["searcher", "seeds", "dev score", "held-out score", "dev median", "held-out median"]
            head += ["dev rank", "held-out rank"]
            if key in wide:
                head += ["dev diversity", "held-out diversity", "dups in flight", "ms / trial"]
                lines += table(head, [_wide_row(halves, n) for n in shown])
            else:
                lines += table(head + ["ms / trial"], [_half_row(halves, n) for n in shown])
        paired = [(p, d) for p, d in zip(summary["pairs"], point["paired"], strict=True) if d]
        if paired:
            lines += ["Paired by seed (the same seeds and completion orders), b − a:", ""]
            lines += table(
                ["b − a", "dev", "held out", "seeds"],
                [
                    [f"{b} − {a}"] + [_fmt(d.get(h)) for h in HALVES] + [str(min(v["seeds"] for v in d.values()))]
                    for (a, b), d in paired
                ],
            )
        groups = point["groups"]
        in_groups = [n for n in names if any(n in g for g in groups.values())]
        lines += [f"Per suite half ({key}): mean score ± standard error (seeds), ms / trial in brackets.", ""]
        lines += table(
            ["searcher"] + [k.replace(":", " ").replace("held_out", "held out") for k in groups],
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
        objectives_md += table(
            ["objective", "suite", "half", "optimum"] + with_runs,
            [
                [o, suite_of(o), half_of(o).replace("held_out", "held out"), f"{summary['optimum'][o]:.6g}"]
                + [f"{v[n][0]:.1f} ({v[n][1]})" if n in v else "—" for n in with_runs]
                for o, v in per_objective.items()
            ],
        )
    return "\n".join(lines), "\n".join(objectives_md)


def plot(summary: dict, path: Path) -> None:
    """Mean score of the best so far (against random search at the same number of evaluations) per
    searcher, one panel per setting: development half solid, held-out half dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    last: dict[str, dict] = {}
    for point in summary["settings"].values():  # the largest evaluation count of each setting
        last[point["setting"]] = point
    columns = min(len(last), 2) or 1
    rows = max(-(-len(last) // columns), 1)
    fig, axes = plt.subplots(rows, columns, figsize=(6.5 * columns, 4.8 * rows), squeeze=False)
    for ax in axes.flat[len(last) :]:
        ax.set_visible(False)
    for ax, (setting, point) in zip(axes.flat, last.items(), strict=False):
        for i, name in enumerate(summary["searchers"]):
            for half, style in ((DEV, "-"), (HELD_OUT, "--")):
                stats = point["halves"][half]["searchers"].get(name)
                if stats is not None:
                    x = np.arange(1, len(stats["curve"]) + 1)
                    label = name if half == DEV or name not in point["halves"][DEV]["searchers"] else None
                    ax.plot(x, stats["curve"], style, color=f"C{i % 10}", lw=1.2, label=label)
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_ylim(-60, 100)
        ax.set_title(f"{setting}: dev (solid), held out (dashed)")
        ax.set_xlabel("evaluations")
        ax.set_ylabel("mean score (0: random search at that budget)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report(
    cache: Path,
    out: Path,
    searchers: list[str] | None,
    argv: list[str] | None,
    wall: float | None,
    pairs: list[tuple[str, str]] | None = None,
) -> str:
    """Re-score the cache and write external.md / external_objectives.md / external.json / external.png."""
    summary = score_runs(cache, searchers, pairs=pairs)
    text, per_objective = markdown(summary, argv, wall)
    out.mkdir(parents=True, exist_ok=True)
    (out / "external.md").write_text(text)
    (out / "external_objectives.md").write_text(per_objective)
    (out / "external.json").write_text(json.dumps(summary))
    plot(summary, out / "external.png")
    return text


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> None:
    """Run what is missing from the cache (one stage from the flags, or the whole PLAN), then report."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--plan",
        nargs="?",
        const="external",
        choices=sorted(PLANS),
        help="run every stage of a plan: external (the default), restarts or prior_candidates "
        "(with --searchers: theirs only)",
    )
    parser.add_argument("--suites", default="all", help="suites, suite:dev / suite:held_out halves or objectives")
    parser.add_argument("--settings", default=ASYNC, help="e.g. 32x8,100x8,100x1 (asynchronous) or 16r8 (rounds)")
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1")
    parser.add_argument("--searchers", help=f"comma separated (default {','.join(CHEAP)}; with --plan: all of it)")
    parser.add_argument("--rerun", default="", help="searchers whose cached runs are run again")
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel processes")
    parser.add_argument("--report-only", action="store_true", help="only re-score the cache")
    parser.add_argument("--report-searchers", help="searchers in the report (default: all cached)")
    parser.add_argument("--paired", default="", help="a:b,... report b - a paired by seed (e.g. an ablation)")
    parser.add_argument("--list", action="store_true", help="print the runs that would be run, and stop")
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    _limit_threads()
    known = searcher_names()
    only = args.searchers.split(",") if args.searchers else None
    rerun = set(filter(None, args.rerun.split(",")))
    unknown = set(only or []) | rerun | set((args.report_searchers or "").split(",")) - {""}
    if unknown - set(known):
        parser.error(f"unknown searchers {sorted(unknown - set(known))}; known: {known}")
    pairs = [pair.split(":") for pair in args.paired.split(",") if pair]
    if any(len(pair) != 2 or set(pair) - set(known) for pair in pairs):
        parser.error(f"--paired takes a:b pairs of known searchers, got {args.paired!r}")
    start = time.time()
    if not args.report_only:
        if args.plan:
            tasks = plan_tasks(PLANS[args.plan], args.cache, only, rerun)
        else:
            stage = Stage(tuple(only or CHEAP), args.suites, args.settings, args.seeds)
            tasks = plan_tasks([stage], args.cache, None, rerun)
        counts: dict[tuple[str, str], int] = {}
        for searcher, _, setting, _ in tasks:
            counts[(searcher, setting)] = counts.get((searcher, setting), 0) + 1
        print(
            f"{len(tasks)} runs to do: " + ", ".join(f"{n} {s}: {c}" for (n, s), c in counts.items()), file=sys.stderr
        )
        if args.list:
            return
        objectives = list(dict.fromkeys(task[1] for task in tasks))
        random_samples(objectives, args.cache, args.jobs)
        failures = run_missing(tasks, args.cache, args.jobs)
        if failures:
            print(f"{len(failures)} runs failed:\n" + "\n".join(failures), file=sys.stderr)
    wall = None if args.report_only else time.time() - start
    report_searchers = args.report_searchers.split(",") if args.report_searchers else None
    print(report(args.cache, args.out, report_searchers, argv, wall, [(a, b) for a, b in pairs]))


if __name__ == "__main__":
    main()
