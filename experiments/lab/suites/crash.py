"""The crash suite: deep-learning-like objectives with regions where a trial crashes.

Each objective is a pure function of its config that returns a validation loss, or signals a crash the
way a trainable would: it raises `experiments.lab.objectives.TrialCrash` (`OutOfMemory` when the
activations and parameters of a batch exceed the device's memory, `LostNode` for a crash the config did
not cause) or it returns NaN (the loss diverged). The lab's driver tells each searcher so through the Tune
`Searcher` calls: ``on_trial_complete(trial_id, None, error=True)`` for a raise, a NaN metric for a
divergence.

The regions are of four kinds, in both halves:

- out of memory from a product of sizes (batch x width x depth, or x sequence length): the best model is
  the biggest that fits, so the optimum sits against the limit;
- divergence above a learning rate whose safe limit depends on the optimizer, the batch size, the
  momentum, the warmup or the normalization;
- a failure region that covers one side of the optimum's neighbourhood (the optimum at the boundary);
- mixed spaces with both, and on a few objectives a lost node: a crash with probability `LOST_NODE_RATE`
  anywhere, decided by a hash of the config's exact values (so no neighbourhood shares it, and the run
  stays reproducible), which must not ban a region.

`DEV` is the development half, `HELD_OUT` the held-out half (one objective of each kind in each); a
failure model's settings are chosen on `DEV` only.
"""

from __future__ import annotations

import zlib

import numpy as np
from ray import tune

from experiments.lab.objectives import Objective, OutOfMemory, TrialCrash
from experiments.lab.spaces import snap_int

LOST_NODE_RATE = 0.03
GIB = 2.0**30


class LostNode(TrialCrash):
    """The node running the trial went away: a crash the config did not cause."""

    kind = "lost"


class Unstable(TrialCrash):
    """The trainable raised on a numerical failure (a non-finite gradient caught by a check)."""

    kind = "error"


def lose_node(name: str, config: dict, rate: float = LOST_NODE_RATE) -> None:
    """Raise `LostNode` for a fraction `rate` of configs, by a hash of the objective's name and the config's
    exact values: independent of the region, the same for the same config."""
    key = repr(sorted((k, repr(v)) for k, v in config.items())) + name
    if zlib.crc32(key.encode()) / 2.0**32 < rate:
        raise LostNode(f"{name}: the node was lost")


def check_memory(needed_gib: float, limit_gib: float) -> None:
    """Raise `OutOfMemory` when a trial needs more than the device has."""
    if needed_gib > limit_gib:
        raise OutOfMemory(f"needs {needed_gib:.1f} GiB of {limit_gib:g} GiB")


# ---------------------------------------------------------------- out of memory: an MLP

MLP_SPACE = {
    "batch_size": tune.lograndint(16, 2049),
    "width": tune.lograndint(64, 8193),
    "depth": tune.randint(1, 13),
    "lr": tune.loguniform(1e-5, 1e-1),
    "weight_decay": tune.loguniform(1e-6, 1e-1),
    "optimizer": tune.choice(["sgd", "adam", "adamw"]),
}
MLP_MEMORY_GIB = 8.0
_MLP_OPT = {"sgd": (0.05, -1.3, -4.5), "adam": (0.02, -3.0, -5.0), "adamw": (0.0, -2.8, -2.0)}  # offset, lr, wd


def mlp_memory_gib(batch: int, width: int, depth: int, optimizer: str) -> float:
    """Activations (kept for the backward pass) plus parameters with their gradients and optimizer state."""
    states = 2 if optimizer == "sgd" else 4  # weights, gradients (+ two moments)
    activations = batch * width * depth * 32 * 4 * 16  # 32 tokens per example, 16 fp32 buffers per layer
    params = width * width * depth * 4 * states
    return (activations + params) / GIB


