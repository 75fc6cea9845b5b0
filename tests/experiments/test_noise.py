"""The noisy suite and its study: the driver adds noise per evaluation and keeps the true values, a run is
reproducible, the study scores the config a searcher would return by its true value, and pure noise runs
keep the integer values asked."""

from __future__ import annotations

import numpy as np
import pytest

from experiments import noise as study
from experiments.lab.driver import execute, run_search
from experiments.lab.peers import RandomSearcher
from experiments.lab.protocol import DEV, HELD_OUT
from experiments.lab.suites import SUITES, get_objective, half_of
from experiments.lab.suites import noisy as suite


def test_the_suite_follows_the_halves_of_ours_with_pure_noise_in_each() -> None:
    noisy = SUITES["noisy"]
    assert set(noisy.dev) & set(suite.PURE_NOISE) and set(noisy.held_out) & set(suite.PURE_NOISE)
    for name in noisy.names:
        if name in suite.PURE_NOISE:
            continue
        base = name.removeprefix("noisy_")
        assert half_of(name) == half_of(base)
        objective, plain = get_objective(name), get_objective(base)
        assert objective.space is plain.space and objective.fn is plain.fn and objective.optimum == plain.optimum
        assert objective.noise == pytest.approx(suite.FRACTION * suite.spread(plain))
    assert half_of("pure_noise_int") == DEV and half_of("pure_noise_mixed") == HELD_OUT


def test_the_driver_adds_noise_per_evaluation_and_keeps_the_true_values() -> None:
    objective = get_objective("noisy_branin")
    record = run_search(RandomSearcher(seed=0), objective, 40, 4, order_seed=0, seed=3)
    values, truths = np.array(record.values), np.array(record.truths)
    assert truths.shape == values.shape == (40,)
    residuals = values - truths
    assert np.all(residuals != 0.0)
    assert abs(residuals.mean()) < 4 * objective.noise / np.sqrt(40)
    assert 0.5 * objective.noise < residuals.std() < 1.5 * objective.noise
    again = run_search(RandomSearcher(seed=0), objective, 40, 4, order_seed=0, seed=3)
    assert again.values == record.values and again.truths == record.truths  # the run's own generator
    other = run_search(RandomSearcher(seed=0), objective, 40, 4, order_seed=0, seed=4)
    assert other.truths == record.truths and other.values != record.values  # another seed: other noise


def test_a_noise_free_objective_keeps_no_true_values() -> None:
    run = execute("random", "branin", "10x2", 0)
    assert "truths" not in run
    noisy = execute("random", "noisy_branin", "10x2", 0)
    assert len(noisy["truths"]) == len(noisy["values"]) == 10


def test_the_returned_config_is_the_best_observed_one_judged_by_its_true_value() -> None:
    values, truths = [3.0, 1.0, 2.0, 0.5], [1.0, 2.5, 0.2, 0.9]
    assert study.returned(values, truths, 3) == (2.5, 0.2)
    assert study.returned(values, truths, 4) == (0.9, 0.2)


def test_a_pure_noise_run_keeps_the_integer_values_asked() -> None:
    run = study.run("random", "pure_noise_int", "30x3", 1)
    assert len(run["asked"]) == len(run["values"]) == 30
    assert all(-9 <= v < 15 for v in run["asked"]) and len(set(run["asked"])) > 10
    assert study.domain_size("pure_noise_int") == 24 and study.domain_size("pure_noise_mixed") == 8


def test_the_quick_study_writes_its_report(tmp_path) -> None:
    study.main(["--quick", "--out", str(tmp_path)])
    text = (tmp_path / "noise.md").read_text()
    assert "True value of the returned config" in text and "noisy_branin" in text
    assert (tmp_path / "noise.json").exists()
