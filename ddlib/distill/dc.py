"""DC, dataset condensation with gradient matching (Zhao, Mopuri & Bilen, ICLR 2021; DSA variant, Zhao & Bilen,
ICML 2021): every iteration samples a fresh randomly initialised ConvNet; ``outer_loop`` times, class by class, the
gradient of the cross-entropy of the net on a real batch is matched with that on the synthetic images of the class
(both DSA-augmented with the same draw) under DC's layer-wise distance, the pixels take one SGD step, and (except after
the last outer step) the net trains for ``inner_loop`` epochs on the synthetic set. Initialised from real images.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .. import augment
from ..errors import DDLibError
from ..train import plain_sgd

# (outer_loop, inner_loop) by IPC [paper: (1, 1), (10, 50), (50, 10) at IPC 1, 10, 50; 20-40 from DC's code,
# `get_loops`]; other IPCs take the nearest listed IPC's loops (ties: the smaller IPC).
PAPER_LOOPS = {1: (1, 1), 10: (10, 50), 20: (20, 25), 30: (30, 20), 40: (40, 15), 50: (50, 10)}

UNCLIPPED = True   # [DC code] the evaluation trains on the synthetic tensor as optimised, unclipped


@dataclass(frozen=True)
class Knobs:
    model: str = "convnet3-w16-instancenorm"  # [scaled for CPU; paper: ConvNet-3 width 128]
    iterations: int = 10        # [scaled for CPU; paper: 1,000]
    batch_real: int = 64        # real images per class per matching step [scaled for CPU; paper: 256]
    lr_img: float = 0.5         # SGD on pixels [scaled for CPU; paper: 0.1 over 10,000 pixel updates at IPC 10, we
    #                             take 20; on Fashion-MNIST IPC 10 0.1 lowers the probe loss ~2%, 0.5 ~12%, 3 raises it]
    momentum: float = 0.5       # [paper] momentum of the pixel optimiser
    lr_net: float = 0.01        # [paper] SGD (no momentum) for the inner training of the net
    batch_train: int = 256      # [paper] batch of the inner training on the synthetic set
    outer_loop: int = 0         # 0: the paper's IPC-dependent value (PAPER_LOOPS) times loop_scale
    inner_loop: int = 0         # epochs of net training on the synthetic set; 0: PAPER_LOOPS times loop_scale
    loop_scale: float = 0.2     # [scaled for CPU; paper: 1] applied to the paper's loops only (rounded, >= 1)
    dsa: bool = True            # [paper] siamese DSA on real and synthetic batches (and in the inner training)

    def validate(self):
        if self.iterations < 0 or self.batch_real < 1 or self.batch_train < 1:
            raise DDLibError("dc: iterations must be >= 0, batch_real and batch_train >= 1")
        if self.outer_loop < 0 or self.inner_loop < 0 or not self.loop_scale > 0:
            raise DDLibError("dc: outer_loop and inner_loop must be >= 0 (0: the paper's value) and loop_scale > 0")
        if self.lr_img <= 0 or self.lr_net < 0 or not 0 <= self.momentum < 1:
            raise DDLibError("dc: lr_img must be > 0, lr_net >= 0 and momentum in [0, 1)")


def loops(ipc: int, k: Knobs) -> tuple:
    """(outer_loop, inner_loop) for ``ipc``: the knobs if set, else the nearest paper IPC's loops x loop_scale."""
    nearest = min(PAPER_LOOPS, key=lambda p: (abs(p - ipc), p))
    outer, inner = PAPER_LOOPS[nearest]
    return (k.outer_loop or max(1, round(outer * k.loop_scale)),
            k.inner_loop or max(1, round(inner * k.loop_scale)))


def distance(g_syn, g_real) -> torch.Tensor:
    """DC's ``distance_wb`` summed over layers: for every parameter with more than one dimension, the gradient as
    [out, -1] rows, sum over rows of 1 - cosine similarity; 1-D parameters (biases, norm affine) count 0."""
    total = None
    for gs, gr in zip(g_syn, g_real):
        if gs.ndim < 2:
            continue
        gs, gr = gs.reshape(gs.shape[0], -1), gr.reshape(gr.shape[0], -1)
        d = (1 - (gs * gr).sum(-1) / (gs.norm(dim=-1) * gr.norm(dim=-1) + 1e-6)).sum()
        total = d if total is None else total + d
    return total


def _match(net, ctx, x, y, g, batch_real: int, aug_seed: int | None, create_graph: bool) -> torch.Tensor:
    """Sum over classes of the layer-wise distance between the real and the synthetic gradients of the net."""
    params = [p for p in net.parameters() if p.requires_grad]
    loss = x.new_zeros(())
    for c in range(ctx.num_classes):
        real = ctx.class_batch(c, batch_real, g)
        syn = x[y == c]
        if aug_seed is not None:  # one DSA draw, shared by both batches (DSA's siamese augmentation)
            real, syn = augment.siamese_dsa([real, syn], torch.Generator(device=real.device).manual_seed(aug_seed))
        g_real = torch.autograd.grad(F.cross_entropy(net(real), torch.full((len(real),), c, device=real.device)),
                                     params)
        g_real = [t.detach() for t in g_real]
        g_syn = torch.autograd.grad(F.cross_entropy(net(syn), y[y == c]), params, create_graph=create_graph)
        loss = loss + distance(g_syn, g_real)
    return loss


def _train_net(net, x, y, k: Knobs, epochs: int, g) -> int:
    """DC's inner loop: ``epochs`` passes of plain SGD over the (detached) synthetic set; returns samples seen."""
    steps = epochs * -(-len(x) // k.batch_train)
    return plain_sgd(net, x.detach(), y, k.lr_net, steps, min(k.batch_train, len(x)), g,
                     augment.dsa if k.dsa else None)


def distill(ctx, k: Knobs) -> dict:
    outer, inner = loops(ctx.ipc, k)
    x, y = ctx.real_init()
    x.requires_grad_(True)
    opt = torch.optim.SGD([x], lr=k.lr_img, momentum=k.momentum)
    g = ctx.generator(1)
    inner_samples = 0
    bar = ctx.bar(k.iterations, "DC")
    for it in range(k.iterations):
        net = ctx.net(k.model, stream=100 + it).train()
        for ol in range(outer):
            aug_seed = int(torch.randint(2**62, (1,), generator=g, device=g.device)) if k.dsa else None
            loss = _match(net, ctx, x, y, g, k.batch_real, aug_seed, create_graph=True)
            opt.zero_grad(set_to_none=True)
            loss.backward(inputs=[x])
            opt.step()
            if ol == outer - 1:
                break
            inner_samples += _train_net(net, x, y, k, inner, g)
        bar.update()
    bar.close()
    steps = k.iterations * outer
    return dict(x=x.detach(), y=y, compute=dict(
        iterations=k.iterations, outer_loop=outer, inner_loop=inner, image_updates=steps,
        real_forward_samples=steps * ctx.num_classes * k.batch_real,     # each with a backward pass
        synthetic_forward_samples=steps * len(x),                        # each with a double backward pass
        inner_train_samples=inner_samples))                              # net training on the synthetic set


def objective(ctx, k: Knobs, x: torch.Tensor, y: torch.Tensor, probes: int = 3) -> float:
    """DC's matching loss on ``probes`` fixed fresh nets and fixed real batches, without augmentation."""
    total = 0.0
    for i in range(probes):
        net = ctx.net(k.model, stream=10_000_000 + i).train()
        total += float(_match(net, ctx, x.detach(), y, ctx.generator(10_000_000 + i), k.batch_real, None,
                              create_graph=False))
    return total / probes
