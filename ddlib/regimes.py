"""The three label regimes as losses on a batch (the paper's HL, SL and SL+KD).

* HL: cross-entropy on the one-hot label.
* SL: one soft label per training image, computed once by the teacher on the un-augmented image; the student
  matches it on every augmented view (KL at temperature T). The labels are stored, so they cost no compute.
* SL+KD: the teacher labels every augmented batch online (KL at temperature T); its forward passes are counted.
KL at temperature T is scaled by T^2 (Hinton et al. 2015), as in the RDED/SRe2L evaluation code.
"""
from __future__ import annotations

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


def batch_loss(regime, logits, idx, x_aug, y, soft_labels, teacher, temperature):
    """The regime's loss for one batch: ``idx`` indexes the subset, ``x_aug`` is the augmented batch."""
    if regime == "hl":
        return F.cross_entropy(logits, y[idx])
    if regime == "sl":
        return kd_loss(logits, soft_labels[idx], temperature)
    return kd_loss(logits, teacher_probs(teacher, x_aug, temperature), temperature)
