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
from ._settings import Settings
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
    """One Gaussian actor over the numeric latents and a softmax over each choice's categories; with
    ``policy_components`` K > 1, a mixture of K such components with equal weights,
    pi(x) = (1/K) sum_k pi_k(x), each component learning from the window's results it explains best
    (hard EM: x_i goes to argmax_k pi_k(x_i)). ``gaussian`` and ``categorical`` are component 0."""

    def __init__(self, space: SearchSpace, settings: Settings, rng: np.random.Generator | None = None):
        self.settings = settings
        self.n_numeric = space.n_numeric
        self.gaussian = GaussianActor(space.n_numeric, 0.5, settings.init_std, settings.min_std, settings.max_std)
        self.categorical = CategoricalActors(space.category_sizes, settings.max_prob_ratio)
        # the other components start at means spread over the middle of the box, so that they split the window
        self.extra: list[tuple[GaussianActor, CategoricalActors]] = []
        for _ in range(settings.policy_components - 1):
            assert rng is not None, "a mixture policy needs a random generator for its starting means"
            gaussian = GaussianActor(space.n_numeric, 0.5, settings.init_std, settings.min_std, settings.max_std)
            gaussian.mean = rng.uniform(0.25, 0.75, space.n_numeric)
            self.extra.append((gaussian, CategoricalActors(space.category_sizes, settings.max_prob_ratio)))
        self.n_updates = 0

    @property
    def components(self) -> list[tuple[GaussianActor, CategoricalActors]]:
        return [(self.gaussian, self.categorical), *getattr(self, "extra", [])]

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """(n, dim) latent rows x ~ pi (a component drawn uniformly for each row)."""
        components = self.components
        if len(components) == 1:
            return np.hstack([self.gaussian.sample(rng, n), self.categorical.sample(rng, n)])
        which = rng.integers(0, len(components), n)
        rows = np.empty((n, self.n_numeric + len(self.categorical)))
        for k, (gaussian, categorical) in enumerate(components):
            mine = which == k
            m = int(mine.sum())
            rows[mine] = np.hstack([gaussian.sample(rng, m), categorical.sample(rng, m)])
        return rows

    def _component_log_probs(self, x: np.ndarray) -> np.ndarray:
        """(n, K): log pi_k(x) of each row under each component."""
        d = self.n_numeric
        return np.stack([g.log_prob(x[:, :d]) + c.log_prob(x[:, d:]).sum(1) for g, c in self.components], axis=1)

    def log_prob(self, x: np.ndarray) -> np.ndarray:
        """log pi(x) for each row: the actors' log-probabilities add up (and mix over components)."""
        log_p = self._component_log_probs(x)
        top = log_p.max(axis=1)
        return top + np.log(np.exp(log_p - top[:, None]).mean(axis=1))

    def warm_start(self, mean: np.ndarray, std: np.ndarray, logits: list[np.ndarray | None]) -> None:
        """Starts from an earlier search's policy where it has one (NaN or None: keep the prior)."""
        known = ~np.isnan(mean)
        for gaussian, categorical in self.components:
            gaussian.mean[known] = np.clip(mean[known], 0.0, 1.0)
            gaussian.log_std[known] = np.clip(np.log(std[known]), gaussian.min_log_std, gaussian.max_log_std)
            for choice, theta in zip(categorical, logits, strict=True):
                if theta is not None:
                    choice.logits[:] = floor_logits(np.asarray(theta, dtype=float), categorical.max_prob_ratio)

    def update(self, x: np.ndarray, rewards: np.ndarray, active: np.ndarray) -> np.ndarray:
        """One policy-gradient step on the window (x_i, r_i); ``active`` (n, dim) says which
        parameters each sample used: an actor learns only from the samples it was active in.
        Returns the utilities of the whole window (for logging)."""
        s = self.settings
        window_u = rank_utilities(rewards)  # advantage A_i = u(rank of r_i), baseline = mean utility
        components = self.components
        assigned = np.zeros(x.shape[0], int) if len(components) == 1 else self._component_log_probs(x).argmax(1)
        cat = slice(self.n_numeric, None)
        for k, (gaussian, categorical) in enumerate(components):
            mine = active if len(components) == 1 else active & (assigned == k)[:, None]
            if len(components) > 1 and (assigned == k).sum() < 2:
                continue  # a component explains too few results to rank them
            # an actor active in only some rows ranks those rows among themselves: A_ij
            u = np.broadcast_to(window_u[:, None], mine.shape) if mine.all() else masked_utilities(rewards, mine)
            gaussian.update(x[:, : self.n_numeric], u[:, : self.n_numeric], s.lr_mean, s.lr_std, s.entropy_coef)
            categorical.update(x[:, cat], u[:, cat], mine[:, cat], s.lr_logits, s.entropy_coef)
        self.n_updates += 1
        return window_u
