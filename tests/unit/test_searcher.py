"""The Tune Searcher contract, driven directly (no Ray trials): metric/mode/space from either
place, the completion rules, warm starts and checkpoints."""

import math
import pickle

import numpy as np
import pytest
from ray import tune

from ray_pgsearch import PGSearcher

SPACE = {"x": tune.uniform(-1.0, 1.0), "nested": {"act": tune.choice(["relu", "tanh"]), "k": 3}}


def loss(config):
    return (config["x"] - 0.3) ** 2 + (0.0 if config["nested"]["act"] == "relu" else 0.5)


def _drive(searcher, n, start=0):
    """Suggest and complete n trials in order; returns the configs."""
    configs = []
    for i in range(start, start + n):
        config = searcher.suggest(f"t{i}")
        configs.append(config)
        searcher.on_trial_complete(f"t{i}", {"loss": loss(config)})
    return configs


def test_space_metric_and_mode_from_the_constructor():
    searcher = PGSearcher(SPACE, metric="loss", mode="min", seed=0)
    config = searcher.suggest("t0")
    assert -1 <= config["x"] <= 1 and config["nested"]["k"] == 3


def test_space_metric_and_mode_from_tune():
    searcher = PGSearcher(seed=0)
    assert searcher.set_search_properties("loss", "min", SPACE) is True
    assert searcher.metric == "loss" and searcher.mode == "min"
    assert set(searcher.suggest("t0")) == {"x", "nested"}


def test_constructor_space_wins_and_tune_fills_metric_mode():
    searcher = PGSearcher(SPACE, seed=0)
    assert searcher.set_search_properties("acc", "max", {"const": 1}) is False
    assert searcher.metric == "acc" and searcher.mode == "max"


def test_missing_space_or_metric_is_a_clear_error():
    with pytest.raises(RuntimeError, match="no search space"):
        PGSearcher(metric="loss", mode="min").suggest("t0")
    with pytest.raises(RuntimeError, match="no mode"):
        PGSearcher(SPACE).suggest("t0")
    with pytest.raises(TypeError, match="no_such_setting"):
        PGSearcher(SPACE, no_such_setting=1)


def test_a_seeded_search_finds_the_optimum():
    searcher = PGSearcher(SPACE, metric="loss", mode="min", seed=0)
    _drive(searcher, 60)
    best = searcher.optimizer.best_config
    assert best["nested"]["act"] == "relu" and abs(best["x"] - 0.3) < 0.05


def test_last_intermediate_result_is_the_fallback_and_failures_are_not_learned():
    searcher = PGSearcher(SPACE, metric="loss", mode="min", seed=0)
    opt = searcher.optimizer
    searcher.suggest("a")
    searcher.on_trial_result("a", {"loss": 0.7})
    searcher.on_trial_result("a", {"loss": float("nan")})
    searcher.on_trial_complete("a", {"loss": float("nan")})  # falls back to 0.7
    assert opt.n_told == 1 and opt.best_value == 0.7
    searcher.suggest("b")
    searcher.on_trial_result("b", {"loss": 0.1})
    searcher.on_trial_complete("b", error=True)  # errored: not learned even with a result
    searcher.suggest("c")
    searcher.on_trial_complete("c", {"other": 1.0})  # never reported the metric
    searcher.suggest("d")
    searcher.on_trial_complete("d", None)  # stopped while paused (HyperBand)
    assert opt.n_told == 1 and opt.n_failed == 3 and opt.view().n_running == 0


def test_unknown_and_duplicate_completions_are_ignored():
    searcher = PGSearcher(SPACE, metric="loss", mode="min", seed=0)
    searcher.on_trial_complete("never-suggested", {"loss": 1.0})
    config = searcher.suggest("t0")
    searcher.on_trial_complete("t0", {"loss": loss(config)})
    searcher.on_trial_complete("t0", {"loss": -100.0})
    assert searcher.optimizer.n_told == 1 and searcher.optimizer.best_value == loss(config)


def test_points_to_evaluate_first_and_evaluated_rewards_are_learned():
    points = [{"x": 0.5, "nested": {"act": "tanh"}}, {"x": -0.5, "nested": {"act": "relu"}}]
    searcher = PGSearcher(SPACE, metric="loss", mode="min", points_to_evaluate=points, seed=0)
    first = [searcher.suggest(f"t{i}") for i in range(2)]
    assert [(c["x"], c["nested"]["act"]) for c in first] == [(0.5, "tanh"), (-0.5, "relu")]
    assert first[0]["nested"]["k"] == 3

    warm = PGSearcher(SPACE, metric="loss", mode="min", points_to_evaluate=points, evaluated_rewards=[0.9, 0.2], seed=0)
    warm.add_evaluated_point({"x": 0.3, "nested": {"act": "relu"}}, 0.0)
    assert warm.optimizer.n_told == 3 and warm.optimizer.best_value == 0.0
    assert warm.suggest("t0") != points[0]  # learned from, not run
    with pytest.raises(ValueError, match="one value per point"):
        PGSearcher(SPACE, points_to_evaluate=points, evaluated_rewards=[1.0])


