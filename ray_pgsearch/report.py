"""Figures of a finished (or running) Tune experiment searched by PGSearcher.

    python -m ray_pgsearch.report <experiment_dir> [--out DIR]

Reads the searcher checkpoint (``searcher-state-*.pkl``: metric, mode, search space and the final
policy), every trial's ``result.json`` and the policy's event files under ``<experiment>/pgsearch``,
and writes three PNGs to ``DIR`` (default ``<experiment>/report``):

* ``best_so_far.png``: the best metric value so far against the number of finished trials and
  against wall-clock seconds since the first trial started (Tune's ``timestamp``, whole seconds);
  each trial counts with its last finite metric value, the one PGSearcher learns from; the title
  says how many trials crashed.
* ``policy_over_time.png``: per numeric parameter the policy mean and its one-sigma interval in the
  parameter's units, per choice the category probabilities, against the trials told at each
  update; the trials' own values are drawn as points.
* ``final_policy.png``: the final policy: for each parameter the share of the policy's draws that
  land on each value (integers, grids and choices: one bar per value) or in each of 40 equal-width
  bins of the axis (floats; log-spaced bins for log domains).

Install the figures' dependencies with ``pip install "ray_pgsearch[report]"``.
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import sys
from dataclasses import dataclass

import numpy as np

from ._objectives import as_reward
from ._searcher import PGSearcher
from ._space import NumericParam
from ._util import get_path, path_str
from .tensorboard import TRIALS_TAG, category_tag, numeric_tag

__all__ = [
    "TrialResult",
    "experiment_problem",
    "load_policy_scalars",
    "load_searcher",
    "load_trials",
    "main",
    "plot_best_so_far",
    "plot_final_policy",
    "plot_policy_over_time",
    "policy_value_shares",
    "write_report",
]

_FLOAT_BINS = 40  # bins of a float parameter's axis in the final-policy figure
_MAX_BARS = 40  # more distinct values than this are drawn as bins too
_Z_GRID = 4000  # latent points that integrate the policy's density over each value


@dataclass(frozen=True)
class TrialResult:
    """One finished trial: its last finite metric value, when it ended and started (Unix seconds)."""

    value: float
    end: float
    start: float
    config: dict


def load_searcher(experiment_dir: str) -> PGSearcher:
    """The PGSearcher of the experiment's newest checkpoint; a ValueError when there is none."""
    searcher = PGSearcher()
    try:
        searcher.restore_from_dir(experiment_dir)
    except RuntimeError as e:  # Tune's "no searcher checkpoint found" error
        raise ValueError(f"{experiment_dir} is not a PGSearcher experiment: {e}") from None
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


def policy_value_shares(param: NumericParam, mean: float, std: float) -> tuple[np.ndarray, np.ndarray, bool]:
    """(values, shares, discrete): the probability that the policy's Gaussian draws each value of a
    parameter with at most ``_MAX_BARS`` distinct values (integers, grids), else each of
    ``_FLOAT_BINS`` bins of its axis (then ``values`` holds the bin edges). Shares sum to 1."""
    z = (np.arange(_Z_GRID) + 0.5) / _Z_GRID
    mass = reflected_density(z, mean, std) / _Z_GRID
    mass /= mass.sum()
    decoded = np.array([param.decode(v) for v in z], dtype=float)
    values, index = np.unique(decoded, return_inverse=True)
    if values.size <= _MAX_BARS:
        return values, np.bincount(index, weights=mass, minlength=values.size), True
    edges_z = np.linspace(0.0, 1.0, _FLOAT_BINS + 1)
    edges = np.array([param.decode(v) for v in edges_z], dtype=float)
    shares = np.histogram(z, bins=edges_z, weights=mass)[0]
    return edges, shares, False


def _grid(n: int, legend_space: float = 0.0) -> tuple:
    """A figure with ``n`` panels, three to a row; ``legend_space`` inches under each row leave room
    for legends drawn below the panels."""
    import matplotlib.pyplot as plt

    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, (3.6 + legend_space) * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes.flat


def _category_labels(ax, categories: tuple) -> None:
    """Category names under bars, shortened and slanted so that neighbours do not collide."""
    labels = [str(c) if len(str(c)) <= 14 else str(c)[:13] + "…" for c in categories]
    ax.set_xticks(range(len(categories)))
    ax.set_xticklabels(
        labels, rotation=30 if len(categories) > 3 else 0, ha="right" if len(categories) > 3 else "center", fontsize=8
    )


