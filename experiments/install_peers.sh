#!/usr/bin/env bash
# Install the external suites and peer searchers of experiments/external.py into the project's venv
# without moving its core packages (numpy, scipy, pandas, scikit-learn, torch, ray, optuna, hyperopt,
# nevergrad, matplotlib are pinned to what is installed). Idempotent: rerunning it changes nothing.
#
#   bash experiments/install_peers.sh            # uses .venv/bin/python, or $PYTHON
#
# Why the odd steps:
# - bayesmark 0.0.8 pins 2020 packages that do not install next to numpy 2: it goes in with --no-deps
#   (experiments/lab/suites/bayesmark.py shims what changed; it needs only numpy, scipy, pandas, scikit-learn).
# - HEBO 0.3.6 pins numpy < 1.25 and pymoo 0.6.0 (the resolver backtracks for minutes and fails): its
#   wheel goes in with --no-deps, then the imports its default GP model needs. pymoo 0.6.0.1 pins
#   cma 3.2.2; Nevergrad uses cma too, so cma is put back to the version that was there.
# - Ray 2.60's AxSearch reads `Objective.metric`, which ax-platform 1.3 removed: ax-platform 1.2.4.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
PIP=("$PYTHON" -m pip install --disable-pip-version-check -q)

constraints=$(mktemp)
trap 'rm -f "$constraints"' EXIT
"$PYTHON" - "$constraints" <<'EOF'
import sys
from importlib import metadata

core = ["numpy", "scipy", "pandas", "scikit-learn", "torch", "ray", "optuna", "hyperopt", "nevergrad", "matplotlib"]
with open(sys.argv[1], "w") as out:
    for name in core:
        try:
            out.write(f"{name}=={metadata.version(name)}\n")
        except metadata.PackageNotFoundError:
            pass
EOF
cma_before=$("$PYTHON" -c "from importlib import metadata; print(metadata.version('cma'))" 2>/dev/null || true)

# Suites: COCO (bbob, bbob-mixint) and bayesmark's problem definitions.
"${PIP[@]}" -c "$constraints" coco-experiment==2.8.2
"${PIP[@]}" --no-deps bayesmark==0.0.8
# BOHB's model (TuneBOHB) and SMAC3.
"${PIP[@]}" -c "$constraints" hpbandster==0.7.4 ConfigSpace==1.2.2 smac==2.4.1
# HEBO: the wheel without its pins, then what its default GP model imports.
"${PIP[@]}" --no-deps hebo==0.3.6
"${PIP[@]}" -c "$constraints" gpytorch==1.15.2 linear_operator==0.6.1 disjoint-set==0.9.0 networkx "pymoo==0.6.0.1"
# Ax / BoTorch for Ray's AxSearch.
"${PIP[@]}" -c "$constraints" "pymoo==0.6.0.1" ax-platform==1.2.4 botorch==0.17.2
if [ -n "$cma_before" ]; then
    "${PIP[@]}" --no-deps "cma==$cma_before"
fi

"$PYTHON" - <<'EOF'
import cocoex  # noqa: F401
import hebo.optimizers.hebo  # noqa: F401
import hpbandster  # noqa: F401
import smac  # noqa: F401
from ray.tune.search.ax import AxSearch  # noqa: F401
from ray.tune.search.bohb import TuneBOHB  # noqa: F401
from ray.tune.search.hebo import HEBOSearch  # noqa: F401

from experiments.lab.suites.bayesmark import import_bayesmark

import_bayesmark()
print("peers and suites import")
EOF
