"""Warm starts: does a search that starts from an earlier one (``PGSearcher(warm_start=...)``) find
good configs sooner on a related task, and cost little on an unrelated one?

    python -m experiments.warm_start [--seeds N] [--model-seeds N] [--first-seed N] [--jobs 1] [--quick]
    python -m experiments.warm_start --sweep [--sweep-weights 3,10,30] [--sweep-halflives 5,10,20]

Every pair is a source task and a target task. For each pair and seed s, a source search (PGSearcher
with its defaults and seed ``SOURCE_SEED + s``, budget 100, 8 at once) runs on the source objective;
then three searches of the target, each ``PGSearcher(seed=s)`` and each driven by the lab's driver
(``experiments.lab.driver.run_setting``) with the same completion order:

- cold: no prior;
- warm: ``warm_start=`` the source searcher;
- replay: ``points_to_evaluate=`` the source's ``TOP_K`` best configs, as users do without a prior
  (each value clipped into the target's range, a removed parameter dropped, a new one left to the
  searcher).

Budgets 32 and 100 with 8 trials at once, and 100 one at a time. Scores are the lab's
(``experiments.lab.stats.score``): 100 is the optimum, 0 the exact expected best of uniform random search
at the same budget, from a dense random sample of the target. Each warm run also records whether the
earlier search was rejected, its trust and its weight at the end (``searcher.view().warm_start``).

Pairs (``experiments.warm_start_pairs``) carry a development/held-out label fixed in the code before any
result was seen: defaults are
chosen (``--sweep``) on development pairs only; the report shows both halves side by side. Kinds:
``related`` (the same model on two data sets, a data subset -> the full data, synthetic objectives and
a copy with the optimum moved, ranges changed, a parameter added and one removed), ``bbob`` (a COCO bbob
function, instance 1 -> instance 2: the same shape, the optimum moved at random in [-4, 4]^5; only when
``coco-experiment`` is installed) and ``unrelated`` (the same parameter names, another landscape).

Every target run (its values, the prior's state at its end) is kept in the run cache (default
``<out>/runs/warm_start/``), by setting, start, pair and seed; a pair-seed whose runs are all cached is not
run again, so the command scores the cache again (the sweep's cold and replay runs are the study's).
Writes ``warm_start.md``, ``.json`` and ``.png`` (``--sweep``: ``warm_start_sweep.md`` and ``.json``).
"""

from __future__ import annotations

import itertools
import json
import time
import warnings
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from experiments.lab import cli, render, stats
from experiments.lab.arms import ARMS, Arm
from experiments.lab.cache import RunCache
from experiments.lab.driver import RANDOM_SAMPLE, run_setting, run_tasks
from experiments.lab.protocol import DEV, HALVES, HELD_OUT, Setting, half_label
from experiments.lab.spaces import Categorical, Float, Integer, domain_items, get_path, set_path, snap_int
from experiments.warm_start_pairs import KINDS, pairs
from ray_pgsearch import PGSearcher, Settings

SETTINGS = (Setting(32, 8), Setting(100, 8), Setting(100, 1))
SOURCE_SETTING = Setting(100, 8)
QUICK_SETTINGS = (Setting(16, 4), Setting(32, 4))
QUICK_SOURCE_SETTING = Setting(32, 4)
QUICK_PAIRS = ("bowls_shift", "hartmann6_shift", "st_to_ellipsoid", "levy_to_st")
QUICK_SAMPLE = 500
TOP_K = 5  # configs of the source the replay start evaluates first
SOURCE_SEED = 1000  # the source search of seed s runs with seed SOURCE_SEED + s
CURVE_SETTING = Setting(100, 8)  # the setting whose best-so-far curves the figure shows
RELATED_GAIN = 10.0  # the bar: related pairs, budget 32: warm at least this many points above cold and replay
UNRELATED_COST = 3.0  # the bar: unrelated pairs, budget 100: warm at most this many points below cold


@dataclass(frozen=True)
class Start:
    """A way to start the target search: `kind` cold (no prior), warm (``warm_start=`` the source searcher) or
    replay (``points_to_evaluate=`` its best configs), with the PGSearcher configuration `arm`, whose name
    labels the start in the tables."""

    kind: str
    arm: Arm

    @property
    def label(self) -> str:
        return self.arm.name


