"""Bayesmark's own score (`stats.bayesmark_score`) against bayesmark 0.0.8's arithmetic, and the lab's bayesmark
losses against the package's `SklearnModel`."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
from scipy.special import gammaln, logsumexp

from experiments import external_report
from experiments.lab import stats
from experiments.lab.cache import RunCache
from experiments.lab.protocol import DEV, HELD_OUT
from experiments.lab.suites import SUITES, get_objective

RANDOM = 0  # the random-search method's index in `_study`


def _study(seed: int = 0) -> np.ndarray:
    """Synthetic evaluations, iterations x suggestions x problems x methods x trials, as bayesmark's `perf_da`:
    method 0 is random search, method 2 is mostly worse than random search's median (clipped at 1); problem 1
    is on another scale, problem 2 has ties."""
    rng = np.random.default_rng(seed)
    values = rng.lognormal(size=(5, 4, 3, 3, 6))
    values[:, :, 1] = 1000.0 + 50.0 * values[:, :, 1]
    values[:, :, 2] = np.round(values[:, :, 2], 1)
    values[:, :, :, 2] += 2.0
    return values


def _package_arithmetic(values: np.ndarray) -> dict:
    """A direct transcription of bayesmark 0.0.8's `compute_baseline` (`PERF_BEST`, `PERF_CLIP`, `PERF_MEAN`) and
    `compute_aggregates` (`NORMED_MEAN` per problem; `summary[PERF_MEAN]`, `summary[NORMED_MEAN]`) on numpy
    arrays, without visible losses (`visible_perf_da=None`)."""
    n_iter, n_suggest, n_problems, n_methods, _ = values.shape
    trials_grid = n_suggest * (1 + np.arange(n_iter))
    normed = np.zeros((n_iter, n_methods, n_problems))
    baseline = np.zeros((n_iter, n_problems))
    for p in range(n_problems):
        random_evals = np.ravel(values[:, :, p, RANDOM, :])
        # quantiles.quantile(X, 0.5): order statistic ceil(n q) of [-inf, sorted X, inf]
        order = np.concatenate([[-np.inf], np.sort(random_evals), [np.inf]])
        clip = order[int(np.ceil(random_evals.size * 0.5))]
        best_opt = np.min(values[:, :, p])
        best_opt = best_opt + 10000 * np.spacing(-np.maximum(np.nextafter(0, 1), np.abs(best_opt)))
        random_evals = np.minimum(clip, random_evals)
        # expected_max.expected_min(x, m) = -expected_max(-x, m), L-estimator weights from gammaln
        x = np.sort(-random_evals)
        kk = 1 + np.arange(x.size)
        m = trials_grid[:, None]
        with np.errstate(invalid="ignore"):
            lpdf = gammaln(kk) - gammaln(kk - (m - 1))
        pdf = np.exp(lpdf - logsumexp(lpdf, axis=-1, keepdims=True))
        rand_perf = np.minimum.accumulate(np.minimum(clip, -np.sum(x * pdf, axis=-1)))
        baseline[:, p] = (rand_perf - best_opt) / (clip - best_opt)  # linear_rescale to (0, 1)
        for j in range(n_methods):
            perf_array = np.minimum.accumulate(values[:, :, p, j, :].min(axis=1), axis=0)
            normed[:, j, p] = np.clip((perf_array - best_opt) / (clip - best_opt), -1.0, 1.0).mean(axis=1)
    mean = normed.mean(axis=2)
    return {"problems": normed, "random": baseline, "mean": mean, "normed_mean": mean / baseline.mean(axis=1)[:, None]}


def _lab_score(values: np.ndarray, iteration: int, method: int) -> dict:
    """`stats.bayesmark_score` on the same study: each trial's best after (iteration + 1) batches."""
    n_problems = values.shape[2]
    best = {p: np.minimum.accumulate(values[:, :, p, method, :].min(axis=1), axis=0)[iteration] for p in range(3)}
    random_values = {p: np.ravel(values[:, :, p, RANDOM, :]) for p in range(n_problems)}
    seen = {p: float(values[:, :, p].min()) for p in range(n_problems)}
    return stats.bayesmark_score(best, random_values, seen, values.shape[1] * (iteration + 1))


