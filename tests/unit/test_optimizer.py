"""The ask/tell core learns: the policy concentrates on the optimum, and only finite results count."""

import math
import pickle
from collections import Counter

import numpy as np
import pytest
from ray import tune

from ray_pgsearch import PGOptimizer
from ray_pgsearch._policy import rank_utilities

SPACE = {"act": tune.choice(["a", "b", "c", "d", "e"]), "lr": tune.loguniform(1e-5, 1e-1)}
OFFSET = {"a": 1.0, "b": 0.6, "c": 0.0, "d": 0.8, "e": 1.2}


def loss(config):
    """Best at act="c", lr=1e-2 (z = 0.75 on the log scale of [1e-5, 1e-1])."""
    return OFFSET[config["act"]] + (math.log10(config["lr"]) + 2.0) ** 2


def _run(mode, seed, n=150):
    opt = PGOptimizer(SPACE, mode=mode, seed=seed)
    opt.recent = []
    for _ in range(n):
        config = opt.ask()
        opt.tell(config, loss(config))
        opt.recent = (opt.recent + [config])[-30:]
    return opt


def _log10_mean_lr(opt):
    z = opt.policy.gaussian.mean[0]
    return -5.0 + 4.0 * z


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_policy_learns_best_choice_and_log_scale_optimum(seed):
    opt = _run("min", seed)
    probs = opt.policy.categorical[0].probs
    assert probs[2] > 0.8
    # The Gaussian's mean moved from the middle of the log range (1e-3) onto the optimum (it moves
    # toward the better samples, so it settles there instead of drifting past it), and what the
    # searcher suggests sits there too: the model step picks the policy samples nearest the good region.
    assert abs(_log10_mean_lr(opt) - (-2.0)) < 0.1
    assert abs(np.median([math.log10(c["lr"]) for c in opt.recent]) - (-2.0)) < 0.2
    assert opt.best_config["act"] == "c" and opt.best_value < 0.05


def test_a_category_that_started_badly_is_tried_again():
    """Two early draws of the best category "c" at a bad learning rate must not lock the search into
    the runner-up "b": the model's bad group, being large, has a sharper category kernel than the
    good group, so an untried (c, good lr) scores above the often-tried (b, good lr). Every seed
    finds c at a good learning rate within 40 trials (with one smoothing for both groups, 5 of 30
    seeds needed over 100 trials, 2 never did in 150)."""
    for seed in range(30):
        opt = PGOptimizer(SPACE, seed=seed)
        for _ in range(40):
            config = opt.ask()
            opt.tell(config, loss(config))
        assert opt.best_config["act"] == "c" and opt.best_value < 0.3, seed


def test_an_untried_category_outscores_the_one_every_result_used():
    """Good and bad results all used category 0 at z = 0.5; at that z, category 1 (never tried)
    scores above category 0, and the gap grows with the bad group's size."""
    from ray_pgsearch._model import ParzenModel, Points

    model = ParzenModel(1, [3], bandwidth=0.1, cat_prior=1.0)
    rng = np.random.default_rng(0)
    good = np.column_stack([0.5 + 0.01 * rng.standard_normal(5), np.zeros(5)])
    candidates = np.array([[0.5, 0.0], [0.5, 1.0]])
    gaps = []
    for n_bad in (20, 80):
        bad = np.column_stack([0.5 + 0.1 * rng.standard_normal(n_bad), np.zeros(n_bad)])
        tried, untried = model.score(candidates, Points.of(good), Points.of(bad))
        gaps.append(untried - tried)
    assert 0 < gaps[0] < gaps[1]


def test_flipping_the_mode_sends_the_policy_the_other_way():
    opt = _run("max", 0)
    assert opt.policy.categorical[0].probs[2] < 0.05
    assert abs(_log10_mean_lr(opt) - (-2.0)) > 2.0  # pushed to an edge of the lr range


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), None, "0.3", True])
def test_non_finite_values_never_reach_the_policy(bad):
    opt = PGOptimizer(SPACE, seed=0)
    for _ in range(5):
        config = opt.ask()
        opt.tell(config, loss(config))
    before = (opt.policy.gaussian.mean.copy(), opt.policy.categorical[0].logits.copy(), opt.policy.n_updates)
    config = opt.ask(trial_id="t")
    assert opt.tell(config, bad, trial_id="t") is False
    assert "t" not in opt.pending and opt.n_failed == 1
    np.testing.assert_array_equal(opt.policy.gaussian.mean, before[0])
    np.testing.assert_array_equal(opt.policy.categorical[0].logits, before[1])
    assert opt.policy.n_updates == before[2]


