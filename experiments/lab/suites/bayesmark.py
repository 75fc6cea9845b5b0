"""Bayesmark's scikit-learn tuning problems (the NeurIPS 2020 black-box optimization challenge) as `Objective`s.

The problems are bayesmark 0.0.8's own definitions (`bayesmark.sklearn_funcs.SklearnModel`: its models,
fixed parameters, search spaces, data loading and 80 % train split, 5-fold cross-validated loss), run on
numpy 2 / scikit-learn 1.9 with these shims:

- `np.float_` / `np.unicode_` are aliased to `np.float64` / `np.str_` before bayesmark is imported, and
  `sklearn.datasets.load_boston` (removed) is stubbed; the boston problems are not used.
- The `lasso` / `linear` classifiers' `LogisticRegression(solver="liblinear", multi_class="ovr")` is gone:
  `LiblinearLogisticRegression` makes the same single liblinear fit (liblinear's own one-vs-rest on more than
  two classes) and the same probabilities (`OneVsRestClassifier` would fit each class apart, with the solver
  restarted per class, and end on other coefficients within the solver's tolerance).
- The `nll` metric is scikit-learn 0.20-1.1's `neg_log_loss` (bayesmark pins scikit-learn 0.20.2):
  probabilities clipped to [1e-15, 1 - 1e-15] and rows renormalized (`neg_log_loss_before_1_2`); today's
  clips at machine epsilon, which adds log(1e-15 / 2.2e-16) to each sample predicted with probability 0
  (kNN, trees).
- The regressors' `normalize` flag (removed in scikit-learn 1.2) is reproduced: with an intercept, each
  column is centred and divided by its l2 norm on the training fold before the fit (`L2Normalizer`);
  without an intercept the flag is ignored, as scikit-learn did.
- Every model that takes a `random_state` gets `random_state=0`, so an evaluation is deterministic given
  its config (bayesmark leaves trees with `max_features < 1`, SVC's Platt scaling, MLPs and AdaBoost
  unseeded, i.e. noisy).
- Only the cross-validated loss is computed (bayesmark also refits on the whole training split to report a
  generalization loss nobody optimizes: half the cost).

`experiments/bayesmark_losses.py` compares these losses with bayesmark 0.0.8 running unmodified on
scikit-learn 1.1 (where `normalize`, liblinear's one-vs-rest and the old log loss still exist), and
`tests/experiments/test_bayesmark_score.py` with the package's `SklearnModel.evaluate` here.

Search spaces become Tune domains: real `linear` -> `uniform`, real `log` -> `loguniform`, int `linear`
-> `randint` and int `log` -> `lograndint` (bayesmark's int ranges include the upper end), bool and cat ->
`choice`. No Tune domain is logit-scaled: a `logit` real p in (lo, hi) is searched as its logit, key
`logit_<name>` ~ `uniform(logit(lo), logit(hi))`, and mapped back with the logistic function before the
model sees it. That keeps the challenge's geometry (e.g. beta_2 in (0.9, 1 - 1e-6) spends half its range
above 0.999) and makes uniform random search in Tune the challenge's own random-search baseline.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any, Callable

import numpy as np
from ray import tune
from scipy.special import expit, logit
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model._base import LinearClassifierMixin
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.multiclass import type_of_target

from experiments.lab.objectives import Objective
from experiments.lab.spaces import Categorical, Integer, snap_int

LOGIT_PREFIX = "logit_"

# (model, data set, metric) per problem, half development and half held out (`experiments.lab.suites`). Only
# data sets that ship with scikit-learn. Each half has one problem per model (SVM only on classification:
# its regressor is flat on unscaled diabetes), three classification and three regression problems, two
# nll, one accuracy and three regression metrics. MLP-adam/sgd and AdaBoost (seconds per evaluation
# here) are left out for cost: a run of 128 evaluations would take minutes of objective time alone.
PROBLEMS: tuple[tuple[str, str, str], ...] = (
    ("DT", "breast", "nll"),
    ("kNN", "diabetes", "mse"),
    ("lasso", "iris", "nll"),
    ("linear", "diabetes", "mae"),
    ("SVM", "wine", "acc"),
    ("RF", "diabetes", "mse"),
    ("DT", "diabetes", "mae"),
    ("kNN", "wine", "nll"),
    ("lasso", "diabetes", "mse"),
    ("linear", "breast", "acc"),
    ("SVM", "iris", "nll"),
    ("RF", "diabetes", "mae"),
)


def problem_name(model: str, dataset: str, metric: str) -> str:
    """The objective's name: `bm_DT_breast_nll`."""
    return f"bm_{model}_{dataset}_{metric}"


