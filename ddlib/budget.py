"""Compute budgets in samples seen (steps x batch): the same budget, hence the same number of steps, for every
subset size. A 10-image subset and the full training split both take ``ceil(budget / batch)`` steps; what changes
is how many epochs that is. Fixed-iteration training on coresets is CCS's convention (Zheng et al. 2023)."""
from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import DDLibError


@dataclass(frozen=True)
class Budget:
    samples: int     # the budget asked for, in samples seen
    batch: int       # images per step

    def __post_init__(self):
        if isinstance(self.samples, bool) or not isinstance(self.samples, int) or self.samples <= 0:
            raise DDLibError(f"budget must be a positive number of samples seen, got {self.samples!r}")
        if isinstance(self.batch, bool) or not isinstance(self.batch, int) or self.batch <= 0:
            raise DDLibError(f"batch size must be a positive integer, got {self.batch!r}")

    @property
    def steps(self) -> int:
        return math.ceil(self.samples / self.batch)

    @property
    def samples_seen(self) -> int:
        """What the run actually sees: whole batches, so at least ``samples``."""
        return self.steps * self.batch

    def epochs(self, subset_size: int) -> float:
        """How many passes over a subset of ``subset_size`` images the budget buys."""
        return self.samples_seen / subset_size

    @classmethod
    def from_epochs(cls, epochs: float, subset_size: int, batch: int) -> "Budget":
        """The budget of ``epochs`` passes over ``subset_size`` images (e.g. a compute-matched scoring run)."""
        return cls(max(1, round(epochs * subset_size)), batch)
