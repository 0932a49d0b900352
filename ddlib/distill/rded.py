"""RDED (Sun et al., CVPR 2024, "On the diversity and realism of distilled dataset"): per class, draw a pool of
real images, take random resized crops of each, score every crop by the observer's (teacher's) true-class
cross-entropy, keep each image's best crop, then the IPC x factor^2 lowest-loss crops of the class, and stitch
factor x factor of them (each shrunk to 1/factor of the side) into one image. No optimisation: a selection.

``distill`` takes an optional ``pool`` (per-class training indices), which is how CA2D reuses it on a pool chosen by
CAD-Prune. The kept crops' source images and losses are returned, for the easy-patch analysis.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .. import augment
from ..errors import DDLibError

USES_TEACHER = True  # the observer


@dataclass(frozen=True)
class Knobs:
    pool: int = 300            # [paper] candidate images per class (RDED's mipc)
    crops: int = 5             # [paper] random resized crops per image
    min_scale: float = 0.08    # [paper] RandomResizedCrop area range
    max_scale: float = 1.0     # [paper]
    aspect: float = 1.0        # [RDED code] crops at aspect ratio (1, 1): RandomResizedCrop(ratio=(1, 1)) [issue 13]
    factor: int = 1            # [paper] crops per side of a stitched image: 1 at 32 px, 2 at 224 px
    teacher_model: str = ""    # the observer's architecture; "" = the run's teacher
    chunk: int = 2000          # [ours] observer batch size (memory only)

    def validate(self):
        if self.pool < 1 or self.crops < 1 or self.factor < 1:
            raise DDLibError("rded: pool, crops and factor must be >= 1")
        if not self.aspect > 0:
            raise DDLibError(f"rded: aspect (crop width / height) must be > 0, got {self.aspect}")
        if not 0 < self.min_scale <= self.max_scale <= 1:
            raise DDLibError(f"rded: need 0 < min_scale <= max_scale <= 1, got {self.min_scale}, {self.max_scale}")


@torch.no_grad()
def observer_loss(model, x: torch.Tensor, y: torch.Tensor, chunk: int = 2000) -> torch.Tensor:
    """Per-image true-class cross-entropy of the observer (eval mode)."""
    model.eval()
    return torch.cat([F.cross_entropy(model(x[i:i + chunk]), y[i:i + chunk], reduction="none")
                      for i in range(0, len(x), chunk)])


def stitch(tiles: torch.Tensor, factor: int, size: tuple) -> torch.Tensor:
    """[N * factor^2, C, H, W] tiles -> [N, C, H, W] images of factor x factor tiles, each resized to 1/factor."""
    if factor == 1:
        return tiles
    th, tw = size[0] // factor, size[1] // factor
    small = F.interpolate(tiles, size=(th, tw), mode="bilinear", antialias=True, align_corners=False)
    n, c = len(tiles) // factor**2, tiles.shape[1]
    grid = small.view(n, factor, factor, c, th, tw).permute(0, 3, 1, 4, 2, 5).reshape(n, c, th * factor, tw * factor)
    return F.interpolate(grid, size=size, mode="nearest") if grid.shape[-2:] != tuple(size) else grid


def tiles_of(x: torch.Tensor, factor: int) -> torch.Tensor:
    """The inverse of :func:`stitch`'s layout: each image's factor x factor tiles, upsampled back to full size."""
    if factor == 1:
        return x
    n, c, h, w = x.shape
    th, tw = h // factor, w // factor
    t = x[..., :th * factor, :tw * factor].reshape(n, c, factor, th, factor, tw).permute(0, 2, 4, 1, 3, 5)
    return F.interpolate(t.reshape(-1, c, th, tw), size=(h, w), mode="bilinear", align_corners=False)


def distill(ctx, k: Knobs, pool: list | None = None) -> dict:
    """RDED on the random pool (``pool=None``) or on given per-class training indices (CA2D)."""
    observer = ctx.get_teacher(k.teacher_model or None)
    x_all, y_all = ctx.train
    g = ctx.generator(1)
    size = tuple(ctx.shape[1:])
    keep = ctx.ipc * k.factor**2
    xs, sources, losses, forwards = [], [], [], 0
    for c in range(ctx.num_classes):
        idx = ctx.class_index[c]
        if pool is None:
            cand = idx[torch.randperm(len(idx), generator=g, device=g.device)[:k.pool]]
        else:
            cand = torch.as_tensor(pool[c], device=x_all.device)
        if len(cand) < keep:
            raise DDLibError(f"rded: class {c} has {len(cand)} candidate images, fewer than IPC x factor^2 = {keep}")
        crops = augment.random_resized_crop(x_all[cand].repeat_interleave(k.crops, 0), g, (k.min_scale, k.max_scale),
                                            (k.aspect, k.aspect), size=size).view(len(cand), k.crops,
                                                                                  *x_all.shape[1:2], *size)
        flat = crops.flatten(0, 1)
        forwards += len(flat)
        loss = observer_loss(observer.model, flat, torch.full((len(flat),), c, device=flat.device), k.chunk)
        best_loss, best = loss.view(len(cand), k.crops).min(1)        # each image's best crop
        order = torch.sort(best_loss, stable=True).indices[:keep]    # the class's lowest-loss crops
        xs.append(stitch(crops[order, best[order]], k.factor, size))
        sources.append(cand[order])
        losses.append(best_loss[order])
    x = torch.cat(xs)
    y = torch.arange(ctx.num_classes, device=x.device).repeat_interleave(ctx.ipc)
    return dict(x=x, y=y, sources=torch.cat(sources), source_losses=torch.cat(losses), compute=dict(
        observer_forward_samples=forwards,
        observer_id=observer.id, observer_samples_seen=observer.meta["samples_seen"]))


def objective(ctx, k: Knobs, x: torch.Tensor, y: torch.Tensor) -> float:
    """Mean observer true-class cross-entropy over the set's tiles (what RDED minimises by selection)."""
    observer = ctx.get_teacher(k.teacher_model or None)
    t = tiles_of(x, k.factor)
    return float(observer_loss(observer.model, t, y.repeat_interleave(k.factor**2), k.chunk).mean())
