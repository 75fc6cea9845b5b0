"""The lab's run cache: raw runs as gzip JSON lines, so that a table is scored again from what was run.

A cache is a folder. Each run is one JSON object with at least ``searcher``, ``objective`` and ``seed``
(and whatever the study records: values in completion order, searcher seconds, events...), stored in the
shard ``<group>/<searcher>.jsonl.gz``, where the group is usually the setting ("100x8"). Adding a run
appends a line; a later line for the same objective and seed replaces an earlier one, and `compact`
rewrites a shard with one line per run, sorted. The dense random samples that scores are measured
against sit next to the runs, ``samples/<objective>.jsonl.gz`` (one line: objective, seed, values).

Caches under ``experiments/results/runs/`` are committed (a study's folder should stay under 10 MB);
bigger ones go under ``experiments/results/cache/``, which git ignores. Files are written with a zero
gzip timestamp, so the same runs give the same bytes.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from experiments.lab.objectives import Objective, TrialCrash
from experiments.lab.spaces import sample_config

SAMPLES = "samples"


def slug(name: str) -> str:
    """A file name for a searcher, arm or strategy name ("random + ASHA" -> "random_+_ASHA")."""
    return "".join(c if c.isalnum() or c in "-_.+" else "_" for c in name)


def read_lines(path: Path) -> Iterator[dict]:
    """The JSON objects of a gzip JSON-lines file (every gzip member of it)."""
    with gzip.open(path, "rt") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def write_lines(path: Path, rows: list[dict], append: bool = False) -> None:
    """Write (or append) JSON objects as gzip JSON lines; a new file appears whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(row, separators=(",", ":")) + "\n" for row in rows).encode()
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as f:
        f.write(text)
    if append and path.exists():
        with open(path, "ab") as out:
            out.write(buffer.getvalue())
        return
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(buffer.getvalue())
    tmp.replace(path)


class RunCache:
    """Runs by (group, searcher, objective, seed) in gzip JSON-lines shards under `root`."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self._shards: dict[tuple[str, str], dict[tuple[str, int], dict]] = {}
        self._appended: set[tuple[str, str]] = set()  # shards with lines added since they were last compacted

    def shard(self, group: str, searcher: str) -> Path:
        """The file of one group and searcher."""
        return self.root / group / f"{slug(searcher)}.jsonl.gz"

    def _read(self, group: str, searcher: str) -> dict[tuple[str, int], dict]:
        key = (group, searcher)
        if key not in self._shards:
            path = self.shard(group, searcher)
            runs = {(r["objective"], int(r["seed"])): r for r in read_lines(path)} if path.exists() else {}
            self._shards[key] = runs
        return self._shards[key]

    def runs(self, group: str, searcher: str, objective: str) -> dict[int, dict]:
        """Cached runs by seed of one searcher on one objective."""
        return {seed: run for (name, seed), run in self._read(group, searcher).items() if name == objective}

    def every_run(self, group: str, searcher: str) -> dict[tuple[str, int], dict]:
        """Every cached run of one searcher in `group`, by (objective, seed)."""
        return dict(self._read(group, searcher))

    def has(self, group: str, searcher: str, objective: str, seed: int) -> bool:
        """Whether a run is cached."""
        return (objective, seed) in self._read(group, searcher)

    def add(self, group: str, run: dict) -> None:
        """Append one run (a dict with searcher, objective and seed) to its shard."""
        write_lines(self.shard(group, run["searcher"]), [run], append=True)
        self._read(group, run["searcher"])[(run["objective"], int(run["seed"]))] = run
        self._appended.add((group, run["searcher"]))

    def compact(self) -> None:
        """Rewrite every shard this cache added runs to with one line per run, sorted by objective and seed."""
        for group, searcher in sorted(self._appended):
            runs = self._read(group, searcher)
            write_lines(self.shard(group, searcher), [runs[key] for key in sorted(runs)])
        self._appended.clear()

    def groups(self) -> list[str]:
        """The groups with runs (settings, mostly)."""
        if not self.root.exists():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and p.name != SAMPLES)

    def searchers(self, group: str) -> list[str]:
        """The searchers with a shard in `group` (their names as the runs give them)."""
        folder = self.root / group
        names = []
        for path in sorted(folder.glob("*.jsonl.gz")) if folder.exists() else []:
            first = next(read_lines(path), None)
            if first is not None:
                names.append(first["searcher"])
        return names

    def sample(self, objective: Objective, size: int, seed: int = 0) -> np.ndarray:
        """The values of `size` seeded uniform random configs of `objective`, computed once and cached.

        The cache is keyed by name, size and seed only: delete the file when an objective changes. A crash
        (`sampled_value`) is stored as null and returned as NaN."""
        path = self.root / SAMPLES / f"{slug(objective.name)}.jsonl.gz"
        if path.exists():
            row = next(read_lines(path))
            if (row["size"], row["seed"]) == (size, seed):
                return np.asarray(row["values"], dtype=float)
        rng = np.random.default_rng(seed)
        values = [sampled_value(objective, sample_config(objective.space, rng)) for _ in range(size)]
        write_lines(path, [{"objective": objective.name, "size": size, "seed": seed, "values": values}])
        return np.asarray(values, dtype=float)


def sampled_value(objective: Objective, config: dict) -> float | None:
    """A config's value for a random sample: None where the trial crashes (it raises `TrialCrash`, or its
    value is NaN), which the sample's array holds as NaN."""
    try:
        value = float(objective.fn(config))
    except TrialCrash:
        return None
    return None if value != value else value
