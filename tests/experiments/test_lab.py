"""The lab's core (experiments/lab): the protocol, the run cache, the statistics, the timing wrapper, the
arms registry and the command line's defaults."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from ray import tune
from ray.tune.search import ConcurrencyLimiter

from experiments.lab import cli, stats
from experiments.lab.arms import ARMS, make_searcher, searcher_names
from experiments.lab.cache import RunCache, slug
from experiments.lab.driver import run_setting
from experiments.lab.objectives import OBJECTIVES, Objective
from experiments.lab.peers import PEERS, RandomSearcher
from experiments.lab.protocol import DEV, HALVES, HELD_OUT, Setting, half_label
from experiments.lab.restarts import Restarts
from experiments.lab.timing import TimedSearcher

RUNS = Path("experiments/results/runs")


def _run(searcher: str, objective: str, seed: int, values: list[float]) -> dict:
    return {"searcher": searcher, "objective": objective, "seed": seed, "values": values, "seconds": 0.5}


# ---------------------------------------------------------------- protocol


def test_one_spelling_of_the_halves() -> None:
    assert HALVES == (DEV, HELD_OUT) == ("dev", "held_out")
    assert [half_label(h) for h in HALVES] == ["dev", "held out"]


def test_the_completion_order_is_the_settings_not_the_searchers() -> None:
    setting = Setting(32, 8)
    assert setting.order_seed(3, "branin") == Setting.parse("32x8").order_seed(3, "branin")
    assert len({setting.order_seed(3, o) for o in ("branin", "levy4")} | {setting.order_seed(4, "branin")}) == 3
    objective = OBJECTIVES["mixed_bowls"]
    a = run_setting(RandomSearcher(seed=1), objective, setting, seed=5)
    b = run_setting(RandomSearcher(seed=1), objective, setting, seed=5)
    assert a.values == b.values and len(a.values) == 32


# ---------------------------------------------------------------- run cache


def test_cache_keeps_the_latest_run_and_compacts_to_the_same_bytes(tmp_path: Path) -> None:
    cache = RunCache(tmp_path)
    cache.add("4x2", _run("random + ASHA", "branin", 0, [3.0, 1.0]))
    cache.add("4x2", _run("random + ASHA", "branin", 1, [2.0]))
    cache.add("4x2", _run("random + ASHA", "branin", 0, [9.0, 8.0]))  # a rerun replaces seed 0
    shard = tmp_path / "4x2" / f"{slug('random + ASHA')}.jsonl.gz"
    assert shard == cache.shard("4x2", "random + ASHA") and shard.exists()
    assert len(gzip.decompress(shard.read_bytes()).splitlines()) == 3  # appended
    fresh = RunCache(tmp_path)
    assert fresh.runs("4x2", "random + ASHA", "branin")[0]["values"] == [9.0, 8.0]
    assert fresh.groups() == ["4x2"] and fresh.searchers("4x2") == ["random + ASHA"]
    fresh.compact()  # it only read: nothing to rewrite
    assert len(gzip.decompress(shard.read_bytes()).splitlines()) == 3
    cache.compact()
    lines = gzip.decompress(shard.read_bytes()).splitlines()
    assert [json.loads(line)["seed"] for line in lines] == [0, 1]
    first = shard.read_bytes()
    again = RunCache(tmp_path)
    again.add("4x2", _run("random + ASHA", "branin", 1, [2.0]))  # the same run once more
    again.compact()
    assert shard.read_bytes() == first  # no timestamp in the gzip header: the same runs, the same bytes


def test_samples_are_computed_once_per_size(tmp_path: Path) -> None:
    calls = []

    def fn(config: dict) -> float:
        calls.append(config)
        return config["x"] ** 2

    objective = Objective("square", "synthetic", {"x": tune.uniform(-1, 1)}, fn, 0.0, "x^2")
    first = RunCache(tmp_path).sample(objective, 50)
    assert len(first) == 50 == len(calls) and np.all(first >= 0)
    assert np.array_equal(RunCache(tmp_path).sample(objective, 50), first) and len(calls) == 50
    assert len(RunCache(tmp_path).sample(objective, 20)) == 20 and len(calls) == 70  # another size: drawn again
    assert RunCache(tmp_path).groups() == []  # samples are not a group of runs


@pytest.mark.parametrize("study", sorted(p.name for p in RUNS.iterdir()) if RUNS.exists() else [])
def test_committed_caches_stay_small_enough_to_commit(study: str) -> None:
    size = sum(p.stat().st_size for p in (RUNS / study).rglob("*") if p.is_file())
    assert size < 10 * 2**20, f"{study}: {size / 2**20:.1f} MB; move it under experiments/results/cache/"
    assert all(p.name.endswith(".jsonl.gz") for p in (RUNS / study).rglob("*") if p.is_file())


# ---------------------------------------------------------------- statistics


def test_means_errors_and_pairs() -> None:
    mean, se = stats.mean_se([1.0, 2.0, 3.0, 6.0])
    assert mean == 3.0 and se == pytest.approx(np.std([1, 2, 3, 6], ddof=1) / 2)
    assert np.isnan(stats.mean_se([4.0])[1])  # one seed has no standard error
    assert stats.pooled([(1.0, 3.0), (3.0, 4.0)]) == (2.0, 2.5)
    diff = stats.paired({0: 1.0, 1: 2.0, 2: 5.0}, {1: 4.0, 2: 6.0, 3: 0.0})
    assert diff["seeds"] == 2 and diff["mean"] == 1.5  # seeds 1 and 2 only: +2 and +1
    assert stats.nanmean([1.0, np.nan, 3.0]) == 2.0 and np.isnan(stats.nanmean([]))


def test_ranks_and_problems_won_share_ties() -> None:
    assert stats.ranks(np.array([[3.0, 1.0], [1.0, 1.0], [2.0, 5.0]])).tolist() == [[3, 1.5], [1, 1.5], [2, 3]]
    means = {"a": {"p": 2.0, "q": 1.0, "r": 5.0}, "b": {"p": 2.0, "q": 0.0}, "c": {"p": 1.0, "q": 3.0}}
    won = stats.problems_won(means)
    assert won == {"a": 0.5, "b": 0.5, "c": 1.0}  # p tied between a and b; r is not shared by all


def test_scores_against_random_search() -> None:
    values = np.arange(10.0)  # a random sample whose best after one draw is 4.5 on average
    random_curve = stats.expected_best_curve(values, 3)
    assert random_curve[0] == pytest.approx(4.5) and np.all(np.diff(random_curve) < 0)
    assert stats.optimum_of(None, [5.0, 0.0]) == 0.0 and stats.optimum_of(-1.0, [5.0, 0.0]) == -1.0
    runs = {0: _run("s", "o", 0, [4.5, 0.0]), 1: _run("s", "o", 1, [9.0])}
    cell = stats.Cell.of(runs, 3, random_curve, optimum=0.0)
    assert cell.seeds == [0, 1] and cell.best.tolist() == [[4.5, 0.0, 0.0], [9.0, 9.0, 9.0]]  # padded
    assert cell.scores[0, 0] == pytest.approx(0.0) and cell.scores[0, 2] == pytest.approx(100.0)
    assert cell.seconds.tolist() == [0.25, 0.5] and np.isnan(cell.diversity).all()


# ---------------------------------------------------------------- timing and arms


def test_the_timing_wrapper_forwards_and_counts() -> None:
    inner = RandomSearcher(seed=0)
    timed = TimedSearcher(ConcurrencyLimiter(inner, max_concurrent=2))
    assert timed.set_search_properties("loss", "min", {"x": tune.uniform(0, 1)})
    configs = [timed.suggest(f"t{i}") for i in range(3)]
    assert configs[2] is None  # the limiter inside still holds the third back
    timed.on_trial_complete("t0", {"loss": 1.0})
    times = timed.times.as_dict()
    assert times["suggest"]["calls"] == 3 and times["on_trial_complete"]["calls"] == 1
    assert timed.seconds == pytest.approx(sum(t["wall_s"] for t in times.values()))
    assert timed.searcher is timed.inner  # Tune walks past a wrapper to the searcher inside
    assert not hasattr(TimedSearcher(inner, wrapper=False), "searcher")  # Tune checkpoints it through its save


def test_arms_are_named_pgsearcher_configurations() -> None:
    assert {"pgsearcher", "pgsearcher_no_prior_candidates", "pgsearcher_prior_candidates"} <= set(ARMS)
    assert not set(ARMS) & set(PEERS) and searcher_names() == list(PEERS) + list(ARMS)
    searchers = [make_searcher("pgsearcher_restarts", seed=0, budget=10, concurrency=1) for _ in range(2)]
    for searcher in searchers:
        searcher.set_search_properties("loss", "min", {"x": tune.uniform(0, 1)})
    settings = searchers[0].optimizer.settings
    assert settings.candidates.uniform_weight == 0.0
    (a,), (b,) = ARMS["pgsearcher_restarts"].extensions(), ARMS["pgsearcher_restarts"].extensions()
    assert isinstance(a, Restarts) and a.after == 128 and a is not b  # each search its own extension
    with pytest.raises(KeyError, match="unknown searcher"):
        make_searcher("no_such_arm", 0, 10, 1)


# ---------------------------------------------------------------- command line


def test_quick_runs_never_write_into_the_committed_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    parser = cli.parser("a study")
    cli.add_output(parser)
    args = parser.parse_args([])
    cli.resolve_output(args, "study", quick=True)
    assert args.out == cli.QUICK_RESULTS and args.cache == cli.QUICK_RESULTS / "runs" / "study"
    args = parser.parse_args(["--out", "elsewhere", "--cache", "mine"])
    cli.resolve_output(args, "study")
    assert (args.out, args.cache) == (Path("elsewhere"), Path("mine")) and args.out.is_dir()
