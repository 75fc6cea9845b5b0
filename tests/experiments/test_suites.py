"""Fast checks of the external suites, the batched protocol, the run cache and its scoring."""

from __future__ import annotations

import numpy as np
import pytest
from ray import tune

from experiments import external, external_report
from experiments.lab.cache import RunCache
from experiments.lab.driver import run_batches
from experiments.lab.objectives import OBJECTIVES, Objective
from experiments.lab.peers import RandomSearcher
from experiments.lab.protocol import DEV, HELD_OUT, Setting
from experiments.lab.suites import APART, SUITES, expand, get_objective, half_of, suite_of


def test_setting_keys_round_trip() -> None:
    assert Setting.parse("100x8") == Setting(100, 8) and Setting(100, 8).key == "100x8"
    assert Setting.parse("16r8") == Setting(128, 8, batched=True) and Setting(128, 8, True).key == "16r8"
    assert Setting.parse("16r8").score_points == [32, 128] and Setting.parse("32x8").score_points == [32]
    assert Setting.parse("4x2-60s") == Setting(4, 2, seconds=60.0) and Setting(4, 2, seconds=60.0).key == "4x2-60s"
    assert Setting.parse_list("32x8,16r8") == [Setting(32, 8), Setting(128, 8, batched=True)]


def test_every_suite_is_split_into_two_disjoint_halves() -> None:
    seen: set[str] = set()
    for suite in SUITES.values():
        assert suite.dev and suite.held_out
        assert not set(suite.dev) & set(suite.held_out)
        assert len(set(suite.names)) == len(suite.names)
        assert not seen & set(suite.names)
        seen |= set(suite.names)
        for name in suite.dev:
            assert suite_of(name) == suite.name and half_of(name) == DEV
        for name in suite.held_out:
            assert half_of(name) == HELD_OUT
    assert set(OBJECTIVES) == set(SUITES["ours"].names)
    kinds = {h: {OBJECTIVES[n].kind for n in getattr(SUITES["ours"], h)} for h in (DEV, HELD_OUT)}
    assert kinds[DEV] == kinds[HELD_OUT] == {"synthetic", "mixed", "model"}
    assert expand("ours:dev,branin,bbob:held_out")[: len(SUITES["ours"].dev)] == list(SUITES["ours"].dev)
    apart = {n for name in APART for n in SUITES[name].names}
    assert set(expand("all")) == seen - apart and apart  # "all" leaves the crash suite to its own study
    with pytest.raises(KeyError):
        expand("no_such_objective")


class _RoundSpy(RandomSearcher):
    """Random search that checks nothing is told while a round is being asked."""

    def __init__(self, give_up_after: int | None = None) -> None:
        super().__init__(seed=0)
        self.events: list[str] = []
        self.give_up_after = give_up_after

    def suggest(self, trial_id: str) -> dict | None:
        if self.give_up_after is not None and self.events.count("ask") >= self.give_up_after:
            return None
        self.events.append("ask")
        return super().suggest(trial_id)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        self.events.append("tell")


def test_batches_ask_a_whole_round_before_telling_it() -> None:
    spy = _RoundSpy()
    record = run_batches(spy, OBJECTIVES["branin"], budget=12, batch=4)
    assert spy.events == (["ask"] * 4 + ["tell"] * 4) * 3
    assert len(record.values) == len(record.curve) == len(record.step_seconds) == 12
    assert np.all(np.diff(record.curve) <= 0) and not record.notes


def test_batches_stop_when_the_searcher_stops_suggesting() -> None:
    record = run_batches(_RoundSpy(give_up_after=6), OBJECTIVES["branin"], budget=12, batch=4)
    assert len(record.values) == 6 and len(record.curve) == 12
    assert any("round of 2" in n for n in record.notes) and any("stopped" in n for n in record.notes)


def test_batched_run_is_reproducible() -> None:
    runs = [run_batches(RandomSearcher(seed=3), OBJECTIVES["mixed_bowls"], 10, 4).values for _ in range(2)]
    assert runs[0] == runs[1] and len(runs[0]) == 10


