"""Surrogate learning curves: a training job whose validation-loss curve per config comes from a function
of the config and the epoch, so that time-to-solution studies can run many trials in flight on a few
cores. The trainable sleeps a compressed epoch time and reports the curve's next point.

The search space (``SPACE``) is a mixed one, like a real training job's: a log-scale learning rate, the
optimizer, batch size, width and depth of the network, activation, dropout and weight decay.

The curve of a config is deterministic given the seed. It is built from a state that the epochs advance,
so that a config may change between epochs (PBT mutating the lr) and the curve continues from where it
was:

* **Final quality** ``L_inf`` (the loss the run converges to): ``BASE`` plus penalties with interactions.
  The best lr depends on the optimizer and grows with the square root of the batch size; an lr above
  the best costs more than one below it. Capacity ``c = log2(width) + 0.7 depth`` underfits below 9;
  dropout lets bigger models generalize better (up to ``9 + 5 dropout``) and overfits beyond. Weight
  decay has an optimizer-dependent optimum; tanh gets worse with depth.
* **Convergence speed** ``k`` per epoch: proportional to the lr below its best and saturating above
  (``10**(0.4 x)`` for ``x = log10(lr / best lr)`` above 0), faster for small batches, slower with
  dropout. The noiseless loss is ``L_inf + (L0 - L_inf) (1 + tau)**-1.5`` where the progress ``tau``
  grows by ``k`` each epoch. Curves cross: a high lr starts fast and ends worse; a low lr or a big
  regularized model ends better but only after many epochs.
* **Overfitting**: capacity beyond what the dropout allows also makes the loss creep up after epoch 5.
* **Divergence**: an lr above an optimizer- and depth-dependent threshold (tanh is more stable) builds
  up instability every epoch; once it reaches 1 the run diverges: the loss triples each epoch up to
  ``DIVERGED`` (or NaN with ``nan_on_divergence``). Far above the threshold that happens after one
  epoch; just above it, late in training, after a fast start.
* **Noise**: a per-run offset (2 %) and per-epoch noise (4 %), multiplicative, drawn from the seed,
  the config and the epoch.

The ground truth (`ground_truth`) is the lowest noiseless loss any config of the space reaches at any
epoch up to ``MAX_EPOCHS``, found by enumerating the categories and depths and searching lr and
dropout on a fine grid (weight decay and width set to their best for each). It is ``GROUND_TRUTH``
rounded: a value the noise can undercut by a few percent, never the search.

Epoch time (`epoch_seconds`): ``config["epoch_seconds"]`` times a cost that grows with the square
root of ``width * depth`` and shrinks with the batch size (about 0.3 to 4; 1 for width 256, depth 3,
batch 128), so big models cost more wall-clock time per epoch.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from ray import tune

MAX_EPOCHS = 27  # 1, 3, 9, 27: the rungs of ASHA and the brackets of HyperBand at reduction factor 3
L0 = 2.3  # the loss before training (cross-entropy of 10 balanced classes)
BASE = 0.04  # the best final loss without the regularization bonus
DIVERGED = 100.0  # the loss a diverged run climbs to
OPTIMIZERS = ["sgd", "momentum", "adam", "rmsprop"]
BATCH_SIZES = [16, 32, 64, 128, 256, 512]
ACTIVATIONS = ["relu", "gelu", "tanh"]
SPACE = {
    "lr": tune.loguniform(1e-5, 1.0),
    "optimizer": tune.choice(OPTIMIZERS),
    "batch_size": tune.choice(BATCH_SIZES),
    "width": tune.lograndint(16, 1024),
    "depth": tune.randint(1, 9),
    "activation": tune.choice(ACTIVATIONS),
    "dropout": tune.uniform(0.0, 0.7),
    "weight_decay": tune.loguniform(1e-6, 1e-1),
    "epochs": MAX_EPOCHS,
    "epoch_seconds": 0.05,
    "seed": 0,
}
# per optimizer: quality offset, best lr at batch 128, speed at the best lr, divergence threshold
# (decades above the best lr), best weight decay
_OFFSET = np.array([0.01, 0.0, 0.008, 0.015])
_LR_OPT = np.array([0.1, 0.02, 1e-3, 3e-4])
_K0 = np.array([0.8, 1.6, 2.5, 2.0])
_X_DIV = np.array([0.9, 0.8, 1.4, 1.2])
_WD_OPT = np.array([5e-4, 5e-4, 1e-4, 1e-5])
# per activation: quality offset, extra quality loss per layer beyond the first, speed factor,
# divergence threshold shift
_ACT_OFFSET = np.array([0.003, 0.0, 0.01])
_ACT_DEPTH = np.array([0.0, 0.0, 0.004])
_ACT_SPEED = np.array([1.1, 1.0, 0.8])
_ACT_DIV = np.array([0.0, 0.0, 0.3])


@dataclass(frozen=True)
class Terms:
    """What a config's curve is made of (arrays when the inputs are arrays)."""

    final: np.ndarray  # L_inf: the loss the run converges to
    speed: np.ndarray  # k: progress per epoch
    instability: np.ndarray  # added per epoch; the run diverges when the sum reaches 1
    overfit: np.ndarray  # loss added per epoch after epoch 5


