"""A small Gaussian process over the window, to choose among the density ratio's best proposals.

The density ratio l(x)/g(x) ranks proposals by where good results are dense; it cannot tell two
proposals inside the good region apart by more than its bandwidth. A Gaussian process on the same
latent rows can: its posterior mean and variance give each proposal an expected improvement over
the best result so far. The process is kept cheap and robust: the results are turned into normal
scores by rank (a Gaussian copula, so heavy tails and outliers do not dominate), the kernel is a
Matern-5/2 on the numeric z's with one length scale, plus one unit of squared distance per choice
that differs, and the length scale and noise are picked from a small grid by the marginal
likelihood. The window bounds its size, so a fit costs the same at trial 100 and trial 10,000.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

__all__ = ["GaussianProcess", "expected_improvement", "normal_scores"]

LENGTH_SCALES = (0.05, 0.1, 0.2, 0.4, 0.8)  # latent units
NOISES = (1e-3, 1e-1)  # variance, in units of the normal scores' variance
_STANDARD_NORMAL = NormalDist()
_ERFC = np.frompyfunc(math.erfc, 1, 1)


def normal_scores(y: np.ndarray) -> np.ndarray:
    """Phi^-1((rank + 1/2) / n): the rank-based normal scores of y (ties share their mean rank)."""
    order = np.argsort(np.argsort(y, kind="stable"), kind="stable").astype(float)
    _, group = np.unique(y, return_inverse=True)
    ranks = (np.bincount(group, weights=order) / np.bincount(group))[group]
    return np.array([_STANDARD_NORMAL.inv_cdf(q) for q in (ranks + 0.5) / y.size])


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

    def _sqdist(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """(|z_a - z_b| / length_scale)^2 plus the number of choices that differ."""
        za, zb = a[:, : self.n_numeric] / self.length_scale, b[:, : self.n_numeric] / self.length_scale
        d2 = (za * za).sum(1)[:, None] + (zb * zb).sum(1)[None, :] - 2.0 * za @ zb.T
        if a.shape[1] > self.n_numeric:
            d2 = d2 + (a[:, None, self.n_numeric :] != b[None, :, self.n_numeric :]).sum(2)
        return np.maximum(d2, 0.0)

    @staticmethod
    def _kernel(d2: np.ndarray) -> np.ndarray:
        """Matern-5/2: (1 + r + r^2 / 3) exp(-r), r = sqrt(5 d2)."""
        r = np.sqrt(5.0 * d2)
        return (1.0 + r + r * r / 3.0) * np.exp(-r)

    def fit(self, x: np.ndarray, y: np.ndarray) -> float:
        """Conditions on (x, y) with the current length scale and noise; returns the log marginal
        likelihood, -inf when the kernel matrix is not positive definite."""
        k = self._kernel(self._sqdist(x, x)) + self.noise * np.eye(x.shape[0])
        try:
            self._chol = np.linalg.cholesky(k)
        except np.linalg.LinAlgError:
            return -np.inf
        self._x = x
        self._alpha = np.linalg.solve(self._chol.T, np.linalg.solve(self._chol, y))  # K^-1 y
        return float(-0.5 * y @ self._alpha - np.log(np.diag(self._chol)).sum())  # log p(y) + const

    def select(self, x: np.ndarray, y: np.ndarray) -> None:
        """Picks length scale and noise from the grid by the marginal likelihood of (x, y)."""
        best = (-np.inf, self.length_scale, self.noise)
        for length_scale in LENGTH_SCALES:
            for noise in NOISES:
                self.length_scale, self.noise = length_scale, noise
                lml = self.fit(x, y)
                if lml > best[0]:
                    best = (lml, length_scale, noise)
        _, self.length_scale, self.noise = best

    def predict(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean k*^T K^-1 y and standard deviation sqrt(1 - k*^T K^-1 k*) at rows."""
        ks = self._kernel(self._sqdist(rows, self._x))
        v = np.linalg.solve(self._chol, ks.T)
        return ks @ self._alpha, np.sqrt(np.maximum(1.0 - (v * v).sum(0), 1e-12))
