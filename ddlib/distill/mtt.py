"""MTT, matching training trajectories (Cazenavette et al., CVPR 2022).

1. Experts: ``experts`` nets train on the full (normalised) training split with plain SGD and DSA, and the flat
   parameter vector is saved at ``train_epochs + 1`` checkpoints. They depend on the dataset, split, model and
   recipe only (each expert is seeded by its own index, not by the distillation's seed), so they are cached on disk
   under ``<cache>/experts/<key>/`` and shared by every IPC and seed.
2. Distillation: each iteration picks a random expert and a start checkpoint t <= ``max_start_epoch``, unrolls a
   student from theta_t for ``syn_steps`` SGD steps on (DSA-augmented) minibatches of the synthetic set with a
   learnable lr, and minimises ||theta_N - theta_{t+M}||^2 / ||theta_t - theta_{t+M}||^2 (M = ``expert_epochs``),
   back-propagating through the whole unroll into the pixels and the lr.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch.func import functional_call

from .. import augment, data, fingerprint, models
from ..errors import DDLibError
from ..store import atomic_write, cached_folder, digest
from ..train import batch_indices, plain_sgd
from ..version import __version__

EXPERT_FORMAT = 1
EXPERT_SEED = 7_000_000  # expert e's init, batches and augmentation are seeded by EXPERT_SEED + e
EXPERTS = fingerprint.Part((("distill.mtt", "expert_trajectories"),), fingerprint.SET_DOORS)   # the experts' code

UNCLIPPED = True   # [MTT code] the evaluation trains on the synthetic tensor as optimised, unclipped


@dataclass(frozen=True)
class Knobs:
    model: str = "convnet3-w16-instancenorm"  # [scaled for CPU; paper: ConvNet-3 width 128]
    iterations: int = 12        # [scaled for CPU; paper: 5,000]
    syn_steps: int = 10         # student steps N [scaled for CPU; paper: 30 at CIFAR-10 IPC 10 (50 at IPC 1)]
    expert_epochs: int = 2      # M, expert epochs between start and target [paper: 2]
    max_start_epoch: int = 4    # latest start checkpoint, inclusive [scaled for CPU; paper: 20 at IPC 10]
    batch_syn: int = 0          # student minibatch; 0: the whole synthetic set [paper: the code's default]
    lr_img: float = 1000.0      # [ours; paper: 1000 on ZCA-whitened images] on our mean/std-normalised pixels
    #                             1000 lowered the Fashion-MNIST probe loss by 40%, 100 by 15%, 3000 by 25%
    lr_lr: float = 1e-5         # SGD on the raw (not log) student lr [paper: 1e-5 at CIFAR-10 IPC 10, 1e-7 at
    #                             IPC 1]; it moves the lr by tens of percent within our few iterations
    lr_teacher: float = 0.01    # expert SGD lr and the student lr's initial value [paper]
    momentum: float = 0.5       # [paper] momentum of the pixel and lr optimisers
    dsa: bool = True            # [paper] DSA for experts and the student unroll
    experts: int = 2            # [scaled for CPU; paper: 100]
    train_epochs: int = 6       # expert epochs, checkpoints = train_epochs + 1 [scaled for CPU; paper: 50]
    epoch_samples: int = 0      # an expert "epoch" = this many samples seen; 0: one pass over the training split
    #                             [paper: one pass; issue 13: real passes, so M expert epochs are many real steps]
    batch_train: int = 256      # [paper] expert batch

    def validate(self):
        if self.iterations < 0 or self.syn_steps < 1 or self.batch_syn < 0:
            raise DDLibError("mtt: iterations must be >= 0, syn_steps >= 1 and batch_syn >= 0 (0: whole set)")
        if self.experts < 1 or self.train_epochs < 1 or self.batch_train < 1 or self.epoch_samples < 0:
            raise DDLibError("mtt: experts, train_epochs and batch_train must be >= 1, epoch_samples >= 0")
        if self.expert_epochs < 1 or self.max_start_epoch < 0 or \
                self.max_start_epoch + self.expert_epochs > self.train_epochs:
            raise DDLibError(f"mtt: need expert_epochs >= 1 and max_start_epoch + expert_epochs <= train_epochs "
                             f"(got {self.max_start_epoch} + {self.expert_epochs} > {self.train_epochs})")
        if self.lr_img <= 0 or self.lr_lr < 0 or self.lr_teacher <= 0 or not 0 <= self.momentum < 1:
            raise DDLibError("mtt: lr_img and lr_teacher must be > 0, lr_lr >= 0 and momentum in [0, 1)")


# --- flat parameters -----------------------------------------------------------------------------------------

class Flat:
    """A net called on one flat parameter vector (``torch.func.functional_call``; buffers stay the net's own)."""

    def __init__(self, net: torch.nn.Module):
        self.net = net
        named = list(net.named_parameters())
        self.names = [n for n, _ in named]
        self.shapes = [p.shape for _, p in named]
        self.sizes = [p.numel() for _, p in named]

    @staticmethod
    def of(net: torch.nn.Module) -> torch.Tensor:
        return torch.cat([p.detach().reshape(-1) for p in net.parameters()])

    def __call__(self, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        parts = torch.split(theta, self.sizes)
        params = {n: t.view(s) for n, t, s in zip(self.names, parts, self.shapes)}
        return functional_call(self.net, params, (x,))


# --- experts -------------------------------------------------------------------------------------------------

def _steps_per_epoch(ctx, k: Knobs) -> int:
    samples = k.epoch_samples or len(ctx.train[1])
    return max(1, -(-samples // k.batch_train))


def expert_key(ctx, k: Knobs) -> str:
    """Content address of the expert trajectories: everything that changes them, nothing that does not (the IPC,
    the distillation seed and the distillation knobs are left out)."""
    d = dict(format=EXPERT_FORMAT, dataset=ctx.dataset, val_per_class=ctx.val_per_class, split_seed=ctx.split_seed,
             model=k.model, experts=k.experts, train_epochs=k.train_epochs, epoch_samples=k.epoch_samples,
             batch_train=k.batch_train, lr_teacher=k.lr_teacher, dsa=k.dsa, seed_base=EXPERT_SEED,
             device=torch.device(ctx.device).type, ddlib_version=__version__)
    return f"{k.model}-{ctx.dataset}-{digest(d, fingerprint.of(EXPERTS, data.code_part(ctx.dataset)))}"


def _train_expert(ctx, k: Knobs, e: int) -> torch.Tensor:
    """Expert ``e``'s trajectory [train_epochs + 1, P]: plain SGD (no momentum, no weight decay) with DSA, the
    parameters taken after every expert epoch."""
    torch.manual_seed(EXPERT_SEED + e)
    net = models.build(k.model, ctx.shape, ctx.num_classes).to(ctx.device).train()
    g = torch.Generator(device=ctx.device).manual_seed(EXPERT_SEED + e)
    per_epoch = _steps_per_epoch(ctx, k)
    snaps = [Flat.of(net)]

    def snapshot(step, model):
        if (step + 1) % per_epoch == 0:
            snaps.append(Flat.of(model))
    plain_sgd(net, *ctx.train, k.lr_teacher, per_epoch * k.train_epochs, k.batch_train, g,
              augment.dsa if k.dsa else None, on_step=snapshot)
    return torch.stack(snaps)


def expert_trajectories(ctx, k: Knobs) -> tuple:
    """([experts, train_epochs + 1, P] on the device, info): read from the cache or trained and cached.

    The cache folder ``<cache>/experts/<key>/`` holds ``trajectories.safetensors`` and ``meta.json``, written last
    (``store.cached_folder``); a trajectory file that does not read back with the meta's shape is rebuilt, not
    trusted."""
    samples = k.experts * k.train_epochs * _steps_per_epoch(ctx, k) * k.batch_train
    trained = []

    def make(folder):
        bar = ctx.bar(k.experts, "MTT experts")
        for e in range(k.experts):
            trained.append(_train_expert(ctx, k, e).cpu())
            bar.update()
        bar.close()
        traj = torch.stack(trained).contiguous()
        atomic_write(folder / "trajectories.safetensors", lambda p: save_file({"trajectories": traj}, p))
        return dict(key=folder.name, shape=list(traj.shape), dataset=ctx.dataset, val_per_class=ctx.val_per_class,
                    split_seed=ctx.split_seed, device=torch.device(ctx.device).type, ddlib_version=__version__,
                    recipe={f: v for f, v in asdict(k).items() if f in (
                        "model", "experts", "train_epochs", "epoch_samples", "batch_train", "lr_teacher", "dsa")},
                    samples_seen=samples)

    folder, meta = cached_folder("experts", expert_key(ctx, k), make)
    try:
        traj = load_file(folder / "trajectories.safetensors")["trajectories"]
    except (SafetensorError, OSError, KeyError):
        traj = None
    if traj is None or list(traj.shape) != meta.get("shape"):   # a corrupt trajectory file: rebuilt, not trusted
        (folder / "meta.json").unlink()
        return expert_trajectories(ctx, k)
    return traj.to(ctx.device), dict(expert_train_samples=samples, experts_cache_hit=not trained)


def prepare(ctx, k: Knobs) -> None:
    """The expert trajectories, shared by every set of the same recipe (called once before parallel work)."""
    expert_trajectories(ctx, k)


# --- the matching loss ---------------------------------------------------------------------------------------

def match(f: Flat, start: torch.Tensor, target: torch.Tensor, x, y, lr, steps: int, batch: int, g,
          dsa: bool, create_graph: bool, loss=F.cross_entropy) -> torch.Tensor:
    """Unroll a student from ``start`` for ``steps`` SGD steps of ``loss(logits, y[batch])`` on minibatches of
    (x, y) (DATM: soft targets and a soft cross-entropy); return ||theta_N - target||^2 / ||start - target||^2."""
    theta = start.detach().clone().requires_grad_(True)
    for idx in batch_indices(len(x), batch, steps, g):
        xb = augment.dsa(x[idx], g) if dsa else x[idx]
        ce = loss(f(theta, xb), y[idx])
        (grad,) = torch.autograd.grad(ce, theta, create_graph=create_graph)
        theta = theta - lr * grad
        if not create_graph:
            theta = theta.detach().requires_grad_(True)
    return ((theta - target) ** 2).sum() / ((start - target) ** 2).sum()


def distill(ctx, k: Knobs) -> dict:
    traj, info = expert_trajectories(ctx, k)
    f = Flat(ctx.net(k.model, stream=0).train())
    x, y = ctx.real_init()
    x.requires_grad_(True)
    lr = torch.tensor(float(k.lr_teacher), device=ctx.device, requires_grad=True)
    opt_img = torch.optim.SGD([x], lr=k.lr_img, momentum=k.momentum)
    opt_lr = torch.optim.SGD([lr], lr=k.lr_lr, momentum=k.momentum)
    g = ctx.generator(1)
    batch = min(k.batch_syn or len(x), len(x))
    bar = ctx.bar(k.iterations, "MTT")
    for _ in range(k.iterations):
        e = int(torch.randint(len(traj), (1,), generator=g, device=g.device))
        t = int(torch.randint(k.max_start_epoch + 1, (1,), generator=g, device=g.device))
        loss = match(f, traj[e, t], traj[e, t + k.expert_epochs], x, y, lr, k.syn_steps, batch, g, k.dsa, True)
        opt_img.zero_grad(set_to_none=True)
        opt_lr.zero_grad(set_to_none=True)
        loss.backward(inputs=[x, lr])
        opt_img.step()
        opt_lr.step()
        bar.update()
    bar.close()
    return dict(x=x.detach(), y=y, compute=dict(
        iterations=k.iterations, syn_steps=k.syn_steps, batch_syn=batch,
        synthetic_forward_samples=k.iterations * k.syn_steps * batch,   # each unrolled with a double backward
        learned_lr=float(lr.detach()), **info))


def objective(ctx, k: Knobs, x: torch.Tensor, y: torch.Tensor, probes: int = 3) -> float:
    """MTT's normalised parameter-matching loss on ``probes`` fixed (expert, start) pairs (starts spread over
    0..max_start_epoch), fixed minibatch orders, no augmentation and the initial student lr ``lr_teacher``."""
    traj, _ = expert_trajectories(ctx, k)
    f = Flat(ctx.net(k.model, stream=0).train())
    batch = min(k.batch_syn or len(x), len(x))
    total = 0.0
    for i in range(probes):
        e, t = i % len(traj), round(i * k.max_start_epoch / max(1, probes - 1))
        total += float(match(f, traj[e, t], traj[e, t + k.expert_epochs], x.detach(), y, k.lr_teacher,
                              k.syn_steps, batch, ctx.generator(10_000_000 + i), False, False).detach())
    return total / probes
