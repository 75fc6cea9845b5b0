"""README.md's Python blocks run as printed (a block after ``<!-- no-run -->`` is not a program)."""

import pathlib
import re

README = pathlib.Path(__file__).parents[2] / "README.md"


def _python_blocks() -> list[str]:
    text = README.read_text()
    blocks = []
    for match in re.finditer(r"(<!-- no-run -->\n)?```python\n(.*?)```", text, re.S):
        if not match.group(1):
            blocks.append(match.group(2))
    return blocks


def test_the_readme_is_a_short_manual():
    assert len(README.read_text().splitlines()) <= 300
    assert len(_python_blocks()) >= 2


def test_every_python_block_of_the_readme_runs_as_printed(ray_local, scratch_home, capsys):
    for i, block in enumerate(_python_blocks()):
        namespace: dict = {"__name__": f"readme_block_{i}"}
        exec(compile(block, f"README.md python block {i}", "exec"), namespace)
    tune_run, ask_tell = capsys.readouterr().out.strip().splitlines()[-2:]
    assert "'act': 'gelu'" in tune_run and "'kind': 'a'" in ask_tell
