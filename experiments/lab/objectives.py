"""The lab's own objectives (to minimize, deterministic): synthetic continuous functions, mixed spaces with
interactions, and small scikit-learn models on data that ships with scikit-learn; and their building
blocks (spaces, model builders, losses) for the studies that derive other tasks from them."""

from __future__ import annotations

import functools
import itertools
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from ray import tune

from experiments.lab.spaces import domain_items, fill, get_path, snap_int


class TrialCrash(Exception):
    """Raised by an objective for a trial that crashed (the trainable raised): a failure, not a loss.

    An objective signals a diverged run by returning NaN instead. The driver tells a searcher either as
    Tune would (`experiments.lab.driver.Driver.complete`)."""

    kind = "error"


class OutOfMemory(TrialCrash):
    """The trial's batch did not fit in the device's memory."""

    kind = "oom"


@dataclass(frozen=True)
class Objective:
    """A named search space, a deterministic loss `fn(config)` and its optimum if known; `fn` may raise
    `TrialCrash` or return NaN where a trial crashes (the crash suite, `experiments.lab.suites.crash`).
    With `noise` > 0 the searcher sees `fn(config)` plus Gaussian noise of that standard deviation, drawn
    by the driver per evaluation (the noisy suite, `experiments.lab.suites.noisy`); `fn` stays the true
    value that scores the run."""

    name: str
    kind: str  # "synthetic", "mixed" or "model"
    space: dict
    fn: Callable[[dict], float]
    optimum: float | None
    description: str
    noise: float = 0.0


# ---------------------------------------------------------------- synthetic continuous


def box(dim: int, low: float, high: float) -> dict:
    """A space of `dim` uniform floats x0..x{dim-1} on [low, high]."""
    return {f"x{i}": tune.uniform(low, high) for i in range(dim)}


def vector(fn: Callable[[np.ndarray], float]) -> Callable[[dict], float]:
    """Wrap a function of a vector into a function of a config {x0: .., x1: ..}."""

    def wrapped(config: dict) -> float:
        return float(fn(np.array([config[f"x{i}"] for i in range(len(config))], dtype=float)))

    return wrapped


def branin(x: np.ndarray) -> float:
    """Branin-Hoo on [-5, 10] x [0, 15]; minimum 0.397887 at three points."""
    b, c, t = 5.1 / (4 * np.pi**2), 5 / np.pi, 1 / (8 * np.pi)
    return (x[1] - b * x[0] ** 2 + c * x[0] - 6) ** 2 + 10 * (1 - t) * np.cos(x[0]) + 10


_H6_A = np.array(
    [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
)
_H6_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)
_H6_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def hartmann6(x: np.ndarray) -> float:
    """Hartmann; minimum -3.32237 in 6-D."""
    return -float(_H6_ALPHA @ np.exp(-(_H6_A * (x - _H6_P) ** 2).sum(axis=1)))


def rosenbrock(x: np.ndarray) -> float:
    """Rosenbrock; minimum 0 at (1, ..., 1)."""
    return float(np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2))


def ackley(x: np.ndarray) -> float:
    """Ackley; minimum 0 at the origin."""
    d = len(x)
    return float(-20 * np.exp(-0.2 * np.sqrt(np.sum(x**2) / d)) - np.exp(np.sum(np.cos(2 * np.pi * x)) / d) + 20 + np.e)


def styblinski_tang(x: np.ndarray) -> float:
    """Styblinski-Tang; minimum -39.16617 per dimension at x_i = -2.903534."""
    return float(0.5 * np.sum(x**4 - 16 * x**2 + 5 * x))


def levy(x: np.ndarray) -> float:
    """Levy; minimum 0 at (1, ..., 1)."""
    w = 1 + (x - 1) / 4
    return float(
        np.sin(np.pi * w[0]) ** 2
        + np.sum((w[:-1] - 1) ** 2 * (1 + 10 * np.sin(np.pi * w[:-1] + 1) ** 2))
        + (w[-1] - 1) ** 2 * (1 + np.sin(2 * np.pi * w[-1]) ** 2)
    )


# ---------------------------------------------------------------- mixed synthetic

