"""Figures of a finished (or running) Tune experiment searched by PGSearcher.

    python -m ray_pgsearch.report <experiment_dir> [--out DIR]

Reads the searcher checkpoint (``searcher-state-*.pkl``: metric, mode, search space and the final
policy), every trial's ``result.json`` and the policy's event files under ``<experiment>/pgsearch``,
and writes three PNGs to ``DIR`` (default ``<experiment>/report``):

* ``best_so_far.png``: the best metric value so far against the number of finished trials and
  against wall-clock seconds since the first trial started (Tune's ``timestamp``, whole seconds);
  each trial counts with its last finite metric value, the one PGSearcher learns from.
* ``policy_over_time.png``: per numeric parameter the policy mean and its one-sigma interval in the
  parameter's units, per choice the category probabilities, against the trials told at each
  update; the trials' own values are drawn as points.
* ``final_policy.png``: the final policy: per numeric parameter the density of its (reflected)
  Gaussian on z drawn over the parameter's values, per choice a bar chart of the probabilities.
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
from dataclasses import dataclass

import numpy as np

from .optimizer import as_reward
from .searcher import PGSearcher
from .space import NumericParam, path_str


@dataclass(frozen=True)
class TrialResult:
    """One finished trial: its last finite metric value, when it ended and started (Unix seconds)."""

    value: float
    end: float
    start: float
    config: dict


def load_searcher(experiment_dir: str) -> PGSearcher:
    """The PGSearcher of the experiment's newest checkpoint."""
    searcher = PGSearcher()
    try:
        searcher.restore_from_dir(experiment_dir)
    except RuntimeError as e:  # Tune's "no searcher checkpoint found" error
        raise SystemExit(f"{experiment_dir} is not a PGSearcher experiment: {e}") from None
    return searcher


def load_trials(experiment_dir: str, metric: str) -> list[TrialResult]:
    """The trials with a finite metric value, in the order they finished."""
    trials = []
    for path in glob.glob(os.path.join(experiment_dir, "*", "result.json")):
        with open(path) as f:
            results = [json.loads(line) for line in f if line.strip()]
        finite = [r for r in results if as_reward(r.get(metric), "max") is not None]
        if finite:
            first, last = results[0], finite[-1]
            start = first["timestamp"] - first.get("time_this_iter_s", 0.0)
            trials.append(TrialResult(float(last[metric]), float(last["timestamp"]), start, last.get("config", {})))
    return sorted(trials, key=lambda t: t.end)


