"""The identity guard: fixed-seed runs of the ask/tell core whose every asked config is hashed.

A refactor of the library must not change a single search decision. This script drives
``PGOptimizer`` through scenarios that reach every part of the search (several spaces, 1 to 256
trials pending, hundreds of trials, a constraint, conditional choices, several objectives,
intermediate reports with rungs, failures, a warm start, a checkpoint round trip mid-run) and
writes one SHA-256 per scenario over the ``repr`` of every config it asked, in order.

    python -m experiments.identity --write   # record the digests (experiments/results/identity.json)
    python -m experiments.identity           # check the current code against them (exit 1 on a change)

A change that is meant to change search decisions records the new digests in the same commit and
says so in its message.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ray import tune

from ray_pgsearch import PGOptimizer

RESULTS = Path(__file__).parent / "results" / "identity.json"

MIXED = {
    "lr": tune.loguniform(1e-5, 1e-1),
    "momentum": tune.uniform(0.0, 0.99),
    "layers": tune.randint(1, 6),
    "width": tune.qlograndint(16, 512, 16),
    "dropout": tune.quniform(0.0, 0.5, 0.05),
    "shift": tune.randn(0.0, 2.0),
    "act": tune.choice(["relu", "tanh", "gelu"]),
    "opt": tune.choice(["sgd", "adam"]),
    "fixed": 3,
}

CONDITIONAL = {
    "model": tune.choice(
        [
            {"kind": "svm", "c": tune.loguniform(1e-3, 1e3), "kernel": tune.choice(["rbf", "poly"])},
            {"kind": "tree", "depth": tune.randint(1, 12), "leaf": tune.uniform(0.0, 1.0)},
            {"kind": "linear"},
        ]
    ),
    "scale": tune.uniform(0.0, 1.0),
}

SHIFTED = {  # the mixed space with one range moved, one parameter dropped and one added
    "lr": tune.loguniform(1e-6, 1e-1),
    "momentum": tune.uniform(0.0, 0.99),
    "layers": tune.randint(1, 6),
    "width": tune.qlograndint(16, 512, 16),
    "act": tune.choice(["relu", "tanh", "silu"]),
    "opt": tune.choice(["sgd", "adam"]),
    "decay": tune.loguniform(1e-6, 1e-2),
    "fixed": 3,
}


def mixed_loss(c: dict) -> float:
    lr = math.log10(c["lr"])
    return (
        (lr + 2.7) ** 2
        + (c["momentum"] - 0.8) ** 2
        + 0.3 * abs(c["layers"] - 3)
        + 0.2 * abs(math.log2(c["width"]) - 7)
        + (c["dropout"] - 0.15) ** 2
        + 0.05 * (c["shift"] - 1.0) ** 2
        + {"relu": 0.0, "tanh": 0.4, "gelu": 0.1}[c["act"]]
        + (0.0 if c["opt"] == "adam" else 0.3 + 0.2 * (lr + 1.5) ** 2)
    )


def shifted_loss(c: dict) -> float:
    lr = math.log10(c["lr"])
    return (
        (lr + 2.5) ** 2
        + (c["momentum"] - 0.7) ** 2
        + 0.3 * abs(c["layers"] - 3)
        + {"relu": 0.0, "tanh": 0.4, "silu": 0.05}[c["act"]]
        + 0.1 * (math.log10(c["decay"]) + 4.0) ** 2
    )


def conditional_loss(c: dict) -> float:
    m = c["model"]
    base = (c["scale"] - 0.3) ** 2
    if m["kind"] == "svm":
        return base + 0.2 * (math.log10(m["c"]) - 1.0) ** 2 + (0.0 if m["kernel"] == "rbf" else 0.25)
    if m["kind"] == "tree":
        return base + 0.05 * abs(m["depth"] - 6) + 0.3 * m["leaf"]
    return base + 0.4


def two_objectives(c: dict) -> list[float]:
    return [mixed_loss(c), -abs(c["momentum"] - 0.2) - 0.1 * c["layers"]]


class Run:
    """Asks and tells one optimizer with ``pending`` trials in flight (the oldest told first),
    hashing every config it asks."""

    def __init__(self, opt: PGOptimizer, loss: Callable[[dict], Any], pending: int):
        self.opt, self.loss, self.pending = opt, loss, pending
        self.digest = hashlib.sha256()
        self.live: list[tuple[int, dict]] = []
        self.next_id = 0

    def ask(self) -> None:
        trial_id, self.next_id = self.next_id, self.next_id + 1
        config = self.opt.ask(trial_id)
        self.digest.update(repr(config).encode())
        self.live.append((trial_id, config))

    def tell_oldest(self, value: Any = None) -> None:
        trial_id, config = self.live.pop(0)
        self.opt.tell(config, self.loss(config) if value is None else value, trial_id)

    def steps(self, n: int) -> None:
        for _ in range(n):
            while len(self.live) < self.pending:
                self.ask()
            self.tell_oldest()

    def finish(self) -> str:
        self.digest.update(repr(self.opt.best_value).encode())
        return self.digest.hexdigest()


def roundtrip(opt: PGOptimizer) -> PGOptimizer:
    """The optimizer written to a checkpoint file and read back, as a restore after a crash does."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        opt.save(f"{tmp}/optimizer.ckpt")
        return PGOptimizer.load(f"{tmp}/optimizer.ckpt")


