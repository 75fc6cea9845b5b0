"""A small Gaussian process over the window, to choose among the density ratio's best proposals.

The density ratio l(x)/g(x) ranks proposals by where good results are dense; it cannot tell two
proposals inside the good region apart by more than its bandwidth. A Gaussian process on the same
latent rows can: its posterior mean and variance give each proposal an expected improvement over
the best result so far. The process is kept cheap and robust: the results are turned into normal
scores by rank (a Gaussian copula, so heavy tails and outliers do not dominate), the kernel is a
Matern-5/2 on the numeric z's with one length scale, plus one unit of squared distance per choice
that differs, and the length scale and noise are picked from a small grid by the marginal
likelihood. It sees at most 48 results (the 32 best and the 16 most recent of the window), so a fit
costs the same at trial 100 and trial 10,000, and little.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from ._util import mean_ranks

__all__ = ["GaussianProcess", "expected_improvement", "normal_scores"]

LENGTH_SCALES = (0.05, 0.1, 0.2, 0.4, 0.8)  # latent units
NOISES = (1e-3, 1e-1)  # variance, in units of the normal scores' variance
_STANDARD_NORMAL = NormalDist()
_ERFC = np.frompyfunc(math.erfc, 1, 1)


@functools.lru_cache(maxsize=64)
def _half_rank_quantiles(n: int) -> np.ndarray:
    """Phi^-1(k / 2n) for k = 0..2n (the ends unused): normal scores of every rank and mean of tied ranks."""
    return np.array([_STANDARD_NORMAL.inv_cdf(k / (2 * n)) if 0 < k < 2 * n else np.nan for k in range(2 * n + 1)])


def normal_scores(y: np.ndarray) -> np.ndarray:
    """Phi^-1((rank + 1/2) / n): the rank-based normal scores of y (ties share their mean rank)."""
    ranks = mean_ranks(y)
    return _half_rank_quantiles(y.size)[np.rint(2.0 * ranks + 1.0).astype(int)]  # a mean rank is k/2


def expected_improvement(mean: np.ndarray, std: np.ndarray, best: float) -> np.ndarray:
    """EI(x) = E[max(f(x) - best, 0)] = s (u Phi(u) + phi(u)), u = (mu - best) / s (maximization)."""
    std = np.maximum(std, 1e-12)
    u = (mean - best) / std
    cdf = 0.5 * _ERFC(-u / math.sqrt(2.0)).astype(float)
    return std * (u * cdf + np.exp(-0.5 * u * u) / math.sqrt(2.0 * math.pi))


@dataclass
class GaussianProcess:
    """A GP on latent rows (numeric z's first, then category indices) with a unit prior variance."""

    n_numeric: int
    length_scale: float = 0.2
    noise: float = 1e-3

    def _distances(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Squared Euclidean distances of the numeric z's, and the number of choices that differ."""
        za, zb = a[:, : self.n_numeric], b[:, : self.n_numeric]
        d2 = np.maximum((za * za).sum(1)[:, None] + (zb * zb).sum(1)[None, :] - 2.0 * za @ zb.T, 0.0)
        differ = np.zeros(d2.shape)
        for j in range(self.n_numeric, a.shape[1]):
            differ += a[:, j, None] != b[None, :, j]
        return d2, differ

    def _sqdist(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """(|z_a - z_b| / length_scale)^2 plus the number of choices that differ."""
        d2, differ = self._distances(a, b)
        return d2 / self.length_scale**2 + differ

    def _kernel(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return _matern52(self._sqdist(a, b))

    def fit(self, x: np.ndarray, y: np.ndarray, believers: np.ndarray | None = None) -> float:
        """Conditions on (x, y) with the current length scale and noise, and on ``believers`` (rows
        of running trials) at their predicted values: kriging believers leave the mean as it is and
        only shrink the variance near them, so one Cholesky factor of the joint kernel matrix
        serves both (its leading block is the factor of x's). Returns the log marginal likelihood
        of (x, y), -inf when the kernel matrix is not positive definite."""
        rows = x if believers is None else np.vstack([x, believers])
        k = self._kernel(rows, rows) + self.noise * np.eye(rows.shape[0])
        try:
            chol = np.linalg.cholesky(k)
        except np.linalg.LinAlgError:
            return -np.inf
        n = x.shape[0]
        self._x, self._rows, self._chol = x, rows, chol
        self._alpha = np.linalg.solve(k[:n, :n], y)  # K^-1 y
        self.best = float(y.max())
        if believers is not None:
            self.best = max(self.best, float((k[n:, :n] @ self._alpha).max()))
        return float(-0.5 * y @ self._alpha - np.log(np.diag(chol[:n, :n])).sum())  # log p(y) + const

    def select(self, x: np.ndarray, y: np.ndarray) -> None:
        """Picks length scale and noise from the grid by the marginal likelihood of (x, y)."""
        d2, differ = self._distances(x, x)
        best = (-np.inf, self.length_scale, self.noise)
        for length_scale in LENGTH_SCALES:
            k = _matern52(d2 / length_scale**2 + differ)
            for noise in NOISES:
                k_noisy = k + noise * np.eye(x.shape[0])
                try:
                    chol = np.linalg.cholesky(k_noisy)
                except np.linalg.LinAlgError:
                    continue
                lml = -0.5 * y @ np.linalg.solve(k_noisy, y) - np.log(np.diag(chol)).sum()
                if lml > best[0]:
                    best = (lml, length_scale, noise)
        _, self.length_scale, self.noise = best

    def predict(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean k*^T K^-1 y and standard deviation sqrt(1 - k*^T K^-1 k*) at rows (the
        variance also conditioned on the believers)."""
        ks = self._kernel(rows, self._rows)
        v = np.linalg.solve(self._chol, ks.T)
        return ks[:, : self._x.shape[0]] @ self._alpha, np.sqrt(np.maximum(1.0 - (v * v).sum(0), 1e-12))


def _matern52(d2: np.ndarray) -> np.ndarray:
    """Matern-5/2: (1 + r + r^2 / 3) exp(-r), r = sqrt(5 d2)."""
    r = np.sqrt(5.0 * d2)
    return (1.0 + r + r * r / 3.0) * np.exp(-r)
