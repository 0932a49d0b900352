"""SRe2L, squeeze-recover-relabel (Yin, Xing & Shen, NeurIPS 2023), its *recover* step: synthetic images start from
Gaussian noise and are optimised so that a trained BatchNorm teacher classifies them as their target class while the
statistics of every BN layer's input match that layer's running statistics. Each step sees a fresh random resized
crop + flip of the batch; the teacher stays in eval mode. *Squeeze* is training the teacher (``ctx.get_teacher``,
cached like any teacher); *relabel* is left to the evaluation regime (SL / SL+KD), so the labels here are hard.

Loss per step (the official ``recover`` scripts): ``CE(teacher(aug(x)), y) + r_bn * sum_l w_l (||mu_l - running
mean_l||_2 + ||var_l - running var_l||_2)`` with the batch mean and (biased) variance per channel of layer l's input,
``w_1 = first_bn_multiplier`` and 1 elsewhere. Adam (betas 0.5, 0.9) with a cosine learning rate from ``lr`` to 0,
pixels clipped to the valid range after every step. Images are recovered in batches holding every class (the
official code: one image per class per batch); at the CPU profile's sizes, one batch holds the whole set.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import augment, models
from ..errors import DDLibError

USES_TEACHER = True


@dataclass(frozen=True)
class Knobs:
    teacher_model: str = "convnet3-w16-batchnorm"  # [scaled for CPU; paper: ResNet-18 (BN), trained on the full data]
    iterations: int = 300       # Adam steps per batch [scaled for CPU; paper: 1,000 (CIFAR) to 4,000 (ImageNet)]
    lr: float = 0.25            # [paper] Adam lr on the pixels (normalised units), cosine decay to 0, no warm-up
    beta1: float = 0.5          # [paper] Adam betas (0.5, 0.9)
    beta2: float = 0.9          # [paper]
    r_bn: float = 0.01          # [paper] weight of the BN-statistics term
    first_bn_multiplier: float = 10.0  # [paper] extra weight on the first BN layer's term
    batch_size: int = 100       # [paper] images recovered together (official scripts: 100, one per class there; here
    #                             batch_size // classes per class, so IPC 10 x 10 classes is one batch)
    crop_scale_min: float = 0.08  # [paper] RandomResizedCrop area range (crop_scale_min, 1), ratio 3/4..4/3, + flip
    #                               (the ImageNet and Tiny-ImageNet scripts; the CIFAR one rolls by <= 4 px instead)

    def validate(self):
        if self.iterations < 0 or self.batch_size < 1 or self.lr <= 0:
            raise DDLibError("sre2l: iterations must be >= 0, batch_size >= 1 and lr > 0")
        if not (0 < self.crop_scale_min <= 1) or not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise DDLibError("sre2l: crop_scale_min must lie in (0, 1] and the Adam betas in [0, 1)")
        if self.r_bn < 0 or self.first_bn_multiplier < 0:
            raise DDLibError("sre2l: r_bn and first_bn_multiplier must be >= 0")
        if models.ModelSpec.parse(self.teacher_model).norm != "batchnorm":
            raise DDLibError(f"sre2l needs a BatchNorm teacher (its loss matches BN running statistics); "
                             f"teacher_model {self.teacher_model!r} has none: use e.g. convnet3-w16-batchnorm")


class _BNStats:
    """Forward hooks on every BatchNorm layer: the distance of each layer input's batch statistics to the layer's
    running statistics (SRe2L's ``BNFeatureHook``: L2 norms of the mean and of the biased variance differences)."""

    def __init__(self, model: nn.Module, name: str):
        self.layers = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        if not self.layers:
            raise DDLibError(f"sre2l needs a BatchNorm teacher; {name!r} has no BatchNorm layer")
        self.terms: list = [None] * len(self.layers)
        self.handles = [m.register_forward_hook(self._hook(i)) for i, m in enumerate(self.layers)]

    def _hook(self, i):
        def fn(module, inputs, output):
            a = inputs[0]
            dims = [d for d in range(a.ndim) if d != 1]
            mean = a.mean(dims)   # the biased variance, written out: 20% faster on CPU than Tensor.var
            var = (a - mean.view(1, -1, *([1] * (a.ndim - 2)))).square().mean(dims)
            self.terms[i] = torch.norm(module.running_mean - mean, 2) + torch.norm(module.running_var - var, 2)
        return fn

    def loss(self, first_bn_multiplier: float) -> torch.Tensor:
        return sum(t * (first_bn_multiplier if i == 0 else 1.0) for i, t in enumerate(self.terms))

    def close(self):
        for h in self.handles:
            h.remove()


def _recovery_loss(model, bn: _BNStats, k: Knobs, x, y) -> torch.Tensor:
    return F.cross_entropy(model(x), y) + k.r_bn * bn.loss(k.first_bn_multiplier)


def _batches(y: torch.Tensor, num_classes: int, batch_size: int) -> list:
    """Index sets that each hold every class: ``batch_size // classes`` (at least 1) images of each class per batch,
    taken in order within each class."""
    per = max(1, batch_size // num_classes)
    members = [torch.nonzero(y == c).flatten() for c in range(num_classes)]
    n = max(len(m) for m in members)
    return [torch.cat([m[j:j + per] for m in members]) for j in range(0, n, per)]


def _pixel_range(ctx, device) -> tuple:
    """The normalised values of pixels 0 and 1, per channel, shaped [1, C, 1, 1]."""
    mean = torch.tensor(ctx.splits.mean, device=device).view(1, -1, 1, 1)
    std = torch.tensor(ctx.splits.std, device=device).view(1, -1, 1, 1)
    return -mean / std, (1 - mean) / std


def _teacher(ctx, k: Knobs):
    t = ctx.get_teacher(k.teacher_model)
    return t, t.model.eval()


def initial_noise(ctx) -> tuple:
    """The starting point: standard Gaussian noise in normalised units (seeded), class-sorted labels."""
    n = ctx.ipc * ctx.num_classes
    x = torch.randn((n, *ctx.shape), generator=ctx.generator(0), device=ctx.device)
    y = torch.arange(ctx.num_classes, device=ctx.device).repeat_interleave(ctx.ipc)
    return x, y


def distill(ctx, k: Knobs) -> dict:
    t, model = _teacher(ctx, k)
    bn = _BNStats(model, k.teacher_model)
    x, y = initial_noise(ctx)
    lo, hi = _pixel_range(ctx, x.device)
    g = ctx.generator(1)
    groups = _batches(y, ctx.num_classes, k.batch_size)
    bar = ctx.bar(k.iterations * len(groups), "SRe2L")
    try:
        for idx in groups:
            xb = x[idx].clone().requires_grad_(True)
            opt = torch.optim.Adam([xb], lr=k.lr, betas=(k.beta1, k.beta2), eps=1e-8)
            for it in range(k.iterations):
                for group in opt.param_groups:   # cosine from lr to 0, no warm-up (lr_cosine_policy(lr, 0, it))
                    group["lr"] = 0.5 * (1 + math.cos(math.pi * it / k.iterations)) * k.lr
                loss = _recovery_loss(model, bn, k, augment.random_resized_crop(xb, g, (k.crop_scale_min, 1.0), flip=True), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                with torch.no_grad():           # [paper code] clip to valid pixels after every step
                    xb.copy_(torch.maximum(torch.minimum(xb, hi), lo))
                bar.update()
            x[idx] = xb.detach()
    finally:
        bn.close()
        bar.close()
    x = torch.maximum(torch.minimum(x, hi), lo)   # valid pixels even with iterations=0
    samples = k.iterations * len(x)
    return dict(x=x, y=y, compute=dict(
        iterations=k.iterations, batches=len(groups), teacher_forward_samples=samples,
        teacher_backward_samples=samples, teacher_id=t.id, teacher_samples_seen=t.meta["samples_seen"]))


def objective(ctx, k: Knobs, x: torch.Tensor, y: torch.Tensor) -> float:
    """SRe2L's recovery loss on the un-augmented images, averaged over the batches ``distill`` recovers together."""
    _, model = _teacher(ctx, k)
    bn = _BNStats(model, k.teacher_model)
    y = y.to(x.device)
    try:
        with torch.no_grad():
            groups = _batches(y, ctx.num_classes, k.batch_size)
            return sum(float(_recovery_loss(model, bn, k, x[i], y[i])) for i in groups) / len(groups)
    finally:
        bn.close()
