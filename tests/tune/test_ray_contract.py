"""Ray Tune's own searcher tests, adapted to PGSearcher wherever they hold for any searcher.

Sources, Ray 2.60's ``python/ray/tune/tests/``: ``test_searchers.py`` (invalid values, the anonymous
metric, warm starts, save and restore, several objectives), ``test_sample.py`` (conversion of every
domain, sample bounds, points to evaluate), ``test_searcher_utils.py`` (ConcurrencyLimiter, Repeater,
SearchGenerator). ``test_tuner_restore.py`` is adapted in ``test_ray_contract_restore.py``. Every
test names the Ray test it adapts; where PGSearcher deliberately differs from Tune's built-in
searchers, the test asserts PGSearcher's documented behaviour and says so. Tests that start Tune
are marked slow; the others drive the searcher in-process.
"""

import copy
import logging
import math
import os
from collections import defaultdict

import numpy as np
import pytest
from ray import tune
from ray.tune.result import DEFAULT_METRIC
from ray.tune.search import ConcurrencyLimiter, Repeater, Searcher
from ray.tune.search.search_generator import SearchGenerator
from ray.tune.search.util import _set_search_properties_backwards_compatible

from ray_pgsearch import PGSearcher

# Every Tune domain, with the bounds of Ray's SearchSpaceTest (its sample_from "func" is left out, as
# Ray leaves it out for every searcher: Tune resolves sample_from, see test_tuner_runs_full_and_partial_points_first).
ALL_DOMAINS = {
    "uniform": tune.uniform(-5, -1),
    "quniform": tune.quniform(3.2, 5.4, 0.2),
    "loguniform": tune.loguniform(1e-4, 1e-2),
    "qloguniform": tune.qloguniform(1e-4, 1e-1, 5e-5),
    "choice": tune.choice([2, 3, 4]),
    "randint": tune.randint(-9, 15),
    "lograndint": tune.lograndint(1, 10),
    "qrandint": tune.qrandint(-21, 12, 3),
    "qlograndint": tune.qlograndint(2, 20, 2),
    "randn": tune.randn(10, 2),
    "qrandn": tune.qrandn(10, 2, 0.2),
}
# The values every discrete domain above can take: a searcher that never proposes one of them is
# not searching the domain Tune defines.
DISCRETE_VALUES = {
    "choice": {2, 3, 4},
    "randint": set(range(-9, 15)),
    "lograndint": set(range(1, 10)),
    "qrandint": set(range(-21, 13, 3)),
    "qlograndint": set(range(2, 21, 2)),
}
# Ray's InvalidValuesTest space: one searched value and constants that must survive.
INVALID_SPACE = {"report": tune.uniform(0.0, 5.0), "list": [1, 2, 3], "num": 4}
# Ray's conversion tests' space: a choice, a quantized integer, a constant and a log float, nested.
NESTED = {
    "a": tune.choice([2, 3, 4]),
    "b": {"x": tune.qrandint(0, 5, 2), "y": 4, "z": tune.loguniform(1e-4, 1e-2)},
}
# Ray's points-to-evaluate space: two choices, an integer and a log float.
POINTS_SPACE = {
    "metric": tune.choice([1, 2, 3, 4]),
    "a": tune.choice(["t1", "t2", "t3", "t4"]),
    "b": tune.randint(0, 5),
    "c": tune.loguniform(1e-4, 1e-1),
}


def invalid_value(report):
    """Ray's _invalid_objective: inf above 4, -inf above 3, NaN above 2, else the value (0.1 for 0)."""
    if report > 4:
        return float("inf")
    if report > 3:
        return float("-inf")
    if report > 2:
        return float("nan")
    return float(report) or 0.1


def assert_in_domains(config):
    """Ray's SearchSpaceTest._testTuneSampleAPI: bounds, grid and type of every domain."""
    assert -5 <= config["uniform"] < -1 and isinstance(config["uniform"], float)
    assert 3.2 <= config["quniform"] <= 5.4
    assert math.isclose(config["quniform"] / 0.2, round(config["quniform"] / 0.2), abs_tol=1e-7)
    assert 1e-4 <= config["loguniform"] < 1e-2
    assert 1e-4 <= config["qloguniform"] <= 1e-1
    assert math.isclose(config["qloguniform"] / 5e-5, round(config["qloguniform"] / 5e-5), abs_tol=1e-7)
    assert config["choice"] in (2, 3, 4)
    for key in ("randint", "lograndint", "qrandint", "qlograndint"):
        assert type(config[key]) is int, key
    assert -9 <= config["randint"] < 15
    assert 1 <= config["lograndint"] < 10
    assert -21 <= config["qrandint"] <= 12 and config["qrandint"] % 3 == 0
    assert 2 <= config["qlograndint"] <= 20 and config["qlograndint"] % 2 == 0
    assert 0 < config["randn"] < 20  # 5 standard deviations: "very improbable" in Ray's words
    assert 0 < config["qrandn"] < 20
    assert math.isclose(config["qrandn"] / 0.2, round(config["qrandn"] / 0.2), abs_tol=1e-7)


