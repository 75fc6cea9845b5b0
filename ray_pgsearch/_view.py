"""A read-only view of a search, in the user's units: what integrations read.

TensorBoard, the report and policy-guided PBT read a search only through ``SearchView``
(``PGOptimizer.view()``, ``PGSearcher.view()``), never the optimizer's components, so the
components can change without breaking them. A view reads the search's current state whenever a
property is read; what it returns are copies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._params import CategoricalParam, NumericParam
from ._util import copy_config, path_str

__all__ = ["ChoiceView", "NumericView", "SearchView", "WarmStartView"]

_LOG_2PI_E = float(np.log(2.0 * np.pi * np.e))


@dataclass(frozen=True)
class NumericView:
    """One numeric parameter's Gaussian N(latent_mean, latent_std^2) on its latent z, and the same
    in the parameter's own units: ``centre`` = decode(mean) (for a log domain the geometric centre,
    for an integer its bin), ``lower``/``upper`` = decode(mean -/+ std), the one-sigma interval."""

    name: str
    param: NumericParam
    centre: float
    lower: float
    upper: float
    latent_mean: float
    latent_std: float
    entropy: float  # nats, of the Gaussian on z

    @property
    def half_width(self) -> float:
        return (self.upper - self.lower) / 2.0


@dataclass(frozen=True)
class ChoiceView:
    """One choice's softmax: each category's probability."""

    name: str
    param: CategoricalParam
    probabilities: tuple[float, ...]
    entropy: float  # nats

    @property
    def categories(self) -> tuple:
        return self.param.categories


@dataclass(frozen=True)
class WarmStartView:
    """How a warm start weighs now: the earlier results' total weight in the model (in results) and
    how far this search's results agree with the earlier ranking (0 to 1)."""

    weight: float  # the earlier results' total weight in the model, in results
    trust: float  # 0 to 1
    rejected: bool  # the results contradicted the earlier search: it was dropped
    shared: tuple[str, ...]  # the parameters both searches have


class SearchView:
    """What a search knows now, read-only; made by ``PGOptimizer.view()``."""

    def __init__(self, optimizer: Any):
        self._opt = optimizer

    @property
    def space(self) -> Any:
        """The compiled search space (``ray_pgsearch.SearchSpace``)."""
        return self._opt._space

    @property
    def modes(self) -> list[str]:
        """ "min" or "max" per metric."""
        return list(self._opt._objectives.modes)

    @property
    def n_asked(self) -> int:
        """Configs asked so far."""
        return self._opt.n_asked

    @property
    def n_told(self) -> int:
        """Finite results told so far."""
        return self._opt.n_told

    @property
    def n_failed(self) -> int:
        """Trials not learned from: failed, not finite or forgotten."""
        return self._opt.n_failed

    @property
    def n_crashed(self) -> int:
        """Trials that failed: an exception, or a NaN or infinite metric."""
        return self._opt.n_crashed

    @property
    def failure_rate(self) -> float:
        """Failed trials among those that failed or finished."""
        return self.n_crashed / max(1, self.n_crashed + self.n_told)

    @property
    def failure_estimate(self) -> float | None:
        """The failure model's P(fail) for the config asked last (None before any trial failed)."""
        return self._opt._failures.predicted

    @property
    def n_rejected(self) -> int:
        """Sampled configs the constraint refused."""
        return self._opt.n_rejected

    @property
    def n_running(self) -> int:
        """Trials asked with an id and not told, failed or forgotten yet."""
        return len(self._opt._book)

    @property
    def n_updates(self) -> int:
        """Policy updates so far (TensorBoard's step)."""
        return self._opt._policy.n_updates

    @property
    def best_value(self) -> float | None:
        """The best metric value so far, in its own sign (None with several objectives)."""
        return self._opt.best_value

    @property
    def best_config(self) -> dict | None:
        """A copy of the best config so far (None with several objectives)."""
        return self._opt.best_config

    @property
    def numeric(self) -> list[NumericView]:
        """Each numeric parameter's Gaussian, in latent units and in its own."""
        gaussian = self._opt._policy.gaussian
        views = []
        for j, param in enumerate(self.space.numeric):
            mu, sigma = float(gaussian.mean[j]), float(np.exp(gaussian.log_std[j]))
            views.append(
                NumericView(
                    path_str(param.path),
                    param,
                    float(param.decode(mu)),
                    float(param.decode(mu - sigma)),
                    float(param.decode(mu + sigma)),
                    mu,
                    sigma,
                    float(gaussian.log_std[j] + 0.5 * _LOG_2PI_E),
                )
            )
        return views

    @property
    def choices(self) -> list[ChoiceView]:
        """Each choice's probabilities."""
        views = []
        for param, actor in zip(self.space.categorical, self._opt._policy.categorical, strict=True):
            views.append(ChoiceView(path_str(param.path), param, tuple(float(p) for p in actor.probs), actor.entropy()))
        return views

    @property
    def rewards(self) -> np.ndarray:
        """(n, objectives) rewards of the window's results (reward = -metric for "min")."""
        return self._opt._history.arrays()[1].copy()

    def results(self) -> list[tuple[dict, np.ndarray]]:
        """The window's results: (config, reward vector) each, in the buffer's order."""
        rows, rewards = self._opt._history.arrays()
        return [(self.space.decode(row), reward.copy()) for row, reward in zip(rows, rewards, strict=True)]

    def values(self, name: str) -> np.ndarray:
        """The window's values of numeric parameter ``name``, in its own units."""
        for j, param in enumerate(self.space.numeric):
            if path_str(param.path) == name:
                rows = self._opt._history.arrays()[0]
                return np.array([param.decode(z) for z in rows[:, j]], dtype=float)
        raise KeyError(f"no numeric parameter {name!r}; the numeric ones are {[v.name for v in self.numeric]}")

    @property
    def warm_start(self) -> WarmStartView | None:
        """How a warm start weighs now (None without one)."""
        warm = self._opt._warm_start
        if warm is None:
            return None
        return WarmStartView(warm.weight(self._opt.n_told), warm.trust, warm.rejected, tuple(warm.shared))

    def sample(self, n: int, seed: int | None = None) -> list[dict]:
        """``n`` configs drawn from the policy x ~ pi (a generator of its own: the search's stream
        of suggestions does not move)."""
        rng = np.random.default_rng(seed)
        return [copy_config(self.space.decode(row)) for row in self._opt._policy.sample(rng, n)]
