"""Extensions: code that rides along a search and reacts to its asks, results and updates.

An extension is an object with any of the methods of ``Extension`` (its no-op defaults). The
optimizer calls them at fixed points of ``ask`` and ``tell``; an extension that needs more than
watching (a lever measured in the benchmark lab, say) acts through the optimizer's public methods.
A ``transient`` extension (a TensorBoard writer holding open files) is dropped when the optimizer is
pickled or checkpointed; the others are checkpointed through ``state`` and ``load``.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import numpy as np

__all__ = ["Extension", "UpdateHook"]


class Extension:
    """The points at which an optimizer calls its extensions (every method is optional)."""

    transient = False

    def on_ask(self, optimizer: Any, trial_id: Hashable | None, row: np.ndarray) -> None:
        """A config was asked (``row``: its latent row)."""

    def learns_from(self, trial_id: Hashable | None) -> bool:
        """Whether the search learns from this trial's reports and result (else its result counts
        for the best config only)."""
        return True

    def on_result(self, optimizer: Any, trial_id: Hashable | None, reward: np.ndarray, new_best: bool) -> None:
        """A finite result was told (after the policy's update)."""

    def on_update(self, view: Any, utilities: np.ndarray) -> None:
        """The policy stepped on the window, whose rank utilities are ``utilities``."""

    def state(self) -> dict[str, Any]:
        """What a checkpoint keeps of the extension (JSON values and numpy arrays)."""
        return {}

    def load(self, state: dict[str, Any]) -> None:
        """Takes back what ``state`` returned."""


class UpdateHook(Extension):
    """A function ``hook(view, utilities)`` called after every policy update; never saved."""

    transient = True

    def __init__(self, hook: Callable[[Any, np.ndarray], None]):
        self.hook = hook

    def on_update(self, view: Any, utilities: np.ndarray) -> None:
        self.hook(view, utilities)
