"""Checkpoints: JSON plus numpy arrays, never a pickle; versioned; the previous release's pickles
read without running their code; clear errors for newer, foreign and missing files."""

import ast
import json
import os
import pickle
import zipfile

import numpy as np
import pytest
from ray import tune

from ray_pgsearch import CheckpointError, PGOptimizer, PGSearcher, SearchSpace
from ray_pgsearch._checkpoint import VERSION, read, write
from ray_pgsearch._codec import Codec, Opaque

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
# the space and objective of fixtures/searcher-0.2.0.pkl (written by ray_pgsearch 0.2.0)
LEGACY_SPACE = {
    "lr": tune.loguniform(1e-4, 1e-1),
    "layers": tune.randint(1, 5),
    "act": tune.choice(["relu", "tanh", ("gelu", 2)]),
    "shift": tune.randn(0.0, 1.0),
    "nested": {"dropout": tune.quniform(0.0, 0.5, 0.1), "k": 3},
}


def legacy_loss(c: dict) -> float:
    return (
        (c["lr"] - 0.01) ** 2 * 100
        + abs(c["layers"] - 2)
        + (c["act"] != "relu")
        + c["shift"] ** 2 / 10
        + c["nested"]["dropout"]
    )


class Activation:
    """A category JSON cannot hold (as torch.nn.ReLU would be)."""


SPACE = {"x": tune.uniform(0.0, 1.0), "act": tune.choice([Activation, "linear", (1, 2)]), "k": {"n": 3}}


def driven(space: dict, n: int = 12) -> PGSearcher:
    searcher = PGSearcher(space, metric="loss", mode="min", seed=0)
    for i in range(n):
        config = searcher.suggest(f"t{i}")
        searcher.on_trial_complete(f"t{i}", {"loss": config["x"]})
    searcher.suggest("running")
    return searcher


def test_a_searcher_checkpoint_is_a_zip_of_json_and_arrays_with_no_pickle(tmp_path):
    path = str(tmp_path / "searcher-state-x.pkl")
    driven(SPACE).save(path)
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        manifest = json.loads(z.read("manifest.json"))
        assert all(n == "manifest.json" or (n.startswith("arrays/") and n.endswith(".npy")) for n in names)
        for name in names[1:]:
            np.load(z.open(name), allow_pickle=False)  # every array loads without pickle
    assert manifest["format"] == "ray_pgsearch" and manifest["version"] == VERSION and manifest["kind"] == "searcher"
    state = manifest["state"]
    assert state["metric"] == "loss" and state["optimizer"]["record"]["asked"] == 13
    activation = state["space"]["spec"]["act"]["categories"][0]
    assert activation["$object"] == 0 and activation["repr"].endswith("Activation")
    with open(path, "rb") as f:
        assert b"\x80" != f.read(1)  # not a pickle's protocol byte


def test_a_restored_searcher_continues_exactly(tmp_path):
    path = str(tmp_path / "state")
    original = driven(SPACE)
    original.save(path)
    restored = PGSearcher(SPACE)  # the space given again: its classes come back as themselves
    restored.restore(path)
    for searcher in (original, restored):
        searcher.on_trial_complete("running", {"loss": 0.5})
    for i in range(10):
        a, b = original.suggest(f"n{i}"), restored.suggest(f"n{i}")
        assert a == b and (a["act"] is Activation) == (b["act"] is Activation)
        for s in (original, restored):
            s.on_trial_complete(f"n{i}", {"loss": a["x"]})
    assert original.optimizer.best_config == restored.optimizer.best_config


def test_objects_json_cannot_hold_need_the_space_given_again(tmp_path):
    path = str(tmp_path / "state")
    driven(SPACE).save(path)
    with pytest.raises(CheckpointError, match="give the space again"):
        PGSearcher().restore(path)
    with pytest.raises(CheckpointError, match="another search space"):
        PGSearcher({"x": tune.uniform(0.0, 2.0), "act": tune.choice([Activation, "linear", (1, 2)])}).restore(path)
    plain = {"x": tune.uniform(0.0, 1.0), "act": tune.choice(["relu", "linear", (1, 2)]), "k": {"n": 3}}
    driven(plain).save(path)
    restored = PGSearcher()  # a space of plain values needs nothing: the checkpoint describes it
    restored.restore(path)
    assert restored.suggest("next")["k"] == {"n": 3}


def test_newer_foreign_and_mismatched_checkpoints_say_what_they_are(tmp_path):
    path = str(tmp_path / "newer")
    write(path, "searcher", {"x": 1})
    with zipfile.ZipFile(path) as z:
        manifest = json.loads(z.read("manifest.json"))
    manifest["version"] = VERSION + 1
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("manifest.json", json.dumps(manifest))
    with pytest.raises(CheckpointError, match=f"format version {VERSION + 1}.*reads versions up to {VERSION}: upgrade"):
        PGSearcher().restore(path)
    with zipfile.ZipFile(str(tmp_path / "foreign.zip"), "w") as z:
        z.writestr("data.txt", "hello")
    with pytest.raises(CheckpointError, match="not a readable ray_pgsearch checkpoint"):
        PGSearcher().restore(str(tmp_path / "foreign.zip"))
    opt = PGOptimizer({"x": tune.uniform(0, 1)}, seed=0)
    opt.save(str(tmp_path / "opt"))
    with pytest.raises(CheckpointError, match="holds a optimizer checkpoint, expected one of searcher"):
        PGSearcher().restore(str(tmp_path / "opt"))


