"""The studies' common command line: where results and run caches go, --jobs, --quick, and the seeds and
budget of the source studies (`parse_args`).

Results go to ``experiments/results/`` (``--out``), a study's run cache to ``<out>/runs/<study>/``
(``--cache``). ``--quick``, a study's test-sized smoke run, writes to ``experiments/results/quick/``
unless ``--out`` says otherwise, so it never overwrites a committed table or cache; git ignores it.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

RESULTS = Path("experiments/results")
QUICK_RESULTS = RESULTS / "quick"


def parser(doc: str | None) -> argparse.ArgumentParser:
    """An argument parser whose help is the study's docstring."""
    return argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


def add_output(parser: argparse.ArgumentParser, cache: bool = True, jobs: int | None = None) -> None:
    """--out (and --cache, --jobs with its default when given)."""
    parser.add_argument("--out", type=Path, help=f"where results go (default {RESULTS}; --quick: {QUICK_RESULTS})")
    if cache:
        parser.add_argument("--cache", type=Path, help="the run cache (default <out>/runs/<study>)")
    if jobs is not None:
        parser.add_argument("--jobs", type=int, default=jobs, help=f"runs in parallel processes (default {jobs})")


def resolve_output(args: argparse.Namespace, study: str, quick: bool = False) -> None:
    """Fill in the defaults of --out and --cache and create the results folder."""
    args.out = args.out or (QUICK_RESULTS if quick else RESULTS)
    args.out.mkdir(parents=True, exist_ok=True)
    if "cache" in args:
        args.cache = args.cache or args.out / "runs" / study


@dataclass(frozen=True)
class Scale:
    """Seeds and budget (trials per searcher run) of a study."""

    seeds: int
    budget: int


def parse_args(
    doc: str | None,
    full: Scale,
    quick: Scale,
    argv: list[str] | None,
    add: Callable[[argparse.ArgumentParser], object] | None = None,
    budget_unit: str = "trials per search",
    study: str = "",
) -> argparse.Namespace:
    """--seeds, --budget (in `budget_unit`), --quick (the test-sized run: `quick` unless --seeds/--budget
    say otherwise), --jobs, --out (--cache too with a `study` name) and whatever `add` adds."""
    parse = parser(doc)
    if add is not None:
        add(parse)
    parse.add_argument("--seeds", type=int, help=f"seeds per searcher (default {full.seeds})")
    parse.add_argument("--budget", type=int, help=f"{budget_unit} (default {full.budget})")
    parse.add_argument(
        "--quick", action="store_true", help=f"a test-sized run ({quick.seeds} seeds, budget {quick.budget}, less data)"
    )
    add_output(parse, cache=bool(study), jobs=2)
    args = parse.parse_args(argv)
    scale = quick if args.quick else full
    args.seeds = args.seeds or scale.seeds
    args.budget = args.budget or scale.budget
    resolve_output(args, study, args.quick)
    return args