def _warm_settings(weight: float, halflife: float) -> Settings:
    return Settings.from_args(warm_start={"weight": weight, "halflife": halflife})


def default_starts() -> list[Start]:
    """cold, warm (default settings) and replay."""
    return [Start(kind, Arm(kind)) for kind in ("cold", "warm", "replay")]


# ---------------------------------------------------------------- runs


def adapt_point(config: dict, space: dict) -> dict:
    """An earlier config as a point of ``space``, as a user would carry it over by hand: the values of the
    keys both share, numbers clipped into the new range (integers onto their grid), a category the new
    choice lacks left out; keys only ``space`` has are left out (the searcher fills them in)."""
    point: dict = {}
    for path, domain in domain_items(space):
        try:
            value = get_path(config, path)
        except (KeyError, TypeError):
            continue
        if isinstance(domain, Categorical):
            if value not in domain.categories:
                continue
        elif isinstance(domain, Integer):
            value = snap_int(value, domain)
        elif isinstance(domain, Float):
            value = float(np.clip(value, domain.lower, domain.upper))
        node = point
        for key in path[:-1]:
            node = node.setdefault(key, {})
        set_path(point, path, value)
    return point


def top_configs(searcher: PGSearcher, k: int) -> list[dict]:
    """The ``k`` best configs a finished search evaluated (from its optimizer's window), best first."""
    results = searcher.view().results()
    order = np.argsort([-reward[0] for _, reward in results], kind="stable")[:k]
    return [results[i][0] for i in order]


def run_unit(
    pair_name: str, seed: int, settings: tuple[Setting, ...], source_setting: Setting, starts: list[Start]
) -> list[dict]:
    """One pair and seed: the source search, then every start at every setting on the target. One run per
    target search, as the cache stores it: its values, and for a warm start the prior's state at its end."""
    warnings.filterwarnings("ignore")
    pair = pairs()[pair_name]
    source = ARMS["pgsearcher"].searcher(SOURCE_SEED + seed)
    source_record = run_setting(source, pair.source, source_setting, SOURCE_SEED + seed)
    replay = [adapt_point(c, pair.target.space) for c in top_configs(source, TOP_K)]
    out = []
    for setting, start in itertools.product(settings, starts):
        extra = {"warm": {"warm_start": source}, "replay": {"points_to_evaluate": replay}}.get(start.kind, {})
        searcher = start.arm.searcher(seed, **extra)
        t0 = time.perf_counter()
        record = run_setting(searcher, pair.target, setting, seed)
        warm = searcher.view().warm_start if start.kind == "warm" else None
        out.append(
            {
                "searcher": start.label,
                "objective": pair_name,
                "seed": seed,
                "setting": setting.key,
                "values": record.values,
                "wall_seconds": round(time.perf_counter() - t0, 3),
                "source_best": source_record.best,
                "rejected": warm.rejected if warm else None,
                "trust": warm.trust if warm else None,
                "weight": warm.weight if warm else None,
            }
        )
    return out


def run_units(cache: RunCache, units: list[tuple], jobs: int) -> list[dict]:
    """Every (pair, seed, settings, source setting, starts) unit: its runs from the cache when all are
    there, else run (in this process or `jobs` processes) and cached."""
    keys = [[(s.key, start.label, unit[0], unit[1]) for s in unit[2] for start in unit[4]] for unit in units]
    missing = [unit for unit, unit_keys in zip(units, keys, strict=True) if not all(cache.has(*k) for k in unit_keys)]
    print(f"{len(missing)} of {len(units)} pair-seeds to run", flush=True)

    def done(unit: tuple, runs: list[dict]) -> None:
        for run in runs:
            cache.add(run["setting"], run)

    failures = run_tasks(run_unit, missing, jobs, done)
    cache.compact()
    if failures:
        raise RuntimeError("pair-seeds failed:\n" + "\n".join(failures))
    return [cache.runs(group, label, pair)[seed] for unit_keys in keys for group, label, pair, seed in unit_keys]


# ---------------------------------------------------------------- scoring


