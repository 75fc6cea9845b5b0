"""Ray Tune's own example scripts (``ray/tune/examples/``) run as a user would run them with
PGSearcher in place of their search algorithm: the examples' trainables, spaces, schedulers,
stoppers and wrappers, shrunk to a few short trials. Every scheduler README.md names runs here with
PGSearcher (FIFO, ASHA, HyperBand, HyperBandForBOHB), and so do ``ConcurrencyLimiter`` and
``Repeater``. Each test checks that the trials ended and that the searcher learned from them.

The examples import their optional libraries (hyperopt, optuna) at the top; those tests are skipped
without them."""

from __future__ import annotations

import json
import os

import pytest
from ray import tune
from ray.tune.schedulers import AsyncHyperBandScheduler, HyperBandForBOHB, HyperBandScheduler
from ray.tune.search import ConcurrencyLimiter, Repeater
from ray.tune.utils.mock_trainable import MyTrainableClass

from ray_pgsearch import PGSearcher

NO_LIMIT_WARNING = "without tune.TuneConfig(max_concurrent_trials=N)"  # PGSearcher's warning
LOSS = ("mean_loss", "min")  # the examples' metrics and modes
REWARD = ("episode_reward_mean", "max")


def _fit(trainable, search_alg, tmp_path, param_space, objective, num_samples, **options):
    """tune.Tuner(...).fit() as the examples call it, with reused actors and a quiet run. ``objective``
    is (metric, mode); ``options`` go to TuneConfig (scheduler, max_concurrent_trials) or, for
    ``stop``, to RunConfig."""
    metric, mode = objective
    stop = options.pop("stop", None)
    tuner = tune.Tuner(
        trainable,
        param_space=param_space,
        tune_config=tune.TuneConfig(
            search_alg=search_alg, metric=metric, mode=mode, num_samples=num_samples, reuse_actors=True, **options
        ),
        run_config=tune.RunConfig(storage_path=str(tmp_path), name="exp", stop=stop, verbose=0),
    )
    return tuner.fit()


def _learns(trainable, searcher: PGSearcher, tmp_path, param_space, objective, num_samples, **options):
    """Runs the example with ``searcher`` (behind ``options["search_alg"]`` when a wrapper is given)
    and checks that every trial ended without an error, and that the searcher was told every
    result and updated its policy. Returns the results."""
    search_alg = options.pop("search_alg", searcher)
    results = _fit(trainable, search_alg, tmp_path, param_space, objective, num_samples, **options)
    assert len(results) == num_samples and results.num_errors == 0
    opt = searcher.optimizer  # Tune drives this very object in the driver process
    assert opt.n_told == num_samples and opt.view().n_updates > 0
    return results


class ReusableTrainable(MyTrainableClass):
    """Ray's mock trainable (hyperband_example.py, bohb_example.py) with what ``reuse_actors=True``
    asks of a class trainable: a ``reset_config`` that starts a new trial in the same actor."""

    def reset_config(self, new_config: dict) -> bool:
        self.setup(new_config)
        return True


def within_one(config: dict) -> bool:
    """ax_example.py's parameter constraint "x1 + x2 <= 2.0", tightened to 1.0 (on the unit box the
    example's own bound always holds)."""
    return config["x1"] + config["x2"] <= 1.0


def test_optuna_example_with_asha_behind_a_concurrency_limiter(ray_local, tmp_path, caplog):
    pytest.importorskip("optuna")
    from ray.tune.examples.optuna_example import easy_objective

    searcher = PGSearcher(seed=0)
    space = {
        "steps": 3,
        "width": tune.uniform(0, 20),
        "height": tune.uniform(-100, 100),
        "activation": tune.choice(["relu", "tanh"]),  # ignored by the trainable
    }
    limiter = ConcurrencyLimiter(searcher, max_concurrent=2)
    asha = AsyncHyperBandScheduler(max_t=3, grace_period=1)
    with caplog.at_level("WARNING", logger="ray_pgsearch"):
        results = _learns(easy_objective, searcher, tmp_path, space, LOSS, 8, search_alg=limiter, scheduler=asha)
    assert searcher.max_concurrent == 2 and NO_LIMIT_WARNING not in caplog.text  # the limiter told it
    best = results.get_best_result().config
    assert 0 <= best["width"] <= 20 and -100 <= best["height"] <= 100 and best["activation"] in ("relu", "tanh")


