"""Warm starts: an earlier search (a ``Snapshot``) carried over into a new search space.

Each earlier search is matched to the new space by key path. For every parameter both spaces
share, the earlier policy is mapped through the parameter's *values*, not its latent coordinates
(a range that changed moves the latent, not the value): a Gaussian's mean and one-sigma interval
are decoded in the old space and encoded in the new one, a choice's logits are carried over
category by category (matched by value; new categories start at the mean logit). Parameters only
the new space has start from their domain's distribution; parameters only the old one had are
dropped. The earlier results become model points in the new space: their known coordinates mapped
the same way, the others left unknown (a uniform kernel), and their reward replaced by its quantile
among the earlier search's results, since two tasks' metrics need not share a scale.

The new search opens with the earlier search's best configs between the draws of its startup
design, and its results are judged against the earlier ranking: the rank correlation between each
result and the density of the earlier good results at its config sets ``trust``; a clearly negative
one drops the earlier search (``rejected``) and the policy restarts cold. The earlier results weigh
``weight * trust * 2^(-results / halflife)`` in the model.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ._codec import category_key
from ._history import History
from ._model import ParzenModel, Points
from ._opening import Opening
from ._params import CategoricalParam, NumericParam
from ._policy import Policy
from ._settings import ModelSettings, PolicySettings, WarmStartSettings
from ._snapshot import Snapshot
from ._space import SearchSpace
from ._util import path_str, softmax

__all__ = ["WarmStart"]


def _map_numeric(old: NumericParam, new: NumericParam, z: np.ndarray) -> np.ndarray:
    """Latent values of ``old`` -> the latent values of the same parameter values in ``new``."""
    return np.array([new.encode(old.decode(float(v))) for v in np.atleast_1d(z)])


def _category_index(param: CategoricalParam) -> dict[str, int]:
    return {category_key(c): i for i, c in enumerate(param.categories)}


def _map_logits(old: CategoricalParam, new: CategoricalParam, logits: np.ndarray) -> np.ndarray:
    """The old logits of the categories both choices hold, the mean old logit for new categories."""
    index = _category_index(old)
    mapped = np.full(new.size, float(np.mean(logits)))
    for i, c in enumerate(new.categories):
        j = index.get(category_key(c))
        if j is not None:
            mapped[i] = logits[j]
    return mapped


def _quantiles(rewards: np.ndarray) -> np.ndarray:
    """Each result's reward quantile in (0, 1], 1 the best; with several objectives, the mean of the
    per-objective quantiles."""
    n = rewards.shape[0]
    ranks = np.argsort(np.argsort(rewards, axis=0, kind="stable"), axis=0, kind="stable")
    return ((ranks + 1.0) / max(n, 1)).mean(axis=1) if n else np.zeros(0)


def _rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two samples (0 when either is constant)."""
    ra = np.argsort(np.argsort(a, kind="stable"), kind="stable").astype(float)
    rb = np.argsort(np.argsort(b, kind="stable"), kind="stable").astype(float)
    if ra.std() == 0 or rb.std() == 0 or np.all(a == a[0]) or np.all(b == b[0]):
        return 0.0
    return float(np.corrcoef(ra, rb)[0, 1])


