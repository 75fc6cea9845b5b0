"""Fast checks of the benchmark harness (no network, no Ray cluster)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from ray import tune
from ray.tune.search import Searcher

from experiments import benchmark
from experiments.lab.driver import run_search
from experiments.lab.naive_pg import NaivePGSearcher
from experiments.lab.objectives import OBJECTIVES, Objective
from experiments.lab.peers import RandomSearcher
from experiments.lab.stats import expected_best


def test_expected_best_matches_simulation() -> None:
    values = np.array([3.0, -1.0, 2.5, 0.0, 7.0, 2.5, 1.0])
    rng = np.random.default_rng(0)
    for budget in (1, 3, 10):
        draws = rng.choice(values, size=(200_000, budget)).min(axis=1)
        assert abs(expected_best(values, budget) - draws.mean()) < 0.02
    assert expected_best(values, 1) == values.mean()


class _Spy(RandomSearcher):
    """Random search that records how many trials are pending at each suggestion."""

    def __init__(self, seed: int) -> None:
        super().__init__(seed=seed)
        self.live: set[str] = set()
        self.max_live = 0
        self.completed: list[str] = []

    def suggest(self, trial_id: str) -> dict:
        self.live.add(trial_id)
        self.max_live = max(self.max_live, len(self.live))
        return super().suggest(trial_id)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        self.live.remove(trial_id)
        self.completed.append(trial_id)


def test_driver_concurrency_budget_and_order() -> None:
    objective = OBJECTIVES["mixed_bowls"]
    spies, records = [], []
    for _ in range(2):
        spy = _Spy(seed=1)
        records.append(run_search(spy, objective, budget=25, concurrency=4, order_seed=7))
        spies.append(spy)
    assert spies[0].max_live == 4 and not spies[0].live
    assert len(spies[0].completed) == 25 == len(records[0].curve) == len(set(spies[0].completed))
    assert spies[0].completed == spies[1].completed
    assert records[0].values == records[1].values
    assert spies[0].completed != sorted(spies[0].completed)  # not first-in first-out
    assert np.all(np.diff(records[0].curve) <= 0)


def test_driver_waits_when_the_searcher_says_not_now() -> None:
    class OneAtATime(RandomSearcher):
        """Suggests only while nothing is pending, then stops after 5 trials."""

        def __init__(self) -> None:
            super().__init__(seed=0)
            self.pending = self.count = 0

        def suggest(self, trial_id: str) -> dict | str | None:
            if self.count == 5:
                return Searcher.FINISHED
            if self.pending:
                return None
            self.pending, self.count = 1, self.count + 1
            return super().suggest(trial_id)

        def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
            self.pending = 0

    record = run_search(OneAtATime(), OBJECTIVES["branin"], budget=8, concurrency=4, order_seed=0)
    assert len(record.values) == 5 and len(record.curve) == 8 and record.notes


def test_naive_pg_learns_the_best_category() -> None:
    objective = Objective(
        "pick",
        "mixed",
        {"c": tune.choice(["a", "b", "c", "d"])},
        lambda config: 0.0 if config["c"] == "c" else 1.0,
        0.0,
        "one choice",
    )
    searcher = NaivePGSearcher(seed=0)
    run_search(searcher, objective, budget=60, concurrency=2, order_seed=0)
    probs = searcher._actors[("c",)].probs()
    assert probs.argmax() == 2 and probs[2] > 0.4


def test_tiny_benchmark_writes_report_and_scores_its_cache_again(tmp_path, capsys) -> None:
    argv = ["--seeds", "2", "--settings", "8x2", "--searchers", "random,naive_pg"]
    argv += ["--objectives", "branin,mixed_categorical", "--jobs", "1", "--no-overhead", "--out", str(tmp_path)]
    benchmark.main(argv)
    assert "8 runs to do" in capsys.readouterr().out
    text = (tmp_path / "benchmark.md").read_text()
    assert "| searcher | mean score | median score | mean rank | won |" in text and "| naive_pg |" in text
    assert (tmp_path / "benchmark.png").stat().st_size > 0
    first = json.loads((tmp_path / "benchmark.json").read_text())["summary"]
    won = {n: s["problems_won"] for n, s in first["settings"]["8x2"]["searchers"].items()}
    assert sum(won.values()) == 2  # each objective is won once (a tie shares it)
    assert sorted((tmp_path / "runs" / "benchmark" / "8x2").iterdir())  # the raw runs, one shard per searcher
    benchmark.main(argv)  # everything is cached: the same scores, nothing run
    assert "0 runs to do" in capsys.readouterr().out
    assert json.loads((tmp_path / "benchmark.json").read_text())["summary"] == first


@pytest.mark.slow
def test_the_committed_benchmark_table_is_scored_again_from_the_committed_cache(tmp_path) -> None:
    """A clone re-scores benchmark.md from experiments/results/runs/benchmark without running a search."""
    committed = Path("experiments/results/benchmark.md")
    command = committed.read_text().split("Command: `python -m experiments.benchmark ")[1].split("`")[0].split()
    cache = ["--cache", "experiments/results/runs/benchmark", "--out", str(tmp_path), "--jobs", "1"]
    benchmark.main(command + cache)

    def scores(text: str) -> list[tuple[str, str]]:
        rows = [line.split(" | ") for line in text.splitlines() if line.startswith("| ") and " ± " in line]
        return [(row[0], row[1]) for row in rows]  # searcher, mean score ± s.e.

    assert scores((tmp_path / "benchmark.md").read_text()) == scores(committed.read_text())


def test_overhead_table_has_one_row_per_searcher_and_number_pending(tmp_path):
    argv = ["--overhead-only", "--overhead-trials", "100", "--overhead-pending", "1,4", "--overhead-repeats", "2"]
    benchmark.main(argv + ["--searchers", "random,pgsearcher", "--jobs", "1", "--out", str(tmp_path)])
    text = (tmp_path / "overhead.md").read_text()
    assert "median of 2 identical runs" in text
    for row in ("| random | 1 |", "| pgsearcher | 1 |", "| random | 4 |", "| pgsearcher | 4 |"):
        assert "| mixed_bowls " + row in text
    table = json.loads((tmp_path / "overhead.json").read_text())
    assert set(table) == {f"mixed_bowls:{n}@{c}" for n in ("random", "pgsearcher") for c in (1, 4)}
    assert all(set(cells) == {"100"} and cells["100"] > 0 for cells in table.values())
