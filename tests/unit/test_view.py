"""The read-only view of a search, in the user's units."""

import math

import numpy as np
import pytest
from ray import tune

from ray_pgsearch import PGOptimizer

SPACE = {
    "lr": tune.loguniform(1e-4, 1e-1),
    "n": tune.randint(1, 9),
    "act": tune.choice(["relu", "tanh"]),
    "nested": {"x": tune.uniform(-2.0, 2.0)},
}


def loss(c: dict) -> float:
    return (math.log10(c["lr"]) + 2) ** 2 + abs(c["n"] - 3) + (c["act"] == "tanh") + c["nested"]["x"] ** 2


def trained(n: int = 40) -> PGOptimizer:
    opt = PGOptimizer(SPACE, seed=0)
    for _ in range(n):
        config = opt.ask()
        opt.tell(config, loss(config))
    return opt


def test_the_view_gives_each_parameter_in_its_own_units():
    view = trained().view()
    numeric = {p.name: p for p in view.numeric}
    assert set(numeric) == {"lr", "n", "nested/x"}
    lr = numeric["lr"]
    assert lr.centre == pytest.approx(10 ** (-4 + 3 * lr.latent_mean))
    assert lr.lower < lr.centre < lr.upper and 1e-4 <= lr.lower and lr.upper <= 1e-1
    assert isinstance(numeric["n"].centre, float) and float(numeric["n"].centre).is_integer()
    assert numeric["nested/x"].half_width == pytest.approx(2.0 * 2.0 * numeric["nested/x"].latent_std, rel=0.05)
    (act,) = view.choices
    assert act.categories == ("relu", "tanh") and sum(act.probabilities) == pytest.approx(1.0)
    assert act.probabilities[0] > act.probabilities[1]
    assert view.rewards.shape == (40, 1) and view.values("lr").shape == (40,)
    assert view.best_value == pytest.approx(-view.rewards.max()) and view.warm_start is None
    with pytest.raises(KeyError, match="no numeric parameter 'act'"):
        view.values("act")


def test_the_view_is_read_only_and_follows_the_search():
    opt = trained()
    view = opt.view()
    best = view.best_config
    best["n"] = 999
    assert opt.best_config["n"] != 999
    view.rewards[:] = 0.0
    assert opt.view().rewards.max() != 0.0
    told = view.n_told
    config = opt.ask()
    opt.tell(config, loss(config))
    assert view.n_told == told + 1


def test_drawing_from_the_view_leaves_the_search_as_it_was():
    a, b = trained(), trained()
    configs = a.view().sample(50, seed=1)
    assert len(configs) == 50 and all(1e-4 <= c["lr"] <= 1e-1 for c in configs)
    assert np.mean([c["act"] == "relu" for c in configs]) > 0.5
    assert a.ask() == b.ask()  # the search's own stream of suggestions did not move