def _assert_same(values: np.ndarray, expected: dict) -> None:
    for iteration in range(values.shape[0]):
        for method in range(values.shape[3]):
            found = _lab_score(values, iteration, method)
            assert [found["problems"][p] for p in range(3)] == pytest.approx(expected["problems"][iteration, method])
            assert [found["random"][p] for p in range(3)] == pytest.approx(expected["random"][iteration])
            assert found["mean"] == pytest.approx(expected["mean"][iteration, method])
            assert found["normed_mean"] == pytest.approx(expected["normed_mean"][iteration, method])
            assert found["leaderboard"] == pytest.approx(100 * (1 - expected["mean"][iteration, method]))
            assert found["score"] == pytest.approx(100 * (1 - expected["normed_mean"][iteration, method]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bayesmark_score_follows_the_packages_arithmetic(seed: int) -> None:
    values = _study(seed)
    expected = _package_arithmetic(values)
    assert np.any(expected["problems"] == 1.0) or np.any(expected["problems"][:, 2] > 0.9)  # clipping is exercised
    _assert_same(values, expected)


def test_bayesmark_score_matches_the_package_itself() -> None:
    """The real `compute_baseline` and `compute_aggregates` on the same synthetic xarray data (bayesmark 0.0.8
    imports on numpy 2 with `np.float_` / `np.unicode_` aliased, which `import_bayesmark` does)."""
    pytest.importorskip("bayesmark")
    xr = pytest.importorskip("xarray")
    from experiments.lab.suites.bayesmark import import_bayesmark

    import_bayesmark()
    pytest.importorskip("git")  # bayesmark.cmd_parse, imported by the analysis, needs GitPython and pathvalidate
    pytest.importorskip("pathvalidate")
    import bayesmark.constants as cc
    from bayesmark.experiment_analysis import compute_aggregates
    from bayesmark.experiment_baseline import compute_baseline

    values = _study(3)
    methods = ["RandomSearch_0.0.1", "a", "b"]
    dims = (cc.ITER, cc.SUGGEST, cc.TEST_CASE, cc.METHOD, cc.TRIAL)
    coords = dict(zip(dims, [np.arange(n) for n in values.shape], strict=True))
    coords.update({cc.TEST_CASE: ["p0", "p1", "p2"], cc.METHOD: methods})
    perf_da = xr.DataArray(values, dims=dims, coords=coords)
    baseline_ds = compute_baseline(perf_da)
    agg_result, summary = compute_aggregates(perf_da, baseline_ds)
    expected = {
        "problems": agg_result[cc.NORMED_MEAN].transpose(cc.ITER, cc.METHOD, cc.TEST_CASE).values,
        "random": (baseline_ds[cc.PERF_MEAN] - baseline_ds[cc.PERF_BEST])
        / (baseline_ds[cc.PERF_CLIP] - baseline_ds[cc.PERF_BEST]),
        "mean": summary[cc.PERF_MEAN].transpose(cc.ITER, cc.METHOD).values,
        "normed_mean": summary[cc.NORMED_MEAN].transpose(cc.ITER, cc.METHOD).values,
    }
    expected["random"] = expected["random"].transpose(cc.ITER, cc.TEST_CASE).values
    _assert_same(values, expected)


def test_random_search_scores_zero_and_the_best_loss_a_hundred() -> None:
    """Runs of random search (draws without replacement from the random values) score 0 on average at any
    budget; runs that all reach the best loss score 100."""
    rng = np.random.default_rng(0)
    random_values = {"a": rng.normal(size=300), "b": 5.0 + rng.exponential(size=300)}
    seen = {p: float(v.min()) for p, v in random_values.items()}
    for budget in (1, 8, 64):
        draws = {
            p: np.array([rng.choice(v, budget, replace=False).min() for _ in range(4000)])
            for p, v in random_values.items()
        }
        found = stats.bayesmark_score(draws, random_values, seen, budget)
        assert found["score"] == pytest.approx(0.0, abs=3.0)
        assert found["leaderboard"] == pytest.approx(100 * (1 - np.mean(list(found["random"].values()))), abs=1.0)
    at_best = stats.bayesmark_score({p: np.full(3, seen[p]) for p in seen}, random_values, seen, 32)
    assert at_best["score"] == pytest.approx(100.0) and at_best["problems"]["a"] == pytest.approx(0.0, abs=1e-9)
    assert at_best["problems"]["a"] > 0  # the pad puts the best loss a hair above 0


def test_one_run_cannot_dominate_a_problems_mean() -> None:
    """A problem where random search's expected best is almost the best loss: a run a little worse than that is
    hundreds of points below random search on the lab's scale, but its normalized value stays within [-1, 1]."""
    rng = np.random.default_rng(1)
    flat = np.concatenate([[0.0], 1.0 + rng.uniform(size=999)])  # the best loss is rare, the rest 1..2
    flat[1:300] = 0.001  # random search finds 0.001 within a few draws
    random_best = stats.expected_best(flat, 32)
    lab = stats.score(np.array([0.5, 0.001]), random_best, 0.0)
    assert lab[0] < -1000  # one run worse than random search's typical best
    found = stats.bayesmark_score({"flat": np.array([0.5, 0.001])}, {"flat": flat}, {"flat": 0.0}, 32)
    assert 0.0 <= found["runs"]["flat"][0] <= 1.0 and found["problems"]["flat"] < 0.5
    worst = stats.bayesmark_score({"flat": np.array([1e9])}, {"flat": flat}, {"flat": 0.0}, 32)
    assert worst["problems"]["flat"] == 1.0  # anything worse than random search's median counts as the median


def test_bayesmark_score_refuses_what_the_package_would_assert() -> None:
    values = {"p": np.arange(10.0)}
    with pytest.raises(ValueError, match="expected best"):
        stats.bayesmark_score({"p": np.array([1.0])}, values, {"p": 0.0}, 11)
    with pytest.raises(ValueError, match="finite"):
        stats.bayesmark_score({"p": np.array([np.nan])}, values, {"p": 0.0}, 4)


def _write_sample(cache: RunCache, objective: str, values: np.ndarray) -> None:
    """A dense random sample as `RunCache.sample` stores it (size and seed of the lab's model objectives)."""
    path = cache.root / "samples" / f"{objective}.jsonl.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    row = {"objective": objective, "size": len(values), "seed": 0, "values": values.tolist()}
    with gzip.open(path, "wt") as f:
        f.write(json.dumps(row) + "\n")


def test_the_external_report_scores_bayesmark_as_the_challenge_did(tmp_path) -> None:
    """Runs of two searchers on every bayesmark problem under 16 rounds of 8: Bayesmark's score after 32, 64 and
    128 evaluations per half, the package's score per problem, problems won, and the section in external.md."""
    pytest.importorskip("bayesmark")
    from experiments.lab.driver import RANDOM_SAMPLE

    cache = RunCache(tmp_path)
    rng = np.random.default_rng(0)
    problems = SUITES["bayesmark"].names
    for o in problems:
        _write_sample(cache, o, 1.0 + rng.uniform(size=RANDOM_SAMPLE["model"]))
        for seed in range(3):
            bad = 1.0 + rng.uniform(size=128)  # random search
            good = 1.0 + 0.5 * (bad - 1.0)  # the same draws, half as far from the best loss
            for name, values in (("a", good), ("b", bad)):
                run = {"searcher": name, "objective": o, "seed": seed, "values": values.tolist(), "seconds": 1.0}
                cache.add("16r8", run)
    summary = external_report.score_runs(cache, searchers=["a", "b"])
    bayesmark = summary["bayesmark"]["16r8"]
    assert set(bayesmark) == {"32", "64", "128"}
    for point, halves in bayesmark.items():
        assert set(halves) == {DEV, HELD_OUT}
        for half, names in ((DEV, SUITES["bayesmark"].dev), (HELD_OUT, SUITES["bayesmark"].held_out)):
            found = halves[half]
            assert found["objectives"] == list(names) and set(found["searchers"]) == {"a", "b"}
            a, b = found["searchers"]["a"], found["searchers"]["b"]
            assert a["seeds"] == 3 and a["score"] > b["score"] and a["leaderboard"] > b["leaderboard"]
            assert found["won"]["a"]["b"] + found["won"]["b"]["a"] == len(names)
            assert a["lab"]["rank"] == 1.0 and found["won"]["a"]["b"] == len(names)
            direct = stats.bayesmark_score(
                {
                    o: np.array([cache.runs("16r8", "a", o)[k]["values"][: int(point)] for k in range(3)]).min(axis=1)
                    for o in names
                },
                {o: cache.sample(get_objective(o), RANDOM_SAMPLE["model"]) for o in names},
                summary["optimum"],
                int(point),
            )
            assert a["score"] == pytest.approx(direct["score"]) and a["problems"] == pytest.approx(direct["problems"])
    assert bayesmark["128"][DEV]["searchers"]["a"]["score"] > bayesmark["32"][DEV]["searchers"]["a"]["score"]
    text, _ = external_report.markdown(summary, ["--report-only"], None)
    assert "## Bayesmark's own score" in text and "### 16r8: Bayesmark's score after 64 evaluations" in text
    assert "| row vs column | a | b |" in text and "random search (expected)" in text


@pytest.mark.slow
@pytest.mark.parametrize("problem", SUITES["bayesmark"].names)
def test_the_lab_losses_are_bayesmarks_own(problem: str) -> None:
    """The lab's loss of a config is what bayesmark's `SklearnModel.evaluate` returns as its cross-validated loss
    for the same model parameters: the package's data, split, scorer and folds, its model and fixed parameters,
    with only what the lab changes (`random_state=0` where the model takes one; the scikit-learn 1.9
    replacements of `normalize`, liblinear's one-vs-rest and the old log loss, see
    `experiments.lab.suites.bayesmark`).
    `experiments/bayesmark_losses.py` checks those replacements against the package on scikit-learn 1.1."""
    pytest.importorskip("bayesmark")
    from experiments.lab.suites.bayesmark import (
        BayesmarkProblem,
        _model_factory,
        import_bayesmark,
        model_params,
        neg_log_loss_before_1_2,
    )

    objective = get_objective(problem)
    lab: BayesmarkProblem = objective.fn
    package = import_bayesmark().SklearnModel(lab.model, lab.dataset, lab.metric)
    if "random_state" in package.base_model().get_params():
        package.fixed_params = {**package.fixed_params, "random_state": 0}
    if lab.model in ("lasso", "linear"):  # the package's own model no longer runs on scikit-learn 1.9
        package.base_model, package.fixed_params = _model_factory(
            package.base_model, package.fixed_params, package.api_config
        )
    if lab.metric == "nll":
        package.scorer = neg_log_loss_before_1_2
    scorer = package.scorer  # scikit-learn 1.9's scorers return a float, which `evaluate` unboxes with `.item()`
    package.scorer = lambda estimator, x, y: np.float64(scorer(estimator, x, y))
    rng = np.random.default_rng(7)
    for _ in range(2):
        config = {k: d.sample(random_state=rng) for k, d in objective.space.items()}
        cv_loss, _ = package.evaluate(model_params(objective.space, config))
        assert objective.fn(config) == cv_loss


def test_the_old_log_loss_clips_at_1e_15_and_renormalizes() -> None:
    from sklearn.metrics import log_loss

    from experiments.lab.suites.bayesmark import log_loss_before_1_2

    y = np.array([0, 1, 2, 1])
    proba = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.3, 0.3, 0.4]])
    assert log_loss_before_1_2(y, proba) == pytest.approx(log_loss(y, proba), rel=1e-12)  # nothing to clip
    certain = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])  # the last one wrong
    expected = -np.log(1e-15 / (1.0 + 2e-15)) / 4 - 3 * np.log((1 - 1e-15) / (1.0 + 2e-15)) / 4
    assert log_loss_before_1_2(y, certain) == pytest.approx(expected, rel=1e-12)
    assert log_loss(y, certain) > log_loss_before_1_2(y, certain) + 0.3  # today's clip at machine epsilon
    binary = np.array([0, 1, 1])
    assert log_loss_before_1_2(binary, np.array([0.2, 0.9, 0.6])) == pytest.approx(
        log_loss(binary, np.array([0.2, 0.9, 0.6])), rel=1e-12
    )


