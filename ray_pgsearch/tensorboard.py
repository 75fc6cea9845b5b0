"""TensorBoard logging of the policy: a ``PolicyWriter`` is an update hook of ``PGOptimizer``.

``PGSearcher`` attaches one (to ``log_dir``, or ``<experiment>/pgsearch`` inside Tune); with the
ask/tell core, ``opt.add_update_hook(PolicyWriter(log_dir))`` does the same. Event steps count
policy updates (step = ``policy.n_updates``); the writer writes the latest at most once a second.
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
``search/trials`` (finite results told), ``search/best`` (best metric value, in its own sign) and
``search/restarts`` (times the search started over after ``restart_after`` results without a new best).
With a prior (a warm start): ``prior/weight`` (the earlier results' total weight in the model, in
results) and ``prior/trust`` (how far this search's results agree with the prior's ranking, 0 to 1).
Histograms ``window/<p>`` hold the window's values of each numeric parameter in its own units.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from ._util import path_str, seconds

if TYPE_CHECKING:
    from ._optimizer import PGOptimizer

__all__ = [
    "BASELINE_TAG",
    "BEST_TAG",
    "PRIOR_TRUST_TAG",
    "PRIOR_WEIGHT_TAG",
    "TRIALS_TAG",
    "UPDATES_TAG",
    "PolicyWriter",
    "category_tag",
    "numeric_tag",
    "policy_scalars",
]

BASELINE_TAG = "reward/baseline"
UPDATES_TAG = "policy/updates"
TRIALS_TAG = "search/trials"
BEST_TAG = "search/best"
RESTARTS_TAG = "search/restarts"
PRIOR_WEIGHT_TAG = "prior/weight"
PRIOR_TRUST_TAG = "prior/trust"


def numeric_tag(name: str, field: str) -> str:
    """The tag of a numeric parameter's ``field``: mean, lower, upper, std or entropy (decoded
    units), or latent_mean / latent_std (latent units)."""
    if field.startswith("latent_"):
        return f"latent/{name}/{field[len('latent_') :]}"
    return f"policy/{name}/{field}"


def category_tag(name: str, category: Any) -> str:
    """The tag of one category's probability."""
    return f"policy/{name}/p_{category}"


def policy_scalars(opt: PGOptimizer, utilities: np.ndarray) -> dict[str, float]:
    """The scalar tags above and their values for the optimizer's current state."""
    policy = opt.policy
    _, rewards = opt.window.arrays()
    scalars: dict[str, float] = {}
    mean, std, entropy = policy.gaussian.mean, policy.gaussian.std, policy.gaussian.entropy()
    for j, param in enumerate(opt.space.numeric):
        name = path_str(param.path)
        lower, upper = float(param.decode(mean[j] - std[j])), float(param.decode(mean[j] + std[j]))
        scalars[numeric_tag(name, "mean")] = float(param.decode(mean[j]))
        scalars[numeric_tag(name, "lower")] = lower
        scalars[numeric_tag(name, "upper")] = upper
        scalars[numeric_tag(name, "std")] = (upper - lower) / 2.0
        scalars[numeric_tag(name, "latent_mean")] = float(mean[j])
        scalars[numeric_tag(name, "latent_std")] = float(std[j])
        scalars[numeric_tag(name, "entropy")] = float(entropy[j])
    for choice, actor in zip(opt.space.categorical, policy.categorical, strict=True):
        name = path_str(choice.path)
        for category, p in zip(choice.categories, actor.probs, strict=True):
            scalars[category_tag(name, category)] = float(p)
        scalars[numeric_tag(name, "entropy")] = actor.entropy()
    scalars[BASELINE_TAG] = float(np.mean(rewards))
    scalars["advantage/mean"] = float(np.mean(utilities))
    scalars["advantage/std"] = float(np.std(utilities))
    scalars["advantage/min"] = float(np.min(utilities))
    scalars["advantage/max"] = float(np.max(utilities))
    scalars[UPDATES_TAG] = float(policy.n_updates)
    scalars[TRIALS_TAG] = float(opt.n_told)
    scalars[RESTARTS_TAG] = float(opt.n_restarts)
    if opt.best_value is not None:  # None only with several objectives
        scalars[BEST_TAG] = float(opt.best_value)
    if opt.prior is not None:
        scalars[PRIOR_WEIGHT_TAG] = opt.prior_weight
        scalars[PRIOR_TRUST_TAG] = opt.prior_trust
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
        self._latest: tuple[PGOptimizer, np.ndarray] | None = None  # an update not written yet
        self._written_at = -math.inf

    def __call__(self, opt: PGOptimizer, utilities: np.ndarray) -> None:
        self._latest = (opt, utilities)
        if time.monotonic() - self._written_at >= self.every_s:
            self.flush()

    def flush(self) -> None:
        """Writes the latest update if it is not written yet."""
        if self._latest is None:
            return
        opt, utilities = self._latest
        self._latest = None
        if self._writer is None:
            from tensorboardX import SummaryWriter

            self._writer = SummaryWriter(self.log_dir)
        step = opt.policy.n_updates
        for tag, value in policy_scalars(opt, utilities).items():
            self._writer.add_scalar(tag, value, step)
        rows, _ = opt.window.arrays()
        for j, param in enumerate(opt.space.numeric):
            values = np.array([param.decode(z) for z in rows[:, j]], dtype=float)
            self._writer.add_histogram(f"window/{path_str(param.path)}", values, step)
        self._writer.flush()
        self._written_at = time.monotonic()

    def close(self) -> None:
        self.flush()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
