"""The documentation's Python blocks that run ``tune.Tuner``, run as printed on the local Ray (the
harness, its markers and the fast blocks: ``tests/unit/test_docs.py``)."""

from __future__ import annotations

import importlib.util
import sys
import warnings
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("docs_blocks", Path(__file__).parents[1] / "unit" / "test_docs.py")
docs_blocks = sys.modules[_spec.name] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(docs_blocks)

TUNE = [c for c in docs_blocks.chains() if c.uses_tune]


@pytest.mark.parametrize("chain", TUNE, ids=[c.name for c in TUNE])
def test_a_documented_tune_run_runs_as_printed(chain, ray_local, tmp_path, monkeypatch):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        docs_blocks.run_chain(chain, tmp_path, monkeypatch)