def test_the_liblinear_logistic_regression_is_the_old_one_vs_rest() -> None:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from experiments.lab.suites.bayesmark import LiblinearLogisticRegression

    x, y = load_iris(return_X_y=True)
    binary = y < 2
    params = {"penalty": "l1", "C": 2.0, "solver": "liblinear", "random_state": 0}
    old = LiblinearLogisticRegression(**params).fit(x[binary], y[binary])
    plain = LogisticRegression(**params).fit(x[binary], y[binary])  # two classes: the same fit today
    assert np.array_equal(old.coef_, plain.coef_) and np.array_equal(old.predict_proba(x), plain.predict_proba(x))
    three = LiblinearLogisticRegression(**params).fit(x, y)
    proba = three.predict_proba(x)
    assert three.coef_.shape == (3, 4) and np.allclose(proba.sum(axis=1), 1.0)
    assert np.array_equal(three.predict(x), three.classes_[np.argmax(proba, axis=1)])


@pytest.mark.slow
def test_the_committed_bayesmark_score_is_scored_again_from_the_committed_cache(tmp_path) -> None:
    """A clone re-scores experiments/results/bayesmark_score/external.md (its Bayesmark section: every table)
    from experiments/results/runs/bayesmark_score without running a search."""
    pytest.importorskip("bayesmark")
    from pathlib import Path

    from experiments import external

    committed = Path("experiments/results/bayesmark_score/external.md")
    if not committed.exists():
        pytest.skip("no committed Bayesmark score")
    external.main(["--report-only", "--cache", "experiments/results/runs/bayesmark_score", "--out", str(tmp_path)])

    def section(text: str) -> list[str]:
        return [line for line in text.split("## Bayesmark's own score")[1].splitlines() if line.startswith("| ")]

    assert section((tmp_path / "external.md").read_text()) == section(committed.read_text())