def scenario_sequential() -> str:
    run = Run(PGOptimizer(MIXED, "min", seed=1), mixed_loss, 1)
    run.steps(300)
    return run.finish()


def scenario_async(pending: int, trials: int, seed: int) -> Callable[[], str]:
    def scenario() -> str:
        run = Run(PGOptimizer(MIXED, "min", seed=seed), mixed_loss, pending)
        run.steps(trials)
        return run.finish()

    return scenario


def scenario_conditional() -> str:
    run = Run(PGOptimizer(CONDITIONAL, "min", seed=3), conditional_loss, 8)
    run.steps(250)
    return run.finish()


def _small_layers(config: dict) -> bool:
    return config["layers"] * config["width"] <= 1024


def scenario_constraint() -> str:
    run = Run(PGOptimizer(MIXED, "min", seed=4, constraint=_small_layers), mixed_loss, 4)
    run.steps(200)
    return run.finish()


def scenario_objectives() -> str:
    run = Run(PGOptimizer(MIXED, ["min", "max"], seed=5), two_objectives, 8)
    run.steps(200)
    run.digest.update(repr(run.opt.n_told).encode())
    return run.digest.hexdigest()


def scenario_rungs() -> str:
    """Trials report at levels 1..4; a third of them stop early (told with their level)."""
    opt = PGOptimizer(MIXED, "min", seed=6)
    run = Run(opt, mixed_loss, 16)
    for step in range(240):
        while len(run.live) < run.pending:
            run.ask()
        for trial_id, config in run.live[:4]:
            level = 1 + (trial_id + step) % 4
            opt.report(trial_id, mixed_loss(config) * (1.0 + 1.0 / level), level)
        trial_id, config = run.live.pop(0)
        level = 1 + trial_id % 4 if trial_id % 3 == 0 else None
        value = mixed_loss(config) * (1.0 + 1.0 / level) if level else mixed_loss(config)
        opt.tell(config, value, trial_id, level=level)
    return run.finish()


def scenario_failures() -> str:
    """Every fifth trial reports NaN, every seventh is forgotten (crashed); partial points to evaluate
    open the search and two results come from configs it never asked."""
    points = [{"lr": 1e-3, "act": "relu"}, {"lr": 1e-2, "momentum": 0.5, "opt": "sgd"}]
    opt = PGOptimizer(MIXED, "min", seed=7, points_to_evaluate=points)
    run = Run(opt, mixed_loss, 8)
    known = opt.space.complete(
        {**points[0], "momentum": 0.9, "layers": 2, "width": 64, "dropout": 0.1, "shift": 0.0, "opt": "adam"}
    )
    opt.tell(known, mixed_loss(known))
    for step in range(220):
        while len(run.live) < run.pending:
            run.ask()
        if step % 7 == 3:
            trial_id, _ = run.live.pop(0)
            opt.forget(trial_id)
        elif step % 5 == 1:
            run.tell_oldest(float("nan"))
        else:
            run.tell_oldest()
    return run.finish()


