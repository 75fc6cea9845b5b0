"""The source-study experiments' quick paths (--quick): each writes its table and figure and
shows what the study claims at a tiny budget."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from ray import tune

from experiments import cnn, pg_mixed, rf_regression, xgboost_ames

CNN_CONFIG = {
    "blocks": 2,
    "filters": 16,
    "head": "dense",
    "pooling": "max",
    "augment_shift": True,
    "shift": 0.1,
    "augment_rotate": True,
    "rotate": 15.0,
    "augment_noise": True,
    "noise": 0.05,
    "dropout": 0.1,
    "batch_size": 32,
    "lr": 3e-3,
    "epochs": 2,
    "dataset": "digits",
    "seed": 0,
}


@pytest.mark.slow
def test_pg_mixed_trace_has_one_row_per_update(tmp_path: Path) -> None:
    pg_mixed.main(["--quick", "--out", str(tmp_path), "--jobs", "1"])
    trace = pd.read_csv(tmp_path / "pg_mixed_trace.csv")
    budget = pg_mixed.QUICK.budget
    assert list(trace["update"]) == list(range(1, budget))  # one update per result from the second on
    assert list(trace["search/trials"]) == list(range(2, budget + 1))
    for choice in ("loss", "penalty", "learning_rate"):
        probs = trace[[c for c in trace.columns if c.startswith(f"policy/{choice}/p_")]]
        assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    latent = trace[[c for c in trace.columns if c.startswith("latent/")]]
    assert ((latent >= 0) & (latent <= 1)).all().all()  # mu and sigma of each Gaussian on z
    assert (tmp_path / "pg_mixed.png").stat().st_size > 0
    assert "pgsearcher" in (tmp_path / "pg_mixed.md").read_text()


@pytest.mark.slow
def test_xgboost_tuned_beats_untuned(tmp_path: Path) -> None:
    xgboost_ames.main(["--quick", "--out", str(tmp_path)])
    text = (tmp_path / "xgboost_ames.md").read_text()
    assert "34,624" in text and "10 versus 200 rounds" in text
    objective = xgboost_ames.objective(quick=True)
    untuned = objective.fn(xgboost_ames.UNTUNED)
    assert objective.fn(xgboost_ames.HAND_TUNED) < untuned
    rows = {line.split(" | ")[0].strip("| "): line for line in text.splitlines() if line.startswith("| tuned")}
    best_pg = float(rows["tuned: pgsearcher"].split(" | ")[1].replace(",", ""))
    assert best_pg < untuned


@pytest.mark.slow
def test_rf_regression_same_fits(tmp_path: Path) -> None:
    rf_regression.main(["--quick", "--out", str(tmp_path)])
    text = (tmp_path / "rf_regression.md").read_text()
    for dataset in rf_regression.DATASETS:
        section = text.split(f"## {dataset}")[1].split("##")[0]
        fits = {
            line.split(" | ")[0].strip("| "): int(line.split(" | ")[1])
            for line in section.splitlines()
            if line.startswith("| ") and not line.startswith("| method")
        }
        assert set(fits) == {"grid", "random", "pgsearcher"} and len(set(fits.values())) == 1
    x, y = rf_regression.load("boston")
    assert x.shape == (506, 13) and y.shape == (506,)
    assert (tmp_path / "rf_regression.png").stat().st_size > 0


def test_cnn_reports_every_epoch_and_learns(ray_local: None, tmp_path: Path) -> None:
    config = {**CNN_CONFIG, "blocks": 2, "head": "dense", "epochs": 2}
    tuner = tune.Tuner(
        cnn.train_cnn, param_space=config, run_config=tune.RunConfig(storage_path=str(tmp_path), name="cnn", verbose=0)
    )
    result = tuner.fit()[0]
    history = result.metrics_dataframe
    assert list(history["training_iteration"]) == [1, 2]
    assert {"accuracy", "loss"} <= set(history.columns)
    assert history["accuracy"].iloc[-1] > 0.5  # chance is 0.1


def test_cnn_quick_tunes_with_asha(ray_local: None, tmp_path: Path) -> None:
    cnn.main(["--quick", "--out", str(tmp_path)])
    text = (tmp_path / "cnn.md").read_text()
    assert "| pgsearcher |" in text and "| random |" in text
    assert (tmp_path / "cnn.png").stat().st_size > 0


@pytest.mark.parametrize("head", ["dense", "conv"])
@pytest.mark.parametrize("blocks,size", [(1, 8), (3, 8), (3, 28)])
def test_cnn_shapes(head: str, blocks: int, size: int) -> None:
    import torch

    config = {**CNN_CONFIG, "blocks": blocks, "head": head}
    x = cnn.augment(torch.rand(5, 1, size, size), config, torch.Generator().manual_seed(0))
    assert cnn.build_cnn(config, size)(x).shape == (5, 10)