BOWLS_SPACE = {
    "model": tune.choice(["linear", "tree", "net"]),
    "lr": tune.loguniform(1e-5, 1.0),
    "layers": tune.randint(1, 9),
    "batch": tune.qrandint(16, 256, 16),
    "optim": {"momentum": tune.uniform(0.0, 0.99), "wd": tune.loguniform(1e-8, 1e-1)},
}
# per model: loss offset, best log10(lr) at 0 layers, best layers, best log2(batch), best momentum
BOWLS = {"linear": (0.6, -1.0, 1, 7, 0.5), "tree": (0.3, -2.0, 3, 5, 0.2), "net": (0.0, -2.5, 6, 6, 0.9)}


def bowl_terms(table: dict, config: dict, space: dict) -> tuple[float, float, float]:
    """The terms of a `mixed_bowls`-style loss that its variants share, for a table of (loss offset, best
    log10 lr at 0 layers, best layers, best log2 batch, best momentum) per model: (the loss of the lr,
    layers and batch, the model's best momentum, log10 lr)."""
    offset, lr0, best_layers, best_batch, best_mom = table[config["model"]]
    layers = snap_int(config["layers"], space["layers"])
    batch = snap_int(config["batch"], space["batch"])
    log_lr = float(np.log10(config["lr"]))
    loss = (
        offset
        + 0.5 * (log_lr - (lr0 - 0.15 * layers)) ** 2
        + 0.04 * (layers - best_layers) ** 2
        + 0.1 * (np.log2(batch) - best_batch) ** 2
    )
    return float(loss), best_mom, log_lr


def mixed_bowls(config: dict) -> float:
    """A choice selects a bowl whose best learning rate, depth, batch and momentum differ.

    The best log learning rate falls with the (integer) depth and the best weight decay
    follows the learning rate, so values interact across types. Minimum 0 (model "net").
    """
    loss, best_mom, log_lr = bowl_terms(BOWLS, config, BOWLS_SPACE)
    log_wd = np.log10(config["optim"]["wd"])
    return float(loss + 2.0 * (config["optim"]["momentum"] - best_mom) ** 2 + 0.05 * (log_wd - (log_lr - 3)) ** 2)


CATS_SPACE = {
    "activation": tune.choice(["relu", "tanh", "gelu", "elu"]),
    "optimizer": tune.choice(["sgd", "adam", "rmsprop"]),
    "norm": tune.choice(["none", "batch", "layer"]),
    "init": tune.choice(["xavier", "he", "orthogonal"]),
    "schedule": tune.choice(["constant", "cosine", "step"]),
    "dropout": tune.uniform(0.0, 0.6),
    "width": tune.lograndint(16, 1025),
    "lr": tune.loguniform(1e-4, 1e-1),
}
CATS = ["activation", "optimizer", "norm", "init", "schedule"]
_CATS_RNG = np.random.default_rng(20240611)
_CATS_UNARY = {c: _CATS_RNG.uniform(0, 0.5, len(CATS_SPACE[c].categories)) for c in CATS}
_CATS_PAIRS = {
    pair: _CATS_RNG.uniform(0, 1.0, (len(CATS_SPACE[pair[0]].categories), len(CATS_SPACE[pair[1]].categories)))
    for pair in [("activation", "norm"), ("optimizer", "schedule"), ("init", "activation")]
}
_CATS_BEST_LR = {"sgd": -1.5, "adam": -3.3, "rmsprop": -2.7}
_CATS_BEST_WIDTH = {"relu": 8, "tanh": 5, "gelu": 9, "elu": 6}  # log2


def cats_discrete(index: dict[str, int]) -> float:
    """The categorical part of `mixed_categorical`: unary plus pairwise interaction costs."""
    return sum(_CATS_UNARY[c][index[c]] for c in CATS) + sum(
        table[index[a], index[b]] for (a, b), table in _CATS_PAIRS.items()
    )


def mixed_categorical(config: dict) -> float:
    """Five interacting categorical choices plus a float, a log-integer and a log-float.

    The best learning rate depends on the optimizer, the best width on the activation and
    the best dropout on the width. Minimum: the best categorical combination (others at 0).
    """
    index = {c: CATS_SPACE[c].categories.index(config[c]) for c in CATS}
    log_width = np.log2(snap_int(config["width"], CATS_SPACE["width"]))
    best_dropout = 0.05 * (log_width - 4)
    return float(
        cats_discrete(index)
        + 0.3 * (np.log10(config["lr"]) - _CATS_BEST_LR[config["optimizer"]]) ** 2
        + 0.03 * (log_width - _CATS_BEST_WIDTH[config["activation"]]) ** 2
        + 3.0 * (config["dropout"] - best_dropout) ** 2
    )


