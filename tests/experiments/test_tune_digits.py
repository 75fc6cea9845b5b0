"""The main job's experiments: which one --resume continues, a finished one, and a run interrupted
by Ctrl+C and resumed (its progress counts the whole experiment and agrees with its summary)."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

from experiments import tune_digits


def _experiment(storage: Path, name: str, last_run: float) -> Path:
    """A directory Tune can restore (tuner.pkl), last saved at ``last_run`` (Unix seconds)."""
    path = storage / name
    path.mkdir()
    (path / "tuner.pkl").write_bytes(b"")
    state = path / "experiment_state-2026-01-01_00-00-00.json"
    state.write_text("{}")
    os.utime(path / "tuner.pkl", (last_run - 100, last_run - 100))
    os.utime(state, (last_run, last_run))
    return path


def test_resume_continues_the_named_experiment_or_the_last_run_of_the_default_name(tmp_path):
    _experiment(tmp_path, "pgsearch_digits", 1000.0)
    newest = _experiment(tmp_path, "pgsearch_digits-20260102-030405", 3000.0)
    _experiment(tmp_path, "pgsearch_digits-20260101-000000-2", 2000.0)
    _experiment(tmp_path, "digits_quarter", 4000.0)  # run last, but under another name
    (tmp_path / "pgsearch_digits_notes").mkdir()  # not one of the default name's runs
    assert tune_digits.experiment_to_resume(str(tmp_path), None) == str(newest)
    assert tune_digits.experiment_to_resume(str(tmp_path), "digits_quarter") == str(tmp_path / "digits_quarter")
    assert tune_digits.experiment_to_resume(str(tmp_path), "pgsearch_digits") == str(tmp_path / "pgsearch_digits")
    # nothing to resume: the default name's directory, where a new experiment starts
    assert tune_digits.experiment_to_resume(str(tmp_path / "empty"), None) == str(tmp_path / "empty/pgsearch_digits")


def test_a_new_experiment_never_reuses_a_taken_name(tmp_path, monkeypatch):
    assert tune_digits.fresh_name(str(tmp_path), "exp") == "exp"
    (tmp_path / "exp").mkdir()
    monkeypatch.setattr(tune_digits.time, "strftime", lambda fmt: "20260101-000000")  # one second, several runs
    assert tune_digits.fresh_name(str(tmp_path), "exp") == "exp-20260101-000000"
    (tmp_path / "exp-20260101-000000").mkdir()
    assert tune_digits.fresh_name(str(tmp_path), "exp") == "exp-20260101-000000-2"


def _progress(out: str, total: int) -> list[tuple[int, str]]:
    """(trials finished, best accuracy) of every progress line printed."""
    return [(int(n), best) for n, best in re.findall(rf"trials +(\d+)/{total} +best validation accuracy (\S+)", out)]


def _summary_best(out: str) -> str:
    (best,) = re.findall(r"^best validation accuracy: (\S+)$", out, flags=re.M)
    return best


def test_ctrl_c_then_resume_counts_the_whole_experiment_and_agrees_with_the_summary(
    ray_local, tmp_path, capsys, monkeypatch
):
    complete = tune_digits.Progress.on_trial_complete
    interrupted: list[int] = []

    def ctrl_c_after_three(self, iteration, trials, trial, **info):
        complete(self, iteration, trials, trial, **info)
        if not interrupted and self.shown >= 3:
            interrupted.append(self.shown)
            signal.raise_signal(signal.SIGINT)  # as Ctrl+C: Tune saves the experiment and stops

    monkeypatch.setattr(tune_digits.Progress, "on_trial_complete", ctrl_c_after_three)
    common = ["--storage-path", str(tmp_path), "--max-concurrent", "2"]
    first = tune_digits.main(common + ["--num-samples", "8"])
    out = capsys.readouterr().out
    assert interrupted and "The experiment has not finished; continue it with" in out
    assert f"--resume --name pgsearch_digits --storage-path {tmp_path}" in out
    ended = sum(tune_digits.ended(r.metrics, r.error is not None) for r in first)
    assert 3 <= ended < 8 and f"{ended} trials ended (0 errors)" in out
    assert _progress(out, 8)[-1][1] == _summary_best(out)  # the best shown is the summary's best

    second = tune_digits.main(common + ["--resume"])  # no name: the last run of the default name
    out = capsys.readouterr().out
    assert f"Resuming the experiment at {tmp_path / 'pgsearch_digits'}" in out
    (resumed,) = re.findall(r"resumed: trials +(\d+)/8", out)
    assert int(resumed) >= ended  # the count goes on from the trials that ended before Ctrl+C
    lines = _progress(out, 8)
    assert [n for n, _ in lines] == sorted(n for n, _ in lines) and lines[-1][0] == 8
    assert lines[-1][1] == _summary_best(out) and "8 trials ended (0 errors)" in out
    assert len(second) == 8 and "has not finished" not in out

    third = tune_digits.main(common + ["--resume"])  # finished: says so, with its summary
    out = capsys.readouterr().out
    assert f"The experiment at {tmp_path / 'pgsearch_digits'} has finished: nothing to resume." in out
    assert "8 trials ended (0 errors)" in out and _summary_best(out) == lines[-1][1]
    assert len(third) == 8 and "Resuming" not in out and not _progress(out, 8)


def test_resume_without_an_experiment_starts_a_new_one(ray_local, tmp_path, capsys):
    results = tune_digits.main(
        ["--storage-path", str(tmp_path), "--max-concurrent", "2", "--num-samples", "2", "--resume", "--name", "x"]
    )
    out = capsys.readouterr().out
    assert f"No experiment to resume at {tmp_path / 'x'}: starting a new one." in out
    assert len(results) == 2 and (tmp_path / "x" / "tuner.pkl").exists()
