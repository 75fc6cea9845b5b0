"""A small Gaussian process over the window, to choose among the density ratio's best proposals.

The density ratio l(x)/g(x) ranks proposals by where good results are dense; it cannot tell two
proposals inside the good region apart by more than its bandwidth. A Gaussian process on the same
latent rows can: its posterior mean and variance give each proposal an expected improvement over
the best result so far. The process is kept cheap and robust: the results are turned into normal
scores by rank (a Gaussian copula, so heavy tails and outliers do not dominate), the kernel is a
Matern-5/2 on the numeric z's with one length scale, plus one unit of squared distance per choice
that differs, and the length scale and noise are picked from a small grid by the marginal
likelihood. ``_rerank`` feeds it a bounded set of results (the window's best and latest, and a few
running trials), so a fit costs the same at trial 100 and trial 10,000 and with 8 or 256 trials
running.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from ._util import mean_ranks

__all__ = ["GaussianProcess", "expected_improvement", "normal_scores"]

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
    """A GP on latent rows (numeric z's first, then category indices) with a unit prior variance;
    ``select`` picks its length scale (latent units) and noise variance (in units of the normal
    scores' variance) from the grids."""

    n_numeric: int
    length_scales: tuple[float, ...] = (0.05, 0.1, 0.2, 0.4, 0.8)
    noises: tuple[float, ...] = (1e-3, 1e-1)
    length_scale: float = 0.2
    noise: float = 1e-3

    def _distances(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Squared Euclidean distances of the numeric z's, and the number of choices that differ."""
        za, zb = a[:, : self.n_numeric], b[:, : self.n_numeric]
        d2 = np.maximum((za * za).sum(1)[:, None] + (zb * zb).sum(1)[None, :] - 2.0 * za @ zb.T, 0.0)
        # one contiguous row per choice, so the short sum over choices runs over rows
        ca, cb = np.ascontiguousarray(a[:, self.n_numeric :].T), np.ascontiguousarray(b[:, self.n_numeric :].T)
        differ = (ca[:, :, None] != cb[:, None, :]).sum(0, dtype=float)
        return d2, differ

    def _sqdist(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """(|z_a - z_b| / length_scale)^2 plus the number of choices that differ."""
        d2, differ = self._distances(a, b)
        return d2 / self.length_scale**2 + differ

    def _kernel(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return _matern52(self._sqdist(a, b))

    def predict(
        self, x: np.ndarray, y: np.ndarray, rows: np.ndarray, believers: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, float] | None:
        """The posterior mean and standard deviation at ``rows``, conditioned on (x, y) with the
        current length scale and noise, and on ``believers`` (rows of running trials) at their
        predicted values: kriging believers leave the mean as it is and only shrink the variance near
        them. One Cholesky factor of the kernel matrix of x, the believers and the rows, bordered with
        y, holds it all: its last row starts with w = L_x^-1 y, and the row of a queried point with
        v = L^-1 k* (over x and the believers), so mean = v_x . w and variance = 1 - |v|^2. Returns
        (mean, std, best), best the largest of y and the believers' values; None when the kernel matrix
        is not positive definite."""
        joint = np.vstack([x, rows] if believers is None else [x, believers, rows])
        chol = _bordered_cholesky(self._kernel(joint, joint), y, self.noise)
        if chol is None:
            return None
        n, m = x.shape[0], joint.shape[0] - rows.shape[0]
        w, v = chol[-1, :n], chol[m:-1, :m]
        best = float(y.max())
        if believers is not None:
            # a believer's value is its predicted mean K_bx K_xx^-1 y = L_bx L_x^-1 y
            best = max(best, float((chol[n:m, :n] @ w).max()))
        return v[:, :n] @ w, np.sqrt(np.maximum(1.0 - (v * v).sum(1), 1e-12)), best

    def select(self, x: np.ndarray, y: np.ndarray) -> None:
        """Picks length scale and noise from the grid by the marginal likelihood of (x, y)."""
        d2, differ = self._distances(x, x)
        best = (-np.inf, self.length_scale, self.noise)
        for length_scale in self.length_scales:
            k = _matern52(d2 / length_scale**2 + differ)
            for noise in self.noises:
                chol = _bordered_cholesky(k, y, noise)
                lml = -np.inf if chol is None else _log_likelihood(chol, y.size)
                if lml > best[0]:
                    best = (lml, length_scale, noise)
        _, self.length_scale, self.noise = best


def _bordered_cholesky(kernel: np.ndarray, y: np.ndarray, noise: float) -> np.ndarray | None:
    """The Cholesky factor of [[K, y'], [y'^T, c]], K = kernel + noise I (m x m) and y' = y padded with
    zeros to m; None when K is not positive definite. The factor is [[L, 0], [w^T, l]] with L w = y',
    so its last row holds L^-1 y' (numpy has no triangular solve). c = |y|^2 / noise + 1 exceeds
    y'^T K^-1 y' (K >= noise I), so the border keeps a positive definite K positive definite."""
    m, n = kernel.shape[0], y.size
    k = np.zeros((m + 1, m + 1))
    k[:m, :m] = kernel
    k.flat[: m * (m + 2) : m + 2] += noise  # the leading block's diagonal
    k[m, :n] = k[:n, m] = y
    k[m, m] = y @ y / noise + 1.0
    try:
        return np.linalg.cholesky(k)
    except np.linalg.LinAlgError:
        return None


def _log_likelihood(chol: np.ndarray, n: int) -> float:
    """log p(y) + const = -y^T K^-1 y / 2 - log det L = -|w|^2 / 2 - sum log diag(L), from the bordered
    factor of (x, y) (L: its leading n x n block, w: the first n entries of its last row)."""
    w = chol[-1, :n]
    return float(-0.5 * w @ w - np.log(np.diag(chol)[:n]).sum())


def _matern52(d2: np.ndarray) -> np.ndarray:
    """Matern-5/2: (1 + r + r^2 / 3) exp(-r), r = sqrt(5 d2)."""
    r = np.sqrt(5.0 * d2)
    return (1.0 + r + r * r / 3.0) * np.exp(-r)
