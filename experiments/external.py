"""Searchers on external suites (bayesmark, COCO bbob / bbob-mixint) and ours, development and held-out halves.

    python -m experiments.external --plan            # every stage of PLAN (what is cached is reused), then report
    python -m experiments.external --report-only     # re-score everything in the cache (seconds)
    python -m experiments.external --quick           # the smoke run (seconds)
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
        --settings 320x32,640x64,1280x128 --seeds 2                  # high concurrency (WIDE)

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
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from experiments.external_report import report
from experiments.lab import cli
from experiments.lab.arms import searcher_names
from experiments.lab.cache import RunCache
from experiments.lab.driver import execute, fill_cache, one_thread, random_samples
from experiments.lab.peers import CHEAP
from experiments.lab.protocol import Setting
from experiments.lab.suites import expand

ASYNC = "32x8,100x8,100x1"
CHALLENGE = "16r8"
# High concurrency, about 10 trials per worker. HEBO, whose model fit dominates there, runs in stages of its own.
WIDE = "320x32,640x64,1280x128"
WIDE_SEARCHERS = ("random", "tpe", "ngopt", "naive_pg", "pgsearcher")
# One stage from the flags: their defaults, and those of the smoke run (--quick).
FULL = {"searchers": ",".join(CHEAP), "suites": "all", "settings": ASYNC, "seeds": 10}
QUICK = {"searchers": "random,pgsearcher", "suites": "branin,levy4", "settings": "6x2,2r3", "seeds": 1}


@dataclass(frozen=True)
class Stage:
    """Runs of some searchers on some suites under some settings, for seeds 0..seeds-1."""

    searchers: tuple[str, ...]
    suites: str
    settings: str
    seeds: int


# The whole comparison, most informative per hour first; a later stage with more seeds adds only the seeds
# missing. HEBO, Ax and SMAC3 cost far more searcher time per trial than the others on this 2-core machine,
# so they run only the challenge's own protocol on bayesmark, with few seeds; Optuna's GP sampler, cheaper
# than they, also runs the asynchronous settings.
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
# 1 on the development half); last, Bayesmark's problems under the challenge's protocol with TPE and the
# default at 20 seeds and HEBO at 10, so that the order of the three does not rest on a few seeds of one
# problem.
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


def plan_tasks(
    stages: tuple[Stage, ...] | list[Stage], cache: RunCache, only: list[str] | None, rerun: set[str]
) -> list[tuple[str, str, str, int]]:
    """The (searcher, objective, setting, seed) runs the stages ask for that are not cached (or whose searcher
    is in `rerun`), deduplicated.

    Within a stage seed 0 comes first for every searcher, objective and setting, then seed 1...: a stage
    stopped part way leaves whole seeds behind.
    """
    tasks: dict[tuple[str, str, str, int], None] = {}
    for stage in stages:
        settings = [s.key for s in Setting.parse_list(stage.settings)]
        searchers = [n for n in stage.searchers if only is None or n in only]
        keys = [(n, o, s) for s in settings for n in searchers for o in expand(stage.suites)]
        for seed in range(stage.seeds):
            for searcher, objective, setting in keys:
                if searcher in rerun or not cache.has(setting, searcher, objective, seed):
                    tasks[(searcher, objective, setting, seed)] = None
    return list(tasks)


def run_plan(
    doc: str | None,
    argv: list[str] | None,
    plans: tuple[tuple[Stage, ...], tuple[Stage, ...]],
    paths: tuple[str, Path, Path],
    quick_help: str,
    fn: Callable[..., dict] = execute,
) -> tuple[argparse.Namespace, RunCache, list] | None:
    """The command line of a study made of a plan, and its runs. Flags: --quick (the smoke plan, written to
    ``experiments/results/quick/<study>/``), --report-only, --searchers (only these of the plan), --list (print
    the runs to do, and stop: returns None), --out, --cache, --jobs. ``plans`` is (the plan, the smoke plan),
    ``paths`` (the study's name, its results folder, its run cache). Runs what the cache lacks with ``fn``
    (`execute` unless the study records more) and returns (the arguments, the cache, the runs it ran)."""
    study, results, cache_root = paths
    parser = cli.parser(doc)
    parser.add_argument("--quick", action="store_true", help=f"the smoke run ({quick_help})")
    parser.add_argument("--report-only", action="store_true", help="only re-score the cache")
    parser.add_argument("--searchers", help="only these searchers of the plan (comma separated)")
    parser.add_argument("--list", action="store_true", help="print the runs that would be run, and stop")
    cli.add_output(parser, jobs=1)
    args = parser.parse_args(argv)
    args.out = args.out or (cli.QUICK_RESULTS / study if args.quick else results)
    args.cache = args.cache or (args.out / "runs" if args.quick else cache_root)
    args.out.mkdir(parents=True, exist_ok=True)
    only = args.searchers.split(",") if args.searchers else None
    if only and set(only) - set(searcher_names()):
        parser.error(f"unknown searchers {sorted(set(only) - set(searcher_names()))}")
    one_thread()
    cache, tasks = RunCache(args.cache), []
    if not args.report_only:
        tasks = plan_tasks(plans[1] if args.quick else plans[0], cache, only, set())
        print(f"{len(tasks)} runs to do", file=sys.stderr)
        if args.list:
            print("\n".join(" ".join(map(str, t)) for t in tasks))
            return None
        fill_cache(cache, tasks, args.jobs, fn)
    return args, cache, tasks


def main(argv: list[str] | None = None) -> None:
    """Run what is missing from the cache (one stage from the flags, or a whole plan), then report."""
    parser = cli.parser(__doc__)
    parser.add_argument(
        "--plan",
        nargs="?",
        const="external",
        choices=sorted(PLANS),
        help="run every stage of a plan: external (the default), restarts or prior_candidates "
        "(with --searchers: theirs only)",
    )
    for flag, kind, help_ in (
        ("--suites", str, "suites, suite:dev / suite:held_out halves or objectives"),
        ("--settings", str, "e.g. 32x8,100x8,100x1 (asynchronous) or 16r8 (rounds)"),
        ("--seeds", int, "seeds 0..N-1"),
        ("--searchers", str, "comma separated (with --plan: all of the plan's, or these of them)"),
    ):
        key = flag[2:]
        parser.add_argument(flag, type=kind, help=f"{help_} (default {FULL[key]}; --quick: {QUICK[key]})")
    parser.add_argument("--quick", action="store_true", help="a test-sized run (the --quick defaults above)")
    parser.add_argument("--rerun", default="", help="searchers whose cached runs are run again")
    parser.add_argument("--report-only", action="store_true", help="only re-score the cache")
    parser.add_argument("--report-searchers", help="searchers in the report (default: all cached)")
    parser.add_argument("--paired", default="", help="a:b,... report b - a paired by seed (e.g. an ablation)")
    parser.add_argument("--list", action="store_true", help="print the runs that would be run, and stop")
    cli.add_output(parser, jobs=1)
    args = parser.parse_args(argv)
    only = args.searchers.split(",") if args.searchers else None
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)

    known = searcher_names()
    rerun = set(filter(None, args.rerun.split(",")))
    unknown = set(args.searchers.split(",")) | rerun | set((args.report_searchers or "").split(",")) - {""}
    if unknown - set(known):
        parser.error(f"unknown searchers {sorted(unknown - set(known))}; known: {known}")
    pairs = [tuple(pair.split(":")) for pair in args.paired.split(",") if pair]
    if any(len(pair) != 2 or set(pair) - set(known) for pair in pairs):
        parser.error(f"--paired takes a:b pairs of known searchers, got {args.paired!r}")
    cli.resolve_output(args, "external", args.quick)
    one_thread()
    cache = RunCache(args.cache)
    start = time.time()
    if not args.report_only:
        if args.plan:
            tasks = plan_tasks(PLANS[args.plan], cache, only, rerun)
        else:
            stage = Stage(tuple(args.searchers.split(",")), args.suites, args.settings, args.seeds)
            tasks = plan_tasks([stage], cache, None, rerun)
        counts: dict[tuple[str, str], int] = {}
        for searcher, _, setting, _ in tasks:
            counts[(searcher, setting)] = counts.get((searcher, setting), 0) + 1
        print(
            f"{len(tasks)} runs to do: " + ", ".join(f"{n} {s}: {c}" for (n, s), c in counts.items()), file=sys.stderr
        )
        if args.list:
            return
        random_samples(list(dict.fromkeys(task[1] for task in tasks)), args.cache, args.jobs)
        fill_cache(cache, tasks, args.jobs)
    wall = None if args.report_only else time.time() - start
    searchers = args.report_searchers.split(",") if args.report_searchers else None
    print(report(cache, args.out, searchers, argv, wall, pairs, args.jobs))


if __name__ == "__main__":
    main()