def test_partial_points_take_the_missing_keys_from_the_policy_and_bad_values_fail_at_construction():
    searcher = PGSearcher(SPACE, metric="loss", mode="min", points_to_evaluate=[{"x": 0.1}], seed=0)
    config = searcher.suggest("t0")
    assert config["x"] == 0.1 and config["nested"]["act"] in ("relu", "tanh", "gelu") and config["nested"]["k"] == 3
    with pytest.raises(ValueError, match="nested/act"):  # when the searcher is built, not at the first trial
        PGSearcher(SPACE, metric="loss", mode="min", points_to_evaluate=[{"x": 0.1, "nested": {"act": "selu"}}])
    with pytest.raises(ValueError, match="nested/act.*missing"):  # a known result needs the whole config
        PGSearcher(SPACE, metric="loss", mode="min", points_to_evaluate=[{"x": 0.1}], evaluated_rewards=[1.0])
    lazy = PGSearcher(metric="loss", mode="min", points_to_evaluate=[{"x": 5.0}])
    with pytest.raises(ValueError, match="'x'.*outside"):  # with Tune's space: when Tune hands it over
        lazy.set_search_properties(None, None, SPACE)


def test_restored_searcher_suggests_exactly_what_the_original_would(tmp_path):
    original = PGSearcher(SPACE, metric="loss", mode="min", seed=3)
    _drive(original, 40)
    pending = original.suggest("p")  # a trial still running at checkpoint time
    original.save(str(tmp_path / "state.pkl"))

    restored = PGSearcher()  # as Tune does: a fresh searcher, then restore()
    restored.restore(str(tmp_path / "state.pkl"))
    for searcher in (original, restored):
        searcher.on_trial_complete("p", {"loss": loss(pending)})
    assert _drive(original, 20, start=40) == _drive(restored, 20, start=40)
    assert original.view().numeric == restored.view().numeric and original.view().choices == restored.view().choices


def test_restore_from_a_missing_or_corrupted_file_says_so(tmp_path):
    with pytest.raises(ValueError, match="no ray_pgsearch checkpoint at .*missing.pkl: no such file"):
        PGSearcher().restore(str(tmp_path / "missing.pkl"))
    (tmp_path / "bad.pkl").write_bytes(b"\x80\x04garbage")
    with pytest.raises(ValueError, match="a pickle, but not one ray_pgsearch 0.2 wrote"):
        PGSearcher().restore(str(tmp_path / "bad.pkl"))
    (tmp_path / "foreign.pkl").write_bytes(pickle.dumps({"something": "else"}))
    with pytest.raises(ValueError, match="not a PGSearcher checkpoint of ray_pgsearch 0.2"):
        PGSearcher().restore(str(tmp_path / "foreign.pkl"))
    (tmp_path / "text.pkl").write_text("hello")
    with pytest.raises(ValueError, match="not a ray_pgsearch checkpoint"):
        PGSearcher().restore(str(tmp_path / "text.pkl"))


def test_out_of_order_completions_give_the_same_policy_as_in_order():
    """64 pending trials completed in a shuffled order with interleaved intermediate results learn
    the same policy as the same completions applied one after another."""
    a = PGSearcher(SPACE, metric="loss", mode="min", seed=1)
    b = PGSearcher(SPACE, metric="loss", mode="min", seed=1)
    ids = [f"t{i}" for i in range(64)]
    configs = {i: a.suggest(i) for i in ids}
    assert {i: b.suggest(i) for i in ids} == configs
    rng = np.random.default_rng(0)
    order = list(rng.permutation(ids))
    for n, i in enumerate(order):  # a: intermediate results of still-running trials in between
        for other in rng.choice(order[n:], size=3):
            a.on_trial_result(other, {"loss": float(rng.random()), "training_iteration": 1})
        a.on_trial_complete(i, {"loss": loss(configs[i])})
    for i in order:  # b: the same completions, one after another
        b.on_trial_complete(i, {"loss": loss(configs[i])})
    assert a.optimizer.n_told == b.optimizer.n_told == 64 and a.view().n_running == 0
    assert math.isclose(a.optimizer.best_value, b.optimizer.best_value)
    assert a.view().numeric == b.view().numeric
    assert a.suggest("next") == b.suggest("next")


def test_tunes_space_is_checked_when_tune_hands_it_over_with_the_key_and_the_fix():
    searcher = PGSearcher(metric="loss", mode="min")
    with pytest.raises(ValueError, match="param_space: search space key 'x': grid_search .* use tune.choice"):
        searcher.set_search_properties(None, None, {"x": {"grid_search": [1, 2]}, "y": tune.uniform(0, 1)})
    with pytest.raises(ValueError, match="no Tune domains .* PopulationBasedTraining.* ray_pgsearch.pbt"):
        searcher.set_search_properties(None, None, {"lr": 0.1, "momentum": 0.9})  # PBT's example param_space
    with pytest.raises(RuntimeError, match="param_space only when it holds something"):
        PGSearcher(metric="loss", mode="min").suggest("t0")  # Tuner(param_space={}) never hands it over
