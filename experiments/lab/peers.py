"""The peer searchers, each seeded and driven through the interface a Ray Tune user would use, by name in
`PEERS` (``factory(seed, budget, concurrency)``); PGSearcher and its ablation arms are in
`experiments.lab.arms`.

Uniform random search, Optuna's TPE, HyperOpt, Nevergrad's NGOpt and the naive policy gradient come with
the project's extras. Ray 2.60 wraps HEBO (`HEBOSearch`), Ax/BoTorch (`AxSearch`), BOHB (`TuneBOHB`) and
Optuna (`OptunaSearch`); SMAC3 has no Ray wrapper, so `SMACSearcher` drives its ask/tell interface. Install
those with `experiments/install_peers.sh`. The GP-based peers (HEBO, Ax, Optuna's GP sampler) run their
torch code on one thread: the lab runs one searcher per process.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
from ray.tune.search import Searcher
from ray.tune.utils.util import unflatten_dict

from experiments.lab.spaces import sample_config


class RandomSearcher(Searcher):
    """Uniform random search: every domain sampled with Ray's own sampler (nested spaces too)."""

    def __init__(self, metric: str | None = None, mode: str | None = None, seed: int | None = None) -> None:
        super().__init__(metric=metric, mode=mode)
        self._rng = np.random.default_rng(seed)
        self._space: dict | None = None

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        """Adopt the Tune search space."""
        if self._space is not None:
            return False
        self._metric, self._mode, self._space = metric, mode, config
        return True

    def suggest(self, trial_id: str) -> dict:
        """A uniform draw from the space."""
        return sample_config(self._space, self._rng)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        """Random search ignores results."""


def quiet() -> None:
    """Silence the peer searchers' logging."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    for name in ("hyperopt", "ray.tune.search"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _optuna(seed: int, budget: int, concurrency: int) -> Searcher:
    """Optuna's default sampler (TPE) through Ray's OptunaSearch; from Optuna 5.0 its TPESampler runs the
    constant liar by default (pending trials count as bad), so pending trials steer the next proposals."""
    from ray.tune.search.optuna import OptunaSearch

    return OptunaSearch(seed=seed)


def _hyperopt(seed: int, budget: int, concurrency: int) -> Searcher:
    """HyperOpt TPE through Ray's HyperOptSearch."""
    from ray.tune.search.hyperopt import HyperOptSearch

    return HyperOptSearch(random_state_seed=seed)


def _nevergrad(seed: int, budget: int, concurrency: int) -> Searcher:
    """Nevergrad's NGOpt, told the budget and number of workers, seeded via its parametrization."""
    import nevergrad as ng
    from ray.tune.search.nevergrad import NevergradSearch

    class SeededNevergradSearch(NevergradSearch):
        def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
            ok = super().set_search_properties(metric, mode, config, **spec)
            self._nevergrad_opt.parametrization.random_state = np.random.RandomState(seed)
            return ok

    return SeededNevergradSearch(
        optimizer=ng.optimizers.NGOpt, optimizer_kwargs={"budget": budget, "num_workers": concurrency}
    )


def _naive_pg(seed: int, budget: int, concurrency: int) -> Searcher:
    """The source article's naive policy gradient."""
    from experiments.lab.naive_pg import NaivePGSearcher

    return NaivePGSearcher(seed=seed)


def one_torch_thread() -> None:
    """Keep torch (HEBO, Ax, Optuna's GP) to one thread, as one benchmark process gets one core."""
    import torch

    torch.set_num_threads(1)


def _hebo(seed: int, budget: int, concurrency: int) -> Searcher:
    """HEBO (the NeurIPS 2020 challenge's winner) through Ray's HEBOSearch; it suggests whole batches."""
    from ray.tune.search.hebo import HEBOSearch

    one_torch_thread()
    return HEBOSearch(random_state_seed=seed, max_concurrent=concurrency)


def _ax(seed: int, budget: int, concurrency: int) -> Searcher:
    """Ax (Sobol start, then BoTorch GP) through Ray's AxSearch, seeded via its AxClient."""
    from ray.tune.search.ax import AxSearch

    one_torch_thread()
    for name in ("ax", "ray.tune.search.ax"):
        logging.getLogger(name).setLevel(logging.ERROR)
    return AxSearch(random_seed=seed, verbose_logging=False)


def _optuna_gp(seed: int, budget: int, concurrency: int) -> Searcher:
    """Optuna's Gaussian-process sampler through Ray's OptunaSearch."""
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    one_torch_thread()
    return OptunaSearch(sampler=optuna.samplers.GPSampler(seed=seed))


def tune_bohb(seed: int, concurrency: int) -> Searcher:
    """BOHB's model through Ray's TuneBOHB, for ``HyperBandForBOHB`` (which gives it budgets); hpbandster
    samples with numpy's global generator, so `seed` also seeds that."""
    from ray.tune.search.bohb import TuneBOHB

    np.random.seed(seed)
    return TuneBOHB(seed=seed, max_concurrent=concurrency)


