"""The policy and its actors: rank utilities, densities, reflection, and the categorical steps."""

import math

import numpy as np
from ray import tune

from ray_pgsearch import SearchSpace
from ray_pgsearch._actors import CategoricalActors, reflect_into_unit
from ray_pgsearch._policy import Policy, rank_utilities
from ray_pgsearch._settings import PolicySettings

SPACE = {"act": tune.choice(["a", "b", "c", "d", "e"]), "lr": tune.loguniform(1e-5, 1e-1)}


def test_rank_utilities_are_centered_monotone_and_share_ties():
    u = rank_utilities(np.array([3.0, 1.0, 2.0, 2.0, 0.0]))
    assert abs(u.sum()) < 1e-12
    assert u[0] > u[2] == u[3] > u[1] > u[4] or u[0] > u[2] == u[3] >= u[1] >= u[4]
    assert u[0] == u.max() and u[4] == u.min()


def test_policy_log_prob_is_the_product_of_the_actors_densities():
    policy = Policy(SearchSpace(SPACE), PolicySettings())
    policy.gaussian.mean[:] = 0.7
    policy.gaussian.log_std[:] = np.log(0.1)
    policy.categorical[0].logits[:] = [0.0, 0.0, 2.0, 0.0, 0.0]
    x = np.array([[0.75, 2.0], [0.5, 0.0]])  # latent lr, category index
    gauss = -0.5 * ((x[:, 0] - 0.7) / 0.1) ** 2 - np.log(0.1 * math.sqrt(2 * math.pi))
    cat = np.log(np.array([np.e**2, 1.0]) / (4 + np.e**2))
    np.testing.assert_allclose(policy.log_prob(x), gauss + cat)


def test_reflection_folds_every_number_into_the_unit_interval_as_a_triangle_wave():
    u = np.array([-2.5, -1.25, -0.25, 0.0, 0.3, 1.0, 1.25, 2.0, 2.75, 3.5])
    given = u.copy()
    expected = np.array([0.5, 0.75, 0.25, 0.0, 0.3, 1.0, 0.75, 0.0, 0.75, 0.5])
    np.testing.assert_allclose(reflect_into_unit(u), expected)
    np.testing.assert_array_equal(u, given)  # the input is left as it was


def test_choices_of_different_sizes_sample_their_own_softmax_and_step_from_their_active_rows():
    """All choices share one logits matrix: each samples from its own p (never past its size), and a
    step moves a choice toward its rewarded category only where it was active in two rows or more."""
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


def test_a_reset_policy_is_the_cold_one_and_keeps_counting_updates():
    space = SearchSpace(SPACE)
    policy = Policy(space, PolicySettings(init_std=0.2))
    x = np.array([[0.9, 2.0], [0.1, 0.0], [0.8, 2.0]])
    for _ in range(5):
        policy.update(x, np.array([1.0, 0.0, 0.9]), np.ones_like(x, dtype=bool))
    assert policy.gaussian.mean[0] > 0.5 and policy.categorical[0].probs[2] > 0.2
    policy.reset()
    np.testing.assert_array_equal(policy.gaussian.mean, [0.5])
    np.testing.assert_allclose(policy.gaussian.std, [0.2])
    np.testing.assert_allclose(policy.categorical[0].probs, np.full(5, 0.2))
    assert policy.n_updates == 5


def test_a_policy_state_round_trips():
    space = SearchSpace(SPACE)
    policy = Policy(space, PolicySettings())
    policy.update(np.array([[0.9, 2.0], [0.1, 0.0]]), np.array([1.0, 0.0]), np.ones((2, 2), dtype=bool))
    other = Policy(space, PolicySettings())
    other.load(policy.state())
    rng_a, rng_b = np.random.default_rng(3), np.random.default_rng(3)
    np.testing.assert_array_equal(policy.sample(rng_a, 10), other.sample(rng_b, 10))
    assert other.n_updates == 1