def import_bayesmark() -> Any:
    """Import `bayesmark.sklearn_funcs` on numpy 2 / scikit-learn 1.9 (the shims in the module docstring)."""
    for alias, target in (("float_", np.float64), ("unicode_", np.str_)):
        if alias not in vars(np):
            setattr(np, alias, target)
    import sklearn.datasets

    if "load_boston" not in vars(sklearn.datasets):  # removed in scikit-learn 1.2; bayesmark names it at import
        sklearn.datasets.load_boston = None
    import bayesmark.sklearn_funcs

    return bayesmark.sklearn_funcs


class L2Normalizer(TransformerMixin, BaseEstimator):
    """scikit-learn < 1.2's `normalize=True`: centre each column and divide it by its l2 norm (fit per fold)."""

    def fit(self, x: np.ndarray, y: np.ndarray | None = None) -> L2Normalizer:
        """Learn the column means and the l2 norms of the centred columns (1 where a norm is 0)."""
        self.mean_ = x.mean(axis=0)
        norm = np.linalg.norm(x - self.mean_, axis=0)
        self.scale_ = np.where(norm == 0, 1.0, norm)
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Centre and scale with the fitted statistics."""
        return (x - self.mean_) / self.scale_


class LiblinearLogisticRegression(LinearClassifierMixin, BaseEstimator):
    """scikit-learn < 1.5's `LogisticRegression(solver="liblinear", multi_class="ovr")`: one liblinear fit (on
    more than two classes liblinear's own one-vs-rest, the classes solved in turn by one seeded solver) and
    probabilities as its `_predict_proba_lr` gave them (the logistic function of each class's decision value,
    rows normalized to sum to 1)."""

    def __init__(
        self,
        penalty: str = "l2",
        C: float = 1.0,  # noqa: N803 (scikit-learn's name)
        fit_intercept: bool = True,
        intercept_scaling: float = 1.0,
        solver: str = "liblinear",
        tol: float = 1e-4,
        max_iter: int = 100,
        random_state: int | None = None,
    ) -> None:
        self.penalty, self.C, self.fit_intercept, self.intercept_scaling = penalty, C, fit_intercept, intercept_scaling
        self.solver, self.tol, self.max_iter, self.random_state = solver, tol, max_iter, random_state

    def fit(self, x: np.ndarray, y: np.ndarray) -> LiblinearLogisticRegression:
        """Fit with liblinear as `LogisticRegression.fit` did (no class weights, primal problem)."""
        from sklearn.svm._base import _fit_liblinear

        x = np.ascontiguousarray(x, dtype=np.float64)
        self.classes_ = np.unique(y)
        self.coef_, self.intercept_, n_iter = _fit_liblinear(
            x, y, self.C, self.fit_intercept, self.intercept_scaling, None, self.penalty, False, 0, self.max_iter,
            self.tol, self.random_state,
        )  # fmt: skip
        self.n_iter_ = np.array([n_iter])
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """The logistic function of the decision values, normalized per row (two columns for two classes)."""
        return self._predict_proba_lr(x)


def log_loss_before_1_2(y: np.ndarray, proba: np.ndarray, eps: float = 1e-15) -> float:
    """scikit-learn 0.20-1.1's `log_loss`: the labels are those of `y`, probabilities (one column: the
    positive class's) are clipped to [eps, 1 - eps] and each row renormalized to sum to 1."""
    labels = LabelBinarizer().fit(y)
    truth = labels.transform(y)
    if truth.shape[1] == 1:
        truth = np.append(1 - truth, truth, axis=1)
    proba = np.clip(np.asarray(proba, dtype=float), eps, 1 - eps)
    if proba.ndim == 1:
        proba = proba[:, np.newaxis]
    if proba.shape[1] == 1:
        proba = np.append(1 - proba, proba, axis=1)
    if len(labels.classes_) != proba.shape[1]:
        raise ValueError(f"{len(labels.classes_)} classes in y, {proba.shape[1]} columns of probabilities")
    proba /= proba.sum(axis=1)[:, np.newaxis]
    return float(np.average(-(truth * np.log(proba)).sum(axis=1)))


def neg_log_loss_before_1_2(estimator: Any, x: np.ndarray, y: np.ndarray) -> float:
    """scikit-learn 0.20-1.1's `neg_log_loss` scorer: minus `log_loss_before_1_2` of `predict_proba` (only the
    positive class's column on binary targets, as its `_ProbaScorer` passed it)."""
    proba = estimator.predict_proba(x)
    if type_of_target(y) == "binary" and proba.shape[1] <= 2:
        proba = proba[:, 1]
    return -log_loss_before_1_2(y, proba)


