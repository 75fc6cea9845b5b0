"""Several objectives: Chebyshev-scalarized rewards cover a known Pareto front better than random."""

import math

import numpy as np
from ray import tune

from ray_pgsearch import PGOptimizer, PGSearcher
from ray_pgsearch.pareto import hypervolume_2d, pareto_front, pareto_mask

SPACE = {"x1": tune.uniform(0.0, 1.0), "x2": tune.uniform(0.0, 1.0), "x3": tune.uniform(0.0, 1.0)}
MODES = ["min", "max"]
REFERENCE = [1.0, -10.0]  # (f1 at most 1, gain at least -10)


def zdt1(config):
    """ZDT1 in 3 variables, its second objective as a gain to maximize: the front is x2 = x3 = 0,
    gain = -(1 - sqrt(f1))."""
    f1 = config["x1"]
    g = 1 + 9 * (config["x2"] + config["x3"]) / 2
    return [f1, -g * (1 - math.sqrt(f1 / g))]


def test_pareto_mask_and_hypervolume_on_known_points():
    values = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.5, 0.5]])
    assert pareto_mask(values, ["min", "min"]).tolist() == [True, True, False, True]
    # rectangles to the reference (2, 2): 0.5 * 1 + 0.5 * 1.5 + 1 * 2
    assert math.isclose(hypervolume_2d(values, ["min", "min"], [2.0, 2.0]), 3.25)


def _hypervolume(values):
    return hypervolume_2d(np.array(values), MODES, REFERENCE)


def test_front_found_covers_the_known_front_better_than_random():
    true_front = [[f1, -(1 - math.sqrt(f1))] for f1 in np.linspace(0, 1, 200)]
    pg, rnd = [], []
    for seed in range(4):
        opt = PGOptimizer(SPACE, mode=MODES, seed=seed)
        values = []
        for _ in range(100):
            config = opt.ask()
            values.append(zdt1(config))
            opt.tell(config, values[-1])
        pg.append(_hypervolume(values))
        rng = np.random.default_rng(seed)
        rnd.append(_hypervolume([zdt1({k: rng.random() for k in SPACE}) for _ in range(100)]))
    assert np.mean(pg) > np.mean(rnd) and min(pg) > np.median(rnd)
    assert np.mean(pg) <= _hypervolume(true_front) + 1e-9


def train_zdt1(config):
    f1, gain = zdt1(config)
    tune.report({"f1": f1, "gain": gain})


def test_pgsearcher_with_a_metric_list_in_tune_and_the_front_helper(ray_local, tmp_path):
    tuner = tune.Tuner(
        train_zdt1,
        param_space=SPACE,
        tune_config=tune.TuneConfig(
            search_alg=PGSearcher(metric=["f1", "gain"], mode=MODES, seed=0),
            num_samples=16,
            max_concurrent_trials=2,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(storage_path=str(tmp_path), name="mo", verbose=0),
    )
    results = tuner.fit()
    front = pareto_front(results, ["f1", "gain"], MODES)
    assert 1 <= len(front) <= 16 and results.num_errors == 0
    assert all(not (o["f1"] <= p["f1"] and o["gain"] >= p["gain"] and o != p) for p in front for o in front)
    assert front == pareto_front(str(tmp_path / "mo"), ["f1", "gain"], MODES)
