"""The lab's protocol: how a run is driven (`Setting`, the completion order every searcher shares) and how
the problems are split into a development half and a held-out half.

A change is developed and tuned on the development half (`DEV`) only; the held-out half (`HELD_OUT`) is
looked at to check, never to tune. A change that wins on the development half and loses on the held-out
half is not an improvement.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

DEV, HELD_OUT = "dev", "held_out"
HALVES = (DEV, HELD_OUT)


def half_label(half: str) -> str:
    """A half as tables and headings print it: "dev" or "held out"."""
    return {DEV: "dev", HELD_OUT: "held out"}[half]


@dataclass(frozen=True)
class Setting:
    """How runs are driven: up to `budget` evaluations with up to `concurrency` pending, asynchronously
    ("100x8") or in synchronous rounds of `concurrency` suggestions (`batched`, "16r8" = 16 rounds of 8);
    `seconds` > 0 adds a wall-clock budget per run (a Tune study's; `budget` 0 then means no trial budget).
    """

    budget: int
    concurrency: int
    batched: bool = False
    seconds: float = 0.0

    @property
    def key(self) -> str:
        """ "100x8" (asynchronous), "16r8" (rounds x batch); a wall-clock budget adds "-60s"."""
        if self.batched:
            key = f"{self.budget // self.concurrency}r{self.concurrency}"
        else:
            key = f"{self.budget}x{self.concurrency}"
        return f"{key}-{self.seconds:g}s" if self.seconds else key

    @classmethod
    def parse(cls, text: str) -> Setting:
        """Parse "100x8" (budget x concurrency), "16r8" (rounds r batch), either with "-60s" after it."""
        text, _, seconds = text.partition("-")
        wall = float(seconds.removesuffix("s")) if seconds else 0.0
        if "r" in text:
            rounds, batch = (int(v) for v in text.split("r"))
            return cls(rounds * batch, batch, batched=True, seconds=wall)
        budget, concurrency = (int(v) for v in text.split("x"))
        return cls(budget, concurrency, seconds=wall)

    @classmethod
    def parse_list(cls, text: str) -> list[Setting]:
        """Comma-separated settings: "32x8,100x8,16r8"."""
        return [cls.parse(item) for item in text.split(",") if item]

    def order_seed(self, seed: int, objective: str) -> int:
        """The seed of the completion order of run `seed` on `objective`: the same for every searcher."""
        parts = [seed, zlib.crc32(objective.encode()), self.budget, self.concurrency]
        return int(np.random.SeedSequence(parts).generate_state(1)[0])

    @property
    def score_points(self) -> list[int]:
        """Evaluations at which runs are scored: the budget, and 32 too under the challenge's batched protocol."""
        return sorted({min(32, self.budget), self.budget}) if self.batched else [self.budget]

    @property
    def title(self) -> str:
        """The setting in words, for headings."""
        if self.batched:
            return f"{self.budget // self.concurrency} rounds of {self.concurrency}"
        budget = f"{self.budget} evaluations" if self.budget else f"{self.seconds:g} s"
        return f"{budget}, up to {self.concurrency} pending"
