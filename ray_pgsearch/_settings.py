"""The settings of the search: one frozen group per component, every field declared once.

Each field's default, range, documentation and 0.2 name live in its ``setting(...)`` declaration
(``_declare``); validation, error messages, suggestions for a misspelled name and the documentation
table (``settings_table()``) are derived from it.
"""

from __future__ import annotations

import dataclasses
import typing
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._declare import Catalog, Group, setting

__all__ = [
    "OLD_NAMES",
    "CandidateSettings",
    "FailureSettings",
    "RejectionSettings",
    "HistorySettings",
    "ModelSettings",
    "ObjectiveSettings",
    "PolicySettings",
    "RerankSettings",
    "RungSettings",
    "Settings",
    "StartupSettings",
    "WarmStartSettings",
    "settings_table",
]


@dataclass(frozen=True)
class StartupSettings(Group):
    """The opening: a Latin hypercube over the domains' own distributions."""

    _name = "startup"
    size: int = setting(
        10, "[0, inf)", "trials drawn from a Latin hypercube before the model step starts", old="n_startup"
    )


@dataclass(frozen=True)
class HistorySettings(Group):
    """The results the policy and the model learn from."""

    _name = "history"
    window: int = setting(
        128,
        "[2, inf)",
        "finished trials kept for the policy update and the model (bounds the cost per trial)",
        old="window",
    )


@dataclass(frozen=True)
class PolicySettings(Group):
    """The policy's Gaussians (latent units) and softmaxes, and their steps."""

    _name = "policy"
    init_std: float = setting(0.3, "(0, inf)", "standard deviation of every Gaussian at the start", old="init_std")
    min_std: float = setting(0.02, "(0, inf)", "floor of the Gaussians' standard deviations", old="min_std")
    max_std: float = setting(1.0, "(0, inf)", "ceiling of the Gaussians' standard deviations", old="max_std")
    lr_mean: float = setting(0.05, "[0, inf)", "step size of the Gaussians' means", old="lr_mean")
    lr_std: float = setting(0.02, "[0, inf)", "step size of the Gaussians' log standard deviations", old="lr_std")
    lr_logits: float = setting(0.1, "[0, inf)", "step size of the choices' logits", old="lr_logits")
    entropy_coef: float = setting(0.01, "[0, inf)", "weight of the entropy bonus in every step", old="entropy_coef")
    max_prob_ratio: float = setting(
        100.0, "(1, inf)", "no category falls below 1 / this of the likeliest one", old="max_prob_ratio"
    )

    def _check(self) -> None:
        if not self.min_std <= self.init_std <= self.max_std:
            raise ValueError(
                "Settings.policy needs min_std <= init_std <= max_std, got "
                f"{self.min_std}, {self.init_std}, {self.max_std}"
            )


@dataclass(frozen=True)
class CandidateSettings(Group):
    """The proposals the model chooses from at each ask."""

    _name = "candidates"
    count: int = setting(
        256, "[1, inf)", "proposals the model chooses from at each ask (1: the policy's draw)", old="n_candidates"
    )
    model_fraction: float = setting(
        0.25,
        "[0, 1]",
        "fraction of the proposals drawn from the good density l(x) instead of the policy",
        old="model_candidates",
    )
    uniform_weight: float = setting(
        1.0,
        "[0, inf)",
        "weight of the uniform point among l(x)'s kernels when proposals are drawn from it, relative to a result",
        old="prior_candidates",
    )
    uniform_min_running: int = setting(
        32,
        "[1, inf)",
        "the fewest trials in flight (the one asked included) at which uniform_weight applies",
        old="prior_candidates_in_flight",
    )


@dataclass(frozen=True)
class ModelSettings(Group):
    """The Parzen density ratio l(x) / g(x) that ranks the proposals."""

    _name = "model"
    gamma: float = setting(0.15, "(0, 1)", "fraction of the window's results in the good group", old="gamma")
    bandwidth: float = setting(
        0.1,
        "(0, inf)",
        "kernel width in latent units: h = bandwidth * (m + 1)^(-1/(d+4)) for m results in d dimensions",
        old="bandwidth",
    )
    category_smoothing: float = setting(
        1.0,
        "(0, inf)",
        "weight of every category in a category kernel (its own weighs 1), relative to m + 1",
        old="cat_prior",
    )
    pending_weight: float = setting(
        0.1, "(0, inf)", "weight of each trial in flight in the bad group, relative to a result", old="pending_weight"
    )
    partial_weight: float = setting(
        0.5,
        "[0, inf)",
        "weight of a running trial's latest report (good or bad by its rung quantile; 0: unused)",
        old="partial_weight",
    )


