"""The shape of the library: small modules, a short orchestrator with few attributes, no import
cycle between the package's modules (imports inside functions count), no pickle in checkpoints."""

import ast
import inspect
import os
import pathlib

from ray import tune

import ray_pgsearch
from ray_pgsearch import PGOptimizer, PGSearcher

PACKAGE = pathlib.Path(ray_pgsearch.__file__).parent


def _modules() -> dict[str, ast.Module]:
    return {path.stem: ast.parse(path.read_text()) for path in sorted(PACKAGE.glob("*.py"))}


def test_no_module_is_over_400_lines():
    sizes = {path.name: len(path.read_text().splitlines()) for path in PACKAGE.glob("*.py")}
    assert max(sizes.values()) <= 400, sorted(sizes.items(), key=lambda kv: -kv[1])[:3]


def test_the_orchestrator_is_short_and_holds_few_attributes():
    source, _ = inspect.getsourcelines(PGOptimizer)
    assert len(source) <= 250
    opt = PGOptimizer({"x": tune.uniform(0, 1), "c": tune.choice([1, 2])}, seed=0)
    assert len(vars(opt)) <= 15, sorted(vars(opt))


def test_no_import_cycle_between_the_packages_modules():
    graph: dict[str, set[str]] = {}
    for name, tree in _modules().items():
        deps = set()
        for node in ast.walk(tree):  # every import, at the top or inside a function
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                deps |= {node.module} if node.module else {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ray_pgsearch."):
                deps.add(node.module.split(".", 1)[1])
        graph[name] = deps & set(_modules()) - {name}
    state: dict[str, int] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for dep in graph[module]:
            assert state.get(dep) != 1, " -> ".join(path + [dep])
            if dep not in state:
                visit(dep, path + [dep])
        state[module] = 2

    for module in graph:
        if module not in state:
            visit(module, [module])


def test_saving_writes_no_pickle(tmp_path, monkeypatch):
    import pickle

    searcher = PGSearcher({"x": tune.uniform(0, 1)}, metric="loss", mode="min", seed=0)
    searcher.on_trial_complete("t", {"loss": 1.0}) if searcher.suggest("t") else None

    def refuse(*args, **kwargs):
        raise AssertionError("save pickled something")

    monkeypatch.setattr(pickle, "dump", refuse)
    monkeypatch.setattr(pickle, "dumps", refuse)
    searcher.save(os.path.join(tmp_path, "state"))
    with open(os.path.join(tmp_path, "state"), "rb") as f:
        assert f.read(2) == b"PK"  # a zip archive
