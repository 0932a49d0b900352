"""CA2D (Dey et al. 2026, "compute-aligned dataset distillation"): RDED's crop-score-select-stitch run on a candidate
pool chosen by CAD-Prune for the downstream budget, instead of RDED's random pool [reconstruction].

Per class, the pool is the ``pool`` images CAD-Prune ranks first (``ddlib.cad``: a scoring run as long as the
downstream run, dynamic uncertainty of EL2N); RDED then keeps each image's best crop by the observer's loss and the
lowest-loss crops of the class. The scoring run is cached and shared with the ``cad`` selector at the same budget.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

from .. import cad
from ..errors import DDLibError
from . import rded

USES_TEACHER = True  # RDED's observer


@dataclass(frozen=True)
class Knobs:
    pool: int = 300            # [paper] candidate images per class (RDED's mipc), here CAD-Prune's top ones
    crops: int = 5             # [paper] RDED's random resized crops per image
    min_scale: float = 0.08    # [paper] RDED's crop area range
    max_scale: float = 1.0     # [paper]
    aspect: float = 1.0        # [RDED code] RDED's crop aspect ratio (1, 1)
    factor: int = 1            # [paper] RDED's crops per side: 1 at 32 px, 2 at 224 px
    teacher_model: str = ""    # the observer's architecture; "" = the run's teacher
    chunk: int = 2000          # [ours] observer batch size (memory only)
    budget: int = 0            # [paper] the downstream samples seen the pool is matched to (0: a run passes its own)
    score_model: str = "convnet3-w128-instancenorm"  # [reconstruction] the scoring run's model; a run: its own
    score_batch: int = 256     # [reconstruction] the scoring run's batch; a run passes its own
    which: str = "hardest"     # [reconstruction] keep the most uncertain images (chosen on validation by ch. 05)
    J: int = 6                 # [paper] window length in records (ImageNet-1K)
    W: int = 2                 # [paper] windows averaged
    records: int = 8           # [ours] EL2N records along the scoring run (the paper: one per epoch)
    probe: int = 0             # [paper] images per class scored; 0 = all (the quick profile scores a sample)
    stratify: bool = False     # [reconstruction] a stratified draw over the score range instead of the top
    score_seed: int = 0        # [ours] the scoring run's seed, shared by every set at this budget

    def validate(self):
        if self.budget < 0:
            raise DDLibError(f"ca2d: budget must be a number of samples seen, got {self.budget}")
        cad.check_knobs(self.J, self.W, self.records)
        if self.probe and self.probe < self.pool:
            raise DDLibError(f"ca2d: the pool ({self.pool} per class) must not exceed the scored probe "
                             f"({self.probe} per class)")
        rded.Knobs(**{f.name: getattr(self, f.name) for f in fields(rded.Knobs)}).validate()


def rded_knobs(k: Knobs) -> rded.Knobs:
    return rded.Knobs(**{f.name: getattr(k, f.name) for f in fields(rded.Knobs)})


def candidate_pool(ctx, k: Knobs) -> tuple:
    """Per class, the training indices of CAD-Prune's ``pool`` picks for the budget (the RDED candidate pool), and
    what CAD-Prune's scoring run cost."""
    picked = cad.select(ctx.splits, k.pool, ctx.seed, budget=k.budget, model=k.score_model, batch=k.score_batch,
                        which=k.which, J=k.J, W=k.W, records=k.records, probe=k.probe, stratify=k.stratify,
                        score_seed=k.score_seed, split_seed=ctx.split_seed, device=ctx.device,
                        progress=ctx.progress)
    idx = picked["indices"]
    y = ctx.splits.y_train[idx]
    return [idx[y == c] for c in range(ctx.num_classes)], picked["compute"]


def distill(ctx, k: Knobs) -> dict:
    if k.budget < 1:
        raise DDLibError("ca2d needs the downstream budget in samples seen: --knob budget=N (a run passes its own)")
    pool, scoring = candidate_pool(ctx, k)
    out = rded.distill(ctx, rded_knobs(k), pool=pool)
    out["compute"].update(scoring)
    return out


def objective(ctx, k: Knobs, x, y) -> float:
    """RDED's: the mean observer loss over the set's tiles."""
    return rded.objective(ctx, rded_knobs(k), x, y)