def test_points_to_evaluate_come_first_then_the_startup_design():
    points = [{"act": "e", "lr": 0.05}, {"act": "a", "lr": 1e-4}]
    opt = PGOptimizer(SPACE, seed=0, points_to_evaluate=points, n_startup=5)
    assert [opt.ask() for _ in range(2)] == points
    startup = [opt.ask() for _ in range(5)]
    assert len({c["act"] for c in startup}) == 5  # the Latin hypercube cycles through the choices


def test_window_bounds_the_memory():
    opt = PGOptimizer(SPACE, seed=0, window=16)
    for _ in range(100):
        config = opt.ask()
        opt.tell(config, loss(config))
    assert len(opt.window) == 16 and opt.window.rows.shape == (16, 2) and opt.n_told == 100


def test_rank_utilities_are_centered_monotone_and_share_ties():
    u = rank_utilities(np.array([3.0, 1.0, 2.0, 2.0, 0.0]))
    assert abs(u.sum()) < 1e-12
    assert u[0] > u[2] == u[3] > u[1] > u[4] or u[0] > u[2] == u[3] >= u[1] >= u[4]
    assert u[0] == u.max() and u[4] == u.min()


def test_same_seed_same_sequence():
    a, b = PGOptimizer(SPACE, seed=7), PGOptimizer(SPACE, seed=7)
    for _ in range(30):
        ca, cb = a.ask(), b.ask()
        assert ca == cb
        a.tell(ca, loss(ca))
        b.tell(cb, loss(cb))


def test_policy_log_prob_is_the_product_of_the_actors_densities():
    opt = PGOptimizer(SPACE, seed=0)
    policy = opt.policy
    policy.gaussian.mean[:] = 0.7
    policy.gaussian.log_std[:] = np.log(0.1)
    policy.categorical[0].logits[:] = [0.0, 0.0, 2.0, 0.0, 0.0]
    x = np.array([[0.75, 2.0], [0.5, 0.0]])  # latent lr, category index
    gauss = -0.5 * ((x[:, 0] - 0.7) / 0.1) ** 2 - np.log(0.1 * math.sqrt(2 * math.pi))
    cat = np.log(np.array([np.e**2, 1.0]) / (4 + np.e**2))
    np.testing.assert_allclose(policy.log_prob(x), gauss + cat)


def test_pending_trials_push_candidates_away_in_proportion_to_their_weight():
    """A candidate on top of a running trial scores lower than one the running trial is far from,
    and the push grows with pending_weight; parallel asks never duplicate a running config, and
    stray further from the best results the heavier the weight."""
    from ray_pgsearch._model import ParzenModel, Points

    model = ParzenModel(1, [], bandwidth=0.1, cat_prior=1.0)
    good, bad = np.array([[0.5], [0.52]]), np.array([[0.1], [0.9], [0.2]])
    pending = np.array([[0.5]])
    candidates = np.array([[0.5], [0.52]])

    def drop(weight):  # score without the pending trial minus score with it, per candidate
        bad_and_pending = Points.stack(Points.of(bad), Points.of(pending, weight))
        with_pending = model.score(candidates, Points.of(good), bad_and_pending)
        return model.score(candidates, Points.of(good), Points.of(bad)) - with_pending

    assert np.all(drop(0.1) > 0) and np.all(drop(1.0) > drop(0.1))
    assert drop(0.1)[0] > drop(0.1)[1]  # the closer to the running trial, the larger the push

    batch_loss = {}
    for weight in (0.1, 1.0):
        losses = []
        for seed in range(8):
            opt = PGOptimizer(SPACE, seed=seed, pending_weight=weight)
            for _ in range(40):
                config = opt.ask()
                opt.tell(config, loss(config))
            batch = [opt.ask(trial_id=i) for i in range(8)]
            assert len({(c["act"], c["lr"]) for c in batch}) == 8
            losses += [loss(c) for c in batch]
        batch_loss[weight] = np.mean(losses)
    assert batch_loss[0.1] < batch_loss[1.0]  # a light weight keeps the batch near the best results


