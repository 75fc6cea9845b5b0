"""The model step: a Parzen density ratio that picks, among the policy's candidates, the one most
likely to be good (the acquisition of TPE, Bergstra et al. 2011, used on policy samples).

The results are split at a reward quantile into "good" and "bad" ones; each group gets a weighted
product-kernel density on the latent rows, l(x) for good and g(x) for bad, and the score of a
candidate is log l(x) - log g(x). A category kernel of a group of total weight m spreads less mass
over the other categories as m grows (as Optuna's does), so the large bad group is sharper than the
small good one: a category few trials have tried scores above one tried often, and the search does
not lock into the first category that looked good. Each point carries a weight (a finished trial 1,
a pending trial a fraction: a soft constant liar, so parallel workers do not duplicate each other;
an earlier search's result a decaying fraction) and may leave coordinates unknown (an earlier
search that did not have the parameter): there its kernel is uniform, the marginal of what it says.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ._actors import reflect_into_unit

__all__ = ["ParzenModel", "Points"]

# The (points x candidates) matrix of log-kernels, the model's largest array, is single precision: its
# entries carry absolute errors of about 1e-5, far below the differences that rank candidates, and its
# product and exponentials cost half as much as in double precision.
_KERNEL_DTYPE = np.float32


def _logsumexp_columns(a: np.ndarray) -> np.ndarray:
    """log sum_i exp(a_ij) per column, computed in place: ``a`` is overwritten (it is large and
    temporary). Reducing over rows keeps numpy's inner loops long and contiguous."""
    top = a.max(axis=0)
    a -= top
    np.exp(a, out=a)
    return top.astype(float) + np.log(a.sum(axis=0), dtype=float)


@dataclass
class Points:
    """One group of kernel centres: latent rows (as the model compares them), a weight per row and
    optionally which coordinates each row knows (None: all)."""

    rows: np.ndarray
    weights: np.ndarray
    known: np.ndarray | None = None

    @classmethod
    def of(cls, rows: np.ndarray, weight: float = 1.0) -> Points:
        return cls(rows, np.full(rows.shape[0], float(weight)))

    @classmethod
    def stack(cls, *groups: Points) -> Points:
        dim = groups[0].rows.shape[1]
        groups = tuple(g for g in groups if g.rows.shape[0]) or (cls(np.zeros((0, dim)), np.zeros(0)),)
        known = None
        if any(g.known is not None for g in groups):
            known = np.vstack([np.ones(g.rows.shape, bool) if g.known is None else g.known for g in groups])
        return cls(np.vstack([g.rows for g in groups]), np.concatenate([g.weights for g in groups]), known)

    @functools.cached_property
    def mass(self) -> float:
        """The group's total weight: its effective number of results (the weights are not changed
        after a group is made)."""
        return float(self.weights.sum())


