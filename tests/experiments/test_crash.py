"""The crash suite and its study: the objectives crash where they should, the driver tells each searcher
a crash as Tune would, runs and samples keep crashes in the run cache, and the study scores them."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import numpy as np
import pytest
from ray import tune

from experiments import crash as study
from experiments.lab.cache import RunCache
from experiments.lab.driver import execute, run_search
from experiments.lab.objectives import Objective, OutOfMemory, TrialCrash
from experiments.lab.peers import RandomSearcher
from experiments.lab.protocol import DEV, HELD_OUT
from experiments.lab.spaces import sample_config
from experiments.lab.suites import SUITES, crash, get_objective, half_of

# ---------------------------------------------------------------- the suite


def outcome(name: str, config: dict) -> str:
    """ "ok", "nan", or the kind of the crash an objective raises for a config."""
    try:
        value = get_objective(name).fn(config)
    except TrialCrash as err:
        return err.kind
    return "nan" if math.isnan(value) else "ok"


def test_the_suite_is_split_by_kind_of_crash_region() -> None:
    suite = SUITES["crash"]
    assert len(suite.names) >= 8 and len(suite.dev) == len(suite.held_out)
    for names in (suite.dev, suite.held_out):
        assert [n.split("_")[1] for n in names] == ["oom", "diverge", "edge", "mixed"]
        assert set(crash.FLAKY) & set(names)  # lost nodes in both halves
    assert half_of("crash_oom_mlp") == DEV and half_of("crash_mixed_vit") == HELD_OUT
    kinds = {type(d).__name__ for o in suite.names for d in get_objective(o).space.values()}
    assert {"Float", "Integer", "Categorical"} <= kinds


@pytest.mark.parametrize(
    "name,config,expected",
    [
        ("crash_oom_mlp", {"batch_size": 2048, "width": 8192, "depth": 12}, "oom"),
        ("crash_oom_mlp", {"batch_size": 128, "width": 7936, "depth": 2}, "ok"),
        ("crash_oom_mlp", {"batch_size": 128, "width": 7936, "depth": 4}, "oom"),  # twice as deep
        ("crash_diverge_lr", {"optimizer": "adam", "lr": 0.02, "batch_size": 128}, "nan"),
        ("crash_diverge_lr", {"optimizer": "adam", "lr": 0.005, "batch_size": 128}, "ok"),
        ("crash_diverge_lr", {"optimizer": "sgd", "lr": 0.02, "batch_size": 128}, "ok"),  # the limit is SGD's
        ("crash_diverge_lr", {"optimizer": "momentum", "lr": 0.2, "momentum": 0.9}, "nan"),  # lr / (1 - m) > 1
        ("crash_diverge_lr", {"optimizer": "momentum", "lr": 0.2, "momentum": 0.0}, "ok"),
        ("crash_edge_bowl4", {"x0": 0.5, "x1": 0.5, "x2": 0.5, "x3": 0.5}, "ok"),
        ("crash_edge_bowl4", {"x0": 0.51, "x1": 0.5, "x2": 0.5, "x3": 0.5}, "nan"),
        ("crash_mixed_cnn", {"arch": "vgg16", "resolution": 320, "batch_size": 512, "mixed_precision": False}, "oom"),
        ("crash_mixed_cnn", {"arch": "resnet18", "resolution": 128, "batch_size": 64, "lr": 2.0}, "nan"),
        ("crash_mixed_cnn", {"arch": "vgg16", "resolution": 128, "batch_size": 64, "lr": 0.2}, "nan"),  # no BN
        ("crash_mixed_cnn", {"arch": "resnet18", "resolution": 128, "batch_size": 64, "lr": 0.2}, "ok"),
        ("crash_oom_transformer", {"seq_len": 2048, "batch_size": 256, "d_model": 2048, "n_layers": 24}, "oom"),
        ("crash_oom_transformer", {"seq_len": 128, "batch_size": 4, "d_model": 128, "n_layers": 2}, "ok"),
        ("crash_diverge_warmup", {"norm": "none", "lr": 0.01, "warmup_frac": 0.0, "grad_clip": 0.0}, "nan"),
        ("crash_diverge_warmup", {"norm": "pre", "lr": 0.01, "warmup_frac": 0.2, "grad_clip": 1.0}, "ok"),
        ("crash_edge_curved5", {"x0": 0.6, "x1": 0.5, "x2": 0.4, "x3": 0.3, "x4": 0.7}, "ok"),
        ("crash_edge_curved5", {"x0": 0.61, "x1": 0.5, "x2": 0.4, "x3": 0.3, "x4": 0.7}, "error"),
        ("crash_mixed_vit", {"patch": 8, "resolution": 384, "batch_size": 512, "frozen_blocks": 0}, "oom"),
        ("crash_mixed_vit", {"patch": 32, "resolution": 224, "batch_size": 16, "optimizer": "lion", "lr": 0.01}, "nan"),
    ],
)
def test_objectives_crash_where_they_should(name: str, config: dict, expected: str) -> None:
    base = sample_config(get_objective(name).space, np.random.default_rng(0))
    defaults = {
        "crash_oom_mlp": {"optimizer": "adamw", "lr": 1e-3, "weight_decay": 1e-2},
        "crash_mixed_cnn": {"optimizer": "sgd", "lr": 0.01, "mixed_precision": True, "arch": "resnet50"},
        "crash_oom_transformer": {"checkpointing": False, "lr": 1e-4},
        "crash_diverge_warmup": {"batch_size": 64, "beta2": 0.95},
        "crash_mixed_vit": {"optimizer": "adamw", "lr": 1e-5, "mixed_precision": False, "dropout": 0.1},
        "crash_diverge_lr": {"momentum": 0.5, "batch_size": 128},
    }
    config = {**base, **defaults.get(name, {}), **config}
    got = outcome(name, config)
    if got == "lost":  # a lost node: the same config never gives anything else
        assert name in crash.FLAKY and outcome(name, config) == "lost"
        pytest.skip("a lost node hit this config")
    assert got == expected


def test_the_edge_optima_sit_on_their_boundaries() -> None:
    bowl, curved = get_objective("crash_edge_bowl4"), get_objective("crash_edge_curved5")
    assert bowl.fn({f"x{i}": 0.5 for i in range(4)}) == pytest.approx(bowl.optimum)
    centre = dict(zip([f"x{i}" for i in range(5)], [0.6, 0.5, 0.4, 0.3, 0.7], strict=True))
    assert curved.fn(centre) == pytest.approx(curved.optimum, abs=1e-12)
    rng = np.random.default_rng(1)
    near = [{f"x{i}": 0.5 + rng.normal(0, 0.02) for i in range(4)} for _ in range(200)]
    share = np.mean([math.isnan(bowl.fn(c)) for c in near])
    assert 0.3 < share < 0.7  # about half the optimum's neighbourhood diverges


def test_lost_nodes_strike_anywhere_at_their_rate_and_only_where_flaky() -> None:
    rng = np.random.default_rng(2)
    for name in SUITES["crash"].names:
        objective = get_objective(name)
        configs = [sample_config(objective.space, rng) for _ in range(1500)]
        outcomes = [outcome(name, c) for c in configs]
        lost = [c for c, o in zip(configs, outcomes, strict=True) if o == "lost"]
        if name not in crash.FLAKY:
            assert not lost
            continue
        rate = len(lost) / sum(o != "oom" for o in outcomes)  # lost nodes are drawn among trials that fit
        assert 0.01 < rate < 0.06
        assert all(outcome(name, c) == "lost" for c in lost[:5])  # reproducible


# ---------------------------------------------------------------- the driver tells crashes as Tune does


def _toy(config: dict) -> float:
    """Crashes by the config: x < 0.3 out of memory, x > 0.7 diverges."""
    if config["x"] < 0.3:
        raise OutOfMemory("too big")
    return float("nan") if config["x"] > 0.7 else config["x"]


TOY = Objective("toy_crash", "synthetic", {"x": tune.uniform(0.0, 1.0)}, _toy, None, "toy")


class Spy(RandomSearcher):
    """Random search that records what each completion told it."""

    def __init__(self) -> None:
        super().__init__(seed=0)
        self.told: list[tuple[dict | None, bool]] = []

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        self.told.append((result, error))


def test_the_driver_tells_a_raise_as_an_error_and_a_divergence_as_nan() -> None:
    spy = Spy()
    record = run_search(spy, TOY, budget=40, concurrency=4, order_seed=0)
    assert len(spy.told) == 40 and len(record.values) == 40
    kinds = {index: kind for index, _, kind in record.crashes}
    for index, (result, error) in enumerate(spy.told):
        if kinds.get(index) == "oom":
            assert result is None and error
        elif kinds.get(index) == "nan":
            assert not error and math.isnan(result["loss"])
        else:
            assert not error and 0.3 <= result["loss"] <= 0.7
    assert {"oom", "nan"} <= set(kinds.values())
    assert all(math.isnan(record.values[i]) for i in kinds)
    assert record.best == min(v for v in record.values if not math.isnan(v))
    asks = sorted(ask for _, ask, _ in record.crashes)
    assert len(set(asks)) == len(asks) and max(asks) < 40


def test_pgsearcher_learns_every_crash_as_a_failure() -> None:
    from ray_pgsearch import PGSearcher

    searcher = PGSearcher(seed=0)
    record = run_search(searcher, TOY, budget=40, concurrency=4, order_seed=0)
    assert searcher.optimizer.n_crashed == len(record.crashes) > 0  # raises and NaNs alike
    assert searcher.view().n_crashed == len(record.crashes)


def test_tpe_fails_a_raise_and_leaves_a_nan_running() -> None:
    from optuna.trial import TrialState

    from experiments.lab.arms import make_searcher

    searcher = make_searcher("tpe", 0, 40, 4)
    record = run_search(searcher, TOY, budget=40, concurrency=4, order_seed=0)
    states = [t.state for t in searcher._ot_study.get_trials(deepcopy=False)]
    kinds = [kind for _, _, kind in record.crashes]
    assert states.count(TrialState.FAIL) == kinds.count("oom")
    # Optuna refuses a NaN value: Ray's OptunaSearch logs it and the trial stays RUNNING (constant liar).
    assert states.count(TrialState.RUNNING) == kinds.count("nan")
    assert states.count(TrialState.COMPLETE) == 40 - len(kinds)


@pytest.mark.slow
def test_hebo_observes_only_finished_trials() -> None:
    pytest.importorskip("hebo")
    from experiments.lab.arms import make_searcher

    searcher = make_searcher("hebo", 0, 24, 4)
    record = run_search(searcher, TOY, budget=24, concurrency=4, order_seed=0)
    assert len(searcher._opt.y) == 24 - len(record.crashes)


# ---------------------------------------------------------------- the run cache and the study


def test_runs_and_samples_keep_crashes_as_null(tmp_path: Path) -> None:
    run = execute("random", "crash_edge_curved5", "30x4", 0)
    assert run["crashes"] and all(run["values"][i] is None for i, _, _ in run["crashes"])
    assert sum(v is None for v in run["values"]) == len(run["crashes"])
    assert all(kind == "error" for _, _, kind in run["crashes"])
    plain = execute("random", "branin", "6x2", 0)
    assert "crashes" not in plain and all(isinstance(v, float) for v in plain["values"])
    sample = RunCache(tmp_path).sample(get_objective("crash_edge_bowl4"), 400)
    assert 0.2 < np.mean(np.isnan(sample)) < 0.6
    row = json.loads(gzip.decompress((tmp_path / "samples" / "crash_edge_bowl4.jsonl.gz").read_bytes()))
    assert row["values"].count(None) == int(np.isnan(sample).sum())


def test_crash_counts_fills_and_phases() -> None:
    run = {"values": [None, 2.0, None, 1.0], "crashes": [[0, 1, "oom"], [2, 0, "lost"]]}
    assert study.crash_count(run, 4) == 2 and study.crash_count(run, 2) == 1
    assert study.crash_count(run, 4, lost=False) == 1
    assert study.filled(run["values"], 9.0).tolist() == [9.0, 2.0, 9.0, 1.0]
    assert [study.phase_of(a, study.Setting(100, 8)) for a in (0, 9, 10, 49, 50)] == ["startup"] * 2 + [
        "first half"
    ] * 2 + ["second half"]
    assert study.phase_of(31, study.Setting(320, 32)) == "startup"  # no result can steer the first 32 asks
    assert study.points(study.Setting.parse("320x32")) == [100, 320]


def test_the_quick_study_writes_its_report(tmp_path: Path) -> None:
    study.main(["--quick", "--out", str(tmp_path), "--cache", str(tmp_path / "runs")])
    text = (tmp_path / "crash.md").read_text()
    assert "Command: `python -m experiments.crash --quick" in text
    assert "| crash_edge_curved5 |" in text and "pgsearcher / tpe" in text
    summary = json.loads((tmp_path / "crash.json").read_text())
    cell = summary["cells"]["12x4|pgsearcher|crash_edge_curved5"]
    assert cell["seeds"] == [0, 1] and len(cell["at"]["12"]["crashes"]) == 2
    assert (tmp_path / "crash.png").stat().st_size > 0


@pytest.mark.slow
def test_real_tune_counts_errors_and_nan_trials(ray_local: None, tmp_path: Path) -> None:
    from experiments import crash_tune

    run = crash_tune.tune_run("pgsearcher", "crash_mixed_vit", 0, 12, str(tmp_path))
    assert run["trials"] == 12 == len(run["values"])
    assert run["num_errors"] >= run["oom"] + run["lost"]
    assert run["num_errors"] + run["nan"] == sum(v is None for v in run["values"])
    assert run["best"] == min(v for v in run["values"] if v is not None)
