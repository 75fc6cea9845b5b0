"""The time-to-solution study: the surrogate learning curves' properties, and a quick path through real
Ray Tune that ends after a number of trials (never a wall-clock budget), asserting structure only."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from experiments import lc_surrogate, time_to_solution
from experiments import time_to_solution_tune as tts
from experiments.lab.peers import RandomSearcher
from experiments.lab.protocol import Setting
from experiments.lab.spaces import sample_config


def configs(n: int, seed: int = 0) -> list[dict]:
    """`n` uniform draws from the surrogate's space."""
    rng = np.random.default_rng(seed)
    return [sample_config(lc_surrogate.SPACE, rng) for _ in range(n)]


def test_curves_are_deterministic_given_the_seed() -> None:
    for config in configs(20):
        a, b = lc_surrogate.curve(config, seed=3), lc_surrogate.curve(config, seed=3)
        assert np.array_equal(a, b, equal_nan=True)
        assert not np.array_equal(a, lc_surrogate.curve(config, seed=4), equal_nan=True)  # the noise is the seed's


def test_state_steps_continue_a_curve_after_a_checkpoint() -> None:
    config = configs(1)[0]
    state = lc_surrogate.State()
    first = [state.step(config, 0) for _ in range(4)]
    restored = lc_surrogate.State(**json.loads(json.dumps(state.__dict__)))
    rest = [restored.step(config, 0) for _ in range(lc_surrogate.MAX_EPOCHS - 4)]
    assert np.allclose(first + rest, lc_surrogate.curve(config, 0))


def test_curves_cross_fast_starters_end_worse() -> None:
    """Among random configs, some pair is ordered one way after the first epoch and the other way at
    the end: early ranking (ASHA's first rung) misleads."""
    curves = np.array([lc_surrogate.curve(c, 0) for c in configs(200)])
    first, last = curves[:, 0], np.nanmin(curves, axis=1)
    crossed = (first[:, None] < first[None, :]) & (last[:, None] > last[None, :])
    assert crossed.sum() > 100
    # a high lr (above the best) starts faster and ends worse than the best lr
    best = dict(lc_surrogate.ground_truth()[1])
    fast = {**best, "lr": best["lr"] * 10}
    good, hot = lc_surrogate.curve(best, 0), lc_surrogate.curve(fast, 0)
    assert hot[0] < good[0] and np.min(hot) > np.min(good)


def test_some_configs_diverge() -> None:
    curves = np.array([lc_surrogate.curve(c, 0) for c in configs(300)])
    diverged = curves[:, -1] >= lc_surrogate.DIVERGED * 0.9
    assert 0.05 < diverged.mean() < 0.6
    # some diverge late: they looked good after the first epoch
    late = diverged & (curves[:, 0] < np.median(curves[:, 0]))
    assert late.any()
    config = next(c for c, d in zip(configs(300), diverged, strict=True) if d)
    assert np.isnan(lc_surrogate.curve(config, 0, nan_on_divergence=True)[-1])


def test_ground_truth_is_the_best_any_config_reaches() -> None:
    truth, config = lc_surrogate.ground_truth()
    assert round(truth, 4) == lc_surrogate.GROUND_TRUTH
    assert lc_surrogate.noiseless_best(dict(config)) == pytest.approx(truth)
    best = min(lc_surrogate.noiseless_best(c) for c in configs(5000, seed=1))
    assert truth <= best
    # near the best config (each value nudged) no config does better either
    rng = np.random.default_rng(2)
    for _ in range(300):
        nudged = dict(config)
        nudged["lr"] *= float(np.exp(rng.normal(0, 0.1)))
        nudged["dropout"] = float(np.clip(nudged["dropout"] + rng.normal(0, 0.03), 0.0, 0.7))
        nudged["width"] = int(np.clip(nudged["width"] + rng.integers(-40, 41), 16, 1023))
        nudged["weight_decay"] *= float(np.exp(rng.normal(0, 0.3)))
        assert lc_surrogate.noiseless_best(nudged) >= truth - 1e-12


def test_bigger_models_cost_more_time_per_epoch() -> None:
    small = {"width": 32, "depth": 1, "batch_size": 128, "epoch_seconds": 1.0}
    big = {"width": 1000, "depth": 8, "batch_size": 128, "epoch_seconds": 1.0}
    assert lc_surrogate.epoch_seconds(big) > 3 * lc_surrogate.epoch_seconds(small)


def test_best_k_curve_is_the_mean_of_the_k_best_trials_so_far() -> None:
    events = [
        (0.5, "a", 0.9),
        (1.0, "b", 0.8),
        (1.5, "a", 0.3),
        (2.0, "c", np.nan),
        (2.5, "c", 0.7),
        (3.0, "b", 0.95),
        (3.5, "d", 0.1),
    ]
    times, curve = tts.best_k_curve(events, k=2)
    assert list(times) == [e[0] for e in events]
    assert np.isnan(curve[0])  # one trial so far
    assert np.allclose(curve[1:], [0.85, 0.55, 0.55, 0.5, 0.5, 0.2])  # each trial's best; NaN losses skipped
    run = tts.Run(events=events, finished=["a", "b"])
    assert run.trials == 4 and run.epochs == 7 and run.epochs_per_finished_trial() == 2.0
    grid = np.array([0.0, 1.0, 1.2, 3.0, 4.0])
    assert np.allclose(tts.on_grid(run, grid, k=2), [np.nan, 0.85, 0.85, 0.5, 0.2], equal_nan=True)
    again = tts.Run.from_json(json.loads(json.dumps(run.to_json())))
    assert again.finished == run.finished and np.array_equal(
        np.array([e[2] for e in again.events]), np.array([e[2] for e in events]), equal_nan=True
    )


