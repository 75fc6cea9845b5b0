"""The failure model: configs that crash steer the search away, as evidence with a weight."""

import numpy as np
import pytest
from ray import tune

from ray_pgsearch import PGOptimizer, PGSearcher

SPACE = {"x": tune.uniform(0.0, 1.0), "kind": tune.choice(["a", "b"])}


def crashes(config: dict) -> bool:
    """Out of memory past x = 0.6 for kind "a"; kind "b" never crashes."""
    return config["kind"] == "a" and config["x"] > 0.6


def loss(config: dict) -> float:
    """Best at x = 0.58 with kind "a", right next to where "a" crashes."""
    return abs(config["x"] - 0.58) + (0.3 if config["kind"] == "b" else 0.0)


def run(strength: float, seed: int, n: int = 60, pending: int = 4) -> tuple[int, float, PGOptimizer]:
    opt = PGOptimizer(SPACE, seed=seed, failures={"strength": strength})
    live, crashed = [], 0
    for i in range(n):
        live.append((i, opt.ask(trial_id=i)))
        if len(live) < pending and i < n - 1:
            continue
        trial_id, config = live.pop(0)
        if crashes(config):
            crashed += 1
            opt.fail(trial_id)
        else:
            opt.tell(config, loss(config), trial_id=trial_id)
    return crashed, opt.best_value, opt


def test_the_search_crashes_less_and_still_finds_the_optimum_next_to_the_crash_region():
    on = [run(10.0, seed) for seed in range(6)]
    off = [run(0.0, seed) for seed in range(6)]
    assert np.mean([c for c, _, _ in on]) < 0.6 * np.mean([c for c, _, _ in off])
    assert np.mean([b for _, b, _ in on]) < 0.05  # the optimum lies 0.02 from the crash region
    assert all(opt.n_crashed == c for c, _, opt in on)


def test_nothing_changes_until_a_trial_fails():
    a = PGOptimizer(SPACE, seed=3)
    b = PGOptimizer(SPACE, seed=3, failures={"strength": 0.0})
    for _ in range(30):
        ca, cb = a.ask(), b.ask()
        assert ca == cb
        a.tell(ca, loss(ca))
        b.tell(cb, loss(cb))
    assert a.view().failure_estimate is None and a.n_crashed == 0


def test_what_counts_as_a_failure():
    opt = PGOptimizer(SPACE, seed=0)
    for i, value in enumerate([float("nan"), float("inf"), None, "oops"]):
        opt.tell(opt.ask(trial_id=i), value, trial_id=i)
    opt.ask(trial_id="cancelled")
    opt.forget("cancelled")  # stopped, cancelled: no evidence
    opt.ask(trial_id="oom")
    opt.fail("oom")
    opt.fail(config={"x": 0.9, "kind": "a"})  # a config run elsewhere that crashed
    assert opt.n_crashed == 4 and opt.n_failed == 7 and opt.n_told == 0
    with pytest.raises(ValueError):
        opt.fail(config={"x": 0.5})  # a config of another space


def test_a_region_with_finished_trials_is_not_banned_and_old_failures_fade():
    opt = PGOptimizer({"x": tune.uniform(0.0, 1.0)}, seed=0, failures={"halflife": 20.0})
    opt.fail(config={"x": 0.5})
    view = opt.view

    def p_fail(x: float) -> float:
        opt.ask(trial_id="probe")  # the estimate is taken for each config asked
        probe = opt._space.encode({"x": x})
        log_ok = opt._failures.log_ok(probe[None, :], opt._history, opt.n_told)
        opt.forget("probe")
        return float(1.0 - np.exp(log_ok[0]))

    alone = p_fail(0.5)
    for x in (0.1, 0.9, 0.15, 0.85):
        opt.tell({"x": x}, x)
    assert p_fail(0.5) == pytest.approx(alone, abs=0.05) and alone > 0.8  # nothing finished near 0.5
    for x in (0.49, 0.5, 0.51):
        opt.tell({"x": x}, x)
    assert p_fail(0.5) < 0.6  # a crash among finished trials is one data point among several
    for _ in range(60):
        opt.tell({"x": 0.1}, 0.1)
    assert p_fail(0.5) < 0.1  # 67 results later the failure weighs 2^(-67/20)
    assert view().failure_rate == pytest.approx(1 / 68)


def test_failure_evidence_survives_a_checkpoint(tmp_path):
    _, _, opt = run(10.0, seed=1, n=30)
    opt.save(str(tmp_path / "o"))
    restored = PGOptimizer.load(str(tmp_path / "o"))
    assert restored.n_crashed == opt.n_crashed > 0
    assert restored.view().failure_estimate == opt.view().failure_estimate
    assert [restored.ask() for _ in range(5)] == [opt.ask() for _ in range(5)]


def test_the_searcher_tells_crashes_from_trials_that_never_reported():
    searcher = PGSearcher(SPACE, metric="loss", mode="min", seed=0)
    for trial_id in "abcdef":
        searcher.suggest(trial_id)
    searcher.on_trial_complete("a", None, error=True)  # raised: a crash
    searcher.on_trial_complete("b", {"loss": float("nan")})  # diverged: a crash
    searcher.on_trial_complete("c", None)  # stopped by HyperBand while paused: no evidence
    searcher.on_trial_complete("d", {"other": 1.0})  # never reported the metric: no evidence
    searcher.on_trial_result("e", {"loss": 0.4, "training_iteration": 1})
    searcher.on_trial_complete("e", {"loss": float("inf")})  # learned from its last finite value
    searcher.on_trial_complete("f", {"loss": 0.2})
    opt = searcher.optimizer
    assert opt.n_crashed == 2 and opt.n_failed == 4 and opt.n_told == 2
