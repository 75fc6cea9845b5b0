"""Scale study: PGSearcher inside Ray Tune on a real multi-node Ray cluster on this one
machine, against Tune's default random search on the same setup. Writes experiments/results/scale.md
and scale.json (``--name`` other names).

    python -m experiments.scale                  # 4 nodes x 32 logical CPUs, 128 trials in flight, 1,024 trials
    python -m experiments.scale --repeats 2      # each arm twice, alternating
    python -m experiments.scale --mean-s 4 --checkpoint-trials 0 --name scale-short   # short trials: the driver's limit
    python -m experiments.scale --quick          # a smoke-sized run (2 nodes x 8 CPUs, 48 trials)

What it does:

* starts a Ray cluster of ``--nodes`` nodes (``experiments.lab.cluster.RayCluster``: ``ray start --block``
  for a head and workers, each with ``--cpus-per-node`` logical CPUs, its own short temp dir, random ports,
  ``RAY_AUTH_MODE=disabled`` set explicitly, the open-files limit raised) and stops every process it
  started by PID at the end (never ``ray stop``: other Ray clusters may share the host);
* runs each arm (PGSearcher, Tune's default ``BasicVariantGenerator``) in a fresh driver process
  (``experiments.scale_driver.run_arm`` → ``python -m experiments.scale --drive SPEC``) against a fresh
  cluster: ``--trials``
  trials, ``max_concurrent_trials`` = nodes x CPUs per node, ``reuse_actors=True``, 1 CPU per trial.
  Each trial (``sleeper``) sleeps and reports ``--reports`` times; its duration is drawn uniformly
  from [0.5, 1.5] x ``--mean-s``, seeded by the trial's index, so both arms run the same work and
  trials end out of order. The first wave waits at a start barrier (``wait_for_first_wave``) until
  all trials of the wave have started;
* measures the wall time of ``Tuner.fit``, the driver's CPU time and peak RSS, the time the driver
  spent inside PGSearcher's callbacks (``experiments.lab.timing.TimedSearcher``), the nodes trials ran on,
  the most trials running at once (Tune's count and the trials' own clocks), and configs that were
  in flight twice at the same time;
* measures in-process (no cluster) the cost of ``suggest`` and of a finished trial's callbacks against
  the number of pending trials, with and without the TensorBoard writer PGSearcher attaches inside
  Tune (``callback_costs``), and the searcher checkpoint's size and ``save()`` time after 1,000 /
  3,000 / 10,000 finished trials with 256 pending (``checkpoint_cost``).

Every arm's measurements and the in-process tables are kept in the run cache (default
``<out>/runs/scale/``, committed): the command measures only what the cache lacks for its setup (or
everything with ``--rerun``), then writes the report. ``RayCluster`` (``experiments.lab.cluster``), ``Setup``
and ``run_arm`` (``experiments.scale_driver``) are reused by tests/integration/test_scale.py;
tests/integration/test_slurm.py runs ``--drive SPEC`` (a spec without an address uses ``RAY_ADDRESS``) as the
driver of a Slurm job. The driver's ``ray_pgsearch`` is the first one on ``PYTHONPATH``, else the project's.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import pickle
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from experiments.lab import cli, render
from experiments.lab.cache import RunCache
from experiments.lab.cluster import RayCluster, meminfo_gib
from experiments.long_run import SPACE, loss
from experiments.scale_driver import Setup, drive, mean, run_arm
from ray_pgsearch import PGSearcher

# ---- the searcher alone (in-process, no cluster) -----------------------------------------------------


def _feeder(pending: int, events_dir: str | None, seed: int = 0) -> tuple[PGSearcher, random.Random]:
    """A PGSearcher over SPACE as Tune sets it up (param_space, metric, mode, max_concurrent_trials).
    With ``events_dir`` its first ``save`` attaches the TensorBoard writer there, as inside Tune;
    without, it writes no events (``log_dir=False``)."""
    searcher = PGSearcher(seed=seed, log_dir=None if events_dir is not None else False)
    searcher.set_search_properties("loss", "min", SPACE)
    searcher.set_max_concurrency(pending)
    if events_dir is not None:
        _ = searcher.optimizer  # built now, so the save attaches the writer
        searcher.save(os.path.join(events_dir, "searcher-state.pkl"))
    return searcher, random.Random(seed)


def _cycle(searcher: PGSearcher, trial_id: str, config: Mapping[str, Any], reports: int) -> None:
    """What Tune calls for one finished trial: on_trial_result per report, then on_trial_complete."""
    value = loss(config)
    for step in range(1, reports + 1):
        searcher.on_trial_result(trial_id, {"loss": value + 1.0 / step, "training_iteration": step})
    searcher.on_trial_complete(trial_id, {"loss": value + 1.0 / reports, "training_iteration": reports})


def checkpoint_cost(
    trials: int = 10000, pending: int = 256, at: Sequence[int] = (1000, 3000, 10000), reports: int = 3, seed: int = 0
) -> list[dict[str, Any]]:
    """Feeds a PGSearcher ``trials`` suggest / on_trial_result x ``reports`` / on_trial_complete cycles
    with ``pending`` trials always live, completing them in a seeded random order; after each count in
    ``at`` finished trials it times ``save`` (the best of 3) and ``restore`` and records the file size
    and the pickled size of the state's largest parts. No TensorBoard writer (``log_dir`` outside the
    run), so the per-call costs of ``callback_costs`` stay separate."""
    searcher, rng = _feeder(pending, None, seed)
    rows: list[dict[str, Any]] = []
    live: list[tuple[str, dict]] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "searcher-state.pkl")
        for done in range(1, trials + 1):
            while len(live) < pending:
                trial_id = f"t{done:05d}-{len(live)}"
                config = searcher.suggest(trial_id)
                assert config is not None
                live.append((trial_id, config))
            _cycle(searcher, *live.pop(rng.randrange(len(live))), reports)
            if done not in at:
                continue
            saves = []
            for _ in range(3):
                t0 = time.perf_counter()
                searcher.save(path)
                saves.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            PGSearcher().restore(path)
            restore_s = time.perf_counter() - t0
            with open(path, "rb") as f:
                state = pickle.load(f)["state"]
            parts = {k: len(pickle.dumps(v)) for k, v in state.items()}
            rows.append(
                {
                    "finished": done,
                    "pending": searcher.view().n_running,
                    "bytes": os.path.getsize(path),
                    "save_ms": 1e3 * min(saves),
                    "restore_ms": 1e3 * restore_s,
                    "largest_parts": dict(sorted(parts.items(), key=lambda kv: -kv[1])[:4]),
                }
            )
            print(
                f"  {done:>6} finished, {rows[-1]['pending']} pending: checkpoint {rows[-1]['bytes'] / 1024:.0f} KiB, "
                f"save {rows[-1]['save_ms']:.1f} ms, restore {rows[-1]['restore_ms']:.1f} ms",
                flush=True,
            )
    return rows


def callback_costs(
    pendings: Sequence[int] = (8, 128, 256), trials: int = 600, reports: int = 3, seed: int = 0
) -> list[dict[str, Any]]:
    """Wall and CPU milliseconds of ``suggest`` and of one finished trial's on_trial_result x
    ``reports`` + on_trial_complete, with ``pending`` trials live, over the last half of ``trials``
    (the window of finished trials is full by then): the median (robust to the other jobs of a
    shared machine) and the mean of each. The largest depth is also measured with the TensorBoard
    writer that PGSearcher attaches inside Tune (its first ``save`` does that)."""
    rows = []
    cases = [(p, False) for p in pendings] + [(max(pendings), True)]
    for pending, writer in cases:
        live: list[tuple[str, dict]] = []
        calls: dict[str, list[tuple[float, float]]] = {"suggest": [], "complete": []}
        with tempfile.TemporaryDirectory() as tmp:
            searcher, rng = _feeder(pending, tmp if writer else None, seed)
            for done in range(trials):
                measured = done >= trials // 2
                while len(live) < pending:
                    wall, cpu = time.perf_counter(), time.thread_time()
                    trial_id = f"t{done:05d}-{len(live)}"
                    live.append((trial_id, searcher.suggest(trial_id) or {}))
                    if measured:
                        calls["suggest"].append((time.perf_counter() - wall, time.thread_time() - cpu))
                wall, cpu = time.perf_counter(), time.thread_time()
                _cycle(searcher, *live.pop(rng.randrange(len(live))), reports)
                if measured:
                    calls["complete"].append((time.perf_counter() - wall, time.thread_time() - cpu))
            searcher.close()
        row: dict[str, Any] = {"pending": pending, "writer": writer, "trials": trials}
        for name, pairs in calls.items():
            walls, cpus = [1e3 * w for w, _ in pairs], [1e3 * c for _, c in pairs]
            row[f"{name}_ms"], row[f"{name}_mean_ms"] = statistics.median(walls), statistics.fmean(walls)
            row[f"{name}_cpu_ms"], row[f"{name}_cpu_mean_ms"] = statistics.median(cpus), statistics.fmean(cpus)
        rows.append(row)
        print(
            f"  {pending:>3} pending{' + writer' if writer else ''} (medians): suggest {row['suggest_ms']:.2f} ms "
            f"(CPU {row['suggest_cpu_ms']:.2f}), results + complete {row['complete_ms']:.2f} ms "
            f"(CPU {row['complete_cpu_ms']:.2f})",
            flush=True,
        )
    return rows


# ---- the study --------------------------------------------------------------------------------------


def searcher_share(arm: Mapping[str, Any]) -> dict[str, float]:
    """PGSearcher's time in the driver: total wall and CPU seconds in its callbacks, as fractions of
    the fit's wall time and of the driver's CPU time."""
    times = arm["searcher"]["times"]
    wall = sum(t["wall_s"] for t in times.values())
    cpu = sum(t["cpu_s"] for t in times.values())
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "of_wall": wall / arm["wall_s"],
        "of_driver_cpu": cpu / arm["driver_cpu_s"] if arm["driver_cpu_s"] else math.nan,
    }


def describe_code(code_dir: str) -> str:
    """Where the measured ray_pgsearch came from: the commit of the git checkout it lies in (and whether the
    package had uncommitted changes), else its directory (e.g. an archive of a commit named after it)."""
    version = render.code_version(code_dir)
    return (
        f"`{os.path.dirname(code_dir)}` (not a git checkout)"
        if version == "unknown"
        else f"`ray_pgsearch` of commit {version}"
    )


def run_study(
    setup: Setup, arms: Sequence[str], workdir: Path, cache: RunCache, rerun: bool = False
) -> list[dict[str, Any]]:
    """Each arm in turn on a fresh cluster of ``setup.nodes`` nodes; returns their measurements. The i-th run
    of this setup is taken from the run cache when it holds it (unless `rerun`); a run that fails is recorded
    with its error (``failed``), left out of the cache, and the study goes on."""
    workdir.mkdir(parents=True, exist_ok=True)
    out = []
    for i, arm in enumerate(arms):
        if not rerun and cache.has(setup.key, arm, "sleeper", i):
            print(f"[{arm}] run {i + 1}: measured earlier (the run cache)", flush=True)
            out.append(cache.runs(setup.key, arm, "sleeper")[i]["result"])
            continue
        load_before, available = os.getloadavg(), meminfo_gib("MemAvailable")
        print(f"[{arm}] load average {load_before[0]:.1f}; {available:.1f} GiB available", flush=True)
        started = time.time()
        try:
            with RayCluster(setup.nodes, setup.cpus_per_node, log_path=workdir / f"nodes-{i}.log") as cluster:
                up_s = time.time() - started
                result = run_arm(cluster, setup, arm, workdir / f"{i}-{arm}")
        except RuntimeError as e:
            print(f"[{arm}] run {i + 1} failed: {str(e)[-2000:]}", flush=True)
            out.append({"arm": arm, "failed": str(e)[-4000:], "load_before": load_before, "available_gib": available})
            continue
        result.update(cluster_up_s=up_s, load_before=load_before, load_after=os.getloadavg(), available_gib=available)
        if "searcher" in result:  # the code measured, as it is now (the report may be written after a commit)
            result["searcher"]["described"] = describe_code(result["searcher"]["code"])
        cache.add(setup.key, {"searcher": arm, "objective": "sleeper", "seed": i, "result": result})
        print(
            f"[{arm}] fit {result['wall_s']:.1f} s (all {setup.in_flight} running after {result['ramp_s']:.0f} s), "
            f"driver CPU {result['driver_cpu_s']:.1f} s, peak RSS {result['peak_rss_mb']:.0f} MB, "
            f"{result['num_trials']} trials ({result['num_errors']} errors) on {result['nodes']} nodes, max running "
            f"{result['max_running_tune']} (Tune) / {result['max_running_inside']} (inside), duplicates in flight "
            f"{result['dup_in_flight']}",
            flush=True,
        )
        out.append(result)
    cache.compact()
    return out


def in_process(cache: RunCache, name: str, size: int, measure: Any, rerun: bool) -> list[dict[str, Any]]:
    """The rows of an in-process table (`callback_costs` or `checkpoint_cost` at `size` trials): from the run
    cache, or measured now and cached."""
    group, objective = "in_process", f"t{size}"
    if rerun or not cache.has(group, name, objective, 0):
        cache.add(group, {"searcher": name, "objective": objective, "seed": 0, "rows": measure()})
        cache.compact()
    return cache.runs(group, name, objective)[0]["rows"]


def write_report(
    argv: list[str] | None,
    setup: Setup,
    arms: list[dict[str, Any]],
    ckpt: list[dict[str, Any]],
    costs: list[dict[str, Any]],
    out: Path,
    name: str = "scale",
) -> None:
    """<name>.md (tables and what they show) and <name>.json (everything measured) in ``out``."""
    lines = render.header("scale", "Scale: PGSearcher in Ray Tune on a 4-node Ray cluster on one machine", argv, [])
    codes = sorted(
        {a["searcher"].get("described") or describe_code(a["searcher"]["code"]) for a in arms if "searcher" in a}
    )
    if codes:
        lines += [f"ray_pgsearch measured: {', '.join(codes)}.", ""]
    barrier = (
        f"The first {setup.in_flight} trials wait for each other at a start barrier (files in a directory), so "
        f"none ends before all {setup.in_flight} trial actors are up and the rest of the run goes at full width; "
        "without it, a trial that ends while actors are still starting hands its actor to a pending trial and "
        "Tune cancels that trial's starting actor, so fewer actors ever run."
        if setup.barrier
        else "No start barrier: trials start as their actors come up."
    )
    lines += [
        f"Setup: a Ray cluster of {setup.nodes} nodes started with `ray start` on this one machine "
        f"({os.cpu_count()} cores, {meminfo_gib('MemTotal'):.0f} GiB), {setup.cpus_per_node} logical CPUs each "
        f"(`--num-cpus`); {setup.trials} trials of 1 CPU, `max_concurrent_trials={setup.in_flight}`, "
        f"`reuse_actors=True`; each trial sleeps U(0.5, 1.5) x {setup.mean_s:g} s (drawn from its index: both "
        f"arms run the same work) in {setup.reports} steps and reports after each. {barrier} Each arm runs in a "
        "fresh driver process against a fresh cluster; the arms alternate. Other jobs shared the machine "
        f"(load averages in {name}.json).",
        "",
    ]
    rows = []
    for i, a in enumerate(arms):
        load = f"{a['load_before'][0]:.0f}" if "load_before" in a else "—"
        if "failed" in a:
            errors = [line for line in a["failed"].splitlines() if "Error" in line] or a["failed"].splitlines()
            reason = errors[-1].strip()[:160]
            rows.append([str(i + 1), a["arm"], f"failed: {reason}"] + ["—"] * 9 + [load])
            continue
        rows.append(
            [
                str(i + 1),
                a["arm"],
                f"{a['wall_s']:.1f}",
                f"{a['ramp_s']:.0f}",
                f"{a['wall_s'] - a['ramp_s']:.0f}",
                f"{a['driver_cpu_s']:.1f}",
                f"{a['peak_rss_mb']:.0f}",
                f"{a['num_trials']} ({a['num_errors']})",
                str(a["nodes"]),
                f"{a['max_running_tune']} / {a['max_running_inside']}",
                str(a["dup_in_flight"]),
                f"{a['best_loss']:.3f}",
                load,
            ]
        )
    lines += render.table(
        [
            "run",
            "arm",
            "fit wall s",
            f"s until {setup.in_flight} running",
            "s after",
            "driver CPU s",
            "peak driver RSS MB",
            "trials (errors)",
            "nodes",
            "max running (Tune / in trials)",
            "dup configs in flight",
            "best loss",
            "load avg before",
        ],
        rows,
    )
    done = [a for a in arms if "failed" not in a]
    pg = [a for a in done if a["arm"] == "pgsearch"]
    rnd = [a for a in done if a["arm"] == "random"]
    if pg and rnd:
        pg_wall, rnd_wall = mean([a["wall_s"] for a in pg]), mean([a["wall_s"] for a in rnd])
        pg_after = mean([a["wall_s"] - a["ramp_s"] for a in pg])
        rnd_after = mean([a["wall_s"] - a["ramp_s"] for a in rnd])
        pg_cpu, rnd_cpu = mean([a["driver_cpu_s"] for a in pg]), mean([a["driver_cpu_s"] for a in rnd])
        lines += [
            f"Mean fit wall time: PGSearcher {pg_wall:.1f} s, random {rnd_wall:.1f} s: PGSearcher takes "
            f"{100 * (pg_wall / rnd_wall - 1):+.1f} % (target: at most +5 %). After all {setup.in_flight} trials "
            f"were running (the part the searcher can slow down; the start-up before it is Ray starting "
            f"{setup.in_flight} trial workers on {os.cpu_count()} cores): PGSearcher {pg_after:.1f} s, random "
            f"{rnd_after:.1f} s ({100 * (pg_after / rnd_after - 1):+.1f} %). Driver CPU: PGSearcher {pg_cpu:.1f} s, "
            f"random {rnd_cpu:.1f} s ({pg_cpu - rnd_cpu:+.1f} s, {1e3 * (pg_cpu - rnd_cpu) / setup.trials:.0f} ms "
            "per trial).",
            "",
        ]
    if pg:
        lines += [
            "## PGSearcher's share of the driver",
            "",
            "Time inside PGSearcher's callbacks (the lab's timing wrapper, `TimedSearcher`): wall time as a share of "
            "the fit's wall time, CPU time (thread time) as a share of the driver process's CPU time. Inside "
            "Tune, PGSearcher's first `save` attaches its TensorBoard writer (`<experiment>/pgsearch`), which "
            "writes the policy after an update at most once a second (`log_every_s`), inside `on_trial_complete`; "
            "the writer's own background thread "
            "(tensorboardX) is not in the searcher's thread time, only in the driver's CPU time.",
            "",
        ]
        share_rows = []
        for i, a in enumerate(arms):
            if a["arm"] != "pgsearch" or "failed" in a:
                continue
            share, s = searcher_share(a), a["searcher"]
            calls = ", ".join(
                f"{k} {t['calls']} x {1e3 * t['wall_s'] / max(1, t['calls']):.2f} ms "
                f"(CPU {1e3 * t['cpu_s'] / max(1, t['calls']):.2f})"
                for k, t in s["times"].items()
            )
            share_rows.append(
                [
                    str(i + 1),
                    f"{share['wall_s']:.1f} s = {100 * share['of_wall']:.1f} %",
                    f"{share['cpu_s']:.1f} s = {100 * share['of_driver_cpu']:.1f} %",
                    calls,
                    f"{s['n_told']} / {s['n_asked']} ({s['n_failed']} failed, {s['pending']} pending)",
                    str(s["live_max"]),
                    str(s["dup_in_flight"]),
                    f"{s.get('checkpoint_bytes', 0) / 1024:.0f} KiB",
                ]
            )
        lines += render.table(
            [
                "run",
                "wall in searcher",
                "CPU in searcher",
                "calls x mean wall (CPU) ms",
                "learned from / suggested",
                "most live (searcher's view)",
                "dup configs live (searcher's view)",
                "final checkpoint",
            ],
            share_rows,
        )
    if costs:
        lines += [
            "## Cost per call against the number of pending trials (in-process)",
            "",
            f"A PGSearcher over the same space, {costs[0]['trials']} trials, {setup.reports} reports each; medians "
            f"over the last half of the trials (window full), wall (CPU) ms per call; the means are in {name}.json.",
            "",
        ]
        lines += render.table(
            ["pending", "TensorBoard writer", "suggest", f"{setup.reports} x on_trial_result + on_trial_complete"],
            [
                [
                    str(c["pending"]),
                    "yes" if c["writer"] else "no",
                    f"{c['suggest_ms']:.2f} ({c['suggest_cpu_ms']:.2f})",
                    f"{c['complete_ms']:.2f} ({c['complete_cpu_ms']:.2f})",
                ]
                for c in costs
            ],
        )
    if ckpt:
        lines += [
            f"## The searcher checkpoint at {ckpt[-1]['finished']:,} finished trials (in-process)",
            "",
            f"A PGSearcher over the same space fed suggest / {setup.reports} x on_trial_result / "
            "on_trial_complete cycles with 256 trials always pending, completed in random order; `save` is "
            "the best of 3.",
            "",
        ]
        lines += render.table(
            ["finished", "pending", "checkpoint KiB", "save ms", "restore ms", "largest parts (pickled KiB)"],
            [
                [
                    f"{r['finished']:,}",
                    str(r["pending"]),
                    f"{r['bytes'] / 1024:.0f}",
                    f"{r['save_ms']:.1f}",
                    f"{r['restore_ms']:.1f}",
                    ", ".join(f"{k} {v / 1024:.0f}" for k, v in r["largest_parts"].items()),
                ]
                for r in ckpt
            ],
        )
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.md").write_text("\n".join(lines) + "\n")
    everything = {"setup": dataclasses.asdict(setup), "arms": arms, "checkpoint": ckpt, "callback_costs": costs}
    (out / f"{name}.json").write_text(json.dumps(everything, indent=1) + "\n")
    print(f"wrote {out / (name + '.md')} and {out / (name + '.json')}")


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("--drive", metavar="SPEC", help=argparse.SUPPRESS)  # one arm's driver (run_arm)
    parser.add_argument("--nodes", type=int, default=Setup.nodes)
    parser.add_argument("--cpus-per-node", type=int, default=Setup.cpus_per_node)
    parser.add_argument("--trials", type=int, default=Setup.trials)
    parser.add_argument("--reports", type=int, default=Setup.reports)
    parser.add_argument("--mean-s", type=float, default=Setup.mean_s, help="mean trial duration, seconds")
    parser.add_argument("--no-barrier", action="store_true", help="no start barrier for the first wave")
    parser.add_argument("--repeats", type=int, default=1, help="runs per arm (alternating, PGSearcher first)")
    parser.add_argument("--arms", default="pgsearch,random")
    parser.add_argument("--checkpoint-trials", type=int, default=10000, help="0: skip the in-process part")
    parser.add_argument("--quick", action="store_true", help="smoke size: 2 nodes x 8 CPUs, 48 trials of ~3 s")
    parser.add_argument("--rerun", action="store_true", help="measure again what the run cache holds")
    parser.add_argument("--name", default="scale", help="the result files' name: <out>/<name>.md and .json")
    parser.add_argument("--workdir", type=Path, help="where runs write (default: a temp dir, removed)")
    cli.add_output(parser)
    args = parser.parse_args(argv)
    if args.drive:
        spec = json.loads(Path(args.drive).read_text())
        Path(spec["summary"]).write_text(json.dumps(drive(spec)))
        return
    cli.resolve_output(args, "scale", args.quick)

    size = dict(nodes=2, cpus_per_node=8, trials=48, mean_s=3.0) if args.quick else {}
    setup = Setup(
        **{
            "nodes": args.nodes,
            "cpus_per_node": args.cpus_per_node,
            "trials": args.trials,
            "mean_s": args.mean_s,
            **size,
            "reports": args.reports,
            "barrier": not args.no_barrier,
        }
    )
    if args.quick:
        args.checkpoint_trials = min(args.checkpoint_trials, 1000)
    arms = [a for _ in range(args.repeats) for a in args.arms.split(",") if a]
    print(f"{meminfo_gib('MemAvailable'):.1f} GiB available; {setup}", flush=True)
    cache = RunCache(args.cache)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="scale-"))
    try:
        results = run_study(setup, arms, workdir, cache, args.rerun)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    ckpt: list[dict[str, Any]] = []
    costs: list[dict[str, Any]] = []
    if args.checkpoint_trials:
        trials = 300 if args.quick else 600
        print("cost per call against pending trials:", flush=True)
        costs = in_process(
            cache, "callback_costs", trials, lambda: callback_costs(reports=setup.reports, trials=trials), args.rerun
        )
        print(f"checkpoint cost, {args.checkpoint_trials} trials with 256 pending:", flush=True)
        at = [n for n in (1000, 3000) if n < args.checkpoint_trials] + [args.checkpoint_trials]
        measure = lambda: checkpoint_cost(args.checkpoint_trials, 256, at, setup.reports)  # noqa: E731
        ckpt = in_process(cache, "checkpoint_cost", args.checkpoint_trials, measure, args.rerun)
    write_report(argv, setup, results, ckpt, costs, args.out, args.name)


if __name__ == "__main__":
    main()