def terms(
    lr: np.ndarray | float,
    optimizer: np.ndarray | int,
    batch_size: np.ndarray | int,
    width: np.ndarray | int,
    depth: np.ndarray | int,
    activation: np.ndarray | int,
    dropout: np.ndarray | float,
    weight_decay: np.ndarray | float,
) -> Terms:
    """The curve's terms for configs given as (broadcasting) arrays, categories as indices into
    ``OPTIMIZERS`` and ``ACTIVATIONS``."""
    opt, act = np.asarray(optimizer), np.asarray(activation)
    batch, depth, dropout = np.asarray(batch_size, float), np.asarray(depth, float), np.asarray(dropout, float)
    x = np.log10(lr) - np.log10(_LR_OPT[opt] * np.sqrt(batch / 128))
    lr_cost = np.where(x > 0, 0.12, 0.02) * x**2
    capacity = np.log2(width) + 0.7 * depth
    allowed = 9.0 + 5.0 * dropout
    excess = np.maximum(capacity - allowed, 0.0)
    capacity_cost = (
        0.025 * np.maximum(9.0 - capacity, 0.0) ** 2
        - 0.006 * np.maximum(np.minimum(capacity, allowed) - 9.0, 0.0)
        + 0.015 * excess**2
        + 0.02 * dropout**2
    )
    wd_cost = 0.01 * (np.log10(weight_decay) - np.log10(_WD_OPT[opt])) ** 2
    act_cost = _ACT_OFFSET[act] + _ACT_DEPTH[act] * (depth - 1)
    final = BASE + _OFFSET[opt] + lr_cost + capacity_cost + wd_cost + act_cost
    speed = (
        _K0[opt]
        * np.where(x < 0, 10.0**x, 10.0 ** (0.4 * x))
        * (128 / batch) ** 0.3
        * (1 - 0.5 * dropout)
        * _ACT_SPEED[act]
    )
    above = x - (_X_DIV[opt] - 0.08 * (depth - 1) + _ACT_DIV[act])
    instability = np.where(above > 0, (above + 0.25) / 8, 0.0)
    return Terms(final, speed, instability, 0.004 * excess)


def config_terms(config: dict) -> Terms:
    """`terms` of one config (a dict with the keys of ``SPACE``)."""
    return terms(
        config["lr"],
        OPTIMIZERS.index(config["optimizer"]),
        config["batch_size"],
        config["width"],
        config["depth"],
        ACTIVATIONS.index(config["activation"]),
        config["dropout"],
        config["weight_decay"],
    )


def progress_loss(final: np.ndarray | float, progress: np.ndarray | float) -> np.ndarray:
    """The noiseless loss of a (non-diverged) run at `progress` (the sum of its speeds so far)."""
    return final + (L0 - final) * (1.0 + np.asarray(progress)) ** -1.5