class PlainBOHB(Searcher):
    """BOHB's model (hpbandster's KDE) through Ray's TuneBOHB as a plain searcher: every trial at one budget.

    TuneBOHB learns only from results carrying HyperBandForBOHB's `hyperband_info`; this adapter reports
    each finished trial as a result at budget 1 before completing it, which is what TuneBOHB sees under
    HyperBandForBOHB with a single rung. hpbandster samples with numpy's global generator, so `seed`
    also seeds that.
    """

    def __init__(self, seed: int) -> None:
        from ray.tune.search.bohb import TuneBOHB

        super().__init__()
        np.random.seed(seed)
        self._bohb = TuneBOHB(seed=seed)

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        """Hand the space, metric and mode to TuneBOHB."""
        self._metric, self._mode = metric, mode
        return self._bohb.set_search_properties(metric, mode, config, **spec)

    def set_max_concurrency(self, max_concurrent: int) -> bool:
        """TuneBOHB holds back suggestions beyond `max_concurrent` running trials."""
        return self._bohb.set_max_concurrency(max_concurrent)

    def suggest(self, trial_id: str) -> dict | None:
        """TuneBOHB's next config."""
        return self._bohb.suggest(trial_id)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        """Report the result at budget 1 (what BOHB's model learns from), then complete the trial."""
        if result is not None and not error:
            self._bohb.on_trial_result(trial_id, {**result, "hyperband_info": {"budget": 1}})
        self._bohb.on_trial_complete(trial_id, result, error)


class SMACSearcher(Searcher):
    """SMAC3's hyperparameter-optimization facade (random forest, log EI) as a Tune `Searcher`, ask/tell.

    The Tune space becomes a ConfigSpace with TuneBOHB's converter (the one Ray uses for ConfigSpace;
    it drops `qrandint`'s quantization), and SMAC is told the budget so its initial design is sized as
    it would be. SMAC writes its run history to a temporary folder that is removed when the searcher is
    garbage-collected. Up to `concurrency` asks are outstanding at once; failed trials are told as `inf`.
    """

    def __init__(self, seed: int, budget: int) -> None:
        super().__init__()
        self._seed, self._budget = seed, budget
        self._smac: Any = None
        self._pending: dict[str, Any] = {}
        self._exhausted = False
        self._folder = Path(tempfile.mkdtemp(prefix="smac3_"))

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        """Build the SMAC facade for the space (only once)."""
        if self._smac is not None:
            return False
        from ray.tune.search.bohb import TuneBOHB
        from smac import HyperparameterOptimizationFacade, Scenario

        logging.getLogger("smac").setLevel(logging.ERROR)
        self._metric, self._mode = metric, mode
        scenario = Scenario(
            TuneBOHB.convert_search_space(config),
            deterministic=True,
            n_trials=self._budget,
            seed=self._seed,
            output_directory=self._folder,
        )
        self._smac = HyperparameterOptimizationFacade(
            scenario, lambda config, seed=0: 0.0, overwrite=True, logging_level=logging.ERROR
        )
        return True

    def suggest(self, trial_id: str) -> dict | str | None:
        """SMAC's next config (nested back into the Tune space's shape); `FINISHED` once SMAC has run every
        config of a finite space (it never repeats one)."""
        from smac.main.exceptions import ConfigurationSpaceExhaustedException

        if self._exhausted:
            return Searcher.FINISHED
        try:
            info = self._smac.ask()
        except (ConfigurationSpaceExhaustedException, StopIteration):  # its generator then stays exhausted
            self._exhausted = True
            return Searcher.FINISHED
        self._pending[trial_id] = info
        return unflatten_dict(dict(info.config))

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        """Tell SMAC the trial's loss (negated for mode "max")."""
        from smac.runhistory.dataclasses import TrialValue

        info = self._pending.pop(trial_id, None)
        if info is None:
            return
        if error or result is None:
            cost = float("inf")
        else:
            cost = float(result[self._metric]) * (-1.0 if self._mode == "max" else 1.0)
        self._smac.tell(info, TrialValue(cost=cost), save=False)

    def __del__(self) -> None:
        shutil.rmtree(self._folder, ignore_errors=True)


PEERS: dict[str, Callable[[int, int, int], Searcher]] = {
    "random": lambda seed, budget, concurrency: RandomSearcher(seed=seed),
    "tpe": _optuna,
    "hyperopt": _hyperopt,
    "ngopt": _nevergrad,
    "bohb": lambda seed, budget, concurrency: PlainBOHB(seed),
    "smac": lambda seed, budget, concurrency: SMACSearcher(seed, budget),
    "hebo": _hebo,
    "ax": _ax,
    "optuna_gp": _optuna_gp,
    "naive_pg": _naive_pg,
}

# Seconds of searcher time per trial are orders of magnitude above the others: budget their runs.
GP_PEERS = ("hebo", "ax", "optuna_gp", "smac")
# The peers that install with the project's extras (the others come from experiments/install_peers.sh).
CHEAP = ("random", "tpe", "hyperopt", "ngopt")