def _twenty_config_optimizer() -> PGOptimizer:
    """An optimizer over a discrete space of 20 configs, past its startup design (12 results)."""
    space = {"c": tune.choice(["a", "b"]), "n": tune.randint(0, 10)}
    opt = PGOptimizer(space, seed=0, n_startup=4)
    for i in range(12):
        config = opt.ask(trial_id=f"done{i}")
        opt.tell(config, config["n"] + (config["c"] == "b"), trial_id=f"done{i}")
    return opt


def test_no_two_trials_in_flight_share_a_config_until_the_space_runs_out():
    """A discrete space of 20 configs: 20 pending trials hold 20 different configs (the model step is
    on, so every ask after the startup design is a ranked proposal); the 21st must repeat one."""
    opt = _twenty_config_optimizer()
    in_flight = [opt.ask(trial_id=i) for i in range(20)]
    assert len({(c["c"], c["n"]) for c in in_flight}) == 20
    assert opt.ask(trial_id=20) in in_flight


def test_many_pending_trials_cost_a_bounded_model():
    """With more pending trials than half a window, a random half-window subset stands in for them
    at their whole weight: the model's bad group never grows past the window plus half a window."""
    opt = PGOptimizer(SPACE, seed=0, window=32)
    for _ in range(40):
        config = opt.ask()
        opt.tell(config, loss(config))
    for i in range(200):
        opt.ask(trial_id=i)
    good, bad = opt._groups()
    assert bad.rows.shape[0] <= 32 + 16
    assert bad.mass == pytest.approx(32 - good.rows.shape[0] + 200 * opt.settings.pending_weight)


def test_the_gp_reranks_with_many_trials_running_from_the_eight_asked_last():
    """With 64 trials running, the Gaussian process still reorders the proposals, and only the 8
    running trials asked last enter it (here as believers: none has reported), so the cost of an
    ask does not grow with the trials in flight."""
    opt = PGOptimizer(SPACE, seed=0)
    for _ in range(20):
        config = opt.ask()
        opt.tell(config, loss(config))
    for i in range(64):
        opt.ask(trial_id=i)
    seen = []
    predict = opt.gp.predict

    def spy(x, y, rows, believers=None):
        seen.append(believers)
        return predict(x, y, rows, believers)

    opt.gp.predict = spy
    opt.ask(trial_id=64)
    np.testing.assert_array_equal(seen[0], opt._model_view(np.array([opt.pending[i] for i in range(56, 64)])))


def test_an_optimizer_saved_without_its_in_flight_count_rebuilds_it_on_restore():
    """The count of the running configs is not saved: a restore (also of a pickle from a version
    that never kept it) rebuilds it from the pending trials, so a running config is still refused."""
    opt = _twenty_config_optimizer()
    running = [opt.ask(trial_id=i) for i in range(19)]
    state = opt.__getstate__()
    assert "_in_flight" not in state
    old = PGOptimizer.__new__(PGOptimizer)
    old.__setstate__(pickle.loads(pickle.dumps(state)))
    assert old._in_flight == opt._in_flight
    last = old.ask(trial_id=19)
    assert last not in running  # the one config of the 20 no trial holds
    old.tell(last, 0.0, trial_id=19)
    old.forget(0)
    assert old._in_flight == Counter(row.tobytes() for row in old.pending.values())