# -- metric and mode ------------------------------------------------------------------------------
# adapts test_searchers.py::InvalidValuesTest.testNevergrad (mode only: the anonymous metric)
def test_mode_only_falls_back_to_tunes_anonymous_metric():
    searcher = PGSearcher(seed=0)
    assert searcher.set_search_properties(None, "max", INVALID_SPACE) is True
    assert searcher.metric == DEFAULT_METRIC and searcher.mode == "max"
    config = searcher.suggest("t0")
    searcher.on_trial_complete("t0", {DEFAULT_METRIC: 0.5})  # what `return 0.5` in a trainable reports
    assert searcher.optimizer.n_told == 1 and searcher.optimizer.best_config == config

    own = PGSearcher(INVALID_SPACE, mode="min", seed=0)  # the searcher's own space: same fallback
    own.suggest("t0")
    assert own.metric == DEFAULT_METRIC


# adapts the set_search_properties of OptunaSearch/HyperOptSearch/BayesOptSearch/NevergradSearch (Tune's metric and
# mode replace the constructor's when the space comes from Tune)
def test_tunes_metric_and_mode_replace_the_constructors_with_tunes_space():
    searcher = PGSearcher(metric="loss", mode="min", seed=0)
    assert searcher.set_search_properties("acc", "max", INVALID_SPACE) is True
    assert (searcher.metric, searcher.mode) == ("acc", "max")
    searcher.suggest("t0")
    searcher.suggest("t1")
    searcher.on_trial_complete("t0", {"acc": 0.2, "loss": 9.0})
    searcher.on_trial_complete("t1", {"acc": 0.9, "loss": 0.0})
    assert searcher.optimizer.best_value == 0.9  # maximizes acc, not loss

    only_mode = PGSearcher(metric="loss", mode="min")  # what Tune leaves open stays the constructor's
    only_mode.set_search_properties(None, "max", INVALID_SPACE)
    assert (only_mode.metric, only_mode.mode) == ("loss", "max")

    # Deliberate difference: with its own space a built-in searcher returns False and ignores Tune's
    # metric and mode; PGSearcher also returns False and keeps its own, but fills in what it lacks.
    own = PGSearcher(INVALID_SPACE, metric="loss")
    assert own.set_search_properties("acc", "max", {"const": 1}) is False
    assert (own.metric, own.mode) == ("loss", "max")


# adapts the asserts of Ray's Searcher.__init__ (metric and mode of one type, one mode per metric)
def test_metric_and_mode_that_do_not_fit_together_are_a_clear_error():
    # Deliberate difference: Ray's Searcher asserts; PGSearcher raises a ValueError naming the problem,
    # also when the mismatch only appears once Tune's values are merged with the constructor's.
    with pytest.raises(ValueError, match="mode must be"):
        PGSearcher(metric="loss", mode="maximize")
    with pytest.raises(ValueError, match="one mode per metric"):
        PGSearcher(metric=["a", "b"], mode="max")
    with pytest.raises(ValueError, match="one mode per metric"):
        PGSearcher(mode=["min", "max"]).set_search_properties("loss", None, INVALID_SPACE)
    # Optuna raises ValueError here; PGSearcher a RuntimeError when the optimizer is first needed
    with pytest.raises(RuntimeError, match="list of metrics"):
        PGSearcher(INVALID_SPACE, mode=["min", "max"]).suggest("t0")


# -- results --------------------------------------------------------------------------------------
# adapts test_searchers.py::InvalidValuesTest (NaN, inf and -inf are never learned; constants survive)
def test_invalid_values_are_never_learned_and_constants_survive():
    searcher = PGSearcher(metric="_metric", mode="max", seed=0)
    searcher.set_search_properties(None, None, INVALID_SPACE)
    finite = []
    for i in range(30):
        config = searcher.suggest(f"t{i}")
        assert config["list"] == [1, 2, 3] and config["num"] == 4
        value = invalid_value(config["report"])
        finite += [value] if math.isfinite(value) else []
        searcher.on_trial_complete(f"t{i}", {"_metric": value})
    opt = searcher.optimizer
    assert opt.n_told == len(finite) and opt.n_failed == 30 - len(finite)
    assert opt.best_value == max(finite) and opt.best_config["report"] <= 2.0
    assert all(math.isfinite(p.latent_mean) and math.isfinite(p.latent_std) for p in opt.view().numeric)


# adapts test_searchers.py::InvalidValuesTest.testOptunaReportTooOften
def test_results_after_completion_are_ignored():
    searcher = PGSearcher(INVALID_SPACE, metric="metric", mode="max", seed=0)
    searcher.suggest("trial_1")
    searcher.on_trial_result("trial_1", {"training_iteration": 1, "metric": 1})
    searcher.on_trial_complete("trial_1", {"training_iteration": 2, "metric": 1})
    searcher.on_trial_result("trial_1", {"training_iteration": 3, "metric": 5})  # after complete: no error
    searcher.on_trial_complete("trial_1", {"training_iteration": 4, "metric": 5})
    assert searcher.optimizer.n_told == 1 and searcher.optimizer.best_value == 1


# PGSearcher's own warning (no Ray test): trials that keep finishing without a finite metric value
def test_nonfinite_results_warn_once(caplog):
    searcher = PGSearcher(INVALID_SPACE, metric="loss", mode="min", seed=0)

    def finish(i, value):
        searcher.suggest(f"t{i}")
        searcher.on_trial_complete(f"t{i}", {"loss": value, "config/report": 1.0})

    with caplog.at_level(logging.WARNING, logger="ray_pgsearch"):
        for i, value in enumerate([float("nan"), None, 1.0, None, float("inf"), float("nan"), None]):
            finish(i, value)  # never three without a value in a row, and NaN or inf are failures it learns from
        assert "finite value" not in caplog.text
        for i in range(7, 12):
            finish(i, None)
    warnings = [r for r in caplog.records if "finite value" in r.getMessage()]
    assert len(warnings) == 1 and "'loss'" in warnings[0].getMessage()
    assert "config/report" not in warnings[0].getMessage()  # names the result's keys, not the config's


