"""The crash suite through real Ray Tune: trainables that raise (out of memory, a lost node) or report a NaN
loss in their crash regions, ``FailureConfig(max_failures=0)``, 8 trials in flight on a local Ray with
``reuse_actors=True``; PGSearcher against TPE and random search.

    python -m experiments.crash_tune                   # tune.md / tune.json in experiments/results/crash/
    python -m experiments.crash_tune --quick           # the smoke run

Each trial is one call of a held-out objective of the crash suite (`experiments.lab.suites.crash`, no
sleep): a raise becomes an errored trial (Tune then calls ``on_trial_complete(trial_id, error=True)``),
a NaN loss a trial that finished with a NaN metric. Counted per run: ``results.num_errors``, the trials
whose last loss is NaN, and the best finite loss. Runs are cached (``experiments/results/runs/crash_tune/``).
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
import time
import warnings

import numpy as np

from experiments import crash
from experiments.lab import cli, render, stats
from experiments.lab.arms import make_searcher
from experiments.lab.cache import RunCache
from experiments.lab.cluster import start_ray
from experiments.lab.suites import get_objective
from experiments.lab.timing import TimedSearcher

OBJECTIVES = ("crash_mixed_vit", "crash_diverge_warmup")
SEARCHERS = ("random", "tpe", "pgsearcher")
IN_FLIGHT = 8
FULL = cli.Scale(seeds=4, budget=64)
QUICK = cli.Scale(seeds=1, budget=8)


def trainable(config: dict, objective: str) -> None:
    """One trial: the objective's loss, a raise where the trial crashes, NaN where it diverges."""
    from ray import tune

    tune.report({"loss": float(get_objective(objective).fn(config))})


def crash_kind(error: BaseException) -> str:
    """The kind of crash an errored trial's exception carries (Tune wraps the trainable's)."""
    text = f"{type(error).__name__}: {error}"
    return next((kind for name, kind in (("OutOfMemory", "oom"), ("LostNode", "lost")) if name in text), "error")


def tune_run(searcher: str, objective: str, seed: int, budget: int, storage: str) -> dict:
    """One Tune run: every trial's status (ok, nan, error) and loss, in the order the trials were made."""
    from ray import tune

    warnings.filterwarnings("ignore")
    timed = TimedSearcher(make_searcher(searcher, seed, budget, IN_FLIGHT))
    start = time.perf_counter()
    results = tune.Tuner(
        tune.with_parameters(trainable, objective=objective),
        param_space=get_objective(objective).space,
        tune_config=tune.TuneConfig(
            search_alg=timed,
            metric="loss",
            mode="min",
            num_samples=budget,
            max_concurrent_trials=IN_FLIGHT,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            storage_path=storage,
            name=f"{searcher}_{objective}_{seed}",
            verbose=0,
            failure_config=tune.FailureConfig(max_failures=0),
        ),
    ).fit()
    wall = time.perf_counter() - start
    trials = []
    for r in results:
        loss = (r.metrics or {}).get("loss")
        if r.error is not None:
            trials.append({"status": "error", "loss": None, "kind": crash_kind(r.error)})
        elif loss is None or not math.isfinite(loss):
            trials.append({"status": "nan", "loss": None})
        else:
            trials.append({"status": "ok", "loss": float(loss)})
    finite = [t["loss"] for t in trials if t["status"] == "ok"]
    return {
        "searcher": searcher,
        "objective": objective,
        "seed": seed,
        "trials": len(trials),
        "num_errors": results.num_errors,
        "nan": sum(t["status"] == "nan" for t in trials),
        "oom": sum(t.get("kind") == "oom" for t in trials),
        "lost": sum(t.get("kind") == "lost" for t in trials),
        "best": min(finite) if finite else None,
        "values": [t["loss"] for t in trials],
        "searcher_seconds": round(timed.seconds, 3),
        "wall_seconds": round(wall, 1),
    }