def test_the_search_runs_blas_on_one_thread_and_gives_the_count_back():
    from threadpoolctl import threadpool_info, threadpool_limits

    from ray_pgsearch._util import one_blas_thread

    def blas_threads():
        return {info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"}

    with threadpool_limits(limits=2, user_api="blas"):
        if blas_threads() != {2}:
            pytest.skip("this machine's BLAS does not run on two threads")
        with one_blas_thread():
            assert blas_threads() == {1}
        assert blas_threads() == {2}


def test_reflection_folds_every_number_into_the_unit_interval_as_a_triangle_wave():
    from ray_pgsearch._actors import reflect_into_unit

    u = np.array([-2.5, -1.25, -0.25, 0.0, 0.3, 1.0, 1.25, 2.0, 2.75, 3.5])
    given = u.copy()
    expected = np.array([0.5, 0.75, 0.25, 0.0, 0.3, 1.0, 0.75, 0.0, 0.75, 0.5])
    np.testing.assert_allclose(reflect_into_unit(u), expected)
    np.testing.assert_array_equal(u, given)  # the input is left as it was


def test_choices_of_different_sizes_sample_their_own_softmax_and_step_from_their_active_rows():
    """All choices share one logits matrix: each samples from its own p (never past its size), and a
    step moves a choice toward its rewarded category only where it was active in two rows or more."""
    from ray_pgsearch._actors import CategoricalActors

    actors = CategoricalActors([2, 4, 3], max_prob_ratio=100.0)
    actors[1].logits[:] = np.log([0.1, 0.2, 0.3, 0.4])
    draws = actors.sample(np.random.default_rng(0), 40_000)
    assert draws.shape == (40_000, 3)
    for j, size in enumerate([2, 4, 3]):
        share = np.bincount(draws[:, j], minlength=size) / draws.shape[0]
        assert share.size == size
        np.testing.assert_allclose(share, actors[j].probs, atol=0.01)

    c = np.array([[0, 3, 2], [1, 0, 0], [1, 1, 1]], dtype=float)
    u = np.array([[1.0, 1.0, 1.0], [-1.0, -1.0, 0.0], [0.0, 0.0, -1.0]])
    active = np.array([[True, True, True], [True, True, False], [False, False, True]])
    before = actors.logits.copy()
    actors.update(c, u, active, lr=0.5, entropy_coef=0.0)
    assert actors[0].probs[0] > 0.5 and actors[1].probs[3] > 0.4  # toward the rewarded category
    assert actors[2].probs[2] > actors[2].probs[1]
    np.testing.assert_array_equal(np.isinf(actors.logits), np.isinf(before))  # past a size: still -inf
    stepped = actors.logits.copy()
    actors.update(c, u, np.eye(3, dtype=bool), lr=0.5, entropy_coef=0.0)  # one active row per choice
    np.testing.assert_array_equal(actors.logits, stepped)


def _stalled(restart_after, n, **kwargs):
    """An optimizer told n results of which only the first is a best: the search never improves."""
    opt = PGOptimizer(SPACE, seed=0, restart_after=restart_after, **kwargs)
    for i in range(n):
        config = opt.ask()
        opt.tell(config, 0.0 if i == 0 else 1.0 + i)
    return opt


def test_a_search_that_stops_improving_starts_over_and_keeps_its_best():
    """After restart_after results in a row without a new best the search starts over: a fresh
    policy (the update count goes on), an empty window and a new startup design; the best config and
    the count of results stay, and the next restart waits for another restart_after results."""
    opt = _stalled(restart_after=30, n=31)
    best = opt.best_config
    assert opt.n_restarts == 1
    assert len(opt.window) == 0 and len(opt.startup) == opt.settings.n_startup
    np.testing.assert_array_equal(opt.policy.gaussian.mean, [0.5])
    np.testing.assert_allclose(opt.policy.gaussian.std, [opt.settings.init_std])
    assert opt.policy.n_updates == 30  # one per result from the second on, none lost
    assert opt.best_config == best and opt.best_value == 0.0 and opt.n_told == 31
    for i in range(29):
        config = opt.ask()
        opt.tell(config, 100.0 + i)
    assert opt.n_restarts == 1 and len(opt.window) == 29
    opt.tell(opt.ask(), 200.0)
    assert opt.n_restarts == 2


def test_restart_after_zero_never_restarts():
    opt = _stalled(restart_after=0, n=300)
    assert opt.n_restarts == 0 and len(opt.window) == opt.settings.window


def test_trials_running_at_a_restart_count_for_the_best_config_only():
    """The trials in flight when the search starts over were asked by the old policy: their results
    may still become the best config, but they enter neither the new window nor the new policy's
    update, so they cannot pull the new search back to where the old one settled."""
    opt = PGOptimizer(SPACE, seed=0, restart_after=20)
    running = {i: opt.ask(trial_id=i) for i in range(8)}
    for i in range(21):
        opt.tell(opt.ask(), 5.0 if i == 0 else 10.0)
    assert opt.n_restarts == 1 and opt._stale == set(running)
    fresh = opt.ask(trial_id="new")
    mean, updates = opt.policy.gaussian.mean.copy(), opt.policy.n_updates
    opt.tell(running[3], -1.0, trial_id=3)
    assert opt.best_config == running[3] and opt.best_value == -1.0
    assert len(opt.window) == 0 and opt.policy.n_updates == updates
    np.testing.assert_array_equal(opt.policy.gaussian.mean, mean)
    assert 3 not in opt.pending and 3 not in opt._stale
    opt.tell(fresh, 3.0, trial_id="new")
    opt.tell(opt.ask(), 4.0)
    assert len(opt.window) == 2
    groups = opt._groups()
    assert groups is not None
    good, bad = groups  # the 7 stale trials still running stay in the model as pending liars
    assert bad.rows.shape[0] == 2 - good.rows.shape[0] + 7


def test_a_prior_from_a_search_that_restarted_carries_the_restart_that_found_its_best():
    """A warm start from a search that started over takes the policy and results of the restart
    that found the best config, not the fresh ones of the restart it ended in."""
    old = PGOptimizer(SPACE, seed=0, restart_after=100)
    for _ in range(60):
        config = old.ask()
        old.tell(config, loss(config))
    for _ in range(110):  # nothing better: the search starts over, then tells a few fresh results
        old.tell(old.ask(), 10.0)
    assert old.n_restarts == 1
    policy, window = old.best_epoch
    assert policy is not old.policy and window is not old.window and len(window) > len(old.window)
    new = PGOptimizer(SPACE, seed=1, prior=old)
    np.testing.assert_allclose(new.prior.mean, policy.gaussian.mean, atol=1e-9)
    assert new.prior.rows.shape[0] == len(window)


def test_an_optimizer_saved_before_restarts_existed_restores_and_can_restart():
    opt = _stalled(restart_after=20, n=10)
    state = opt.__getstate__()
    for key in ("n_restarts", "_since_best", "_stale", "_best_epoch"):
        del state[key]
    old = PGOptimizer.__new__(PGOptimizer)
    old.__setstate__(pickle.loads(pickle.dumps(state)))
    assert old.n_restarts == 0 and old.best_epoch == (old.policy, old.window)
    for i in range(20):
        old.tell(old.ask(), 50.0 + i)
    assert old.n_restarts == 1


def test_restart_after_is_a_count_of_results():
    with pytest.raises(ValueError, match="restart_after must be an integer >= 0"):
        PGOptimizer(SPACE, restart_after=-1)
    with pytest.raises(ValueError, match="restart_after"):
        PGOptimizer(SPACE, restart_after=12.5)


def test_only_trials_asked_after_the_best_count_toward_a_restart():
    """Trials asked before the best result was told could not build on it: with 30 in flight, their
    29 worse results do not count, and the wait for a restart starts with the trials asked after."""
    opt = PGOptimizer(SPACE, seed=0, restart_after=10)
    configs = {i: opt.ask(trial_id=i) for i in range(30)}
    opt.tell(configs[0], 0.0, trial_id=0)
    for i in range(1, 30):
        opt.tell(configs[i], 1.0 + i, trial_id=i)
    assert opt.n_restarts == 0
    for i in range(10):
        opt.tell(opt.ask(trial_id=100 + i), 50.0, trial_id=100 + i)
    assert opt.n_restarts == 1


def test_prior_candidates_is_a_weight():
    for bad in (-1.0, float("inf"), "1"):
        with pytest.raises(ValueError, match=r"prior_candidates must be a finite number in \[0.0, inf\]"):
            PGOptimizer(SPACE, prior_candidates=bad)
    for bad in (0, 2.5):
        with pytest.raises(ValueError, match="prior_candidates_in_flight must be an integer >= 1"):
            PGOptimizer(SPACE, prior_candidates_in_flight=bad)


def test_prior_candidates_apply_from_prior_candidates_in_flight_trials():
    """With fewer trials in flight than prior_candidates_in_flight (the one asked included) the search
    asks what it asks without prior candidates; from there on it draws some (and asks other configs)."""

    def asks(**settings: float) -> list[dict]:
        opt = PGOptimizer(SPACE, seed=0, n_startup=4, **settings)
        for i in range(8):
            opt.tell(opt.ask(), float(i))
        return [opt.ask(trial_id=i) for i in range(8)]

    default, without = asks(prior_candidates_in_flight=4), asks(prior_candidates=0.0)
    assert default[:3] == without[:3]
    assert default[3:] != without[3:]
