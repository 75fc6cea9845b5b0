"""Policy-guided Population Based Training, built on what Ray 2.60's PBT accepts.

Ray Tune's ``PopulationBasedTraining`` (and PB2) refuse every search algorithm (``on_trial_add``
raises a ValueError for any ``SearchGenerator``, which wraps every ``Searcher``), so PGSearcher cannot
sit under PBT. PBT does accept two things this module builds on:

* **its starting configs**: ``search_alg=BasicVariantGenerator(points_to_evaluate=configs)`` (a
  ``SearchAlgorithm`` but no ``SearchGenerator``, so PBT's check lets it through).
  `initial_population` draws those configs from a policy, fresh or learned in an earlier
  PGSearcher + ASHA run; `population_search_alg` wraps them.
* **its ``custom_explore_fn``**, which PBT calls in the driver process (``schedulers/pbt.py``,
  ``_explore`` inside ``_exploit``) with a deep copy of the cloned trial's config after its built-in
  mutations. `PolicyExplorer` is that callable *and* the ``tune.Callback`` that learns from
  the trial results which perturbations helped, so the explore step and the rewards share one
  object (see its docstring for how the sharing survives pickling and ``Tuner.restore``).

`pbt_mutations` derives PBT's ``hyperparam_mutations`` from the same Tune search space and
refuses architecture ("model") hyperparameters: PBT changes hyperparameters of a *running* trial
and copies weights between trials, which is only meaningful for training ("algorithm")
hyperparameters such as the learning rate, momentum or batch size (the NERSC HPO study: tune the
model hyperparameters first, e.g. with ASHA, then PBT only the algorithm hyperparameters).

The two-stage recipe (``train`` reports ``loss``; ``train_with_checkpoints`` also saves and loads
a checkpoint, as PBT needs):

```python
from ray import tune
from ray.tune.schedulers import ASHAScheduler
from ray_pgsearch import PGSearcher
from ray_pgsearch.pbt import PolicyExplorer, initial_population, population_search_alg

# stage 1: architecture and hyperparameters together, PGSearcher + ASHA
searcher = PGSearcher(seed=0)
tune.Tuner(train, param_space=space, tune_config=tune.TuneConfig(
    search_alg=searcher, scheduler=ASHAScheduler(), metric="loss", mode="min",
    num_samples=16, max_concurrent_trials=4, reuse_actors=True)).fit()
best = searcher.optimizer.best_config
# stage 2: fix the architecture, PBT the schedule of the algorithm hyperparameters
keys = ["lr", "batch_size"]
stage2 = {**space, **{k: v for k, v in best.items() if k not in keys}}  # architecture fixed
explorer = PolicyExplorer(stage2, keys, seed=0)
configs = initial_population(searcher, n=4, seed=0, fixed=best, keys=keys)
tune.Tuner(train_with_checkpoints, param_space=stage2, tune_config=tune.TuneConfig(
    search_alg=population_search_alg(configs),
    scheduler=explorer.scheduler(time_attr="training_iteration", perturbation_interval=2),
    metric="loss", mode="min", num_samples=len(configs), reuse_actors=True),
    run_config=tune.RunConfig(callbacks=[explorer])).fit()
```
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ray import tune
from ray.tune.search.sample import Domain

from ._explorer import (
    ALGORITHM_TOKENS,
    DEFAULT_FACTORS,
    MODEL_TOKENS,
    PolicyExplorer,
    as_space,
    fingerprint,
    is_model_key,
    mutable_param,
)
from ._optimizer import PGOptimizer
from ._searcher import PGSearcher
from ._snapshot import checkpoint_file
from ._space import CategoricalParam, NumericParam, SearchSpace
from ._util import copy_config, get_path, path_str, set_path
from ._view import SearchView

__all__ = [
    "ALGORITHM_TOKENS",
    "DEFAULT_FACTORS",
    "MODEL_TOKENS",
    "PolicyExplorer",
    "fingerprint",
    "initial_population",
    "is_model_key",
    "pbt_mutations",
    "population_search_alg",
]


def _domain(param: NumericParam) -> Domain:
    """A Tune domain with the parameter's range, for PBT's resampling."""
    if param.kind == "normal":
        d = tune.randn(param.mean, param.sd) if not param.q else tune.qrandn(param.mean, param.sd, param.q)
        return d
    if param.integer:
        step = param.q or 1
        step = int(step)
        lo, hi = int(param.lower) * step, int(param.upper) * step
        if param.kind == "log":
            return tune.lograndint(lo, hi) if step == 1 else tune.qlograndint(lo, hi - step, step)
        return tune.randint(lo, hi) if step == 1 else tune.qrandint(lo, hi - step, step)
    if param.kind == "log":
        return (
            tune.qloguniform(param.lower, param.upper, param.q)
            if param.q
            else tune.loguniform(param.lower, param.upper)
        )
    return tune.quniform(param.lower, param.upper, param.q) if param.q else tune.uniform(param.lower, param.upper)


def pbt_mutations(
    space: Mapping[str, Any] | SearchSpace,
    keys: Sequence[str],
    model_keys: Iterable[str] = (),
    algorithm_keys: Iterable[str] = (),
) -> dict:
    """``hyperparam_mutations`` for ``PopulationBasedTraining`` over the algorithm hyperparameters
    ``keys`` of a Tune search space (nested keys as "a/b" paths; the result is nested the same way).

    Numeric keys get a Tune domain with the space's range (PBT resamples from it or multiplies by
    its ``perturbation_factors``; note that PBT itself does not clip the product to the range),
    ``tune.choice`` keys get their category list (PBT shifts to a neighbour or resamples).

    Raises:
        ValueError: for a key that names an architecture hyperparameter (see `is_model_key`;
            ``model_keys`` lists more, ``algorithm_keys`` overrides it), naming the key and the NERSC
            advice; for a key that is not
            searched in the space.
    """
    space = as_space(space)
    if not keys:
        raise ValueError("pbt_mutations needs at least one algorithm hyperparameter key")
    mutations: dict = {}
    for key in keys:
        param = mutable_param(space, key, model_keys, algorithm_keys)
        node = mutations
        for part in param.path[:-1]:
            node = node.setdefault(part, {})
        if isinstance(param, CategoricalParam):
            node[param.path[-1]] = list(param.categories)
        else:
            node[param.path[-1]] = _domain(param)
    return mutations


def _view_of(source: Any) -> SearchView:
    """The search in a PGOptimizer, a PGSearcher or a searcher checkpoint (a file, or the newest in
    an experiment directory), read through its view."""
    if hasattr(source, "view") and callable(source.view):
        return source.view()
    if isinstance(source, (str, os.PathLike)):
        searcher = PGSearcher()
        searcher.restore(checkpoint_file(os.fspath(source)))
        return searcher.view()
    raise TypeError(f"cannot draw a population from {type(source).__name__}")


def initial_population(
    source: Any,
    n: int,
    seed: int | None = None,
    fixed: Mapping[str, Any] | None = None,
    keys: Sequence[str] | None = None,
    include_best: bool = False,
) -> list[dict]:
    """``n`` starting configs for PBT drawn from a policy.

    ``source`` is a search space (a fresh PGOptimizer: its first ``n`` asks, a Latin hypercube over
    the domains, stratified unlike Tune's independent draws), or a trained ``PGOptimizer`` /
    ``PGSearcher`` / PGSearcher checkpoint (a file or an experiment directory): then each config is
    x ~ pi, the learned policy (Gaussian per numeric latent, softmax per choice). With ``keys``, only
    those keys are taken from the draw and every other key from ``fixed`` (e.g. the best
    architecture of stage 1); ``include_best`` makes the first config the source's best config so far.

    Pass them to PBT as ``search_alg=population_search_alg(configs)`` with ``num_samples=len(configs)``.
    """
    if n < 1:
        raise ValueError("n must be >= 1")
    if isinstance(source, (Mapping, SearchSpace)):
        opt = PGOptimizer(source, seed=seed, startup={"size": n})
        configs = [opt.ask() for _ in range(n)]
        space = opt.space
    else:
        view = _view_of(source)
        configs, space = view.sample(n, seed), view.space
        if include_best and view.best_config is not None:
            configs[0] = view.best_config
    if keys is not None:
        base = dict(fixed) if fixed is not None else {}
        params = {path_str(p.path): p for p in space.params}
        out = []
        for config in configs:
            merged = copy_config(base)
            for key in keys:
                if key not in params:
                    raise ValueError(f"'{key}' is not a searched key of the source's space")
                set_path(merged, params[key].path, get_path(config, params[key].path))
            out.append(merged)
        configs = out
    return configs


def population_search_alg(configs: Sequence[Mapping[str, Any]]) -> Any:
    """The search algorithm PBT accepts that starts trials from ``configs``: a
    ``BasicVariantGenerator`` with them as ``points_to_evaluate`` (use ``num_samples=len(configs)``)."""
    from ray.tune.search.basic_variant import BasicVariantGenerator

    return BasicVariantGenerator(points_to_evaluate=[copy_config(c) for c in configs])