# -- warm starts ----------------------------------------------------------------------------------
# adapts test_searchers.py::AddEvaluatedPointTest.run_add_evaluated_point (and testOptuna's error/pruned cases)
def test_add_evaluated_point_is_learned_without_a_trial():
    searcher = PGSearcher({"report": tune.uniform(0.0, 5.0)}, metric="metric", mode="max", seed=0)
    copied = copy.deepcopy(searcher)
    assert copied.optimizer.n_told == 0
    copied.add_evaluated_point({"report": 1.0}, 1.0)
    assert copied.optimizer.n_told == 1 and copied.optimizer.best_config == {"report": 1.0}
    copied.add_evaluated_point({"report": 2.0}, 5.0, error=True)  # an errored evaluation is not learned
    assert copied.optimizer.n_told == 1
    # Deliberate difference: Optuna records a pruned trial as PRUNED; PGSearcher learns its last value,
    # as it does for trials a scheduler stops.
    copied.add_evaluated_point({"report": 3.0}, 0.5, pruned=True, intermediate_values=[0.2, 0.5])
    assert copied.optimizer.n_told == 2
    assert 0.0 <= copied.suggest("1")["report"] <= 5.0
    assert searcher.optimizer.n_told == 0  # the deep copy is independent
    with pytest.raises(ValueError, match="report"):
        copied.add_evaluated_point({"other": 1.0}, 1.0)  # a config of another space


# adapts test_searchers.py::AddEvaluatedPointTest.testOptuna (points_to_evaluate + evaluated_rewards)
def test_evaluated_rewards_are_learned_before_the_first_trial_also_with_tunes_space():
    points = [{"report": 1.0}, {"report": 4.0}]
    searcher = PGSearcher(points_to_evaluate=points, evaluated_rewards=[1.0, 3.0], seed=0)
    searcher.set_search_properties("metric", "max", {"report": tune.uniform(0.0, 5.0)})
    assert searcher.optimizer.n_told == 2 and searcher.optimizer.best_config == {"report": 4.0}
    assert searcher.suggest("t0") not in points  # learned from, never run


# -- save and restore -----------------------------------------------------------------------------
def _on_trial_callbacks(searcher, trial_id):
    result = {"training_iteration": 1, "metric": 1, "config/a": 1.0, "time_total_s": 1}
    searcher.on_trial_result(trial_id, result)
    searcher.on_trial_complete(trial_id, result)


# adapts test_searchers.py::SaveRestoreCheckpointTest (_save / _restore, for every searcher)
@pytest.mark.parametrize("space_from", ["constructor", "tune"])
def test_restore_needs_no_set_search_properties_and_keeps_unfinished_trials(tmp_path, space_from):
    config = {"a": tune.uniform(0.0, 5.0)}
    if space_from == "constructor":
        searcher = PGSearcher(config, metric="metric", mode="max", seed=0)
        assert searcher.set_search_properties("metric", "max", config) is False
    else:
        searcher = PGSearcher(seed=0)
        assert searcher.set_search_properties("metric", "max", config) is True
    for trial_id in ("1", "2", "not_completed"):
        searcher.suggest(trial_id)
    _on_trial_callbacks(searcher, "1")
    searcher.save(str(tmp_path / "checkpoint.pkl"))

    restored = PGSearcher()  # as Tune restores: a fresh searcher and no set_search_properties
    restored.restore(str(tmp_path / "checkpoint.pkl"))
    assert (restored.metric, restored.mode) == ("metric", "max")
    _on_trial_callbacks(restored, "2")  # suggested before the save, completed after it
    restored.suggest("3")
    _on_trial_callbacks(restored, "3")
    assert restored.optimizer.n_told == 3
    # the trial that never completed is still tracked, as Ray checks in _live_trial_mapping
    assert "not_completed" in restored._live and restored.view().n_running == 1


# adapts test_searchers.py::SaveRestoreCheckpointTest through Tune's save_to_dir/restore_from_dir (the searcher
# and its ConcurrencyLimiter, as SearchGenerator saves them in every experiment checkpoint)
def test_save_to_dir_and_restore_from_dir_with_the_wrappers(tmp_path):
    def chain():
        limiter = ConcurrencyLimiter(PGSearcher(seed=0), max_concurrent=2)
        generator = SearchGenerator(limiter)
        generator.set_search_properties("loss", "min", {"x": tune.uniform(0.0, 1.0)})
        return generator, limiter

    generator, limiter = chain()
    assert limiter.suggest("t0") is not None and limiter.suggest("t1") is not None
    limiter.on_trial_complete("t0", {"loss": 0.5})
    limiter.suggest("t2")
    generator.save_to_dir(str(tmp_path), session_str="s1")
    assert os.path.exists(tmp_path / Searcher.CKPT_FILE_TMPL.format("s1"))
    assert not [f for f in os.listdir(tmp_path) if "tmp" in f]  # written, then renamed

    new_generator, new_limiter = chain()
    new_generator.restore_from_dir(str(tmp_path))
    assert new_limiter.live_trials == {"t1", "t2"}
    assert new_limiter.suggest("t3") is None  # the limit still counts the two running trials
    for lim in (limiter, new_limiter):
        lim.on_trial_complete("t1", {"loss": 0.25})
    assert new_limiter.searcher.optimizer.n_told == 2
    assert new_limiter.suggest("t4") == limiter.suggest("t4")  # the same random stream and policy

    searcher = PGSearcher()
    searcher.restore_from_dir(str(tmp_path))  # Searcher.restore_from_dir, as users restore one by hand
    assert searcher.optimizer.n_told == 1 and set(searcher._live) == {"t1", "t2"}