def test_hyperopt_conditional_space_example_as_a_tune_choice_of_dicts(ray_local, tmp_path):
    pytest.importorskip("hyperopt")
    from ray.tune.examples.hyperopt_conditional_search_space_example import easy_objective

    searcher = PGSearcher(seed=0)
    space = {  # the example's hp.choice of dicts, written with Tune's domains
        "activation": tune.choice([{"activation": "relu", "mult": tune.uniform(1, 2)}, {"activation": "tanh"}]),
        "width": tune.uniform(0, 20),
        "height": tune.uniform(-100, 100),
        "steps": 2,
    }
    asha = AsyncHyperBandScheduler(max_t=2, grace_period=1)
    results = _learns(easy_objective, searcher, tmp_path, space, LOSS, 8, scheduler=asha, max_concurrent_trials=2)
    branches = [r.config["activation"] for r in results]
    assert {b["activation"] for b in branches} == {"relu", "tanh"}  # both branches tried
    for branch in branches:  # only the chosen branch's parameters are filled in
        if branch["activation"] == "relu":
            assert set(branch) == {"activation", "mult"} and 1 <= branch["mult"] <= 2
        else:
            assert branch == {"activation": "tanh"}


def test_ax_example_with_its_parameter_constraint_and_a_stopper(ray_local, tmp_path):
    from ray.tune.examples.ax_example import easy_objective

    searcher = PGSearcher(seed=0, constraint=within_one)
    space = {"iterations": 5, **{f"x{i}": tune.uniform(0.0, 1.0) for i in range(1, 7)}}
    options = {"scheduler": AsyncHyperBandScheduler(max_t=5, grace_period=1), "max_concurrent_trials": 2}
    results = _learns(
        easy_objective, searcher, tmp_path, space, ("hartmann6", "min"), 8, stop={"timesteps_total": 2}, **options
    )
    assert all(within_one(r.config) for r in results)
    assert max(r.metrics["timesteps_total"] for r in results) == 2  # the stopper ended the longest ones
    assert results.get_best_result().metrics["hartmann6"] < 0


def test_async_hyperband_example(ray_local, tmp_path):
    from ray.tune.examples.async_hyperband_example import easy_objective

    searcher = PGSearcher(seed=0)
    space = {"steps": 3, "width": tune.uniform(10, 100), "height": tune.uniform(0, 100)}
    options = {
        "scheduler": AsyncHyperBandScheduler(grace_period=1, max_t=3, reduction_factor=2),
        "max_concurrent_trials": 2,
    }
    trainable = tune.with_resources(easy_objective, {"cpu": 1, "gpu": 0})
    results = _learns(trainable, searcher, tmp_path, space, LOSS, 8, stop={"training_iteration": 3}, **options)
    assert min(r.metrics["training_iteration"] for r in results) < 3  # ASHA stopped some early
    best = results.get_best_result().config
    assert 10 <= best["width"] <= 100 and 0 <= best["height"] <= 100


def test_hyperband_example_with_a_class_trainable(ray_local, tmp_path):
    searcher = PGSearcher(seed=0)
    space = {"width": tune.randint(10, 90), "height": tune.randint(0, 100)}
    hyperband = HyperBandScheduler(time_attr="training_iteration", max_t=9, reduction_factor=3)
    # HyperBand halves a bracket once all its trials reached a milestone: all 9 of them at once
    options = {"scheduler": hyperband, "stop": {"training_iteration": 9}, "max_concurrent_trials": 9}
    # halving stops paused trials, which end without a result of their own: PGSearcher learns their last one
    results = _learns(ReusableTrainable, searcher, tmp_path, space, REWARD, 9, **options)
    assert min(r.metrics["training_iteration"] for r in results) < 9
    best = results.get_best_result().config
    assert isinstance(best["width"], int) and 10 <= best["width"] < 90 and 0 <= best["height"] < 100


