"""CAD-Prune (Dey et al. 2026, "compute-aware difficulty"): score every training image on a training run whose
compute matches the downstream budget, then keep the images of the right difficulty for that budget.

The rule, as the public reconstruction reads it [reconstruction, see the book's protocol page]:

1. a scoring run on the full training split with K x N = the downstream samples seen (K epochs of N images), so
   the scoring costs what the downstream run costs (:func:`matched_epochs`; recorded and cached by
   ``scores.record_dynamics`` given the budget);
2. EL2N on the clean (un-augmented) images at ``records`` evenly spaced points of that run. The paper records once
   per epoch; at our budgets K is a fraction of an epoch, so the run is cut into ``records`` equal parts instead
   [ours];
3. the score: the standard deviation of EL2N inside windows of J records, averaged over the last W windows
   (``scores.el2n_window_std``; J=6, W=2 reported for ImageNet-1K);
4. per class, the top-IPC images by that score (``which='hardest'``), or the bottom (``'easiest'``), or a
   stratified draw over the score range (``stratify``, CCS's rule). Which end, J and W are chosen on the
   validation split by the chapter, never on the test set.

A longer run settles the easy images early, so the images still moving in its last windows are harder ones: the
pick moves toward harder images as the budget grows (the Sorscher et al. 2022 intuition the paper builds on).
"""
from __future__ import annotations

import math

import torch

from . import data, scores as scoring
from .budget import Budget
from .data import Splits
from .errors import DDLibError, check_choice
from .rules import ccs, keep_by_score

WHICH = ("hardest", "easiest")


def downstream_samples(epochs: float, ipc: int, num_classes: int) -> int:
    """The samples a downstream run of ``epochs`` passes over an IPC-per-class set sees: E x IPC x C
    [paper-notes]."""
    return round(epochs * ipc * num_classes)


def matched_epochs(budget: int, n_train: int) -> float:
    """K with K x N = ``budget`` (samples seen downstream): the scoring run's length in passes over N images."""
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise DDLibError(f"the downstream budget must be a positive number of samples seen, got {budget!r}")
    if n_train < 1:
        raise DDLibError(f"the training split must hold images, got N={n_train}")
    return budget / n_train


def record_every(budget: int, records: int) -> int:
    """Samples between two records when a run of ``budget`` samples is cut into ``records`` equal parts."""
    if isinstance(records, bool) or not isinstance(records, int) or records < 2:
        raise DDLibError(f"records must be an integer >= 2, got {records!r}")
    return max(1, math.ceil(budget / records))


def probe_indices(y: torch.Tensor, per_class: int, seed: int) -> torch.Tensor:
    """The images the scoring run records on: ``per_class`` per class at random (seeded), or all for 0. Sorted."""
    if per_class == 0:
        return torch.arange(len(y))
    return data.per_class_indices(y, min(per_class, int(torch.bincount(y).min())), seed)


def pick(score: torch.Tensor, y: torch.Tensor, ipc: int, which: str = "hardest", stratify: bool = False,
         seed: int = 0) -> torch.Tensor:
    """Positions (into ``score``/``y``) of the per-class pick: the top (``hardest``) or bottom (``easiest``) ``ipc``
    by score, or with ``stratify`` a CCS stratified draw over the whole score range (no images dropped)."""
    check_choice("which", which, WHICH)
    if stratify:
        return ccs(score, y, ipc, beta=0.0, seed=seed, per_class=True)
    return keep_by_score(score, y, ipc, which, seed)


def check_knobs(J: int, W: int, records: int) -> None:
    record_every(1, records)
    if J + W - 1 > records:
        raise DDLibError(f"CAD-Prune with J={J}, W={W} needs at least {J + W - 1} records, got records={records}")


def select(splits: Splits, ipc: int, seed: int, which: str = "hardest", J: int = 6, W: int = 2, records: int = 8,
           probe: int = 0, stratify: bool = False, score_seed: int = 0, budget: int | None = None,
           model: str | None = None, batch: int | None = None, split_seed: int = 0, device: str = "cpu",
           progress: bool = False, dynamics: scoring.Dynamics | None = None, **_) -> dict:
    """The ``cad`` selector: CAD-Prune's ``ipc`` per class for a downstream run of ``budget`` samples seen with
    ``model`` and ``batch`` (a run config passes its own), or on a given scoring run ``dynamics`` (every training
    image recorded). ``records``: EL2N records along the scoring run; ``probe``: images per class recorded (0 = all).
    Returns the selector dict; ``scores`` holds the dynamic uncertainty of every training image (NaN outside the
    probe) and ``compute`` what the scoring run cost."""
    check_choice("which", which, WHICH)
    if dynamics is not None:
        dyn, probe_idx = dynamics, torch.arange(len(splits.y_train))
        check_knobs(J, W, len(dyn.samples))
    else:
        if budget is None or model is None or batch is None:
            raise DDLibError("CAD-Prune needs the downstream budget, model and batch (a run passes its own)")
        check_knobs(J, W, records)
        steps = Budget(budget, batch).steps
        if steps < records:      # at most one record per step
            raise DDLibError(f"CAD-Prune: a scoring run of {budget:,} samples at batch {batch} takes {steps} steps, "
                             f"fewer than records={records}; lower records (J + W - 1 at least) or the batch, or "
                             f"raise the budget")
        probe_idx = probe_indices(splits.y_train, probe, score_seed)
        dyn = scoring.record_dynamics(splits.name, budget=budget, every=record_every(budget, records),
                                      probe=probe_idx if probe else None, model=model, batch=batch, seed=score_seed,
                                      val_per_class=len(splits.y_val) // splits.num_classes, split_seed=split_seed,
                                      device=device, progress=progress)
    s = scoring.difficulty("dyn_unc", dyn, J=J, W=W)
    chosen = probe_idx[pick(s, dyn.y, ipc, which, stratify, seed)]
    full = torch.full((len(splits.y_train),), float("nan"))
    full[probe_idx] = s
    m = dyn.meta
    compute = {} if dynamics is not None else dict(   # a given run's cost is its maker's to report
        scoring_run_id=m["id"], scoring_samples_seen=m["samples_seen"], scoring_forward_samples=m["forward_samples"])
    return {"indices": chosen.sort().values, "scores": full, "compute": compute}

