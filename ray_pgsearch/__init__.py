"""ray_pgsearch: a Ray Tune searcher that tunes discrete and continuous hyperparameters together
with policy gradients, guided by a density-ratio model of the results."""

from .optimizer import PGOptimizer, Settings
from .searcher import PGSearcher
from .space import SearchSpace

__all__ = ["PGOptimizer", "PGSearcher", "SearchSpace", "Settings"]
__version__ = "0.1.0"