def load_policy_scalars(log_dir: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """tag -> (steps, values) of every scalar the policy wrote (see ``ray_pgsearch.tensorboard``)."""
    from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator

    acc = EventAccumulator(log_dir, size_guidance={SCALARS: 0})
    acc.Reload()
    series = {}
    for tag in acc.Tags()[SCALARS]:
        events = acc.Scalars(tag)
        series[tag] = (np.array([e.step for e in events]), np.array([e.value for e in events]))
    return series


def reflected_density(z: np.ndarray, mean: float, std: float) -> np.ndarray:
    """Density on [0, 1] of reflect(x), x ~ N(mean, std^2): the Gaussian folded at 0 and 1."""
    shifts = 2.0 * np.arange(-3, 4)[:, None]
    preimages = np.concatenate([z + shifts, -z + shifts])  # every x with reflect(x) = z
    return np.sum(np.exp(-0.5 * ((preimages - mean) / std) ** 2), axis=0) / (std * math.sqrt(2.0 * math.pi))


def _lookup(config: dict, path: tuple) -> object:
    for key in path:
        config = config[key]
    return config


def _grid(n: int) -> tuple:
    import matplotlib.pyplot as plt

    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.6 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes.flat


def plot_best_so_far(trials: list[TrialResult], metric: str, mode: str, path: str) -> None:
    import matplotlib.pyplot as plt

    values = np.array([t.value for t in trials])
    best = np.minimum.accumulate(values) if mode == "min" else np.maximum.accumulate(values)
    seconds = np.array([t.end for t in trials]) - min(t.start for t in trials)
    fig, (by_trial, by_time) = plt.subplots(1, 2, figsize=(11, 4))
    for ax, x, label in ((by_trial, np.arange(1, len(trials) + 1), "finished trials"),
                         (by_time, seconds, "wall-clock seconds since the first trial started")):
        ax.scatter(x, values, s=12, color="0.6", label="trial")
        ax.step(x, best, where="post", color="C0", label=f"best so far ({mode})")
        ax.set_xlabel(label)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    by_trial.legend()
    fig.suptitle(f"best {metric} so far: {best[-1]:.4g} after {len(trials)} trials")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_policy_over_time(searcher: PGSearcher, scalars: dict, trials: list[TrialResult], path: str) -> None:
    import matplotlib.pyplot as plt

    space = searcher.optimizer.space
    steps, x = scalars["search/trials"]  # x: trials told at each update
    order = np.arange(1, len(trials) + 1)
    fig, axes = _grid(space.dim)
    for ax, param in zip(axes, space.params):
        name = path_str(param.path)
        if isinstance(param, NumericParam):
            mean, lower, upper = (scalars[f"policy/{name}/{k}"][1] for k in ("mean", "lower", "upper"))
            ax.fill_between(x, lower, upper, color="C0", alpha=0.25, label="mean ± 1 sd (decoded)")
            ax.plot(x, mean, color="C0", label="policy mean")
            ax.scatter(order, [_lookup(t.config, param.path) for t in trials], s=10, color="0.4", label="trials")
            if param.kind == "log":
                ax.set_yscale("log")
        else:
            for category in param.categories:
                ax.plot(x, scalars[f"policy/{name}/p_{category}"][1], label=f"p({category})")
            ax.set_ylim(0, 1)
        ax.set_title(name)
        ax.set_xlabel("trials told")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"policy over {len(steps)} updates")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_final_policy(searcher: PGSearcher, path: str) -> None:
    import matplotlib.pyplot as plt

    opt = searcher.optimizer
    z = np.linspace(0.0, 1.0, 401)
    fig, axes = _grid(opt.space.dim)
    numeric_axes = zip(axes, opt.space.numeric, opt.policy.gaussian.mean, opt.policy.gaussian.std)
    for ax, param, mean, std in numeric_axes:
        ax.plot([param.decode(v) for v in z], reflected_density(z, mean, std), color="C0")
        ax.axvline(param.decode(mean), color="C0", linestyle="--", label=f"decode(mean) = {param.decode(mean):.4g}")
        ax.set_ylabel("density per unit of latent z")
        if param.kind == "log":
            ax.set_xscale("log")
        ax.legend(fontsize=7)
    for ax, param, actor in zip(axes[opt.space.n_numeric:], opt.space.categorical, opt.policy.categorical):
        ax.bar([str(c) for c in param.categories], actor.probs, color="C1")
        ax.set_ylim(0, 1)
        ax.set_ylabel("probability")
    for ax, param in zip(axes, opt.space.params):
        ax.set_title(path_str(param.path))
        ax.grid(alpha=0.3)
    fig.suptitle(f"final policy after {opt.policy.n_updates} updates")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(experiment_dir: str, out_dir: str | None = None) -> list[str]:
    """Writes the three PNGs; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    out_dir = out_dir or os.path.join(experiment_dir, "report")
    os.makedirs(out_dir, exist_ok=True)
    searcher = load_searcher(experiment_dir)
    trials = load_trials(experiment_dir, searcher.metric)
    if not trials:
        raise SystemExit(f"no trial in {experiment_dir} reported a finite '{searcher.metric}'")
    paths = [os.path.join(out_dir, name) for name in ("best_so_far.png", "policy_over_time.png", "final_policy.png")]
    plot_best_so_far(trials, searcher.metric, searcher.mode, paths[0])
    plot_policy_over_time(searcher, load_policy_scalars(os.path.join(experiment_dir, "pgsearch")), trials, paths[1])
    plot_final_policy(searcher, paths[2])
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("experiment_dir", help="<storage_path>/<name> of a Tune run with PGSearcher")
    parser.add_argument("--out", help="where to write the PNGs (default: <experiment_dir>/report)")
    args = parser.parse_args(argv)
    for path in write_report(args.experiment_dir, args.out):
        print(path)


if __name__ == "__main__":
    main()
