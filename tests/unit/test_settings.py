"""Settings: one frozen group per component, validated from each field's declaration, with the 0.2
names kept for one release and suggestions for misspelled names."""

import dataclasses
import re
import warnings

import pytest
from ray import tune

from ray_pgsearch import ModelSettings, PGOptimizer, PGSearcher, PolicySettings, Settings, settings_table
from ray_pgsearch._settings import CATALOG, OLD_NAMES

SPACE = {"x": tune.uniform(0.0, 1.0)}


def test_every_field_is_checked_against_its_declared_range():
    for group, cls in CATALOG.groups.items():
        for f in dataclasses.fields(cls):
            meta = f.metadata
            if isinstance(f.default, tuple):
                bad = (meta["low"] - 1.0,) if meta["low"] > float("-inf") else ()
            elif meta["low"] > float("-inf"):
                bad = meta["low"] - 1 if isinstance(f.default, int) else meta["low"] - 1.0
            else:
                continue
            with pytest.raises(ValueError, match=rf"Settings\.{group}\.{f.name} must be"):
                cls(**{f.name: bad})
    with pytest.raises(ValueError, match=r"model\.gamma must be a finite number in \(0, 1\), got 1"):
        ModelSettings(gamma=1)
    with pytest.raises(ValueError, match="an integer"):
        Settings.from_args(startup={"size": 2.5})
    with pytest.raises(ValueError, match="min_std <= init_std <= max_std"):
        PolicySettings(init_std=2.0)


def test_groups_come_as_objects_or_dicts_and_the_rest_keeps_its_defaults():
    settings = Settings.from_args(model={"gamma": 0.2}, candidates={"count": 64})
    assert settings.model.gamma == 0.2 and settings.model.bandwidth == ModelSettings().bandwidth
    assert settings.candidates.count == 64 and settings.policy == PolicySettings()
    assert Settings.from_args(model=ModelSettings(gamma=0.3)).model.gamma == 0.3
    assert PGOptimizer(SPACE, model={"gamma": 0.2}).settings.model.gamma == 0.2
    with pytest.raises(TypeError, match="model= takes a ModelSettings or a dict of its fields"):
        Settings.from_args(model=0.2)


def test_the_names_of_the_previous_release_work_with_a_warning():
    old_fields = """n_startup n_candidates window gamma bandwidth cat_prior model_candidates prior_candidates
        prior_candidates_in_flight pending_weight partial_weight max_rejections prior_weight gp_rerank gp_max_pending
        prior_halflife init_std min_std max_std lr_mean lr_std lr_logits entropy_coef max_prob_ratio""".split()
    assert sorted(OLD_NAMES) == sorted(old_fields)  # every field of 0.2's Settings but restart_after
    for old, (group, name) in OLD_NAMES.items():
        value = getattr(getattr(Settings(), group), name)
        with pytest.warns(DeprecationWarning, match=rf"'{old}' is now {group}\.{name}"):
            settings = Settings.from_args(**{old: value})
        assert getattr(getattr(settings, group), name) == value
    with pytest.warns(DeprecationWarning):
        searcher = PGSearcher(SPACE, metric="loss", mode="min", gamma=0.25, n_startup=3)
    assert searcher.optimizer.settings.model.gamma == 0.25 and searcher.optimizer.settings.startup.size == 3


def test_a_misspelled_setting_suggests_the_close_names():
    cases = {
        "gama": "did you mean gamma (now model.gamma)?",
        "modle": "did you mean model?",
        "bandwith": "bandwidth (now model.bandwidth)",
        "size": "startup.size or rerank.size",
    }
    for name, hint in cases.items():
        with pytest.raises(TypeError, match=re.escape(hint)):
            Settings.from_args(**{name: 1})
    with pytest.raises(TypeError, match=re.escape("unknown setting model.gama; did you mean model.gamma")):
        PGOptimizer(SPACE, model={"gama": 0.2})
    with pytest.raises(TypeError, match="the groups are startup, history"):
        Settings.from_args(zzz=1)


def test_settings_round_trip_through_plain_data():
    settings = Settings.from_args(model={"gamma": 0.2}, rerank={"length_scales": (0.1, 0.3)})
    data = settings.to_dict()
    assert data["rerank"]["length_scales"] == [0.1, 0.3]
    assert Settings.from_dict(data) == settings
    with pytest.raises(ValueError, match="unknown settings group"):
        Settings.from_dict({"modle": {}})


def test_the_table_documents_every_field_once_from_its_declaration():
    table = settings_table()
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    names = [row.split("`")[1] for row in rows]
    expected = [f"{g}.{f.name}" for g, cls in CATALOG.groups.items() for f in dataclasses.fields(cls)]
    assert names == expected
    assert "| `model.gamma` | 0.15 | (0, 1) |" in table and "`gamma` |" in table


def test_settings_are_frozen():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        settings = Settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.model.gamma = 0.5  # type: ignore[misc]
