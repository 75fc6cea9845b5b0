"""Ray Tune's Tuner.restore tests (Ray 2.60's ``python/ray/tune/tests/test_tuner_restore.py``),
adapted to an experiment searched by PGSearcher: a restored experiment goes on with the searcher it
was started with, in the state it was saved in, and never runs more than ``num_samples`` trials.

Ray's tests pin each trial's behaviour with ``tune.grid_search``, which PGSearcher refuses; here
partial ``points_to_evaluate`` pin it instead (``{"mode": "fail"}``: the rest of the config is
searched). Interruptions are in-process (a callback that raises, as in Ray's tests); the SIGKILLed
driver is ``test_restore.py``'s integration test. Every test here starts Tune and is marked slow.
"""

import os
import tempfile
import time

import pytest
from ray import tune
from ray.tune import Callback
from ray.tune.experiment import Trial
from ray.tune.schedulers import ASHAScheduler

from ray_pgsearch import PGSearcher

pytestmark = pytest.mark.slow


def _report(it, config):
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "it"), "w") as f:
            f.write(str(it))
        tune.report({"it": it, "score": config["x"]}, checkpoint=tune.Checkpoint.from_directory(d))


def train_sometimes_failing(config):
    """Ray's _train_fn_sometimes_failing: one report (with a checkpoint), then it fails or hangs while
    the marker file exists (config["mode"] says which), then one more report."""
    it = 0
    checkpoint = tune.get_checkpoint()
    if checkpoint:
        with checkpoint.as_directory() as d, open(os.path.join(d, "it")) as f:
            it = int(f.read())
    it += 1
    _report(it, config)
    if config["mode"] == "fail" and os.path.exists(config["marker"]):
        raise RuntimeError("I am failing")
    if config["mode"] == "hang" and os.path.exists(config["marker"]):
        time.sleep(60)
    it += 1
    _report(it, config)


def return_one(config):
    return 1


class FailOnStats(Callback):
    """Ray's _FailOnStats: raises once at least num_trials exist and num_finished have finished."""

    def __init__(self, num_trials, num_finished=0, delay=1):
        self.num_trials, self.num_finished, self.delay = num_trials, num_finished, delay
        self.fail_at = None

    def on_step_begin(self, iteration, trials, **info):
        if self.fail_at is not None and iteration >= self.fail_at:
            raise RuntimeError("Failing")
        finished = [t for t in trials if t.status in (Trial.TERMINATED, Trial.ERROR)]
        if self.fail_at is None and len(trials) >= self.num_trials and len(finished) >= self.num_finished:
            self.fail_at = iteration + self.delay


def _space(marker):
    return {"x": tune.uniform(0, 1), "mode": tune.choice(["ok", "fail", "hang"]), "marker": str(marker)}


def _tuner(trainable, tmp_path, name, modes, searcher=None, callbacks=None, **tune_config):
    marker = tmp_path / "marker"
    marker.write_text("")
    searcher = searcher or PGSearcher(points_to_evaluate=[{"mode": m} for m in modes], seed=0)
    tune_config.setdefault("metric", "score")
    tune_config.setdefault("mode", "max")
    return tune.Tuner(
        trainable,
        param_space=_space(marker),
        tune_config=tune.TuneConfig(
            search_alg=searcher, num_samples=len(modes), max_concurrent_trials=2, reuse_actors=True, **tune_config
        ),
        run_config=tune.RunConfig(name=name, storage_path=str(tmp_path), verbose=0, callbacks=callbacks),
    )


def _restored_searcher(tuner):
    """The searcher a restored Tuner drives (Ray's tests read it the same way)."""
    return tuner._local_tuner._tune_config.search_alg


def _configs(results):
    return sorted((r.config["mode"], r.config["x"]) for r in results)