def test_bayesmark_space_conversion() -> None:
    from experiments.lab.suites.bayesmark import LOGIT_PREFIX, model_params, tune_space

    api = {
        "n": {"type": "int", "space": "linear", "range": (1, 25)},
        "it": {"type": "int", "space": "log", "range": (10, 5000)},
        "c": {"type": "real", "space": "log", "range": (1e-2, 1e2)},
        "f": {"type": "real", "space": "logit", "range": (0.1, 0.9)},
        "u": {"type": "real", "space": "linear", "range": (0.0, 0.5)},
        "b": {"type": "bool"},
    }
    space = tune_space(api)
    assert set(space) == {"n", "it", "c", LOGIT_PREFIX + "f", "u", "b"}
    assert (space["n"].lower, space["n"].upper) == (1, 26)  # bayesmark's integer ranges include the top
    rng = np.random.default_rng(0)
    for _ in range(50):
        config = {k: d.sample(random_state=rng) for k, d in space.items()}
        params = model_params(space, config)
        assert 0.1 <= params["f"] <= 0.9 and 1 <= params["n"] <= 25 and 10 <= params["it"] <= 5000
        assert isinstance(params["b"], bool) and isinstance(params["n"], int)
    assert model_params(space, {**config, "n": 7.6})["n"] == 8  # off-grid integers are rounded


def test_l2_normalizer_matches_scikit_learns_old_normalize() -> None:
    from experiments.lab.suites.bayesmark import L2Normalizer

    x = np.random.default_rng(0).normal(size=(30, 3)) * [1.0, 10.0, 0.1] + [5.0, -2.0, 0.0]
    z = L2Normalizer().fit(x).transform(x)
    assert np.allclose(z.mean(axis=0), 0) and np.allclose(np.linalg.norm(z, axis=0), 1)
    assert np.allclose(L2Normalizer().fit(np.ones((4, 2))).transform(np.ones((4, 2))), 0)  # constant column


@pytest.mark.slow
def test_bayesmark_problem_is_deterministic() -> None:
    pytest.importorskip("bayesmark")
    from experiments.lab.suites.bayesmark import BayesmarkProblem

    objective = get_objective("bm_DT_breast_nll")  # trees with max_features < 1: seeded inside
    config = {k: d.sample(random_state=np.random.default_rng(1)) for k, d in objective.space.items()}
    first = objective.fn(config)
    assert BayesmarkProblem("DT", "breast", "nll")(config) == first and np.isfinite(first)  # not memoized there


def test_coco_optimum_is_attained_and_integers_are_rounded() -> None:
    pytest.importorskip("cocoex")
    import cocoex

    from experiments.lab.suites.coco import integer_cardinalities, objective

    bbob = objective("bbob", 3, 2, 1)
    bare = cocoex.BareProblem("bbob", 3, 2, 1)
    xopt = np.asarray(bare.best_parameter())
    assert bbob.fn({"x0": xopt[0], "x1": xopt[1]}) == pytest.approx(bbob.optimum)
    assert integer_cardinalities("bbob-mixint", 10) == [2, 2, 4, 4, 8, 8, 16, 16, 0, 0]
    mixint = objective("bbob-mixint", 8, 5, 1)
    rng = np.random.default_rng(0)
    for _ in range(200):
        config = {k: d.sample(random_state=rng) for k, d in mixint.space.items()}
        assert mixint.fn(config) >= mixint.optimum
        assert mixint.fn({**config, "x1": config["x1"] + 0.3}) == mixint.fn(config)


def _fake_run(searcher: str, objective: str, seed: int, values: list[float]) -> dict:
    """A cached run as `experiments.lab.driver.execute` writes it."""
    return {
        "searcher": searcher,
        "objective": objective,
        "seed": seed,
        "values": values,
        "seconds": 0.001 * len(values),
    }


def test_cache_round_trip_and_missing_runs(tmp_path) -> None:
    cache = RunCache(tmp_path)
    cache.add("4x2", _fake_run("random", "branin", 1, [3.0, 2.0, 5.0, 1.0]))
    cache.add("4x2", _fake_run("random", "branin", 0, [4.0, 4.0, 4.0, 4.0]))
    assert sorted(RunCache(tmp_path).runs("4x2", "random", "branin")) == [0, 1]  # read back from the file
    stage = external.Stage(("random", "tpe"), "branin", "4x2", 3)
    tasks = external.plan_tasks([stage], cache, None, set())
    assert tasks == [("tpe", "branin", "4x2", k) for k in (0, 1)] + [(n, "branin", "4x2", 2) for n in ("random", "tpe")]
    assert len(external.plan_tasks([stage], cache, ["random"], {"random"})) == 3


