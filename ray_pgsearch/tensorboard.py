"""TensorBoard logging of the policy: a ``PolicyWriter`` is an update hook of ``PGOptimizer``.

``PGSearcher`` attaches one (to ``log_dir``, or ``<experiment>/pgsearch`` inside Tune); with the
ask/tell core, ``opt.add_update_hook(PolicyWriter(log_dir))`` does the same. It reads the search
through its ``SearchView`` only. Event steps count policy updates (step = ``view.n_updates``); the
writer writes the latest at most once a second.
The tags (built by the functions below, the one place that names them), for a numeric parameter
``<p>`` (a Gaussian N(mu, sigma^2) on its latent z):

* ``policy/<p>/mean``: ``decode(mu)``, the mean mapped to the parameter's own units (for a log
  domain this is the geometric centre of the Gaussian's mass, for an integer its bin);
* ``policy/<p>/lower`` and ``policy/<p>/upper``: ``decode(mu - sigma)`` and ``decode(mu + sigma)``,
  the one-sigma interval in the parameter's units (z clamped to [0, 1] by ``decode``);
* ``policy/<p>/std``: ``(upper - lower) / 2``, the half-width of that interval;
* ``latent/<p>/mean`` and ``latent/<p>/std``: mu and sigma themselves;
* ``policy/<p>/entropy``: the Gaussian's entropy on z, log sigma + log(2 pi e) / 2 (nats).

For a ``tune.choice`` ``<c>``: ``policy/<c>/p_<category>`` (the softmax probabilities, the
category written with ``str``) and ``policy/<c>/entropy`` (nats).

For the update itself: ``reward/baseline`` (the mean raw reward of the window the update used;
reward = -metric for mode "min", +metric for "max"), ``advantage/mean|std|min|max`` (statistics of
the rank-based utilities of that window, whose mean is 0 by construction), ``policy/updates``,
``search/trials`` (finite results told) and ``search/best`` (best metric value, in its own sign).
Once a trial failed: ``failures/crashed`` (trials that raised or reported NaN or inf),
``failures/rate`` (their share of the trials that failed or finished) and ``failures/predicted``
(the failure model's probability that the config asked last fails).
With a warm start: ``warm_start/weight`` (the earlier results' total weight in the model, in
results) and ``warm_start/trust`` (how far this search's results agree with the earlier ranking, 0
to 1); release 0.2 named them ``prior/weight`` and ``prior/trust``, which are written too until the
next release. Histograms ``window/<p>`` hold the window's values of each numeric parameter in its
own units.
"""

from __future__ import annotations

import math
import time
import warnings
from typing import Any

import numpy as np

from ._util import seconds
from ._view import SearchView

__all__ = [
    "BASELINE_TAG",
    "BEST_TAG",
    "CRASHED_TAG",
    "FAILURE_ESTIMATE_TAG",
    "FAILURE_RATE_TAG",
    "TRIALS_TAG",
    "UPDATES_TAG",
    "WARM_START_TRUST_TAG",
    "WARM_START_WEIGHT_TAG",
    "PolicyWriter",
    "category_tag",
    "numeric_tag",
    "policy_scalars",
]

BASELINE_TAG = "reward/baseline"
UPDATES_TAG = "policy/updates"
TRIALS_TAG = "search/trials"
BEST_TAG = "search/best"
CRASHED_TAG = "failures/crashed"
FAILURE_RATE_TAG = "failures/rate"
FAILURE_ESTIMATE_TAG = "failures/predicted"
WARM_START_WEIGHT_TAG = "warm_start/weight"
WARM_START_TRUST_TAG = "warm_start/trust"
_RENAMED_TAGS = {"prior/weight": WARM_START_WEIGHT_TAG, "prior/trust": WARM_START_TRUST_TAG}
_RENAMED = {"PRIOR_WEIGHT_TAG": "WARM_START_WEIGHT_TAG", "PRIOR_TRUST_TAG": "WARM_START_TRUST_TAG"}


