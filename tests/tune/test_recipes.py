"""The recipes in the library's docstrings, executed as printed (with small trainables)."""

import re
import textwrap

from ray import tune

import ray_pgsearch
from ray_pgsearch import pbt


def _code_blocks(doc: str) -> list[str]:
    """The fenced Python blocks of a docstring (as mkdocstrings renders them)."""
    return [textwrap.dedent(block) for block in re.findall(r"```python\n(.*?)\n\s*```", doc, re.S)]


def train(config):
    """A 4-epoch job whose loss falls fastest with lr near 1e-2 and a wide, shallow network."""
    for epoch in range(1, 5):
        quality = abs(config["lr"] - 1e-2) * 50 + abs(config["width"] - 64) / 64 + 0.1 * config["layers"]
        tune.report({"loss": quality + 1.0 / epoch + config["batch_size"] / 1024})


def train_with_checkpoints(config):
    """The same job, resumable from a checkpoint (PBT clones trials through checkpoints)."""
    import json
    import os
    import tempfile

    start = 0
    checkpoint = tune.get_checkpoint()
    if checkpoint:
        with checkpoint.as_directory() as folder, open(os.path.join(folder, "state.json")) as f:
            start = json.load(f)["epoch"]
    for epoch in range(start + 1, 9):
        quality = abs(config["lr"] - 1e-2) * 50 + abs(config["width"] - 64) / 64 + 0.1 * config["layers"]
        with tempfile.TemporaryDirectory() as folder:
            with open(os.path.join(folder, "state.json"), "w") as f:
                json.dump({"epoch": epoch}, f)
            tune.report(
                {"loss": quality + 1.0 / epoch + config["batch_size"] / 1024},
                checkpoint=tune.Checkpoint.from_directory(folder),
            )


SPACE = {
    "lr": tune.loguniform(1e-4, 1e-1),
    "batch_size": tune.choice([32, 64, 128]),
    "width": tune.choice([16, 64, 256]),
    "layers": tune.randint(1, 4),
}


def test_the_pbt_recipe_runs_as_printed(ray_local, scratch_home):
    (recipe,) = [b for b in _code_blocks(pbt.__doc__) if "PolicyExplorer" in b]
    namespace = {"space": SPACE, "train": train, "train_with_checkpoints": train_with_checkpoints}
    exec(compile(recipe, "ray_pgsearch.pbt docstring", "exec"), namespace)
    best, explorer = namespace["best"], namespace["explorer"]
    assert set(best) == set(SPACE) and namespace["searcher"].optimizer.n_told == 16
    assert explorer.state.metric == "loss" and explorer.state.mode == "min"  # learned from TuneConfig
    assert explorer.state.n_explores > 0  # PBT explored through the policy


def test_the_searcher_docstring_example_runs_as_printed(ray_local, scratch_home):
    (example,) = _code_blocks(ray_pgsearch.PGSearcher.__doc__)
    namespace: dict = {}
    exec(compile(example, "PGSearcher docstring", "exec"), namespace)
    assert namespace["best"]["act"] in ("relu", "tanh") and 1e-4 <= namespace["best"]["lr"] <= 1e-1