# -- several objectives ---------------------------------------------------------------------------
def _three_objectives(config):
    """Ray's _multi_objective."""
    return {"a": config["a"] * 100, "b": config["b"] * -100, "c": config["c"]}


# adapts test_searchers.py::MultiObjectiveTest.testOptuna (in-process)
def test_several_objectives_find_each_objectives_best_region():
    space = {k: tune.uniform(0, 1) for k in "abc"}
    searcher = PGSearcher(space, metric=["a", "b", "c"], mode=["max", "min", "max"], seed=0)
    results = []
    for i in range(16):
        config = searcher.suggest(f"t{i}")
        result = _three_objectives(config)
        results.append((config, result))
        searcher.on_trial_complete(f"t{i}", result)
    assert searcher.optimizer.n_told == 16
    assert max(results, key=lambda r: r[1]["a"])[0]["a"] >= 0.8
    assert min(results, key=lambda r: r[1]["b"])[0]["b"] >= 0.8
    assert max(results, key=lambda r: r[1]["c"])[0]["c"] >= 0.8


# -- search spaces --------------------------------------------------------------------------------
# adapts test_sample.py::SearchSpaceTest._testTuneSampleAPI via testSampleBoundsHyperopt (1000 suggestions)
def test_every_domain_keeps_its_bounds_grid_and_type_and_every_value_is_proposed():
    searcher = PGSearcher(ALL_DOMAINS, metric="a", mode="max", seed=0)
    seen = defaultdict(set)
    for i in range(1000):
        config = searcher.suggest(f"trial_{i}")
        assert_in_domains(config)
        for key in DISCRETE_VALUES:
            seen[key].add(config[key])
    for key, values in DISCRETE_VALUES.items():
        assert seen[key] == values, key


# adapts test_sample.py::SearchSpaceTest.testSampleBoundsZOOpt (suggestions while results come in)
def test_domains_keep_their_bounds_while_the_policy_learns():
    searcher = PGSearcher(ALL_DOMAINS, metric="a", mode="max", seed=0)
    rng = np.random.default_rng(0)
    for i in range(300):
        config = searcher.suggest(f"trial_{i}")
        assert_in_domains(config)
        searcher.on_trial_complete(f"trial_{i}", {"a": float(rng.uniform())})
    assert searcher.optimizer.n_told == 300


# adapts test_sample.py::SearchSpaceTest.testConvertOptuna / testConvertHyperOpt / ... (grid search refused, a
# nested space with constants, a space given to the constructor)
def test_conversion_of_a_nested_space():
    with pytest.raises(ValueError, match="grid_search"):
        PGSearcher({"grid": tune.grid_search([0, 1])})
    with pytest.raises(ValueError, match="grid_search"):
        PGSearcher().set_search_properties("a", "max", {"grid": tune.grid_search([0, 1])})

    searcher = PGSearcher(NESTED, metric="a", mode="max", seed=0)
    configs = [searcher.suggest(str(i)) for i in range(60)]
    assert {c["a"] for c in configs} == {2, 3, 4}
    assert {c["b"]["x"] for c in configs} == {0, 2, 4}  # qrandint(0, 5, 2): Tune's grid, upper included
    assert all(c["b"]["y"] == 4 and 1e-4 < c["b"]["z"] < 1e-2 for c in configs)

    mixed = PGSearcher({"a": tune.uniform(5, 6), "b": tune.uniform(8, 9)}, metric="a", mode="max")
    config = mixed.suggest("0")
    assert 5 <= config["a"] <= 6 and 8 <= config["b"] <= 9


# adapts test_sample.py::SearchSpaceTest.testConvertBayesOpt's invalid "a/b" keys
def test_keys_with_slashes_stay_flat_keys():
    # Deliberate difference: BayesOpt and Dragonfly refuse such keys, which they would confuse with
    # nested ones; PGSearcher addresses parameters by key path, so they work as given.
    searcher = PGSearcher(seed=0)
    searcher.set_search_properties("none", "max", {"a/b": tune.uniform(4.0, 8.0), "a": {"b/c": tune.uniform(4.0, 8.0)}})
    config = searcher.suggest("0")
    assert set(config) == {"a/b", "a"} and set(config["a"]) == {"b/c"}
    assert 4 <= config["a/b"] <= 8 and 4 <= config["a"]["b/c"] <= 8


