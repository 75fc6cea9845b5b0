"""The actors: the distributions the policy samples each parameter's latent value from.

Both actors step from per-sample utilities ``u`` (rank-based advantages that sum to zero): the
Gaussian as separable NES does (its mean toward the better samples only, as CMA-ES recombines),
the categorical along the softmax score function; both keep exploration alive with an entropy
bonus and a hard floor.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from ._util import floor_logits, softmax

__all__ = ["CategoricalActors", "Choice", "GaussianActor", "reflect_into_unit"]

_LOG_2PI_E = float(np.log(2.0 * np.pi * np.e))


def reflect_into_unit(u: np.ndarray) -> np.ndarray:
    """Fold any real number into [0, 1] by mirroring at 0 and 1 (a triangle wave)."""
    u = np.mod(u, 2.0)
    np.subtract(2.0, u, out=u, where=u > 1.0)
    return u


class GaussianActor:
    """Independent Gaussians N(mean_j, std_j^2), one per numeric parameter, on latent z in [0, 1].

    Samples are reflected back into [0, 1]; log-probabilities and gradients use the Gaussian density
    at the reflected point (the reflection only matters near the edges).
    """

    def __init__(self, dim: int, init_mean: float, init_std: float, min_std: float, max_std: float):
        self.mean = np.full(dim, init_mean)
        self.log_std = np.full(dim, np.log(init_std))
        self.min_log_std = float(np.log(min_std))
        self.max_log_std = float(np.log(max_std))

    @property
    def std(self) -> np.ndarray:
        return np.exp(self.log_std)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """(n, dim) latent samples: z = reflect(mean + std * eps), eps ~ N(0, I)."""
        return reflect_into_unit(self.mean + self.std * rng.standard_normal((n, self.mean.size)))

    def log_prob(self, z: np.ndarray) -> np.ndarray:
        """log N(z | mean, std^2) summed over parameters, one value per row."""
        s = (z - self.mean) / self.std
        return -0.5 * np.sum(s * s + 2.0 * self.log_std + np.log(2.0 * np.pi), axis=1)

    def entropy(self) -> np.ndarray:
        """Per-parameter entropy H_j = log std_j + log(2 pi e) / 2."""
        return self.log_std + 0.5 * _LOG_2PI_E

    def update(self, z: np.ndarray, u: np.ndarray, lr_mean: float, lr_std: float, entropy_coef: float) -> None:
        """One separable-NES step with the entropy bonus, then the std floor and ceiling; ``u`` holds
        one utility per sample and parameter (n, dim), 0 where the parameter was inactive. The mean
        moves toward the utility-weighted mean of the better samples, a fixed point inside the box."""
        d = z - self.mean
        s = d / self.std  # standardized samples
        # mean toward the better samples: sum_i max(u_i, 0) (z_i - mean), the positive half of the SNES
        # gradient std * sum_i u_i s_i (Wierstra et al. 2014) as CMA-ES recombines it (Hansen 2016); the
        # full gradient equals sum_i u_i z_i on a window of past samples and drifts without a fixed point
        self.mean = self.mean + lr_mean * (np.maximum(u, 0.0) * d).sum(0)
        # natural gradient w.r.t. log std: 1/2 sum_i u_i (s_i^2 - 1), plus dH/dlog std = 1 for the bonus
        self.log_std = self.log_std + lr_std * (0.5 * (u * (s * s - 1.0)).sum(0) + entropy_coef)
        # np.minimum(np.maximum(.)) is np.clip without its dispatch, which costs more than the step
        self.mean = np.minimum(np.maximum(self.mean, 0.0), 1.0)
        self.log_std = np.minimum(np.maximum(self.log_std, self.min_log_std), self.max_log_std)


class CategoricalActors:
    """One softmax per choice, p_k = softmax(theta_k), held as one matrix of logits (a row per
    choice, -inf past the choice's size) so that all choices sample and step at once."""

    def __init__(self, sizes: Sequence[int], max_prob_ratio: float):
        self.sizes = np.array(sizes, dtype=int)
        self.valid = np.arange(max(sizes, default=1)) < self.sizes[:, None]  # (choices, width)
        self.logits = np.where(self.valid, 0.0, -np.inf)
        self.max_prob_ratio = max_prob_ratio
        self._row = np.arange(self.sizes.size)[:, None]  # each choice's row, as a column
        self._first = self.valid.shape[1] * self._row  # the flat index of each row's first category
        self._last = self.sizes[:, None] - 1  # each choice's last category
        self._padding = (~self.valid).astype(float)  # 1 past a choice's size: log(p + padding) is 0 there

    def __len__(self) -> int:
        return self.sizes.size

    def __getitem__(self, j: int) -> Choice:
        return Choice(self, j)

    def __iter__(self) -> Iterator[Choice]:
        return (Choice(self, j) for j in range(len(self)))

    @property
    def probs(self) -> np.ndarray:
        """(choices, width): each choice's p, 0 past its size."""
        return softmax(self.logits)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """(n, choices) category indices drawn from p: the inverse CDF of a row of uniforms per choice,
        all rows in one search by shifting choice j's CDF and draws into [j, j + 1]."""
        cdf = (self.probs.cumsum(axis=1) + self._row).ravel()
        index = cdf.searchsorted(rng.random((len(self), n)) + self._row) - self._first
        return np.minimum(index, self._last).T

    def log_prob(self, c: np.ndarray) -> np.ndarray:
        """(n, choices): log p_k(c_k) of each row's category of each choice."""
        return np.log(self.probs + self._padding)[self._row.ravel(), c.astype(int)]

    def update(self, c: np.ndarray, u: np.ndarray, active: np.ndarray, lr: float, entropy_coef: float) -> None:
        """Score-function steps sum_i u_ik (onehot(c_ik) - p_k) plus the entropy gradient, then the
        floor that keeps every category within ``max_prob_ratio`` of the likeliest one; ``c``, ``u``
        and ``active`` hold one column per choice, and a choice steps from the rows it was active in
        (u = 0 elsewhere), when there are at least two."""
        if c.shape[0] < 2:
            return
        p = self.probs
        log_p = np.log(p + self._padding)
        learns = self.valid
        if not active.all():
            u, c = np.where(active, u, 0.0), np.where(active, c, 0)
            learns = learns & (active.sum(axis=0) >= 2)[:, None]
        bins = (c.astype(int) + self._first.T).ravel()
        counts = np.bincount(bins, weights=u.ravel(), minlength=p.size).reshape(p.shape)
        total = np.ascontiguousarray(u.T).sum(axis=1)[:, None]
        grad = counts - total * p  # d/dlogits sum_i u_i log p(c_i)
        grad_entropy = -p * (log_p - (p * log_p).sum(axis=1, keepdims=True))  # dH/dlogits = -p (log p + H)
        stepped = floor_logits(self.logits + lr * (grad + entropy_coef * grad_entropy), self.max_prob_ratio)
        self.logits = np.where(learns, stepped, self.logits)


class Choice:
    """One choice's softmax inside ``CategoricalActors``; ``logits`` is a view of its row."""

    def __init__(self, actors: CategoricalActors, j: int):
        self.logits = actors.logits[j, : actors.sizes[j]]

    @property
    def probs(self) -> np.ndarray:
        return softmax(self.logits)

    def entropy(self) -> float:
        """H = -sum_k p_k log p_k."""
        p = self.probs
        return float(-np.sum(p * np.log(p)))
