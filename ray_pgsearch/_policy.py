"""The policy: all actors of a search space, sampled together and updated from one reward.

pi(x) = prod_j N(z_j | mu_j, sigma_j^2) * prod_k softmax(theta_k)[c_k], over the latent rows of
``SearchSpace``. ``update`` is REINFORCE with a rank-based advantage: every sample of the window
gets a utility from its reward's rank (centered, so the mean utility is the baseline), and each
actor takes a natural-gradient step on sum_i u_i log pi(x_i), over the samples it was active in.
"""

from __future__ import annotations

import functools

import numpy as np

from ._actors import CategoricalActors, GaussianActor
from ._settings import PolicySettings
from ._space import SearchSpace
from ._util import floor_logits, tie_counts

__all__ = ["Policy", "masked_utilities", "rank_utilities"]


@functools.lru_cache(maxsize=64)
def _cumulative_utilities(n: int) -> np.ndarray:
    """[0, u_(1), u_(1) + u_(2), ...]: running sums of the shaped utilities of ranks 1..n."""
    raw = np.maximum(0.0, np.log(n / 2.0 + 1.0) - np.log(np.arange(1, n + 1)))
    total = np.r_[0.0, np.cumsum(raw / raw.sum() - 1.0 / n)]
    total.flags.writeable = False
    return total


def rank_utilities(rewards: np.ndarray) -> np.ndarray:
    """NES fitness shaping: u_(k) proportional to max(0, log(n/2 + 1) - log k) for the k-th best
    reward, normalized to sum to 1, minus 1/n so the utilities sum to zero (ties share a rank)."""
    total = _cumulative_utilities(rewards.size)
    below, equal = tie_counts(rewards)
    end = rewards.size - below  # best first, a reward and its equals hold ranks [end - equal, end)
    return (total[end] - total[end - equal]) / equal  # equal rewards share their mean utility


def masked_utilities(rewards: np.ndarray, active: np.ndarray) -> np.ndarray:
    """(n, dim) utilities: column j holds the rank utilities of the rewards of the rows where
    parameter j was active (0 elsewhere); columns with the same pattern share one computation."""
    u = np.zeros(active.shape)
    patterns, column_pattern = np.unique(active, axis=1, return_inverse=True)
    for k in range(patterns.shape[1]):
        rows = patterns[:, k]
        if rows.sum() >= 2:
            u[np.ix_(rows, column_pattern.ravel() == k)] = rank_utilities(rewards[rows])[:, None]
    return u


class Policy:
    """One Gaussian actor over the numeric latents and a softmax over each choice's categories."""

    def __init__(self, space: SearchSpace, settings: PolicySettings):
        self.settings = settings
        self.n_numeric = space.n_numeric
        self._sizes = space.category_sizes
        self.n_updates = 0
        self.reset()

    def reset(self) -> None:
        """Back to the cold start: every Gaussian at the middle of its range, every choice uniform
        (the count of updates goes on: it is TensorBoard's step)."""
        s = self.settings
        self.gaussian = GaussianActor(self.n_numeric, 0.5, s.init_std, s.min_std, s.max_std)
        self.categorical = CategoricalActors(self._sizes, s.max_prob_ratio)

    def state(self) -> dict[str, np.ndarray | int]:
        return {
            "mean": self.gaussian.mean.copy(),
            "log_std": self.gaussian.log_std.copy(),
            "logits": self.categorical.logits.copy(),
            "n_updates": self.n_updates,
        }

    def load(self, state: dict) -> None:
        self.gaussian.mean, self.gaussian.log_std = state["mean"].copy(), state["log_std"].copy()
        self.categorical.logits = state["logits"].copy()
        self.n_updates = int(state["n_updates"])

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """(n, dim) latent rows x ~ pi."""
        return np.hstack([self.gaussian.sample(rng, n), self.categorical.sample(rng, n)])

    def log_prob(self, x: np.ndarray) -> np.ndarray:
        """log pi(x) for each row: the actors' log-probabilities add up."""
        return self.gaussian.log_prob(x[:, : self.n_numeric]) + self.categorical.log_prob(x[:, self.n_numeric :]).sum(1)

    def start_from(self, mean: np.ndarray, std: np.ndarray, logits: list[np.ndarray | None]) -> None:
        """Starts from an earlier search's policy where it has one (NaN or None: keep the cold start)."""
        known = ~np.isnan(mean)
        self.gaussian.mean[known] = np.clip(mean[known], 0.0, 1.0)
        self.gaussian.log_std[known] = np.clip(np.log(std[known]), self.gaussian.min_log_std, self.gaussian.max_log_std)
        for choice, theta in zip(self.categorical, logits, strict=True):
            if theta is not None:
                choice.logits[:] = floor_logits(np.asarray(theta, dtype=float), self.categorical.max_prob_ratio)

    def update(self, x: np.ndarray, rewards: np.ndarray, active: np.ndarray) -> np.ndarray:
        """One policy-gradient step on the window (x_i, r_i); ``active`` (n, dim) says which
        parameters each sample used: an actor learns only from the samples it was active in.
        Returns the utilities of the whole window (for logging)."""
        s = self.settings
        window_u = rank_utilities(rewards)  # advantage A_i = u(rank of r_i), baseline = mean utility
        # an actor active in only some rows ranks those rows among themselves: A_ij
        u = np.broadcast_to(window_u[:, None], active.shape) if active.all() else masked_utilities(rewards, active)
        self.gaussian.update(x[:, : self.n_numeric], u[:, : self.n_numeric], s.lr_mean, s.lr_std, s.entropy_coef)
        cat = slice(self.n_numeric, None)
        self.categorical.update(x[:, cat], u[:, cat], active[:, cat], s.lr_logits, s.entropy_coef)
        self.n_updates += 1
        return window_u
