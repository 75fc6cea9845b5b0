"""Restarts (experiments/lab/restarts.py), a lever kept in the lab as an extension of the optimizer."""

import pytest
from ray import tune

from experiments.lab.restarts import Restarts
from ray_pgsearch import PGOptimizer

SPACE = {"act": tune.choice(["a", "b", "c", "d", "e"]), "lr": tune.loguniform(1e-5, 1e-1)}


def _stalled(after, n, **kwargs):
    """An optimizer told n results of which only the first is a best: the search never improves."""
    restarts = Restarts(after)
    opt = PGOptimizer(SPACE, seed=0, extensions=[restarts], **kwargs)
    for i in range(n):
        config = opt.ask()
        opt.tell(config, 0.0 if i == 0 else 1.0 + i)
    return opt, restarts


def test_a_search_that_stops_improving_starts_over_and_keeps_its_best():
    """After ``after`` results in a row without a new best the search starts over: a fresh policy
    (the update count goes on), an empty window and a new startup design; the best config and the
    count of results stay, and the next restart waits for another ``after`` results."""
    opt, restarts = _stalled(after=30, n=31)
    best = opt.best_config
    view = opt.view()
    assert restarts.n_restarts == 1
    assert view.rewards.shape[0] == 0 and len(opt.state()["opening"]["rows"]) == opt.settings.startup.size
    assert view.numeric[0].latent_mean == 0.5 and view.numeric[0].latent_std == pytest.approx(0.3)
    assert view.n_updates == 30  # one per result from the second on, none lost
    assert opt.best_config == best and opt.best_value == 0.0 and opt.n_told == 31
    for i in range(29):
        config = opt.ask()
        opt.tell(config, 100.0 + i)
    assert restarts.n_restarts == 1 and view.rewards.shape[0] == 29
    opt.tell(opt.ask(), 200.0)
    assert restarts.n_restarts == 2


def test_trials_running_at_a_restart_count_for_the_best_config_only():
    """The trials in flight when the search starts over were asked by the old policy: their results
    may still become the best config, but they enter neither the new window nor the new policy's
    update, so they cannot pull the new search back to where the old one settled."""
    restarts = Restarts(20)
    opt = PGOptimizer(SPACE, seed=0, extensions=[restarts])
    running = {i: opt.ask(trial_id=i) for i in range(8)}
    for i in range(21):
        opt.tell(opt.ask(), 5.0 if i == 0 else 10.0)
    assert restarts.n_restarts == 1 and restarts.stale == set(running)
    fresh = opt.ask(trial_id="new")
    view = opt.view()
    numeric, updates = view.numeric, view.n_updates
    opt.tell(running[3], -1.0, trial_id=3)
    assert opt.best_config == running[3] and opt.best_value == -1.0
    assert view.rewards.shape[0] == 0 and view.n_updates == updates and view.numeric == numeric
    assert 3 not in restarts.stale and view.n_running == 8
    opt.tell(fresh, 3.0, trial_id="new")
    opt.tell(opt.ask(), 4.0)
    assert view.rewards.shape[0] == 2


def test_only_trials_asked_after_the_best_count_toward_a_restart():
    """Trials asked before the best result was told could not build on it: with 30 in flight, their
    29 worse results do not count, and the wait for a restart starts with the trials asked after."""
    restarts = Restarts(10)
    opt = PGOptimizer(SPACE, seed=0, extensions=[restarts])
    configs = {i: opt.ask(trial_id=i) for i in range(30)}
    opt.tell(configs[0], 0.0, trial_id=0)
    for i in range(1, 30):
        opt.tell(configs[i], 1.0 + i, trial_id=i)
    assert restarts.n_restarts == 0
    for i in range(10):
        opt.tell(opt.ask(trial_id=100 + i), 50.0, trial_id=100 + i)
    assert restarts.n_restarts == 1


def test_restarts_survive_a_checkpoint(tmp_path):
    opt, restarts = _stalled(after=25, n=20)
    opt.save(str(tmp_path / "opt.ckpt"))
    again = Restarts(25)
    restored = PGOptimizer.load(str(tmp_path / "opt.ckpt"), extensions=[again])
    assert again.since_best == restarts.since_best == 19
    for i in range(6):
        restored.tell(restored.ask(), 50.0 + i)
    assert again.n_restarts == 1
    with pytest.raises(ValueError, match="state of 1 extensions, 0 were given"):
        PGOptimizer.load(str(tmp_path / "opt.ckpt"))


def test_restarts_left_the_library_settings():
    with pytest.raises(TypeError, match="restart_after: restarts left the library"):
        PGOptimizer(SPACE, restart_after=10)
    with pytest.raises(ValueError, match="after >= 1"):
        Restarts(0)