def test_scores_cover_only_what_a_searcher_ran(tmp_path) -> None:
    worst = 400.0
    for seed in range(2):
        for name in SUITES["ours"].dev[:0] + ("branin", "hartmann6"):
            RunCache(tmp_path).add("4x2", _fake_run("a", name, seed, [worst, worst, 1.0, worst]))
            RunCache(tmp_path).add("2r2", _fake_run("a", name, seed, [worst] * 4))
        RunCache(tmp_path).add("4x2", _fake_run("b", "branin", seed, [worst] * 4))
    summary = external_report.score_runs(RunCache(tmp_path), searchers=["a", "b"], objectives=["branin", "hartmann6"])
    point = summary["settings"]["4x2@4"]
    assert set(point["groups"]) == {"ours:dev", "ours:held_out"}
    assert set(point["groups"]["ours:dev"]) == {"a", "b"} and set(point["groups"]["ours:held_out"]) == {"a"}
    dev = point["groups"]["ours:dev"]
    assert dev["a"]["rank"] == 1.0 and dev["b"]["rank"] == 2.0 and dev["a"]["seeds"] == 2
    assert dev["a"]["mean"] > dev["b"]["mean"] and len(dev["a"]["curve"]) == 4
    assert set(point["halves"][DEV]["searchers"]) == {"a", "b"}
    assert set(point["halves"][HELD_OUT]["searchers"]) == {"a"}
    assert set(summary["settings"]) == {"4x2@4", "2r2@4"}
    assert summary["optimum"]["branin"] == pytest.approx(0.397887)


def test_paired_differences_take_the_same_seeds_of_both_searchers(tmp_path) -> None:
    """b - a per seed, averaged: the difference of the two means on the same seeds; a half that one
    of them did not run is left out, and the report shows the difference under the setting's table."""
    for seed in range(3):
        for name in ("branin", "hartmann6"):
            RunCache(tmp_path).add("4x2", _fake_run("a", name, seed, [50.0, 40.0, 30.0 - seed, 30.0]))
        RunCache(tmp_path).add("4x2", _fake_run("b", "branin", seed, [50.0, 20.0, 30.0 - seed, 30.0]))
    summary = external_report.score_runs(
        RunCache(tmp_path), searchers=["a", "b"], objectives=["branin", "hartmann6"], pairs=[("a", "b")]
    )
    point = summary["settings"]["4x2@4"]
    (paired,) = point["paired"]
    assert set(paired) == {DEV}  # b ran no held-out objective
    means = {n: point["halves"][DEV]["searchers"][n]["mean"] for n in ("a", "b")}
    assert paired[DEV]["mean"] == pytest.approx(means["b"] - means["a"]) and paired[DEV]["mean"] > 0
    assert paired[DEV]["seeds"] == 3
    text, _ = external_report.markdown(summary, None, None)
    assert "| b − a | " in text and "Paired by seed" in text


@pytest.mark.slow
def test_external_command_runs_only_what_is_missing(tmp_path, capsys) -> None:
    args = ["--cache", str(tmp_path / "cache"), "--out", str(tmp_path), "--seeds", "1", "--searchers", "random"]
    args += ["--suites", "branin,levy4", "--settings", "6x2,2r3"]
    external.main(args)
    assert "4 runs to do" in capsys.readouterr().err
    external.main(args)
    assert "0 runs to do" in capsys.readouterr().err
    text = (tmp_path / "external.md").read_text()
    assert "| searcher | seeds | dev score | held-out score |" in text and "2r3: the challenge's protocol" in text
    assert (tmp_path / "external.png").stat().st_size > 0
    assert "levy4" in (tmp_path / "external_objectives.md").read_text()


def _peer_run(name: str) -> list[float]:
    """A tiny seeded run of a peer on a mixed space (integer, log float, categorical)."""
    from experiments.lab.arms import make_searcher
    from experiments.lab.driver import run_search

    objective = Objective(
        "tiny",
        "mixed",
        {"a": tune.randint(0, 5), "b": tune.loguniform(1e-3, 1.0), "c": tune.choice(["x", "y"])},
        lambda c: float(c["a"]) + abs(np.log10(c["b"]) + 1) + (c["c"] == "y"),
        0.0,
        "tiny",
    )
    return run_search(make_searcher(name, 0, 8, 2), objective, 8, 2, order_seed=0).values


@pytest.mark.slow
@pytest.mark.parametrize("name", ["bohb", "smac"])
def test_plain_peers_are_seeded(name: str) -> None:
    pytest.importorskip({"bohb": "hpbandster", "smac": "smac"}[name])
    first = _peer_run(name)
    assert len(first) == 8 and first == _peer_run(name)


@pytest.mark.slow
def test_smac_finishes_on_an_exhausted_finite_space() -> None:
    pytest.importorskip("smac")
    from experiments.lab.arms import make_searcher

    objective = Objective("finite", "mixed", {"a": tune.randint(0, 3)}, lambda c: float(c["a"]), 0.0, "3 configs")
    record = run_batches(make_searcher("smac", 0, 8, 2), objective, budget=8, batch=2)
    assert sorted(record.values) == [0.0, 1.0, 2.0] and record.best == 0.0 and len(record.curve) == 8


