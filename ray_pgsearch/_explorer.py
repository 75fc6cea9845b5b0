"""The policy-guided explore step of PBT: ``PolicyExplorer`` (see ``ray_pgsearch.pbt``)."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from ray import tune
from ray.tune.schedulers import PopulationBasedTraining

from ._objectives import as_reward
from ._params import CategoricalParam, NumericParam
from ._space import SearchSpace
from ._util import copy_config, floor_logits, get_path, path_str, set_path, softmax

__all__ = [
    "ALGORITHM_TOKENS",
    "DEFAULT_FACTORS",
    "MODEL_TOKENS",
    "PolicyExplorer",
    "as_space",
    "fingerprint",
    "is_model_key",
    "mutable_param",
]

DEFAULT_FACTORS = (0.5, 0.8, 1.25, 2.0)
_MAX_ADVANTAGE = 3.0  # |A| is clipped here: one lucky segment moves the logits a bounded amount
_MIN_SCALE = 1e-12  # floor of the advantage's scale (all rewards equal so far)
_PENDING_CAPACITY = 256  # explored configs waiting for their trial's first result
_SCORES_CAPACITY = 1024  # running configs whose latest reward is remembered
_SEGMENTS_CAPACITY = 1024  # open segments (trials whose explored config is being measured)


# Leaf-name tokens of architecture ("model") hyperparameters: PBT must not mutate these.
MODEL_TOKENS = tuple(
    (
        "layer layers nlayers width widths depth units unit filters filter channels channel hidden blocks "
        "block heads head kernel stride pool pooling neurons embed embedding dim dims arch architecture "
        "activation features resnet cells experts"
    ).split()
)

# Leaf-name tokens of training ("algorithm") hyperparameters; they win over MODEL_TOKENS in one name,
# so "head_lr", "embedding_dropout" and "kernel_l2" are algorithm hyperparameters.
ALGORITHM_TOKENS = tuple(
    (
        "lr rate learning momentum beta beta1 beta2 eps epsilon decay wd l1 l2 dropout batch clip warmup "
        "temperature tau gamma alpha lambda reg penalty schedule noise smoothing"
    ).split()
)


def as_space(space: Mapping[str, Any] | SearchSpace) -> SearchSpace:
    return space if isinstance(space, SearchSpace) else SearchSpace(space)


def is_model_key(key: str, model_keys: Iterable[str] = (), algorithm_keys: Iterable[str] = ()) -> bool:
    """True when ``key`` ("a/b" path) names an architecture hyperparameter. The user's lists decide
    first (``algorithm_keys``, then ``model_keys``); otherwise the last path component is split into
    tokens (at ``_``, ``-``, ``.`` and camelCase): a token in ``ALGORITHM_TOKENS`` makes it an
    algorithm hyperparameter (``head_lr``, ``embedding_dropout``), else a token in ``MODEL_TOKENS``
    (trailing digits ignored) makes it a model one (``num_layers``, ``hidden_size``, ``model/width``)."""
    if key in set(algorithm_keys):
        return False
    if key in set(model_keys):
        return True
    leaf = key.split("/")[-1]
    leaf = re.sub(r"([a-z])([A-Z])", r"\1_\2", leaf).lower()
    tokens = [t for t in re.split(r"[_\-.\s]+", leaf) if t]
    if any(t in ALGORITHM_TOKENS for t in tokens):
        return False
    return any(t.rstrip("0123456789") in MODEL_TOKENS for t in tokens)


def mutable_param(
    space: SearchSpace, key: str, model_keys: Iterable[str], algorithm_keys: Iterable[str]
) -> NumericParam | CategoricalParam:
    """The parameter at ``key`` (checked to be searched and an algorithm hyperparameter)."""
    if is_model_key(key, model_keys, algorithm_keys):
        raise ValueError(
            f"'{key}' looks like an architecture (model) hyperparameter: PBT changes hyperparameters of "
            "running trials and copies weights between them, so it may only mutate training (algorithm) "
            "hyperparameters such as the learning rate, momentum or batch size. As the NERSC HPO study "
            f"advises, tune '{key}' first (e.g. PGSearcher + ASHA), fix it, and then run PBT on the "
            "algorithm hyperparameters only. If it is a training hyperparameter, list it in algorithm_keys"
        )
    by_name = {path_str(p.path): p for p in space.params}
    if key not in by_name:
        raise ValueError(f"'{key}' is not a searched key of the space; searched keys: {sorted(by_name)}")
    return by_name[key]


def fingerprint(config: Mapping[str, Any]) -> str:
    """A stable hash of a config (JSON, keys sorted, floats by repr): how the callback recognizes
    the config an explore step produced when its trial reports under it."""
    text = json.dumps(config, sort_keys=True, default=repr)
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


class _State:
    """The learning state a PolicyExplorer shares between its explore calls and its callback."""

    def __init__(self, n_keys: int, n_actions: list[int], seed: int | None):
        self.logits = [np.zeros(k) for k in n_actions]
        self.rng = np.random.default_rng(seed)
        self.baseline = 0.0  # EMA of rewards: the REINFORCE baseline b
        self.scale = 0.0  # EMA of |r - b|: normalizes the advantage
        self.n_rewards = 0
        self.n_explores = 0
        self.metric: str | None = None  # as Tune set them on the explorer's scheduler
        self.mode: str | None = None
        self.pending: dict[str, dict] = {}  # fingerprint of an explored config -> its actions and parent score
        # fingerprint of a running config -> (latest reward, its iteration, per-iteration rate or None)
        self.scores: dict[str, tuple[float, int, float | None]] = {}
        self.segments: dict[str, dict] = {}  # trial id -> the open segment (actions, parent, first/last reward)
        self.lock = threading.Lock()

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        del state["lock"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.lock = threading.Lock()


_REGISTRY: dict[str, _State] = {}  # uid -> the one live state of that explorer in this process


class _ExplorerPBT(PopulationBasedTraining):
    """PBT that tells its explorer the metric and mode Tune sets on it (from ``tune.TuneConfig``)."""

    explorer_uid = ""

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        done = super().set_search_properties(metric, mode, **spec)
        state = _REGISTRY.get(self.explorer_uid)
        if done and state is not None:
            state.metric, state.mode = self._metric, self._mode
        return done


class PolicyExplorer(tune.Callback):
    """PBT's ``custom_explore_fn`` that samples perturbations from a learned policy, and the
    ``tune.Callback`` that teaches it (one object: pass it to both).

    Policy: per mutable key a softmax over actions, the multiplicative ``factors`` for numeric keys
    (the new value ``v * f`` is clipped to the domain, integer and grid domains rounded) and the
    shifts {-1, +1} along the category list for ``tune.choice`` keys. With ``resample_probability``
    a key is instead resampled from its domain (not credited to the policy).

    Reward: the change in the metric's rate of progress that the perturbation caused. When an
    explored config's trial has ``horizon`` results under it (or ends, or is exploited again
    first), r = (m_end - m_parent) / (t_end - t_parent) - rate_parent: the per-iteration gain since
    the checkpoint it was cloned from, minus the parent's own per-iteration gain over its last two
    results (m sign-adjusted by ``mode``, t = ``training_iteration``). Comparing rates, not levels,
    keeps r about stationary while the population improves (an lr decay that speeds up the loss's
    descent scores positive at any stage). Segments whose parent is unknown are not learned from.
    Update: REINFORCE with a baseline, theta_k += lr * A * (onehot(a_k) - softmax(theta_k))
    with A = clip((r - b) / s, -3, 3), b and s exponential moving averages of r and |r - b|, and the
    logits kept within ``log(max_prob_ratio)`` of the largest so every action stays possible. Each
    result costs O(1); the bookkeeping dicts are bounded.

    Sharing: the state lives in a per-process registry keyed by the explorer's ``uid``. Tune
    pickles the scheduler (holding this object as ``custom_explore_fn``) and the callbacks
    separately; every copy unpickled in the same process joins the first one's state, so explore
    steps and rewards always meet. PBT and callbacks both run in the driver process. On
    ``Tuner.restore`` the callback's ``get_state``/``set_state`` (experiment checkpoint) bring the
    learned logits and baseline back; open segments of trials that were running are dropped.
    """

    def __init__(
        self,
        space: Mapping[str, Any] | SearchSpace,
        keys: Sequence[str],
        metric: str | None = None,
        mode: str | None = None,
        factors: Sequence[float] = DEFAULT_FACTORS,
        resample_probability: float = 0.0,
        lr: float = 0.3,
        horizon: int | None = None,
        max_prob_ratio: float = 20.0,
        ema: float = 0.2,
        model_keys: Iterable[str] = (),
        algorithm_keys: Iterable[str] = (),
        seed: int | None = None,
    ):
        space = as_space(space)
        self.params = [mutable_param(space, key, model_keys, algorithm_keys) for key in keys]
        self.keys = list(keys)
        if not factors or any(not (f > 0) for f in factors):
            raise ValueError("factors must be positive numbers")
        if mode not in (None, "min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.factors = tuple(float(f) for f in factors)
        self.metric, self.mode = metric, mode
        self.resample_probability = float(resample_probability)
        self.lr, self.horizon, self.ema = float(lr), horizon, float(ema)
        self.max_prob_ratio = float(max_prob_ratio)
        self.uid = uuid.uuid4().hex
        n_actions = [2 if isinstance(p, CategoricalParam) else len(self.factors) for p in self.params]
        _REGISTRY[self.uid] = _State(len(self.params), n_actions, seed)

    # -- the shared state --------------------------------------------------------------------------
    @property
    def state(self) -> _State:
        return _REGISTRY[self.uid]

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_snapshot"] = _REGISTRY.get(self.uid)
        return state

    def __setstate__(self, state: dict) -> None:
        snapshot = state.pop("_snapshot", None)
        self.__dict__.update(state)
        if self.uid not in _REGISTRY and snapshot is not None:
            _REGISTRY[self.uid] = snapshot  # first copy in this process: its snapshot becomes the state

    def probabilities(self, key: str) -> dict[Any, float]:
        """The current action probabilities of ``key``: factor -> p (numeric) or shift -> p (choice)."""
        i = self.keys.index(key)
        p = softmax(self.state.logits[i])
        actions = (-1, 1) if isinstance(self.params[i], CategoricalParam) else self.factors
        return {a: float(q) for a, q in zip(actions, p, strict=True)}

    def scheduler(self, **pbt_kwargs: Any) -> Any:
        """A ``PopulationBasedTraining`` that mutates through this explorer only (no built-in
        mutations). ``metric``/``mode``: the explorer's, else what ``tune.TuneConfig`` gives the
        scheduler (the explorer learns them from it), as with any Tune scheduler."""
        if self.metric is not None:
            pbt_kwargs.setdefault("metric", self.metric)
        if self.mode is not None:
            pbt_kwargs.setdefault("mode", self.mode)
        if self.horizon is None:
            self.horizon = int(pbt_kwargs.get("perturbation_interval", 1))
        scheduler = _ExplorerPBT(hyperparam_mutations={}, custom_explore_fn=self, **pbt_kwargs)
        scheduler.explorer_uid = self.uid
        return scheduler

    # -- explore (called by PBT in the driver) ---------------------------------------------------
    def __call__(self, config: dict) -> dict:
        """``custom_explore_fn``: a perturbed copy of the cloned trial's ``config``."""
        st = self.state
        with st.lock:
            parent = st.scores.get(fingerprint(config))
            new = copy_config(config)
            actions: list[int | None] = []
            for i, param in enumerate(self.params):
                old = get_path(config, param.path)
                if st.rng.random() < self.resample_probability:
                    actions.append(None)
                    z = float(st.rng.random() if isinstance(param, NumericParam) else st.rng.integers(param.size))
                    set_path(new, param.path, param.decode(z))
                    continue
                p = softmax(st.logits[i])
                a = int(st.rng.choice(p.size, p=p))
                actions.append(a)
                if isinstance(param, CategoricalParam):
                    j = int(param.encode(old)) if param.contains(old) else 0
                    value = param.categories[min(max(j + (-1, 1)[a], 0), param.size - 1)]
                else:
                    value = param.decode(param.encode(old * self.factors[a]))
                set_path(new, param.path, value)
            st.pending[fingerprint(new)] = {"actions": actions, "parent": parent}
            _trim(st.pending, _PENDING_CAPACITY)
            st.n_explores += 1
        return new

    # -- learn (Tune callback, driver) -----------------------------------------------------------
    def setup(self, stop: Any = None, num_samples: Any = None, total_num_samples: Any = None, **info: Any) -> None:
        pass

    def _reward(self, result: Mapping[str, Any]) -> float | None:
        metric, mode = self.metric or self.state.metric, self.mode or self.state.mode
        if metric is None or mode is None:
            raise RuntimeError(
                "PolicyExplorer needs metric and mode: give them to tune.TuneConfig (with explorer.scheduler()) "
                "or to PolicyExplorer(...)"
            )
        return as_reward(result.get(metric), mode)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        reward = self._reward(result)
        t = result.get("training_iteration")
        if reward is None or t is None:
            return
        config = result.get("config", trial.config)  # the config the result was trained with
        fp = fingerprint(config)
        st = self.state
        with st.lock:
            previous = st.scores.pop(fp, None)
            rate = (reward - previous[0]) / (t - previous[1]) if previous and t > previous[1] else None
            st.scores[fp] = (reward, t, rate)
            _trim(st.scores, _SCORES_CAPACITY)
            seg = st.segments.get(trial.trial_id)
            if seg is not None and seg["fp"] != fp:  # exploited again before the horizon
                self._close(trial.trial_id)
                seg = None
            if seg is None:
                explored = st.pending.pop(fp, None)
                if explored is None:
                    return
                seg = {"fp": fp, "actions": explored["actions"], "parent": explored["parent"], "n": 0}
                st.segments[trial.trial_id] = seg
                _trim(st.segments, _SEGMENTS_CAPACITY)
            seg["last"], seg["t"], seg["n"] = reward, t, seg["n"] + 1
            if seg["n"] >= (self.horizon or 1):
                self._close(trial.trial_id)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        with self.state.lock:
            self._close(trial.trial_id)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        with self.state.lock:
            self.state.segments.pop(trial.trial_id, None)

    def _close(self, trial_id: str) -> None:
        """Ends a trial's open segment and takes the policy-gradient step on its reward."""
        st = self.state
        seg = st.segments.pop(trial_id, None)
        if seg is None or seg["parent"] is None or seg["parent"][2] is None:
            return  # no parent score and rate to measure the change against
        parent_score, parent_t, parent_rate = seg["parent"]
        if seg["t"] <= parent_t:
            return
        self.learn(seg["actions"], (seg["last"] - parent_score) / (seg["t"] - parent_t) - parent_rate)

    def learn(self, actions: Sequence[int | None], reward: float) -> float:
        """One REINFORCE step for the actions of one explore step; returns the advantage used."""
        st = self.state
        if st.n_rewards == 0:
            st.baseline, st.scale = reward, abs(reward) or 1.0
        advantage = float(np.clip((reward - st.baseline) / max(st.scale, _MIN_SCALE), -_MAX_ADVANTAGE, _MAX_ADVANTAGE))
        for i, a in enumerate(actions):
            if a is None:
                continue
            grad = -softmax(st.logits[i])
            grad[a] += 1.0  # d log p_a / d theta = onehot(a) - p
            st.logits[i] = floor_logits(st.logits[i] + self.lr * advantage * grad, self.max_prob_ratio)
        st.scale = (1 - self.ema) * st.scale + self.ema * abs(reward - st.baseline)
        st.baseline = (1 - self.ema) * st.baseline + self.ema * reward
        st.n_rewards += 1
        return advantage

    # -- experiment checkpoints (Tuner.restore) --------------------------------------------------
    def get_state(self) -> dict | None:
        st = self.state
        return {
            "uid": self.uid,
            "logits": [logits.copy() for logits in st.logits],
            "baseline": st.baseline,
            "scale": st.scale,
            "n_rewards": st.n_rewards,
            "n_explores": st.n_explores,
            "rng": st.rng,
            "metric": st.metric,
            "mode": st.mode,
        }

    def set_state(self, state: dict) -> None:
        st = self.state
        with st.lock:
            st.logits = [np.array(logits, dtype=float) for logits in state["logits"]]
            st.baseline, st.scale = state["baseline"], state["scale"]
            st.n_rewards, st.n_explores, st.rng = state["n_rewards"], state["n_explores"], state["rng"]
            st.metric, st.mode = state.get("metric"), state.get("mode")
            st.segments.clear()


def _trim(d: dict, capacity: int) -> None:
    """Drops the oldest entries of an insertion-ordered dict beyond ``capacity``."""
    while len(d) > capacity:
        d.pop(next(iter(d)))