def test_a_checkpoint_of_the_previous_release_restores_and_continues_as_that_release_would():
    """fixtures/searcher-0.2.0.pkl is a pickle ray_pgsearch 0.2.0 wrote mid-run (3 trials running,
    intermediate reports); fixtures/searcher-0.2.0.json holds what 0.2.0 suggested after restoring
    it. This release reads it without running its code and suggests the very same configs."""
    with open(os.path.join(FIXTURES, "searcher-0.2.0.json")) as f:
        expected = json.load(f)
    for space in (LEGACY_SPACE, None):  # given again, or rebuilt from the old parameters
        searcher = PGSearcher(space)
        searcher.restore(os.path.join(FIXTURES, "searcher-0.2.0.pkl"))
        assert (searcher.metric, searcher.mode) == ("loss", "min") and searcher.view().n_running == 3
        for trial_id in expected["pending"]:
            config = ast.literal_eval(expected["pending_configs"][trial_id])
            assert searcher._live[trial_id].config == config
            searcher.on_trial_result(trial_id, {"loss": 2 * legacy_loss(config), "training_iteration": 1})
            searcher.on_trial_complete(trial_id, {"loss": legacy_loss(config), "training_iteration": 2})
        after = []
        for i in range(10):
            config = searcher.suggest(f"after{i}")
            after.append(repr(config))
            searcher.on_trial_complete(f"after{i}", {"loss": legacy_loss(config)})
        assert after == expected["after"]
        assert searcher.optimizer.n_told == expected["n_told"]
        assert searcher.optimizer.best_value == expected["best_value"]


def test_the_previous_releases_pickle_runs_no_code(tmp_path):
    """A pickle that would run code when loaded (a reduce of os.system) is read as inert data."""

    class Evil:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    path = str(tmp_path / "evil.pkl")
    with open(path, "wb") as f:
        pickle.dump({"format": 2, "state": {"_opt": Evil()}}, f)
    with pytest.raises(CheckpointError):
        PGSearcher().restore(path)
    assert not (tmp_path / "pwned").exists()


def test_the_codec_round_trips_values_and_refers_to_the_spaces_objects():
    space = SearchSpace(SPACE)
    codec = space.codec()
    value = {
        "t": (1, "a", None),
        "f": [float("nan"), float("inf"), -0.0, 1e-300],
        "n": np.float32(1.5),
        "i": np.int64(7),
        "d": {1: "one", "$x": 2},
        "cls": Activation,
        "b": True,
    }
    data = json.loads(json.dumps(codec.encode(value), allow_nan=False))
    back = codec.decode(data)
    assert back["t"] == (1, "a", None) and back["cls"] is Activation and back["b"] is True
    assert np.isnan(back["f"][0]) and back["f"][1:] == [float("inf"), -0.0, 1e-300]
    assert type(back["n"]) is np.float32 and back["n"] == 1.5 and type(back["i"]) is np.int64
    assert back["d"] == {1: "one", "$x": 2}
    stranger = Codec().decode(data)  # without the space: a stand-in that keeps type and repr
    assert isinstance(stranger["cls"], Opaque) and stranger["cls"].text.endswith("Activation")
    with pytest.raises(ValueError, match="JSON cannot hold"):
        Codec(strict=True).decode(data)


def test_an_optimizer_saves_and_loads_with_its_pending_trials_and_best(tmp_path):
    space = {"x": tune.uniform(0.0, 1.0), "c": tune.choice(["a", "b"])}
    opt = PGOptimizer(space, seed=0, points_to_evaluate=[{"x": 0.5}, {"x": 0.25, "c": "b"}, {"x": 0.75}])
    configs = {i: opt.ask(trial_id=("trial", i)) for i in range(2)}
    opt.tell(configs[0], 0.3, trial_id=("trial", 0))
    opt.save(str(tmp_path / "o"))
    again = PGOptimizer.load(str(tmp_path / "o"))
    assert again.best_config == opt.best_config and again.view().n_running == 1
    asked = again.ask()
    assert asked == opt.ask() and asked["x"] == 0.75  # the last point to evaluate, its choice drawn alike
    again.tell(configs[1], 0.1, trial_id=("trial", 1))
    assert again.best_value == 0.1 and again.view().n_running == 0


def test_read_refuses_missing_files_and_pickles_as_such(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        read(str(tmp_path / "none"))
    (tmp_path / "p").write_bytes(pickle.dumps([1]))
    with pytest.raises(CheckpointError, match="ray_pgsearch 0.2 and older"):
        read(str(tmp_path / "p"))
