"""Warm starts: PGSearcher(warm_start=...) / PGOptimizer(..., warm_start=...) start from an earlier search."""

from __future__ import annotations

import math

import numpy as np
import pytest
from ray import tune

from ray_pgsearch import (
    ModelSettings,
    PGOptimizer,
    PGSearcher,
    PolicySettings,
    SearchSpace,
    Settings,
    WarmStartSettings,
)
from ray_pgsearch._warm_start import WarmStart

OLD = {
    "lr": tune.loguniform(1e-4, 1e-1),
    "act": tune.choice(["relu", "tanh", "gelu"]),
    "width": tune.randint(8, 65),
    "dropout": tune.uniform(0.0, 0.5),  # removed in NEW
}
NEW = {
    "lr": tune.loguniform(1e-5, 1.0),  # a wider range: the latent of a value moves, the value must not
    "act": tune.choice(["selu", "gelu", "relu"]),  # reordered, one category dropped, one new
    "width": tune.randint(8, 65),
    "momentum": tune.uniform(0.0, 1.0),  # new
}


def mapped(sources: list) -> WarmStart:
    """The earlier searches mapped into NEW, as a warm start of a NEW search does."""
    snapshots = [s.snapshot() for s in sources]
    return WarmStart.of(snapshots, SearchSpace(NEW), WarmStartSettings(), PolicySettings(), 128, ModelSettings())


def loss(config: dict, lr_best: float = 1e-2, width_best: int = 40) -> float:
    act = {"relu": 0.0, "gelu": 0.3, "tanh": 0.6, "selu": 0.6}[config["act"]]
    return (math.log10(config["lr"]) - math.log10(lr_best)) ** 2 + act + ((config["width"] - width_best) / 30) ** 2


def trained(space: dict, fn, n: int = 80, seed: int = 0) -> PGOptimizer:
    opt = PGOptimizer(space, seed=seed)
    for _ in range(n):
        config = opt.ask()
        opt.tell(config, fn(config))
    return opt


def test_the_policy_is_mapped_through_values_by_key_path():
    old = trained(OLD, loss)
    new = PGOptimizer(NEW, seed=0, warm_start=old)
    lr_old, lr_new = old.view().numeric[0], new.view().numeric[0]
    assert lr_new.centre == pytest.approx(lr_old.centre, rel=1e-6)
    assert lr_new.upper == pytest.approx(lr_old.upper, rel=1e-3)
    momentum = {p.name: p for p in new.view().numeric}["momentum"]
    assert momentum.latent_mean == 0.5 and momentum.latent_std == pytest.approx(0.3)  # new: from its domain
    old_p = dict(zip(OLD["act"].categories, old.view().choices[0].probabilities, strict=True))
    new_p = dict(zip(NEW["act"].categories, new.view().choices[0].probabilities, strict=True))
    assert new_p["relu"] / new_p["gelu"] == pytest.approx(old_p["relu"] / old_p["gelu"], rel=1e-6)  # by value
    assert new.view().warm_start.shared == ("act", "lr", "width")
    # the earlier results join the model with what they know: momentum unknown, selu never seen
    known = mapped([old]).mapped["known"]
    names = new.space.names()
    assert not known[:, names.index("momentum")].any() and known[:, names.index("lr")].all()


def _best_after(budget: int, seed: int, fn, warm_start=None, points=None, batch: int = 4) -> float:
    opt = PGOptimizer(NEW, seed=seed, warm_start=warm_start, points_to_evaluate=points)
    best = math.inf
    for start in range(0, budget, batch):
        configs = [opt.ask(trial_id=start + i) for i in range(batch)]
        for i, config in enumerate(configs):
            value = fn(config)
            best = min(best, value)
            opt.tell(config, value, trial_id=start + i)
    return best


def shifted(config: dict) -> float:
    """The same task with its optimum moved a little (a related task)."""
    return loss(config, lr_best=2e-2, width_best=36)


def test_a_related_prior_finds_good_configs_sooner_than_a_cold_start():
    old = trained(OLD, loss)
    seeds = range(12)
    warm = np.mean([_best_after(16, s, shifted, warm_start=old) for s in seeds])
    cold = np.mean([_best_after(16, s, shifted) for s in seeds])
    assert warm < 0.5 * cold


def opposite(config: dict) -> float:
    """A task that wants what ``loss`` does not: lr 1e-4, tanh, a narrow width."""
    act = {"tanh": 0.0, "selu": 0.3, "gelu": 0.6, "relu": 0.6}[config["act"]]
    return (math.log10(config["lr"]) + 4) ** 2 + act + ((config["width"] - 10) / 30) ** 2


def test_a_contradicting_prior_is_dropped_and_costs_little():
    """A prior trained where the good lr is 1e-4 and the good activation tanh, on a task that wants the
    opposite: its ranking disagrees with the results, so the search drops it and resets the policy."""
    wrong = trained(OLD, opposite)
    seeds = range(8)
    rejected, warm, cold = 0, [], []
    for s in seeds:
        opt = PGOptimizer(NEW, seed=s, warm_start=wrong)
        for _ in range(40):
            config = opt.ask()
            opt.tell(config, loss(config))
        rejected += opt.view().warm_start.rejected or opt.view().warm_start.weight < 0.05
        warm.append(opt.best_value)
        cold.append(_best_after(40, s, loss, batch=1))
    assert rejected >= 6
    assert np.mean(warm) < np.mean(cold) + 0.15


