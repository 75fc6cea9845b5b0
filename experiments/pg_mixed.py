"""Study 1: policy gradients on discrete and continuous hyperparameters together.

    python -m experiments.pg_mixed [--seeds N] [--budget B] [--quick]

Tunes a linear SGDClassifier on scikit-learn's digits (`digits_sgd` of experiments.lab.objectives:
three choices -- loss, penalty, learning-rate schedule -- and alpha, l1_ratio, eta0 and max_iter,
validation error on a fixed 50/50 split) with PGSearcher, random search and TPE at the same budget
over several seeds, one trial at a time. The seed-0 PGSearcher run also logs its policy after every
update (``log_dir``, read back with ``ray_pgsearch.report.load_policy_scalars``): the trace in
``pg_mixed_trace.csv`` has one row per policy update with every category's probability and every
Gaussian's mean and standard deviation on its latent z in [0, 1] (and the mean in the parameter's
own units). Writes ``pg_mixed.md``, ``pg_mixed_trace.csv`` and ``pg_mixed.png``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.lab.cli import Scale, parse_args
from experiments.lab.driver import compare, run_search
from experiments.lab.objectives import OBJECTIVES
from experiments.lab.render import header, mean_sd, plot_curves, pyplot, save, table
from ray_pgsearch import PGSearcher, SearchSpace
from ray_pgsearch.report import load_policy_scalars
from ray_pgsearch.tensorboard import category_tag, numeric_tag

OBJECTIVE = OBJECTIVES["digits_sgd"]
SEARCHERS = ["random", "tpe", "pgsearcher"]
FULL, QUICK = Scale(seeds=5, budget=80), Scale(seeds=1, budget=12)
_TRACE_PREFIXES = ("search/", "policy/", "latent/")


def policy_trace(budget: int, seed: int = 0) -> pd.DataFrame:
    """One row per policy update of a PGSearcher run on OBJECTIVE: the update number, the trials
    told, the best error so far, and the policy's scalars (see ``ray_pgsearch.tensorboard``)."""
    with tempfile.TemporaryDirectory() as log_dir:
        searcher = PGSearcher(seed=seed, log_dir=log_dir, log_every_s=0)  # every update
        run_search(searcher, OBJECTIVE, budget, concurrency=1, order_seed=seed, name="pgsearcher", seed=seed)
        scalars = load_policy_scalars(log_dir)
    steps = scalars["search/trials"][0]
    columns = {
        tag: values
        for tag, (tag_steps, values) in scalars.items()
        if tag.startswith(_TRACE_PREFIXES) and np.array_equal(tag_steps, steps)
    }
    return pd.DataFrame({"update": steps, **columns})


def plot(records: dict, trace: pd.DataFrame, path: Path) -> None:
    """Best-so-far error per searcher, then per parameter the policy over the updates of the trace:
    category probabilities for a choice, latent mean ± standard deviation for a numeric one."""
    params = SearchSpace(OBJECTIVE.space).params
    fig, axes = pyplot().subplots(2, 4, figsize=(18, 7.5))
    plot_curves(
        axes.flat[0], {n: np.array([r.curve for r in rs]) for n, rs in records.items()}, "best validation error so far"
    )
    axes.flat[0].set_title("searchers at the same budget")
    x = trace["update"]
    for ax, param in zip(axes.flat[1:], params, strict=False):
        name = "/".join(str(key) for key in param.path)  # Tune's flattened key, as the policy's tags use it
        numeric = not hasattr(param, "categories")
        if numeric:
            mean, std = trace[numeric_tag(name, "latent_mean")], trace[numeric_tag(name, "latent_std")]
            ax.plot(x, mean, color="C0", label="mean μ")
            ax.fill_between(x, mean - std, mean + std, color="C0", alpha=0.25, label="μ ± σ")
            ax.plot(x, std, color="C3", linestyle="--", label="σ")
            ax.set_ylim(-0.05, 1.05)
            ax.set_ylabel(f"latent z ({param.kind} scale)")
        else:
            for category in param.categories:
                ax.plot(x, trace[category_tag(name, category)], label=f"p({category})")
            ax.set_ylim(0, 1)
            ax.set_ylabel("probability")
        ax.set_title(f"{name}: {'Gaussian actor' if numeric else 'categorical actor'}")
        ax.set_xlabel("policy update")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    save(fig, path, dpi=100, title=f"PGSearcher on digits SGDClassifier: policy over {len(trace)} updates (seed 0)")


def markdown(records: dict, trace: pd.DataFrame, args: object, argv: list[str] | None, wall: float) -> str:
    """The results file: the comparison table and the trace's first and last policy."""
    lines = header(
        "pg_mixed", "Policy gradients on discrete and continuous hyperparameters together", argv, ["scikit-learn"]
    )
    lines += [
        f"Objective: {OBJECTIVE.description.strip()} Space: {', '.join(OBJECTIVE.space)}. "
        f"Budget {args.budget} trials, one at a time, seeds 0..{args.seeds - 1}; wall time "
        f"{wall:.0f} s on this machine. Best validation error per search, mean ± sd over seeds.",
        "",
    ]
    rows = []
    for name, rs in records.items():
        best = [r.best for r in rs]
        at_half = [r.curve[len(r.curve) // 2 - 1] for r in rs]
        rows.append([name, mean_sd(best), f"{np.median(best):.4g}", mean_sd(at_half)])
    lines += table(["searcher", "best error", "median best", f"best after {args.budget // 2} trials"], rows)
    first, last = trace.iloc[0], trace.iloc[-1]
    shown = [
        col
        for col in trace.columns
        if col.startswith("latent/")
        and not col.endswith("/entropy")
        or col.startswith("policy/")
        and (col.endswith("/mean") or "/p_" in col)
    ]
    policy_rows = [[f"`{col}`", f"{first[col]:.4g}", f"{last[col]:.4g}"] for col in shown]
    lines += [
        f"The seed-0 PGSearcher run's policy at its first and last of {len(trace)} updates "
        f"(best error {last['search/best']:.4g}); `latent/...` are the Gaussian's μ and σ on z, "
        "`policy/.../mean` is μ decoded to the parameter's units, `policy/.../p_...` the "
        "category probabilities. Full trace: `pg_mixed_trace.csv`.",
        "",
    ]
    lines += table(["quantity", "first update", "last update"], policy_rows)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Compare the searchers, trace the policy, write the table, trace and figure."""
    args = parse_args(__doc__, FULL, QUICK, argv)
    start = time.time()
    print(f"pg_mixed: {SEARCHERS} x {args.seeds} seeds x {args.budget} trials on {OBJECTIVE.name}")
    records = compare(OBJECTIVE, SEARCHERS, args.seeds, args.budget, 1, args.jobs)
    trace = policy_trace(args.budget)
    trace.to_csv(args.out / "pg_mixed_trace.csv", index=False, float_format="%.6g")
    plot(records, trace, args.out / "pg_mixed.png")
    (args.out / "pg_mixed.md").write_text(markdown(records, trace, args, argv, time.time() - start))
    print(f"wrote {args.out}/pg_mixed.md, pg_mixed_trace.csv and pg_mixed.png in {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