@dataclass(frozen=True)
class RerankSettings(Group):
    """The Gaussian process that reorders the density ratio's best proposals by expected improvement."""

    _name = "rerank"
    size: int = setting(
        16, "[0, inf)", "the density ratio's best proposals the process reorders (0 or 1: none)", old="gp_rerank"
    )
    max_running: int = setting(
        1024, "[0, inf)", "the process reranks only while at most this many trials run", old="gp_max_pending"
    )
    min_results: int = setting(10, "[1, inf)", "results (and reports) before the process reranks")
    refit_every: int = setting(8, "[1, inf)", "results between two picks of the length scale and noise")
    best: int = setting(32, "[1, inf)", "the window's best results the process conditions on")
    recent: int = setting(16, "[0, inf)", "... and its latest results")
    running: int = setting(8, "[0, inf)", "... and the trials in flight asked last (their reports, else as believers)")
    length_scales: tuple[float, ...] = setting(
        (0.05, 0.1, 0.2, 0.4, 0.8), "(0, inf)", "the length scales it picks from"
    )
    noises: tuple[float, ...] = setting(
        (0.001, 0.1), "(0, inf)", "the noise variances it picks from (normal-score units)"
    )


@dataclass(frozen=True)
class WarmStartSettings(Group):
    """A warm start from an earlier search: how much its results weigh and how they are judged."""

    _name = "warm_start"
    weight: float = setting(
        10.0,
        "[0, inf)",
        "total weight of the earlier results in the model at the start, in results",
        old="prior_weight",
    )
    halflife: float = setting(
        10.0, "(0, inf)", "results of this search after which that weight has halved", old="prior_halflife"
    )
    replays: int = setting(
        4, "[0, inf)", "the earlier search's best configs asked again first, between the startup draws"
    )
    min_evidence: int = setting(
        6, "[2, inf)", "results of this search before its agreement with the earlier one is judged"
    )
    judged_halflives: float = setting(3.0, "[0, inf)", "halflives of results during which the agreement is judged")
    full_trust: float = setting(
        0.3, "(0, 1]", "a rank correlation from here on keeps the earlier results at full weight"
    )
    reject_below: float = setting(0.0, "[-1, 1]", "a rank correlation below this drops the earlier search")


@dataclass(frozen=True)
class RungSettings(Group):
    """Rung-aware values of trials a scheduler stopped early, and of running trials' reports."""

    _name = "rungs"
    min_count: int = setting(3, "[1, inf)", "values reported at a training iteration before it is a reference")


@dataclass(frozen=True)
class ObjectiveSettings(Group):
    """Several objectives: the augmented Chebyshev scalarization."""

    _name = "objectives"
    rho: float = setting(0.05, "[0, inf)", "weight of the sum term of the augmented Chebyshev scalarization")


@dataclass(frozen=True)
class RejectionSettings(Group):
    """Configs a ``constraint`` refuses."""

    _name = "rejection"
    max_in_a_row: int = setting(
        1000, "[0, inf)", "samples the constraint may refuse in a row before ask() raises", old="max_rejections"
    )


@dataclass(frozen=True)
class FailureSettings(Group):
    """Trials that crash (an exception, a NaN or infinite metric): where they fail is learned."""

    _name = "failures"
    strength: float = setting(
        10.0, "[0, inf)", "the proposals' scores take strength * log P(ok | x) (0: the failure model is off)"
    )
    halflife: float = setting(100.0, "(0, inf)", "results told after which a failure's weight has halved")


_GROUPS: dict[str, type[Group]] = {
    "startup": StartupSettings,
    "history": HistorySettings,
    "policy": PolicySettings,
    "candidates": CandidateSettings,
    "model": ModelSettings,
    "rerank": RerankSettings,
    "warm_start": WarmStartSettings,
    "rungs": RungSettings,
    "objectives": ObjectiveSettings,
    "rejection": RejectionSettings,
    "failures": FailureSettings,
}


