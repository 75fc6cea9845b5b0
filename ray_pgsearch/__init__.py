"""ray_pgsearch: a Ray Tune searcher that tunes discrete and continuous hyperparameters together
with policy gradients, guided by a density-ratio model of the results.

Public API: ``PGSearcher`` (the Tune ``Searcher``), ``PGOptimizer`` (the Ray-free ask/tell core),
``Settings`` (its knobs) and ``SearchSpace`` (Tune domains <-> latent rows). The helper modules
``ray_pgsearch.tensorboard``, ``ray_pgsearch.report``, ``ray_pgsearch.pareto`` and
``ray_pgsearch.pbt`` are public too; modules whose names start with ``_`` are internal.
"""

from ._optimizer import PGOptimizer
from ._searcher import PGSearcher
from ._settings import Settings
from ._space import SearchSpace
from ._version import __version__

__all__ = ["PGOptimizer", "PGSearcher", "SearchSpace", "Settings", "__version__"]
