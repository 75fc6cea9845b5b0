"""Shared test setup: a local Ray instance (never someone else's cluster) for the Tune tests."""

import os

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "0")
os.environ.setdefault("TUNE_DISABLE_AUTO_INIT", "1")

import pytest  # noqa: E402


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