def _value_axis(axis, param: NumericParam) -> None:
    """A parameter's axis: log scale for log domains, labelled at powers of ten when it spans three
    decades or more and at plain 1-2-5 (or 1..9) multiples when it spans less, never with the
    crowded minor-tick labels; ticks only at whole numbers for integer domains."""
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter, NullLocator

    if param.kind == "log":
        getattr(axis.axes, f"set_{axis.axis_name}scale")("log")
        decades = math.log10(param.upper / param.lower)
        if decades < 3.0:
            axis.set_major_locator(LogLocator(base=10.0, subs=(1.0, 2.0, 5.0) if decades >= 1.0 else range(1, 10)))
            axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        else:
            axis.set_major_locator(LogLocator(base=10.0, numticks=8))
        axis.set_minor_formatter(NullFormatter())
    elif param.integer:
        axis.set_major_locator(MaxNLocator(nbins="auto", integer=True))
        axis.set_minor_locator(NullLocator())


def _on_trials(scalars: dict, *tags: str) -> tuple[np.ndarray, ...]:
    """(trials told, values of each tag) of policy series, at the updates where every one of the
    tags and the trials count were written: series written up to different updates (the last
    events of a run can miss some tags) still line up."""
    told = dict(zip(*scalars[TRIALS_TAG], strict=True))
    series = [dict(zip(*scalars[tag], strict=True)) for tag in tags]
    steps = sorted(set(told).intersection(*series))
    return np.array([told[s] for s in steps], dtype=float), *(np.array([v[s] for s in steps]) for v in series)


