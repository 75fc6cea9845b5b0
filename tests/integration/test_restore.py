"""A killed driver loses nothing: SIGKILL an experiment mid-run, finish it with Tuner.restore."""

import glob
import json
import os
import signal
import subprocess
import sys
import time

import crash_driver
import numpy as np
from ray import tune

from ray_pgsearch import PGSearcher


def _finished_trials(exp_dir):
    """Trial directories whose result.json shows a completed (done) trial."""
    count = 0
    for path in glob.glob(os.path.join(exp_dir, "*", "result.json")):
        with open(path) as f:
            lines = [json.loads(line) for line in f if line.strip()]
        count += any(r.get("done") for r in lines) or any(r.get("training_iteration") == 3 for r in lines)
    return count


def _policy(searcher):
    policy = searcher.optimizer.state()["policy"]
    return np.concatenate([policy["mean"], policy["log_std"], policy["logits"].ravel()])


def _kill_mid_run(tmp_path, *args: str) -> None:
    """Runs crash_driver in a subprocess and SIGKILLs it once 8 trials finished."""
    exp_dir = tmp_path / "exp"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.dirname(__file__), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen(
        [sys.executable, crash_driver.__file__, str(tmp_path), *args],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 120
        while _finished_trials(exp_dir) < 8:
            assert proc.poll() is None and time.time() < deadline, "the driver ended before it could be killed"
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and the local Ray it started, nothing else
        proc.wait()
    assert _finished_trials(exp_dir) < crash_driver.NUM_SAMPLES


def test_sigkilled_driver_resumes_with_exactly_num_samples_and_the_saved_policy(ray_local, tmp_path, monkeypatch):
    exp_dir = tmp_path / "exp"
    _kill_mid_run(tmp_path)

    saved = PGSearcher()
    saved.restore(max(glob.glob(str(exp_dir / "searcher-state-*.pkl"))))
    restored = {}
    original_restore = PGSearcher.restore

    def recording_restore(self, path):
        original_restore(self, path)
        restored["policy"], restored["searcher"] = _policy(self), self

    monkeypatch.setattr(PGSearcher, "restore", recording_restore)
    results = tune.Tuner.restore(str(exp_dir), trainable=crash_driver.train).fit()

    np.testing.assert_array_equal(restored["policy"], _policy(saved))
    assert len(results) == crash_driver.NUM_SAMPLES and results.num_errors == 0
    configs = [(r.config["x"], r.config["act"], r.config["depth"]) for r in results]
    assert len(set(configs)) == crash_driver.NUM_SAMPLES  # no config suggested twice by a replay
    final = restored["searcher"]  # the restored searcher Tune drove to the end, in this process
    # every trial learned from exactly once: none lost with the driver, none counted twice
    assert final.optimizer.n_told == crash_driver.NUM_SAMPLES and final.optimizer.n_failed == 0
    assert final.view().n_running == 0


def test_a_restore_keeps_the_evidence_of_the_trials_that_crashed(ray_local, tmp_path, monkeypatch):
    """Trials that raised before the driver was killed stay errored, and the restored searcher still
    holds them as failures: it crashes no more than that count again once restored."""
    exp_dir = tmp_path / "exp"
    _kill_mid_run(tmp_path, "crashing")
    saved = PGSearcher()
    saved.restore(max(glob.glob(str(exp_dir / "searcher-state-*.pkl"))))
    assert saved.view().n_crashed > 0
    restored = {}
    original_restore = PGSearcher.restore

    def recording_restore(self, path):
        original_restore(self, path)
        restored["crashed"], restored["searcher"] = self.view().n_crashed, self

    monkeypatch.setattr(PGSearcher, "restore", recording_restore)
    results = tune.Tuner.restore(str(exp_dir), trainable=crash_driver.train_crashing).fit()
    final = restored["searcher"].view()
    assert restored["crashed"] == saved.view().n_crashed  # the evidence came back with the checkpoint
    assert len(results) == crash_driver.NUM_SAMPLES  # nothing lost: every trial finished or errored once
    assert final.n_crashed == results.num_errors and final.n_told + final.n_crashed == crash_driver.NUM_SAMPLES
