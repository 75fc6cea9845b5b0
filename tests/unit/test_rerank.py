"""The Gaussian-process reranker: what it conditions on, and that it stays bounded."""

import numpy as np
from ray import tune

from ray_pgsearch import SearchSpace
from ray_pgsearch._book import TrialBook
from ray_pgsearch._history import History
from ray_pgsearch._rerank import GPReranker
from ray_pgsearch._settings import RerankSettings, RungSettings

SPACE = {"act": tune.choice(["a", "b", "c", "d", "e"]), "lr": tune.loguniform(1e-5, 1e-1)}


def test_the_gp_reranks_with_many_trials_running_from_the_eight_asked_last():
    """With 64 trials running, the Gaussian process still reorders the proposals, and only the 8
    running trials asked last enter it (here as believers: none has reported), so the cost of a
    rerank does not grow with the trials in flight."""
    space = SearchSpace(SPACE)
    rng = np.random.default_rng(0)
    history, book = History(128, space.dim), TrialBook(RungSettings(), 128)
    for row in space.latin_hypercube(rng, 20):
        history.add(row, np.array([-abs(row[0] - 0.75)]))
    running = space.latin_hypercube(rng, 64)
    for i, row in enumerate(running):
        book.hold(i, row)
    reranker = GPReranker(space, RerankSettings())
    seen = []
    predict = reranker.gp.predict

    def spy(x, y, rows, believers=None):
        seen.append(believers)
        return predict(x, y, rows, believers)

    reranker.gp.predict = spy
    candidates = space.latin_hypercube(rng, 64)
    order = np.arange(64)
    new = reranker.rerank(candidates, order, history, book, lambda r: r[:, 0])
    np.testing.assert_array_equal(seen[0], running[56:64])
    assert sorted(new[:16]) == list(range(16)) and list(new[16:]) == list(range(16, 64))
    assert reranker.fitted_at == history.count


def test_the_gp_picks_its_hyperparameters_again_only_every_refit_results():
    space = SearchSpace({"x": tune.uniform(0.0, 1.0)})
    history, book = History(64, 1), TrialBook(RungSettings(), 64)
    reranker = GPReranker(space, RerankSettings(refit_every=8))
    rng = np.random.default_rng(1)
    fits = []
    for _ in range(30):
        z = rng.random()
        history.add(np.array([z]), np.array([-((z - 0.3) ** 2)]))
        reranker.rerank(space.latin_hypercube(rng, 32), np.arange(32), history, book, lambda r: r[:, 0])
        fits.append(reranker.fitted_at)
    assert fits[:9] == [None] * 9 and fits[9] == 10
    assert sorted(set(f for f in fits if f is not None)) == [10, 18, 26]