def test_hyperband_function_example_pauses_and_resumes_from_checkpoints(ray_local, tmp_path):
    from ray.tune.examples.hyperband_function_example import train_func

    searcher = PGSearcher(seed=0)
    hyperband = HyperBandScheduler(max_t=9, reduction_factor=3)
    options = {"scheduler": hyperband, "stop": {"training_iteration": 9}, "max_concurrent_trials": 6}
    results = _learns(train_func, searcher, tmp_path, {"height": tune.uniform(0, 100)}, REWARD, 6, **options)
    assert min(r.metrics["training_iteration"] for r in results) < 9
    assert 0 <= results.get_best_result().config["height"] <= 100


def test_custom_func_checkpointing_example_under_fifo(ray_local, tmp_path):
    from ray.tune.examples.custom_func_checkpointing import train_func

    searcher = PGSearcher(seed=0)
    space = {"steps": 10, "width": tune.randint(10, 100), "height": tune.loguniform(10, 100)}
    results = _learns(
        train_func, searcher, tmp_path, space, LOSS, 4, stop={"training_iteration": 3}, max_concurrent_trials=2
    )
    assert all(r.metrics["training_iteration"] == 3 for r in results)
    best = results.get_best_result()
    assert 10 <= best.config["width"] < 100 and 10 <= best.config["height"] <= 100
    with best.checkpoint.as_directory() as checkpoint_dir:  # the example's own checkpoint, kept by Tune
        with open(os.path.join(checkpoint_dir, "checkpoint.json")) as f:
            assert json.load(f) == {"step": 2}


def test_bohb_example_with_hyperband_for_bohb(ray_local, tmp_path):
    searcher = PGSearcher(seed=0)
    space = {
        "iterations": 4,  # unused by the trainable, as in the example
        "width": tune.uniform(0, 20),
        "height": tune.uniform(-100, 100),
        "activation": tune.choice(["relu", "tanh"]),
    }
    limiter = ConcurrencyLimiter(searcher, max_concurrent=2)
    bohb = HyperBandForBOHB(time_attr="training_iteration", max_t=4, reduction_factor=2, stop_last_trials=False)
    options = {"search_alg": limiter, "scheduler": bohb, "stop": {"training_iteration": 4}}
    _learns(ReusableTrainable, searcher, tmp_path, space, REWARD, 8, **options)


def _fit_repeated(searcher: PGSearcher, tmp_path):
    """Repeater(PGSearcher(), repeat=3) with three trials at once: two configs, three trials each."""
    from ray.tune.examples.tune_basic_example import easy_objective

    space = {"steps": 1, "width": tune.uniform(0, 20), "height": tune.uniform(-100, 100)}
    return _fit(easy_objective, Repeater(searcher, repeat=3), tmp_path, space, LOSS, 6, max_concurrent_trials=3)


def test_repeater_runs_each_config_three_times_and_tells_their_mean(ray_local, tmp_path):
    searcher = PGSearcher(seed=0)
    results = _fit_repeated(searcher, tmp_path)
    assert len(results) == 6 and results.num_errors == 0
    groups: dict = {}
    for r in results:
        config = {k: v for k, v in r.config.items() if k != "__trial_index__"}
        groups.setdefault(json.dumps(config, sort_keys=True), []).append(r.config["__trial_index__"])
    assert sorted(sorted(g) for g in groups.values()) == [[0, 1, 2], [0, 1, 2]]
    assert searcher.optimizer.n_told == 2  # one result per group: the mean of its three trials


def test_repeater_with_max_concurrent_trials_raises_no_missing_limit_warning(ray_local, tmp_path, caplog):
    searcher = PGSearcher(seed=0)
    with caplog.at_level("WARNING", logger="ray_pgsearch"):
        results = _fit_repeated(searcher, tmp_path)
    assert len(results) == 6 and results.num_errors == 0 and searcher.optimizer.n_told == 2
    assert NO_LIMIT_WARNING not in caplog.text
