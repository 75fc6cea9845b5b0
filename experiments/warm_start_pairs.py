"""The warm-start study's tasks (`python -m experiments.warm_start`): pairs of a source task and a target
task, each labelled with a kind (related, bbob, unrelated) and a half (development or held-out, fixed in
the code before any result was seen), and the objectives they are made of: scikit-learn models on other
data or on part of it, the lab's synthetic objectives with the optimum moved, ranges changed, a parameter
added and one removed, other landscapes over the same parameter names, and COCO bbob instance pairs
(only when ``coco-experiment`` is installed)."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from ray import tune

from experiments.lab.objectives import (
    BOWLS_SPACE,
    CATS,
    CATS_SPACE,
    OBJECTIVES,
    SGD_SPACE,
    SVC_SPACE,
    TREE_SPACE,
    Objective,
    bowl_terms,
    box,
    cats_discrete,
    hartmann6,
    levy,
    margin_loss,
    memoized,
    sgd_model,
    standard_split,
    svc_model,
    tree_cv_mse,
    vector,
)
from experiments.lab.protocol import DEV, HELD_OUT
from experiments.lab.spaces import snap_int

KINDS = ("related", "bbob", "unrelated")


# ---------------------------------------------------------------- scikit-learn objectives


@functools.cache
def _classification(test_size: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's make_classification (seeded: 600 rows, 20 features of which 8 informative, 3
    classes, 5 % of the labels flipped), split and standardized as ``objectives.standard_split`` does a bundled
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
    """The lab's fixed standardized split of a bundled data set (``objectives.standard_split``;
    "classification": ``_classification``), its training rows cut to a stratified ``fraction`` (seeded)
    when below 1."""
    from sklearn.model_selection import train_test_split

    x_tr, x_te, y_tr, y_te = _classification(test_size) if name == "classification" else standard_split(name, test_size)
    if fraction < 1.0:
        x_tr, _, y_tr, _ = train_test_split(x_tr, y_tr, train_size=fraction, random_state=0, stratify=y_tr)
    return x_tr, x_te, y_tr, y_te


def sgd_objective(dataset: str, test_size: float, fraction: float = 1.0, error: bool = False) -> Objective:
    """The SGD space on a bundled data set: validation hinge loss of the decision values (``margin_loss``),
    or validation error with ``error``; trained on ``fraction`` of the training rows."""
    suffix = "" if fraction == 1.0 else f"_{round(100 * fraction)}"

    @memoized(SGD_SPACE)
    def fn(config: dict) -> float:
        x_tr, x_te, y_tr, y_te = _data(dataset, test_size, fraction)
        model = sgd_model(config, x_tr, y_tr)
        return float(1.0 - model.score(x_te, y_te)) if error else margin_loss(model.decision_function(x_te), y_te)

    what = "validation error" if error else "validation hinge loss"
    return Objective(
        f"ws_sgd_{dataset}{suffix}",
        "model",
        SGD_SPACE,
        fn,
        None,
        f"SGDClassifier on {dataset} ({round(100 * fraction)} % of the training rows), {what}",
    )


def svc_objective(dataset: str, test_size: float, fraction: float = 1.0) -> Objective:
    """The SVC space on a bundled data set: validation hinge loss of the decision values (``margin_loss``;
    for breast_cancer at fraction 1 the same loss as ``cancer_svc``), trained on ``fraction`` of the rows."""
    suffix = "" if fraction == 1.0 else f"_{round(100 * fraction)}"

    @memoized(SVC_SPACE)
    def fn(config: dict) -> float:
        x_tr, x_te, y_tr, y_te = _data(dataset, test_size, fraction)
        return margin_loss(svc_model(config, x_tr, y_tr).decision_function(x_te), y_te)

    return Objective(
        f"ws_svc_{dataset}{suffix}",
        "model",
        SVC_SPACE,
        fn,
        None,
        f"SVC on {dataset} ({round(100 * fraction)} % of the training rows), validation hinge loss",
    )


@memoized(TREE_SPACE)
def diabetes_tree_25(config: dict) -> float:
    """``diabetes_tree`` on a quarter of the rows (seeded): 5-fold CV mean squared error / 1000."""
    from sklearn.datasets import load_diabetes
    from sklearn.model_selection import train_test_split

    x, y = load_diabetes(return_X_y=True)
    x, _, y, _ = train_test_split(x, y, train_size=0.25, random_state=0)
    return tree_cv_mse(config, x, y)


# ---------------------------------------------------------------- synthetic objectives


def _st1(v: float) -> float:
    """Styblinski-Tang in one coordinate: 0.5 (v^4 - 16 v^2 + 5 v), minimum -39.16617 at v = -2.903534."""
    return 0.5 * (v**4 - 16 * v**2 + 5 * v)


_ST_ARGMIN = -2.903534

# mixed_bowls with the optimum moved: the best net's log learning rate +0.5 decade, one layer fewer,
# momentum 0.9 -> 0.7 (a fifth of its range); the lr and batch ranges changed, weight decay removed
# (held at its best value), dropout new.
BOWLS_SHIFT_SPACE = {
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


def bowls_shift(config: dict) -> float:
    """mixed_bowls with the optimum moved, two ranges changed, weight decay removed and dropout new
    (best 0.2); minimum 0 (model "net")."""
    loss, best_mom, _ = bowl_terms(_BOWLS_SHIFT, config, BOWLS_SHIFT_SPACE)
    return loss + 2.0 * (config["optim"]["momentum"] - best_mom) ** 2 + 1.0 * (config["dropout"] - 0.2) ** 2


def bowls_flip(config: dict) -> float:
    """mixed_bowls' space with another landscape: "linear" best at a low learning rate, deep, small
    batches, no momentum, weight decay 10^-1.5; minimum 0."""
    loss, best_mom, _ = bowl_terms(_BOWLS_FLIP, config, BOWLS_SPACE)
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


# mixed_categorical with the best learning rate of every optimizer +0.4 decade, every activation's best
# width halved, the lr range moved to [1e-5, 1e-1], "init" removed (held at the source optimum's choice)
# and a warmup fraction new (best 0.1).
_CATS_SHIFT_SPACE = {k: v for k, v in CATS_SPACE.items() if k != "init"} | {
    "lr": tune.loguniform(1e-5, 1e-1),
    "warmup": tune.uniform(0.0, 0.3),
}
_CATS_SHIFT_BEST_LR = {"sgd": -1.1, "adam": -2.9, "rmsprop": -2.3}
_CATS_SHIFT_BEST_WIDTH = {"relu": 7, "tanh": 4, "gelu": 8, "elu": 5}  # log2
_CATS_BEST = min(
    itertools.product(*[range(len(CATS_SPACE[c].categories)) for c in CATS]),
    key=lambda idx: cats_discrete(dict(zip(CATS, idx, strict=True))),
)
_CATS_INIT = _CATS_BEST[CATS.index("init")]
_CATS_SHIFT_OPTIMUM = min(
    cats_discrete(dict(zip(CATS, idx, strict=True)))
    for idx in itertools.product(*[range(len(CATS_SPACE[c].categories)) for c in CATS])
    if idx[CATS.index("init")] == _CATS_INIT
)


def cats_shift(config: dict) -> float:
    """mixed_categorical with the optimum moved (best lr +0.4 decade, best width halved), the lr range
    changed, "init" removed and "warmup" new; minimum: the best categorical combination with init held."""
    index = {c: CATS_SPACE[c].categories.index(config[c]) for c in CATS if c != "init"} | {"init": _CATS_INIT}
    log_width = np.log2(snap_int(config["width"], CATS_SPACE["width"]))
    return float(
        cats_discrete(index)
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
        + 0.02 * (snap_int(config["max_iter"], SGD_SPACE["max_iter"]) - 2) ** 2
    )


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
        box(dim, -5.0, 5.0),
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
    """A source task and a target task: ``kind`` is related, bbob or unrelated; ``half`` `DEV` or `HELD_OUT`."""

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
    levy5 = _synthetic("ws_levy5", box(5, -5.0, 5.0), vector(levy), 0.0, "Levy on [-5, 5]^5")
    items = [
        # related: the same model on two data sets
        Pair(
            "sgd_digits_to_cancer",
            "related",
            DEV,
            o["digits_sgd"],
            sgd_objective("breast_cancer", 0.3),
            "SGD space; digits (error) -> breast_cancer (hinge loss)",
        ),
        Pair(
            "sgd_digits_to_classification",
            "related",
            HELD_OUT,
            o["digits_sgd"],
            sgd_objective("classification", 0.3),
            "SGD space; digits (error) -> make_classification (hinge loss)",
        ),
        Pair(
            "svc_cancer_to_classification",
            "related",
            DEV,
            o["cancer_svc"],
            svc_objective("classification", 0.3),
            "SVC space; breast_cancer -> make_classification (hinge loss)",
        ),
        # related: a subset of the data -> the full data
        Pair(
            "svc_cancer_25_to_full",
            "related",
            DEV,
            svc_objective("breast_cancer", 0.3, 0.25),
            o["cancer_svc"],
            "SVC on breast_cancer: 25 % of the training rows -> all",
        ),
        Pair(
            "sgd_digits_25_to_full",
            "related",
            HELD_OUT,
            sgd_objective("digits", 0.5, 0.25, error=True),
            o["digits_sgd"],
            "SGD on digits: 25 % of the training rows -> all (error)",
        ),
        Pair(
            "tree_diabetes_25_to_full",
            "related",
            HELD_OUT,
            Objective("ws_tree_diabetes_25", "model", TREE_SPACE, diabetes_tree_25, None, "diabetes_tree, 25 %"),
            o["diabetes_tree"],
            "decision tree on diabetes: 25 % of the rows -> all (5-fold CV MSE)",
        ),
        # related: synthetic objective -> a shifted copy (optimum moved, ranges changed, one new, one removed)
        Pair(
            "bowls_shift",
            "related",
            DEV,
            o["mixed_bowls"],
            _synthetic("ws_bowls_shift", BOWLS_SHIFT_SPACE, bowls_shift, 0.0, bowls_shift.__doc__, "mixed"),
            "mixed_bowls -> lr +0.5 decade, momentum -0.2, a layer less; lr and batch ranges changed; "
            "optim/wd removed, dropout new",
        ),
        Pair(
            "styblinski_shift",
            "related",
            DEV,
            o["styblinski_tang5"],
            _synthetic(
                "ws_styblinski_shift", _ST_SHIFT_SPACE, styblinski_shift, 6 * _st1(_ST_ARGMIN), styblinski_shift.__doc__
            ),
            "styblinski_tang5 -> x0 +1.5, x1 -1.0 (0.15, 0.1 of the range); x3 range moved; x4 removed, x5 new",
        ),
        Pair(
            "hartmann6_shift",
            "related",
            HELD_OUT,
            o["hartmann6"],
            _synthetic("ws_hartmann6_shift", _H6_SHIFT_SPACE, hartmann6_shift, -3.32237, hartmann6_shift.__doc__),
            "hartmann6 -> x0 +0.2, x2 -0.2; x0 range [0, 1.2]; x5 removed, x6 new",
        ),
        Pair(
            "cats_shift",
            "related",
            HELD_OUT,
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
            DEV,
            o["styblinski_tang5"],
            _synthetic("ws_ellipsoid_p3", box(5, -5.0, 5.0), ellipsoid_p3, 0.0, ellipsoid_p3.__doc__),
            "[-5, 5]^5: Styblinski-Tang (best at -2.9) -> ellipsoid centred at +3",
        ),
        Pair(
            "levy_to_st",
            "unrelated",
            HELD_OUT,
            levy5,
            o["styblinski_tang5"],
            "[-5, 5]^5: Levy (best at 1) -> Styblinski-Tang (best at -2.9)",
        ),
        Pair(
            "bowls_flip",
            "unrelated",
            DEV,
            o["mixed_bowls"],
            _synthetic("ws_bowls_flip", BOWLS_SPACE, bowls_flip, 0.0, bowls_flip.__doc__, "mixed"),
            "mixed_bowls' space: best net -> best linear, other lr, layers, batch, momentum, wd",
        ),
        Pair(
            "hartmann6_mirror",
            "unrelated",
            HELD_OUT,
            o["hartmann6"],
            _synthetic("ws_hartmann6_mirror", box(6, 0.0, 1.0), hartmann6_mirror, -3.32237, hartmann6_mirror.__doc__),
            "[0, 1]^6: hartmann6 -> hartmann6(1 - x)",
        ),
        Pair(
            "sgd_digits_to_synthetic",
            "unrelated",
            DEV,
            o["digits_sgd"],
            _synthetic("ws_sgd_synthetic", SGD_SPACE, sgd_synthetic, 0.0, sgd_synthetic.__doc__, "mixed"),
            "SGD space: digits error -> a made-up landscape (squared hinge, l1, invscaling best)",
        ),
    ]
    if coco_available():
        for function, half, what in (
            (1, DEV, "sphere"),
            (10, DEV, "ellipsoid"),
            (8, HELD_OUT, "rosenbrock"),
            (15, HELD_OUT, "rastrigin"),
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
