"""The README's TensorBoard screenshot: trials and the PGSearcher policy side by side.

    python -m experiments.tensorboard_screenshot                  # a 40-trial demo on mixed_bowls
    python -m experiments.tensorboard_screenshot <experiment_dir> # an existing Tune experiment

Starts ``tensorboard --logdir <experiment_dir>`` on loopback, waits until its HTTP API lists the
policy's scalars, and has headless Chromium (Debian's ``chromium`` package) save the Time Series
page, filtered to a few policy and trial tags, to ``experiments/results/tensorboard.png``.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

from experiments.lab.cluster import free_port

CHROMIUM = "/usr/bin/chromium"
# the policy's means and category probabilities of top-level parameters, trial losses, best so far
TAG_FILTER = r"policy/[^/]+/(mean|p_.*)$|ray/tune/loss|search/best"


def start_tensorboard(logdir: str, port: int) -> subprocess.Popen:
    """``tensorboard --logdir`` on 127.0.0.1:port, from this interpreter's environment."""
    command = [
        os.path.join(os.path.dirname(sys.executable), "tensorboard"),
        "--logdir",
        logdir,
        "--port",
        str(port),
        "--host",
        "127.0.0.1",
    ]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def event_runs(logdir: str) -> set[str]:
    """The runs TensorBoard makes of ``logdir``: the folders (relative to it) with event files."""
    files = glob.glob(os.path.join(logdir, "**", "events.out.tfevents.*"), recursive=True)
    return {os.path.relpath(os.path.dirname(f), logdir) for f in files}


def scalar_tags(port: int, runs: set[str], timeout: float = 60.0) -> dict[str, dict]:
    """TensorBoard's ``/data/plugin/scalars/tags`` (run -> tag -> metadata), polled until every run
    of ``runs`` is listed (TensorBoard loads them one by one) or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/data/plugin/scalars/tags", timeout=5) as r:
                tags = json.load(r)
            if runs <= tags.keys():
                return tags
        except (urllib.error.URLError, ConnectionError):
            pass  # not listening yet
        if time.monotonic() > deadline:
            raise TimeoutError(f"TensorBoard on port {port} did not list all of {sorted(runs)} within {timeout} s")
        time.sleep(0.5)


def screenshot(url: str, path: str, size: tuple[int, int] = (1400, 1800)) -> None:
    """Headless Chromium's screenshot of ``url`` after 15 s of page time. WebGL is off so that
    TensorBoard draws its charts with SVG, which headless Chromium renders reliably."""
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-webgl",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                f"--screenshot={os.path.abspath(path)}",
                f"--window-size={size[0]},{size[1]}",
                "--virtual-time-budget=15000",
                url,
            ],
            check=True,
            timeout=120,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )


def timeseries_url(port: int, tag_filter: str = TAG_FILTER) -> str:
    """TensorBoard's Time Series page with its tag filter (a regex) set."""
    return f"http://127.0.0.1:{port}/?tagFilter={urllib.parse.quote(tag_filter, safe='')}#timeseries"


def capture(experiment_dir: str, path: str, tag_filter: str = TAG_FILTER) -> None:
    """Serve ``experiment_dir`` with TensorBoard and save the screenshot of the tags that match."""
    port = free_port()
    server = start_tensorboard(experiment_dir, port)
    try:
        scalar_tags(port, event_runs(experiment_dir))
        screenshot(timeseries_url(port, tag_filter), path)
    finally:
        server.terminate()
        server.wait(timeout=30)


def train_mixed_bowls(config: dict) -> None:
    from ray import tune

    from experiments.lab.objectives import mixed_bowls

    tune.report({"loss": mixed_bowls(config)})


def run_demo(storage_path: str, num_samples: int = 40) -> str:
    """A small PGSearcher run on the mixed_bowls objective; returns its experiment directory."""
    import ray
    from ray import tune

    from experiments.lab.objectives import OBJECTIVES
    from ray_pgsearch import PGSearcher

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        tuner = tune.Tuner(
            train_mixed_bowls,
            param_space=OBJECTIVES["mixed_bowls"].space,
            tune_config=tune.TuneConfig(
                search_alg=PGSearcher(seed=0),
                metric="loss",
                mode="min",
                num_samples=num_samples,
                reuse_actors=True,
                max_concurrent_trials=2,
            ),
            run_config=tune.RunConfig(storage_path=storage_path, name="mixed_bowls", verbose=0),
        )
        tuner.fit()
    finally:
        ray.shutdown()
    return os.path.join(storage_path, "mixed_bowls")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("experiment_dir", nargs="?", help="a Tune experiment searched by PGSearcher (default: demo)")
    parser.add_argument("--out", default=os.path.join("experiments", "results", "tensorboard.png"))
    parser.add_argument("--tags", default=TAG_FILTER, help="regex of the tags to show (default: %(default)s)")
    args = parser.parse_args()
    if not os.path.exists(CHROMIUM):
        sys.exit(f"{CHROMIUM} is missing: apt-get install -y --no-install-recommends chromium")
    if args.experiment_dir:
        capture(args.experiment_dir, args.out, args.tags)
    else:
        storage = tempfile.mkdtemp(prefix="pgsearch-demo-")
        try:
            capture(run_demo(storage), args.out, args.tags)
        finally:
            shutil.rmtree(storage)
    print(args.out)


if __name__ == "__main__":
    main()