@dataclass(frozen=True)
class Settings:
    """Every tuning number of the search, one frozen group per component; the defaults are the
    benchmarked ones.

    Each group is validated when it is made (a ValueError names the field and its range). Pass a
    whole object (``PGSearcher(settings=Settings(model=ModelSettings(gamma=0.2)))``) or groups as
    keyword arguments, as objects or as dicts of their fields (``PGSearcher(model={"gamma": 0.2})``).
    ``settings_table()`` documents every field.
    """

    startup: StartupSettings = field(default_factory=StartupSettings)
    history: HistorySettings = field(default_factory=HistorySettings)
    policy: PolicySettings = field(default_factory=PolicySettings)
    candidates: CandidateSettings = field(default_factory=CandidateSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    rerank: RerankSettings = field(default_factory=RerankSettings)
    warm_start: WarmStartSettings = field(default_factory=WarmStartSettings)
    rungs: RungSettings = field(default_factory=RungSettings)
    objectives: ObjectiveSettings = field(default_factory=ObjectiveSettings)
    rejection: RejectionSettings = field(default_factory=RejectionSettings)
    failures: FailureSettings = field(default_factory=FailureSettings)

    def __post_init__(self) -> None:
        for name, group in _GROUPS.items():
            if not isinstance(getattr(self, name), group):
                raise TypeError(f"Settings.{name} must be a {group.__name__}, got {getattr(self, name)!r}")

    @classmethod
    def from_args(cls, settings: Settings | None = None, **overrides: Any) -> Settings:
        """``settings`` (default: the defaults) with ``overrides`` replacing groups or fields: a group
        by name (an object of its class, or a dict of some of its fields), or a 0.2 flat name
        (``gamma=0.2``; deprecated, with a warning). An unknown name raises a TypeError that suggests
        the close ones."""
        if settings is not None and not isinstance(settings, Settings):
            raise TypeError(f"settings must be a ray_pgsearch.Settings, got {type(settings).__name__}")
        groups = {name: getattr(settings or cls(), name) for name in _GROUPS}
        changes: dict[str, dict[str, Any]] = {}
        for key, value in overrides.items():
            if key in _GROUPS:
                if isinstance(value, _GROUPS[key]):
                    groups[key] = value
                elif isinstance(value, Mapping):
                    CATALOG.check_fields(key, value)
                    changes.setdefault(key, {}).update(value)
                else:
                    raise TypeError(f"{key}= takes a {_GROUPS[key].__name__} or a dict of its fields, got {value!r}")
            elif key in OLD_NAMES:
                group, name = OLD_NAMES[key]
                warnings.warn(
                    f"the setting {key!r} is now {group}.{name} (pass {group}={{{name!r}: ...}}); "
                    "the old name goes away in the next release",
                    DeprecationWarning,
                    stacklevel=3,
                )
                changes.setdefault(group, {})[name] = value
            elif key == "restart_after":
                raise TypeError(
                    "restart_after: restarts left the library (they cost more than they gain by default); "
                    "the benchmark lab keeps them as an extension (experiments/lab/restarts.py)"
                )
            else:
                raise TypeError(f"unknown setting {key!r}{CATALOG.suggestion(key)}")
        for key, fields in changes.items():
            groups[key] = dataclasses.replace(groups[key], **fields)
        return cls(**groups)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """The settings as plain data (tuples as lists), as a checkpoint stores them."""
        return {
            name: {
                k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(getattr(self, name)).items()
            }
            for name in _GROUPS
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Mapping[str, Any]]) -> Settings:
        """The inverse of ``to_dict``; groups or fields it lacks keep their defaults."""
        groups = {}
        for name, values in data.items():
            if name not in _GROUPS:
                raise ValueError(f"unknown settings group {name!r}{CATALOG.suggestion(name)}")
            CATALOG.check_fields(name, values)
            hints = typing.get_type_hints(_GROUPS[name])
            groups[name] = _GROUPS[name](
                **{k: tuple(v) if hints[k] not in (int, float) else v for k, v in values.items()}
            )
        return cls(**groups)  # type: ignore[arg-type]


CATALOG = Catalog(_GROUPS)
OLD_NAMES = CATALOG.old_names


def settings_table() -> str:
    """A markdown table of every setting: name, default, range, meaning and 0.2 name."""
    return CATALOG.table()
