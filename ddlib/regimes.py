"""The three label regimes as losses on a batch (the paper's HL, SL and SL+KD).

* HL: cross-entropy on the one-hot label.
* SL: one soft label per training image, computed once by the teacher on the un-augmented image; the student
  matches it on every augmented view (KL at temperature T). The labels are stored, so they cost no compute.
* SL+KD: the teacher labels every augmented batch online (KL at temperature T); its forward passes are counted.
* Between them, a dial of ours: SL with k stored labels per image (:class:`ViewBank`): k augmented views of each
  image, each with its teacher label, stored once; each step trains on one stored view per image. k = 1 is one
  fixed soft-labelled view; as k grows it approaches SL+KD (a fresh view and label every time).
KL at temperature T is scaled by T^2. The factor is Hinton et al.'s (2015, section 2): the soft targets' gradients
shrink as 1/T^2, so T^2 keeps their size comparable across temperatures. RDED's and SRe2L's evaluation code do not
use it (plain KL at T). With SGD (our shared recipe) it scales the step; with Adam it would nearly cancel.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .errors import check_choice

REGIMES = ("hl", "sl", "slkd")
LABELS = {"hl": "HL", "sl": "SL", "slkd": "SL+KD"}


def check(regime: str) -> str:
    check_choice("regime", regime, REGIMES)
    return regime


def kd_loss(student_logits: torch.Tensor, target_probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(target || softmax(student / T)) * T^2, averaged over the batch."""
    logp = F.log_softmax(student_logits / temperature, dim=1)
    return F.kl_div(logp, target_probs, reduction="batchmean") * temperature ** 2


@torch.no_grad()
def teacher_probs(teacher: torch.nn.Module, x: torch.Tensor, temperature: float, chunk: int = 1024) -> torch.Tensor:
    """softmax(teacher(x) / T), computed in chunks: SL's stored labels and SL+KD's online targets."""
    return torch.cat([F.softmax(teacher(x[i:i + chunk]) / temperature, dim=1) for i in range(0, len(x), chunk)])


@dataclass
class ViewBank:
    """k stored (augmented view, teacher label) pairs per image: ``x`` [k, n, C, H, W], ``probs`` [k, n, classes]."""
    x: torch.Tensor
    probs: torch.Tensor

    @property
    def k(self) -> int:
        return len(self.x)

    def draw(self, idx: torch.Tensor, g: torch.Generator):
        """One stored view (and its label) per index, chosen uniformly among the k."""
        v = torch.randint(self.k, (len(idx),), generator=g, device=idx.device)
        return self.x[v, idx], self.probs[v, idx]


@torch.no_grad()
def view_bank(teacher, x: torch.Tensor, k: int, aug, temperature: float, seed: int, chunk: int = 256) -> ViewBank:
    """Label k augmented views of every image of ``x`` with ``teacher`` (k x len(x) teacher forward passes).
    Augmentation is applied per chunk, as per batch in training (DSA draws one family per call)."""
    g = torch.Generator(device=x.device).manual_seed(int(seed) + 1_000_003)  # a stream apart from training's
    views = torch.stack([torch.cat([aug(x[i:i + chunk], g) for i in range(0, len(x), chunk)]) for _ in range(k)])
    probs = torch.stack([teacher_probs(teacher, v, temperature) for v in views])
    return ViewBank(views, probs)


@dataclass(frozen=True)
class LabelSource:
    """Where a run's targets come from and what they cost [issue 33: one place for a regime's labels].

    ``label_views``: SL with k stored labels per image (:class:`ViewBank`); ``set_labels``: the set trained on
    ships its own soft labels (a distilled set or a user's file), which SL reads instead of asking the teacher."""
    regime: str
    label_views: int = 0
    set_labels: bool = False

    @property
    def reads_teacher(self) -> bool:
        """HL never; SL+KD always; SL unless it reads the set's own labels (k labelled views ask the teacher)."""
        if self.regime == "hl":
            return False
        return self.regime == "slkd" or bool(self.label_views) or not self.set_labels

    def stored_targets(self, teacher, x, logits, aug, temperature: float, seed: int, set_soft=None):
        """SL's targets, made once before training (None for HL and SL+KD, whose targets come with each batch):
        a :class:`ViewBank` of k labelled views; the set's own labels ``set_soft``; or softmax(logits / T) of the
        un-augmented images, ``logits()`` giving the teacher's logits of ``x``."""
        if self.regime != "sl":
            return None
        if self.label_views:
            return view_bank(teacher, x, self.label_views, aug, temperature, seed)
        if self.set_labels:
            return set_soft
        return F.softmax(logits() / temperature, dim=1)

    def teacher_forwards(self, images: int, samples_seen: int) -> int:
        """Teacher forward passes: SL+KD one per sample seen; SL one per stored label (k per image), none when it
        reads the set's own; HL none."""
        if self.regime == "slkd":
            return samples_seen
        return images * max(1, self.label_views) if self.regime == "sl" and self.reads_teacher else 0


def batch_loss(regime, logits, idx, x_aug, y, soft_labels, teacher, temperature):
    """The regime's loss for one batch: ``idx`` indexes the subset, ``x_aug`` is the augmented batch."""
    if regime == "hl":
        return F.cross_entropy(logits, y[idx])
    if regime == "sl":
        return kd_loss(logits, soft_labels[idx], temperature)
    return kd_loss(logits, teacher_probs(teacher, x_aug, temperature), temperature)


# The arms the chapters compare: a label regime and the optimiser it is trained with. The regimes share one recipe
# (``auto``: SGD, see train.DEFAULT_OPTIMIZER) [issue 12]; "HL (AdamW)" trains HL with the soft-label papers' recipe,
# so a verdict can be read against both optimisers.
ARMS = {"HL": ("hl", "auto"), "HL (AdamW)": ("hl", "adamw"), "SL": ("sl", "auto"), "SL+KD": ("slkd", "auto")}
SHARED_OPTIMIZER = "sgd"   # what ``auto`` means for every regime (train.DEFAULT_OPTIMIZER; train imports this module)


def arm_name(regime: str, optim: str) -> str:
    """The arm a run belongs to ('HL', 'HL (AdamW)', 'SL', 'SL+KD'); ``optim`` as in the run's config."""
    for name, (r, o) in ARMS.items():
        if r == regime and (o == optim or (o == "auto" and optim in ("auto", SHARED_OPTIMIZER))):
            return name
    return f"{LABELS[regime]} ({optim})"