def _map(space: SearchSpace, snap: Snapshot, min_std: float, max_std: float) -> dict[str, Any]:
    """One earlier search mapped into ``space``."""
    old_space = snap.space
    old_index = {path_str(p.path): k for k, p in enumerate(old_space.params)}
    pairs = [  # (new index, old index) of the parameters of the same name and kind
        (j, old_index[name])
        for j, name in enumerate(space.names())
        if name in old_index and type(space.params[j]) is type(old_space.params[old_index[name]])
    ]
    if not pairs:
        raise ValueError(
            f"the earlier search's space has no parameter in common with this one (earlier: "
            f"{sorted(old_index)}; this one: {space.names()})"
        )
    mean, std = np.full(space.n_numeric, np.nan), np.full(space.n_numeric, np.nan)
    logits: list[np.ndarray | None] = [None] * len(space.categorical)
    old_rows = snap.rows
    old_active = old_space.active(old_rows)
    rows = np.zeros((old_rows.shape[0], space.dim))
    known = np.zeros((old_rows.shape[0], space.dim), bool)
    for j, k in pairs:
        new, old = space.params[j], old_space.params[k]
        if isinstance(new, NumericParam) and isinstance(old, NumericParam):
            mu, sigma = snap.mean[k], snap.std[k]
            lo, centre, hi = _map_numeric(old, new, np.array([mu - sigma, mu, mu + sigma]))
            mean[j], std[j] = centre, float(np.clip((hi - lo) / 2.0, min_std, max_std))
            if old_rows.shape[0]:
                rows[:, j] = _map_numeric(old, new, old_rows[:, k])
        elif isinstance(new, CategoricalParam) and isinstance(old, CategoricalParam):
            logits[j - space.n_numeric] = _map_logits(old, new, snap.logits[k - old_space.n_numeric])
            index = _category_index(new)
            for i in range(old_rows.shape[0]):
                c = index.get(category_key(old.decode(old_rows[i, k])))
                if c is not None:
                    rows[i, j] = c
                else:
                    old_active[i, k] = False  # a category the new choice does not have: unknown
        known[:, j] = old_active[:, k]
    return {
        "mean": mean,
        "std": std,
        "logits": logits,
        "rows": rows,
        "known": known,
        "quantiles": _quantiles(snap.rewards),
        "shared": [space.names()[j] for j, _ in pairs],
    }


def _pool(parts: list[dict[str, Any]], min_std: float, max_std: float) -> dict[str, Any]:
    """Several mapped searches pooled: the Gaussians by moment matching the equal-weight mixture of
    theirs, the logits by averaging the probabilities, the results side by side."""
    means = np.array([p["mean"] for p in parts])
    seen = ~np.isnan(means)
    count = np.maximum(seen.sum(axis=0), 1)
    mean = np.where(seen, means, 0.0).sum(axis=0) / count
    second = np.where(seen, np.array([p["std"] for p in parts]) ** 2 + means**2, 0.0).sum(axis=0) / count
    std = np.clip(np.sqrt(np.maximum(second - mean**2, 0.0)), min_std, max_std)
    unshared = ~seen.any(axis=0)
    mean[unshared], std[unshared] = np.nan, np.nan
    logits: list[np.ndarray | None] = []
    for j in range(len(parts[0]["logits"])):
        found = [softmax(lg) for p in parts if (lg := p["logits"][j]) is not None]
        logits.append(np.log(np.mean(found, axis=0)) if found else None)
    return {
        "mean": mean,
        "std": std,
        "logits": logits,
        "rows": np.vstack([p["rows"] for p in parts]),
        "known": np.vstack([p["known"] for p in parts]),
        "quantiles": np.concatenate([p["quantiles"] for p in parts]),
        "shared": sorted({name for p in parts for name in p["shared"]}),
    }