# adapts test_sample.py::SearchSpaceTest.testConvertHyperOptNested (choices of dicts, lists and domains)
def test_choices_that_hold_dicts_lists_and_domains():
    space = {
        "a": 1,
        "dict_nested": tune.choice([{"a": tune.choice(["M", "N"]), "b": tune.choice(["O", "P"])}]),
        "list_nested": tune.choice(
            [
                [tune.choice(["M", "N"]), tune.choice(["O", "P"])],
                [tune.choice(["Q", "R"]), tune.choice(["S", "T"])],
            ]
        ),
        "domain_nested": tune.choice([tune.choice(["M", "N"]), tune.choice(["O", "P"])]),
    }
    searcher = PGSearcher(space, metric="a", mode="max", seed=0)
    branches, leaves = set(), set()
    for i in range(60):
        config = searcher.suggest(str(i))
        assert config["a"] == 1
        assert config["dict_nested"]["a"] in ("M", "N") and config["dict_nested"]["b"] in ("O", "P")
        first, second = config["list_nested"]
        assert (first in ("M", "N") and second in ("O", "P")) or (first in ("Q", "R") and second in ("S", "T"))
        assert config["domain_nested"] in ("M", "N", "O", "P")
        branches.add(first in ("M", "N"))
        leaves.add(config["domain_nested"])
    assert branches == {True, False} and leaves == {"M", "N", "O", "P"}


# adapts test_sample.py::SearchSpaceTest.testCategoricalDtype
def test_choices_keep_the_type_of_each_category():
    searcher = PGSearcher({"x": tune.choice([1.0, "str", True, 1])}, metric="m", mode="max", seed=0)
    seen = {(c["x"], type(c["x"])) for c in (searcher.suggest(str(i)) for i in range(60))}
    assert seen == {(1.0, float), ("str", str), (True, bool), (1, int)}


# adapts test_sample.py::SearchSpaceTest.testReproducibility
def test_a_seed_reproduces_the_suggestions():
    def run(seed):
        searcher = PGSearcher(ALL_DOMAINS, metric="a", mode="max", seed=seed)
        configs = []
        for i in range(30):
            configs.append(searcher.suggest(str(i)))
            searcher.on_trial_complete(str(i), {"a": configs[-1]["uniform"]})
        return configs

    assert run(1000) == run(1000)
    assert run(1000) != run(1001)


# -- points to evaluate ---------------------------------------------------------------------------
# adapts test_sample.py::SearchSpaceTest._testPointsToEvaluate (exact=True; in-process)
def test_full_points_come_first_and_exactly():
    rng = np.random.default_rng(0)
    points = [{k: v.sample(random_state=rng) for k, v in POINTS_SPACE.items()} for _ in range(2)]
    searcher = PGSearcher(metric="metric", mode="max", points_to_evaluate=points, seed=0)
    searcher.set_search_properties(None, None, POINTS_SPACE)
    for i, point in enumerate(points):
        config = searcher.suggest(str(i))
        assert config == point
        assert type(config["b"]) is int and type(config["c"]) is float  # native types, not numpy's


# adapts test_sample.py::SearchSpaceTest.testPointsToEvaluateHyperOptNested
def test_points_with_lists_of_parameters_and_constants():
    space = {"nested": [tune.randint(0, 10), tune.randint(0, 10)], "nosample": [4, 8]}
    point = {"nested": [2, 4], "nosample": [4, 8]}
    searcher = PGSearcher(space, metric="_", mode="max", points_to_evaluate=[point])
    assert searcher.suggest("0") == point


# adapts test_sample.py::SearchSpaceTest.testPointsToEvaluateBasicVariantAdvanced (a partial nested point)
def test_partial_points_take_the_missing_values_from_the_policy():
    space = {"nested": {"random": tune.uniform(2.0, 10.0), "other": tune.choice(["a", "b"])}, "lr": tune.uniform(0, 1)}
    points = [{"nested": {"random": 8.0}}, {"lr": 0.5}, {}]
    searcher = PGSearcher(space, metric="m", mode="max", points_to_evaluate=points, seed=0)
    configs = [searcher.suggest(str(i)) for i in range(3)]
    assert configs[0]["nested"]["random"] == 8.0 and configs[1]["lr"] == 0.5
    for config in configs:
        assert 2.0 <= config["nested"]["random"] <= 10.0 and config["nested"]["other"] in ("a", "b")
        assert 0 <= config["lr"] <= 1


# adapts test_sample.py::SearchSpaceTest.testPointsToEvaluateBasicVariantFixedParam (and BasicVariantGenerator's
# ValueError for a key the space lacks)
def test_points_that_change_a_constant_or_add_a_key_are_refused_when_the_searcher_is_built():
    space = {"a": 1, "b": tune.randint(0, 3), "opt": {"name": "adam"}}
    assert PGSearcher(space, metric="m", mode="max", points_to_evaluate=[{"a": 1, "b": 2}]).suggest("0") == {
        "a": 1,
        "b": 2,
        "opt": {"name": "adam"},
    }
    # Deliberate difference: Tune's BasicVariantGenerator only warns when a point changes a constant
    # (and runs the constant); PGSearcher refuses such a point at once, as it does a value outside a domain.
    with pytest.raises(ValueError, match="'a' is the constant 1"):
        PGSearcher(space, metric="m", mode="max", points_to_evaluate=[{"a": 2, "b": 2}])
    with pytest.raises(ValueError, match="'opt/name' is the constant 'adam'"):
        PGSearcher(space, metric="m", mode="max", points_to_evaluate=[{"opt": {"name": "sgd"}}])
    with pytest.raises(ValueError, match="'c' is not a key"):
        PGSearcher(space, metric="m", mode="max", points_to_evaluate=[{"b": 1, "c": 0}])
    with pytest.raises(ValueError, match="'c' is not a key"):  # also points learned from, not run
        PGSearcher(space, metric="m", mode="max", points_to_evaluate=[{"b": 1, "c": 0}], evaluated_rewards=[1.0])
    lazy = PGSearcher(metric="m", mode="max", points_to_evaluate=[{"b": 1, "c": 0}])
    with pytest.raises(ValueError, match="'c' is not a key"):  # with Tune's space: when Tune hands it over
        lazy.set_search_properties(None, None, space)


