"""Warm starts (issue 17): does a search that starts from an earlier one (``PGSearcher(prior=...)``) find
good configs sooner on a related task, and cost little on an unrelated one?

    python -m experiments.warm_start [--seeds N] [--model-seeds N] [--first-seed N] [--jobs 1] [--quick]
    python -m experiments.warm_start --sweep [--sweep-weights 3,10,30] [--sweep-halflives 5,10,20]

Every pair is a source task and a target task. For each pair and seed s, a source search (PGSearcher
with its defaults and seed ``SOURCE_SEED + s``, budget 100, 8 at once) runs on the source objective;
then three searches of the target, each ``PGSearcher(seed=s)`` and each driven by the harness
(``experiments.lab.driver.run_search``) with the same completion order:

- cold: no prior;
- warm: ``prior=`` the source searcher;
- replay: ``points_to_evaluate=`` the source's ``TOP_K`` best configs, as users do without a prior
  (each value clipped into the target's range, a removed parameter dropped, a new one left to the
  searcher).

Budgets 32 and 100 with 8 trials at once, and 100 one at a time. Scores are the benchmark's
(``experiments.benchmark.score``): 100 is the optimum, 0 the exact expected best of uniform random search
at the same budget, from a dense random sample of the target. Each warm run also records whether the
prior was rejected (``optimizer.prior_rejected``) and the prior's trust and weight at its end.

Pairs carry a development/held-out label fixed in the code before any result was seen: defaults are
chosen (``--sweep``) on development pairs only; the report shows both halves side by side. Kinds:
``related`` (the same model on two data sets, a data subset -> the full data, synthetic objectives and
a copy with the optimum moved, ranges changed, a parameter added and one removed), ``bbob`` (a COCO bbob
function, instance 1 -> instance 2: the same shape, the optimum moved at random in [-4, 4]^5; only when
``coco-experiment`` is installed) and ``unrelated`` (the same parameter names, another landscape).

Writes ``warm_start.md``, ``.json`` and ``.png`` (``--sweep``: ``warm_start_sweep.md`` and ``.json``).
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import math
import sys
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ray import tune

from experiments.benchmark import RANDOM_SAMPLE, order_seed, score
from experiments.lab.driver import expected_best, random_values, run_search
from experiments.lab.objectives import (
    _BOWLS_SPACE,
    _CATS,
    _CATS_SPACE,
    _SGD_SPACE,
    _SVC_SPACE,
    _TREE_SPACE,
    OBJECTIVES,
    Objective,
    _cats_discrete,
    _memoized,
    _split,
    hartmann6,
    levy,
)
from experiments.lab.render import RESULTS, header, table
from experiments.lab.spaces import Categorical, Float, Integer, domain_items, get_path, set_path, snap_int
from ray_pgsearch import PGSearcher

Setting = tuple[int, int]  # (budget, concurrency)
ARMS = ("cold", "warm", "replay")
SETTINGS: tuple[Setting, ...] = ((32, 8), (100, 8), (100, 1))
SOURCE_SETTING: Setting = (100, 8)
QUICK_SETTINGS: tuple[Setting, ...] = ((16, 4), (32, 4))
QUICK_SOURCE_SETTING: Setting = (32, 4)
QUICK_PAIRS = ("bowls_shift", "hartmann6_shift", "st_to_ellipsoid", "levy_to_st")
QUICK_SAMPLE = 500
TOP_K = 5  # configs of the source the replay arm evaluates first
SOURCE_SEED = 1000  # the source search of seed s runs with seed SOURCE_SEED + s
CURVE_SETTING: Setting = (100, 8)  # the setting whose best-so-far curves the figure shows
KINDS = ("related", "bbob", "unrelated")
HALVES = ("dev", "held-out")
RELATED_GAIN = 10.0  # the bar: related pairs, budget 32: warm at least this many points above cold and replay
UNRELATED_COST = 3.0  # the bar: unrelated pairs, budget 100: warm at most this many points below cold


# ---------------------------------------------------------------- scikit-learn objectives


@functools.cache
def _classification(test_size: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's make_classification (seeded: 600 rows, 20 features of which 8 informative, 3
    classes, 5 % of the labels flipped), split and standardized as ``objectives._split`` does a bundled
    data set: a data set with no download whose best loss is not 0 (unlike wine's and iris')."""
    from sklearn.datasets import make_classification
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    x, y = make_classification(
        600, n_features=20, n_informative=8, n_redundant=4, n_classes=3, flip_y=0.05, random_state=0
    )
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_size, random_state=0)
    scaler = StandardScaler().fit(x_tr)
    return scaler.transform(x_tr), scaler.transform(x_te), y_tr, y_te


