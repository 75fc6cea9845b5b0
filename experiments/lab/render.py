"""Shared pieces of the source-study experiments (pg_mixed, xgboost_ames, rf_regression, cnn):
the command line, the result file's header, markdown tables, searcher comparisons over seeds on
the in-process driver, and best-so-far curves."""

from __future__ import annotations

import argparse
import datetime
import multiprocessing
import os
import platform
import shlex
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Callable

import numpy as np

from experiments.lab.driver import RunRecord, make_searcher, run_search
from experiments.lab.objectives import Objective

RESULTS = Path("experiments/results")


@dataclass(frozen=True)
class Scale:
    """Seeds and budget (trials per searcher run) of a study."""

    seeds: int
    budget: int


def parse_args(
    doc: str,
    full: Scale,
    quick: Scale,
    argv: list[str] | None,
    add: Callable[[argparse.ArgumentParser], object] | None = None,
    budget_unit: str = "trials per search",
) -> argparse.Namespace:
    """--seeds, --budget (in `budget_unit`), --quick (the test-sized run: `quick` unless
    --seeds/--budget say otherwise), --jobs, --out (the results folder) and whatever `add` adds."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    if add is not None:
        add(parser)
    parser.add_argument("--seeds", type=int, help=f"seeds per searcher (default {full.seeds})")
    parser.add_argument("--budget", type=int, help=f"{budget_unit} (default {full.budget})")
    parser.add_argument(
        "--quick", action="store_true", help=f"a test-sized run ({quick.seeds} seeds, budget {quick.budget}, less data)"
    )
    parser.add_argument("--jobs", type=int, default=2, help="searches run in parallel processes")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the .md and .png go")
    args = parser.parse_args(argv)
    scale = quick if args.quick else full
    args.seeds = args.seeds or scale.seeds
    args.budget = args.budget or scale.budget
    args.out.mkdir(parents=True, exist_ok=True)
    return args


def installed_version(package: str) -> str:
    """The installed version of a distribution, or "not installed"."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def header(module: str, title: str, argv: list[str] | None, packages: list[str]) -> list[str]:
    """Title, the exact command, the date and the package versions, as markdown lines."""
    args = sys.argv[1:] if argv is None else argv
    versions = ", ".join(f"{p} {installed_version(p)}" for p in ["ray", "numpy", *packages])
    command = " ".join(["python -m", f"experiments.{module}", shlex.join(args)]).strip()
    date = datetime.datetime.now().isoformat(timespec="seconds")
    return [
        f"# {title}",
        "",
        f"Command: `{command}`",
        "",
        f"Date: {date}; Python {platform.python_version()}; {versions}.",
        "",
    ]


def start_ray(module: str, num_cpus: int | None = None) -> None:
    """A local Ray for a Tune study, unless one runs already: ``address="local"`` so it never attaches
    to another user's cluster on this host, token auth off unless ``RAY_AUTH_MODE`` says otherwise,
    `num_cpus` CPUs (default: all). `module` (the caller's ``__name__``) is shipped to the workers by
    value when it was imported rather than run as ``__main__``, whose functions pickle by value anyway."""
    import ray

    if not ray.is_initialized():
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
    if module != "__main__":
        ray.cloudpickle.register_pickle_by_value(sys.modules[module])


def table(head: list[str], rows: list[list[str]]) -> list[str]:
    """A markdown table."""
    return (
        ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        + ["| " + " | ".join(row) + " |" for row in rows]
        + [""]
    )


def describe_space(space: dict) -> str:
    """`name`: type sampler range, for every domain of a flat space (constants left out)."""
    from ray.tune.search.sample import Domain

    def sampler(domain: Domain) -> str:
        return type(domain.get_sampler()).__name__.strip("_").lower()

    return ", ".join(
        f"`{k}`: {type(v).__name__.lower()} {sampler(v)} {v.domain_str}"
        for k, v in space.items()
        if isinstance(v, Domain)
    )


def _search(name: str, objective: Objective, seed: int, budget: int, concurrency: int) -> RunRecord:
    """One seeded search of `objective` by the harness searcher `name`."""
    searcher = make_searcher(name, seed, budget, concurrency)
    return run_search(searcher, objective, budget, concurrency, order_seed=seed, name=name, seed=seed)


def compare(
    objective: Objective, names: list[str], seeds: int, budget: int, concurrency: int, jobs: int
) -> dict[str, list[RunRecord]]:
    """Every searcher of `names` on `objective` for seeds 0..seeds-1, `jobs` searches at a time."""
    tasks = [(name, seed) for name in names for seed in range(seeds)]
    # spawn, not fork: a fork after the parent ran OpenMP code (xgboost, torch) can deadlock
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {task: pool.submit(_search, task[0], objective, task[1], budget, concurrency) for task in tasks}
        records: dict[str, list[RunRecord]] = {name: [] for name in names}
        for (name, seed), future in futures.items():
            record = future.result()
            print(f"  {objective.name} {name:>10} seed {seed}: best {record.best:.5g}", flush=True)
            records[name].append(record)
    return records


def mean_sd(values: list[float] | np.ndarray, fmt: str = ".4g") -> str:
    """'mean ± sd' over seeds (sd with ddof=1; just the value for one seed)."""
    values = np.asarray(values, dtype=float)
    if values.size == 1:
        return f"{values[0]:{fmt}}"
    return f"{values.mean():{fmt}} ± {values.std(ddof=1):{fmt}}"


def plot_curves(ax: object, curves: dict[str, np.ndarray], ylabel: str, xlabel: str = "trials") -> None:
    """Mean best-so-far curve per searcher (rows of each array are seeds), shaded min..max."""
    for i, (name, curve) in enumerate(curves.items()):
        curve = np.atleast_2d(curve)
        x = np.arange(1, curve.shape[1] + 1)
        ax.plot(x, curve.mean(axis=0), color=f"C{i}", label=f"{name} ({curve.shape[0]} seeds)")
        ax.fill_between(x, curve.min(axis=0), curve.max(axis=0), color=f"C{i}", alpha=0.15)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