CATS_OPTIMUM = min(
    cats_discrete(dict(zip(CATS, idx, strict=False)))
    for idx in itertools.product(*[range(len(CATS_SPACE[c].categories)) for c in CATS])
)


# ---------------------------------------------------------------- real models on shipped data


def memoized(space: dict) -> Callable[[Callable[[dict], float]], Callable[[dict], float]]:
    """Cache a deterministic model objective by the values of its config's domains."""
    paths = [path for path, _ in domain_items(space)]

    def decorate(fn: Callable[[dict], float]) -> Callable[[dict], float]:
        @functools.lru_cache(maxsize=None)
        def cached(key: tuple) -> float:
            return fn(fill(space, dict(zip(paths, key, strict=False))))

        @functools.wraps(fn)
        def wrapped(config: dict) -> float:
            return cached(tuple(get_path(config, p) for p in paths))

        return wrapped

    return decorate


@functools.cache
def standard_split(name: str, test_size: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A fixed, standardized train/validation split of a scikit-learn bundled data set."""
    from sklearn import datasets
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    x, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_size, random_state=0)
    scaler = StandardScaler().fit(x_tr)
    return scaler.transform(x_tr), scaler.transform(x_te), y_tr, y_te


SGD_SPACE = {
    "loss": tune.choice(["hinge", "log_loss", "modified_huber", "squared_hinge"]),
    "penalty": tune.choice(["l2", "l1", "elasticnet"]),
    "alpha": tune.loguniform(1e-7, 1e-1),
    "l1_ratio": tune.uniform(0.0, 1.0),
    "learning_rate": tune.choice(["optimal", "invscaling", "adaptive"]),
    "eta0": tune.loguniform(1e-4, 1.0),
    "max_iter": tune.qrandint(2, 10, 2),
}


def sgd_model(config: dict, x: np.ndarray, y: np.ndarray) -> Any:
    """A linear SGDClassifier of a `SGD_SPACE` config fitted to (x, y) (convergence warnings silenced)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import SGDClassifier

    model = SGDClassifier(
        loss=config["loss"],
        penalty=config["penalty"],
        alpha=config["alpha"],
        l1_ratio=config["l1_ratio"],
        learning_rate=config["learning_rate"],
        eta0=config["eta0"],
        max_iter=snap_int(config["max_iter"], SGD_SPACE["max_iter"]),
        tol=None,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(x, y)


@memoized(SGD_SPACE)
def digits_sgd(config: dict) -> float:
    """Validation error of a linear SGDClassifier on scikit-learn's digits (fixed 50/50 split)."""
    x_tr, x_te, y_tr, y_te = standard_split("digits", 0.5)
    return float(1.0 - sgd_model(config, x_tr, y_tr).score(x_te, y_te))


SVC_SPACE = {
    "kernel": tune.choice(["rbf", "poly", "sigmoid"]),
    "C": tune.loguniform(1e-3, 1e3),
    "gamma": tune.loguniform(1e-5, 1e1),
    "degree": tune.randint(2, 6),
    "coef0": tune.uniform(-1.0, 1.0),
}


def margin_loss(decision: np.ndarray, y: np.ndarray) -> float:
    """Mean hinge loss max(0, 1 - margin) of a classifier's decision values: for two classes the margin
    is (2y - 1) f(x), for more the true class's score minus the best other class's (one-vs-rest)."""
    if decision.ndim == 1:
        margin = (2 * y - 1) * decision
    else:
        true = decision[np.arange(len(y)), y]
        other = np.where(np.eye(decision.shape[1], dtype=bool)[y], -np.inf, decision).max(axis=1)
        margin = true - other
    return float(np.mean(np.maximum(0.0, 1.0 - margin)))


def svc_model(config: dict, x: np.ndarray, y: np.ndarray) -> Any:
    """An SVC of a `SVC_SPACE` config fitted to (x, y) (warnings silenced)."""
    from sklearn.svm import SVC

    model = SVC(
        kernel=config["kernel"],
        C=config["C"],
        gamma=config["gamma"],
        degree=snap_int(config["degree"], SVC_SPACE["degree"]),
        coef0=config["coef0"],
        max_iter=20000,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(x, y)


@memoized(SVC_SPACE)
def cancer_svc(config: dict) -> float:
    """Validation hinge loss of an SVC on scikit-learn's breast_cancer (fixed 70/30 split)."""
    x_tr, x_te, y_tr, y_te = standard_split("breast_cancer", 0.3)
    return margin_loss(svc_model(config, x_tr, y_tr).decision_function(x_te), y_te)


TREE_SPACE = {
    "criterion": tune.choice(["squared_error", "poisson"]),
    "splitter": tune.choice(["best", "random"]),
    "max_depth": tune.randint(1, 16),
    "min_samples_leaf": tune.lograndint(1, 65),
    "min_samples_split": tune.qrandint(2, 40, 2),
    "max_features": tune.choice([0.3, 0.5, 0.7, 1.0]),
    "ccp_alpha": tune.loguniform(1e-3, 1e3),
}


def tree_cv_mse(config: dict, x: np.ndarray, y: np.ndarray) -> float:
    """5-fold CV mean squared error (/1000) of a decision tree regressor of a `TREE_SPACE` config on (x, y)."""
    from sklearn.model_selection import KFold, cross_val_score
    from sklearn.tree import DecisionTreeRegressor

    model = DecisionTreeRegressor(
        criterion=config["criterion"],
        splitter=config["splitter"],
        max_depth=snap_int(config["max_depth"], TREE_SPACE["max_depth"]),
        min_samples_leaf=snap_int(config["min_samples_leaf"], TREE_SPACE["min_samples_leaf"]),
        min_samples_split=snap_int(config["min_samples_split"], TREE_SPACE["min_samples_split"]),
        max_features=config["max_features"],
        ccp_alpha=config["ccp_alpha"],
        random_state=0,
    )
    scores = cross_val_score(model, x, y, cv=KFold(5, shuffle=True, random_state=0), scoring="neg_mean_squared_error")
    return float(-scores.mean() / 1000)


@memoized(TREE_SPACE)
def diabetes_tree(config: dict) -> float:
    """5-fold CV mean squared error (/1000) of a decision tree regressor on diabetes."""
    from sklearn.datasets import load_diabetes

    return tree_cv_mse(config, *load_diabetes(return_X_y=True))


def _continuous(
    name: str, fn: Callable[[np.ndarray], float], dim: int, low: float, high: float, optimum: float
) -> Objective:
    """A synthetic continuous objective on a box."""
    return Objective(
        name,
        "synthetic",
        box(dim, low, high),
        vector(fn),
        optimum,
        f"{fn.__doc__.split(';')[0]} on [{low}, {high}]^{dim}",
    )


_BRANIN = Objective(
    "branin",
    "synthetic",
    {"x0": tune.uniform(-5, 10), "x1": tune.uniform(0, 15)},
    vector(branin),
    0.397887,
    "Branin-Hoo 2-D",
)

OBJECTIVES: dict[str, Objective] = {
    o.name: o
    for o in [
        _BRANIN,
        _continuous("hartmann6", hartmann6, 6, 0.0, 1.0, -3.32237),
        _continuous("rosenbrock4", rosenbrock, 4, -2.0, 2.0, 0.0),
        _continuous("ackley5", ackley, 5, -15.0, 30.0, 0.0),  # optimum off the box centre
        _continuous("styblinski_tang5", styblinski_tang, 5, -5.0, 5.0, -39.16617 * 5),
        _continuous("levy4", levy, 4, -10.0, 10.0, 0.0),
        Objective("mixed_bowls", "mixed", BOWLS_SPACE, mixed_bowls, 0.0, mixed_bowls.__doc__.split("\n")[0]),
        Objective(
            "mixed_categorical",
            "mixed",
            CATS_SPACE,
            mixed_categorical,
            CATS_OPTIMUM,
            mixed_categorical.__doc__.split("\n")[0],
        ),
        Objective("digits_sgd", "model", SGD_SPACE, digits_sgd, None, digits_sgd.__doc__),
        Objective("cancer_svc", "model", SVC_SPACE, cancer_svc, None, cancer_svc.__doc__),
        Objective("diabetes_tree", "model", TREE_SPACE, diabetes_tree, None, diabetes_tree.__doc__),
    ]
}