def markdown(cache: RunCache, group: str, argv: list[str] | None, wall: float | None) -> tuple[str, dict]:
    """The table: per objective and searcher, errors, NaN trials, crashes in all and the best loss."""
    lines = render.header("crash_tune", "The crash suite through real Ray Tune", argv, crash.PACKAGES)
    lines += [f"Code measured: ray_pgsearch at {render.code_version()}.", ""]
    if wall is not None:
        lines += [f"Wall time of this command: {wall / 60:.1f} min.", ""]
    budget, in_flight = (int(v) for v in group.split("x"))
    lines += [
        f"{budget} trials per run, {in_flight} in flight (`max_concurrent_trials`), `reuse_actors=True`, "
        '`FailureConfig(max_failures=0)`, a local Ray (`ray.init(address="local")`) of '
        f"{in_flight} logical CPUs on this 2-core machine; each trial is one call of the objective (no sleep) "
        "that raises where the trial crashes (Tune errors the trial) or reports a NaN loss where it diverges. "
        "**errors**: `results.num_errors`; **NaN**: trials whose loss is NaN; **crashes**: both; mean ± s.e. "
        "over seeds. **best**: the best finite loss. PGSearcher minus TPE paired by seed in the last column.",
        "",
    ]
    rows, out = [], {}
    for objective in OBJECTIVES:
        runs = {n: cache.runs(group, n, objective) for n in SEARCHERS}
        for name in SEARCHERS:
            by_seed = runs[name]
            if not by_seed:
                continue
            errors = [r["num_errors"] for r in by_seed.values()]
            nan = [r["nan"] for r in by_seed.values()]
            crashes = {k: r["num_errors"] + r["nan"] for k, r in by_seed.items()}
            best = {k: r["best"] for k, r in by_seed.items() if r["best"] is not None}
            diff = (
                stats.paired({k: r["best"] for k, r in runs["tpe"].items() if r["best"] is not None}, best)
                if name == "pgsearcher" and runs["tpe"]
                else None
            )
            ms = 1000 * np.mean([r["searcher_seconds"] / r["trials"] for r in by_seed.values()])
            rows.append(
                [
                    objective,
                    name,
                    str(len(by_seed)),
                    render.pm(*stats.mean_se(errors)),
                    render.pm(*stats.mean_se(nan)),
                    render.pm(*stats.mean_se(crashes.values())),
                    render.pm(*stats.mean_se(best.values()), digits=4),
                    render.pm(diff["mean"], diff["stderr"], 4, signed=True) if diff else "",
                    f"{ms:.2g}",
                    f"{np.mean([r['wall_seconds'] for r in by_seed.values()]):.0f}",
                ]
            )
            out[f"{objective}|{name}"] = {
                "seeds": sorted(by_seed),
                "num_errors": errors,
                "nan": nan,
                "best": list(best.values()),
                "searcher_ms_per_trial": ms,
            }
    lines += render.table(
        ["objective", "searcher", "seeds", "errors", "NaN", "crashes", "best", "best - TPE", "ms / trial", "wall s"],
        rows,
    )
    return "\n".join(lines), out


def main(argv: list[str] | None = None) -> None:
    """Run what the cache lacks, then write tune.md and tune.json."""
    args = cli.parse_args(__doc__, FULL, QUICK, argv, study="crash_tune")
    report = args.out / crash.RESULTS.name  # beside the in-process study's crash.md
    report.mkdir(parents=True, exist_ok=True)
    cache = RunCache(args.cache)
    group = f"{args.budget}x{IN_FLIGHT}"
    todo = [
        (n, o, k) for k in range(args.seeds) for o in OBJECTIVES for n in SEARCHERS if not cache.has(group, n, o, k)
    ]
    start = time.time()
    if todo:
        os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
        logging.getLogger("ray").setLevel(logging.ERROR)
        start_ray(__name__, num_cpus=IN_FLIGHT)
        storage = tempfile.mkdtemp(prefix="crash_tune_")
        try:
            for i, (name, objective, seed) in enumerate(todo, 1):
                run = tune_run(name, objective, seed, args.budget, storage)
                cache.add(group, run)
                print(
                    f"  {i}/{len(todo)} {name} {objective} {seed}: {run['num_errors']} errors, {run['nan']} NaN, "
                    f"best {run['best']} ({run['wall_seconds']} s)",
                    flush=True,
                )
        finally:
            cache.compact()
            shutil.rmtree(storage, ignore_errors=True)
    text, out = markdown(cache, group, argv, time.time() - start if todo else None)
    (report / "tune.md").write_text(text + "\n")
    (report / "tune.json").write_text(json.dumps(out, indent=1) + "\n")
    print(text)


if __name__ == "__main__":
    main()
