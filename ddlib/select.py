"""Selectors: which training images a student gets. One interface (DeepCore's idea): a selector takes the
training split, an IPC and a seed and returns ``{"indices": LongTensor, "scores": Tensor | None}``, class-balanced
and seeded. ``ipc='full'`` always means the whole training split."""
from __future__ import annotations

import torch

from .data import Splits, per_class_indices
from .errors import check_choice


def random(splits: Splits, ipc: int, seed: int, **_) -> dict:
    """``ipc`` images per class, uniformly at random (the baseline every method is compared with)."""
    return {"indices": per_class_indices(splits.y_train, ipc, seed), "scores": None}


SELECTORS = {"random": random}


def check(name: str) -> str:
    check_choice("selector", name, SELECTORS)
    return name


def select(name: str, splits: Splits, ipc, seed: int, **knobs) -> dict:
    """Run selector ``name``; ``ipc='full'`` returns every training index whatever the selector."""
    check(name)
    if ipc == "full":
        return {"indices": torch.arange(len(splits.y_train)), "scores": None}
    return SELECTORS[name](splits, ipc, seed, **knobs)
