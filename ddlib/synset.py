"""A distilled (synthetic) set on disk: images, labels, optional stored soft labels, and a JSON of provenance.

The file format is safetensors (no pickle, so a file from anyone can be opened safely): ``images`` float32
[N, C, H, W] in pixel units [0, 1], ``labels`` int64 [N], optionally ``soft_labels`` float32 [N, K] (rows sum to 1).
The provenance (method, knobs, dataset, class list, IPC, seed, compute) is stored twice: in the safetensors header
and beside the file as ``FILE.json`` for a reader. :func:`load` also reads ``.npz`` (with pickle disabled) and
checks everything a training run relies on before any compute.
"""
from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from .errors import DDLibError
from .store import atomic_write, write_json

FORMAT = 1
PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin")


@dataclass
class SynSet:
    images: torch.Tensor                 # float32 [N, C, H, W] in [0, 1]
    labels: torch.Tensor                 # int64 [N]
    soft_labels: torch.Tensor | None = None
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.labels)


def save(path, s: SynSet) -> Path:
    """Write ``s`` to ``path`` (safetensors) and its provenance to ``path + '.json'``, both atomically."""
    path = Path(path)
    check(s, num_classes=s.meta.get("num_classes"))
    tensors = {"images": s.images.detach().float().cpu().contiguous(),
               "labels": s.labels.detach().long().cpu().contiguous()}
    if s.soft_labels is not None:
        tensors["soft_labels"] = s.soft_labels.detach().float().cpu().contiguous()
    meta = dict(s.meta, format=FORMAT)
    atomic_write(path, lambda p: save_file(tensors, p, metadata={"ddlib": json.dumps(meta, default=str)}))
    write_json(Path(str(path) + ".json"), meta)
    return path


def check(s: SynSet, num_classes: int | None = None, shape: tuple | None = None, ipc: int | None = None) -> SynSet:
    """One-line DDLibErrors for a set no training run should see: wrong shapes or channels, pixels outside [0, 1]
    or not finite, labels out of range, missing classes, or a class count different from the claimed IPC."""
    x, y = s.images, s.labels
    if x.ndim != 4:
        raise DDLibError(f"images must be [N, C, H, W], got shape {tuple(x.shape)}")
    if y.ndim != 1 or len(y) != len(x):
        raise DDLibError(f"labels must be one integer per image ([{len(x)}]), got shape {tuple(y.shape)}")
    if not x.is_floating_point() or not torch.isfinite(x).all():
        raise DDLibError("images contain NaN or infinite values" if x.is_floating_point() else
                         f"images must be floating point in [0, 1], got {x.dtype}")
    if x.numel() and (x.min() < 0 or x.max() > 1):
        raise DDLibError(f"pixel values must lie in [0, 1], got [{float(x.min()):.3g}, {float(x.max()):.3g}]")
    if shape is not None and tuple(x.shape[1:]) != tuple(shape):
        what = "channel count" if x.shape[1] != shape[0] else "image size"
        raise DDLibError(f"wrong {what}: images are {tuple(x.shape[1:])}, the dataset's are {tuple(shape)}")
    if y.dtype in (torch.float16, torch.float32, torch.float64, torch.bool):
        raise DDLibError(f"labels must be integers, got {y.dtype}")
    if num_classes is not None:
        if len(y) and (y.min() < 0 or y.max() >= num_classes):
            raise DDLibError(f"labels must lie in 0..{num_classes - 1}, got {int(y.min())}..{int(y.max())}")
        counts = torch.bincount(y.long(), minlength=num_classes)
        missing = torch.nonzero(counts == 0).flatten().tolist()
        if missing:
            raise DDLibError(f"class(es) {missing} have no image")
        if ipc is not None and not bool((counts == ipc).all()):
            raise DDLibError(f"the set claims IPC {ipc}, but its classes hold {sorted(set(counts.tolist()))} images")
    if s.soft_labels is not None:
        p = s.soft_labels
        if p.ndim != 2 or len(p) != len(y) or (num_classes is not None and p.shape[1] != num_classes):
            raise DDLibError(f"soft_labels must be [N, classes], got shape {tuple(p.shape)}")
        if not torch.isfinite(p).all() or p.min() < 0 or not torch.allclose(p.sum(1), torch.ones(len(p)), atol=1e-3):
            raise DDLibError("soft_labels must be finite probability rows (non-negative, summing to 1)")
    return s


def load(path) -> SynSet:
    """Read a set from safetensors or npz, never unpickling anything. Shapes and values are checked by
    :func:`check` (with the dataset's classes and shape, the caller's job)."""
    path = Path(path)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise DDLibError(f"{path.name}: pickle-based files are refused (they can run code when opened); convert "
                         f"it with torch.load on a machine you trust and save images/labels with "
                         f"safetensors.torch.save_file or numpy.savez")
    if not path.is_file():
        raise DDLibError(f"no such file: {path}")
    if path.suffix.lower() == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: torch.from_numpy(np.array(z[k])) for k in z.files}
        except (ValueError, OSError, zipfile.BadZipFile) as e:
            raise DDLibError(f"{path.name}: not a readable npz without pickle ({str(e).splitlines()[0]})") from None
        meta = {}
    else:
        try:
            arrays = load_file(path)
            with safe_open(path, "pt") as f:
                meta = json.loads((f.metadata() or {}).get("ddlib", "{}"))
        except (SafetensorError, OSError, json.JSONDecodeError) as e:
            raise DDLibError(f"{path.name}: not a readable safetensors file ({str(e).splitlines()[0]})") from None
    missing = {"images", "labels"} - set(arrays)
    if missing:
        raise DDLibError(f"{path.name}: needs arrays 'images' and 'labels', missing {sorted(missing)} "
                         f"(found {sorted(arrays)})")
    images = arrays["images"]
    if images.dtype == torch.uint8:       # an 8-bit image file: scale to [0, 1]
        images = images.float() / 255
    soft = arrays.get("soft_labels")
    return SynSet(images.float() if images.is_floating_point() else images, arrays["labels"],
                  None if soft is None else soft.float(), meta)
