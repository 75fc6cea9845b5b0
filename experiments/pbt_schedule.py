"""PG-guided PBT against plain PBT for the learning-rate schedule of the tunable CNN.

    python -m experiments.pbt_schedule [--seeds N] [--quick] [--population P] [--epochs E] [--gpus G]

Ray 2.60's PopulationBasedTraining refuses every search algorithm, so PGSearcher cannot run under
it. The two-stage recipe instead (the NERSC HPO study's advice: architecture first, then PBT on
the training hyperparameters only):

1. **Architecture: PGSearcher + ASHA** over ``experiments.cnn.SPACE`` (blocks, filters, head,
   pooling, augmentation, dropout, batch size and lr together), short trials. Its best config fixes
   the architecture; its trained searcher holds a policy over the lr.
2. **Schedule: PBT on the lr only**, the architecture fixed. ``ray_pgsearch.pbt.pbt_mutations``
   derives the mutations from the same SPACE (and refuses ``blocks``/``filters``: architecture).
   Both arms get the same population size, epochs, perturbation interval and checkpoints:

   * *plain PBT*: starting lrs drawn by Tune from the lr domain, Tune's built-in explore
     (x0.8 / x1.2, resample with probability 0.25) from ``pbt_mutations(SPACE, ["lr"])``;
   * *PG-guided PBT*: starting lrs from the stage-1 policy (``initial_population``), explore steps
     from a ``PolicyExplorer`` with plain PBT's step size and no resampling (factors 0.8/1.25) that
     learns from the trial results which factor speeds up the decrease of the validation loss.

PBT's metric is the validation loss (the accuracy of the 450 digits validation images ties
often). Reported per arm: the best trial's final validation loss and accuracy, epochs trained in
all, wall time, and the lr schedule of the best trial (plot). Trials train on one CPU thread each
(2 at a time) or on fractional GPUs with ``--gpus``; a checkpoint (model and Adam state, a few
hundred KB at most) is written every ``perturbation_interval`` epochs only.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from ray import tune
from ray.tune.schedulers import PopulationBasedTraining
from ray.tune.search.basic_variant import BasicVariantGenerator

from experiments.cnn import SPACE, asha, prepare, train_epoch
from experiments.lab.cli import Scale, parse_args
from experiments.lab.cluster import start_ray
from experiments.lab.render import header, mean_sd, pyplot, save, table
from ray_pgsearch import PGSearcher
from ray_pgsearch.pbt import PolicyExplorer, initial_population, pbt_mutations, population_search_alg

FULL, QUICK = Scale(seeds=5, budget=24), Scale(seeds=1, budget=4)
KEYS = ["lr"]  # the algorithm hyperparameters PBT may mutate
ARMS = ["plain PBT", "PG-guided PBT"]
# the explorer's lr factors: plain PBT's step (x0.8 / x1.2) made symmetric on the log scale. The
# explorer's defaults (x0.5 / x0.8 / x1.25 / x2) with resampling 0.1 lost to plain PBT (5 seeds);
# these steps without resampling keep the population near the stage-1 policy's lrs
FACTORS = (0.8, 1.25)
RECIPE = [
    "The two-stage recipe (Ray 2.60's PBT refuses every search algorithm, so PGSearcher works around it):",
    "",
    "1. **Architecture with PGSearcher + ASHA**: search the whole space (architecture and training "
    "hyperparameters) with short trials; keep the best config and the trained searcher.",
    "2. **Schedule with PBT**: fix the architecture keys to the best config; PBT mutates only the "
    'algorithm hyperparameters (`pbt_mutations(SPACE, ["lr"])` refuses `blocks`, `filters`, ... with the '
    "NERSC advice). PG guidance enters through what PBT accepts: the starting population drawn from the "
    'stage-1 policy (`initial_population(searcher, n, fixed=best, keys=["lr"])` passed as '
    "`search_alg=population_search_alg(configs)`, a `BasicVariantGenerator` with `points_to_evaluate`), "
    "and explore steps from `PolicyExplorer`, passed both as the scheduler's `custom_explore_fn` "
    "(`explorer.scheduler(...)`) and as a `RunConfig` callback, which learns which lr factors speed up "
    "the loss's decrease.",
    "",
]


def train_cnn_pbt(config: dict) -> None:
    """``experiments.cnn``'s CNN trained epoch by epoch under PBT: restores model and Adam state
    from a checkpoint, takes ``config["lr"]`` as the current lr, reports validation ``loss``,
    ``accuracy`` and ``lr`` every epoch and a checkpoint every ``checkpoint_every`` epochs."""
    import torch

    device, data, model = prepare(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=config["lr"])
    epoch = 0
    checkpoint = tune.get_checkpoint()
    if checkpoint:
        with checkpoint.as_directory() as d:
            state = torch.load(os.path.join(d, "state.pt"), map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        epoch = state["epoch"]
    for group in optimizer.param_groups:
        group["lr"] = config["lr"]
    gen = torch.Generator(device=device).manual_seed(config["seed"] * 1000 + epoch)
    while epoch < config["epochs"]:
        epoch += 1
        metrics = {**train_epoch(model, optimizer, data, config, gen), "lr": config["lr"], "epoch": epoch}
        if epoch % config["checkpoint_every"] == 0 or epoch == config["epochs"]:
            with tempfile.TemporaryDirectory() as d:
                torch.save(
                    {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch},
                    os.path.join(d, "state.pt"),
                )
                tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(d))
        else:
            tune.report(metrics)


def plain_pbt(interval: int) -> PopulationBasedTraining:
    """Ray's PBT on the validation loss, exploiting every `interval` epochs and mutating the lr with
    its built-in explore (x0.8 / x1.2, resample with probability 0.25) over SPACE's lr domain."""
    return PopulationBasedTraining(
        time_attr="training_iteration",
        perturbation_interval=interval,
        metric="loss",
        mode="min",
        hyperparam_mutations=pbt_mutations(SPACE, KEYS),
    )


