"""Long runs stay cheap: 20,000 trials through the ask/tell core, measuring the traced memory and
the optimizer's seconds per trial as the history grows. Writes experiments/results/long_run.md.

    python -m experiments.long_run [--trials 20000] [--concurrency 8] [--quick]

``SPACE`` and ``loss`` (a cheap synthetic loss, so the optimizer's own cost dominates) are also the trial
workload of the scale study. ``--quick`` runs 300 trials.
"""

from __future__ import annotations

import math
import time
import tracemalloc

import numpy as np
from ray import tune

from experiments.lab import cli, render
from ray_pgsearch import PGOptimizer

SPACE = {
    "lr": tune.loguniform(1e-5, 1e-1),
    "width": tune.lograndint(8, 1025),
    "layers": tune.randint(1, 6),
    "dropout": tune.quniform(0.0, 0.5, 0.05),
    "act": tune.choice(["relu", "tanh", "gelu", "silu"]),
    "opt": {"name": tune.choice(["sgd", "adam"]), "momentum": tune.uniform(0.5, 0.99)},
}


def loss(config: dict) -> float:
    """A cheap synthetic loss over the whole space, so the optimizer's own cost dominates."""
    return (
        (math.log10(config["lr"]) + 3) ** 2
        + (math.log2(config["width"]) - 7) ** 2 / 10
        + abs(config["layers"] - 3) / 3
        + config["dropout"]
        + {"relu": 0.0, "tanh": 0.3, "gelu": 0.1, "silu": 0.2}[config["act"]]
        + (0.0 if config["opt"]["name"] == "adam" else 0.2 + (config["opt"]["momentum"] - 0.9) ** 2)
    )


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("--trials", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="a test-sized run: 300 trials")
    cli.add_output(parser, cache=False)
    args = parser.parse_args(argv)
    cli.resolve_output(args, "long_run", args.quick)
    trials = 300 if args.quick else args.trials

    opt = PGOptimizer(SPACE, mode="min", seed=0)
    rng = np.random.default_rng(0)
    pending: dict[int, tuple[dict, float]] = {}
    seconds = np.zeros(trials)
    checkpoints = sorted({c for c in (100, 1000, 3000, 10000, 20000) if c <= trials} | {trials})
    rows = []
    tracemalloc.start()
    started = 0
    for done in range(trials):
        while started < trials and len(pending) < args.concurrency:
            t0 = time.perf_counter()
            config = opt.ask(started)
            seconds[started] += time.perf_counter() - t0
            pending[started] = (config, loss(config))
            started += 1
        trial = list(pending)[rng.integers(len(pending))]
        config, value = pending.pop(trial)
        t0 = time.perf_counter()
        opt.tell(config, value, trial)
        seconds[trial] += time.perf_counter() - t0
        if done + 1 in checkpoints:
            current, peak = tracemalloc.get_traced_memory()
            lo = max(0, done + 1 - 100)
            rows.append((done + 1, 1e3 * seconds[lo : done + 1].mean(), current / 2**20, peak / 2**20, opt.best_value))
            print(f"{done + 1:>6} trials: {rows[-1][1]:.3f} ms/trial, traced {rows[-1][2]:.2f} MiB", flush=True)
    tracemalloc.stop()

    lines = render.header("long_run", f"Long run: cost and memory of the ask/tell core over {trials:,} trials", argv)
    lines += [
        f"Trials complete in a seeded random order with {args.concurrency} pending; the memory is Python's traced "
        "allocations (tracemalloc, which also slows every call, so the ms here are upper bounds).",
        "",
    ]
    head = [
        "finished trials",
        "optimizer ms per trial (last 100)",
        "traced memory now (MiB)",
        "peak (MiB)",
        "best loss",
    ]
    lines += render.table(
        head, [[f"{n}", f"{ms:.3f}", f"{cur:.2f}", f"{peak:.2f}", f"{best:.4f}"] for n, ms, cur, peak, best in rows]
    )
    lines += [f"Cost at the last row / cost at 100 trials: {rows[-1][1] / rows[0][1]:.2f}."]
    (args.out / "long_run.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out / 'long_run.md'}")


if __name__ == "__main__":
    main()