def _model_factory(base: type, fixed: dict, api_config: dict) -> tuple[Callable[..., Any], dict]:
    """The (factory, fixed parameters) that reproduce bayesmark's model on scikit-learn 1.9, seeded."""
    fixed = dict(fixed)
    if "random_state" in base().get_params():
        fixed["random_state"] = 0
    if fixed.pop("multi_class", None) == "ovr":  # liblinear's one-vs-rest logistic regression
        return LiblinearLogisticRegression, fixed
    if "normalize" in api_config:

        def normalized(normalize: bool, **params: Any) -> Any:
            model = base(**params)
            return make_pipeline(L2Normalizer(), model) if normalize and params["fit_intercept"] else model

        return normalized, fixed
    return base, fixed


def tune_space(api_config: dict) -> dict:
    """A Tune search space for a bayesmark `api_config` (the conversions in the module docstring)."""
    space: dict = {}
    for name, cfg in api_config.items():
        kind, warp = cfg["type"], cfg.get("space", "linear")
        if kind in ("bool", "cat"):
            space[name] = tune.choice([False, True] if kind == "bool" else list(cfg["values"]))
        elif kind == "int":
            low, high = (int(v) for v in cfg["range"])
            space[name] = (tune.lograndint if warp == "log" else tune.randint)(low, high + 1)
        elif warp == "logit":
            low, high = (float(v) for v in cfg["range"])
            space[LOGIT_PREFIX + name] = tune.uniform(float(logit(low)), float(logit(high)))
        elif warp == "log":
            space[name] = tune.loguniform(*(float(v) for v in cfg["range"]))
        elif warp == "linear":
            space[name] = tune.uniform(*(float(v) for v in cfg["range"]))
        else:
            raise ValueError(f"unsupported bayesmark space {cfg}")
    return space


def model_params(space: dict, config: dict) -> dict:
    """The model's keyword arguments for a Tune config: logits mapped back, integers snapped, bools cast."""
    params: dict = {}
    for key, domain in space.items():
        value = config[key]
        if key.startswith(LOGIT_PREFIX):
            params[key[len(LOGIT_PREFIX) :]] = float(expit(value))
        elif isinstance(domain, Integer):
            params[key] = snap_int(value, domain)
        elif isinstance(domain, Categorical):
            params[key] = bool(value) if isinstance(value, (bool, np.bool_)) else value
        else:
            params[key] = float(value)
    return params


class BayesmarkProblem:
    """One bayesmark problem as a deterministic, memoized function of a Tune config (data loaded lazily)."""

    def __init__(self, model: str, dataset: str, metric: str) -> None:
        self.model, self.dataset, self.metric = model, dataset, metric
        self._memo: dict[tuple, float] = {}

    @functools.cached_property
    def _problem(self) -> Any:
        """bayesmark's `SklearnModel`, with the scikit-learn 1.9 model factory and seeded fixed parameters."""
        sklearn_funcs = import_bayesmark()
        problem = sklearn_funcs.SklearnModel(self.model, self.dataset, self.metric)
        problem.base_model, problem.fixed_params = _model_factory(
            problem.base_model, problem.fixed_params, problem.api_config
        )
        if self.metric == "nll":
            problem.scorer = neg_log_loss_before_1_2
        return problem

    @functools.cached_property
    def space(self) -> dict:
        """The Tune search space (bayesmark's `api_config`, converted)."""
        sklearn_funcs = import_bayesmark()
        from bayesmark.data import ProblemType, get_problem_type

        models = (
            sklearn_funcs.MODELS_CLF if get_problem_type(self.dataset) == ProblemType.clf else sklearn_funcs.MODELS_REG
        )
        return tune_space(models[self.model][2])

    def __call__(self, config: dict) -> float:
        """bayesmark's 5-fold cross-validated loss (lower is better) of the model at `config`."""
        from sklearn.model_selection import cross_val_score

        params = model_params(self.space, config)
        key = tuple(sorted(params.items()))
        if key not in self._memo:
            problem = self._problem
            estimator = problem.base_model(**params, **problem.fixed_params)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                scores = cross_val_score(
                    estimator, problem.data_X, problem.data_y, scoring=problem.scorer, cv=import_bayesmark().CV_SPLITS
                )
            self._memo[key] = float(-np.mean(scores))
        return self._memo[key]


def objectives(problems: tuple[tuple[str, str, str], ...] = PROBLEMS) -> dict[str, Objective]:
    """The bayesmark problems as `Objective`s (kind "model", optimum unknown)."""
    out = {}
    for model, dataset, metric in problems:
        fn = BayesmarkProblem(model, dataset, metric)
        name = problem_name(model, dataset, metric)
        out[name] = Objective(
            name, "model", fn.space, fn, None, f"bayesmark {model} on {dataset}, 5-fold CV {metric} (seeded)"
        )
    return out
