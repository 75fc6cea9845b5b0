"""Shared test setup: a local Ray instance (never someone else's cluster) for the Tune tests."""

import os

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "0")
os.environ.setdefault("TUNE_DISABLE_AUTO_INIT", "1")

import pytest  # noqa: E402

_TESTS = os.path.dirname(os.path.abspath(__file__))
# The tests by layer, one folder each: unit (the library without Ray's runtime), tune (real Ray Tune
# runs on a local Ray), integration (outside machinery: a Slurm cluster, several Ray nodes, drivers
# killed mid-run) and experiments (the benchmark lab).
_LAYERS = ("unit", "tune", "integration", "experiments")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test that starts Ray Tune (the ``ray_local`` fixture) is slow; every integration
    test is slow and integration. ``pytest -m "not slow"`` is the fast lane."""
    for item in items:
        if "ray_local" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
        if item.path.parent.name == "integration":
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def scratch_home(tmp_path, monkeypatch):
    """A run that writes to ``~/ray_results`` (Tune's default storage) writes into ``tmp_path``: the
    working directory, ``HOME`` and the default Ray expanded when it was imported."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr("ray.train.constants.DEFAULT_STORAGE_PATH", str(tmp_path / "ray_results"))
    return tmp_path


@pytest.fixture(scope="session")
def ray_local():
    """One local 2-CPU Ray for the whole session, started with address="local" so tests never
    attach to another cluster on the same host."""
    import ray

    # Ray workers inherit this environment: let them import the trainables of the test modules.
    folders = [os.path.join(_TESTS, layer) for layer in _LAYERS]
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [*folders, os.environ.get("PYTHONPATH")]))
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()