def epoch_seconds(config: dict) -> float:
    """Wall-clock seconds one epoch of `config` takes: ``config["epoch_seconds"]`` times its cost."""
    cost = (0.3 + 0.7 * np.sqrt(config["width"] * config["depth"] / 768)) * (128 / config["batch_size"]) ** 0.2
    return float(config["epoch_seconds"] * cost)


def _noise_key(config: dict) -> int:
    """A stable integer from a config's searched values (not its seed or epoch fields)."""
    text = repr([(key, config[key]) for key in SPACE if isinstance(SPACE[key], tune.search.sample.Domain)])
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


@dataclass
class State:
    """A run's position on its curve, advanced one epoch at a time (and carried in PBT checkpoints)."""

    epoch: int = 0
    progress: float = 0.0
    instability: float = 0.0
    diverged_loss: float = 0.0  # the noiseless loss once diverged (0 while not)
    offset: float | None = None  # the run's noise offset, drawn at its first epoch

    def step(self, config: dict, seed: int, nan_on_divergence: bool = False) -> float:
        """Train one more epoch with `config`; return the reported (noisy) validation loss."""
        t = config_terms(config)
        rng = np.random.default_rng([seed, _noise_key(config), self.epoch])
        if self.offset is None:
            self.offset = float(np.random.default_rng([seed, _noise_key(config)]).normal(0.0, 0.02))
        self.epoch += 1
        self.progress += float(t.speed)
        self.instability += float(t.instability)
        if self.diverged_loss or self.instability >= 1.0:
            self.diverged_loss = min(max(self.diverged_loss, L0) * 3.0, DIVERGED)
            if nan_on_divergence and self.diverged_loss >= DIVERGED:
                return float("nan")
            clean = self.diverged_loss
        else:
            clean = float(progress_loss(t.final, self.progress)) + float(t.overfit) * max(self.epoch - 5, 0)
        return float(clean * np.exp(self.offset + 0.04 * rng.normal()))


def curve(config: dict, seed: int, epochs: int = MAX_EPOCHS, nan_on_divergence: bool = False) -> np.ndarray:
    """The reported validation losses of `config` over `epochs` epochs."""
    state = State()
    return np.array([state.step(config, seed, nan_on_divergence) for _ in range(epochs)])


def noiseless_best(config: dict, epochs: int = MAX_EPOCHS) -> float:
    """The lowest noiseless loss `config` reaches at any epoch up to `epochs` (a diverged run's best
    epoch counts too)."""
    t = config_terms(config)
    ks = np.arange(1, epochs + 1)
    clean = progress_loss(t.final, t.speed * ks) + t.overfit * np.maximum(ks - 5, 0)
    stable = t.instability * ks < 1.0
    return float(np.min(clean[stable])) if stable.any() else DIVERGED