def pbt_checkpoints(population: int) -> tune.CheckpointConfig:
    """Checkpoints kept per PBT trial: population + 2, so a trial that waits for a free slot after
    an exploit still finds the checkpoint it cloned (4 were too few: PBT restored a deleted one)."""
    return tune.CheckpointConfig(num_to_keep=population + 2)


class EpochCounter(tune.Callback):
    """Counts the epochs all trials trained (every reported result is one epoch)."""

    def __init__(self) -> None:
        self.epochs = 0

    def on_trial_result(self, iteration: int, trials: list, trial: object, result: dict, **info: object) -> None:
        self.epochs += 1


def lineage_schedule(experiment: Path, trial_id: str, own_lr: float, epochs: int) -> dict[int, float]:
    """The lr a PBT trial's lineage trained with at each epoch, from PBT's ``pbt_policy_<id>.txt``
    (the trial's exploit records, its parents' records copied in first): before the first clone
    point the root's lr, from each clone point on the new config's lr."""
    path = experiment / f"pbt_policy_{trial_id}.txt"
    records = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    if not records:
        return {e: own_lr for e in range(1, epochs + 1)}
    schedule, lr, start = {}, records[0][4]["lr"], 0
    for record in records:
        clone_iter = int(record[3])
        for e in range(start + 1, clone_iter + 1):
            schedule[e] = lr
        start, lr = clone_iter, record[5]["lr"]
    for e in range(start + 1, epochs + 1):
        schedule[e] = lr
    return schedule


