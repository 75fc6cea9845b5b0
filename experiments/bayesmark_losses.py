"""The lab's bayesmark losses against bayesmark 0.0.8 itself, unmodified, in the environment it was written for.

    python -m experiments.bayesmark_losses --python /path/to/old-venv/bin/python --configs 5

The lab runs bayesmark's problems on numpy 2 / scikit-learn 1.9 through shims (`experiments.lab.suites.bayesmark`):
the regressors' `normalize` flag reproduced by `L2Normalizer`, the `lasso` / `linear` classifiers' liblinear
one-vs-rest by `OneVsRestClassifier`, and `random_state=0` for every model that takes one. This draws `--configs`
seeded Tune configs per problem of the bayesmark suite, computes the lab's loss of each here, then runs
`bayesmark.sklearn_funcs.SklearnModel(model, dataset, metric).evaluate(params)` on the same model parameters in
another interpreter (`--python`) where bayesmark 0.0.8 runs as it is (numpy < 2, scikit-learn < 1.2, e.g.
`pip install numpy==1.26.4 scipy==1.11.4 scikit-learn==1.1.3 pandas==2.1.4` and `pip install --no-deps
bayesmark==0.0.8`), changing only `random_state=0` in the fixed parameters of models that take one, and writes
the differences to `<out>/bayesmark_score/losses.md`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np

from experiments.lab import cli, render
from experiments.lab.suites import SUITES, get_objective
from experiments.lab.suites.bayesmark import model_params

# Runs in the other interpreter: reads [[model, dataset, metric, params], ...] on stdin, prints the package's
# cross-validated losses and its versions as JSON.
PACKAGE_SIDE = """
import json, sys, warnings
import numpy, sklearn
import bayesmark.sklearn_funcs as sf

warnings.simplefilter("ignore")
losses, models = [], {}
for model, dataset, metric, params in json.load(sys.stdin):
    key = (model, dataset, metric)
    if key not in models:
        problem = sf.SklearnModel(model, dataset, metric)
        if "random_state" in problem.base_model().get_params():
            problem.fixed_params = dict(problem.fixed_params, random_state=0)
        models[key] = problem
    losses.append(models[key].evaluate(params)[0])
versions = {"numpy": numpy.__version__, "scikit-learn": sklearn.__version__}
print(json.dumps({"losses": losses, "versions": versions}))
"""


def main(argv: list[str] | None = None) -> None:
    """Compare the lab's losses with the package's on the same parameters; write losses.md."""
    parser = cli.parser(__doc__)
    parser.add_argument("--python", required=True, help="an interpreter where bayesmark 0.0.8 runs unmodified")
    parser.add_argument("--configs", type=int, default=5, help="seeded configs per problem (default 5)")
    parser.add_argument("--tolerance", type=float, default=1e-9, help="largest relative difference that passes")
    cli.add_output(parser, cache=False)
    args = parser.parse_args(argv)
    cli.resolve_output(args, "bayesmark_losses")
    start = time.time()
    rows = []
    for name in SUITES["bayesmark"].names:
        objective = get_objective(name)
        rng = np.random.default_rng(0)
        for _ in range(args.configs):
            config = {k: d.sample(random_state=rng) for k, d in objective.space.items()}
            params = model_params(objective.space, config)
            rows.append((name, objective.fn, params, float(objective.fn(config))))
    request = [[fn.model, fn.dataset, fn.metric, params] for _, fn, params, _ in rows]
    done = subprocess.run(
        [args.python, "-c", PACKAGE_SIDE], input=json.dumps(request), capture_output=True, text=True, check=True
    )
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    table, worst = [], 0.0
    for (name, _, params, lab), package in zip(rows, answer["losses"], strict=True):
        relative = abs(lab - package) / max(abs(package), 1e-300)
        worst = max(worst, relative)
        shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())
        table.append([name, shown, f"{lab:.10g}", f"{package:.10g}", f"{relative:.1e}"])
    versions = ", ".join(f"{k} {v}" for k, v in answer["versions"].items())
    lines = render.header("bayesmark_losses", "The lab's bayesmark losses against bayesmark 0.0.8 itself", argv)
    lines += [
        f"The package side ran bayesmark 0.0.8 unmodified on {versions} (`{args.python}`), with only "
        "`random_state=0` added to the fixed parameters of models that take one; the lab side ran "
        "`experiments.lab.suites.bayesmark` here. Same model parameters, "
        f"{args.configs} seeded configs per problem. Largest relative difference: {worst:.1e} "
        f"({'within' if worst <= args.tolerance else 'OVER'} the tolerance {args.tolerance:g}). "
        f"Wall time: {(time.time() - start) / 60:.1f} min.",
        "",
    ]
    lines += render.table(["problem", "parameters", "lab loss", "bayesmark's loss", "relative difference"], table)
    out = args.out / "bayesmark_score"
    out.mkdir(parents=True, exist_ok=True)
    (out / "losses.md").write_text("\n".join(lines))
    print("\n".join(lines))
    if worst > args.tolerance:
        sys.exit(1)


if __name__ == "__main__":
    main()