def scenario_warm_start() -> str:
    first = Run(PGOptimizer(MIXED, "min", seed=8), mixed_loss, 4)
    first.steps(120)
    run = Run(PGOptimizer(SHIFTED, "min", seed=9, warm_start=first.opt), shifted_loss, 8)
    run.steps(200)
    return run.finish()


def scenario_checkpoint() -> str:
    """A checkpoint round trip with 8 trials pending, twice, in the middle of a run."""
    run = Run(PGOptimizer(CONDITIONAL, "min", seed=10), conditional_loss, 8)
    run.steps(60)
    run.opt = roundtrip(run.opt)
    run.steps(60)
    run.opt = roundtrip(run.opt)
    run.steps(60)
    return run.finish()


def scenario_restarts() -> str:
    """The search starts over after 40 results without a new best, with 8 trials pending."""
    from experiments.lab.restarts import Restarts

    run = Run(PGOptimizer(MIXED, "min", seed=13, extensions=[Restarts(40)]), mixed_loss, 8)
    run.steps(300)
    return run.finish()


def scenario_searcher() -> str:
    """The Tune searcher driven through Tune's calls (results, completions, an errored trial), saved
    to a file and restored into a new searcher half-way."""
    import tempfile

    from ray_pgsearch import PGSearcher

    searcher = PGSearcher(MIXED, metric="loss", mode="min", seed=14)
    searcher.set_max_concurrency(8)
    digest = hashlib.sha256()
    live: list[tuple[str, dict]] = []
    for step in range(160):
        while len(live) < 8:
            trial_id = f"t{step}_{len(live)}"
            config = searcher.suggest(trial_id)
            digest.update(repr(config).encode())
            live.append((trial_id, config))
        trial_id, config = live.pop(0)
        searcher.on_trial_result(trial_id, {"loss": 2 * mixed_loss(config), "training_iteration": 1})
        if step % 9 == 4:
            searcher.on_trial_complete(trial_id, None, error=True)
        else:
            searcher.on_trial_complete(trial_id, {"loss": mixed_loss(config), "training_iteration": 2})
        if step == 80:
            with tempfile.TemporaryDirectory() as tmp:
                path = f"{tmp}/searcher-state.pkl"
                searcher.save(path)
                searcher = PGSearcher(MIXED, metric="loss", mode="min", seed=14)
                searcher.set_max_concurrency(8)
                searcher.restore(path)
    digest.update(repr(searcher.optimizer.best_value).encode())
    return digest.hexdigest()


SCENARIOS: dict[str, Callable[[], str]] = {
    "sequential": scenario_sequential,
    "async_8": scenario_async(8, 300, 2),
    "async_64": scenario_async(64, 400, 11),
    "async_256": scenario_async(256, 700, 12),
    "conditional": scenario_conditional,
    "constraint": scenario_constraint,
    "objectives": scenario_objectives,
    "rungs": scenario_rungs,
    "failures": scenario_failures,
    "warm_start": scenario_warm_start,
    "checkpoint": scenario_checkpoint,
    "restarts": scenario_restarts,
    "searcher": scenario_searcher,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="record the digests instead of checking them")
    parser.add_argument("--only", nargs="*", help="run only these scenarios")
    args = parser.parse_args(argv)
    names = args.only or list(SCENARIOS)
    digests = {name: SCENARIOS[name]() for name in names}
    if args.write:
        RESULTS.write_text(json.dumps(digests, indent=2) + "\n")
        print(f"wrote {len(digests)} digests to {RESULTS}")
        return 0
    expected = json.loads(RESULTS.read_text())
    changed = [name for name in names if expected.get(name) != digests[name]]
    for name in names:
        print(f"{name:12s} {'changed' if name in changed else 'identical'}")
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
