"""Shared test setup: a local Ray instance (never someone else's cluster) for the Tune tests."""

import os

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "0")
os.environ.setdefault("TUNE_DISABLE_AUTO_INIT", "1")

import pytest  # noqa: E402

# Test modules that drive outside machinery: a Slurm cluster, several Ray nodes, drivers killed mid-run.
_INTEGRATION_MODULES = {"test_slurm.py", "test_restore.py", "test_scale.py"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test that starts Ray Tune (the ``ray_local`` fixture) is slow; every test of an
    integration module is slow and integration. ``pytest -m "not slow"`` is the fast lane."""
    for item in items:
        if "ray_local" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
        if item.path.name in _INTEGRATION_MODULES:
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def ray_local():
    """One local 2-CPU Ray for the whole session, started with address="local" so tests never
    attach to another cluster on the same host."""
    import ray

    # Ray workers inherit this environment: let them import the trainables of the test modules.
    tests_dir = os.path.dirname(os.path.abspath(__file__))
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [tests_dir, os.environ.get("PYTHONPATH")]))
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()