def summarize(
    records: list[dict], samples: dict[str, np.ndarray], settings: tuple[Setting, ...], arms: list[str]
) -> dict:
    """Per pair and setting: each start's mean score ± s.e. over seeds, the paired differences warm - cold and
    warm - replay (or every start - cold), the warm start's rejection rate, trust and weight at the end; per
    kind and half, the same pooled over pairs; and mean score-at-budget curves for the figure."""
    by_pair: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        by_pair[r["objective"]].append(r)
    optimum = {
        name: stats.optimum_of(
            pairs()[name].target.optimum,
            [float(samples[pairs()[name].target.name].min())] + [min(r["values"]) for r in runs],
        )
        for name, runs in by_pair.items()
    }
    out: dict = {"optimum": optimum, "pairs": {}, "groups": {}, "curves": {}}
    for name, runs in by_pair.items():
        pair, values = pairs()[name], samples[pairs()[name].target.name]
        out["pairs"][name] = {"kind": pair.kind, "half": pair.half, "settings": {}}
        for setting in settings:
            random_curve = stats.expected_best_curve(values, setting.budget)
            by_arm: dict[str, dict[int, dict]] = defaultdict(dict)
            for r in runs:
                if r["setting"] == setting.key:
                    by_arm[r["searcher"]][r["seed"]] = r
            seeds = sorted(set.intersection(*[set(by_arm[a]) for a in arms]))
            curves = {
                a: stats.score(
                    np.array([stats.best_so_far(by_arm[a][s]["values"], setting.budget) for s in seeds]),
                    random_curve,
                    optimum[name],
                )
                for a in arms
            }
            scores = {a: curves[a][:, -1] for a in arms}
            entry: dict = {"random_expected": float(random_curve[-1]), "seeds": len(seeds), "arms": {}, "diffs": {}}
            for a in arms:
                entry["arms"][a] = stats.mean_se(scores[a])
                warm_runs = [by_arm[a][s] for s in seeds if by_arm[a][s]["rejected"] is not None]
                if warm_runs:
                    entry["arms"][a] += tuple(
                        float(np.mean([r[k] for r in warm_runs])) for k in ("rejected", "trust", "weight")
                    )
            for a in arms:  # every start against cold; the warm ones against replay too
                for b in ("cold", "replay"):
                    if b in arms and a not in ("cold", b) and (b == "cold" or a != "replay"):
                        entry["diffs"][f"{a} - {b}"] = stats.mean_se(scores[a] - scores[b])
            out["pairs"][name]["settings"][setting.key] = entry
            if setting == CURVE_SETTING:
                out["curves"][name] = {a: curves[a].mean(axis=0).tolist() for a in arms}
    for kind, half in itertools.product(KINDS, HALVES):
        names = [n for n, p in out["pairs"].items() if (p["kind"], p["half"]) == (kind, half)]
        if not names:
            continue
        group: dict = {"pairs": names, "settings": {}}
        for key in out["pairs"][names[0]]["settings"]:
            entries = [out["pairs"][n]["settings"][key] for n in names]
            group["settings"][key] = {
                "arms": {a: stats.pooled([e["arms"][a][:2] for e in entries]) for a in arms},
                "diffs": {d: stats.pooled([e["diffs"][d] for e in entries]) for d in entries[0]["diffs"]},
                "prior": {
                    a: [float(np.mean([e["arms"][a][i] for e in entries])) for i in (2, 3, 4)]
                    for a in arms
                    if len(entries[0]["arms"][a]) > 2
                },
            }
        out["groups"][f"{kind}/{half}"] = group
    return out


# ---------------------------------------------------------------- report


def bar_lines(summary: dict) -> list[str]:
    """The bar, per half: related pairs at budget 32 (8 at once), warm at least RELATED_GAIN points
    above cold and above replay; unrelated pairs at budget 100 (each concurrency), warm at most
    UNRELATED_COST points below cold. The bbob instance pairs (the optimum moved at random) are held to the
    unrelated bar and their budget-32 gain is shown."""
    lines = []
    for half in HALVES:
        checks = []
        related = summary["groups"].get(f"related/{half}", {}).get("settings", {}).get("32x8")
        if related:
            for d in ("warm - cold", "warm - replay"):
                v = related["diffs"][d]
                checks.append(
                    (f"related, 32x8, {d} {render.pm(*v, signed=True)} >= {RELATED_GAIN:g}", v[0] >= RELATED_GAIN)
                )
        for kind in ("unrelated", "bbob"):
            group = summary["groups"].get(f"{kind}/{half}", {}).get("settings", {})
            for key, entry in group.items():
                if key.startswith("100x"):
                    v = entry["diffs"]["warm - cold"]
                    checks.append(
                        (
                            f"{kind}, {key}, warm - cold {render.pm(*v, signed=True)} >= -{UNRELATED_COST:g}",
                            v[0] >= -UNRELATED_COST,
                        )
                    )
        if checks:
            lines.append(
                f"- {half_label(half)}: " + "; ".join(f"{'PASS' if ok else 'FAIL'} {text}" for text, ok in checks)
            )
    return lines