class ParzenModel:
    """Product-kernel densities over latent rows: Gaussian kernels on the numeric z's (one bandwidth
    h = bandwidth * (m + 1)^(-1/(d+4)) for a group of total weight m in d dimensions), Aitchison-Aitken
    kernels on the category indices, and one uniform point in each group."""

    def __init__(self, n_numeric: int, category_sizes: list[int], bandwidth: float, category_smoothing: float):
        self.n_numeric = n_numeric
        self.category_sizes = category_sizes
        self.bandwidth = bandwidth
        self.category_smoothing = category_smoothing
        self.log_uniform = -float(np.sum(np.log(category_sizes))) if category_sizes else 0.0
        # (latent column, first one-hot feature, size) of each choice with more than one category
        self._choices: list[tuple[int, int, int]] = []
        offset = 2 * n_numeric + 1
        for j, size in enumerate(category_sizes, start=n_numeric):
            if size > 1:
                self._choices.append((j, offset, size))
                offset += size
        self._n_features = offset

    def _bandwidth(self, m: float) -> float:
        """h = bandwidth * (m + 1)^(-1/(d+4)) for a group of total weight m (plus the uniform point)."""
        return self.bandwidth * (m + 1) ** (-1.0 / (self.n_numeric + len(self.category_sizes) + 4))

    def _smoothing(self, size: np.ndarray, m: float) -> np.ndarray:
        """lam = (K - 1) w / (1 + K w), w = category_smoothing / (m + 1): the mass a category kernel of a group
        of total weight m gives the K - 1 other categories, when it weighs its own category 1 and every
        category w."""
        w = self.category_smoothing / (m + 1)
        return (size - 1) * w / (1 + size * w)

    def sample(self, rng: np.random.Generator, points: Points, n: int, uniform: float = 0.0) -> np.ndarray:
        """n rows drawn from the kernel density of ``points``: a point drawn by weight, its numeric
        z's moved by N(0, h^2) and reflected into [0, 1], each category kept with probability 1 - lam;
        coordinates the point does not know drawn uniformly. With a ``uniform`` weight, each row is
        instead a uniform draw with probability uniform / (m + uniform): with 1, the rows come from the
        mixture ``log_density`` scores, its uniform point included."""
        cdf = np.cumsum(points.weights)
        cdf /= cdf[-1]
        pick = cdf.searchsorted(rng.random(n), side="right")  # rng.choice(len, n, p=weights / sum), its draws
        rows = points.rows[pick].copy()
        h = self._bandwidth(points.mass)
        noise = h * rng.standard_normal((n, self.n_numeric))
        rows[:, : self.n_numeric] = reflect_into_unit(rows[:, : self.n_numeric] + noise)
        sizes, categories = self._sizes, rows[:, self.n_numeric :]
        move = rng.random(categories.shape) < self._smoothing(sizes, points.mass)  # lam = 0 for a single category
        shift = rng.integers(1, self._shift_bound, size=categories.shape)  # any other category, uniformly
        rows[:, self.n_numeric :] = np.where(move, (categories + shift) % sizes, categories)
        if points.known is not None:
            rows = np.where(~points.known[pick], self._uniform(rng, n), rows)
        if uniform > 0.0:
            drawn = rng.random(n) < uniform / (points.mass + uniform)
            rows[drawn] = self._uniform(rng, int(drawn.sum()))
        return rows

    def _uniform(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n rows drawn uniformly: z ~ U(0, 1), every category equally likely."""
        return np.hstack([rng.random((n, self.n_numeric)), rng.integers(0, self._sizes, (n, self._sizes.size))])

    def log_density(self, candidates: np.ndarray, points: Points) -> np.ndarray:
        """log p(x) for each candidate row: p(x) = (sum_i w_i k(x, x_i) + u(x)) / (sum_i w_i + 1), u the
        uniform density, k a product of Gaussian kernels on the known numeric z's, category kernels on the known
        categories, and the uniform density on every coordinate the point does not know."""
        return self._log_density(self._features(candidates), points)

    def score(self, candidates: np.ndarray, good: Points, bad: Points) -> np.ndarray:
        """log l(x) - log g(x) for each candidate row."""
        features = self._features(candidates)
        return self._log_density(features, good) - self._log_density(features, bad)

    def _features(self, candidates: np.ndarray) -> np.ndarray:
        """Per candidate [z^2, z, 1, one-hot categories]: log w_i k(x, x_i) is linear in these."""
        n, d = candidates.shape[0], self.n_numeric
        z = candidates[:, :d]
        features = np.zeros((n, self._n_features), dtype=_KERNEL_DTYPE)
        np.multiply(z, z, out=features[:, :d])
        features[:, d : 2 * d] = z
        features[:, 2 * d] = 1.0
        features[np.arange(n)[:, None], self._one_hot_columns(candidates)] = 1.0
        return features

    @functools.cached_property
    def _choice_columns(self) -> tuple[np.ndarray, np.ndarray]:
        """The latent column and the first one-hot feature of each choice, as index arrays."""
        return np.array([j for j, _, _ in self._choices], dtype=int), np.array(
            [o for _, o, _ in self._choices], dtype=int
        )

    @functools.cached_property
    def _sizes(self) -> np.ndarray:
        """The number of categories of every choice (latent columns n_numeric on)."""
        return np.array(self.category_sizes, dtype=int)

    @functools.cached_property
    def _shift_bound(self) -> int | np.ndarray:
        """The bound of a category's uniform shift to another one, max(K, 2) per choice (one number when
        all choices share it: numpy draws bounded integers faster from a scalar bound)."""
        bound = np.maximum(self._sizes, 2)
        return int(bound[0]) if bound.size and (bound == bound[0]).all() else bound

    @functools.cached_property
    def _choice_sizes(self) -> np.ndarray:
        """The number of categories of each choice with more than one."""
        return self._sizes[self._sizes > 1]

    def _one_hot_columns(self, rows: np.ndarray) -> np.ndarray:
        """(n, choices): the feature column of each row's category of each choice."""
        columns, offsets = self._choice_columns
        return offsets + rows[:, columns].astype(int)

    def _coefficients(self, points: Points) -> np.ndarray:
        """Per point the coefficients of ``_features`` in log w_i k(x, x_i):
        -m (z - z_i)^2 / 2h^2 = z^2 (-m / 2h^2) + z (m z_i / h^2) - m z_i^2 / 2h^2 (m: the point knows z),
        and per choice log(lam / (K - 1)) plus log((1 - lam)(K - 1) / lam) on a match (log(1 / K) where
        the point does not know the choice), lam the smoothing of the group."""
        n, d = points.rows.shape[0], self.n_numeric
        h = self._bandwidth(points.mass)
        zp = points.rows[:, :d]
        known = 1.0 if points.known is None else points.known[:, :d].astype(float)
        n_known = d if points.known is None else points.known[:, :d].sum(1)
        coefficients = np.zeros((n, self._n_features), dtype=_KERNEL_DTYPE)
        coefficients[:, :d] = -0.5 * known / h**2
        coefficients[:, d : 2 * d] = known * zp / h**2
        const = -0.5 * (known * zp * zp).sum(1) / h**2 - n_known * np.log(h * np.sqrt(2.0 * np.pi))
        const += np.log(points.weights)
        sizes = self._choice_sizes
        lam = self._smoothing(sizes, points.mass)
        log_other = np.log(lam / (sizes - 1))
        if points.known is None:
            const += log_other.sum()
        else:
            const += np.where(points.known[:, self._choice_columns[0]], log_other, -np.log(sizes)).sum(1)
        coefficients[np.arange(n)[:, None], self._one_hot_columns(points.rows)] = np.log(1.0 - lam) - log_other
        if points.known is not None:  # a choice the point does not know: the same 1 / K for every category
            for j, offset, size in self._choices:
                coefficients[~points.known[:, j], offset : offset + size] = 0.0
        coefficients[:, 2 * d] = const
        return coefficients

    def _log_density(self, features: np.ndarray, points: Points) -> np.ndarray:
        # log w_i k(x, x_i), one row per point and one column per candidate
        log_k = self._coefficients(points) @ features.T
        if not log_k.shape[0]:
            return np.full(log_k.shape[1], self.log_uniform - np.log(points.mass + 1))
        return np.logaddexp(_logsumexp_columns(log_k), self.log_uniform) - np.log(points.mass + 1)