def oom_mlp(config: dict) -> float:
    """An MLP's validation loss: bigger is better until its batch no longer fits in memory (OOM)."""
    batch = snap_int(config["batch_size"], MLP_SPACE["batch_size"])
    width = snap_int(config["width"], MLP_SPACE["width"])
    depth = snap_int(config["depth"], MLP_SPACE["depth"])
    check_memory(mlp_memory_gib(batch, width, depth, config["optimizer"]), MLP_MEMORY_GIB)
    lose_node("crash_oom_mlp", config)
    offset, lr0, wd0 = _MLP_OPT[config["optimizer"]]
    capacity = 1.2 * 2.0 ** (-0.3 * (np.log2(width * width * depth) - 12))
    best_lr = lr0 + 0.5 * np.log10(batch / 256)  # square-root scaling with the batch
    return float(
        0.2
        + offset
        + capacity
        + 0.01 * max(depth - 6, 0) ** 2  # deep plain MLPs train worse
        + 0.15 * (np.log10(config["lr"]) - best_lr) ** 2
        + 0.02 * (np.log2(batch) - 8) ** 2
        + 0.02 * (np.log10(config["weight_decay"]) - wd0) ** 2
    )


# ---------------------------------------------------------------- divergence: the learning rate's limit

LR_SPACE = {
    "optimizer": tune.choice(["sgd", "momentum", "adam", "rmsprop"]),
    "lr": tune.loguniform(1e-5, 10.0),
    "batch_size": tune.choice([32, 64, 128, 256, 512, 1024]),
    "momentum": tune.uniform(0.0, 0.99),
    "label_smoothing": tune.uniform(0.0, 0.3),
}
# per optimizer: loss offset, log10 of the largest stable (effective) learning rate at batch 128
_LR_OPT = {"sgd": (0.08, 0.0), "momentum": (0.0, 0.0), "adam": (0.03, -2.0), "rmsprop": (0.06, -2.5)}


def lr_limit(optimizer: str, batch: int) -> float:
    """log10 of the largest stable effective learning rate: larger for larger batches (less gradient noise)."""
    return _LR_OPT[optimizer][1] + 0.5 * np.log10(batch / 128)


def diverge_lr(config: dict) -> float:
    """A classifier's validation loss, NaN when the effective learning rate (lr / (1 - momentum) with
    momentum) passes its optimizer's and batch size's limit; the best rate is half that limit."""
    optimizer, batch = config["optimizer"], config["batch_size"]
    log_lr = np.log10(config["lr"])
    if optimizer == "momentum":
        log_lr -= np.log10(1.0 - config["momentum"])
    limit = lr_limit(optimizer, batch)
    if log_lr > limit:
        return float("nan")
    momentum_fit = 0.3 * (config["momentum"] - 0.9) ** 2 if optimizer == "momentum" else 0.0
    return float(
        0.3
        + _LR_OPT[optimizer][0]
        + 0.25 * (log_lr - (limit - 0.3)) ** 2
        + 0.02 * (np.log2(batch) - 7) ** 2
        + momentum_fit
        + 1.5 * (config["label_smoothing"] - 0.1) ** 2
    )


# ---------------------------------------------------------------- the optimum at a boundary: a bowl

EDGE_BOWL_SPACE = {f"x{i}": tune.uniform(-5.0, 5.0) for i in range(4)}
EDGE_BOWL_OPTIMUM = 1.0  # at x = (0.5, ..., 0.5), on the plane sum(x) = 2


def edge_bowl(config: dict) -> float:
    """A bowl centred at (1, 1, 1, 1) inside a region that diverges (NaN) where sum(x) > 2: the best run
    sits on the region's boundary."""
    x = np.array([config[f"x{i}"] for i in range(4)])
    if x.sum() > 2.0:
        return float("nan")
    return float(np.sum((x - 1.0) ** 2))


# ---------------------------------------------------------------- mixed: a CNN, out of memory and divergence

