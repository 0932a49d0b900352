"""DATM, difficulty-aligned trajectory matching (Guo, Wang, Cazenavette, Li, Zhang & You, ICLR 2024).

MTT (``mtt.py``) with two changes, as the authors' code (github.com/NUS-HPC-AI-Lab/DATM, ``distill/DATM.py``)
does them:

1. A window of start epochs aligned with the set's size. Each iteration's start checkpoint is drawn from
   [``min_start_epoch``, upper], where (``sequential``, the code's ``Sequential_Generation``) the upper bound grows
   linearly from ``current_max_start_epoch`` at iteration 0 to ``max_start_epoch`` at iteration ``expansion_end``
   and stays there (:func:`window`). Larger IPCs use later windows (harder patterns): the published settings
   by IPC are in ``params/paper.yaml``.
2. Learned soft labels. The initial images are, per class, real images that an expert classifies correctly (the
   code's ``pix_init: samples_predicted_correctly``: expert 0 at checkpoint ``label_epoch`` goes through a random
   order of the class and the first IPC it gets right are kept; the next expert when it gets fewer right). The label
   logits start as the mean of the experts' logits on those images at ``label_epoch``, over the experts that
   classify each image correctly, and are optimised with the pixels and the student lr through the unroll: the
   student's inner loss is the cross-entropy against softmax(label logits), no temperature (the code's
   ``SoftCrossEntropy``). As in the code, an iteration whose matching loss exceeds ``threshold`` updates nothing.

The experts are MTT's own: the same recipe knobs give the same ``mtt.expert_key``, so DATM and MTT share one
cache folder under ``<cache>/experts/`` (the authors train theirs with FTD's sharpness-aware recipe; we do not).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from ..errors import DDLibError
from . import mtt
from .mtt import Flat, expert_trajectories

_MTT = mtt.Knobs()   # the expert recipe's defaults are MTT's, read by name: DATM and MTT share experts by default
EXPERT_RECIPE = ("model", "experts", "train_epochs", "epoch_samples", "batch_train", "lr_teacher", "dsa")

UNCLIPPED = True   # [DATM code] the evaluation trains on the synthetic tensor as optimised, unclipped


@dataclass(frozen=True)
class Knobs:
    # the expert recipe: MTT's knobs of the same names (its defaults), so the expert cache is MTT's
    model: str = _MTT.model     # [MTT's default, scaled for CPU; DATM code: ConvNet-3 width 128, instance norm]
    experts: int = _MTT.experts  # [MTT's default, scaled for CPU; DATM code: 100 (README's buffer command)]
    train_epochs: int = _MTT.train_epochs  # [MTT's default, scaled for CPU; DATM code: 100 (README)]
    epoch_samples: int = _MTT.epoch_samples  # [MTT's default; 0: one pass; DATM code: one pass over CIFAR-10]
    batch_train: int = _MTT.batch_train  # [MTT's default; DATM code: 256 (README)]
    lr_teacher: float = _MTT.lr_teacher  # expert lr and the student lr's initial value [DATM code: 0.01]
    dsa: bool = _MTT.dsa        # DSA for the experts and the student unroll [DATM code: True]
    # the distillation
    iterations: int = 12        # [scaled for CPU; DATM code: 10,000 at CIFAR-10 IPC 1/10/50]
    syn_steps: int = 10         # student steps N [scaled for CPU; DATM code: 80 at CIFAR-10 IPC 1/10/50]
    expert_epochs: int = 2      # M, expert epochs between start and target [DATM code: 2]
    min_start_epoch: int = 0    # the window's lower end [DATM code: 0 at CIFAR-10 IPC 1/10/50 (40 at IPC 500/1000)]
    current_max_start_epoch: int = 2  # the window's upper end at iteration 0 [scaled for CPU; DATM code: 10 at
    #                             IPC 10, 20 at IPC 50 (IPC 1: no growth)]
    max_start_epoch: int = 4    # the upper end's final value, inclusive [scaled for CPU; DATM code: 4/20/40 at
    #                             IPC 1/10/50, exclusive there]
    sequential: bool = True     # grow the upper end [DATM code: Sequential_Generation, True; False at IPC 1]
    expansion_end: int = 6      # iteration at which the upper end reaches max_start_epoch [scaled for CPU (half
    #                             the iterations); DATM code: expansion_end_epoch 1,000 at IPC 10, 2,000 at IPC 50
    #                             of 10,000 iterations]
    batch_syn: int = 0          # student minibatch; 0: the whole set [DATM code: the whole set at IPC 1/10/50]
    lr_img: float = 1000.0      # [as mtt.Knobs, ours on mean/std-normalised pixels; DATM code: 100 at IPC 1/10,
    #                             1000 at IPC 50, on ZCA-whitened images]
    lr_lr: float = 1e-5         # SGD on the raw student lr [DATM code: 1e-7 at IPC 1, 1e-5 at IPC 10/50]
    lr_y: float = 2.0           # SGD on the label logits [DATM code: 5 at IPC 1, 2 at IPC 10/50]
    momentum: float = 0.5       # momentum of the pixel and lr optimisers [DATM code: 0.5]
    momentum_y: float = 0.9     # momentum of the label optimiser [DATM code: Momentum_y 0.9]
    threshold: float = 1.0      # skip the update when the matching loss exceeds this [DATM code: 1.1 at IPC 1,
    #                             1.0 at IPC 10/50]
    label_epoch: int = -1       # expert checkpoint that picks the images and gives the initial label logits;
    #                             negative counts from the end [DATM code: Label_Model_Timestamp = -1, the last]

    def validate(self):
        if self.iterations < 0 or self.syn_steps < 1 or self.batch_syn < 0:
            raise DDLibError("datm: iterations must be >= 0, syn_steps >= 1 and batch_syn >= 0 (0: whole set)")
        if self.experts < 1 or self.train_epochs < 1 or self.batch_train < 1 or self.epoch_samples < 0:
            raise DDLibError("datm: experts, train_epochs and batch_train must be >= 1, epoch_samples >= 0")
        if self.expert_epochs < 1 or not 0 <= self.min_start_epoch <= self.current_max_start_epoch \
                <= self.max_start_epoch:
            raise DDLibError(f"datm: need expert_epochs >= 1 and 0 <= min_start_epoch <= current_max_start_epoch <= "
                             f"max_start_epoch (got {self.min_start_epoch}, {self.current_max_start_epoch}, "
                             f"{self.max_start_epoch})")
        if self.max_start_epoch + self.expert_epochs > self.train_epochs:
            raise DDLibError(f"datm: need max_start_epoch + expert_epochs <= train_epochs "
                             f"(got {self.max_start_epoch} + {self.expert_epochs} > {self.train_epochs})")
        if self.expansion_end < 1:
            raise DDLibError(f"datm: expansion_end must be >= 1 (got {self.expansion_end})")
        if not -(self.train_epochs + 1) <= self.label_epoch <= self.train_epochs:
            raise DDLibError(f"datm: label_epoch must be a checkpoint, -{self.train_epochs + 1}..{self.train_epochs} "
                             f"(got {self.label_epoch})")
        if self.lr_img <= 0 or self.lr_lr < 0 or self.lr_y < 0 or self.lr_teacher <= 0 or \
                not 0 <= self.momentum < 1 or not 0 <= self.momentum_y < 1 or not self.threshold > 0:
            raise DDLibError("datm: lr_img and lr_teacher must be > 0, lr_lr and lr_y >= 0, momentum and "
                             "momentum_y in [0, 1), threshold > 0")


def mtt_knobs(k: Knobs) -> mtt.Knobs:
    """MTT's knobs with DATM's expert recipe: what ``mtt.expert_trajectories`` and ``mtt.expert_key`` read."""
    return replace(mtt.Knobs(), **{f: getattr(k, f) for f in EXPERT_RECIPE})


def prepare(ctx, k: Knobs) -> None:
    """The expert trajectories (MTT's cache), shared by every set of the same recipe."""
    expert_trajectories(ctx, mtt_knobs(k))


def window(k: Knobs, it: int) -> tuple:
    """(lowest, highest) start epoch, both inclusive, at iteration ``it``: the upper end grows linearly from
    ``current_max_start_epoch`` to ``max_start_epoch`` over ``expansion_end`` iterations (integer part, as the
    code's ``int(...)``), or is ``max_start_epoch`` throughout when not ``sequential``."""
    if not k.sequential:
        return k.min_start_epoch, k.max_start_epoch
    grow = int((k.max_start_epoch - k.current_max_start_epoch) * it / k.expansion_end)
    return k.min_start_epoch, min(k.current_max_start_epoch + grow, k.max_start_epoch)


# --- initialisation: correctly classified images, expert logits ---------------------------------------------

def _label_net(ctx, k: Knobs) -> Flat:
    return Flat(ctx.net(k.model, stream=0).eval())


@torch.no_grad()
def init_images_and_labels(ctx, k: Knobs, traj: torch.Tensor, batch: int = 256) -> tuple:
    """(x, class labels, label logits [N, K], info). Per class, a random order of its training images (the
    context's generator); expert 0 at ``label_epoch`` predicts them in batches and the first IPC it classifies
    correctly are kept; if it gets fewer right, the next expert adds its correct ones, and so on (an image no
    expert gets right fills a class only if all of them fall short). The logits: per image, the mean of the experts'
    logits over the experts that classify it correctly (all experts when none does)."""
    x_all, _ = ctx.train
    f = _label_net(ctx, k)
    g = ctx.generator(2)
    thetas = traj[:, k.label_epoch]
    picked, forwards = [], 0
    for c in range(ctx.num_classes):
        idx = ctx.class_index[c]
        order = idx[torch.randperm(len(idx), generator=g, device=g.device)]
        keep = []
        for e in range(len(thetas)):
            for s in range(0, len(order), batch):
                chunk = order[s:s + batch]
                pred = f(thetas[e], x_all[chunk]).argmax(1)
                forwards += len(chunk)
                keep += [int(i) for i in chunk[pred == c] if int(i) not in keep][:ctx.ipc - len(keep)]
                if len(keep) == ctx.ipc:
                    break
            if len(keep) == ctx.ipc:
                break
        keep += [int(i) for i in order if int(i) not in keep][:ctx.ipc - len(keep)]
        picked += keep
    picked = torch.tensor(picked, dtype=torch.long, device=x_all.device)
    x = x_all[picked].clone()
    y = torch.arange(ctx.num_classes, device=x.device).repeat_interleave(ctx.ipc)
    logits = torch.stack([f(theta, x) for theta in thetas])          # [experts, N, K]
    forwards += len(thetas) * len(x)
    right = (logits.argmax(2) == y).float().unsqueeze(2)              # [experts, N, 1]
    some = right.sum(0) > 0
    mean = torch.where(some, (logits * right).sum(0) / right.sum(0).clamp(min=1), logits.mean(0))
    info = dict(label_init_forward_samples=forwards, label_init_accuracy=float((mean.argmax(1) == y).float().mean()),
                label_init_expert_correct=float(right.mean()))
    return x, y, mean, info


# --- the matching loss ---------------------------------------------------------------------------------------

def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The batch mean of -sum_k target_k log softmax(logits)_k (``target``: probability rows)."""
    return -(target * F.log_softmax(logits, dim=1)).sum(1).mean()


def distill(ctx, k: Knobs) -> dict:
    traj, info = expert_trajectories(ctx, mtt_knobs(k))
    x, y, logits, init_info = init_images_and_labels(ctx, k, traj)
    f = Flat(ctx.net(k.model, stream=0).train())
    x.requires_grad_(True)
    logits = logits.clone().requires_grad_(True)
    lr = torch.tensor(float(k.lr_teacher), device=ctx.device, requires_grad=True)
    opt_img = torch.optim.SGD([x], lr=k.lr_img, momentum=k.momentum)
    opt_lr = torch.optim.SGD([lr], lr=k.lr_lr, momentum=k.momentum)
    opt_y = torch.optim.SGD([logits], lr=k.lr_y, momentum=k.momentum_y)
    g = ctx.generator(1)
    batch = min(k.batch_syn or len(x), len(x))
    order, skipped = [], 0
    starts = [0] * (k.max_start_epoch + 1)
    bar = ctx.bar(k.iterations, "DATM")
    for it in range(k.iterations):
        if not order:      # the code goes through the experts in a shuffled order, reshuffled after each pass
            order = torch.randperm(len(traj), generator=g, device=g.device).tolist()
        e = order.pop()
        lo, hi = window(k, it)
        t = lo + int(torch.randint(hi - lo + 1, (1,), generator=g, device=g.device))
        starts[t] += 1
        loss = mtt.match(f, traj[e, t], traj[e, t + k.expert_epochs], x, F.softmax(logits, dim=1), lr,
                         k.syn_steps, batch, g, k.dsa, True, soft_cross_entropy)
        for opt in (opt_img, opt_lr, opt_y):
            opt.zero_grad(set_to_none=True)
        loss.backward(inputs=[x, lr, logits])
        if float(loss.detach()) <= k.threshold:
            for opt in (opt_img, opt_lr, opt_y):
                opt.step()
        else:
            skipped += 1
        bar.update()
    bar.close()
    return dict(x=x.detach(), y=y, soft_labels=F.softmax(logits.detach(), dim=1), compute=dict(
        iterations=k.iterations, syn_steps=k.syn_steps, batch_syn=batch,
        synthetic_forward_samples=k.iterations * k.syn_steps * batch,   # each unrolled with a double backward
        skipped_iterations=skipped, start_epoch_counts=starts,   # how often each start epoch was drawn
        final_window=list(window(k, max(0, k.iterations - 1))), learned_lr=float(lr.detach()), **init_info, **info))


def objective(ctx, k: Knobs, x: torch.Tensor, y: torch.Tensor, probes: int = 3) -> float:
    """DATM's normalised parameter-matching loss on ``probes`` fixed (expert, start) pairs (starts spread over
    min_start_epoch..max_start_epoch), fixed minibatch orders, no augmentation and the initial student lr
    ``lr_teacher``. ``y``: probability rows [N, K] (the learned soft labels) or class labels [N] (one-hot)."""
    traj, _ = expert_trajectories(ctx, mtt_knobs(k))
    f = Flat(ctx.net(k.model, stream=0).train())
    p = y.float() if y.is_floating_point() else F.one_hot(y.long(), ctx.num_classes).float()
    batch = min(k.batch_syn or len(x), len(x))
    span = k.max_start_epoch - k.min_start_epoch
    total = 0.0
    for i in range(probes):
        e, t = i % len(traj), k.min_start_epoch + round(i * span / max(1, probes - 1))
        total += float(mtt.match(f, traj[e, t], traj[e, t + k.expert_epochs], x.detach(), p.detach(),
                                 k.lr_teacher, k.syn_steps, batch, ctx.generator(10_000_000 + i), False, False,
                                 soft_cross_entropy).detach())
    return total / probes
