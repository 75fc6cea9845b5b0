"""The model step: a Parzen density ratio that picks, among the policy's candidates, the one most
likely to be good (the acquisition of TPE, Bergstra et al. 2011, used on policy samples).

The finished trials of the window are split at a reward quantile into "good" and "bad" ones; each
group gets a product-kernel density on the latent rows, l(x) for good and g(x) for bad, and the
score of a candidate is log l(x) - log g(x). A category kernel of a group of m points spreads less
mass over the other categories as m grows (as Optuna's does), so the large bad group is sharper
than the small good one: a category few trials have tried scores above one tried often, and the
search does not lock into the first category that looked good. Pending trials join the bad group
with a small weight each (a soft constant liar): a candidate right on top of a running trial scores
low, so parallel workers do not duplicate each other, while the good region stays attractive.
"""

from __future__ import annotations

import numpy as np

from ._actors import reflect_into_unit

__all__ = ["ParzenModel"]


def _logsumexp(a: np.ndarray, axis: int) -> np.ndarray:
    top = a.max(axis=axis, keepdims=True)
    return np.squeeze(top, axis) + np.log(np.sum(np.exp(a - top), axis=axis))


class ParzenModel:
    """Product-kernel densities over latent rows: Gaussian kernels on the numeric z's (one bandwidth
    h = bandwidth * m^(-1/(d+4)) for a group of m points in d dimensions), Aitchison-Aitken kernels
    on the category indices, and one uniform prior point in each group."""

    def __init__(self, n_numeric: int, category_sizes: list[int], bandwidth: float, cat_prior: float):
        self.n_numeric = n_numeric
        self.category_sizes = category_sizes
        self.bandwidth = bandwidth
        self.cat_prior = cat_prior
        self.log_prior = -float(np.sum(np.log(category_sizes))) if category_sizes else 0.0

    def _bandwidth(self, m: int) -> float:
        """h = bandwidth * (m + 1)^(-1/(d+4)) for a group of m points (plus the prior point)."""
        return self.bandwidth * (m + 1) ** (-1.0 / (self.n_numeric + len(self.category_sizes) + 4))

    def _smoothing(self, size: int, m: int) -> float:
        """lam = (K - 1) w / (1 + K w), w = cat_prior / (m + 1): the mass a category kernel of a group
        of m points gives the K - 1 other categories, when it weighs its own category 1 and every
        category w."""
        w = self.cat_prior / (m + 1)
        return (size - 1) * w / (1 + size * w)

    def sample(self, rng: np.random.Generator, points: np.ndarray, n: int) -> np.ndarray:
        """n rows drawn from the kernel density of ``points``: a random point, its numeric z's
        moved by N(0, h^2) and reflected into [0, 1], each category kept with probability 1 - lam."""
        rows = points[rng.integers(points.shape[0], size=n)].copy()
        rows[:, : self.n_numeric] = reflect_into_unit(
            rows[:, : self.n_numeric] + self._bandwidth(points.shape[0]) * rng.standard_normal((n, self.n_numeric))
        )
        for j, size in enumerate(self.category_sizes, start=self.n_numeric):
            move = rng.random(n) < self._smoothing(size, points.shape[0])  # lam = 0 for a single category
            shift = rng.integers(1, max(size, 2), size=n)  # any other category, uniformly
            rows[:, j] = np.where(move, (rows[:, j] + shift) % size, rows[:, j])
        return rows

    def _log_density(self, sqdist: np.ndarray, cat_log_kernel: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """log p(x) for each candidate row, from its squared distances to the m group points:
        p(x) = (sum_i w_i k(x, x_i) + prior) / (sum_i w_i + 1)."""
        h = self._bandwidth(sqdist.shape[1])
        log_k = -0.5 * sqdist / h**2 - self.n_numeric * np.log(h * np.sqrt(2.0 * np.pi)) + cat_log_kernel
        log_k = log_k + np.log(weights)[None, :]
        prior = np.full((log_k.shape[0], 1), self.log_prior)
        return _logsumexp(np.hstack([log_k, prior]), axis=1) - np.log(weights.sum() + 1)

    def _cat_log_kernel(self, candidates: np.ndarray, points: np.ndarray) -> np.ndarray:
        """sum over choices of log k(c, c_j): log(1 - lam) on a match, log(lam / (K - 1)) otherwise,
        with lam the smoothing of a group of as many points as ``points`` holds."""
        total = np.zeros((candidates.shape[0], points.shape[0]))
        for j, size in enumerate(self.category_sizes, start=self.n_numeric):
            if size == 1:
                continue
            lam = self._smoothing(size, points.shape[0])
            match = candidates[:, j, None] == points[None, :, j]
            total += np.where(match, np.log(1.0 - lam), np.log(lam / (size - 1)))
        return total

    def score(
        self, candidates: np.ndarray, good: np.ndarray, bad: np.ndarray, bad_weights: np.ndarray | None = None
    ) -> np.ndarray:
        """log l(x) - log g(x) for each candidate row; ``bad_weights`` (one per bad row, default 1)
        let some bad rows (pending trials) count as a fraction of a result."""
        points = np.vstack([good, bad])
        zc, zp = candidates[:, : self.n_numeric], points[:, : self.n_numeric]
        sqdist = np.maximum((zc * zc).sum(1)[:, None] + (zp * zp).sum(1)[None, :] - 2.0 * zc @ zp.T, 0.0)
        n_good = good.shape[0]
        log_l = self._log_density(sqdist[:, :n_good], self._cat_log_kernel(candidates, good), np.ones(n_good))
        weights = np.ones(bad.shape[0]) if bad_weights is None else bad_weights
        log_g = self._log_density(sqdist[:, n_good:], self._cat_log_kernel(candidates, bad), weights)
        return log_l - log_g
