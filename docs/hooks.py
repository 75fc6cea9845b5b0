"""MkDocs hooks: the parts of the site generated at build time (``hooks:`` in mkdocs.yml).

* The settings table: ``<!-- settings-table -->`` in a page becomes ``ray_pgsearch.settings_table()``,
  the table built from each setting's declaration.
* Includes: ``<!-- include: PATH -->`` becomes the file at PATH (relative to the repository root),
  its headings one level down.
* The benchmark pages: one page per result table under ``experiments/results/`` (``*.md`` and
  ``*/*.md``), with the figure of the same name when there is one, an overview page, and their
  entries in the nav's "Benchmarks" section.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "experiments" / "results"
BENCHMARKS = "benchmarks"  # where the benchmark pages live in the site
SECTION = "Benchmarks"  # the nav section the hook fills in
SETTINGS_MARKER = "<!-- settings-table -->"
INCLUDE = re.compile(r"^<!-- include: (\S+) -->$", re.MULTILINE)
IGNORED = {"cache", "quick", "runs"}  # result folders that hold no committed tables (see .gitignore)
ASSETS = {"assets/tensorboard.png": RESULTS / "tensorboard.png"}  # figures the guide shows

INDEX = """# Benchmarks

These pages are generated from the result tables committed under `experiments/results/`, one page per
table, each with its figure where it has one. The first lines of every table name the command that
made it and the versions it ran with.

Every benchmark is split into two halves, by problem and before any result was seen: a
**development** half, where settings are chosen, and a **held-out** half, which is only looked at to
check a change. A change that wins on the development half and loses on the held-out half is not an
improvement.

| page | source | title |
|---|---|---|
{rows}

The rest of this page is `experiments/README.md`, the benchmark lab's own description.

{readme}
"""


def result_tables(results: Path = RESULTS) -> list[Path]:
    """The committed result tables, relative to ``results``: ``*.md`` and ``*/*.md``, sorted."""
    found = [*results.glob("*.md"), *results.glob("*/*.md")]
    return sorted(p.relative_to(results) for p in found if p.parent.name not in IGNORED)


def title(markdown: str, fallback: str) -> str:
    """The text of the first level-1 heading."""
    match = re.search(r"^# (.+)$", markdown, re.MULTILINE)
    return match.group(1).strip() if match else fallback


def demote(markdown: str) -> str:
    """Every ATX heading one level down, code fences left alone."""
    lines, fenced = [], False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        lines.append("#" + line if not fenced and re.match(r"#{1,5} ", line) else line)
    return "\n".join(lines) + "\n"


def settings_table() -> str:
    """``ray_pgsearch.settings_table()`` with every ``|`` inside a cell escaped. Each row has five
    cells, and only the fourth (the meaning) is prose that may hold a ``|``."""
    if str(ROOT) not in sys.path:  # the checkout's package, not another installed copy
        sys.path.insert(0, str(ROOT))
    import ray_pgsearch

    rows = []
    for line in ray_pgsearch.settings_table().strip().splitlines():
        cells = line.strip().strip("|").split("|")
        if len(cells) > 5:
            cells = cells[:3] + ["\\|".join(cells[3:-1])] + cells[-1:]
        rows.append("|" + "|".join(cells) + "|")
    return "\n".join(rows) + "\n"


def benchmark_page(relative: Path, results: Path = RESULTS) -> str:
    """A result table as a page: where it comes from, the table, and its figure if there is one."""
    text = (results / relative).read_text(encoding="utf-8")
    source = f"experiments/results/{relative.as_posix()}"
    note = f"*Generated from `{source}` when the site is built.*\n\n"
    heading = re.search(r"^# .+\n", text, re.MULTILINE)
    text = text[: heading.end()] + "\n" + note + text[heading.end() :] if heading else note + text
    if (results / relative.with_suffix(".png")).is_file():
        text += f"\n## Figure\n\n![{relative.stem}]({relative.stem}.png)\n"
    return text


def benchmark_index(tables: list[Path], results: Path = RESULTS) -> str:
    rows = []
    for relative in tables:
        name = relative.with_suffix("").as_posix()
        heading = title((results / relative).read_text(encoding="utf-8"), name)
        rows.append(f"| [{name}]({relative.as_posix()}) | `experiments/results/{relative.as_posix()}` | {heading} |")
    readme = demote((ROOT / "experiments" / "README.md").read_text(encoding="utf-8"))
    return INDEX.format(rows="\n".join(rows), readme=readme)


def on_config(config: Any) -> Any:
    """Fills the nav's benchmark section with one entry per result table."""
    entries = [{"Overview": f"{BENCHMARKS}/index.md"}]
    entries += [{p.with_suffix("").as_posix(): f"{BENCHMARKS}/{p.as_posix()}"} for p in result_tables()]
    for item in config["nav"] or []:
        if isinstance(item, dict) and SECTION in item:
            item[SECTION] = entries
    return config


def on_files(files: Files, config: Any) -> Files:
    """Adds the benchmark pages and their figures, and the figures the guide shows."""
    tables = result_tables()
    files.append(File.generated(config, f"{BENCHMARKS}/index.md", content=benchmark_index(tables)))
    for relative in tables:
        files.append(File.generated(config, f"{BENCHMARKS}/{relative.as_posix()}", content=benchmark_page(relative)))
        figure = RESULTS / relative.with_suffix(".png")
        if figure.is_file():
            uri = f"{BENCHMARKS}/{relative.with_suffix('.png').as_posix()}"
            files.append(File.generated(config, uri, abs_src_path=str(figure)))
    for uri, path in ASSETS.items():
        files.append(File.generated(config, uri, abs_src_path=str(path)))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    """Puts the settings table and the included files into the pages that ask for them."""
    if SETTINGS_MARKER in markdown:
        markdown = markdown.replace(SETTINGS_MARKER, settings_table())
    return INCLUDE.sub(lambda m: demote((ROOT / m.group(1)).read_text(encoding="utf-8")), markdown)
