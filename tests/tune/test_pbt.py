"""Policy-guided PBT (ray_pgsearch.pbt): mutations from the space, populations from a policy, and a
real PBT run whose explore steps learn which perturbation factor helps."""

import json
import math
import os
import pickle
import tempfile

import numpy as np
import pytest
from ray import tune
from ray.tune.schedulers import PopulationBasedTraining
from ray.tune.search.sample import Domain

from ray_pgsearch import PGOptimizer
from ray_pgsearch.pbt import (
    PolicyExplorer,
    initial_population,
    is_model_key,
    pbt_mutations,
    population_search_alg,
)

SPACE = {
    "lr": tune.loguniform(1e-4, 1.0),
    "momentum": tune.uniform(0.0, 0.99),
    "batch_size": tune.choice([16, 32, 64, 128]),
    "model": {"layers": tune.randint(1, 6), "width": tune.lograndint(8, 512)},
    "opt": {"weight_decay": tune.loguniform(1e-6, 1e-2)},
    "epochs": 10,
}


def test_pbt_mutations_refuse_architecture_keys_naming_them():
    for key in ("model/layers", "model/width"):
        with pytest.raises(ValueError, match=f"'{key}'.*architecture.*NERSC"):
            pbt_mutations(SPACE, ["lr", key])
    with pytest.raises(ValueError, match="'momentum'.*architecture"):
        pbt_mutations(SPACE, ["momentum"], model_keys=["momentum"])
    with pytest.raises(ValueError, match="'dropout' is not a searched key"):
        pbt_mutations(SPACE, ["dropout"])
    with pytest.raises(ValueError, match="'epochs' is not a searched key"):
        pbt_mutations(SPACE, ["epochs"])
    assert is_model_key("num_layers") and is_model_key("hiddenSize") and is_model_key("n_heads")
    assert not is_model_key("lr") and not is_model_key("weight_decay") and not is_model_key("batch_size")


def test_pbt_mutations_give_valid_domains_and_pbt_accepts_them():
    mutations = pbt_mutations(SPACE, ["lr", "batch_size", "opt/weight_decay"])
    lr = mutations["lr"]
    assert isinstance(lr, Domain) and (lr.lower, lr.upper) == (1e-4, 1.0)
    assert all(1e-4 <= lr.sample(None) <= 1.0 for _ in range(50))
    assert mutations["batch_size"] == [16, 32, 64, 128]
    assert mutations["opt"]["weight_decay"].lower == 1e-6
    PopulationBasedTraining(metric="loss", mode="min", hyperparam_mutations=mutations)


def test_initial_population_draws_from_a_trained_policy():
    space = {"lr": tune.loguniform(1e-5, 1.0), "act": tune.choice(["relu", "tanh", "gelu"]), "layers": 3}
    opt = PGOptimizer(space, mode="min", seed=0)
    for _ in range(150):
        c = opt.ask()
        opt.tell(c, (np.log10(c["lr"]) + 2.0) ** 2 + (c["act"] != "tanh"))
    configs = initial_population(opt, 40, seed=1)
    fresh = initial_population(space, 40, seed=1)
    err = lambda cs: np.median([abs(np.log10(c["lr"]) + 2.0) for c in cs])  # noqa: E731
    assert err(configs) < 0.6 * err(fresh)  # the policy concentrates around lr = 1e-2
    assert np.mean([c["act"] == "tanh" for c in configs]) > 0.6
    assert all(c["layers"] == 3 for c in configs + fresh)
    # only the algorithm keys come from the policy, the rest is fixed
    fixed = initial_population(opt, 5, seed=2, fixed={"act": "relu", "layers": 4}, keys=["lr"], include_best=True)
    assert all(c["act"] == "relu" and c["layers"] == 4 for c in fixed)
    assert fixed[0]["lr"] == opt.best_config["lr"]