def markdown(
    summary: dict,
    seeds: dict[str, int],
    settings: tuple[Setting, ...],
    argv: list[str] | None,
    wall: float,
    source_setting: Setting = SOURCE_SETTING,
    quick: bool = False,
) -> str:
    """The report: pairs, per-group and per-pair tables for every setting, the prior's behaviour, the bar."""
    arms = list(next(iter(next(iter(summary["pairs"].values()))["settings"].values()))["arms"])
    title = "Warm starts: cold, warm (warm_start=) and replay (points_to_evaluate=)"
    lines = render.header("warm_start", title, argv, ["scikit-learn"])
    lines += [
        f"Algorithm: ray_pgsearch at commit {render.code_version()}. Wall time: {wall / 60:.1f} min. "
        "Score = 100 * (1 - (best - optimum) / (random - optimum)) on the target: "
        "100 the optimum, 0 the exact expected best of uniform random search at the same budget (from a dense "
        "random sample), `optimum` the known minimum, else the best value seen. Mean ± standard error over "
        "seeds; a difference is paired by seed (the same seed and completion order for every arm). A group "
        "(kind x half) is the mean over its pairs, s.e. sqrt(sum s.e.²) / pairs. Source search: PGSearcher "
        f"defaults, seed {SOURCE_SEED} + s, {source_setting.budget} trials ({source_setting.concurrency} at once); "
        "replay runs "
        f"its top {TOP_K} configs first. `rejected`: share of warm runs whose prior was dropped "
        "(`view().warm_start.rejected`); `trust`, `weight`: `view().warm_start.trust` and `.weight` at the "
        "end of the run (weight in results of this search). Development pairs (dev) chose the defaults; held-out "
        "pairs did not.",
        "",
        "## Pairs",
        "",
    ]
    lines += render.table(
        ["pair", "kind", "half", "seeds", "source -> target", "what changes"],
        [
            [n, p.kind, half_label(p.half), str(seeds[n]), f"`{p.source.name}` -> `{p.target.name}`", p.note]
            for n, p in pairs().items()
            if n in summary["pairs"]
        ],
    )
    lines += ["## Groups", ""]
    diff_names = list(next(iter(summary["groups"].values()))["settings"][settings[0].key]["diffs"])
    for setting in settings:
        key = setting.key
        rows = []
        for gname, group in summary["groups"].items():
            entry = group["settings"][key]
            prior = entry["prior"].get("warm") or next(iter(entry["prior"].values()), [float("nan")] * 3)
            rows.append(
                [gname.replace(HELD_OUT, half_label(HELD_OUT)), str(len(group["pairs"]))]
                + [render.pm(*entry["arms"][a][:2]) for a in arms]
                + [render.pm(*entry["diffs"][d], signed=True) for d in diff_names]
                + [f"{prior[0]:.2f}", f"{prior[1]:.2f}", f"{prior[2]:.2f}"]
            )
        lines += [f"### Budget {setting.budget}, {setting.concurrency} at once", ""]
        lines += render.table(["kind/half", "pairs"] + arms + diff_names + ["rejected", "trust", "weight"], rows)
    lines += ["## Per pair", ""]
    for setting in settings:
        key = setting.key
        rows = []
        for name, p in summary["pairs"].items():
            entry = p["settings"][key]
            warm = entry["arms"].get("warm", ())
            prior = warm[2:] if len(warm) > 2 else [float("nan")] * 3
            rows.append(
                [name, p["kind"], half_label(p["half"])]
                + [render.pm(*entry["arms"][a][:2]) for a in arms]
                + [render.pm(*entry["diffs"][d], signed=True) for d in diff_names]
                + [f"{prior[0]:.2f}", f"{prior[1]:.2f}", f"{prior[2]:.2f}"]
            )
        lines += [f"### Budget {setting.budget}, {setting.concurrency} at once", ""]
        lines += render.table(["pair", "kind", "half"] + arms + diff_names + ["rejected", "trust", "weight"], rows)
    lines += ["## Bar", ""]
    if quick:
        lines += ["Not checked: a --quick run (other budgets, few seeds).", ""]
    else:
        lines += [
            f"Related pairs, budget 32 (8 at once): warm at least {RELATED_GAIN:g} points above cold and above "
            f"replay. Unrelated pairs, budget 100: warm at most {UNRELATED_COST:g} points below cold. bbob "
            "instance pairs share a shape, not an optimum (it moves at random in [-4, 4]^5): held to the "
            "unrelated bar.",
            "",
        ]
        lines += bar_lines(summary) + [""]
    return "\n".join(lines)


