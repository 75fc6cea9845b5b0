"""ray_pgsearch: a Ray Tune searcher that tunes discrete and continuous hyperparameters together
with policy gradients, guided by a density-ratio model of the results.

Public API: ``PGSearcher`` (the Tune ``Searcher``), ``PGOptimizer`` (the Ray-free ask/tell core),
``Settings`` and its groups (the tuning numbers), ``SearchSpace`` (Tune domains <-> latent rows),
``SearchView`` (a read-only view of a search), ``Snapshot`` (what a warm start takes of an earlier
search), ``Extension`` (code that rides along a search) and ``CheckpointError``. The helper modules
``ray_pgsearch.tensorboard``, ``ray_pgsearch.report``, ``ray_pgsearch.pareto`` and
``ray_pgsearch.pbt`` are public too; modules whose names start with ``_`` are internal.
"""

from ._checkpoint import CheckpointError
from ._extension import Extension
from ._optimizer import PGOptimizer
from ._searcher import PGSearcher
from ._settings import (
    CandidateSettings,
    FailureSettings,
    HistorySettings,
    ModelSettings,
    ObjectiveSettings,
    PolicySettings,
    RejectionSettings,
    RerankSettings,
    RungSettings,
    Settings,
    StartupSettings,
    WarmStartSettings,
    settings_table,
)
from ._snapshot import Snapshot
from ._space import SearchSpace
from ._version import __version__
from ._view import ChoiceView, NumericView, SearchView, WarmStartView

__all__ = [
    "CandidateSettings",
    "ChoiceView",
    "FailureSettings",
    "NumericView",
    "WarmStartView",
    "CheckpointError",
    "RejectionSettings",
    "Extension",
    "HistorySettings",
    "ModelSettings",
    "ObjectiveSettings",
    "PGOptimizer",
    "PGSearcher",
    "PolicySettings",
    "RerankSettings",
    "RungSettings",
    "SearchSpace",
    "SearchView",
    "Settings",
    "Snapshot",
    "StartupSettings",
    "WarmStartSettings",
    "__version__",
    "settings_table",
]