class WarmStart:
    """The earlier searches mapped into this space, and how far this search trusts them."""

    def __init__(self, settings: WarmStartSettings, window: int, mapped: dict[str, Any], model: ModelSettings):
        self.settings = settings
        self.gamma = model.gamma  # the model's good fraction: the earlier results in it are the good ones
        self.space: SearchSpace | None = None  # this search's space, known from ``of`` or ``from_state``
        self.model_settings = model
        self.mapped = mapped  # mean, std, logits, rows, known, quantiles, shared
        self.trust = 1.0  # how far this search's results agree with the earlier ranking, in [0, 1]
        self.rejected = False  # the results contradicted the earlier search: it was dropped
        self.evidence = History(window, 1, 2)  # (earlier score, reward) of each result of this search
        self.replays: set[bytes] = set()  # the earlier configs in the opening, dropped with a rejection

    @classmethod
    def of(
        cls,
        snapshots: list[Snapshot],
        space: SearchSpace,
        settings: WarmStartSettings,
        policy: PolicySettings,
        window: int,
        model: ModelSettings,
    ) -> WarmStart:
        """The snapshots mapped into ``space`` and pooled; a ValueError names what does not fit."""
        if not snapshots:
            raise ValueError("warm_start: an empty list")
        min_std, max_std = policy.min_std, policy.max_std
        mapped = _pool([_map(space, s, min_std, max_std) for s in snapshots], min_std, max_std)
        warm = cls(settings, window, mapped, model)
        warm.space = space
        return warm

    @property
    def shared(self) -> list[str]:
        """The parameters this space shares with an earlier search."""
        return list(self.mapped["shared"])

    def weight(self, n_told: int) -> float:
        """The earlier results' total weight in the model now: weight * trust * 2^(-results / halflife)."""
        if self.rejected:
            return 0.0
        return self.settings.weight * self.trust * 0.5 ** (n_told / self.settings.halflife)

    def points(self, weight: float) -> Points | None:
        """The earlier good results (quantile in the best gamma of the earlier search) sharing
        ``weight``; None when there is no weight. The other earlier results stay out of the model: an
        earlier search that converged sampled them next to its best ones, so as "bad" points they
        would mark the good region itself as bad."""
        m = self.mapped
        if weight <= 0.0 or m["rows"].shape[0] == 0:
            return None
        good = m["quantiles"] > 1.0 - self.gamma
        good[np.argmax(m["quantiles"])] = True
        return Points(m["rows"][good], np.full(int(good.sum()), weight / good.sum()), m["known"][good])

    def begin(self, rng: np.random.Generator, policy: Policy, opening: Opening, size: int) -> None:
        """Starts the policy from the earlier one, and opens with the cold start's whole startup
        design (at least as many draws as replays) with the earlier best results (coordinates they do
        not know drawn from the policy) between its first draws. The draws are the controls the
        earlier search's agreement is judged against, and a warm start never explores less than a
        cold one."""
        assert self.space is not None
        m = self.mapped
        policy.start_from(m["mean"], m["std"], m["logits"])
        n = min(self.settings.replays, m["rows"].shape[0])
        best = np.argsort(-m["quantiles"], kind="stable")[:n]
        replays = np.where(m["known"][best], m["rows"][best], policy.sample(rng, n))
        controls = list(self.space.latin_hypercube(rng, max(size, n, 1)))
        self.replays = {row.tobytes() for row in replays}
        opening.rows = [row for pair in zip(replays, controls, strict=False) for row in pair] + controls[n:]

    def judge(self, row: np.ndarray, reward: float, n_told: int, policy: Policy, opening: Opening) -> None:
        """Judges the earlier search by one result of this search; when the results contradict it,
        the policy starts over cold and the earlier configs not asked yet leave the opening."""
        assert self.space is not None
        if self.observe(self.space.model_view(row[None, :])[0], reward, self.model, n_told):
            policy.reset()
            opening.drop(self.replays)

    @functools.cached_property
    def model(self) -> ParzenModel:
        """The density model of the earlier good results (the density ratio's kernels)."""
        assert self.space is not None
        m = self.model_settings
        return ParzenModel(self.space.n_numeric, self.space.category_sizes, m.bandwidth, m.category_smoothing)

    def observe(self, row: np.ndarray, reward: float, model: ParzenModel, n_told: int) -> bool:
        """Judges the earlier search by one result; True when it makes this search drop it."""
        s = self.settings
        good = self.points(weight=1.0) if not self.rejected else None
        if good is None or n_told > s.judged_halflives * s.halflife:
            return False
        score = float(model.log_density(row[None, :], good)[0])
        self.evidence.add(np.zeros(1), np.array([score, reward]))
        _, evidence = self.evidence.arrays()
        if evidence.shape[0] < s.min_evidence:
            return False
        agreement = _rank_correlation(evidence[:, 0], evidence[:, 1])
        self.trust = float(np.clip(agreement / s.full_trust, 0.0, 1.0))
        self.rejected = agreement < s.reject_below
        return self.rejected

    def state(self) -> dict[str, Any]:
        m = self.mapped
        replays = [np.frombuffer(b) for b in sorted(self.replays)]
        return {
            **{k: m[k] for k in ("mean", "std", "logits", "rows", "known", "quantiles", "shared")},
            "trust": self.trust,
            "rejected": self.rejected,
            "evidence": self.evidence.state(),
            "replays": np.array(replays).reshape(len(replays), m["rows"].shape[1]),
        }

    @classmethod
    def from_state(
        cls, settings: WarmStartSettings, window: int, state: dict[str, Any], model: ModelSettings, space: SearchSpace
    ) -> WarmStart:
        mapped = {k: state[k] for k in ("mean", "std", "rows", "known", "quantiles", "shared", "logits")}
        warm = cls(settings, window, mapped, model)
        warm.space = space
        warm.trust, warm.rejected = float(state["trust"]), bool(state["rejected"])
        warm.evidence.load(state["evidence"])
        warm.replays = {np.ascontiguousarray(row).tobytes() for row in state["replays"]}
        return warm