def plot(summary: dict, path: Path) -> None:
    """Mean score at budget t (against random search at t) of each start, from the CURVE_SETTING runs: one
    panel per kind, development pairs solid, held-out dashed."""
    kinds = [k for k in KINDS if any(p["kind"] == k for p in summary["pairs"].values())]
    fig, axes = render.panels(len(kinds), 3, 5.5, 4.5)
    for ax, kind in zip(axes, kinds, strict=True):
        for half, style in zip(HALVES, ("-", "--"), strict=True):
            names = [n for n, p in summary["pairs"].items() if (p["kind"], p["half"]) == (kind, half)]
            if not names or names[0] not in summary["curves"]:
                continue
            for i, arm in enumerate(summary["curves"][names[0]]):
                curve = np.mean([summary["curves"][n][arm] for n in names], axis=0)
                ax.plot(np.arange(1, curve.size + 1), curve, style, color=f"C{i}", label=f"{arm} ({half_label(half)})")
        title = f"{kind} pairs, {CURVE_SETTING.concurrency} at once"
        render.score_axes(ax, title, "completed trials t", "mean score at t (0: random search at t)")
    render.save(fig, path)


def sweep_markdown(summary: dict, arms: list[Start], argv: list[str] | None, wall: float, seeds: dict[str, int]) -> str:
    """The sweep's report (dev pairs only): cold's and replay's scores per kind, then for every warm
    setting its gain over cold (and the share of its runs that rejected the prior) and over replay."""
    lines = render.header("warm_start", "Warm starts: prior_weight x prior_halflife on development pairs", argv, [])
    keys = list(next(iter(summary["groups"].values()))["settings"])
    groups = list(summary["groups"])
    lines += [
        f"Algorithm: ray_pgsearch at commit {render.code_version()}. Wall time: {wall / 60:.1f} min. "
        f"Development pairs only ({', '.join(summary['pairs'])}); seeds per pair: "
        f"{sorted(set(seeds.values()))}. Scores as in warm_start.md (the optimum of a model target is the best "
        "value seen in this sweep). Mean ± s.e. over the pairs of a kind, differences paired by seed.",
        "",
        "Cold and replay (the same in every row below):",
        "",
    ]
    lines += render.table(
        ["arm"] + [f"{g} {k}" for g in groups for k in keys],
        [
            [a] + [render.pm(*summary["groups"][g]["settings"][k]["arms"][a][:2]) for g in groups for k in keys]
            for a in ("cold", "replay")
        ],
    )
    warm = [a for a in arms if a.kind == "warm"]
    lines += ["Warm - cold (in brackets: the share of warm runs that rejected the prior):", ""]
    rows = []
    for arm in warm:
        s = arm.arm.overrides
        cells = []
        for g in groups:
            for k in keys:
                entry = summary["groups"][g]["settings"][k]
                gain = render.pm(*entry["diffs"][f"{arm.label} - cold"], signed=True)
                cells.append(f"{gain} ({entry['prior'][arm.label][0]:.2f})")
        rows.append([f"{s['prior_weight']:g}", f"{s['prior_halflife']:g}"] + cells)
    lines += render.table(["prior_weight", "prior_halflife"] + [f"{g} {k}" for g in groups for k in keys], rows)
    lines += ["Warm - replay:", ""]
    rows = []
    for arm in warm:
        s = arm.arm.overrides
        cells = [
            render.pm(*summary["groups"][g]["settings"][k]["diffs"][f"{arm.label} - replay"], signed=True)
            for g in groups
            for k in keys
        ]
        rows.append([f"{s['prior_weight']:g}", f"{s['prior_halflife']:g}"] + cells)
    lines += render.table(["prior_weight", "prior_halflife"] + [f"{g} {k}" for g in groups for k in keys], rows)
    return "\n".join(lines)


