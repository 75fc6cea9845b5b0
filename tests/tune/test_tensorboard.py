"""TensorBoard for the policy and the trials: event files read back, a live TensorBoard, the report."""

import glob
import math
import os

import numpy as np
import pytest
from ray import tune
from tensorboard.backend.event_processing.event_accumulator import HISTOGRAMS, SCALARS, EventAccumulator
from test_tune import SPACE, known_loss, train_known

from experiments import tensorboard_screenshot as tb
from ray_pgsearch import PGOptimizer, PGSearcher
from ray_pgsearch._policy import rank_utilities
from ray_pgsearch.report import write_report
from ray_pgsearch.tensorboard import PolicyWriter


def _accumulator(path: str) -> EventAccumulator:
    acc = EventAccumulator(path, size_guidance={SCALARS: 0, HISTOGRAMS: 0})
    acc.Reload()
    return acc


def _expected_state(opt: PGOptimizer) -> dict[str, float]:
    """The optimizer's state after an update, written out from the space's definition (x is
    uniform on [-2, 2], lr log-uniform on [1e-4, 1]) and the optimizer's checkpoint state, not
    through the writer's own code or the search's view."""
    state = opt.state()
    policy, updates = state["policy"], state["policy"]["n_updates"]
    mean, std = policy["mean"], np.exp(policy["log_std"])
    logits = policy["logits"][0]
    probs = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    rewards = state["history"]["rewards"][:, 0]  # one objective: the window's only reward column
    u = rank_utilities(rewards)
    x = lambda z: -2.0 + 4.0 * min(max(z, 0.0), 1.0)  # noqa: E731
    lr = lambda z: 10.0 ** (-4.0 + 4.0 * min(max(z, 0.0), 1.0))  # noqa: E731
    state = {
        "latent/model/x/mean": mean[0],
        "latent/model/x/std": std[0],
        "policy/model/x/mean": x(mean[0]),
        "policy/model/x/lower": x(mean[0] - std[0]),
        "policy/model/x/upper": x(mean[0] + std[0]),
        "policy/model/x/std": (x(mean[0] + std[0]) - x(mean[0] - std[0])) / 2,
        "policy/model/x/entropy": math.log(std[0]) + 0.5 * math.log(2 * math.pi * math.e),
        "policy/opt/lr/mean": lr(mean[1]),
        "policy/opt/lr/lower": lr(mean[1] - std[1]),
        "policy/opt/lr/upper": lr(mean[1] + std[1]),
        "policy/act/entropy": -sum(p * math.log(p) for p in probs),
        "reward/baseline": float(np.mean(rewards)),
        "advantage/mean": float(np.mean(u)),
        "advantage/std": float(np.std(u)),
        "advantage/min": float(u.min()),
        "advantage/max": float(u.max()),
        "policy/updates": updates,
        "search/trials": opt.n_told,
        "search/best": opt.best_value,
    }
    for category, p in zip(["relu", "tanh", "gelu"], probs, strict=False):
        state[f"policy/act/p_{category}"] = p
    return state


def test_logged_values_equal_the_optimizer_state_at_each_step(tmp_path):
    opt = PGOptimizer(SPACE, mode="min", seed=0, startup={"size": 4})
    opt.add_update_hook(PolicyWriter(str(tmp_path), every_s=0))
    expected, windows = {}, {}
    for _ in range(15):
        config = opt.ask()
        opt.tell(config, known_loss(config))
        updates = opt.view().n_updates
        if updates:
            expected[updates] = _expected_state(opt)
            windows[updates] = sorted(-2.0 + 4.0 * opt.state()["history"]["rows"][:, 0])
    acc = _accumulator(str(tmp_path))
    assert sorted(expected) == list(range(1, 15))
    for tag in expected[1]:
        logged = {e.step: e.value for e in acc.Scalars(tag)}
        assert logged.keys() == expected.keys(), tag
        for step, state in expected.items():
            assert logged[step] == pytest.approx(state[tag], rel=1e-5, abs=1e-6), (tag, step)
    for event in acc.Histograms("window/model/x"):  # the window's x values, in x's own units
        window = windows[event.step]
        assert (event.histogram_value.num, event.histogram_value.min, event.histogram_value.max) == pytest.approx(
            (len(window), window[0], window[-1]), rel=1e-6
        )