# -- Tune's wrappers and generator ------------------------------------------------------------------
# adapts test_sample.py::SearchSpaceTest.testSetSearchPropertiesBackwardsCompatibility
def test_set_search_properties_takes_tunes_spec_keywords(caplog):
    searcher = PGSearcher(seed=0)
    with caplog.at_level(logging.WARNING):
        ok = _set_search_properties_backwards_compatible(
            searcher.set_search_properties, "m", "max", {"x": tune.uniform(0, 1)}, num_samples=4, stop={}
        )
    assert ok is True and "Please update custom Searcher" not in caplog.text


def _train_report(config):
    tune.report({"loss": 0.0})


def _generator(searcher, tmp_path, num_samples):
    alg = SearchGenerator(searcher)
    alg.add_configurations({"test": {"run": _train_report, "num_samples": num_samples, "storage_path": str(tmp_path)}})
    return alg


# adapts test_searcher_utils.py::test_nested_suggestion (and SearchGenerator's end at num_samples: PGSearcher never
# answers None or Searcher.FINISHED, Tune stops asking)
def test_nested_suggestions_name_their_trials_and_the_generator_stops_at_num_samples(tmp_path):
    searcher = PGSearcher({"a": {"b": {"c": {"d": tune.choice([4]), "e": 5}}}}, metric="loss", mode="min", seed=0)
    alg = _generator(searcher, tmp_path, 3)
    trials = [alg.next_trial() for _ in range(3)]
    assert all(t is not None for t in trials)
    assert "e=5" in trials[0].experiment_tag and "d=4" in trials[0].experiment_tag
    assert alg.is_finished() and alg.next_trial() is None
    assert searcher.optimizer.n_asked == 3


# adapts test_searcher_utils.py::test_repeat_1 / test_repeat_4 / test_odd_repeat
@pytest.mark.parametrize("num_samples, repeat, distinct", [(2, 1, 2), (12, 4, 3), (11, 5, 3)])
def test_repeater_repeats_each_suggestion_and_the_searcher_learns_each_group_mean(
    tmp_path, num_samples, repeat, distinct
):
    searcher = PGSearcher({"x": tune.uniform(0, 1)}, metric="loss", mode="min", seed=0)
    alg = _generator(Repeater(searcher, repeat=repeat, set_index=False), tmp_path, num_samples)
    trials = []
    while not alg.is_finished():
        trials.append(alg.next_trial())
    assert len(trials) == num_samples
    assert len({t.evaluated_params["x"] for t in trials}) == distinct
    means = defaultdict(list)
    for k, trial in enumerate(trials):
        value = trial.evaluated_params["x"] + k % 2  # repeats of one config report different values
        means[trial.evaluated_params["x"]].append(value)
        alg.on_trial_complete(trial.trial_id, {"loss": value})
    full = [np.mean(v) for v in means.values() if len(v) == repeat]  # the leftover group never completes
    assert searcher.optimizer.n_told == len(full)
    assert math.isclose(searcher.optimizer.best_value, min(full))


# adapts test_searcher_utils.py::test_set_get_repeater
def test_repeater_state_carries_over_with_pgsearcher():
    searcher = PGSearcher({"x": tune.uniform(0, 1)}, metric="result", mode="max", seed=0)
    repeater = Repeater(searcher, repeat=3, set_index=False)
    first = [repeater.suggest(f"test_{i}") for i in range(3)]
    assert first[0] == first[1] == first[2]
    second = [repeater.suggest(f"test_{i}_2") for i in range(2)]  # an incomplete group
    assert second[0] == second[1] != first[0]

    state = repeater.get_state()
    new_repeater = Repeater(searcher, repeat=1, set_index=True)
    new_repeater.set_state(state)
    assert new_repeater.repeat == 3
    assert new_repeater.suggest("test_2_2") == second[0]
    third = new_repeater.suggest("test_x")
    assert third != second[0]
    for i in range(3):
        new_repeater.on_trial_complete(f"test_{i}", {"result": 2})
    for i in range(3):
        new_repeater.on_trial_complete(f"test_{i}_2", {"result": -i * 10})
    assert searcher.optimizer.n_told == 2 and searcher.optimizer.best_value == 2
    new_repeater.on_trial_complete("test_x", {"result": 3})
    assert new_repeater.suggest("test_y") == third
    new_repeater.on_trial_complete("test_y", {"result": 3})
    assert searcher.optimizer.n_told == 2  # the group is not complete yet
    new_repeater.suggest("test_z")
    new_repeater.on_trial_complete("test_z", {"result": 3})
    assert searcher.optimizer.n_told == 3 and searcher.optimizer.best_value == 3


# adapts test_searcher_utils.py::test_set_get_limiter
def test_concurrency_limiter_state_carries_over_with_pgsearcher():
    searcher = PGSearcher({"x": tune.uniform(0, 1)}, metric="result", mode="max", seed=0)
    limiter = ConcurrencyLimiter(searcher, max_concurrent=2)
    assert limiter.suggest("test_1") is not None and limiter.suggest("test_2") is not None
    assert limiter.suggest("test_3") is None
    state = limiter.get_state()
    limiter2 = ConcurrencyLimiter(searcher, max_concurrent=3)
    limiter2.set_state(state)
    assert limiter2.suggest("test_4") is None and limiter2.suggest("test_5") is None
    limiter2.on_trial_complete("test_1", {"result": 3})
    limiter2.on_trial_complete("test_2", {"result": 3})
    assert limiter2.suggest("test_3") is not None
    assert searcher.optimizer.n_asked == 3 and searcher.optimizer.n_told == 2


