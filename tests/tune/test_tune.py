"""PGSearcher inside real Ray Tune runs (local 2-CPU Ray, actors reused)."""

import math
import time

import numpy as np
import pytest
from ray import tune
from ray.tune.schedulers import ASHAScheduler

from ray_pgsearch import PGSearcher

SPACE = {
    "model": {"x": tune.uniform(-2.0, 2.0), "width": 32},
    "opt": {"lr": tune.loguniform(1e-4, 1.0)},
    "act": tune.choice(["relu", "tanh", "gelu"]),
}


def known_loss(config):
    """Minimum 0 at x = 0.5, lr = 1e-2, act = relu."""
    x, lr = config["model"]["x"], config["opt"]["lr"]
    return (x - 0.5) ** 2 + (math.log10(lr) + 2.0) ** 2 / 4 + {"relu": 0.0, "tanh": 0.5, "gelu": 1.0}[config["act"]]


def train_known(config):
    tune.report({"loss": known_loss(config)})


def train_curve(config):
    """Three iterations whose final value is known_loss: ASHA sees improving learning curves."""
    for it in range(1, 4):
        tune.report({"loss": known_loss(config) + 1.0 / it})


def train_timed(config):
    start = time.time()
    time.sleep(1.5)  # longer than a new worker's start, so trials that may overlap do
    tune.report({"loss": config["model"]["x"], "start": start, "end": time.time()})


def train_fails(config):
    raise RuntimeError("this trainable always fails")


def _fit(trainable, searcher, tmp_path, num_samples, **tune_config):
    tuner = tune.Tuner(
        trainable,
        param_space=SPACE,
        tune_config=tune.TuneConfig(
            search_alg=searcher, metric="loss", mode="min", num_samples=num_samples, reuse_actors=True, **tune_config
        ),
        run_config=tune.RunConfig(storage_path=str(tmp_path), name="exp", verbose=0),
    )
    return tuner.fit()


def _random_search_median(n_trials, repeats=400):
    """Median best loss of random search with n_trials, from Tune's own samplers."""
    rng = np.random.default_rng(0)
    bests = []
    for _ in range(repeats):
        values = []
        for _ in range(n_trials):
            config = {
                "model": {"x": SPACE["model"]["x"].sample(random_state=rng)},
                "opt": {"lr": SPACE["opt"]["lr"].sample(random_state=rng)},
                "act": SPACE["act"].sample(random_state=rng),
            }
            values.append(known_loss(config))
        bests.append(min(values))
    return float(np.median(bests))


def test_tuner_run_beats_the_random_search_median(ray_local, tmp_path):
    results = _fit(train_known, PGSearcher(seed=0), tmp_path, 30, max_concurrent_trials=2)
    assert len(results) == 30 and results.num_errors == 0
    best = results.get_best_result()
    assert best.config["model"]["width"] == 32  # constants survive
    assert best.metrics["loss"] < _random_search_median(30)


@pytest.mark.parametrize("limit, expected", [(1, 1), (2, 2)])
def test_max_concurrent_trials_sets_how_many_run_at_once(ray_local, tmp_path, limit, expected):
    results = _fit(train_timed, PGSearcher(seed=0), tmp_path, 4, max_concurrent_trials=limit)
    spans = [(r.metrics["start"], r.metrics["end"]) for r in results]
    overlap = max(sum(s <= t < e for s, e in spans) for t, _ in spans)
    assert overlap == expected


def test_without_a_limit_pgsearcher_warns_and_names_the_fix(ray_local, tmp_path, caplog):
    """Ray 2.60 keeps at most one trial pending for a custom searcher without a ConcurrencyLimiter,
    so new trials start one at a time (0.5 s trials ran strictly one after another here, 1.5 s
    trials overlapped two at a time); PGSearcher warns and names the fix."""
    with caplog.at_level("WARNING", logger="ray_pgsearch"):
        results = _fit(train_timed, PGSearcher(seed=0), tmp_path, 2)
    assert len(results) == 2 and results.num_errors == 0
    assert "max_concurrent_trials" in caplog.text


def test_asha_stopped_trials_are_learned_from(ray_local, tmp_path):
    searcher = PGSearcher(seed=0)
    scheduler = ASHAScheduler(max_t=3, grace_period=1, reduction_factor=2)
    results = _fit(train_curve, searcher, tmp_path, 20, scheduler=scheduler, max_concurrent_trials=2)
    assert len(results) == 20 and results.num_errors == 0
    assert min(r.metrics["training_iteration"] for r in results) == 1  # ASHA did stop some early


def test_a_trainable_that_always_fails_ends_cleanly_and_leaves_the_policy_alone(ray_local, tmp_path):
    searcher = PGSearcher(seed=0)
    results = _fit(train_fails, searcher, tmp_path, 4, max_concurrent_trials=2)
    assert len(results) == 4 and results.num_errors == 4
    assert all("always fails" in str(r.error) for r in results)
    opt = searcher.optimizer  # Tune drives this very object in the driver process
    view = opt.view()
    assert opt.n_asked == 4 and opt.n_failed == 4 and opt.n_told == 0 and view.n_updates == 0
    assert all(p.latent_mean == 0.5 for p in view.numeric)
    assert all(len(set(c.probabilities)) == 1 for c in view.choices)