CNN_SPACE = {
    "arch": tune.choice(["resnet18", "resnet50", "vgg16", "mobilenet"]),
    "resolution": tune.choice([128, 160, 192, 224, 256, 320]),
    "batch_size": tune.qrandint(16, 512, 16),
    "lr": tune.loguniform(1e-4, 3.0),
    "optimizer": tune.choice(["sgd", "adam"]),
    "weight_decay": tune.loguniform(1e-6, 1e-2),
    "mixed_precision": tune.choice([True, False]),
}
CNN_MEMORY_GIB = 24.0
# per architecture: top-1 error, MiB of activations per 224 x 224 image (fp32), parameters (millions),
# and the factor on the stable learning rate (vgg16 has no batch normalization)
_CNN_ARCH = {
    "resnet18": (0.30, 40.0, 11.7, 1.0),
    "resnet50": (0.235, 105.0, 25.6, 1.0),
    "vgg16": (0.28, 150.0, 138.0, 0.3),
    "mobilenet": (0.32, 60.0, 3.5, 1.0),
}
_CNN_LR = {"sgd": (-1.0, 0.6), "adam": (-3.0, -1.6)}  # log10 best lr at batch 256, log10 limit at batch 256


def mixed_cnn(config: dict) -> float:
    """An image classifier's top-1 error: a larger architecture, resolution and batch help until the batch
    no longer fits (OOM, halved activations in mixed precision); too large a learning rate for the
    optimizer, batch and architecture diverges (NaN), sooner in mixed precision."""
    error, act_mib, params_m, stability = _CNN_ARCH[config["arch"]]
    resolution = config["resolution"]
    batch = snap_int(config["batch_size"], CNN_SPACE["batch_size"])
    amp = config["mixed_precision"]
    activations = act_mib * (resolution / 224) ** 2 * batch * (0.5 if amp else 1.0) / 1024
    check_memory(activations + params_m * 1e6 * 16 / GIB, CNN_MEMORY_GIB)
    lose_node("crash_mixed_cnn", config)
    best_lr, limit = _CNN_LR[config["optimizer"]]
    scale = np.log10(batch / 256)  # linear scaling of the learning rate with the batch
    log_lr = np.log10(config["lr"])
    if log_lr > limit + scale + np.log10(stability) - (0.3 if amp else 0.0):
        return float("nan")
    return float(
        error
        - 0.04 * np.log2(resolution / 224)
        + 0.02 * (np.log2(batch) - 8) ** 2 / 4
        + 0.03 * (log_lr - (best_lr + scale)) ** 2
        + 0.01 * (np.log10(config["weight_decay"]) + 4) ** 2
        + (0.01 if config["optimizer"] == "adam" else 0.0)
        + (0.003 if amp else 0.0)
    )


# ---------------------------------------------------------------- out of memory: a transformer

TRANSFORMER_SPACE = {
    "seq_len": tune.choice([128, 256, 512, 1024, 2048]),
    "batch_size": tune.lograndint(4, 257),
    "d_model": tune.qrandint(128, 2048, 128),
    "n_layers": tune.randint(2, 25),
    "lr": tune.loguniform(1e-5, 1e-2),
    "warmup_steps": tune.qrandint(0, 4000, 250),
    "checkpointing": tune.choice([False, True]),
}
TRANSFORMER_MEMORY_GIB = 40.0


