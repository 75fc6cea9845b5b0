"""``python -m ray_pgsearch.report``: what it says about folders it cannot read, and figures whose
axes and legends a reader can use. The experiment is written the way Tune writes one (a searcher
checkpoint, the policy's events, one ``result.json`` per trial), without starting Ray."""

from __future__ import annotations

import contextlib
import io
import json
import math
import pickle
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from ray import tune

from ray_pgsearch import PGSearcher, report
from ray_pgsearch.tensorboard import TRIALS_TAG

matplotlib.use("Agg")

SPACE = {
    "hidden": tune.lograndint(16, 257),  # a log-scale integer over a bit more than a decade
    "layers": tune.randint(1, 4),
    "alpha": tune.loguniform(1e-6, 1e-1),  # five decades
    "act": tune.choice(["relu", "tanh", "gelu"]),
}


def _loss(config: dict) -> float:
    return (
        (math.log(config["hidden"]) - math.log(100)) ** 2
        + 0.3 * (config["layers"] - 2) ** 2
        + 0.1 * (math.log10(config["alpha"]) + 3) ** 2
        + (0.0 if config["act"] == "relu" else 0.5)
    )


@pytest.fixture(scope="module")
def experiment(tmp_path_factory) -> Path:
    """A 30-trial experiment searched by PGSearcher, in Tune's file layout."""
    exp = tmp_path_factory.mktemp("storage") / "exp"
    exp.mkdir()
    searcher = PGSearcher(metric="loss", mode="min", seed=0, log_dir=str(exp / "pgsearch"), log_every_s=0)
    searcher.set_search_properties("loss", "min", SPACE)
    for i in range(30):
        config = searcher.suggest(f"t{i}")
        result = {"loss": _loss(config), "training_iteration": 1, "timestamp": 1_800_000_000 + 2 * i}
        searcher.on_trial_complete(f"t{i}", result)
        trial_dir = exp / f"train_{i:02d}"
        trial_dir.mkdir()
        (trial_dir / "result.json").write_text(json.dumps({**result, "time_this_iter_s": 1.5, "config": config}))
    searcher.save_to_dir(str(exp), "2026-01-01_00-00-00")
    (exp / "experiment_state-2026-01-01_00-00-00.json").write_text("{}")
    return exp