class _SamePoint(RandomSearcher):
    """Suggests one config over and over."""

    def suggest(self, trial_id: str) -> dict:
        return {"a": 2, "b": 0.1, "c": "x"}


_MIXED = Objective(
    "mixed_tiny",
    "mixed",
    {"a": tune.randint(0, 5), "b": tune.loguniform(1e-3, 1.0), "c": tune.choice(["x", "y", "z"])},
    lambda c: float(c["a"]) + abs(np.log10(c["b"]) + 1) + (c["c"] == "y"),
    0.0,
    "tiny",
)


def test_diversity_of_configs_in_flight_is_recorded_in_the_unit_interval() -> None:
    from experiments.lab.driver import pending_diversity, run_search
    from ray_pgsearch import SearchSpace

    space = SearchSpace(_MIXED.space)
    corners = [{"a": 0, "b": 1e-3, "c": "x"}, {"a": 4, "b": 1.0, "c": "z"}]
    # randint(0, 5) encodes 0 and 4 at the centres of their bins (0.1, 0.9); the log float and category span all
    assert pending_diversity(space, corners) == pytest.approx(np.sqrt((0.8**2 + 1 + 1) / 3))
    assert pending_diversity(space, corners[:1] * 3) == 0.0
    spread = run_search(RandomSearcher(seed=0), _MIXED, budget=80, concurrency=8, order_seed=0)
    same = run_search(_SamePoint(seed=0), _MIXED, budget=80, concurrency=8, order_seed=0)
    for record in (spread, same):
        assert 8 <= len(record.diversity) <= 10  # once per 8 suggestions, each time the pending set is full
        assert all(0.0 <= d <= 1.0 for d in record.diversity)
    assert same.mean_diversity == 0.0 < 0.2 < spread.mean_diversity
    assert same.in_flight_duplicates == 79 and spread.in_flight_duplicates < 5
    assert run_search(RandomSearcher(seed=0), _MIXED, budget=8, concurrency=1, order_seed=0).diversity == []


def test_old_cached_runs_without_diversity_still_score_and_report(tmp_path) -> None:
    for seed in range(2):
        for name in ("branin", "hartmann6"):
            old = _fake_run("old", name, seed, [400.0, 300.0, 1.0, 400.0])  # cached before diversity was recorded
            RunCache(tmp_path).add("4x32", old)
            new = {**_fake_run("new", name, seed, [400.0] * 4), "diversity": [0.2, 0.4], "in_flight_duplicates": 1}
            RunCache(tmp_path).add("4x32", new)
    summary = external_report.score_runs(
        RunCache(tmp_path), searchers=["old", "new"], objectives=["branin", "hartmann6"]
    )
    dev = summary["settings"]["4x32@4"]["halves"][DEV]["searchers"]
    assert np.isnan(dev["old"]["diversity"]) and np.isnan(dev["old"]["in_flight_duplicates"])
    assert dev["new"]["diversity"] == pytest.approx(0.3) and dev["new"]["in_flight_duplicates"] == 1.0
    text, _ = external_report.markdown(summary, [], None)
    assert "## High concurrency 4x32" in text and "| dev diversity | held-out diversity | dups in flight |" in text
    assert "| 0.300 | 0.300 | 1.0 |" in text and "| — | — | — |" in text


def test_a_bad_paired_argument_stops_the_command_before_any_run(tmp_path, capsys) -> None:
    args = ["--cache", str(tmp_path), "--out", str(tmp_path), "--suites", "branin", "--settings", "4x2"]
    with pytest.raises(SystemExit):
        external.main(args + ["--paired", "random:nosuch"])
    assert "--paired takes a:b pairs" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing was run or cached


def test_the_high_concurrency_report_says_how_hebo_ran_or_that_it_did_not(tmp_path) -> None:
    for name in ("branin", "hartmann6"):
        RunCache(tmp_path).add("4x32", _fake_run("random", name, 0, [400.0, 300.0, 1.0, 400.0]))
    objectives = ["branin", "hartmann6"]
    without, _ = external_report.markdown(
        external_report.score_runs(RunCache(tmp_path), searchers=["random"], objectives=objectives), [], None
    )
    assert "HEBO is left out" in without and "HEBO suggests a whole batch" not in without
    RunCache(tmp_path).add("4x32", _fake_run("hebo", "branin", 0, [400.0] * 4))
    summary = external_report.score_runs(RunCache(tmp_path), searchers=["random", "hebo"], objectives=objectives)
    with_hebo, _ = external_report.markdown(summary, [], None)
    assert "HEBO suggests a whole batch" in with_hebo and "HEBO is left out" not in with_hebo