# adapts test_searcher_utils.py::test_batch_limiter
def test_batch_limiter_hands_pgsearcher_whole_batches():
    searcher = PGSearcher({"x": tune.uniform(0, 1)}, metric="result", mode="max", seed=0)
    limiter = ConcurrencyLimiter(searcher, max_concurrent=2, batch=True)
    assert limiter.suggest("test_1") is not None and limiter.suggest("test_2") is not None
    assert limiter.suggest("test_3") is None
    limiter.on_trial_complete("test_1", {"result": 3})
    assert limiter.suggest("test_3") is None and searcher.optimizer.n_told == 0
    limiter.on_trial_complete("test_2", {"result": 4})
    assert searcher.optimizer.n_told == 2 and searcher.optimizer.best_value == 4
    assert limiter.suggest("test_3") is not None


# adapts test_searcher_utils.py::test_set_max_concurrency
def test_set_max_concurrency_leaves_the_gating_to_the_limiter():
    # PGSearcher has no internal concurrency logic: it remembers the limit (its startup warning uses it)
    # and returns False, so the ConcurrencyLimiter limits, unlike the test's own searcher that returns True.
    searcher = PGSearcher({"x": tune.uniform(0, 1)}, metric="result", mode="max", seed=0)
    limiter = ConcurrencyLimiter(searcher, max_concurrent=2)
    assert searcher.max_concurrent == 2 and limiter._limit_concurrency
    assert limiter.suggest("1") is not None and limiter.suggest("2") is not None and limiter.suggest("3") is None


# -- through Tune ---------------------------------------------------------------------------------
def _run(trainable, tmp_path, param_space=None, num_samples=4, name="exp", **tune_config):
    tune_config.setdefault("max_concurrent_trials", 2)
    tuner = tune.Tuner(
        trainable,
        param_space=param_space or {},
        tune_config=tune.TuneConfig(num_samples=num_samples, reuse_actors=True, **tune_config),
        run_config=tune.RunConfig(storage_path=str(tmp_path), name=name, verbose=0),
    )
    return tuner.fit()


def return_invalid_value(config):
    """Ray's _invalid_objective as a function that returns its value: Tune's anonymous metric."""
    return invalid_value(config["report"])


# adapts test_searchers.py::InvalidValuesTest.testNevergrad (mode only) and its checkpoint check
@pytest.mark.slow
def test_tuner_with_only_a_mode_searches_the_returned_value(ray_local, tmp_path, caplog):
    searcher = PGSearcher(seed=0)
    with caplog.at_level(logging.WARNING):
        results = _run(return_invalid_value, tmp_path, INVALID_SPACE, num_samples=8, mode="max", search_alg=searcher)
    assert len(results) == 8 and results.num_errors == 0
    assert searcher.metric == DEFAULT_METRIC
    values = [r.metrics[DEFAULT_METRIC] for r in results]
    finite = [v for v in values if math.isfinite(v)]
    assert finite and searcher.optimizer.n_told == len(finite) and searcher.optimizer.n_failed == 8 - len(finite)
    assert searcher.optimizer.best_value == max(finite)
    best = results.get_best_result(metric=DEFAULT_METRIC, mode="max")
    assert best.config["report"] <= 2.0 and best.config["list"] == [1, 2, 3] and best.config["num"] == 4
    # the searcher was checkpointed with the experiment, without pickling errors, and can be restored
    assert "checkpointing failed" not in caplog.text
    saved = PGSearcher()
    saved.restore_from_dir(results.experiment_path)
    assert saved.optimizer.n_told == len(finite) and saved.metric == DEFAULT_METRIC


def report_score(config):
    tune.report({"score": config["x"], "other": -config["x"]})


# the override case: set_search_properties of Tune's built-in searchers, through a real Tuner
@pytest.mark.slow
def test_tuner_metric_and_mode_override_the_constructors(ray_local, tmp_path):
    searcher = PGSearcher(metric="other", mode="min", seed=0)
    results = _run(report_score, tmp_path, {"x": tune.uniform(0, 1)}, metric="score", mode="max", search_alg=searcher)
    assert (searcher.metric, searcher.mode) == ("score", "max")
    assert searcher.optimizer.n_told == 4
    assert searcher.optimizer.best_value == max(r.metrics["score"] for r in results)

    # With its own space the searcher keeps its own metric and mode, as Tune's built-in searchers do
    own = PGSearcher({"x": tune.uniform(0, 1)}, metric="other", mode="max", seed=0)
    results = _run(report_score, tmp_path, metric="score", mode="max", search_alg=own, name="own")
    assert (own.metric, own.mode) == ("other", "max")
    assert own.optimizer.best_value == max(r.metrics["other"] for r in results)


def report_config(config):
    tune.report({"metric": config["metric"], "double_b": config["double_b"]})