def plot_best_so_far(trials: list[TrialResult], metric: str, mode: str, path: str, crashed: int = 0) -> None:
    import matplotlib.pyplot as plt

    values = np.array([t.value for t in trials])
    best = np.minimum.accumulate(values) if mode == "min" else np.maximum.accumulate(values)
    seconds = np.array([t.end for t in trials]) - min(t.start for t in trials)
    fig, (by_trial, by_time) = plt.subplots(1, 2, figsize=(11, 4))
    for ax, x, label in (
        (by_trial, np.arange(1, len(trials) + 1), "finished trials"),
        (by_time, seconds, "seconds since the first trial started"),
    ):
        ax.scatter(x, values, s=12, color="0.6", label="trial")
        ax.step(x, best, where="post", color="C0", label=f"best so far ({mode})")
        ax.set_xlabel(label)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    by_trial.legend()
    failed = f"; {crashed} more crashed (an exception, NaN or inf)" if crashed else ""
    fig.suptitle(f"best {metric} so far: {best[-1]:.4g} after {len(trials)} trials{failed}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_policy_over_time(searcher: PGSearcher, scalars: dict, trials: list[TrialResult], path: str) -> None:
    import matplotlib.pyplot as plt

    space = searcher.view().space
    steps, _ = scalars[TRIALS_TAG]
    order = np.arange(1, len(trials) + 1)
    fig, axes = _grid(space.dim, legend_space=0.5)
    numeric_legend = None
    for ax, param in zip(axes, space.params, strict=False):
        name = path_str(param.path)
        if isinstance(param, NumericParam):
            x, mean, lower, upper = _on_trials(scalars, *(numeric_tag(name, k) for k in ("mean", "lower", "upper")))
            ax.fill_between(x, lower, upper, color="C0", alpha=0.25, label="middle 68 % of the policy's draws")
            ax.plot(x, mean, color="C0", label="policy centre")
            ax.scatter(order, [get_path(t.config, param.path) for t in trials], s=10, color="0.4", label="trials")
            ax.set_ylabel(name)
            _value_axis(ax.yaxis, param)
            numeric_legend = numeric_legend or ax.get_legend_handles_labels()
        else:
            for category in param.categories:
                ax.plot(*_on_trials(scalars, category_tag(name, category)), label=f"p({category})")
            ax.set_ylim(0, 1)
            ax.set_ylabel("probability")
            # below the panel, where it covers no line
            ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=min(len(param.categories), 4))
        ax.set_title(name)
        ax.set_xlabel("finished trials")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
    if numeric_legend is not None:  # one legend for every numeric panel, above them all
        fig.legend(*numeric_legend, loc="upper right", ncol=3, fontsize=8, frameon=False)
    fig.suptitle(f"policy over {len(steps)} updates", x=0.02, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_final_policy(searcher: PGSearcher, path: str) -> None:
    import matplotlib.pyplot as plt

    view = searcher.view()
    fig, axes = _grid(view.space.dim)
    for ax, numeric in zip(axes, view.numeric, strict=False):
        param = numeric.param
        values, shares, discrete = policy_value_shares(param, numeric.latent_mean, numeric.latent_std)
        if discrete and param.kind != "log":
            ax.bar(values, shares, width=0.8 * (np.min(np.diff(values)) if values.size > 1 else 1.0), color="C0")
            _value_axis(ax.xaxis, param)
        elif discrete:
            ax.bar(np.arange(values.size), shares, color="C0")
            _category_labels(ax, tuple(f"{v:g}" for v in values))
        else:
            ax.stairs(shares, values, fill=True, color="C0", alpha=0.7)
            _value_axis(ax.xaxis, param)
        ax.set_xlabel(path_str(param.path))
        ax.set_ylabel("share of draws" + ("" if discrete else " per bin"))
    for ax, choice in zip(axes[view.space.n_numeric :], view.choices, strict=False):
        ax.bar(np.arange(len(choice.probabilities)), choice.probabilities, color="C1")
        _category_labels(ax, choice.categories)
        ax.set_ylim(0, 1)
        ax.set_ylabel("probability")
    for ax, any_param in zip(axes, view.space.params, strict=False):
        ax.set_title(path_str(any_param.path))
        ax.grid(alpha=0.3)
    fig.suptitle(f"final policy after {view.n_updates} updates")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(experiment_dir: str, out_dir: str | None = None) -> list[str]:
    """Writes the three PNGs; returns their paths. A ValueError when the directory holds no
    PGSearcher experiment or no trial with a finite metric value."""
    out_dir = out_dir or os.path.join(experiment_dir, "report")
    searcher = load_searcher(experiment_dir)
    trials = load_trials(experiment_dir, searcher.metric)
    if not trials:
        raise ValueError(f"no trial in {experiment_dir} reported a finite '{searcher.metric}'")
    os.makedirs(out_dir, exist_ok=True)
    paths = [os.path.join(out_dir, name) for name in ("best_so_far.png", "policy_over_time.png", "final_policy.png")]
    plot_best_so_far(trials, searcher.metric, searcher.mode, paths[0], searcher.view().n_crashed)
    plot_policy_over_time(searcher, load_policy_scalars(os.path.join(experiment_dir, "pgsearch")), trials, paths[1])
    plot_final_policy(searcher, paths[2])
    return paths


def experiment_problem(path: str) -> str | None:
    """Why ``path`` is not an experiment the report can read, in plain words; None when it is one
    (a directory with Tune's experiment files and a PGSearcher checkpoint)."""
    if not os.path.exists(path):
        return f"{path} does not exist: pass the directory of a Tune experiment, <storage_path>/<name>"
    if not os.path.isdir(path):
        return f"{path} is a file, not an experiment directory: pass <storage_path>/<name>"

    def is_experiment(folder: str) -> bool:
        return bool(glob.glob(os.path.join(folder, "experiment_state-*.json"))) or os.path.isfile(
            os.path.join(folder, "tuner.pkl")
        )

    if not is_experiment(path):
        inside = sorted(d for d in glob.glob(os.path.join(path, "*")) if os.path.isdir(d) and is_experiment(d))
        hint = f"; the experiments in it: {', '.join(inside)}" if inside else ""
        return f"{path} is not a Ray Tune experiment (no experiment_state-*.json or tuner.pkl in it){hint}"
    if not glob.glob(os.path.join(path, "searcher-state-*.pkl")):
        return (
            f"{path} is a Ray Tune experiment without a searcher checkpoint (searcher-state-*.pkl): "
            "its search algorithm was not PGSearcher, or it stopped before Tune first saved the searcher"
        )
    return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("experiment_dir", help="<storage_path>/<name> of a Tune run with PGSearcher")
    parser.add_argument("--out", help="where to write the PNGs (default: <experiment_dir>/report)")
    args = parser.parse_args(argv)
    problem = experiment_problem(args.experiment_dir)
    if problem is not None:
        sys.exit(problem)
    try:
        import matplotlib
    except ModuleNotFoundError:
        sys.exit('the report needs matplotlib and tensorboard: pip install "ray_pgsearch[report]"')
    matplotlib.use("Agg")  # files only; the command line decides the backend, the library does not
    try:
        paths = write_report(args.experiment_dir, args.out)
    except ValueError as e:  # e.g. a searcher checkpoint of another search algorithm
        sys.exit(str(e) if args.experiment_dir in str(e) else f"{args.experiment_dir}: {e}")
    for path in paths:
        print(path)


if __name__ == "__main__":
    main()
