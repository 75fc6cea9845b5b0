"""The checkpoint format: a zip archive of one JSON manifest and numpy arrays, never a pickle.

    manifest.json     {"format": "ray_pgsearch", "version": 1, "kind": ..., "library": ..., "state": ...}
    arrays/<n>.npy    the arrays the state refers to as {"$array": "<n>"}

``kind`` says what the state describes: ``searcher`` (a ``PGSearcher``), ``optimizer`` (a
``PGOptimizer``) or ``snapshot`` (what a warm start needs of an earlier search). Reading one runs
no code of the file: the manifest is JSON and the arrays load with ``allow_pickle=False``. A file
of a newer format version, a foreign file, and a pickle written by ray_pgsearch 0.2 or older each
raise a ``CheckpointError`` that says which it is (``_legacy`` reads the latter).
"""

from __future__ import annotations

import io
import json
import math
import os
import zipfile
from collections.abc import Mapping
from typing import Any

import numpy as np

from ._version import __version__

__all__ = ["FORMAT", "VERSION", "CheckpointError", "LegacyCheckpoint", "read", "write"]

FORMAT = "ray_pgsearch"
VERSION = 1
_MANIFEST = "manifest.json"


class CheckpointError(ValueError):
    """A file that is not a checkpoint this version of ray_pgsearch reads, and why."""


class LegacyCheckpoint(CheckpointError):
    """A pickle written by ray_pgsearch 0.2 or older."""


def _pack(tree: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(tree, np.ndarray):
        if tree.dtype.kind not in "biuf":
            raise TypeError(f"a checkpoint holds numeric arrays only, got dtype {tree.dtype}")
        name = str(len(arrays))
        arrays[name] = tree
        return {"$array": name}
    if isinstance(tree, Mapping):
        return {str(k): _pack(v, arrays) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [_pack(v, arrays) for v in tree]
    if isinstance(tree, float) and not math.isfinite(tree):
        return {"$float": repr(tree)}
    if isinstance(tree, np.generic):
        return tree.item()
    if tree is None or isinstance(tree, (bool, int, float, str)):
        return tree
    raise TypeError(f"a checkpoint's state holds JSON values and arrays, got {type(tree).__name__}")


def _unpack(tree: Any, arrays: Mapping[str, np.ndarray]) -> Any:
    if isinstance(tree, list):
        return [_unpack(v, arrays) for v in tree]
    if isinstance(tree, dict):
        if set(tree) == {"$array"}:
            return arrays[tree["$array"]]
        if set(tree) == {"$float"}:
            return float(tree["$float"])
        return {k: _unpack(v, arrays) for k, v in tree.items()}
    return tree


def write(path: str, kind: str, state: Mapping[str, Any]) -> None:
    """Writes ``state`` (JSON values and numeric arrays) as a checkpoint of ``kind`` at ``path``."""
    arrays: dict[str, np.ndarray] = {}
    manifest = {"format": FORMAT, "version": VERSION, "kind": kind, "library": __version__}
    manifest["state"] = _pack(state, arrays)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr(_MANIFEST, json.dumps(manifest, allow_nan=False, separators=(",", ":")))
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
            z.writestr(f"arrays/{name}.npy", buffer.getvalue())


def read(path: str, kinds: tuple[str, ...] = ("searcher", "optimizer", "snapshot")) -> tuple[str, dict[str, Any]]:
    """(kind, state) of the checkpoint at ``path``; a CheckpointError that says why when it is
    missing, foreign, of a newer format, of another kind, or a pickle of ray_pgsearch 0.2."""
    if not os.path.isfile(path):
        raise CheckpointError(f"no ray_pgsearch checkpoint at {path}: no such file")
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as f:
            head = f.read(2)
        if head[:1] == b"\x80":
            raise LegacyCheckpoint(f"{path} is a pickle, as ray_pgsearch 0.2 and older wrote checkpoints")
        raise CheckpointError(f"{path} is not a ray_pgsearch checkpoint (not a zip archive)")
    try:
        with zipfile.ZipFile(path) as z:
            manifest = json.loads(z.read(_MANIFEST))
            if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
                raise CheckpointError(f"{path} is not a ray_pgsearch checkpoint (a zip archive of another format)")
            version = manifest.get("version")
            if not isinstance(version, int) or version > VERSION:
                raise CheckpointError(
                    f"{path} was written by ray_pgsearch {manifest.get('library', '?')} in checkpoint format "
                    f"version {version}; this ray_pgsearch ({__version__}) reads versions up to {VERSION}: upgrade it"
                )
            arrays = {
                name[len("arrays/") : -len(".npy")]: np.load(io.BytesIO(z.read(name)), allow_pickle=False)
                for name in z.namelist()
                if name.startswith("arrays/")
            }
    except (KeyError, zipfile.BadZipFile, json.JSONDecodeError, ValueError) as e:
        if isinstance(e, CheckpointError):
            raise
        raise CheckpointError(f"{path} is not a readable ray_pgsearch checkpoint ({e})") from None
    kind = manifest.get("kind")
    if kind not in kinds:
        raise CheckpointError(f"{path} holds a {kind} checkpoint, expected one of {', '.join(kinds)}")
    return kind, _unpack(manifest["state"], arrays)
