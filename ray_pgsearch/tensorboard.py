"""TensorBoard logging of the policy: what PGOptimizer writes after each update.

One event step per policy update (step = ``policy.n_updates``). The tags, for a numeric parameter
``<p>`` (a Gaussian N(mu, sigma^2) on its latent z in [0, 1]):

* ``policy/<p>/mean``: ``decode(mu)``, the mean mapped to the parameter's own units (for a log
  domain this is the geometric centre of the Gaussian's mass, for an integer its bin);
* ``policy/<p>/lower`` and ``policy/<p>/upper``: ``decode(mu - sigma)`` and ``decode(mu + sigma)``,
  the one-sigma interval in the parameter's units (z clamped to [0, 1] by ``decode``);
* ``policy/<p>/std``: ``(upper - lower) / 2``, the half-width of that interval, which equals
  ``sigma * (upper bound - lower bound)`` for a uniform float domain away from the edges;
* ``latent/<p>/mean`` and ``latent/<p>/std``: mu and sigma themselves;
* ``policy/<p>/entropy``: the Gaussian's entropy on z, log sigma + log(2 pi e) / 2 (nats).

For a ``tune.choice`` ``<c>``: ``policy/<c>/p_<category>`` (the softmax probabilities, the
category written with ``str``) and ``policy/<c>/entropy`` (nats).

For the update itself: ``reward/baseline`` (the mean raw reward of the window the update used;
reward = -metric for mode "min", +metric for "max"), ``advantage/mean|std|min|max`` (statistics of
the rank-based utilities of that window, whose mean is 0 by construction), ``policy/updates``,
``search/trials`` (finite results told) and ``search/best`` (best metric value, in its own sign).
Histograms ``window/<p>`` hold the window's values of each numeric parameter in its own units.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from tensorboardX import SummaryWriter

from .space import path_str

if TYPE_CHECKING:
    from .optimizer import PGOptimizer


def policy_scalars(opt: PGOptimizer, utilities: np.ndarray) -> dict[str, float]:
    """The scalar tags above and their values for the optimizer's current state."""
    policy = opt.policy
    _, rewards = opt.window.arrays()
    scalars: dict[str, float] = {}
    mean, std, entropy = policy.gaussian.mean, policy.gaussian.std, policy.gaussian.entropy()
    for j, param in enumerate(opt.space.numeric):
        name = path_str(param.path)
        lower, upper = float(param.decode(mean[j] - std[j])), float(param.decode(mean[j] + std[j]))
        scalars[f"policy/{name}/mean"] = float(param.decode(mean[j]))
        scalars[f"policy/{name}/lower"] = lower
        scalars[f"policy/{name}/upper"] = upper
        scalars[f"policy/{name}/std"] = (upper - lower) / 2.0
        scalars[f"latent/{name}/mean"] = float(mean[j])
        scalars[f"latent/{name}/std"] = float(std[j])
        scalars[f"policy/{name}/entropy"] = float(entropy[j])
    for param, actor in zip(opt.space.categorical, policy.categorical):
        name = path_str(param.path)
        for category, p in zip(param.categories, actor.probs):
            scalars[f"policy/{name}/p_{category}"] = float(p)
        scalars[f"policy/{name}/entropy"] = actor.entropy()
    scalars["reward/baseline"] = float(np.mean(rewards))
    scalars["advantage/mean"] = float(np.mean(utilities))
    scalars["advantage/std"] = float(np.std(utilities))
    scalars["advantage/min"] = float(np.min(utilities))
    scalars["advantage/max"] = float(np.max(utilities))
    scalars["policy/updates"] = float(policy.n_updates)
    scalars["search/trials"] = float(opt.n_told)
    if opt.best_value is not None:  # None only with several objectives
        scalars["search/best"] = float(opt.best_value)
    return scalars


class PolicyWriter:
    """Writes ``policy_scalars`` and the window histograms to ``log_dir`` at every update, flushed
    at once so TensorBoard (and Tune's sync of the experiment directory) sees each step."""

    def __init__(self, log_dir: str):
        self.log_dir = log_dir
        self._writer = SummaryWriter(log_dir)

    def write(self, opt: PGOptimizer, utilities: np.ndarray) -> None:
        step = opt.policy.n_updates
        for tag, value in policy_scalars(opt, utilities).items():
            self._writer.add_scalar(tag, value, step)
        rows, _ = opt.window.arrays()
        for j, param in enumerate(opt.space.numeric):
            values = np.array([param.decode(z) for z in rows[:, j]], dtype=float)
            self._writer.add_histogram(f"window/{path_str(param.path)}", values, step)
        self._writer.flush()
