"""The knobs of the search, validated where they are made."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from ._util import is_number

__all__ = ["Settings"]


def _check_int(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"Settings.{name} must be an integer >= {low}, got {value!r}")


def _check_real(
    name: str, value: Any, low: float, high: float = math.inf, *, open_low: bool = False, open_high: bool = False
) -> None:
    ok = is_number(value) and math.isfinite(float(value))
    if ok:
        v = float(value)
        ok = (v > low if open_low else v >= low) and (v < high if open_high else v <= high)
    if not ok:
        lo, hi = "(" if open_low else "[", ")" if open_high else "]"
        raise ValueError(f"Settings.{name} must be a finite number in {lo}{low}, {high}{hi}, got {value!r}")


@dataclass(frozen=True)
class Settings:
    """All knobs of PGOptimizer and PGSearcher; the defaults are the benchmarked ones.

    Every field is checked when the object is made (a ValueError names the field and its range).
    Pass keyword arguments (``PGSearcher(gamma=0.2)``) or a whole object (``settings=Settings(...)``).

    Search:
        n_startup: trials drawn from a Latin hypercube over the prior before the model step starts.
        n_candidates: proposals the model chooses from at each ask (1 = sample the policy only).
        window: finished trials kept for the policy update and the model (bounds the cost per trial).
        gamma: fraction of the window counted as "good" by the model.
        bandwidth: Parzen bandwidth factor in latent units, h = bandwidth * m^(-1/(d+4)).
        cat_prior: weight of every category in a category kernel (its own weighs 1), relative to m + 1
            for a group of m points: the kernel's smoothing shrinks as the group grows.
        model_candidates: fraction of the candidates drawn from the good density l(x) instead of the policy.
        prior_candidates: weight of the uniform prior point when those candidates are drawn from l(x), relative
            to a good result (0: only around good results; 1: from the same mixture l(x) scores with, which
            keeps a search settled on one peak looking elsewhere, at some precision at small budgets).
        prior_candidates_in_flight: the fewest trials in flight (the one being asked included) at which
            ``prior_candidates`` applies; with fewer, the candidates come from l(x)'s kernels only (1: always).
        pending_weight: weight of each pending trial in the model's bad density g(x), relative to a result.
        partial_weight: weight of a running trial's latest intermediate result in the model (good or bad
            by its quantile among the results reported at the same training iteration; 0: unused).
        gp_rerank: the density ratio's best proposals a Gaussian process reorders by expected
            improvement (0 or 1: none).
        gp_max_pending: the Gaussian process reranks only while at most this many trials run (its cost
            does not grow with them: only the 8 running trials asked last enter it).
        max_rejections: samples a constraint may reject in a row before ask() raises RuntimeError.
        prior_weight: with a prior (an earlier search), the total weight of its results in the model at
            the start, in results of this search.
        prior_halflife: results of this search after which the prior's weight has halved.
        restart_after: results in a row without a new best (of trials asked after it) after which the
            search starts over from a fresh policy and an empty window, keeping its best config (0: never).

    Policy (latent units):
        init_std, min_std, max_std: the Gaussians' standard deviation at the start, floor and ceiling.
        lr_mean, lr_std, lr_logits: step sizes of the means, log standard deviations and logits.
        entropy_coef: the entropy bonus.
        max_prob_ratio: no category falls below 1/max_prob_ratio of the likeliest one (> 1).
    """

    n_startup: int = 10
    n_candidates: int = 256
    window: int = 128
    gamma: float = 0.15
    bandwidth: float = 0.1
    cat_prior: float = 1.0
    model_candidates: float = 0.25
    prior_candidates: float = 1.0
    prior_candidates_in_flight: int = 32
    pending_weight: float = 0.1
    partial_weight: float = 0.5
    max_rejections: int = 1000
    prior_weight: float = 10.0
    gp_rerank: int = 16
    gp_max_pending: int = 1024
    prior_halflife: float = 10.0
    restart_after: int = 0
    init_std: float = 0.3
    min_std: float = 0.02
    max_std: float = 1.0
    lr_mean: float = 0.05
    lr_std: float = 0.02
    lr_logits: float = 0.1
    entropy_coef: float = 0.01
    max_prob_ratio: float = 100.0

    def __post_init__(self) -> None:
        _check_int("n_startup", self.n_startup, 0)
        _check_int("n_candidates", self.n_candidates, 1)
        _check_int("window", self.window, 2)
        _check_int("max_rejections", self.max_rejections, 0)
        _check_int("gp_rerank", self.gp_rerank, 0)
        _check_int("gp_max_pending", self.gp_max_pending, 0)
        _check_int("restart_after", self.restart_after, 0)
        _check_int("prior_candidates_in_flight", self.prior_candidates_in_flight, 1)
        _check_real("gamma", self.gamma, 0.0, 1.0, open_low=True, open_high=True)
        _check_real("bandwidth", self.bandwidth, 0.0, open_low=True)
        _check_real("cat_prior", self.cat_prior, 0.0, open_low=True)
        _check_real("model_candidates", self.model_candidates, 0.0, 1.0)
        _check_real("prior_candidates", self.prior_candidates, 0.0)
        _check_real("pending_weight", self.pending_weight, 0.0, open_low=True)
        _check_real("partial_weight", self.partial_weight, 0.0)
        _check_real("prior_weight", self.prior_weight, 0.0)
        _check_real("prior_halflife", self.prior_halflife, 0.0, open_low=True)
        for name in ("init_std", "min_std", "max_std"):
            _check_real(name, getattr(self, name), 0.0, open_low=True)
        if not self.min_std <= self.init_std <= self.max_std:
            raise ValueError(
                f"Settings needs min_std <= init_std <= max_std, got {self.min_std}, {self.init_std}, {self.max_std}"
            )
        for name in ("lr_mean", "lr_std", "lr_logits", "entropy_coef"):
            _check_real(name, getattr(self, name), 0.0)
        _check_real("max_prob_ratio", self.max_prob_ratio, 1.0, open_low=True)

    @classmethod
    def from_args(cls, settings: Settings | None = None, **overrides: Any) -> Settings:
        """``settings`` (default: the defaults) with ``overrides`` replacing single fields; an unknown
        name raises a TypeError that lists the known ones, as an unknown keyword argument does."""
        if settings is not None and not isinstance(settings, Settings):
            raise TypeError(f"settings must be a ray_pgsearch.Settings, got {type(settings).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise TypeError(f"unknown setting(s) {unknown}; the settings are {sorted(known)}")
        return dataclasses.replace(settings or cls(), **overrides)
