"""The benchmark lab's common core: settings, objectives and suites, the in-process driver, the peer
searchers, the run cache, statistics, rendering and the local Ray cluster; see experiments/README.md."""