def __getattr__(name: str) -> Any:
    if name in _RENAMED:
        warnings.warn(f"{name} is now {_RENAMED[name]}", DeprecationWarning, stacklevel=2)
        return globals()[_RENAMED[name]]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def numeric_tag(name: str, field: str) -> str:
    """The tag of a numeric parameter's ``field``: mean, lower, upper, std or entropy (decoded
    units), or latent_mean / latent_std (latent units)."""
    if field.startswith("latent_"):
        return f"latent/{name}/{field[len('latent_') :]}"
    return f"policy/{name}/{field}"


def category_tag(name: str, category: Any) -> str:
    """The tag of one category's probability."""
    return f"policy/{name}/p_{category}"


def policy_scalars(view: SearchView, utilities: np.ndarray) -> dict[str, float]:
    """The scalar tags above and their values for the search's current state."""
    scalars: dict[str, float] = {}
    for p in view.numeric:
        scalars[numeric_tag(p.name, "mean")] = p.centre
        scalars[numeric_tag(p.name, "lower")] = p.lower
        scalars[numeric_tag(p.name, "upper")] = p.upper
        scalars[numeric_tag(p.name, "std")] = p.half_width
        scalars[numeric_tag(p.name, "latent_mean")] = p.latent_mean
        scalars[numeric_tag(p.name, "latent_std")] = p.latent_std
        scalars[numeric_tag(p.name, "entropy")] = p.entropy
    for c in view.choices:
        for category, probability in zip(c.categories, c.probabilities, strict=True):
            scalars[category_tag(c.name, category)] = probability
        scalars[numeric_tag(c.name, "entropy")] = c.entropy
    scalars[BASELINE_TAG] = float(np.mean(view.rewards))
    scalars["advantage/mean"] = float(np.mean(utilities))
    scalars["advantage/std"] = float(np.std(utilities))
    scalars["advantage/min"] = float(np.min(utilities))
    scalars["advantage/max"] = float(np.max(utilities))
    scalars[UPDATES_TAG] = float(view.n_updates)
    scalars[TRIALS_TAG] = float(view.n_told)
    if view.best_value is not None:  # None only with several objectives
        scalars[BEST_TAG] = float(view.best_value)
    if view.n_crashed:
        scalars[CRASHED_TAG] = float(view.n_crashed)
        scalars[FAILURE_RATE_TAG] = view.failure_rate
        if view.failure_estimate is not None:
            scalars[FAILURE_ESTIMATE_TAG] = view.failure_estimate
    warm = view.warm_start
    if warm is not None:
        scalars[WARM_START_WEIGHT_TAG] = warm.weight
        scalars[WARM_START_TRUST_TAG] = warm.trust
        for old, new in _RENAMED_TAGS.items():
            scalars[old] = scalars[new]
    return scalars


class PolicyWriter:
    """An update hook that writes ``policy_scalars`` and the window histograms to ``log_dir``, at
    most once every ``every_s`` seconds (a write costs milliseconds; trials may end faster than
    that), flushed at once so TensorBoard (and Tune's sync of the experiment directory) sees each
    write. An update that came too soon is written by the next write, ``flush`` or ``close``
    (``every_s=0``: every update). The event file is opened at the first write."""

    def __init__(self, log_dir: str, every_s: float = 1.0):
        self.log_dir = log_dir
        self.every_s = seconds("every_s", every_s)
        self._writer: Any = None
        self._latest: tuple[SearchView, np.ndarray] | None = None  # an update not written yet
        self._written_at = -math.inf

    def __call__(self, view: SearchView, utilities: np.ndarray) -> None:
        self._latest = (view, utilities)
        if time.monotonic() - self._written_at >= self.every_s:
            self.flush()

    def flush(self) -> None:
        """Writes the latest update if it is not written yet."""
        if self._latest is None:
            return
        view, utilities = self._latest
        self._latest = None
        if self._writer is None:
            from tensorboardX import SummaryWriter

            self._writer = SummaryWriter(self.log_dir)
        step = view.n_updates
        for tag, value in policy_scalars(view, utilities).items():
            self._writer.add_scalar(tag, value, step)
        for p in view.numeric:
            self._writer.add_histogram(f"window/{p.name}", view.values(p.name), step)
        self._writer.flush()
        self._written_at = time.monotonic()

    def close(self) -> None:
        """Writes the latest update and closes the event file."""
        self.flush()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