# adapts test_tuner_restore.py::test_tuner_restore_num_trials
def test_restoring_a_finished_experiment_runs_no_more_trials(ray_local, tmp_path):
    searcher = PGSearcher(seed=0)
    tuner = tune.Tuner(
        return_one,
        param_space={"x": tune.uniform(0, 1)},
        tune_config=tune.TuneConfig(
            num_samples=4, mode="max", search_alg=searcher, max_concurrent_trials=2, reuse_actors=True
        ),
        run_config=tune.RunConfig(name="exp", storage_path=str(tmp_path), verbose=0),
    )
    results = tuner.fit()
    assert len(results) == 4 and results.get_best_result().metrics["_metric"] == 1
    configs = sorted(r.config["x"] for r in results)

    tuner = tune.Tuner.restore(str(tmp_path / "exp"), trainable=return_one)
    assert len(tuner.get_results()) == 4
    results = tuner.fit()
    assert len(results) == 4 and sorted(r.config["x"] for r in results) == configs
    restored = _restored_searcher(tuner)
    assert restored.optimizer.n_asked == 4 and restored.optimizer.n_told == 4
    assert restored.metric == "_metric"


# adapts test_tuner_restore.py::test_tuner_restore_resume_errored / test_tuner_restore_restart_errored
@pytest.mark.parametrize("how, its", [("resume_errored", [2, 2, 3, 3]), ("restart_errored", [2, 2, 2, 2])])
def test_errored_trials_resume_or_restart_with_their_config(ray_local, tmp_path, how, its):
    tuner = _tuner(train_sometimes_failing, tmp_path, "exp", ["ok", "fail", "ok", "fail"])
    results = tuner.fit()
    assert len(results) == 4 and len(results.errors) == 2
    assert sorted(r.metrics["it"] for r in results) == [1, 1, 2, 2]
    configs = _configs(results)
    (tmp_path / "marker").unlink()

    tuner = tune.Tuner.restore(str(tmp_path / "exp"), trainable=train_sometimes_failing, **{how: True})
    results = tuner.fit()
    assert len(results) == 4 and not results.errors
    assert sorted(r.metrics["it"] for r in results) == its  # resumed from the checkpoint, or from scratch
    assert _configs(results) == configs  # the same trials: the searcher suggested none anew
    restored = _restored_searcher(tuner)
    assert restored.optimizer.n_asked == 4 and restored.view().n_running == 0
    # PGSearcher's documented rule, as Tune's built-in searchers do: an errored trial is forgotten, and
    # the completion of a resumed or restarted trial it no longer tracks is ignored.
    assert restored.optimizer.n_told == 2 and restored.optimizer.n_failed == 2


# adapts test_tuner_restore.py::test_tuner_resume_unfinished
def test_an_interrupted_experiment_finishes_its_unfinished_trials_and_learns_each_once(ray_local, tmp_path):
    tuner = _tuner(
        train_sometimes_failing,
        tmp_path,
        "exp",
        ["ok", "hang", "fail", "hang"],
        callbacks=[FailOnStats(num_trials=4, num_finished=2)],
    )
    with pytest.raises(RuntimeError, match="Failing"):
        tuner.fit()
    (tmp_path / "marker").unlink()

    tuner = tune.Tuner.restore(str(tmp_path / "exp"), trainable=train_sometimes_failing)
    tuner._local_tuner._run_config.callbacks = None
    results = tuner.fit()
    assert len(results) == 4 and len(results.errors) == 1
    # finished: 2; running: resumed from it=1, so 3; errored: stays at 1; pending: runs, so 2
    assert sorted(r.metrics["it"] for r in results) == [1, 2, 2, 3]
    restored = _restored_searcher(tuner)
    assert restored.optimizer.n_asked == 4 and restored.view().n_running == 0
    assert restored.optimizer.n_told == 3 and restored.optimizer.n_failed == 1


# adapts test_tuner_restore.py::test_tuner_resume_errored_only
def test_resuming_only_errored_trials_suggests_no_new_trial(ray_local, tmp_path):
    tuner = _tuner(
        train_sometimes_failing,
        tmp_path,
        "exp",
        ["ok", "hang", "fail", "hang"],
        callbacks=[FailOnStats(num_trials=4, num_finished=2)],
    )
    with pytest.raises(RuntimeError, match="Failing"):
        tuner.fit()
    (tmp_path / "marker").unlink()

    tuner = tune.Tuner.restore(
        str(tmp_path / "exp"), trainable=train_sometimes_failing, resume_unfinished=False, resume_errored=True
    )
    tuner._local_tuner._run_config.callbacks = None
    results = tuner.fit()
    assert len(results) == 4 and not results.errors
    # finished: 2; running: not continued (1); errored: resumed (3); pending: never ran (0)
    assert sorted(r.metrics.get("it", 0) for r in results) == [0, 1, 2, 3]
    restored = _restored_searcher(tuner)
    assert restored.optimizer.n_asked == 4
    # learned: the trial that finished first; the resumed errored trial's completion is ignored (see above).
    # The two skipped trials stay pending in PGSearcher: Tune marks them terminated without telling the
    # searcher (nor any built-in one), and no later suggestion comes in this experiment.
    assert restored.optimizer.n_told == 1 and restored.optimizer.n_failed == 1
    assert restored.view().n_running == 2