# adapts test_sample.py::SearchSpaceTest._testPointsToEvaluate through Tune, with a partial point, the conversion
# tests' nested constant and a tune.sample_from that Tune resolves around the searcher
@pytest.mark.slow
def test_tuner_runs_full_and_partial_points_first(ray_local, tmp_path):
    rng = np.random.default_rng(0)
    full = [{k: v.sample(random_state=rng) for k, v in POINTS_SPACE.items()} for _ in range(2)]
    partial = {"c": 1e-3, "const": {"y": 4}}
    param_space = dict(POINTS_SPACE, const={"y": 4, "list": [1, 2, 3]})
    param_space["double_b"] = tune.sample_from(lambda config: config["b"] * 2)
    searcher = PGSearcher(points_to_evaluate=full + [partial], seed=0)
    results = _run(
        report_config, tmp_path, param_space, num_samples=5, metric="metric", mode="max", search_alg=searcher
    )
    assert len(results) == 5 and results.num_errors == 0
    configs = [r.config for r in results]
    for point in full:
        assert any({k: c[k] for k in point} == point for c in configs)
    assert any(c["c"] == 1e-3 for c in configs)
    for config in configs:
        assert config["const"] == {"y": 4, "list": [1, 2, 3]} and config["double_b"] == 2 * config["b"]
        assert config["a"] in ("t1", "t2", "t3", "t4") and 0 <= config["b"] < 5 and 1e-4 <= config["c"] <= 1e-1
    assert searcher.optimizer.n_told == 5


def report_nan(config):
    tune.report({"loss": float("nan")})


# PGSearcher's own warning through a real Tuner (no Ray test)
@pytest.mark.slow
def test_tuner_warns_once_when_trials_finish_without_a_finite_metric(ray_local, tmp_path, caplog):
    searcher = PGSearcher(seed=0)
    with caplog.at_level(logging.WARNING, logger="ray_pgsearch"):
        results = _run(
            report_nan,
            tmp_path,
            {"x": tune.uniform(0, 1)},
            num_samples=6,
            metric="loss",
            mode="min",
            search_alg=searcher,
        )
    assert len(results) == 6 and results.num_errors == 0
    warnings = [r for r in caplog.records if "finite value" in r.getMessage()]
    assert len(warnings) == 1 and "'loss'" in warnings[0].getMessage()
    assert searcher.optimizer.n_told == 0 and searcher.optimizer.n_failed == 6


def report_metric(config):
    tune.report({"metric": config["report"]})


# adapts test_searchers.py::AddEvaluatedPointTest.run_add_evaluated_trials. Ray 2.60's add_evaluated_trials looks
# for "done" in a trial's last result, which trials read back from disk lack: it warns that no trial returned
# the metric and passes them as pruned, which PGSearcher learns from like any other result.
@pytest.mark.filterwarnings("ignore:No completed trial returned the specified metric")
@pytest.mark.slow
def test_add_evaluated_trials_from_an_earlier_experiment(ray_local, tmp_path):
    space = {"report": tune.uniform(0.0, 5.0)}
    results = _run(report_metric, tmp_path, space, metric="metric", mode="max")
    analysis = tune.ExperimentAnalysis(results.experiment_path)
    searcher = PGSearcher(space, metric="metric", mode="max", seed=0)
    best = max(t.last_result["metric"] for t in analysis.trials)
    for source, count in [(analysis, 4), (analysis.trials, 4), (analysis.trials[0], 1)]:
        copied = copy.deepcopy(searcher)
        copied.add_evaluated_trials(source, "metric")
        assert copied.optimizer.n_told == count
        assert 0 <= copied.suggest("1")["report"] <= 5
    copied = copy.deepcopy(searcher)
    copied.add_evaluated_trials(analysis, "metric")
    assert copied.optimizer.best_value == best


def _three_objectives_trainable(config):
    tune.report(_three_objectives(config))


# adapts test_searchers.py::MultiObjectiveTest.testOptuna through Tune (metric and mode lists given to the searcher)
@pytest.mark.slow
def test_tuner_with_several_objectives(ray_local, tmp_path):
    searcher = PGSearcher(metric=["a", "b", "c"], mode=["max", "min", "max"], seed=0)
    results = _run(
        _three_objectives_trainable,
        tmp_path,
        {k: tune.uniform(0, 1) for k in "abc"},
        num_samples=12,
        search_alg=searcher,
    )
    assert len(results) == 12 and results.num_errors == 0 and searcher.optimizer.n_told == 12
    assert results.get_best_result("a", "max").config["a"] >= 0.8
    assert results.get_best_result("b", "min").config["b"] >= 0.8
    assert results.get_best_result("c", "max").config["c"] >= 0.8


def raise_never_called(config):
    raise AssertionError("no trial should start")


# the errors built-in searchers raise when space or mode is missing (UNDEFINED_SEARCH_SPACE / UNDEFINED_METRIC_MODE)
@pytest.mark.slow
def test_tuner_without_space_or_mode_fails_with_the_fix(ray_local, tmp_path):
    with pytest.raises(RuntimeError, match="no search space") as no_space:
        _run(raise_never_called, tmp_path, metric="loss", mode="min", search_alg=PGSearcher(), name="a")
    assert "param_space" in str(no_space.value)
    # Tune only hands metric and mode over with a param_space: without one, the searcher's own space needs them
    with pytest.raises(RuntimeError, match="no mode"):
        _run(
            raise_never_called,
            tmp_path,
            metric="loss",
            mode="min",
            search_alg=PGSearcher({"x": tune.uniform(0, 1)}),
            name="b",
        )