def test_start_gate_opens_once_every_slot_arrived(tmp_path: Path) -> None:
    gate = str(tmp_path / "gate")
    stopper = tts.GateBudget(gate, budget=0.0)
    assert tts.open_time(gate) is None and not stopper.stop_all()  # closed: the clock has not started
    tts.wait_at_gate(gate, slots=1)  # this process is the only slot
    opened = tts.open_time(gate)
    assert opened is not None and stopper.stop_all()  # a zero budget is spent as soon as it opens
    tts.wait_at_gate(gate, slots=5)  # an open gate lets every later trial pass
    assert tts.open_time(gate) == opened


def test_dead_slots_do_not_count_at_the_gate(tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    (tmp_path / f"slot-{os.getpid()}").touch()
    (tmp_path / f"slot-{dead.pid}").touch()
    assert tts.live_slots(tmp_path) == 1
    assert not (tmp_path / f"slot-{dead.pid}").exists()


def test_time_to_target_and_target() -> None:
    grid = np.array([0.0, 1.0, 2.0, 3.0])
    curves = np.array([[np.nan, 0.5, 0.3, 0.2], [np.nan, np.nan, 0.6, 0.4]])
    assert list(time_to_solution.time_to_target(curves, grid, 0.4)) == [2.0, 3.0]
    assert list(time_to_solution.time_to_target(curves, grid, 0.1)) == [np.inf, np.inf]


@pytest.mark.slow
def test_quick_study_through_tune(ray_local: None, tmp_path: Path) -> None:
    """Every surrogate strategy and the CNN's through real Tune, each run ending after a number of trials
    (PBT: when its population has trained), with no sleep: structure only, no times."""
    runs = time_to_solution.main(["--quick", "--concurrency", "2", "--out", str(tmp_path)])
    text = (tmp_path / "time_to_solution.md").read_text()
    data = json.loads((tmp_path / "time_to_solution.json").read_text())
    assert (tmp_path / "time_to_solution.png").stat().st_size > 0
    settings = {setting.workload: setting for setting in runs}
    assert set(settings) == {"surrogate", "cnn"} and len(data) == 2
    for setting, strategies in runs.items():
        pool = time_to_solution.STRATEGIES if setting.workload == "surrogate" else time_to_solution.CNN_STRATEGIES
        assert list(strategies) == [s for s in pool if tts.installed(s)]
        for strategy, (run,) in strategies.items():
            assert f"| {strategy} |" in text
            assert run.trials > 0 and run.epochs >= run.trials
            _, curve = tts.best_k_curve(run.events)
            defined = curve[np.isfinite(curve)]
            assert defined.size and np.all(np.diff(defined) <= 0)  # the best-6 mean loss never increases
            if strategy != tts.PBT:
                assert len(run.finished) == tts.QUICK_TRIALS  # the trial budget ends the run
            per_trial = run.epochs_per_finished_trial()
            if strategy.endswith("FIFO"):
                assert per_trial == setting.epochs  # FIFO trains every trial to the end
            if strategy.endswith(("ASHA", "HyperBand")) or strategy == tts.BOHB:
                assert per_trial < setting.epochs  # the scheduler stops some trials early
    (pbt,) = runs[settings["surrogate"]][tts.PBT]
    assert pbt.trials == tts.BEST and len(pbt.finished) == tts.BEST
    # a second call loads every run from the cache; --rerun runs the named strategies again
    again = time_to_solution.main(["--quick", "--concurrency", "2", "--workload", "surrogate", "--out", str(tmp_path)])
    (cached,) = again[settings["surrogate"]]["random + ASHA"]
    assert cached.events == runs[settings["surrogate"]]["random + ASHA"][0].events
    partial = time_to_solution.main(
        ["--quick", "--concurrency", "2", "--workload", "surrogate", "--strategies", "random*", "BOHB"]
        + ["--rerun", "random + FIFO", "--out", str(tmp_path)]
    )
    expected = ["random + FIFO", "random + ASHA", "random + HyperBand", "BOHB"]
    assert list(partial[settings["surrogate"]]) == [s for s in expected if tts.installed(s)]


class FailingSearcher(RandomSearcher):
    """Random search whose third suggestion raises, as a searcher's bug would."""

    def __init__(self) -> None:
        super().__init__(seed=0)
        self.calls = 0

    def suggest(self, trial_id: str) -> dict:
        self.calls += 1
        if self.calls == 3:
            raise ValueError("a searcher's bug")
        return super().suggest(trial_id)


@pytest.mark.slow
def test_a_crashing_searcher_ends_its_run_not_the_study(
    ray_local: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tts, "strategy_searcher", lambda name, seed, concurrency: FailingSearcher())
    panel = tts.Panel("surrogate", Setting(tts.QUICK_TRIALS, 2))
    run = tts.tune_strategy("random + FIFO", 0, panel, str(tmp_path))
    assert run.crash == "ValueError: a searcher's bug"
    # the third suggestion comes once a trial has ended (2 at a time): it trained all its epochs
    assert len(run.finished) >= 1 and run.epochs >= tts.QUICK_EPOCHS