# ---------------------------------------------------------------- main


def _floats(text: str) -> list[float]:
    """Comma-separated numbers (argparse type)."""
    return [float(v) for v in text.split(",")]


def main(argv: list[str] | None = None) -> dict:
    """Parse the command line, run the study (or the sweep) where the cache lacks it, write the report;
    returns the summary."""
    parser = cli.parser(__doc__)
    parser.add_argument("--seeds", type=int, default=30, help="seeds per synthetic and bbob pair (default 30)")
    parser.add_argument("--model-seeds", type=int, help="seeds per scikit-learn pair (default: min(seeds, 15))")
    parser.add_argument("--first-seed", type=int, default=0, help="the first seed (default 0): a fresh batch of seeds")
    parser.add_argument("--pairs", help="comma-separated pair names (default: all; --quick: a few synthetic ones)")
    parser.add_argument("--quick", action="store_true", help="a test-sized run: 2 seeds, 4 pairs, budgets 16 and 32")
    parser.add_argument("--sweep", action="store_true", help="warm_start.weight x warm_start.halflife on dev pairs")
    parser.add_argument("--sweep-weights", type=_floats, default=_floats("0,3,10,30"), help="warm_start.weight values")
    parser.add_argument(
        "--sweep-halflives", type=_floats, default=_floats("5,10,20"), help="warm_start.halflife values"
    )
    cli.add_output(parser, jobs=1)
    args = parser.parse_args(argv)
    cli.resolve_output(args, "warm_start", args.quick)

    chosen = args.pairs.split(",") if args.pairs else list(QUICK_PAIRS if args.quick else pairs())
    unknown = sorted(set(chosen) - set(pairs()))
    if unknown:
        parser.error(f"unknown pairs {unknown}; the pairs are {sorted(pairs())}")
    if args.sweep:
        chosen = [n for n in chosen if pairs()[n].half == DEV]
    seeds_default = 2 if args.quick else args.seeds
    model_seeds = args.model_seeds or min(seeds_default, 15)
    seeds = {n: model_seeds if pairs()[n].model else seeds_default for n in chosen}
    settings = QUICK_SETTINGS if args.quick else SETTINGS
    source_setting = QUICK_SOURCE_SETTING if args.quick else SOURCE_SETTING
    if args.sweep:
        settings = settings[:2]
        starts = [Start("cold", Arm("cold")), Start("replay", Arm("replay"))] + [
            Start("warm", Arm(f"w{w:g}_h{h:g}", {"settings": _warm_settings(w, h)}))
            for w, h in itertools.product(args.sweep_weights, args.sweep_halflives)
        ]
    else:
        starts = default_starts()
    start = time.time()
    cache = RunCache(args.cache)
    samples = {}
    for n in chosen:
        target = pairs()[n].target
        samples[target.name] = cache.sample(target, QUICK_SAMPLE if args.quick else RANDOM_SAMPLE[target.kind])
    first = args.first_seed
    units = [(n, s, settings, source_setting, starts) for n in chosen for s in range(first, first + seeds[n])]
    units.sort(key=lambda u: -int(pairs()[u[0]].model))  # the dear ones first
    records = run_units(cache, units, args.jobs)
    summary = summarize(records, samples, settings, [s.label for s in starts])
    wall = time.time() - start
    stem = "warm_start_sweep" if args.sweep else "warm_start"
    if args.sweep:
        text = sweep_markdown(summary, starts, argv, wall, seeds)
    else:
        text = markdown(summary, seeds, settings, argv, wall, source_setting, quick=args.quick)
        plot(summary, args.out / f"{stem}.png")
    (args.out / f"{stem}.md").write_text(text)
    (args.out / f"{stem}.json").write_text(json.dumps({"summary": summary, "seeds": seeds}))
    print(text)
    return summary


if __name__ == "__main__":
    main()
