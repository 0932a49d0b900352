"""Batched, seeded, on-device augmentation: no per-sample Python loop on the hot path.

Every function takes a float batch [B, C, H, W] and a ``torch.Generator`` on the batch's device, draws one set of
per-sample parameters (``shared=True``: one set for the whole batch), and applies them with tensor ops (one
``grid_sample`` for the geometric families).
DSA families and magnitudes follow Zhao & Bilen (ICML 2021, ``DiffAugment`` in the DC/DM code): colour
(brightness, saturation, contrast), crop (translate 1/8), cutout (1/2), flip, scale (1.2), rotate (+-15 deg);
one family per batch, drawn at random. Student training draws per sample; the matchers (DC, DM) use
:func:`siamese_dsa`, one draw shared by the real and the synthetic batch, as DSA's code does.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .errors import check_choice

DSA = dict(  # magnitudes of the DSA families, DiffAugment's defaults (Zhao & Bilen 2021)
    brightness=1.0,   # add U(-0.5, 0.5)
    saturation=2.0,   # blend with channel mean by U(0, 2)
    contrast=0.5,     # scale around the image mean by U(0.5, 1.5)
    crop=0.125,       # translate by up to 1/8 of the side
    cutout=0.5,       # zero a square of half the side
    scale=1.2,        # scale x and y independently in [1/1.2, 1.2]
    rotate=15.0,      # rotate by up to +-15 degrees
)
DSA_FAMILIES = ("color", "crop", "cutout", "flip", "scale", "rotate")


def _u(n, g, device, lo=0.0, hi=1.0):
    return torch.rand(n, generator=g, device=device) * (hi - lo) + lo


def _n(x, shared: bool) -> int:
    """How many parameter draws a batch takes: one per sample, or one for the whole batch (``shared``)."""
    return 1 if shared else len(x)


def _affine(x, theta):
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def flip(x, g, shared=False):
    keep = _u(_n(x, shared), g, x.device) < 0.5
    return torch.where(keep.view(-1, 1, 1, 1), x, x.flip(3))


def translate(x, g, frac=DSA["crop"], shared=False):
    """Shift each image by an integer number of pixels in [-frac*side, frac*side] (zero fill)."""
    b, _, h, w = x.shape
    ph, pw = int(round(h * frac)), int(round(w * frac))
    n = _n(x, shared)
    dy = torch.randint(-ph, ph + 1, (n,), generator=g, device=x.device).expand(b)
    dx = torch.randint(-pw, pw + 1, (n,), generator=g, device=x.device).expand(b)
    padded = F.pad(x, (pw, pw, ph, ph))
    rows = (torch.arange(h, device=x.device).view(1, h) + ph - dy.view(b, 1))  # [B, H]
    cols = (torch.arange(w, device=x.device).view(1, w) + pw - dx.view(b, 1))  # [B, W]
    idx_r = rows.view(b, 1, h, 1).expand(b, x.shape[1], h, padded.shape[3])
    out = padded.gather(2, idx_r)
    idx_c = cols.view(b, 1, 1, w).expand(b, x.shape[1], h, w)
    return out.gather(3, idx_c)


def color(x, g, shared=False):
    b, c = _n(x, shared), x.shape[1]
    x = x + (_u(b, g, x.device) - 0.5).view(-1, 1, 1, 1) * DSA["brightness"]
    if c > 1:
        m = x.mean(dim=1, keepdim=True)
        x = (x - m) * (_u(b, g, x.device) * DSA["saturation"]).view(-1, 1, 1, 1) + m
    else:
        _u(b, g, x.device)  # same number of draws for grey and colour images
    m = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - m) * (_u(b, g, x.device) + DSA["contrast"]).view(-1, 1, 1, 1) + m


def cutout(x, g, frac=DSA["cutout"], shared=False):
    b, _, h, w = x.shape
    ch, cw = int(h * frac + 0.5), int(w * frac + 0.5)
    n = _n(x, shared)
    cy = torch.randint(0, h + (1 - ch % 2), (n,), generator=g, device=x.device).expand(b)
    cx = torch.randint(0, w + (1 - cw % 2), (n,), generator=g, device=x.device).expand(b)
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    dy = ys - cy.view(b, 1, 1) + ch // 2      # rows cy - ch//2 .. cy - ch//2 + ch - 1, as in DiffAugment
    dx = xs - cx.view(b, 1, 1) + cw // 2
    inside = (dy >= 0) & (dy < ch) & (dx >= 0) & (dx < cw)
    return x * (~inside).unsqueeze(1).to(x.dtype)


def scale(x, g, ratio=DSA["scale"], shared=False):
    b, n = len(x), _n(x, shared)
    sx = _u(n, g, x.device, 1 / ratio, ratio)
    sy = _u(n, g, x.device, 1 / ratio, ratio)
    theta = torch.zeros(b, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0], theta[:, 1, 1] = sx, sy
    return _affine(x, theta)


def rotate(x, g, degrees=DSA["rotate"], shared=False):
    b = len(x)
    a = (_u(_n(x, shared), g, x.device) - 0.5) * 2 * degrees * math.pi / 180
    theta = torch.zeros(b, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0], theta[:, 0, 1] = torch.cos(a), torch.sin(-a)
    theta[:, 1, 0], theta[:, 1, 1] = torch.sin(a), torch.cos(a)
    return _affine(x, theta)


def random_resized_crop(x, g, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), size=None, flip=False):
    """torchvision's RandomResizedCrop (plus RandomHorizontalFlip with ``flip``), batched and differentiable: per
    image an area fraction in ``scale`` and a log-uniform aspect ratio in ``ratio``, resampled bilinearly to ``size``
    (default: the input's) by one ``grid_sample``. Sides longer than the image are clamped to it (torchvision
    retries, then falls back to a centre crop). Used by RDED (crops to score) and SRe2L (a view per step)."""
    b, dev = len(x), x.device
    area = _u(b, g, dev, *scale)
    r = torch.exp(_u(b, g, dev, math.log(ratio[0]), math.log(ratio[1])))
    w = torch.sqrt(area * r).clamp(max=1.0)   # crop side as a fraction of the image side
    h = torch.sqrt(area / r).clamp(max=1.0)
    cx = _u(b, g, dev, -1, 1) * (1 - w)        # centre, in [-1, 1] grid units
    cy = _u(b, g, dev, -1, 1) * (1 - h)
    sign = torch.where(_u(b, g, dev) < 0.5, 1.0, -1.0) if flip else torch.ones(b, device=dev)
    theta = torch.zeros(b, 2, 3, device=dev, dtype=x.dtype)
    theta[:, 0, 0], theta[:, 0, 2] = w * sign, cx
    theta[:, 1, 1], theta[:, 1, 2] = h, cy
    out = [b, x.shape[1], *(size or x.shape[2:])]
    return F.grid_sample(x, F.affine_grid(theta, out, align_corners=False), mode="bilinear", padding_mode="border",
                         align_corners=False)


FAMILY_OPS = {"color": color, "crop": translate, "cutout": cutout, "flip": flip, "scale": scale, "rotate": rotate}


def dsa(x, g, shared=False):
    """Differentiable Siamese Augmentation, 'M' mode: one family per batch, per-sample parameters (``shared``: one
    parameter draw for the whole batch)."""
    family = DSA_FAMILIES[int(torch.randint(len(DSA_FAMILIES), (1,), generator=g, device=g.device))]
    return FAMILY_OPS[family](x, g, shared=shared)


def siamese_dsa(batches, g):
    """DSA's siamese augmentation (Zhao & Bilen 2021: the same transformation for the real and the synthetic
    batch): one family and one parameter draw, applied identically to every image of every batch in ``batches`` (a
    matching step's real and synthetic batch), as their code's batch mode does. (Their default seeds both calls
    alike and draws per sample, so real image i and synthetic image i share parameters; one draw per batch shares
    them whatever the batch sizes.) Returns the augmented batches in order."""
    state = g.get_state()
    out = []
    for x in batches:
        g.set_state(state)
        out.append(dsa(x, g, shared=True))
    return out


def crop_flip(x, g):
    """The classic CIFAR recipe: random translation by 1/8 plus horizontal flip (used to train teachers)."""
    return flip(translate(x, g), g)


AUGMENTATIONS = {"none": lambda x, g: x, "crop_flip": crop_flip, "dsa": dsa}


def get(name: str):
    """The augmentation function called ``name`` (none, crop_flip, dsa)."""
    check_choice("augmentation", name, AUGMENTATIONS)
    return AUGMENTATIONS[name]
