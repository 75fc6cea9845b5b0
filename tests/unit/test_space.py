"""The space layer: every Tune domain decodes to native, in-bound, quantized values; bad spaces
raise a ValueError that names the key path."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ray import tune

from ray_pgsearch import SearchSpace

N = 1000

DOMAINS = {
    "uniform": (tune.uniform(-2.0, 3.0), float, lambda v: -2.0 <= v <= 3.0),
    "quniform": (tune.quniform(0.0, 1.0, 0.25), float, lambda v: v in (0.0, 0.25, 0.5, 0.75, 1.0)),
    "loguniform": (tune.loguniform(1e-5, 1e-1), float, lambda v: 1e-5 <= v <= 1e-1),
    "qloguniform": (
        tune.qloguniform(1e-3, 1.0, 1e-3),
        float,
        lambda v: 1e-3 - 1e-12 <= v <= 1.0 and abs(v / 1e-3 - round(v / 1e-3)) < 1e-6,
    ),
    "randint": (tune.randint(3, 8), int, lambda v: 3 <= v < 8),
    "qrandint": (tune.qrandint(0, 20, 5), int, lambda v: v in (0, 5, 10, 15, 20)),
    "qrandint_q1": (tune.qrandint(0, 4, 1), int, lambda v: 0 <= v < 4),
    "lograndint": (tune.lograndint(1, 1000), int, lambda v: 1 <= v < 1000),
    "qlograndint": (tune.qlograndint(2, 64, 2), int, lambda v: 2 <= v <= 64 and v % 2 == 0),
    "randn": (tune.randn(5.0, 2.0), float, math.isfinite),
    "qrandn": (tune.qrandn(0.0, 1.0, 0.5), float, lambda v: abs(v * 2 - round(v * 2)) < 1e-9),
}


def _samples(domain, n=N, seed=0):
    space = SearchSpace({"v": domain})
    rows = np.random.default_rng(seed).random((n, 1))
    return [space.decode(r)["v"] for r in rows]


@pytest.mark.parametrize("name", sorted(DOMAINS))
def test_every_domain_decodes_native_in_bound_values(name):
    domain, typ, ok = DOMAINS[name]
    values = _samples(domain)
    assert all(type(v) is typ for v in values)
    assert all(ok(v) for v in values), [v for v in values if not ok(v)][:5]
    assert all(domain.is_valid(v) for v in values)


def test_integer_and_quantized_domains_reach_every_grid_value():
    assert set(_samples(tune.qrandint(0, 20, 5))) == {0, 5, 10, 15, 20}
    assert set(_samples(tune.randint(3, 8))) == {3, 4, 5, 6, 7}
    assert set(_samples(tune.quniform(0.0, 1.0, 0.25))) == {0.0, 0.25, 0.5, 0.75, 1.0}


def test_log_domains_spread_on_the_log_scale():
    assert 10**-3.3 < np.median(_samples(tune.loguniform(1e-5, 1e-1))) < 10**-2.7
    assert 20 < np.median(_samples(tune.lograndint(1, 1000))) < 45  # sqrt(1000) = 31.6


def test_randn_follows_its_normal_prior():
    values = np.array(_samples(tune.randn(5.0, 2.0), n=4000))
    assert abs(values.mean() - 5.0) < 0.15 and abs(values.std() - 2.0) < 0.15


def test_choice_returns_the_category_objects_with_their_types():
    categories = ["a", 1, 2.5, None, True, (1, 2), [3, 4], {"k": "v"}]
    space = SearchSpace({"c": tune.choice(categories)})
    for i, category in enumerate(categories):
        value = space.decode([i])["c"]
        assert value == category and type(value) is type(category)
    assert space.encode({"c": True}) == [4] and space.encode({"c": 1}) == [1]  # True is not 1


def test_nested_spaces_keep_constants_and_structure():
    space = SearchSpace({"a": {"b": {"c": tune.uniform(0, 1)}, "const": 7}, "l": [tune.randint(0, 3), "x"]})
    config = space.decode([0.5, 0.0])
    assert config["a"]["const"] == 7 and config["l"][1] == "x"
    assert 0 <= config["a"]["b"]["c"] <= 1 and config["l"][0] in (0, 1, 2)


@pytest.mark.parametrize(
    "spec, path",
    [
        ({"a": {"b": tune.choice([])}}, "a/b"),
        ({"a": tune.uniform(2.0, 1.0)}, "'a'"),
        ({"m": {"lr": tune.sample_from(lambda c: 1)}}, "m/lr"),
        ({"g": tune.grid_search([1, 2])}, "'g'"),
        ({"t": (tune.uniform(0, 1), 2)}, "'t'"),
        ({"o": tune.choice([{"x": tune.uniform(2, 1)}])}, "o/0/x"),
        ({"q": tune.qrandint(1, 3, 5)}, "'q'"),
    ],
)
def test_invalid_spaces_name_the_key_path(spec, path):
    with pytest.raises(ValueError, match=path):
        SearchSpace(spec)


def test_bad_bounds_built_past_tunes_own_checks_are_refused():
    from ray.tune.search.sample import Float

    bad_log = Float(0.0, 1.0)
    bad_log.set_sampler(Float._LogUniform())  # what loguniform(0, 1) would be without Tune's check
    with pytest.raises(ValueError, match="'x'.*lower > 0"):
        SearchSpace({"x": bad_log})
    with pytest.raises(ValueError, match="dict"):
        SearchSpace([tune.uniform(0, 1)])
    with pytest.raises(ValueError, match="no Tune domains"):
        SearchSpace({"a": 1})


# -- property-based: random nested spaces ---------------------------------------------------------
_leaf = st.sampled_from(list(DOMAINS)).map(lambda name: DOMAINS[name][0]) | st.lists(
    st.one_of(st.integers(), st.text(max_size=3), st.none()), min_size=1, max_size=4, unique=True
).map(tune.choice)
_spaces = st.recursive(
    st.dictionaries(st.text("abcxyz", min_size=1, max_size=3), _leaf, min_size=1, max_size=4),
    lambda inner: st.dictionaries(st.text("abcxyz", min_size=1, max_size=3), inner, min_size=1, max_size=3),
    max_leaves=8,
)


@settings(max_examples=60, deadline=None)
@given(spec=_spaces, seed=st.integers(0, 2**16))
def test_decode_is_in_domain_and_encode_decode_round_trips(spec, seed):
    space = SearchSpace(spec)
    row = np.random.default_rng(seed).random(space.dim)
    row[space.n_numeric :] = np.floor(row[space.n_numeric :] * space.category_sizes)
    config = space.decode(row)
    again = space.decode(space.encode(config))
    for param in space.params:
        value, value_again = _get(config, param.path), _get(again, param.path)
        assert param.contains(value)
        assert type(value_again) is type(value)
        if isinstance(value, float):  # floats come back up to rounding in log/CDF space
            assert math.isclose(value_again, value, rel_tol=1e-9, abs_tol=1e-12)
        else:
            assert value_again == value


def _get(config, path):
    for key in path:
        config = config[key]
    return config


def test_nonsense_quantization_and_foreign_domains_are_refused():
    from ray.tune.search.sample import Domain, Float, Quantized

    zero_q = Float(0.0, 1.0).uniform()
    zero_q.set_sampler(Quantized(zero_q.get_sampler(), 0.0), allow_override=True)  # past Tune's own check
    with pytest.raises(ValueError, match="'z'.*q must be a positive number"):
        SearchSpace({"z": zero_q})

    class Custom(Domain):
        pass

    with pytest.raises(ValueError, match="'deep/c'.*unsupported domain type Custom"):
        SearchSpace({"deep": {"c": Custom()}})