class CountingPGSearcher(PGSearcher):
    """Ray's MockSearcher: counts the results it sees, in its saved state (a subclass keeps its own
    state by extending get_state and set_state)."""

    def on_trial_result(self, trial_id, result):
        super().on_trial_result(trial_id, result)
        self.results_seen = getattr(self, "results_seen", 0) + 1

    def get_state(self):
        return {**super().get_state(), "results_seen": getattr(self, "results_seen", 0)}

    def set_state(self, state):
        super().set_state(state)
        self.results_seen = state["results_seen"]


class CountingASHA(ASHAScheduler):
    def on_trial_result(self, tune_controller, trial, result):
        self.results_seen = getattr(self, "results_seen", 0) + 1
        return super().on_trial_result(tune_controller, trial, result)


# adapts test_tuner_restore.py::test_custom_searcher_and_scheduler_restore
def test_a_restored_experiment_uses_the_original_searcher_and_scheduler(ray_local, tmp_path):
    searcher = CountingPGSearcher(points_to_evaluate=[{"mode": "fail"}], seed=0)
    tuner = _tuner(
        train_sometimes_failing, tmp_path, "exp", ["fail"], searcher=searcher, scheduler=CountingASHA(), metric="it"
    )
    tuner.fit()
    (tmp_path / "marker").unlink()

    tuner = tune.Tuner.restore(str(tmp_path / "exp"), trainable=train_sometimes_failing, resume_errored=True)
    tuner.fit()
    restored = _restored_searcher(tuner)
    scheduler = tuner._local_tuner._tune_config.scheduler
    assert isinstance(restored, CountingPGSearcher) and isinstance(scheduler, CountingASHA)
    assert restored.results_seen == 3  # 1 before the failure (from the saved state) + 2 after the restore
    assert getattr(scheduler, "results_seen", 0) > 0


class FakeDataset:
    def __init__(self, name):
        self.name = name


def use_dataset(config):
    """Fails while the marker file exists (Ray's test swaps the trainable's code, under the same name)."""
    if os.path.exists(config["marker"]):
        raise RuntimeError("Failing!")
    tune.report({"score": config["x"], "name": config["data"].name})


# adapts test_tuner_restore.py::testParamSpaceOverwrite (objects in the param_space are replaced on restore, in the
# restored trials and in those the restored searcher suggests)
def test_param_space_objects_are_replaced_on_restore(ray_local, tmp_path, monkeypatch):
    monkeypatch.setenv("TUNE_MAX_PENDING_TRIALS_PG", "1")
    marker = tmp_path / "marker"
    marker.write_text("")
    space = {"x": tune.uniform(0, 1), "marker": str(marker)}
    tuner = tune.Tuner(
        use_dataset,
        param_space=dict(space, data=FakeDataset("1")),
        tune_config=tune.TuneConfig(
            num_samples=6, metric="score", mode="max", search_alg=PGSearcher(seed=0), max_concurrent_trials=2
        ),
        run_config=tune.RunConfig(
            name="exp", storage_path=str(tmp_path), verbose=0, callbacks=[FailOnStats(num_trials=2, num_finished=2)]
        ),
    )
    with pytest.raises(RuntimeError, match="Failing"):
        tuner.fit()
    marker.unlink()

    tuner = tune.Tuner.restore(
        str(tmp_path / "exp"),
        trainable=use_dataset,
        param_space=dict(space, data=FakeDataset("2")),
        resume_errored=True,
    )
    tuner._local_tuner._run_config.callbacks = None
    results = tuner.fit()
    assert len(results) == 6 and not results.errors
    assert {r.metrics["name"] for r in results} == {"2"}
    restored = _restored_searcher(tuner)
    assert restored.optimizer.n_asked == 6