def _exit_message(argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        report.main(argv)
    return str(exit_info.value.code)


def test_a_missing_folder_is_called_missing(tmp_path):
    message = _exit_message([str(tmp_path / "nowhere")])
    assert message.startswith(f"{tmp_path / 'nowhere'} does not exist")
    assert "checkpoint" not in message


def test_a_folder_that_is_no_experiment_says_so_and_lists_the_experiments_in_it(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "is not a Ray Tune experiment" in _exit_message([str(empty)])
    # the storage path instead of the experiment inside it: the message names the experiment
    experiment = tmp_path / "storage" / "exp"
    experiment.mkdir(parents=True)
    (experiment / "tuner.pkl").write_bytes(b"")
    message = _exit_message([str(experiment.parent)])
    assert "is not a Ray Tune experiment" in message and str(experiment) in message
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    assert "is a file, not an experiment directory" in _exit_message([str(a_file)])


def test_an_experiment_without_a_pgsearcher_checkpoint_says_so(tmp_path):
    exp = tmp_path / "random_search"
    exp.mkdir()
    (exp / "experiment_state-2026-01-01_00-00-00.json").write_text("{}")
    assert "without a searcher checkpoint" in _exit_message([str(exp)])
    # another search algorithm's checkpoint: named as not a PGSearcher checkpoint, with the folder
    with open(exp / "searcher-state-2026-01-01_00-00-00.pkl", "wb") as f:
        pickle.dump({"optuna": "state"}, f)
    message = _exit_message([str(exp)])
    assert message.startswith(str(exp)) and "not a PGSearcher checkpoint" in message


@pytest.fixture(scope="module")
def rendered(experiment, tmp_path_factory) -> tuple[list[str], list]:
    """One run of the command line on the experiment: the paths it printed and the figures it saved
    (kept open for inspection)."""
    import matplotlib.figure

    saved: list = []
    savefig = matplotlib.figure.Figure.savefig

    def keep(fig, *args, **kwargs):
        savefig(fig, *args, **kwargs)
        saved.append(fig)

    out = tmp_path_factory.mktemp("report")
    printed = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(printed):
        patch.setattr(matplotlib.figure.Figure, "savefig", keep)
        report.main([str(experiment), "--out", str(out)])
    return printed.getvalue().split(), saved


@pytest.mark.slow  # renders figures
def test_the_cli_writes_three_figures(rendered):
    printed, _ = rendered
    assert [Path(p).name for p in printed] == ["best_so_far.png", "policy_over_time.png", "final_policy.png"]
    assert all(Path(p).stat().st_size > 10_000 for p in printed)


def _renderer(fig):
    """A renderer of the figure as it was saved (plt.close took its own canvas)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def _panels(fig) -> dict:
    return {ax.get_title(): ax for ax in fig.axes if ax.get_visible() and ax.get_title()}


def _visible_ticks(axis) -> list[float]:
    low, high = sorted(axis.get_view_interval())
    return [t for t in axis.get_majorticklocs() if low <= t <= high]


def _labels_overlap(axis, renderer) -> bool:
    boxes = [t.get_window_extent(renderer) for t in axis.get_ticklabels(which="both") if t.get_text()]
    return any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])


@pytest.mark.slow  # renders figures
def test_integer_axes_tick_whole_numbers_and_log_labels_do_not_collide(rendered):
    _, figures = rendered
    over_time, final = _panels(figures[1]), _panels(figures[2])
    renderers = {id(fig): _renderer(fig) for fig in figures[1:]}
    for ticks in (_visible_ticks(over_time["layers"].yaxis), _visible_ticks(final["layers"].xaxis)):
        assert ticks and all(float(t).is_integer() for t in ticks)
    for axis in (over_time["hidden"].yaxis, final["hidden"].xaxis, over_time["alpha"].yaxis, final["alpha"].xaxis):
        labels = [t.get_text() for t in axis.get_ticklabels() if t.get_text()]
        assert len(labels) >= 3  # a log axis over a decade still has numbers to read
        assert not [t for t in axis.get_ticklabels(minor=True) if t.get_text()]
        assert not _labels_overlap(axis, renderers[id(axis.figure)])


@pytest.mark.slow  # renders figures
def test_no_legend_lies_on_a_panels_data(rendered):
    fig = rendered[1][1]
    renderer = _renderer(fig)
    panels = _panels(fig)
    for name in ("hidden", "layers", "alpha"):  # numeric panels share one legend, outside them all
        assert panels[name].get_legend() is None
    (shared,) = fig.legends
    box = shared.get_window_extent(renderer)
    assert not any(box.overlaps(ax.get_window_extent(renderer)) for ax in panels.values())
    legend = panels["act"].get_legend()
    assert legend is not None and legend.get_window_extent(renderer).y1 < panels["act"].get_window_extent(renderer).y0


@pytest.mark.slow  # renders figures
def test_policy_series_that_end_at_different_updates_still_plot(experiment, tmp_path, monkeypatch):
    searcher = report.load_searcher(str(experiment))
    scalars = report.load_policy_scalars(str(experiment / "pgsearch"))
    trials = report.load_trials(str(experiment), "loss")
    steps, told = scalars[TRIALS_TAG]
    scalars[TRIALS_TAG] = (steps[:-1], told[:-1])  # the run's last update lost its trials count
    import matplotlib.pyplot as plt

    monkeypatch.setattr(plt, "close", lambda fig: None)  # keep the figure to look at it
    report.plot_policy_over_time(searcher, scalars, trials, str(tmp_path / "policy.png"))
    (line,) = _panels(plt.gcf())["hidden"].get_lines()
    plt.close("all")
    assert np.array_equal(line.get_xdata(), told[:-1])