def transformer_memory_gib(config: dict) -> float:
    """Activations (attention quadratic in the sequence length; a quarter of them with activation
    checkpointing) plus 16 bytes per parameter (weights, gradients, Adam's moments)."""
    seq = config["seq_len"]
    batch = snap_int(config["batch_size"], TRANSFORMER_SPACE["batch_size"])
    d = snap_int(config["d_model"], TRANSFORMER_SPACE["d_model"])
    layers = snap_int(config["n_layers"], TRANSFORMER_SPACE["n_layers"])
    per_layer = batch * seq * (34 * d + 5 * (d // 64) * seq) * 2  # bf16 activations per layer
    activations = per_layer * layers * (0.25 if config["checkpointing"] else 1.0)
    return (activations + 16 * 12 * d * d * layers) / GIB


def oom_transformer(config: dict) -> float:
    """A language model's validation loss: more parameters and a longer context lower it until a batch no
    longer fits (OOM); the best learning rate falls with the width, warmup helps a little."""
    check_memory(transformer_memory_gib(config), TRANSFORMER_MEMORY_GIB)
    lose_node("crash_oom_transformer", config)
    batch = snap_int(config["batch_size"], TRANSFORMER_SPACE["batch_size"])
    d = snap_int(config["d_model"], TRANSFORMER_SPACE["d_model"])
    layers = snap_int(config["n_layers"], TRANSFORMER_SPACE["n_layers"])
    params = 12 * d * d * layers
    best_lr = -3.0 - 0.5 * np.log10(d / 512)
    return float(
        2.0
        + 2.5 * (params / 1e6) ** -0.25
        + 0.4 * np.sqrt(128 / config["seq_len"])
        + 0.1 * (np.log10(config["lr"]) - best_lr) ** 2
        + 0.01 * (np.log2(batch) - 5) ** 2
        + 0.05 * (config["warmup_steps"] / 1000 - 1.5) ** 2
    )


# ---------------------------------------------------------------- divergence: warmup, clipping, normalization

WARMUP_SPACE = {
    "norm": tune.choice(["pre", "post", "none"]),
    "lr": tune.loguniform(1e-5, 1e-1),
    "warmup_frac": tune.uniform(0.0, 0.2),
    "grad_clip": tune.choice([0.0, 0.5, 1.0, 5.0]),
    "beta2": tune.uniform(0.9, 0.999),
    "batch_size": tune.lograndint(8, 513),
}
_WARMUP_NORM = {"pre": (0.03, -2.3), "post": (0.0, -3.0), "none": (0.1, -3.5)}  # loss offset, log10 lr limit
_WARMUP_CLIP = {0.0: 0.0, 0.5: 0.3, 1.0: 0.3, 5.0: 0.15}


def warmup_limit(config: dict) -> float:
    """log10 of the largest stable learning rate: raised by the warmup, clipping and larger batches,
    lowered by a beta2 close to 1 (slow second-moment estimates)."""
    batch = snap_int(config["batch_size"], WARMUP_SPACE["batch_size"])
    return (
        _WARMUP_NORM[config["norm"]][1]
        + 4.0 * config["warmup_frac"]
        + _WARMUP_CLIP[config["grad_clip"]]
        + 0.5 * np.log10(batch / 64)
        - 3.0 * (config["beta2"] - 0.95)
    )


def diverge_warmup(config: dict) -> float:
    """A transformer's validation loss, NaN past its learning rate's stable limit (`warmup_limit`); the best
    rate lies just under that limit, so the optimum is close to the boundary; warmup spends steps."""
    limit = warmup_limit(config)
    log_lr = np.log10(config["lr"])
    if log_lr > limit:
        return float("nan")
    batch = snap_int(config["batch_size"], WARMUP_SPACE["batch_size"])
    return float(
        2.5
        + _WARMUP_NORM[config["norm"]][0]
        + 0.3 * (log_lr - min(limit - 0.1, -1.5)) ** 2
        + 0.8 * config["warmup_frac"] ** 2
        + (0.02 if config["grad_clip"] == 5.0 else 0.0)
        + 0.01 * (np.log2(batch) - 7) ** 2
        + 2.0 * (config["beta2"] - 0.98) ** 2
    )


# ---------------------------------------------------------------- the optimum at a curved boundary

EDGE_CURVED_SPACE = {f"x{i}": tune.uniform(0.0, 1.0) for i in range(5)}
_CURVED_CENTRE = np.array([0.6, 0.5, 0.4, 0.3, 0.7])
_CURVED_WEIGHTS = np.array([4.0, 3.0, 2.0, 1.0, 1.0])


def curved_constraint(x: np.ndarray) -> float:
    """The failure boundary's function: trials with a value above the centre's fail."""
    return float(x[0] + x[1] ** 2 + 0.5 * x[2])


def edge_curved(config: dict) -> float:
    """A 5-D ellipsoid whose minimum (0) lies on a curved boundary: the trainable raises on one side of it,
    so half of the optimum's neighbourhood crashes."""
    x = np.array([config[f"x{i}"] for i in range(5)])
    if curved_constraint(x) > curved_constraint(_CURVED_CENTRE):
        raise Unstable("non-finite gradient")
    return float(np.sum(_CURVED_WEIGHTS * (x - _CURVED_CENTRE) ** 2) + 2.0 * (x[0] - x[1] - 0.1) ** 2)


# ---------------------------------------------------------------- mixed: a vision transformer fine-tune

VIT_SPACE = {
    "patch": tune.choice([8, 16, 32]),
    "resolution": tune.choice([224, 288, 384]),
    "batch_size": tune.lograndint(8, 513),
    "optimizer": tune.choice(["sgd", "adamw", "lion"]),
    "lr": tune.loguniform(1e-6, 1e-1),
    "frozen_blocks": tune.randint(0, 12),
    "mixed_precision": tune.choice([True, False]),
    "dropout": tune.uniform(0.0, 0.5),
}
VIT_MEMORY_GIB = 32.0
_VIT_OPT = {"sgd": (0.02, -2.0, -0.7), "adamw": (0.0, -4.0, -2.5), "lion": (0.0, -4.7, -3.4)}  # offset, lr, limit


def mixed_vit(config: dict) -> float:
    """Fine-tuning a ViT-B: finer patches and a higher resolution lower the error, but the tokens per image
    grow as (resolution / patch)^2 and attention's memory with their square (OOM; frozen blocks and mixed
    precision save memory); too large a learning rate diverges (NaN), sooner in mixed precision."""
    tokens = (config["resolution"] // config["patch"]) ** 2
    batch = snap_int(config["batch_size"], VIT_SPACE["batch_size"])
    frozen = snap_int(config["frozen_blocks"], VIT_SPACE["frozen_blocks"])
    amp = config["mixed_precision"]
    per_image = 12 * (tokens * 768 * 40 + 12 * tokens * tokens * 2)  # bytes (fp32) per image over 12 blocks
    trained = (12 - frozen) / 12
    activations = batch * per_image * trained * (0.5 if amp else 1.0) / GIB
    check_memory(activations + 86e6 * 16 * trained / GIB + 86e6 * 4 / GIB, VIT_MEMORY_GIB)
    lose_node("crash_mixed_vit", config)
    offset, best_lr, limit = _VIT_OPT[config["optimizer"]]
    scale = 0.5 * np.log10(batch / 128)
    log_lr = np.log10(config["lr"])
    if log_lr > limit + scale - (0.4 if amp else 0.0):
        return float("nan")
    return float(
        0.12
        + offset
        + 0.4 / np.sqrt(tokens / 49)
        + 0.004 * frozen
        + 0.02 * (log_lr - (best_lr + scale)) ** 2
        + 0.005 * (np.log2(batch) - 7) ** 2
        + 0.2 * (config["dropout"] - 0.1) ** 2
        + (0.002 if amp else 0.0)
    )


# ---------------------------------------------------------------- the suite

_OBJECTIVES = (
    ("crash_oom_mlp", "mixed", MLP_SPACE, oom_mlp, None),
    ("crash_diverge_lr", "mixed", LR_SPACE, diverge_lr, None),
    ("crash_edge_bowl4", "synthetic", EDGE_BOWL_SPACE, edge_bowl, EDGE_BOWL_OPTIMUM),
    ("crash_mixed_cnn", "mixed", CNN_SPACE, mixed_cnn, None),
    ("crash_oom_transformer", "mixed", TRANSFORMER_SPACE, oom_transformer, None),
    ("crash_diverge_warmup", "mixed", WARMUP_SPACE, diverge_warmup, None),
    ("crash_edge_curved5", "synthetic", EDGE_CURVED_SPACE, edge_curved, 0.0),
    ("crash_mixed_vit", "mixed", VIT_SPACE, mixed_vit, None),
)
# One objective of each kind per half: out of memory, divergence, the optimum at a boundary, mixed.
DEV = ("crash_oom_mlp", "crash_diverge_lr", "crash_edge_bowl4", "crash_mixed_cnn")
HELD_OUT = ("crash_oom_transformer", "crash_diverge_warmup", "crash_edge_curved5", "crash_mixed_vit")
# The objectives with lost nodes (a crash with probability LOST_NODE_RATE anywhere).
FLAKY = ("crash_oom_mlp", "crash_mixed_cnn", "crash_oom_transformer", "crash_mixed_vit")


def objectives() -> dict[str, Objective]:
    """The suite's objectives by name."""
    return {
        name: Objective(name, kind, space, fn, optimum, " ".join(fn.__doc__.split()))
        for name, kind, space, fn, optimum in _OBJECTIVES
    }
