"""PGSearcher under early-stopping schedulers: rung-aware values and fewer iterations to a target."""

import math
import time

import numpy as np
from ray import tune
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search.basic_variant import BasicVariantGenerator

from ray_pgsearch import PGSearcher
from ray_pgsearch._rungs import RungCalibrator

SPACE = {"x": tune.uniform(-2.0, 2.0), "lr": tune.loguniform(1e-4, 1.0), "act": tune.choice(["relu", "tanh", "gelu"])}
MAX_T = 9
TARGET = 0.33


def final_loss(config):
    """What a config converges to: minimum 0 at x = 0.5, lr = 1e-2, act = relu."""
    return (
        (config["x"] - 0.5) ** 2
        + (math.log10(config["lr"]) + 2.0) ** 2 / 4
        + {"relu": 0.0, "tanh": 0.4, "gelu": 0.8}[config["act"]]
    )


def train_curve(config):
    """A learning curve that falls from final + 2 to final + 2 / MAX_T."""
    for t in range(1, MAX_T + 1):
        tune.report({"loss": final_loss(config) + 2.0 / t, "wall": time.time()})


def test_calibrator_maps_rung_quantiles_to_final_quantiles():
    cal = RungCalibrator(min_count=3)
    for v in (5.0, 6.0, 7.0, 8.0):  # iteration 1: less trained, higher losses
        cal.observe(1, v)
    for v in (1.0, 2.0, 3.0):  # iteration 9
        cal.observe(9, v)
    assert cal.calibrate(1, 4.0) == 1.0  # better than its whole rung -> the best final value
    assert cal.calibrate(1, 9.0) == 3.0  # worse than its rung -> the worst final value
    assert cal.calibrate(1, 6.5) == 2.0  # the middle of its rung -> the median final value
    assert cal.calibrate(9, 2.5) == 2.5  # reached the longest length: raw value
    assert RungCalibrator().calibrate(1, 4.0) == 4.0  # no reference yet: raw value


def _iterations_to_target(searcher, seed, tmp_path):
    """Training iterations spent (all trials, in time order) until a result reaches TARGET."""
    tuner = tune.Tuner(
        train_curve,
        param_space=SPACE,
        tune_config=tune.TuneConfig(
            search_alg=searcher,
            metric="loss",
            mode="min",
            num_samples=60,
            scheduler=ASHAScheduler(max_t=MAX_T, grace_period=1, reduction_factor=3),
            max_concurrent_trials=1,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(storage_path=str(tmp_path), name=f"asha{seed}", verbose=0),
    )
    results = tuner.fit()
    rows = sorted((row.wall, row.loss) for r in results for row in r.metrics_dataframe.itertuples())
    reached = [i for i, (_, loss) in enumerate(rows, 1) if loss <= TARGET]
    return reached[0] if reached else len(rows) + 1


def test_pg_with_asha_reaches_the_target_in_fewer_iterations_than_random(ray_local, tmp_path):
    seeds = [0, 1, 2]
    pg = [_iterations_to_target(PGSearcher(seed=s), s, tmp_path / "pg") for s in seeds]
    rnd = [_iterations_to_target(BasicVariantGenerator(random_state=s), s, tmp_path / "rnd") for s in seeds]
    print("iterations to target: PG", pg, "random", rnd)
    assert np.mean(pg) < np.mean(rnd)


def test_an_ask_works_when_no_running_trial_counts_as_good():
    """HyperBand paused the best trials of a rung before any trial finished: the running ones all
    rank below the best gamma there, so the model's good group is empty; the candidates then come
    from the policy alone (this used to raise inside the model's sampler)."""
    from ray_pgsearch import PGOptimizer

    opt = PGOptimizer({"x": tune.uniform(0, 1), "c": tune.choice(["a", "b"])}, seed=0, startup={"size": 0})
    for trial_id in range(8):
        opt.ask(trial_id=trial_id)
    for trial_id in range(8):
        opt.report(trial_id, float(trial_id), level=1)  # trial 0 is the best at level 1
    opt.forget(0)
    opt.forget(1)  # the best two are paused for good, without a final result
    config = opt.ask(trial_id=99)
    assert 0.0 <= config["x"] <= 1.0 and config["c"] in ("a", "b")


def test_running_trials_that_report_steer_the_next_suggestions_before_any_finishes():
    """Eight trials running under FIFO, none finished: their first-epoch losses (which rank configs
    as their final losses do) already guide the next eight suggestions, where a searcher that waits
    for completions can only sample its prior."""
    from ray_pgsearch import PGOptimizer

    losses = {}
    for reported in (False, True):
        following = []
        for seed in range(10):
            opt = PGOptimizer(SPACE, seed=seed, startup={"size": 8})
            running = [(i, opt.ask(trial_id=i)) for i in range(8)]
            if reported:
                for trial_id, config in running:
                    opt.report(trial_id, final_loss(config) + 2.0, level=1)
            following += [final_loss(opt.ask(trial_id=100 + i)) for i in range(8)]
        losses[reported] = np.mean(following)
    assert losses[True] < 0.8 * losses[False]