@pytest.fixture(scope="module")
def experiment(ray_local, tmp_path_factory):
    """A real 12-trial Tune run with PGSearcher and Tune's default loggers; its experiment dir."""
    from ray import tune

    storage = tmp_path_factory.mktemp("tb")
    tuner = tune.Tuner(
        train_known,
        param_space=SPACE,
        tune_config=tune.TuneConfig(
            search_alg=PGSearcher(seed=0, startup={"size": 4}),
            metric="loss",
            mode="min",
            num_samples=12,
            reuse_actors=True,
            max_concurrent_trials=2,
        ),
        run_config=tune.RunConfig(storage_path=str(storage), name="exp", verbose=0),
    )
    results = tuner.fit()
    assert len(results) == 12 and results.num_errors == 0
    return str(storage / "exp")


@pytest.fixture(scope="module")
def tensorboard_port(experiment):
    """A real ``tensorboard --logdir <experiment>`` on loopback; stopped by its PID afterwards."""
    port = tb.free_port()
    server = tb.start_tensorboard(experiment, port)
    yield port
    server.terminate()
    server.wait(timeout=30)


def test_a_tune_run_writes_policy_and_trial_events(experiment):
    assert glob.glob(os.path.join(experiment, "pgsearch", "events.out.tfevents.*"))
    policy = _accumulator(os.path.join(experiment, "pgsearch"))
    # 12 results, 11 updates: the first one is written, then at most one a second, and the last one
    # when Tune saves the searcher at the end of the run
    logged = [e.value for e in policy.Scalars("policy/updates")]
    assert logged[0] == 1 and logged[-1] == 11 and logged == sorted(set(logged))
    trial_dirs = [d for d in glob.glob(os.path.join(experiment, "train_known_*")) if os.path.isdir(d)]
    assert len(trial_dirs) == 12
    for trial_dir in trial_dirs:
        trial = _accumulator(trial_dir)
        assert "ray/tune/loss" in trial.Tags()[SCALARS]
        assert "_hparams_/experiment" in trial.PluginTagToContent("hparams")


@pytest.mark.integration
def test_tensorboard_serves_the_policy_next_to_the_trials(experiment, tensorboard_port):
    tags = tb.scalar_tags(tensorboard_port, tb.event_runs(experiment))
    assert len(tags) == 13  # 12 trials and the policy
    for tag in [
        "policy/model/x/mean",
        "policy/opt/lr/std",
        "policy/act/p_relu",
        "policy/act/entropy",
        "reward/baseline",
        "advantage/std",
        "policy/updates",
        "search/best",
    ]:
        assert tag in tags["pgsearch"]
    assert all("ray/tune/loss" in run_tags for run, run_tags in tags.items() if run != "pgsearch")


@pytest.mark.skipif(
    not os.path.exists(tb.CHROMIUM),
    reason=f"{tb.CHROMIUM} is missing: apt-get install -y --no-install-recommends chromium",
)
@pytest.mark.integration
def test_headless_chromium_screenshots_the_page(experiment, tensorboard_port, tmp_path):
    import matplotlib.image

    tb.scalar_tags(tensorboard_port, tb.event_runs(experiment))
    path = str(tmp_path / "tensorboard.png")
    tb.screenshot(tb.timeseries_url(tensorboard_port, "policy/act/p_"), path, size=(1000, 700))
    pixels = matplotlib.image.imread(path)
    assert pixels.shape[:2] == (700, 1000) and pixels.std() > 0.05  # a rendered page, not a blank one


def test_report_writes_the_figures(experiment, tmp_path):
    paths = write_report(experiment, str(tmp_path))
    assert [os.path.basename(p) for p in paths] == ["best_so_far.png", "policy_over_time.png", "final_policy.png"]
    for path in paths:
        assert os.path.getsize(path) > 10_000


def test_the_writer_writes_at_most_once_per_interval_and_the_latest_at_close(tmp_path):
    opt = PGOptimizer({"x": tune.uniform(-2.0, 2.0)}, seed=0, startup={"size": 2})
    writer = PolicyWriter(str(tmp_path), every_s=3600.0)
    opt.add_update_hook(writer)
    for _ in range(6):
        config = opt.ask()
        opt.tell(config, config["x"] ** 2)
    writer.close()
    logged = [e.step for e in _accumulator(str(tmp_path)).Scalars("policy/updates")]
    assert logged == [1, opt.view().n_updates]  # the first update, then the latest one at close


def test_the_writer_refuses_a_negative_interval(tmp_path):
    with pytest.raises(ValueError, match="every_s"):
        PolicyWriter(str(tmp_path), every_s=-1)


def test_the_searcher_refuses_a_negative_log_interval():
    with pytest.raises(ValueError, match="log_every_s"):
        PGSearcher(log_every_s=-1.0)
