"""The documentation's Python blocks (``docs/**/*.md``), run as printed, and the generated parts of the site.

Each ```` ```python ```` block runs on its own, in a fresh namespace, in the order of its page. An HTML
comment on the line before a block changes that:

* ``<!-- no-run -->``: the block is not run (a fragment); it must still compile;
* ``<!-- continue -->``: the block runs in the namespace of the page's previous block (a chain);
* ``<!-- run-twice -->``: the chain runs twice in the same folder (a resume recipe: the second run
  takes the restore branch).

A chain that runs ``tune.Tuner`` starts Ray and belongs to ``tests/tune/test_docs_tune.py``; the others
run here. Both run with ``HOME``, the working directory and Tune's default storage path
(``~/ray_results``) in a temporary folder.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import ray_pgsearch
from ray_pgsearch._settings import OLD_NAMES

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
MARKER = re.compile(r"<!-- (no-run|continue|run-twice) -->\s*$")
TUNE = re.compile(r"\bTuner\b")


@dataclass
class Chain:
    """Blocks of one page that run in one namespace, named by the page and the first block's line."""

    page: str
    line: int
    blocks: list[str] = field(default_factory=list)
    twice: bool = False

    @property
    def name(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def code(self) -> str:
        return "\n".join(self.blocks)

    @property
    def uses_tune(self) -> bool:
        return bool(TUNE.search(self.code))


def python_blocks(text: str) -> list[tuple[int, str, str | None]]:
    """(line, code, marker) of each Python block of a page; the marker is the comment just above it."""
    found = []
    for match in FENCE.finditer(text):
        if match.group(1) != "python":
            continue
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = MARKER.match(before.strip())
        found.append((text.count("\n", 0, match.start()) + 1, match.group(2), marker.group(1) if marker else None))
    return found


def pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def chains(docs: Path = DOCS) -> list[Chain]:
    """Every runnable chain of the documentation, in page order."""
    result: list[Chain] = []
    for path in sorted(docs.rglob("*.md")):
        page = path.relative_to(docs).as_posix()
        current: Chain | None = None
        for line, code, marker in python_blocks(path.read_text(encoding="utf-8")):
            if marker == "no-run":
                continue
            if marker == "continue" and current is not None:
                current.blocks.append(code)
                continue
            current = Chain(page, line, [code], twice=marker == "run-twice")
            result.append(current)
    return result


def run_chain(chain: Chain, folder: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """Runs a chain (twice if it says so) with HOME and the working directory in ``folder``; returns
    its namespace after the last run."""
    monkeypatch.setenv("HOME", str(folder))
    monkeypatch.chdir(folder)
    if chain.uses_tune:  # Tune's default storage path, ~/ray_results, is expanded once, when Ray is imported
        monkeypatch.setattr("ray.train.constants.DEFAULT_STORAGE_PATH", str(folder / "ray_results"))
    namespace: dict = {}
    for _ in range(2 if chain.twice else 1):
        namespace = {"__name__": "__docs__"}
        exec(compile(chain.code, chain.name, "exec"), namespace)
    return namespace


FAST = [c for c in chains() if not c.uses_tune]


@pytest.mark.parametrize("chain", FAST, ids=[c.name for c in FAST])
def test_a_documented_block_runs_as_printed(chain, tmp_path, monkeypatch):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # pages that show the 0.2 names catch their own
        run_chain(chain, tmp_path, monkeypatch)


def test_every_python_block_compiles_and_runs_in_one_of_the_two_lanes():
    every = [(p, line, code) for p in pages() for line, code, _ in python_blocks(p.read_text(encoding="utf-8"))]
    for path, line, code in every:
        compile(code, f"{path}:{line}", "exec")  # a no-run fragment too
    runnable = chains()
    assert FAST and any(c.uses_tune for c in runnable)
    assert len(runnable) <= len(every)


def test_the_markers_are_the_ones_the_harness_knows():
    for path in pages():
        for comment in re.findall(r"<!-- ([a-z-]+) -->", path.read_text(encoding="utf-8")):
            assert comment in {"no-run", "continue", "run-twice", "settings-table"}, (path, comment)


def test_the_changelog_lists_every_renamed_setting():
    changelog = (DOCS / "changelog.md").read_text(encoding="utf-8")
    for old, (group, name) in OLD_NAMES.items():
        assert f"`{old}` | `{group}.{name}`" in changelog, old


def test_the_settings_page_asks_for_the_generated_table():
    assert "<!-- settings-table -->" in (DOCS / "guide" / "settings.md").read_text(encoding="utf-8")


def test_the_api_reference_covers_the_public_names():
    reference = "\n".join(p.read_text(encoding="utf-8") for p in (DOCS / "reference").glob("*.md"))
    for name in ray_pgsearch.__all__:
        if name != "__version__":
            assert re.search(rf"^::: ray_pgsearch\.(_\w+\.)?{name}$", reference, re.MULTILINE), name
    for module in ("pbt", "tensorboard", "report", "pareto"):
        assert f"::: ray_pgsearch.{module}\n" in reference


def test_the_hooks_generate_the_settings_table_and_a_page_per_result_table(tmp_path):
    pytest.importorskip("mkdocs")
    import importlib.util

    spec = importlib.util.spec_from_file_location("docs_hooks", DOCS / "hooks.py")
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)

    page = hooks.on_page_markdown("# S\n\n<!-- settings-table -->\n", page=None, config=None, files=None)
    rows = [line for line in page.splitlines() if line.startswith("|")]
    assert len(rows) == 2 + ray_pgsearch.settings_table().count("\n| `")
    assert all(len(re.split(r"(?<!\\)\|", row)) == 7 for row in rows)  # five cells, pipes in prose escaped

    (tmp_path / "a.md").write_text("# Table A\n\nCommand: `x`\n")
    (tmp_path / "a.png").write_bytes(b"")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.md").write_text("# Table B\n")
    (tmp_path / "quick").mkdir()
    (tmp_path / "quick" / "c.md").write_text("# a smoke run, ignored by git\n")
    tables = hooks.result_tables(tmp_path)
    assert [t.as_posix() for t in tables] == ["a.md", "sub/b.md"]
    assert "![a](a.png)" in hooks.benchmark_page(Path("a.md"), tmp_path)
    assert "png" not in hooks.benchmark_page(Path("sub/b.md"), tmp_path)
    index = hooks.benchmark_index(tables, tmp_path)
    assert "[sub/b](sub/b.md)" in index and "held-out" in index and "## The benchmark lab" in index