def stage1(space: dict, budget: int, epochs: int, gpus: float, storage: str) -> PGSearcher:
    """PGSearcher + ASHA over the whole space (architecture and lr): the searcher after the run."""
    from experiments.cnn import train_cnn

    searcher = PGSearcher(seed=0)
    tune.Tuner(
        tune.with_resources(train_cnn, {"cpu": 1, "gpu": gpus}),
        param_space={**space, "epochs": epochs},
        tune_config=tune.TuneConfig(
            search_alg=searcher,
            metric="loss",
            mode="min",
            num_samples=budget,
            scheduler=asha(epochs),
            max_concurrent_trials=2,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(storage_path=storage, name="stage1", verbose=0),
    ).fit()
    return searcher


def stage2(arm: str, searcher: PGSearcher, fixed: dict, seed: int, args: argparse.Namespace, storage: str) -> dict:
    """One PBT run of `arm` on the lr of the fixed architecture: the best trial's final loss and
    accuracy, its lr per epoch, all epochs trained and the wall time."""
    space = {**fixed, "lr": SPACE["lr"], "epochs": args.epochs, "seed": seed, "checkpoint_every": args.interval}
    counter = EpochCounter()
    callbacks: list = [counter]
    if arm == "plain PBT":
        scheduler = plain_pbt(args.interval)
        search_alg = BasicVariantGenerator(random_state=seed)
    else:
        explorer = PolicyExplorer(SPACE, KEYS, metric="loss", mode="min", factors=FACTORS, seed=seed)
        scheduler = explorer.scheduler(time_attr="training_iteration", perturbation_interval=args.interval)
        configs = initial_population(searcher, args.population, seed=seed, fixed=space, keys=KEYS)
        search_alg = population_search_alg(configs)
        callbacks.append(explorer)
    start = time.time()
    results = tune.Tuner(
        tune.with_resources(train_cnn_pbt, {"cpu": 1, "gpu": args.gpus}),
        param_space=space,
        tune_config=tune.TuneConfig(
            search_alg=search_alg, scheduler=scheduler, num_samples=args.population, reuse_actors=True
        ),  # 2 CPUs: 2 trials at a time
        run_config=tune.RunConfig(
            storage_path=storage,
            name=f"{arm.split()[0]}_{seed}",
            verbose=0,
            callbacks=callbacks,
            checkpoint_config=pbt_checkpoints(args.population),
        ),
    ).fit()
    wall = time.time() - start
    finals = [r for r in results if r.metrics and "loss" in r.metrics]
    best = min(finals, key=lambda r: r.metrics["loss"])
    schedule = lineage_schedule(Path(results.experiment_path), best.metrics["trial_id"], best.config["lr"], args.epochs)
    out = {
        "loss": best.metrics["loss"],
        "accuracy": best.metrics["accuracy"],
        "wall": wall,
        "epochs": counter.epochs,
        "schedule": schedule,
    }
    if arm != "plain PBT":
        out["factors"] = explorer.probabilities("lr")
    return out


def plot(runs: dict[str, list[dict]], path: Path) -> None:
    """The lr schedule of each run's best trial (left) and the final validation loss (right)."""
    fig, (ax, bx) = pyplot().subplots(1, 2, figsize=(11, 4.5))
    for i, (arm, seeds) in enumerate(runs.items()):
        for j, run in enumerate(seeds):
            epochs = sorted(run["schedule"])
            ax.step(
                epochs,
                [run["schedule"][e] for e in epochs],
                where="post",
                color=f"C{i}",
                alpha=0.8,
                label=arm if j == 0 else None,
            )
        bx.scatter([i] * len(seeds), [r["loss"] for r in seeds], color=f"C{i}")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("lr of the best trial's lineage per epoch")
    ax.legend()
    ax.grid(alpha=0.3)
    bx.set_xticks(range(len(runs)), list(runs))
    bx.set_xlim(-0.5, len(runs) - 0.5)
    bx.set_ylabel("best trial's final validation loss (one dot per seed)")
    bx.grid(alpha=0.3)
    save(fig, path, dpi=100, title="CNN on digits: PBT of the lr schedule, plain vs PG-guided")


def markdown(
    runs: dict[str, list[dict]], fixed: dict, s1: dict, args: argparse.Namespace, argv: list[str] | None
) -> str:
    lines = header("pbt_schedule", "PBT of the CNN's learning-rate schedule: plain vs PG-guided", argv, ["torch"])
    lines += RECIPE
    arch = {
        k: (round(v, 3) if isinstance(v, float) else v)
        for k, v in fixed.items()
        if k not in ("dataset", "seed", "epochs")
    }
    lines += [
        f"Stage 1 (PGSearcher + ASHA over the whole CNN SPACE, {args.budget} trials of up to "
        f"{args.stage1_epochs} epochs, {s1['wall']:.0f} s): best validation loss {s1['loss']:.4f}; "
        f"the architecture fixed for stage 2: `{arch}`.",
        "",
        f"Stage 2: PBT on `lr` only, population {args.population}, {args.epochs} epochs, perturbation "
        f"interval {args.interval} epochs, 2 trials at a time, metric validation loss, seeds "
        f"0..{args.seeds - 1}; mean ± sd over seeds of the best trial's final values.",
        "",
    ]
    rows = []
    for arm, seeds in runs.items():
        rows.append(
            [
                arm,
                mean_sd([r["loss"] for r in seeds], ".4f"),
                mean_sd([r["accuracy"] for r in seeds], ".4f"),
                mean_sd([r["epochs"] for r in seeds], ".0f"),
                mean_sd([r["wall"] for r in seeds], ".0f"),
            ]
        )
    lines += table(["arm", "final val loss", "final val accuracy", "epochs trained (all trials)", "wall s"], rows)
    lines += [
        "Per seed (final val loss plain / PG-guided): "
        + ", ".join(
            f"seed {s}: {a['loss']:.4f} / {b['loss']:.4f}" for s, (a, b) in enumerate(zip(*runs.values(), strict=False))
        ),
        "",
    ]
    pg = runs["PG-guided PBT"]
    lines += [
        "Perturbation-factor probabilities the PolicyExplorer ended with: "
        + "; ".join(
            f"seed {s}: " + ", ".join(f"x{f:g} {p:.2f}" for f, p in r["factors"].items()) for s, r in enumerate(pg)
        ),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    def add(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--population", type=int, default=None, help="PBT population (default 4, quick 2)")
        parser.add_argument("--epochs", type=int, default=None, help="stage-2 epochs (default 16, quick 4)")
        parser.add_argument("--interval", type=int, default=2, help="PBT perturbation interval in epochs")
        parser.add_argument("--gpus", type=float, default=0.0, help="GPUs per trial (fractions allowed)")

    args = parse_args(__doc__, FULL, QUICK, argv, add)
    args.population = args.population or (2 if args.quick else 4)
    args.epochs = args.epochs or (4 if args.quick else 16)
    args.stage1_epochs = 2 if args.quick else 6
    start_ray(__name__)
    with tempfile.TemporaryDirectory() as storage:
        start = time.time()
        searcher = stage1(SPACE, args.budget, args.stage1_epochs, args.gpus, storage)
        opt = searcher.optimizer
        s1 = {"wall": time.time() - start, "loss": opt.best_value}
        fixed = {k: v for k, v in opt.best_config.items() if k not in KEYS}
        print(f"stage 1: best loss {opt.best_value:.4f} in {s1['wall']:.0f} s, {opt.best_config}", flush=True)
        runs: dict[str, list[dict]] = {arm: [] for arm in ARMS}
        for seed in range(args.seeds):
            for arm in ARMS:
                run = stage2(arm, searcher, fixed, seed, args, storage)
                runs[arm].append(run)
                print(
                    f"  {arm:>14} seed {seed}: loss {run['loss']:.4f}, accuracy {run['accuracy']:.4f}, "
                    f"{run['epochs']} epochs, {run['wall']:.0f} s",
                    flush=True,
                )
    plot(runs, args.out / "pbt_schedule.png")
    (args.out / "pbt_schedule.md").write_text(markdown(runs, fixed, s1, args, argv))
    print(f"wrote {args.out}/pbt_schedule.md and pbt_schedule.png")


if __name__ == "__main__":
    main()
