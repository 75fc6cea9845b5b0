"""The warm-start study (experiments.warm_start) and the main job's --subset / --warm-start workflow."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from ray import tune
from ray.tune.search.sample import Domain

from experiments import tune_digits, warm_start, warm_start_pairs
from experiments.lab.cache import RunCache
from experiments.lab.objectives import OBJECTIVES, margin_loss
from experiments.lab.protocol import DEV, HALVES, HELD_OUT
from ray_pgsearch import PGSearcher

ARMS = ["cold", "warm", "replay"]


def test_quick_study_reports_every_arm_pair_and_half(tmp_path: Path) -> None:
    summary = warm_start.main(["--quick", "--out", str(tmp_path), "--jobs", "1"])
    assert set(summary["pairs"]) == set(warm_start.QUICK_PAIRS)
    assert set(summary["groups"]) == {f"{kind}/{half}" for kind in ("related", "unrelated") for half in HALVES}
    settings = [s.key for s in warm_start.QUICK_SETTINGS]
    for entry in summary["pairs"].values():
        assert list(entry["settings"]) == settings
        for setting in entry["settings"].values():
            assert setting["seeds"] == 2
            assert list(setting["arms"]) == ARMS
            assert len(setting["arms"]["warm"]) == 5  # mean, s.e., rejected share, trust, weight
            assert 0.0 <= setting["arms"]["warm"][2] <= 1.0 and 0.0 <= setting["arms"]["warm"][3] <= 1.0
            assert set(setting["diffs"]) == {"warm - cold", "warm - replay", "replay - cold"}
    assert json.loads((tmp_path / "warm_start.json").read_text())["summary"] == json.loads(json.dumps(summary))
    cache = RunCache(tmp_path / "runs" / "warm_start")  # every target run, raw
    runs = [r for s in settings for arm in ARMS for r in cache.every_run(s, arm).values()]
    assert len(runs) == len(warm_start.QUICK_PAIRS) * 2 * len(settings) * len(ARMS)
    for run in runs:
        assert all(math.isfinite(v) for v in run["values"])
        if run["searcher"] == "warm":
            assert isinstance(run["rejected"], bool) and 0.0 <= run["trust"] <= 1.0 and run["weight"] >= 0.0
        else:
            assert run["rejected"] is None and run["trust"] is None and run["weight"] is None
    text = (tmp_path / "warm_start.md").read_text()
    for heading in ("## Pairs", "## Groups", "## Per pair", "## Bar"):
        assert heading in text
    assert "| dev |" in text and "| held out |" in text
    assert (tmp_path / "warm_start.png").stat().st_size > 0
    again = warm_start.main(["--quick", "--out", str(tmp_path), "--jobs", "1"])  # from the cache, nothing run
    assert again == summary


def test_every_pair_is_labelled_and_shares_parameters() -> None:
    from experiments.lab.spaces import domain_items

    for name, pair in warm_start_pairs.pairs().items():
        assert pair.kind in warm_start_pairs.KINDS and pair.half in HALVES, name
        source = {path for path, _ in domain_items(pair.source.space)}
        target = {path for path, _ in domain_items(pair.target.space)}
        assert source & target, name
    for kind in ("related", "unrelated"):
        halves = {p.half for p in warm_start_pairs.pairs().values() if p.kind == kind}
        assert halves == {DEV, HELD_OUT}


@pytest.mark.parametrize(
    "fn, argmin, optimum",
    [
        (
            warm_start_pairs.hartmann6_shift,
            {"x0": 0.40169, "x1": 0.150011, "x2": 0.276874, "x3": 0.275332, "x4": 0.311652, "x6": 0.4},
            -3.32237,
        ),
        (
            warm_start_pairs.styblinski_shift,
            {"x0": -2.903534 + 1.5, "x1": -3.903534, "x2": -2.903534, "x3": -2.903534, "x5": -2.903534},
            6 * -39.16617,
        ),
        (
            warm_start_pairs.bowls_shift,
            {"model": "net", "lr": 10**-2.75, "layers": 5, "batch": 64, "optim": {"momentum": 0.7}, "dropout": 0.2},
            0.0,
        ),
        (
            warm_start_pairs.bowls_flip,
            {"model": "linear", "lr": 10**-4.7, "layers": 8, "batch": 16, "optim": {"momentum": 0.05, "wd": 10**-1.5}},
            0.0,
        ),
    ],
)
def test_shifted_objectives_reach_their_stated_optimum(fn, argmin: dict, optimum: float) -> None:
    assert fn(argmin) == pytest.approx(optimum, abs=1e-4)


def test_stated_optima_are_lower_bounds() -> None:
    from experiments.lab.spaces import sample_config

    rng = np.random.default_rng(0)
    for pair in warm_start_pairs.pairs().values():
        target = pair.target
        if target.optimum is None or target.kind == "model":
            continue
        values = [target.fn(sample_config(target.space, rng)) for _ in range(300)]
        assert min(values) >= target.optimum - 1e-9, target.name


def test_replay_points_are_carried_over_as_a_user_would() -> None:
    old = {"lr": 0.5, "batch": 1000, "optim": {"momentum": 0.9, "wd": 1e-3}, "model": "net", "layers": 3}
    point = warm_start.adapt_point(old, warm_start_pairs.BOWLS_SHIFT_SPACE)
    # lr clipped into the new [1e-6, 1e-1], batch onto the new grid, wd dropped, dropout left to the searcher
    assert point == {"model": "net", "lr": 0.1, "layers": 3, "batch": 512, "optim": {"momentum": 0.9}}
    space = {"act": tune.choice(["relu", "gelu"]), "x": tune.uniform(0, 1)}
    assert warm_start.adapt_point({"act": "tanh", "x": 0.3}, space) == {"x": 0.3}


def test_margin_loss_for_two_and_more_classes() -> None:
    assert margin_loss(np.array([2.0, -0.5]), np.array([1, 0])) == pytest.approx(0.25)
    decision = np.array([[2.0, 0.5, -1.0], [0.0, 0.2, 0.1]])
    # margins: 2 - 0.5 = 1.5 (loss 0); 0.1 - 0.2 = -0.1 (loss 1.1)
    assert margin_loss(decision, np.array([0, 2])) == pytest.approx(0.55)


def test_top_configs_are_the_best_evaluated() -> None:
    from experiments.lab.driver import run_search

    objective = OBJECTIVES["branin"]
    searcher = PGSearcher(seed=0)
    record = run_search(searcher, objective, 20, 4, order_seed=0)
    top = warm_start.top_configs(searcher, 3)
    assert [objective.fn(c) for c in top] == pytest.approx(sorted(record.values)[:3])


def _experiment(storage: Path, name: str) -> Path:
    """The experiment directory a run named ``name`` wrote (a timestamped sibling if the name was taken)."""
    (path,) = [p for p in storage.iterdir() if p.name.startswith(name)]
    return path


def _searcher(path: Path) -> PGSearcher:
    """The PGSearcher of an experiment directory's newest searcher checkpoint."""
    searcher = PGSearcher()
    searcher.restore(str(max(path.glob("searcher-state-*.pkl"))))
    return searcher


def test_main_job_subset_then_warm_start_from_it(ray_local, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    storage = str(tmp_path)
    common = ["--storage-path", storage, "--num-samples", "4", "--max-concurrent", "2"]
    first = tune_digits.main(common + ["--subset", "0.25", "--name", "quarter"])
    assert {r.config["subset"] for r in first} == {0.25}
    quarter = _experiment(tmp_path, "quarter")
    second = tune_digits.main(common + ["--warm-start", str(quarter), "--name", "full"])
    assert all("subset" not in r.config for r in second)  # the full data: the constant is left out
    out = capsys.readouterr().out
    assert "warm start: " in out and "trust" in out and "crashed trials" in out
    full = _searcher(_experiment(tmp_path, "full"))
    earlier = full.optimizer.state()["warm_start"]
    assert earlier["rows"].shape[0] == _searcher(quarter).view().rewards.shape[0]
    assert sorted(full.view().warm_start.shared) == sorted(
        k for k, v in tune_digits.SPACE.items() if isinstance(v, Domain)
    )
    with pytest.raises(SystemExit):
        tune_digits.main(common + ["--prior", str(tmp_path / "nowhere"), "--name", "bad"])  # the old flag
    assert "no such file or directory" in capsys.readouterr().err