def _data(name: str, test_size: float, fraction: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The benchmark's fixed standardized split of a bundled data set (``objectives._split``; "classification":
    ``_classification``), its
    training rows cut to a stratified ``fraction`` (seeded) when below 1."""
    from sklearn.model_selection import train_test_split

    x_tr, x_te, y_tr, y_te = _classification(test_size) if name == "classification" else _split(name, test_size)
    if fraction < 1.0:
        x_tr, _, y_tr, _ = train_test_split(x_tr, y_tr, train_size=fraction, random_state=0, stratify=y_tr)
    return x_tr, x_te, y_tr, y_te


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


def _sgd(config: dict, x: np.ndarray, y: np.ndarray) -> Any:
    """A linear SGDClassifier of ``objectives._SGD_SPACE``'s config, fitted as ``digits_sgd`` fits it."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import SGDClassifier

    model = SGDClassifier(
        loss=config["loss"],
        penalty=config["penalty"],
        alpha=config["alpha"],
        l1_ratio=config["l1_ratio"],
        learning_rate=config["learning_rate"],
        eta0=config["eta0"],
        max_iter=snap_int(config["max_iter"], _SGD_SPACE["max_iter"]),
        tol=None,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(x, y)


def sgd_objective(dataset: str, test_size: float, fraction: float = 1.0, error: bool = False) -> Objective:
    """The SGD space on a bundled data set: validation hinge loss of the decision values (``margin_loss``),
    or validation error with ``error``; trained on ``fraction`` of the training rows."""
    suffix = "" if fraction == 1.0 else f"_{round(100 * fraction)}"

    @_memoized(_SGD_SPACE)
    def fn(config: dict) -> float:
        x_tr, x_te, y_tr, y_te = _data(dataset, test_size, fraction)
        model = _sgd(config, x_tr, y_tr)
        return float(1.0 - model.score(x_te, y_te)) if error else margin_loss(model.decision_function(x_te), y_te)

    what = "validation error" if error else "validation hinge loss"
    return Objective(
        f"ws_sgd_{dataset}{suffix}",
        "model",
        _SGD_SPACE,
        fn,
        None,
        f"SGDClassifier on {dataset} ({round(100 * fraction)} % of the training rows), {what}",
    )


def svc_objective(dataset: str, test_size: float, fraction: float = 1.0) -> Objective:
    """The SVC space on a bundled data set: validation hinge loss of the decision values (``margin_loss``;
    for breast_cancer at fraction 1 the same loss as ``cancer_svc``), trained on ``fraction`` of the rows."""
    suffix = "" if fraction == 1.0 else f"_{round(100 * fraction)}"

    @_memoized(_SVC_SPACE)
    def fn(config: dict) -> float:
        from sklearn.svm import SVC

        x_tr, x_te, y_tr, y_te = _data(dataset, test_size, fraction)
        model = SVC(
            kernel=config["kernel"],
            C=config["C"],
            gamma=config["gamma"],
            degree=snap_int(config["degree"], _SVC_SPACE["degree"]),
            coef0=config["coef0"],
            max_iter=20000,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(x_tr, y_tr)
        return margin_loss(model.decision_function(x_te), y_te)

    return Objective(
        f"ws_svc_{dataset}{suffix}",
        "model",
        _SVC_SPACE,
        fn,
        None,
        f"SVC on {dataset} ({round(100 * fraction)} % of the training rows), validation hinge loss",
    )


@_memoized(_TREE_SPACE)
def diabetes_tree_25(config: dict) -> float:
    """``diabetes_tree`` on a quarter of the rows (seeded): 5-fold CV mean squared error / 1000."""
    from sklearn.datasets import load_diabetes
    from sklearn.model_selection import KFold, cross_val_score, train_test_split
    from sklearn.tree import DecisionTreeRegressor

    x, y = load_diabetes(return_X_y=True)
    x, _, y, _ = train_test_split(x, y, train_size=0.25, random_state=0)
    model = DecisionTreeRegressor(
        criterion=config["criterion"],
        splitter=config["splitter"],
        max_depth=snap_int(config["max_depth"], _TREE_SPACE["max_depth"]),
        min_samples_leaf=snap_int(config["min_samples_leaf"], _TREE_SPACE["min_samples_leaf"]),
        min_samples_split=snap_int(config["min_samples_split"], _TREE_SPACE["min_samples_split"]),
        max_features=config["max_features"],
        ccp_alpha=config["ccp_alpha"],
        random_state=0,
    )
    scores = cross_val_score(model, x, y, cv=KFold(5, shuffle=True, random_state=0), scoring="neg_mean_squared_error")
    return float(-scores.mean() / 1000)


# ---------------------------------------------------------------- synthetic objectives


def _st1(v: float) -> float:
    """Styblinski-Tang in one coordinate: 0.5 (v^4 - 16 v^2 + 5 v), minimum -39.16617 at v = -2.903534."""
    return 0.5 * (v**4 - 16 * v**2 + 5 * v)


_ST_ARGMIN = -2.903534

# mixed_bowls with the optimum moved: the best net's log learning rate +0.5 decade, one layer fewer,
# momentum 0.9 -> 0.7 (a fifth of its range); the lr and batch ranges changed, weight decay removed
# (held at its best value), dropout new.
_BOWLS_SHIFT_SPACE = {
    "model": tune.choice(["linear", "tree", "net"]),
    "lr": tune.loguniform(1e-6, 1e-1),
    "layers": tune.randint(1, 9),
    "batch": tune.qrandint(16, 512, 16),
    "optim": {"momentum": tune.uniform(0.0, 0.99)},
    "dropout": tune.uniform(0.0, 0.5),
}
_BOWLS_SHIFT = {"linear": (0.6, -1.5, 1, 7, 0.3), "tree": (0.3, -2.5, 3, 5, 0.0), "net": (0.0, -2.0, 5, 6, 0.7)}
# mixed_bowls' space, another landscape: the best model is the source's worst, its best values elsewhere
_BOWLS_FLIP = {"linear": (0.0, -3.5, 8, 4, 0.05), "tree": (0.3, -0.5, 1, 8, 0.95), "net": (0.6, -1.0, 1, 4, 0.1)}


def _bowl(table_: dict, config: dict, space: dict) -> tuple[float, float, float]:
    """The terms of a mixed_bowls-style loss shared by its variants: (loss without momentum and weight
    decay, best momentum, log10 lr)."""
    offset, lr0, best_layers, best_batch, best_mom = table_[config["model"]]
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


def bowls_shift(config: dict) -> float:
    """mixed_bowls with the optimum moved, two ranges changed, weight decay removed and dropout new
    (best 0.2); minimum 0 (model "net")."""
    loss, best_mom, _ = _bowl(_BOWLS_SHIFT, config, _BOWLS_SHIFT_SPACE)
    return loss + 2.0 * (config["optim"]["momentum"] - best_mom) ** 2 + 1.0 * (config["dropout"] - 0.2) ** 2


def bowls_flip(config: dict) -> float:
    """mixed_bowls' space with another landscape: "linear" best at a low learning rate, deep, small
    batches, no momentum, weight decay 10^-1.5; minimum 0."""
    loss, best_mom, _ = _bowl(_BOWLS_FLIP, config, _BOWLS_SPACE)
    log_wd = np.log10(config["optim"]["wd"])
    return float(loss + 2.0 * (config["optim"]["momentum"] - best_mom) ** 2 + 0.05 * (log_wd + 1.5) ** 2)


_H6_ARGMIN = np.array([0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573])
_H6_SHIFT_SPACE = {
    "x0": tune.uniform(0.0, 1.2),  # was [0, 1]
    **{f"x{i}": tune.uniform(0.0, 1.0) for i in range(1, 5)},
    "x6": tune.uniform(0.0, 1.0),  # new; x5 removed (held at its best value)
}


def hartmann6_shift(config: dict) -> float:
    """hartmann6 with its optimum moved +0.2 in x0 and -0.2 in x2, x0's range widened to [0, 1.2], x5
    removed (held at its best value) and x6 new (best 0.4); minimum -3.32237."""
    x = np.array([config["x0"] - 0.2, config["x1"], config["x2"] + 0.2, config["x3"], config["x4"], _H6_ARGMIN[5]])
    return hartmann6(x) + 0.5 * (config["x6"] - 0.4) ** 2


def hartmann6_mirror(config: dict) -> float:
    """hartmann6 mirrored, x -> 1 - x: the same box, another landscape; minimum -3.32237."""
    return hartmann6(1.0 - np.array([config[f"x{i}"] for i in range(6)]))


_ST_SHIFT_SPACE = {
    **{f"x{i}": tune.uniform(-5.0, 5.0) for i in range(3)},
    "x3": tune.uniform(-6.0, 4.0),  # was [-5, 5]
    "x5": tune.uniform(-5.0, 5.0),  # new; x4 removed (held at its best value)
}


def styblinski_shift(config: dict) -> float:
    """styblinski_tang5 with its optimum moved +1.5 in x0 and -1.0 in x1, x3's range moved to [-6, 4], x4
    removed (held at its best value) and x5 new (another Styblinski-Tang term); minimum 6 x -39.16617."""
    return (
        _st1(config["x0"] - 1.5)
        + _st1(config["x1"] + 1.0)
        + _st1(config["x2"])
        + _st1(config["x3"])
        + _st1(_ST_ARGMIN)
        + _st1(config["x5"])
    )


def ellipsoid_p3(config: dict) -> float:
    """An axis-parallel ellipsoid (conditioning 100) centred at (3, ..., 3) on [-5, 5]^5; minimum 0."""
    x = np.array([config[f"x{i}"] for i in range(5)])
    return float(np.sum(10 ** (2 * np.arange(5) / 4) * (x - 3.0) ** 2))


def _vec(fn: Callable[[np.ndarray], float], dim: int) -> Callable[[dict], float]:
    """A function of a vector as a function of a config {x0: .., x{dim-1}: ..}."""
    return lambda config: float(fn(np.array([config[f"x{i}"] for i in range(dim)], dtype=float)))


# mixed_categorical with the best learning rate of every optimizer +0.4 decade, every activation's best
# width halved, the lr range moved to [1e-5, 1e-1], "init" removed (held at the source optimum's choice)
# and a warmup fraction new (best 0.1).
_CATS_SHIFT_SPACE = {k: v for k, v in _CATS_SPACE.items() if k != "init"} | {
    "lr": tune.loguniform(1e-5, 1e-1),
    "warmup": tune.uniform(0.0, 0.3),
}
_CATS_SHIFT_BEST_LR = {"sgd": -1.1, "adam": -2.9, "rmsprop": -2.3}
_CATS_SHIFT_BEST_WIDTH = {"relu": 7, "tanh": 4, "gelu": 8, "elu": 5}  # log2
_CATS_BEST = min(
    itertools.product(*[range(len(_CATS_SPACE[c].categories)) for c in _CATS]),
    key=lambda idx: _cats_discrete(dict(zip(_CATS, idx, strict=True))),
)
_CATS_INIT = _CATS_BEST[_CATS.index("init")]
_CATS_SHIFT_OPTIMUM = min(
    _cats_discrete(dict(zip(_CATS, idx, strict=True)))
    for idx in itertools.product(*[range(len(_CATS_SPACE[c].categories)) for c in _CATS])
    if idx[_CATS.index("init")] == _CATS_INIT
)


def cats_shift(config: dict) -> float:
    """mixed_categorical with the optimum moved (best lr +0.4 decade, best width halved), the lr range
    changed, "init" removed and "warmup" new; minimum: the best categorical combination with init held."""
    index = {c: _CATS_SPACE[c].categories.index(config[c]) for c in _CATS if c != "init"} | {"init": _CATS_INIT}
    log_width = np.log2(snap_int(config["width"], _CATS_SPACE["width"]))
    return float(
        _cats_discrete(index)
        + 0.3 * (np.log10(config["lr"]) - _CATS_SHIFT_BEST_LR[config["optimizer"]]) ** 2
        + 0.03 * (log_width - _CATS_SHIFT_BEST_WIDTH[config["activation"]]) ** 2
        + 3.0 * (config["dropout"] - 0.05 * (log_width - 4)) ** 2
        + 2.0 * (config["warmup"] - 0.1) ** 2
    )


_SGD_ANTI = {
    "loss": {"squared_hinge": 0.0, "modified_huber": 0.2, "hinge": 0.4, "log_loss": 0.4},
    "penalty": {"l1": 0.0, "elasticnet": 0.2, "l2": 0.4},
    "learning_rate": {"invscaling": 0.0, "adaptive": 0.3, "optimal": 0.4},
}


def sgd_synthetic(config: dict) -> float:
    """The SGD space with a made-up landscape unlike digits_sgd's: squared hinge, l1, invscaling, alpha
    1e-2, eta0 1e-3, l1_ratio 0.9 and 2 iterations best; minimum 0."""
    return float(
        sum(table_[config[k]] for k, table_ in _SGD_ANTI.items())
        + 0.1 * (np.log10(config["alpha"]) + 2) ** 2
        + 0.1 * (np.log10(config["eta0"]) + 3) ** 2
        + (config["l1_ratio"] - 0.9) ** 2
        + 0.02 * (snap_int(config["max_iter"], _SGD_SPACE["max_iter"]) - 2) ** 2
    )


def _box(dim: int, low: float, high: float) -> dict:
    """``dim`` uniform floats x0..x{dim-1} on [low, high]."""
    return {f"x{i}": tune.uniform(low, high) for i in range(dim)}


# ---------------------------------------------------------------- COCO bbob


@functools.cache
def _bbob_problem(function: int, instance: int, dim: int) -> Any:
    """A COCO bbob problem without an observer (cocoex.BareProblem), one per process."""
    import cocoex

    return cocoex.BareProblem("bbob", function, dim, instance)


def bbob_objective(function: int, instance: int, dim: int = 5) -> Objective:
    """COCO bbob function ``function``, instance ``instance``, on its box [-5, 5]^dim; minimum its fopt."""

    def fn(config: dict) -> float:
        return float(_bbob_problem(function, instance, dim)(np.array([config[f"x{i}"] for i in range(dim)])))

    problem = _bbob_problem(function, instance, dim)
    return Objective(
        f"ws_bbob_f{function:02d}_i{instance}_d{dim}",
        "synthetic",
        _box(dim, -5.0, 5.0),
        fn,
        float(problem.best_value()),
        f"COCO bbob f{function} instance {instance}, {dim}-D",
    )


def coco_available() -> bool:
    """Whether coco-experiment (``cocoex``) is installed."""
    try:
        import cocoex  # noqa: F401
    except ImportError:
        return False
    return True


# ---------------------------------------------------------------- pairs


@dataclass(frozen=True)
class Pair:
    """A source task and a target task: ``kind`` is related, bbob or unrelated; ``half`` dev or held-out."""

    name: str
    kind: str
    half: str
    source: Objective
    target: Objective
    note: str

    @property
    def model(self) -> bool:
        """Whether the target trains a scikit-learn model (these pairs get --model-seeds seeds)."""
        return self.target.kind == "model" or self.source.kind == "model"


def _synthetic(
    name: str, space: dict, fn: Callable[[dict], float], optimum: float, doc: str, kind: str = ""
) -> Objective:
    """An Objective of this module (kind "synthetic" unless given)."""
    return Objective(name, kind or "synthetic", space, fn, optimum, doc)


@functools.cache
def pairs() -> dict[str, Pair]:
    """Every pair of the study, by name (the bbob ones only with coco-experiment installed). The
    dev/held-out labels were fixed before the first run, alternating within each family."""
    o = OBJECTIVES
    levy5 = _synthetic("ws_levy5", _box(5, -5.0, 5.0), _vec(levy, 5), 0.0, "Levy on [-5, 5]^5")
    items = [
        # related: the same model on two data sets
        Pair(
            "sgd_digits_to_cancer",
            "related",
            "dev",
            o["digits_sgd"],
            sgd_objective("breast_cancer", 0.3),
            "SGD space; digits (error) -> breast_cancer (hinge loss)",
        ),
        Pair(
            "sgd_digits_to_classification",
            "related",
            "held-out",
            o["digits_sgd"],
            sgd_objective("classification", 0.3),
            "SGD space; digits (error) -> make_classification (hinge loss)",
        ),
        Pair(
            "svc_cancer_to_classification",
            "related",
            "dev",
            o["cancer_svc"],
            svc_objective("classification", 0.3),
            "SVC space; breast_cancer -> make_classification (hinge loss)",
        ),
        # related: a subset of the data -> the full data
        Pair(
            "svc_cancer_25_to_full",
            "related",
            "dev",
            svc_objective("breast_cancer", 0.3, 0.25),
            o["cancer_svc"],
            "SVC on breast_cancer: 25 % of the training rows -> all",
        ),
        Pair(
            "sgd_digits_25_to_full",
            "related",
            "held-out",
            sgd_objective("digits", 0.5, 0.25, error=True),
            o["digits_sgd"],
            "SGD on digits: 25 % of the training rows -> all (error)",
        ),
        Pair(
            "tree_diabetes_25_to_full",
            "related",
            "held-out",
            Objective("ws_tree_diabetes_25", "model", _TREE_SPACE, diabetes_tree_25, None, "diabetes_tree, 25 %"),
            o["diabetes_tree"],
            "decision tree on diabetes: 25 % of the rows -> all (5-fold CV MSE)",
        ),
        # related: synthetic objective -> a shifted copy (optimum moved, ranges changed, one new, one removed)
        Pair(
            "bowls_shift",
            "related",
            "dev",
            o["mixed_bowls"],
            _synthetic("ws_bowls_shift", _BOWLS_SHIFT_SPACE, bowls_shift, 0.0, bowls_shift.__doc__, "mixed"),
            "mixed_bowls -> lr +0.5 decade, momentum -0.2, a layer less; lr and batch ranges changed; "
            "optim/wd removed, dropout new",
        ),
        Pair(
            "styblinski_shift",
            "related",
            "dev",
            o["styblinski_tang5"],
            _synthetic(
                "ws_styblinski_shift", _ST_SHIFT_SPACE, styblinski_shift, 6 * _st1(_ST_ARGMIN), styblinski_shift.__doc__
            ),
            "styblinski_tang5 -> x0 +1.5, x1 -1.0 (0.15, 0.1 of the range); x3 range moved; x4 removed, x5 new",
        ),
        Pair(
            "hartmann6_shift",
            "related",
            "held-out",
            o["hartmann6"],
            _synthetic("ws_hartmann6_shift", _H6_SHIFT_SPACE, hartmann6_shift, -3.32237, hartmann6_shift.__doc__),
            "hartmann6 -> x0 +0.2, x2 -0.2; x0 range [0, 1.2]; x5 removed, x6 new",
        ),
        Pair(
            "cats_shift",
            "related",
            "held-out",
            o["mixed_categorical"],
            _synthetic(
                "ws_cats_shift", _CATS_SHIFT_SPACE, cats_shift, _CATS_SHIFT_OPTIMUM, cats_shift.__doc__, "mixed"
            ),
            "mixed_categorical -> best lr +0.4 decade, best width halved; lr range changed; init removed, warmup new",
        ),
        # unrelated: the same parameter names, another landscape
        Pair(
            "st_to_ellipsoid",
            "unrelated",
            "dev",
            o["styblinski_tang5"],
            _synthetic("ws_ellipsoid_p3", _box(5, -5.0, 5.0), ellipsoid_p3, 0.0, ellipsoid_p3.__doc__),
            "[-5, 5]^5: Styblinski-Tang (best at -2.9) -> ellipsoid centred at +3",
        ),
        Pair(
            "levy_to_st",
            "unrelated",
            "held-out",
            levy5,
            o["styblinski_tang5"],
            "[-5, 5]^5: Levy (best at 1) -> Styblinski-Tang (best at -2.9)",
        ),
        Pair(
            "bowls_flip",
            "unrelated",
            "dev",
            o["mixed_bowls"],
            _synthetic("ws_bowls_flip", _BOWLS_SPACE, bowls_flip, 0.0, bowls_flip.__doc__, "mixed"),
            "mixed_bowls' space: best net -> best linear, other lr, layers, batch, momentum, wd",
        ),
        Pair(
            "hartmann6_mirror",
            "unrelated",
            "held-out",
            o["hartmann6"],
            _synthetic("ws_hartmann6_mirror", _box(6, 0.0, 1.0), hartmann6_mirror, -3.32237, hartmann6_mirror.__doc__),
            "[0, 1]^6: hartmann6 -> hartmann6(1 - x)",
        ),
        Pair(
            "sgd_digits_to_synthetic",
            "unrelated",
            "dev",
            o["digits_sgd"],
            _synthetic("ws_sgd_synthetic", _SGD_SPACE, sgd_synthetic, 0.0, sgd_synthetic.__doc__, "mixed"),
            "SGD space: digits error -> a made-up landscape (squared hinge, l1, invscaling best)",
        ),
    ]
    if coco_available():
        for function, half, what in (
            (1, "dev", "sphere"),
            (10, "dev", "ellipsoid"),
            (8, "held-out", "rosenbrock"),
            (15, "held-out", "rastrigin"),
        ):
            items.append(
                Pair(
                    f"bbob_f{function:02d}_i1_to_i2",
                    "bbob",
                    half,
                    bbob_objective(function, 1),
                    bbob_objective(function, 2),
                    f"COCO bbob f{function} ({what}) 5-D: instance 1 -> 2",
                )
            )
    return {p.name: p for p in items}


# ---------------------------------------------------------------- runs


def adapt_point(config: dict, space: dict) -> dict:
    """An earlier config as a point of ``space``, as a user would carry it over by hand: the values of the
    keys both share, numbers clipped into the new range (integers onto their grid), a category the new
    choice lacks left out; keys only ``space`` has are left out (the searcher fills them in)."""
    point: dict = {}
    for path, domain in domain_items(space):
        try:
            value = get_path(config, path)
        except (KeyError, TypeError):
            continue
        if isinstance(domain, Categorical):
            if value not in domain.categories:
                continue
        elif isinstance(domain, Integer):
            value = snap_int(value, domain)
        elif isinstance(domain, Float):
            value = float(np.clip(value, domain.lower, domain.upper))
        node = point
        for key in path[:-1]:
            node = node.setdefault(key, {})
        set_path(point, path, value)
    return point


def top_configs(searcher: PGSearcher, k: int) -> list[dict]:
    """The ``k`` best configs a finished search evaluated (from its optimizer's window), best first."""
    opt = searcher.optimizer
    rows, rewards = opt.window.arrays()
    order = np.argsort(-rewards[:, 0], kind="stable")[:k]
    return [opt.space.decode(rows[i]) for i in order]


@dataclass(frozen=True)
class Arm:
    """A way to start the target search: ``kind`` cold, warm or replay; ``settings`` for the warm one."""

    label: str
    kind: str
    settings: tuple[tuple[str, float], ...] = ()


def default_arms() -> list[Arm]:
    """cold, warm (default settings) and replay."""
    return [Arm("cold", "cold"), Arm("warm", "warm"), Arm("replay", "replay")]


def run_unit(
    pair_name: str, seed: int, settings: tuple[Setting, ...], source_setting: Setting, arms: list[Arm]
) -> list[dict]:
    """One pair and seed: the source search, then every arm at every setting on the target. One dict per
    target run: best value, best-so-far curve, and for a warm run the prior's state at its end."""
    warnings.filterwarnings("ignore")
    pair = pairs()[pair_name]
    source = PGSearcher(seed=SOURCE_SEED + seed)
    budget, concurrency = source_setting
    source_record = run_search(
        source, pair.source, budget, concurrency, order_seed(SOURCE_SEED + seed, pair.source.name, source_setting)
    )
    replay = [adapt_point(c, pair.target.space) for c in top_configs(source, TOP_K)]
    out = []
    for (budget, concurrency), arm in itertools.product(settings, arms):
        options = dict(arm.settings)
        if arm.kind == "warm":
            searcher = PGSearcher(seed=seed, prior=source, **options)
        elif arm.kind == "replay":
            searcher = PGSearcher(seed=seed, points_to_evaluate=replay)
        else:
            searcher = PGSearcher(seed=seed)
        t0 = time.perf_counter()
        record = run_search(
            searcher, pair.target, budget, concurrency, order_seed(seed, pair.target.name, (budget, concurrency))
        )
        opt = searcher.optimizer
        out.append(
            {
                "pair": pair_name,
                "arm": arm.label,
                "seed": seed,
                "budget": budget,
                "concurrency": concurrency,
                "best": record.best,
                "curve": record.curve,
                "seconds": time.perf_counter() - t0,
                "source_best": source_record.best,
                "rejected": bool(opt.prior_rejected) if arm.kind == "warm" else None,
                "trust": float(opt.prior_trust) if arm.kind == "warm" else None,
                "weight": float(opt.prior_weight) if arm.kind == "warm" else None,
            }
        )
    return out


def run_units(units: list[tuple], jobs: int) -> list[dict]:
    """Every (pair, seed, settings, source setting, arms) unit, in this process or ``jobs`` processes."""
    records: list[dict] = []
    start = time.time()

    def done(i: int, result: list[dict]) -> None:
        records.extend(result)
        if i % 10 == 0 or i == len(units):
            print(f"  {i}/{len(units)} pair-seeds, {time.time() - start:.0f} s", file=sys.stderr, flush=True)

    if jobs <= 1:
        for i, unit in enumerate(units, 1):
            done(i, run_unit(*unit))
    else:
        with ProcessPoolExecutor(jobs) as pool:
            for i, result in enumerate(pool.map(run_unit, *zip(*units, strict=True)), 1):
                done(i, result)
    return records


# ---------------------------------------------------------------- scoring


def mean_se(values: Iterable[float]) -> tuple[float, float]:
    """Mean and standard error (ddof 1; 0 for one value)."""
    v = np.asarray(list(values), dtype=float)
    return float(v.mean()), float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else 0.0


def pooled(items: list[tuple[float, float]]) -> tuple[float, float]:
    """Mean over pairs of their (mean, s.e.): the mean of the means, s.e. sqrt(sum se^2) / n (pairs are
    independent)."""
    if not items:
        return math.nan, math.nan
    means, ses = np.array(items).T
    return float(means.mean()), float(np.sqrt(np.sum(ses**2)) / len(items))


def summarize(
    records: list[dict], samples: dict[str, np.ndarray], settings: tuple[Setting, ...], arms: list[str]
) -> dict:
    """Per pair and setting: each arm's mean score ± s.e. over seeds, the paired differences warm - cold and
    warm - replay (or every arm - cold), the warm arm's rejection rate, trust and weight at the end; per
    kind and half, the same pooled over pairs; and mean score-at-budget curves for the figure."""
    by_pair: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        by_pair[r["pair"]].append(r)
    optimum: dict[str, float] = {}
    for name in by_pair:
        target = pairs()[name].target
        seen = min([float(samples[target.name].min())] + [r["best"] for r in by_pair[name]])
        optimum[name] = min(target.optimum, seen) if target.optimum is not None else seen
    out: dict = {"optimum": optimum, "pairs": {}, "groups": {}, "curves": {}}
    for name, runs in by_pair.items():
        pair, values = pairs()[name], samples[pairs()[name].target.name]
        out["pairs"][name] = {"kind": pair.kind, "half": pair.half, "settings": {}}
        for budget, concurrency in settings:
            rand = expected_best(values, budget)
            table_: dict[str, dict[int, dict]] = defaultdict(dict)
            for r in runs:
                if (r["budget"], r["concurrency"]) == (budget, concurrency):
                    table_[r["arm"]][r["seed"]] = r
            seeds = sorted(set.intersection(*[set(table_[a]) for a in arms]))
            scores = {a: np.array([score(table_[a][s]["best"], rand, optimum[name]) for s in seeds]) for a in arms}
            entry: dict = {"random_expected": rand, "seeds": len(seeds), "arms": {}, "diffs": {}}
            for a in arms:
                entry["arms"][a] = mean_se(scores[a])
                warm_runs = [table_[a][s] for s in seeds if table_[a][s]["rejected"] is not None]
                if warm_runs:
                    entry["arms"][a] += (
                        float(np.mean([r["rejected"] for r in warm_runs])),
                        float(np.mean([r["trust"] for r in warm_runs])),
                        float(np.mean([r["weight"] for r in warm_runs])),
                    )
            for a in arms:  # every arm against cold; the warm ones against replay too
                for b in ("cold", "replay"):
                    if b in arms and a not in ("cold", b) and (b == "cold" or a != "replay"):
                        entry["diffs"][f"{a} - {b}"] = mean_se(scores[a] - scores[b])
            out["pairs"][name]["settings"][f"{budget}x{concurrency}"] = entry
            if (budget, concurrency) == CURVE_SETTING:
                t = np.arange(1, budget + 1)
                rand_t = np.array([expected_best(values, int(b)) for b in t])
                out["curves"][name] = {
                    a: np.mean(
                        [score(np.asarray(table_[a][s]["curve"]), rand_t, optimum[name]) for s in seeds], axis=0
                    ).tolist()
                    for a in arms
                }
    for kind, half in itertools.product(KINDS, HALVES):
        names = [n for n, p in out["pairs"].items() if (p["kind"], p["half"]) == (kind, half)]
        if not names:
            continue
        group: dict = {"pairs": names, "settings": {}}
        for key in out["pairs"][names[0]]["settings"]:
            entries = [out["pairs"][n]["settings"][key] for n in names]
            group["settings"][key] = {
                "arms": {a: pooled([e["arms"][a][:2] for e in entries]) for a in arms},
                "diffs": {d: pooled([e["diffs"][d] for e in entries]) for d in entries[0]["diffs"]},
                "prior": {
                    a: [float(np.mean([e["arms"][a][i] for e in entries])) for i in (2, 3, 4)]
                    for a in arms
                    if len(entries[0]["arms"][a]) > 2
                },
            }
        out["groups"][f"{kind}/{half}"] = group
    return out


# ---------------------------------------------------------------- report


def algorithm_version() -> str:
    """The git commit the study ran on, and whether ``ray_pgsearch/`` differed from it ("unknown" outside
    a git checkout): results are only comparable on the same algorithm."""
    import subprocess

    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "ray_pgsearch"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}" + (" with uncommitted changes to ray_pgsearch/" if dirty else "")


def _pm(value: tuple[float, ...] | list[float]) -> str:
    """A signed mean ± s.e."""
    return f"{value[0]:+.1f} ± {value[1]:.1f}"


def _ms(value: tuple[float, ...] | list[float]) -> str:
    """A mean ± s.e."""
    return f"{value[0]:.1f} ± {value[1]:.1f}"


def bar_lines(summary: dict) -> list[str]:
    """The issue's bar, per half: related pairs at budget 32 (8 at once), warm at least RELATED_GAIN points
    above cold and above replay; unrelated pairs at budget 100 (each concurrency), warm at most
    UNRELATED_COST points below cold. The bbob instance pairs (the optimum moved at random) are held to the
    unrelated bar and their budget-32 gain is shown."""
    lines = []
    for half in HALVES:
        checks = []
        related = summary["groups"].get(f"related/{half}", {}).get("settings", {}).get("32x8")
        if related:
            for d in ("warm - cold", "warm - replay"):
                v = related["diffs"][d]
                checks.append((f"related, 32x8, {d} {_pm(v)} >= {RELATED_GAIN:g}", v[0] >= RELATED_GAIN))
        for kind in ("unrelated", "bbob"):
            group = summary["groups"].get(f"{kind}/{half}", {}).get("settings", {})
            for key, entry in group.items():
                if key.startswith("100x"):
                    v = entry["diffs"]["warm - cold"]
                    checks.append(
                        (f"{kind}, {key}, warm - cold {_pm(v)} >= -{UNRELATED_COST:g}", v[0] >= -UNRELATED_COST)
                    )
        if checks:
            lines.append(f"- {half}: " + "; ".join(f"{'PASS' if ok else 'FAIL'} {text}" for text, ok in checks))
    return lines


def markdown(
    summary: dict,
    seeds: dict[str, int],
    settings: tuple[Setting, ...],
    argv: list[str] | None,
    wall: float,
    source_setting: Setting = SOURCE_SETTING,
    quick: bool = False,
) -> str:
    """The report: pairs, per-group and per-pair tables for every setting, the prior's behaviour, the bar."""
    arms = list(next(iter(next(iter(summary["pairs"].values()))["settings"].values()))["arms"])
    title = "Warm starts: cold, warm (prior=) and replay (points_to_evaluate=)"
    lines = header("warm_start", title, argv, ["scikit-learn"])
    lines += [
        f"Algorithm: ray_pgsearch at commit {algorithm_version()}. Wall time: {wall / 60:.1f} min. "
        "Score = 100 * (1 - (best - optimum) / (random - optimum)) on the target: "
        "100 the optimum, 0 the exact expected best of uniform random search at the same budget (from a dense "
        "random sample), `optimum` the known minimum, else the best value seen. Mean ± standard error over "
        "seeds; a difference is paired by seed (the same seed and completion order for every arm). A group "
        "(kind x half) is the mean over its pairs, s.e. sqrt(sum s.e.²) / pairs. Source search: PGSearcher "
        f"defaults, seed {SOURCE_SEED} + s, {source_setting[0]} trials ({source_setting[1]} at once); replay runs "
        f"its top {TOP_K} configs first. `rejected`: share of warm runs whose prior was dropped "
        "(`optimizer.prior_rejected`); `trust`, `weight`: `optimizer.prior_trust` and `prior_weight` at the "
        "end of the run (weight in results of this search). Development pairs (dev) chose the defaults; held-out "
        "pairs did not.",
        "",
        "## Pairs",
        "",
    ]
    lines += table(
        ["pair", "kind", "half", "seeds", "source -> target", "what changes"],
        [
            [n, p.kind, p.half, str(seeds[n]), f"`{p.source.name}` -> `{p.target.name}`", p.note]
            for n, p in pairs().items()
            if n in summary["pairs"]
        ],
    )
    lines += ["## Groups", ""]
    diff_names = list(next(iter(summary["groups"].values()))["settings"][f"{settings[0][0]}x{settings[0][1]}"]["diffs"])
    for budget, concurrency in settings:
        key = f"{budget}x{concurrency}"
        rows = []
        for gname, group in summary["groups"].items():
            entry = group["settings"][key]
            prior = entry["prior"].get("warm") or next(iter(entry["prior"].values()), [math.nan] * 3)
            rows.append(
                [gname, str(len(group["pairs"]))]
                + [_ms(entry["arms"][a]) for a in arms]
                + [_pm(entry["diffs"][d]) for d in diff_names]
                + [f"{prior[0]:.2f}", f"{prior[1]:.2f}", f"{prior[2]:.2f}"]
            )
        lines += [f"### Budget {budget}, {concurrency} at once", ""]
        lines += table(["kind/half", "pairs"] + arms + diff_names + ["rejected", "trust", "weight"], rows)
    lines += ["## Per pair", ""]
    for budget, concurrency in settings:
        key = f"{budget}x{concurrency}"
        rows = []
        for name, p in summary["pairs"].items():
            entry = p["settings"][key]
            warm = entry["arms"].get("warm", ())
            prior = warm[2:] if len(warm) > 2 else [math.nan] * 3
            rows.append(
                [name, p["kind"], p["half"]]
                + [_ms(entry["arms"][a]) for a in arms]
                + [_pm(entry["diffs"][d]) for d in diff_names]
                + [f"{prior[0]:.2f}", f"{prior[1]:.2f}", f"{prior[2]:.2f}"]
            )
        lines += [f"### Budget {budget}, {concurrency} at once", ""]
        lines += table(["pair", "kind", "half"] + arms + diff_names + ["rejected", "trust", "weight"], rows)
    lines += ["## Bar", ""]
    if quick:
        lines += ["Not checked: a --quick run (other budgets, few seeds).", ""]
    else:
        lines += [
            f"Related pairs, budget 32 (8 at once): warm at least {RELATED_GAIN:g} points above cold and above "
            f"replay. Unrelated pairs, budget 100: warm at most {UNRELATED_COST:g} points below cold. bbob "
            "instance pairs share a shape, not an optimum (it moves at random in [-4, 4]^5): held to the "
            "unrelated bar.",
            "",
        ]
        lines += bar_lines(summary) + [""]
    return "\n".join(lines)


def plot(summary: dict, path: Path) -> None:
    """Mean score at budget t (against random search at t) of each arm, from the CURVE_SETTING runs: one
    panel per kind, development pairs solid, held-out dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = [k for k in KINDS if any(p["kind"] == k for p in summary["pairs"].values())]
    fig, axes = plt.subplots(1, len(kinds), figsize=(5.5 * len(kinds), 4.5), squeeze=False)
    for ax, kind in zip(axes[0], kinds, strict=True):
        for half, style in zip(HALVES, ("-", "--"), strict=True):
            names = [n for n, p in summary["pairs"].items() if (p["kind"], p["half"]) == (kind, half)]
            if not names or names[0] not in summary["curves"]:
                continue
            for i, arm in enumerate(summary["curves"][names[0]]):
                curve = np.mean([summary["curves"][n][arm] for n in names], axis=0)
                ax.plot(np.arange(1, curve.size + 1), curve, style, color=f"C{i}", label=f"{arm} ({half})")
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_ylim(-60, 100)
        ax.set_title(f"{kind} pairs, {CURVE_SETTING[1]} at once")
        ax.set_xlabel("completed trials t")
        ax.set_ylabel("mean score at t (0: random search at t)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def sweep_markdown(summary: dict, arms: list[Arm], argv: list[str] | None, wall: float, seeds: dict[str, int]) -> str:
    """The sweep's report (dev pairs only): cold's and replay's scores per kind, then for every warm
    setting its gain over cold (and the share of its runs that rejected the prior) and over replay."""
    lines = header("warm_start", "Warm starts: prior_weight x prior_halflife on development pairs", argv, [])
    keys = list(next(iter(summary["groups"].values()))["settings"])
    groups = list(summary["groups"])
    lines += [
        f"Algorithm: ray_pgsearch at commit {algorithm_version()}. Wall time: {wall / 60:.1f} min. "
        f"Development pairs only ({', '.join(summary['pairs'])}); seeds per pair: "
        f"{sorted(set(seeds.values()))}. Scores as in warm_start.md (the optimum of a model target is the best "
        "value seen in this sweep). Mean ± s.e. over the pairs of a kind, differences paired by seed.",
        "",
        "Cold and replay (the same in every row below):",
        "",
    ]
    lines += table(
        ["arm"] + [f"{g} {k}" for g in groups for k in keys],
        [
            [a] + [_ms(summary["groups"][g]["settings"][k]["arms"][a]) for g in groups for k in keys]
            for a in ("cold", "replay")
        ],
    )
    warm = [a for a in arms if a.kind == "warm"]
    lines += ["Warm - cold (in brackets: the share of warm runs that rejected the prior):", ""]
    rows = []
    for arm in warm:
        s = dict(arm.settings)
        cells = []
        for g in groups:
            for k in keys:
                entry = summary["groups"][g]["settings"][k]
                cells.append(f"{_pm(entry['diffs'][f'{arm.label} - cold'])} ({entry['prior'][arm.label][0]:.2f})")
        rows.append([f"{s['prior_weight']:g}", f"{s['prior_halflife']:g}"] + cells)
    lines += table(["prior_weight", "prior_halflife"] + [f"{g} {k}" for g in groups for k in keys], rows)
    lines += ["Warm - replay:", ""]
    rows = []
    for arm in warm:
        s = dict(arm.settings)
        cells = [
            _pm(summary["groups"][g]["settings"][k]["diffs"][f"{arm.label} - replay"]) for g in groups for k in keys
        ]
        rows.append([f"{s['prior_weight']:g}", f"{s['prior_halflife']:g}"] + cells)
    lines += table(["prior_weight", "prior_halflife"] + [f"{g} {k}" for g in groups for k in keys], rows)
    return "\n".join(lines)


# ---------------------------------------------------------------- main


def _floats(text: str) -> list[float]:
    """Comma-separated numbers (argparse type)."""
    return [float(v) for v in text.split(",")]


def main(argv: list[str] | None = None) -> dict:
    """Parse the command line, run the study (or the sweep), write the report; returns the summary."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=30, help="seeds per synthetic and bbob pair (default 30)")
    parser.add_argument("--model-seeds", type=int, help="seeds per scikit-learn pair (default: min(seeds, 15))")
    parser.add_argument("--first-seed", type=int, default=0, help="the first seed (default 0): a fresh batch of seeds")
    parser.add_argument("--pairs", help="comma-separated pair names (default: all; --quick: a few synthetic ones)")
    parser.add_argument("--jobs", type=int, default=1, help="pair-seeds run in parallel processes")
    parser.add_argument("--quick", action="store_true", help="a test-sized run: 2 seeds, 4 pairs, budgets 16 and 32")
    parser.add_argument("--sweep", action="store_true", help="prior_weight x prior_halflife on dev pairs")
    parser.add_argument("--sweep-weights", type=_floats, default=_floats("0,3,10,30"), help="prior_weight values")
    parser.add_argument("--sweep-halflives", type=_floats, default=_floats("5,10,20"), help="prior_halflife values")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the .md, .json and .png go")
    args = parser.parse_args(argv)

    chosen = args.pairs.split(",") if args.pairs else list(QUICK_PAIRS if args.quick else pairs())
    unknown = sorted(set(chosen) - set(pairs()))
    if unknown:
        parser.error(f"unknown pairs {unknown}; the pairs are {sorted(pairs())}")
    if args.sweep:
        chosen = [n for n in chosen if pairs()[n].half == "dev"]
    seeds_default = 2 if args.quick else args.seeds
    model_seeds = args.model_seeds or min(seeds_default, 15)
    seeds = {n: model_seeds if pairs()[n].model else seeds_default for n in chosen}
    settings = QUICK_SETTINGS if args.quick else SETTINGS
    source_setting = QUICK_SOURCE_SETTING if args.quick else SOURCE_SETTING
    if args.sweep:
        settings = settings[:2]
        arms = [Arm("cold", "cold"), Arm("replay", "replay")] + [
            Arm(f"w{w:g}/h{h:g}", "warm", (("prior_weight", w), ("prior_halflife", h)))
            for w, h in itertools.product(args.sweep_weights, args.sweep_halflives)
        ]
    else:
        arms = default_arms()
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.time()
    cache = args.out / "cache"
    samples = {}
    for n in chosen:
        target = pairs()[n].target
        size = QUICK_SAMPLE if args.quick else RANDOM_SAMPLE[target.kind]
        samples[target.name] = random_values(target, size, cache)
    first = args.first_seed
    units = [(n, s, settings, source_setting, arms) for n in chosen for s in range(first, first + seeds[n])]
    units.sort(key=lambda u: -int(pairs()[u[0]].model))  # the dear ones first
    records = run_units(units, args.jobs)
    summary = summarize(records, samples, settings, [a.label for a in arms])
    wall = time.time() - start
    stem = "warm_start_sweep" if args.sweep else "warm_start"
    if args.sweep:
        text = sweep_markdown(summary, arms, argv, wall, seeds)
    else:
        text = markdown(summary, seeds, settings, argv, wall, source_setting, quick=args.quick)
        plot(summary, args.out / f"{stem}.png")
    (args.out / f"{stem}.md").write_text(text)
    runs = [{k: v for k, v in r.items() if k != "curve"} for r in records]
    (args.out / f"{stem}.json").write_text(json.dumps({"summary": summary, "seeds": seeds, "runs": runs}))
    print(text)
    return summary


if __name__ == "__main__":
    main()