def test_explorer_pickles_into_one_shared_state_and_restores_its_policy():
    explorer = PolicyExplorer(SPACE, ["lr", "batch_size"], metric="score", mode="max", seed=0)
    explorer.learn([3, 1], 1.0)
    explorer.learn([3, 1], 2.0)
    copy_a, copy_b = pickle.loads(pickle.dumps(explorer)), pickle.loads(pickle.dumps(explorer))
    assert copy_a.state is copy_b.state is explorer.state  # same process: one state
    # a fresh process (Tuner.restore after a crash): the scheduler's and the callback's copies,
    # unpickled separately, join the first one's state
    from ray_pgsearch import _explorer

    blob_scheduler, blob_callback = pickle.dumps(explorer), pickle.dumps(explorer)
    live = _explorer._REGISTRY.pop(explorer.uid)
    try:
        restored_a, restored_b = pickle.loads(blob_scheduler), pickle.loads(blob_callback)
        assert restored_a.state is restored_b.state is not live
        assert np.allclose(restored_b.state.logits[0], live.logits[0])
    finally:
        _explorer._REGISTRY[explorer.uid] = live
    new = explorer(
        {
            **{k: v for k, v in SPACE.items() if k != "model"},
            "lr": 0.5,
            "batch_size": 128,
            "momentum": 0.9,
            "opt": {"weight_decay": 1e-4},
        }
    )
    assert 1e-4 <= new["lr"] <= 1.0 and new["batch_size"] in (64, 128)
    saved = explorer.get_state()
    fresh = PolicyExplorer(SPACE, ["lr", "batch_size"], metric="score", mode="max", seed=0)
    fresh.set_state(saved)
    assert fresh.probabilities("lr") == explorer.probabilities("lr")
    assert fresh.probabilities("lr")[2.0] > 0.25


def train_lr(config):
    """score grows by log10(lr) per step (the higher the learning rate, the faster): PBT should push lr up."""
    checkpoint = tune.get_checkpoint()
    step, score = 0, 0.0
    if checkpoint:
        with checkpoint.as_directory() as d, open(os.path.join(d, "state.json")) as f:
            step, score = json.load(f)
    while step < 40:
        step += 1
        score += math.log10(config["lr"])
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "state.json"), "w") as f:
                json.dump([step, score], f)
            tune.report({"score": score, "lr": config["lr"]}, checkpoint=tune.Checkpoint.from_directory(d))


def test_policy_explorer_learns_the_helpful_factor_in_a_real_pbt_run(ray_local, tmp_path):
    space = {"lr": tune.loguniform(1e-4, 1e8)}  # wide enough that the factors are never clipped
    explorer = PolicyExplorer(space, ["lr"], metric="score", mode="max", seed=0)
    configs = initial_population({"lr": tune.loguniform(1e-4, 1e-2)}, 4, seed=0)
    tuner = tune.Tuner(
        train_lr,
        param_space=space,
        tune_config=tune.TuneConfig(
            search_alg=population_search_alg(configs),
            num_samples=4,
            reuse_actors=True,
            scheduler=explorer.scheduler(
                time_attr="training_iteration", perturbation_interval=2, quantile_fraction=0.5
            ),
        ),
        # every checkpoint kept: PBT may restore one a trial wrote many steps ago (with num_to_keep=4 a
        # trial failed in CI on "checkpoint does not exist on storage anymore")
        run_config=tune.RunConfig(storage_path=str(tmp_path), name="pbt", verbose=0, callbacks=[explorer]),
    )
    results = tuner.fit()
    assert not results.errors and len(results) == 4
    started = sorted(r.metrics["config"]["lr"] for r in results)
    assert sorted(c["lr"] for c in configs) != started  # PBT did change the configs
    st = explorer.state
    assert st.n_explores >= 5 and st.n_rewards >= 3
    p = explorer.probabilities("lr")
    assert p[2.0] > p[0.5] and p[2.0] + p[1.25] > 0.5, p
