"""DM, distribution matching (Zhao & Bilen, WACV 2023): every iteration samples a fresh randomly initialised
ConvNet and, class by class, matches the mean embedding of a real batch with that of the synthetic images, both
DSA-augmented with the same draw (siamese augmentation); plain SGD on the pixels, initialised from real images.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import augment
from ..errors import DDLibError

UNCLIPPED = True   # [DM code] the evaluation trains on the synthetic tensor as optimised, unclipped


@dataclass(frozen=True)
class Knobs:
    model: str = "convnet3-w16-instancenorm"  # [scaled for CPU; paper: ConvNet-3 width 128, the student's net]
    iterations: int = 200       # [scaled for CPU; paper: 20,000]
    batch_real: int = 64        # real images per class per iteration [scaled for CPU; paper: 256]
    lr_img: float = 1.0         # [paper] SGD on pixels, lr 1
    momentum: float = 0.5       # [paper]
    dsa: bool = True            # [paper] siamese DSA on real and synthetic batches

    def validate(self):
        if self.iterations < 0 or self.batch_real < 1:
            raise DDLibError("dm: iterations must be >= 0 and batch_real >= 1")


def _match(net, ctx, x, y, g, batch_real: int, aug_seeds: list | None) -> torch.Tensor:
    """Sum over classes of ||mean embedding(real batch) - mean embedding(synthetic images of the class)||^2.
    Each class gets its own DSA draw, shared by its real and synthetic batch (DSA's siamese augmentation); all classes
    go through the net in one batch (the embedding is per image: instance norm, no batch statistics)."""
    real, syn = [], []
    for c in range(ctx.num_classes):
        r, s = ctx.class_batch(c, batch_real, g), x[y == c]
        if aug_seeds is not None:
            r, s = augment.siamese_dsa([r, s], torch.Generator(device=r.device).manual_seed(aug_seeds[c]))
        real.append(r)
        syn.append(s)
    with torch.no_grad():
        mu_real = net.embed(torch.cat(real)).view(ctx.num_classes, batch_real, -1).mean(1)
    mu_syn = net.embed(torch.cat(syn)).view(ctx.num_classes, -1, mu_real.shape[1]).mean(1)
    return ((mu_real - mu_syn) ** 2).sum()


def _frozen(net):
    for p in net.parameters():
        p.requires_grad_(False)
    return net.train()


def distill(ctx, k: Knobs) -> dict:
    x, y = ctx.real_init()
    x.requires_grad_(True)
    opt = torch.optim.SGD([x], lr=k.lr_img, momentum=k.momentum)
    g = ctx.generator(1)
    bar = ctx.bar(k.iterations, "DM")
    for it in range(k.iterations):
        net = _frozen(ctx.net(k.model, stream=100 + it))
        seeds = torch.randint(2**62, (ctx.num_classes,), generator=g, device=g.device).tolist() if k.dsa else None
        loss = _match(net, ctx, x, y, g, k.batch_real, seeds)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        bar.update()
    bar.close()
    n_syn = len(x)
    return dict(x=x.detach(), y=y, compute=dict(
        iterations=k.iterations, real_forward_samples=k.iterations * ctx.num_classes * k.batch_real,
        synthetic_forward_samples=k.iterations * n_syn))


def objective(ctx, k: Knobs, x: torch.Tensor, y: torch.Tensor, probes: int = 3) -> float:
    """DM's loss averaged over ``probes`` fixed random nets and fixed real batches, without augmentation."""
    total = 0.0
    for i in range(probes):
        net = _frozen(ctx.net(k.model, stream=10_000_000 + i))
        with torch.no_grad():
            total += float(_match(net, ctx, x, y, ctx.generator(10_000_000 + i), k.batch_real, None))
    return total / probes