def test_a_prior_of_several_searches_pools_them_and_the_searcher_accepts_files_and_dirs(tmp_path):
    a, b = trained(OLD, loss, seed=1), trained(OLD, shifted, seed=2)
    opt = PGOptimizer(NEW, seed=0, warm_start=[a, b])
    assert opt.state()["warm_start"]["rows"].shape[0] == a.view().rewards.shape[0] + b.view().rewards.shape[0]
    searcher = PGSearcher(OLD, metric="loss", mode="min", seed=0)
    for i in range(12):
        config = searcher.suggest(str(i))
        searcher.on_trial_complete(str(i), {"loss": loss(config)})
    searcher.save(str(tmp_path / "searcher-state-x.pkl"))
    for source in (str(tmp_path / "searcher-state-x.pkl"), str(tmp_path), searcher):
        warm = PGSearcher(NEW, metric="loss", mode="min", warm_start=source)
        assert warm.optimizer.state()["warm_start"]["rows"].shape[0] == 12


def test_bad_priors_say_why(tmp_path):
    old = trained(OLD, loss, n=20)
    junk = tmp_path / "junk.pkl"
    junk.write_text("not a pickle")
    with pytest.raises(ValueError, match="not a ray_pgsearch checkpoint"):
        PGSearcher(NEW, metric="loss", mode="min", warm_start=str(junk))
    with pytest.raises(ValueError, match="no PGSearcher checkpoint"):
        PGSearcher(NEW, metric="loss", mode="min", warm_start=str(tmp_path))
    with pytest.raises(ValueError, match="no such file"):
        PGSearcher(NEW, metric="loss", mode="min", warm_start=str(tmp_path / "missing.pkl"))
    with pytest.raises(ValueError, match="no parameter in common"):
        PGSearcher({"other": tune.uniform(0, 1)}, metric="loss", mode="min", warm_start=old)
    with pytest.raises(ValueError, match="no parameter in common"):  # with Tune's space: when Tune hands it over
        PGSearcher(metric="loss", mode="min", warm_start=old).set_search_properties(
            None, None, {"z": tune.uniform(0, 1)}
        )
    with pytest.raises(ValueError, match="must be a PGOptimizer"):
        PGOptimizer(NEW, warm_start=42)
    with pytest.warns(DeprecationWarning, match="prior= is now warm_start="):
        PGOptimizer(NEW, prior=old)


def test_restore_with_a_prior_suggests_exactly_what_the_original_would(tmp_path):
    old = trained(OLD, loss, n=30)
    original = PGSearcher(NEW, metric="loss", mode="min", seed=3, warm_start=old)
    for i in range(10):
        config = original.suggest(str(i))
        original.on_trial_complete(str(i), {"loss": shifted(config)})
    path = str(tmp_path / "state.pkl")
    original.save(path)
    restored = PGSearcher()
    restored.restore(path)
    assert restored.view().warm_start == original.view().warm_start and original.view().warm_start.weight > 0
    for i in range(10, 20):
        assert restored.suggest(str(i)) == original.suggest(str(i))


def test_the_warm_start_weight_decays_as_results_arrive():
    old = trained(OLD, loss, n=30)
    opt = PGOptimizer(
        NEW, seed=0, warm_start=old, settings=Settings(warm_start=WarmStartSettings(weight=8.0, halflife=5.0))
    )
    weights = [opt.view().warm_start.weight]
    for _ in range(10):
        config = opt.ask()
        opt.tell(config, shifted(config))
        weights.append(opt.view().warm_start.weight)
    assert weights[0] == 8.0 and weights[5] == pytest.approx(4.0)  # trust is judged from 8 results on
    assert weights[10] <= 2.0


def test_a_warm_start_opens_with_the_priors_best_configs_between_the_startup_designs_draws():
    old = trained(OLD, loss)
    opt = PGOptimizer(NEW, seed=0, warm_start=old)
    assert len(opt.state()["opening"]["rows"]) == opt.settings.startup.size + 4  # never explores less than cold
    opening = [opt.ask(trial_id=i) for i in range(8)]
    prior_best = sorted(old.view().rewards[:, 0], reverse=True)[:4]
    replayed = [c for c in opening[0::2]]
    assert [round(-loss(c), 6) for c in replayed] == pytest.approx([round(r, 6) for r in prior_best], abs=0.05)
    assert all(c["act"] in ("relu", "gelu", "selu") for c in opening)


def test_a_dropped_prior_takes_its_configs_not_yet_asked_and_leaves_the_startup_designs_draws():
    wrong = trained(OLD, opposite)
    for seed in range(4):
        opt = PGOptimizer(NEW, seed=seed, warm_start=wrong)
        state = opt.state()
        replays = {row.tobytes() for row in state["warm_start"]["replays"]}
        draws = [row.tobytes() for row in state["opening"]["rows"] if row.tobytes() not in replays]
        asked = 0
        while not opt.view().warm_start.rejected and asked < 12:
            config = opt.ask()
            opt.tell(config, loss(config))
            asked += 1
        assert opt.view().warm_start.rejected and asked < 10  # judged inside the opening
        left = [row.tobytes() for row in opt.state()["opening"]["rows"]]
        assert left == draws[len(draws) - len(left) :]  # the draws not yet asked, in order, and nothing else
