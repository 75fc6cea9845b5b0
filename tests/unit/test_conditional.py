"""Conditional spaces: choices over sub-spaces, only active parameters sampled, shown and learned."""

import numpy as np
from ray import tune

from ray_pgsearch import PGOptimizer, SearchSpace

SPACE = {
    "optimizer": tune.choice(
        [
            {"name": "sgd", "momentum": tune.uniform(0.5, 0.99), "nesterov": tune.choice([False, True])},
            {"name": "adam", "beta1": tune.uniform(0.8, 0.999)},
        ]
    ),
    "augment": tune.choice([False, {"factor": tune.uniform(0.0, 1.0)}]),  # a switch with its factor
    "lr": tune.loguniform(1e-4, 1e-1),
}


def loss(config):
    """Best: adam with beta1 = 0.95 (sgd's best is 0.3 worse), augmentation on with factor 0.3."""
    opt = config["optimizer"]
    if opt["name"] == "sgd":
        value = 0.3 + (opt["momentum"] - 0.9) ** 2 + (0.0 if opt["nesterov"] else 0.05)
    else:
        value = 20 * (opt["beta1"] - 0.95) ** 2
    aug = config["augment"]
    value += 0.2 if aug is False else (aug["factor"] - 0.3) ** 2
    return value + (np.log10(config["lr"]) + 2) ** 2 / 20


def test_configs_hold_only_the_active_branch():
    opt = PGOptimizer(SPACE, seed=0)
    for _ in range(100):
        config = opt.ask()
        if config["optimizer"]["name"] == "sgd":
            assert set(config["optimizer"]) == {"name", "momentum", "nesterov"}
        else:
            assert set(config["optimizer"]) == {"name", "beta1"}
        assert config["augment"] is False or set(config["augment"]) == {"factor"}
        opt.tell(config, loss(config))


def test_learns_the_best_branch_and_the_best_values_inside_it():
    opt = PGOptimizer(SPACE, seed=0)
    for _ in range(150):
        config = opt.ask()
        opt.tell(config, loss(config))
    view = opt.view()
    probs = {c.name: c.probabilities for c in view.choices}
    assert probs["optimizer"][1] > 0.8 and probs["augment"][1] > 0.8
    beta1 = {p.name: p.centre for p in view.numeric}["optimizer/1/beta1"]
    assert abs(beta1 - 0.95) < 0.03
    best = opt.best_config
    assert best["optimizer"]["name"] == "adam" and abs(best["optimizer"]["beta1"] - 0.95) < 0.02
    assert best["augment"] is not False and abs(best["augment"]["factor"] - 0.3) < 0.1


def test_only_active_actors_learn():
    opt = PGOptimizer(SPACE, seed=0, startup={"size": 0})
    for i in range(30):  # only sgd trials
        config = {
            "optimizer": {"name": "sgd", "momentum": 0.5 + i / 70, "nesterov": True},
            "augment": False,
            "lr": 1e-3,
        }
        opt.tell(config, loss(config))
    latent = {p.name: p.latent_mean for p in opt.view().numeric}
    assert latent["optimizer/1/beta1"] == 0.5  # adam's beta1 never saw a sample
    assert latent["optimizer/0/momentum"] != 0.5


def test_conditional_points_round_trip_and_are_checked():
    space = SearchSpace(SPACE)
    point = {"optimizer": {"name": "adam", "beta1": 0.9}, "augment": {"factor": 0.25}, "lr": 0.01}
    assert space.complete(point) == point
    assert space.decode(space.encode(point))["optimizer"] == {"name": "adam", "beta1": 0.9}
    try:
        space.complete({"optimizer": {"name": "rmsprop"}, "augment": False, "lr": 0.01})
    except ValueError as e:
        assert "optimizer" in str(e)
    else:
        raise AssertionError("a point outside every branch must be refused")


# -- constraints ------------------------------------------------------------------------------------
BOX = {"x": tune.uniform(0.0, 1.0), "y": tune.uniform(0.0, 1.0), "kind": tune.choice(["a", "b"])}


def inside_disk(config):
    """Feasible: the disk of radius 0.3 around (0.5, 0.5); the unconstrained optimum (1, 1) is outside."""
    return (config["x"] - 0.5) ** 2 + (config["y"] - 0.5) ** 2 <= 0.09


def box_loss(config):
    return (config["x"] - 1) ** 2 + (config["y"] - 1) ** 2 + (config["kind"] == "b")


def test_constraint_rejects_samples_and_the_best_satisfies_it():
    opt = PGOptimizer(BOX, seed=0, constraint=inside_disk)
    told_outside = {"x": 0.99, "y": 0.99, "kind": "a"}  # a user-evaluated config outside the disk
    opt.tell(told_outside, box_loss(told_outside))
    for _ in range(80):
        config = opt.ask()
        assert inside_disk(config)
        opt.tell(config, box_loss(config))
    assert opt.n_rejected > 0
    assert inside_disk(opt.best_config) and opt.best_config["kind"] == "a"
    assert opt.best_value < box_loss({"x": 0.5 + 0.3 / 2**0.5, "y": 0.5 + 0.3 / 2**0.5, "kind": "a"}) + 0.02


def never(config):
    return False


def test_an_unsatisfiable_constraint_is_a_clear_error():
    opt = PGOptimizer(BOX, seed=0, constraint=never, rejection={"max_in_a_row": 50})
    try:
        opt.ask()
    except RuntimeError as e:
        assert "constraint rejected 51" in str(e)
    else:
        raise AssertionError("ask() must refuse to loop forever")
