"""The density ratio: which proposals score high, and what the good and bad groups hold."""

import numpy as np
import pytest
from ray import tune

from ray_pgsearch import SearchSpace
from ray_pgsearch._book import TrialBook
from ray_pgsearch._density import DensityRatio
from ray_pgsearch._history import History
from ray_pgsearch._model import ParzenModel, Points
from ray_pgsearch._settings import CandidateSettings, ModelSettings, RungSettings

SPACE = {"act": tune.choice(["a", "b", "c", "d", "e"]), "lr": tune.loguniform(1e-5, 1e-1)}


def test_an_untried_category_outscores_the_one_every_result_used():
    """Good and bad results all used category 0 at z = 0.5; at that z, category 1 (never tried)
    scores above category 0, and the gap grows with the bad group's size."""
    model = ParzenModel(1, [3], bandwidth=0.1, category_smoothing=1.0)
    rng = np.random.default_rng(0)
    good = np.column_stack([0.5 + 0.01 * rng.standard_normal(5), np.zeros(5)])
    candidates = np.array([[0.5, 0.0], [0.5, 1.0]])
    gaps = []
    for n_bad in (20, 80):
        bad = np.column_stack([0.5 + 0.1 * rng.standard_normal(n_bad), np.zeros(n_bad)])
        tried, untried = model.score(candidates, Points.of(good), Points.of(bad))
        gaps.append(untried - tried)
    assert 0 < gaps[0] < gaps[1]


def test_many_pending_trials_cost_a_bounded_model():
    """With more pending trials than half a window, a random half-window subset stands in for them
    at their whole weight: the model's bad group never grows past the window plus half a window."""
    space = SearchSpace(SPACE)
    rng = np.random.default_rng(0)
    history, book = History(32, space.dim), TrialBook(RungSettings(), 32)
    for row in space.latin_hypercube(rng, 40):
        history.add(row, np.array([rng.random()]))
    for i, row in enumerate(space.latin_hypercube(rng, 200)):
        book.hold(i, row)
    density = DensityRatio(space, ModelSettings(), CandidateSettings(), window=32)
    good, bad = density.groups(history, book, lambda r: r[:, 0], rng)
    assert bad.rows.shape[0] <= 32 + 16
    assert bad.mass == pytest.approx(32 - good.rows.shape[0] + 200 * ModelSettings().pending_weight)


def test_running_trials_join_the_group_their_report_puts_them_in():
    """Reports at a level with enough values make a running trial good (top gamma there) or bad,
    at partial_weight; a trial without such a report is only a pending liar."""
    space = SearchSpace({"x": tune.uniform(0.0, 1.0)})
    history, book = History(16, 1), TrialBook(RungSettings(min_count=3), 16)
    for z in (0.1, 0.2, 0.3):
        history.add(np.array([z]), np.array([z]))
    for i, z in enumerate((0.9, 0.5, 0.4, 0.6)):
        book.hold(i, np.array([z]))
    for i, reward in enumerate((10.0, 1.0, 2.0)):  # trial 0 is the best at level 1
        book.report(i, 1, reward)
    density = DensityRatio(space, ModelSettings(gamma=0.34, partial_weight=0.5), CandidateSettings(), window=16)
    good, bad = density.groups(history, book, lambda r: r[:, 0], np.random.default_rng(0))
    assert [0.9] in good.rows.tolist() and [0.5] in bad.rows.tolist() and [0.4] in bad.rows.tolist()
    assert good.weights[good.rows[:, 0] == 0.9][0] == 0.5
