"""Writes the best config of a finished Tune experiment to a JSON file (slurm/pgsearch.sbatch calls it).

    python slurm/best_config.py EXPERIMENT_DIR OUT.json [--metric accuracy] [--mode max]

Reads the experiment directory offline (no Ray cluster needed). The best trial is chosen by the
metric's last reported value, as ``ResultGrid.get_best_result`` does in the driver.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import tempfile


def summary(experiment_dir: str, metric: str, mode: str) -> dict:
    from ray.tune import ExperimentAnalysis

    analysis = ExperimentAnalysis(experiment_dir, default_metric=metric, default_mode=mode)
    best = analysis.get_best_trial(metric, mode, scope="last")
    return {
        "experiment_dir": os.path.abspath(experiment_dir),
        "metric": metric,
        "mode": mode,
        "best_value": None if best is None else best.last_result.get(metric),
        "best_config": None if best is None else best.config,
        "best_trial_id": None if best is None else best.trial_id,
        "num_trials": len(analysis.trials),
        "trial_status": dict(collections.Counter(t.status for t in analysis.trials)),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("experiment_dir")
    parser.add_argument("out")
    parser.add_argument("--metric", default="accuracy")
    parser.add_argument("--mode", default="max", choices=["min", "max"])
    args = parser.parse_args(argv)
    data = summary(args.experiment_dir, args.metric, args.mode)
    directory = os.path.dirname(os.path.abspath(args.out))
    with tempfile.NamedTemporaryFile("w", dir=directory, delete=False, suffix=".tmp") as f:
        json.dump(data, f, indent=2, default=str)
        f.write("\n")
    os.replace(f.name, args.out)
    print(f"best config ({args.metric}={data['best_value']}): {data['best_config']} -> {args.out}")


if __name__ == "__main__":
    main()
