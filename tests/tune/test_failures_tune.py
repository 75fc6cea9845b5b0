"""Trials that raise inside real Ray Tune runs: the search learns where they crash and moves away."""

from ray import tune

from ray_pgsearch import PGSearcher

SPACE = {
    "batch": tune.choice([16, 32, 64, 128, 256]),
    "width": tune.lograndint(16, 1025),
    "lr": tune.loguniform(1e-4, 1.0),
}


def train(config):
    """Out of memory when batch x width is too large; a NaN loss (diverged) past lr 0.1."""
    if config["batch"] * config["width"] > 16384:
        raise RuntimeError("CUDA out of memory")
    diverged = config["lr"] > 0.1
    width_gap = abs(config["width"] - 128) / 128
    return {"loss": float("nan") if diverged else width_gap + abs(config["lr"] - 0.05) + config["batch"] / 512}


def _fit(tmp_path, name, strength):
    searcher = PGSearcher(seed=0, failures={"strength": strength})
    tuner = tune.Tuner(
        train,
        param_space=SPACE,
        tune_config=tune.TuneConfig(
            search_alg=searcher, metric="loss", mode="min", num_samples=48, max_concurrent_trials=4, reuse_actors=True
        ),
        run_config=tune.RunConfig(
            storage_path=str(tmp_path), name=name, verbose=0, failure_config=tune.FailureConfig(max_failures=0)
        ),
    )
    return tuner.fit(), searcher


def test_trials_that_raise_or_diverge_teach_the_search_where_not_to_go(ray_local, tmp_path):
    results, searcher = _fit(tmp_path, "on", 10.0)
    view = searcher.view()
    nan = sum(1 for r in results if r.error is None and r.metrics.get("loss") != r.metrics.get("loss"))
    assert len(results) == 48  # nothing lost: every trial ran, finished or errored once
    assert view.n_crashed == results.num_errors + nan and view.n_told + view.n_crashed == 48
    best = results.get_best_result()
    assert best.config["batch"] * best.config["width"] <= 16384 and best.config["lr"] <= 0.1
    _, off = _fit(tmp_path, "off", 0.0)
    assert view.n_crashed < off.view().n_crashed  # the failure model is what kept the search away
