"""The lab's statistics: the score against random search, means and standard errors over seeds, pooled
means over problems, differences paired by seed, ranks and problems won, and `Cell`, one searcher's runs
on one problem scored at every evaluation.

Score at n evaluations = 100 x (1 - (best - optimum) / (random - optimum)): 100 is the optimum, 0 the exact
expected best of n uniform random draws (from a dense random sample of the problem), negative is worse than
random search. The optimum is the known one, or the best value any run or the sample found.

`bayesmark_score` is Bayesmark's own score (the NeurIPS 2020 black-box optimization challenge's), which
clips each run at random search's median instead of measuring it against random search's expected best.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata


def expected_best(values: np.ndarray, budget: int) -> float:
    """Exact expected minimum of `budget` uniform draws (with replacement) from `values`.

    With v_(1) <= ... <= v_(N): sum_i v_(i) * [((N-i+1)/N)^B - ((N-i)/N)^B].
    """
    v = np.sort(np.asarray(values, dtype=float))
    n = len(v)
    above = (n - np.arange(n, dtype=float)) / n  # (N-i+1)/N for i = 1..N
    return float(np.sum(v * (above**budget - (above - 1.0 / n) ** budget)))


def expected_best_curve(values: np.ndarray, budget: int) -> np.ndarray:
    """`expected_best` after 1, 2, ..., `budget` draws."""
    return np.array([expected_best(values, t) for t in range(1, budget + 1)])


def best_so_far(values: Iterable[float], budget: int) -> np.ndarray:
    """The best value after each evaluation, padded to `budget` (a searcher that stopped early keeps its best)."""
    curve = np.minimum.accumulate(np.asarray(list(values), dtype=float))
    return np.concatenate([curve, np.full(budget - len(curve), curve[-1])]) if len(curve) < budget else curve


def score(best: float | np.ndarray, random_best: float | np.ndarray, optimum: float) -> float | np.ndarray:
    """100 * (1 - (best - optimum) / (random - optimum)): 100 the optimum, 0 random search."""
    return 100.0 * (1.0 - (best - optimum) / (random_best - optimum))


def optimum_of(known: float | None, seen: Iterable[float]) -> float:
    """The optimum a score measures against: the known one, or the best value seen (whichever is lower)."""
    best = min(seen)
    return min(known, best) if known is not None else best


def mean_se(values: Iterable[float]) -> tuple[float, float]:
    """Mean and standard error (ddof 1; nan for a single value)."""
    v = np.asarray(list(values), dtype=float)
    return float(v.mean()), float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else float("nan")


def pooled(items: Iterable[tuple[float, float]]) -> tuple[float, float]:
    """The mean of independent (mean, s.e.) pairs, e.g. over problems: the mean of the means and
    sqrt(sum s.e.^2) / n."""
    items = list(items)
    if not items:
        return float("nan"), float("nan")
    means, ses = np.array(items, dtype=float).T
    return float(means.mean()), float(np.sqrt(np.sum(ses**2)) / len(items))


def paired(a: Mapping[int, float], b: Mapping[int, float]) -> dict[str, float]:
    """b - a paired by seed over the seeds both have: mean, standard error and how many seeds."""
    seeds = sorted(set(a) & set(b))
    mean, se = mean_se([b[s] - a[s] for s in seeds]) if seeds else (float("nan"), float("nan"))
    return {"mean": mean, "stderr": se, "seeds": len(seeds)}


def nanmean(values: Iterable[float]) -> float:
    """Mean of the finite values (nan if none)."""
    v = np.asarray(list(values), dtype=float)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else float("nan")


def ranks(values: np.ndarray) -> np.ndarray:
    """Ranks along the first axis (1 is the lowest value, ties share the mean rank), e.g. searchers x
    problems x seeds of best values."""
    return rankdata(np.asarray(values, dtype=float), axis=0)


def problems_won(scores: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """Per searcher, on how many problems its mean score is the highest (ties share the problem), from
    {searcher: {problem: mean score}}; only problems every searcher has count."""
    names = list(scores)
    problems = set.intersection(*(set(scores[n]) for n in names)) if names else set()
    won = dict.fromkeys(names, 0.0)
    for problem in problems:
        top = max(scores[n][problem] for n in names)
        winners = [n for n in names if scores[n][problem] == top]
        for n in winners:
            won[n] += 1.0 / len(winners)
    return won


def bayesmark_score(
    best: Mapping[str, np.ndarray],
    random_values: Mapping[str, np.ndarray],
    best_seen: Mapping[str, float],
    evaluations: int,
) -> dict:
    """Bayesmark's score of one searcher on some problems after `evaluations` evaluations, as bayesmark 0.0.8
    computes it (`experiment_baseline.compute_baseline`, `experiment_analysis.compute_aggregates` and
    `main`, with `quantiles.quantile` and `expected_max.expected_min`).

    `best[p]`: each run's (seed's) best loss on problem p after `evaluations` evaluations; `random_values[p]`:
    random search's evaluations of p (iid uniform draws, e.g. the lab's dense random sample); `best_seen[p]`:
    the best loss any run of any searcher found on p. All finite (bayesmark asserts it). Per problem p:

    - opt_p (`PERF_BEST`) = min(best_seen[p], min of random_values[p]) + 10000 * spacing(-max(tiny, |min|)),
      a pad a little below the best loss; clip_p (`PERF_CLIP`) = the median of random_values[p], the
      ceil(n / 2)-th smallest of n (`quantiles.quantile` at 0.5).
    - A run's normalized value = (best - opt_p) / (clip_p - opt_p) clipped to [-1, 1], so 0 is the best loss
      and 1 random search's median single evaluation or worse; the problem's normalized mean (`NORMED_MEAN`
      of `agg_result`) is the mean over runs.
    - Random search's normalized mean (`baseline_mean_da`): the same normalization of the unbiased expected
      minimum of `evaluations` draws without replacement from random_values[p] clipped at clip_p
      (`expected_min`: the i-th smallest of n weighs C(n - i, evaluations - 1) / C(n, evaluations)).

    Over problems: mean = the mean of the normalized means (`summary[PERF_MEAN]`); normed_mean = mean / the
    mean of random search's normalized means (`summary[NORMED_MEAN]`, 1 for random search at any budget).
    Returns {"problems": {p: normalized mean}, "random": {p: random search's normalized mean}, "runs": {p:
    each run's normalized value}, "mean", "normed_mean", "leaderboard": 100 * (1 - mean) (what
    `experiment_analysis.main` prints as the leaderboard's score), "score": 100 * (1 - normed_mean) (0 is
    random search, 100 the best loss on every problem in every run)}.
    """
    problems, random, runs = {}, {}, {}
    for p, runs_best in best.items():
        values = np.sort(np.asarray(random_values[p], dtype=float))
        runs_best = np.asarray(runs_best, dtype=float)
        if not (np.all(np.isfinite(values)) and np.all(np.isfinite(runs_best)) and np.isfinite(best_seen[p])):
            raise ValueError(f"{p}: bayesmark's score needs finite losses")
        n = values.size
        if not 1 <= evaluations <= n:
            raise ValueError(f"{p}: {n} random evaluations cannot give the expected best of {evaluations}")
        opt = min(float(best_seen[p]), float(values[0]))
        opt += 10000 * np.spacing(-max(np.nextafter(0.0, 1.0), abs(opt)))
        clip = values[int(np.ceil(n * 0.5)) - 1]
        log_factorial = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1.0, n + 1)))])
        above = n - 1 - np.arange(n)  # draws larger than the i-th smallest (ties broken by position)
        log_weight = np.full(n, -np.inf)
        can = above >= evaluations - 1  # the i-th smallest is the minimum of some `evaluations` draws
        k = evaluations - 1
        log_weight[can] = log_factorial[above[can]] - log_factorial[k] - log_factorial[above[can] - k]
        weight = np.exp(log_weight - log_weight.max())
        random_best = float(np.sum(np.minimum(values, clip) * weight) / np.sum(weight))
        runs[p] = np.clip((runs_best - opt) / (clip - opt), -1.0, 1.0)
        problems[p] = float(runs[p].mean())
        random[p] = float((min(random_best, clip) - opt) / (clip - opt))
    mean = float(np.mean(list(problems.values())))
    normed_mean = mean / float(np.mean(list(random.values())))
    return {
        "problems": problems,
        "random": random,
        "runs": runs,
        "mean": mean,
        "normed_mean": normed_mean,
        "leaderboard": 100.0 * (1.0 - mean),
        "score": 100.0 * (1.0 - normed_mean),
    }


@dataclass
class Cell:
    """One searcher's runs on one problem under one setting, seeds in rows."""

    seeds: list[int]
    best: np.ndarray  # seeds x budget: best value so far
    scores: np.ndarray  # seeds x budget: score of the best so far against random search at that budget
    seconds: np.ndarray  # seeds: searcher seconds per evaluation
    diversity: np.ndarray  # seeds: mean diversity of the run's full pending sets (nan: not measured)
    in_flight: np.ndarray  # seeds: configs suggested while an equal config was pending (nan: not counted)
    duplicates: np.ndarray  # seeds: configs suggested more than once (nan: not counted)
    off_domain: np.ndarray  # seeds: configs with a value outside its domain (nan: not counted)

    @classmethod
    def of(cls, runs: Mapping[int, dict], budget: int, random_curve: np.ndarray, optimum: float) -> Cell:
        """Score cached runs (by seed) against random search's expected best after 1..budget evaluations."""
        seeds = sorted(runs)
        best = np.array([best_so_far(runs[k]["values"], budget) for k in seeds])

        def count(key: str) -> np.ndarray:
            return np.array([runs[k].get(key, np.nan) for k in seeds], dtype=float)

        return cls(
            seeds,
            best,
            score(best, random_curve, optimum),
            np.array([runs[k]["seconds"] / len(runs[k]["values"]) for k in seeds]),
            np.array([nanmean(runs[k].get("diversity") or []) for k in seeds]),
            count("in_flight_duplicates"),
            count("duplicates"),
            count("off_domain"),
        )

    def at(self, seeds: list[int]) -> np.ndarray:
        """Row indices of `seeds`."""
        return np.array([self.seeds.index(k) for k in seeds], dtype=int)


def optima(
    runs: Iterable[tuple[str, Mapping[int, dict]]], samples: Mapping[str, np.ndarray], known: Mapping[str, float | None]
) -> dict[str, float]:
    """The optimum of every sampled objective: `optimum_of` its known optimum, its sample's best and the best
    value of its (objective, runs by seed) in `runs`."""
    seen: dict[str, list[float]] = {o: [float(np.min(v))] for o, v in samples.items()}
    for objective, by_seed in runs:
        seen[objective] += [min(r["values"]) for r in by_seed.values()]
    return {o: optimum_of(known[o], values) for o, values in seen.items()}


def cells_of(
    runs: Mapping[tuple[str, str], Mapping[int, dict]],
    budget: int,
    samples: Mapping[str, np.ndarray],
    optimum: Mapping[str, float],
) -> dict[tuple[str, str], Cell]:
    """Cached runs by (searcher, objective) scored after 1..budget evaluations against random search."""
    curves = {o: expected_best_curve(samples[o], budget) for o in {o for _, o in runs}}
    return {key: Cell.of(rs, budget, curves[key[1]], optimum[key[1]]) for key, rs in runs.items() if rs}