@functools.lru_cache(maxsize=None)
def ground_truth(epochs: int = MAX_EPOCHS) -> tuple[float, tuple[tuple[str, Any], ...]]:
    """(the lowest noiseless loss any config reaches within `epochs` epochs, that config as sorted
    items). Weight decay is set to its optimizer's best; width to the integer nearest the capacity
    dropout allows (the best capacity); the rest is enumerated (categories, depth) or searched on a
    grid (lr: 401 points over its range, dropout: 71 points) and refined once around the best."""

    def search(lrs: np.ndarray, dropouts: np.ndarray) -> tuple[float, dict]:
        best: tuple[float, dict] = (np.inf, {})
        for o, b, a, d in np.ndindex(len(OPTIMIZERS), len(BATCH_SIZES), len(ACTIVATIONS), 8):
            depth = d + 1
            lr, dropout = np.meshgrid(lrs, dropouts, indexing="ij")
            ideal = 2.0 ** (9.0 + 5.0 * dropout - 0.7 * depth)
            for width in (np.clip(np.floor(ideal), 16, 1023), np.clip(np.ceil(ideal), 16, 1023)):
                t = terms(lr, o, BATCH_SIZES[b], width, depth, a, dropout, _WD_OPT[o])
                # the loss at the last epoch: the best epoch unless the width overshoots (then an upper
                # bound); configs that diverge within the epochs are excluded
                end = progress_loss(t.final, t.speed * epochs) + t.overfit * max(epochs - 5, 0)
                value = np.where(t.instability * epochs < 1.0, end, np.inf)
                i = np.unravel_index(np.argmin(value), value.shape)
                if value[i] < best[0]:
                    config = {
                        "lr": float(lr[i]),
                        "optimizer": OPTIMIZERS[o],
                        "batch_size": BATCH_SIZES[b],
                        "width": int(width[i]),
                        "depth": depth,
                        "activation": ACTIVATIONS[a],
                        "dropout": float(dropout[i]),
                        "weight_decay": float(_WD_OPT[o]),
                    }
                    best = (float(value[i]), config)
        return best

    _, coarse = search(np.logspace(-5, 0, 401), np.linspace(0.0, 0.7, 71))
    lr0, d0 = np.log10(coarse["lr"]), coarse["dropout"]
    lrs = np.logspace(max(lr0 - 0.01, -5), min(lr0 + 0.01, 0), 201)
    value, config = search(lrs, np.clip(np.linspace(d0 - 0.01, d0 + 0.01, 41), 0, 0.7))
    value = min(value, noiseless_best(config, epochs))
    return value, tuple(sorted(config.items()))


GROUND_TRUTH = 0.0343  # ground_truth()[0] rounded to 4 digits (a test checks it)


def fingerprint() -> str:
    """A short hash of everything that shapes the curves and the epoch times (the code of the functions
    that compute them, the constants and the space), for caches of runs on the surrogate."""
    code = [inspect.getsource(f) for f in (terms, progress_loss, epoch_seconds, _noise_key, State, train_surrogate)]
    constants = [MAX_EPOCHS, L0, BASE, DIVERGED, OPTIMIZERS, BATCH_SIZES, ACTIVATIONS, _OFFSET, _LR_OPT, _K0]
    constants += [_X_DIV, _WD_OPT, _ACT_OFFSET, _ACT_DEPTH, _ACT_SPEED, _ACT_DIV]
    space = [f"{k}:{getattr(v, 'domain_str', v)}:{type(v).__name__}" for k, v in SPACE.items()]
    text = "\n".join(code + [repr(c.tolist() if isinstance(c, np.ndarray) else c) for c in constants] + space)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def train_surrogate(config: dict) -> None:
    """Tune function trainable: ``config["epochs"]`` epochs of the surrogate curve, each after a
    sleep of `epoch_seconds`, reporting ``loss`` and ``epoch``. With ``checkpoint_every`` (PBT) or
    ``checkpoint_at`` (the epochs where HyperBand may pause a trial) in the config it saves its `State`
    in a checkpoint every that many epochs or at those epochs and resumes from one;
    ``nan_on_divergence`` (default False) reports NaN once a diverged run's loss is huge."""
    import json
    import os
    import tempfile

    every, at = config.get("checkpoint_every") or 0, set(config.get("checkpoint_at") or ())
    state = State()
    checkpoint = tune.get_checkpoint() if every or at else None
    if checkpoint:
        with checkpoint.as_directory() as d, open(os.path.join(d, "state.json")) as f:
            state = State(**json.load(f))
    while state.epoch < config["epochs"]:
        time.sleep(epoch_seconds(config))
        loss = state.step(config, config["seed"], config.get("nan_on_divergence", False))
        metrics = {"loss": loss, "epoch": state.epoch}
        if (every and (state.epoch % every == 0 or state.epoch == config["epochs"])) or state.epoch in at:
            with tempfile.TemporaryDirectory() as d:
                with open(os.path.join(d, "state.json"), "w") as f:
                    json.dump(state.__dict__, f)
                tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(d))
        else:
            tune.report(metrics)
