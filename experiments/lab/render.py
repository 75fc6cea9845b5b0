"""The lab's renderer: a results file's header (title, the exact command, date, versions, the code measured),
markdown tables, numbers with their spread, and the figures (best-so-far and score curves)."""

from __future__ import annotations

import datetime
import platform
import shlex
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def installed_version(package: str) -> str:
    """The installed version of a distribution, or "not installed"."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def header(module: str, title: str, argv: list[str] | None, packages: Iterable[str] = ()) -> list[str]:
    """Title, the exact command (``python -m experiments.<module> ...``), the date and the package versions,
    as markdown lines."""
    args = sys.argv[1:] if argv is None else argv
    versions = ", ".join(f"{p} {installed_version(p)}" for p in dict.fromkeys(["ray", "numpy", *packages]))
    command = " ".join(["python -m", f"experiments.{module}", shlex.join(args)]).strip()
    date = datetime.datetime.now().isoformat(timespec="seconds")
    return [
        f"# {title}",
        "",
        f"Command: `{command}`",
        "",
        f"Date: {date}; Python {platform.python_version()}; {versions}.",
        "",
    ]


def code_version(code_dir: Path | str = ROOT / "ray_pgsearch") -> str:
    """The last commit that touched `code_dir` (by default this checkout's ``ray_pgsearch/``), with
    " with uncommitted changes" when it differs from it; "unknown" outside a git checkout. Results are
    comparable only on the same algorithm."""

    def git(*args: str) -> str:
        try:
            done = subprocess.run(["git", *args], cwd=code_dir, capture_output=True, text=True)
        except OSError:
            return ""
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("log", "-1", "--format=%h", "--", ".")
    if not commit:
        return "unknown"
    return commit + (" with uncommitted changes" if git("status", "--porcelain", ".") else "")


def table(head: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """A markdown table, as lines (a blank line after it)."""
    return (
        ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        + ["| " + " | ".join(row) + " |" for row in rows]
        + [""]
    )


def mean_sd(values: Iterable[float], fmt: str = ".4g") -> str:
    """'mean ± sd' over seeds (sd with ddof=1; just the value for one seed)."""
    values = np.asarray(list(values), dtype=float)
    if values.size == 1:
        return f"{values[0]:{fmt}}"
    return f"{values.mean():{fmt}} ± {values.std(ddof=1):{fmt}}"


def pm(mean: float, stderr: float, digits: int = 1, signed: bool = False) -> str:
    """'mean ± s.e.' ('+' on a signed difference; just the mean when the s.e. is not finite)."""
    text = f"{mean:+.{digits}f}" if signed else f"{mean:.{digits}f}"
    return f"{text} ± {stderr:.{digits}f}" if np.isfinite(stderr) else text


def describe_space(space: Mapping[str, Any]) -> str:
    """`name`: type sampler range, for every domain of a flat space (constants left out)."""
    from ray.tune.search.sample import Domain

    def sampler(domain: Domain) -> str:
        return type(domain.get_sampler()).__name__.strip("_").lower()

    return ", ".join(
        f"`{k}`: {type(v).__name__.lower()} {sampler(v)} {v.domain_str}"
        for k, v in space.items()
        if isinstance(v, Domain)
    )


def pyplot() -> Any:
    """matplotlib's pyplot on the file-only Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def panels(count: int, columns: int, width: float, height: float) -> tuple[Any, np.ndarray]:
    """A figure of `count` panels in rows of `columns` (the unused ones hidden) and its axes, flat."""
    plt = pyplot()
    columns = max(min(count, columns), 1)
    rows = max(-(-count // columns), 1)
    fig, axes = plt.subplots(rows, columns, figsize=(width * columns, height * rows), squeeze=False)
    for ax in axes.flat[count:]:
        ax.set_visible(False)
    return fig, axes.flat[:count]


def save(fig: Any, path: Path, dpi: int = 110, title: str | None = None) -> None:
    """Lay out, save and close a figure."""
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    pyplot().close(fig)


def plot_curves(ax: Any, curves: Mapping[str, np.ndarray], ylabel: str, xlabel: str = "trials") -> None:
    """Mean best-so-far curve per searcher (rows of each array are seeds), shaded min..max."""
    for i, (name, curve) in enumerate(curves.items()):
        curve = np.atleast_2d(curve)
        x = np.arange(1, curve.shape[1] + 1)
        ax.plot(x, curve.mean(axis=0), color=f"C{i}", label=f"{name} ({curve.shape[0]} seeds)")
        ax.fill_between(x, curve.min(axis=0), curve.max(axis=0), color=f"C{i}", alpha=0.15)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def score_axes(ax: Any, title: str, xlabel: str, ylabel: str, low: float = -60) -> None:
    """The look of a score-against-evaluations panel: random search's level at 0, scores from `low` to 100."""
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_ylim(low, 100)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="lower right")
