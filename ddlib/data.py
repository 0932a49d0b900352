"""Datasets as uint8 tensors with class names, a seeded validation split, and class-balanced IPC sampling.

Real data only: Fashion-MNIST (Debian ``dataset-fashion-mnist`` or a torchvision root), CIFAR-10 (the JPEG npz in
``shared/data/cifar10`` or a torchvision root) and scikit-learn's 8x8 digits for fast tests. The validation split is
carved from the training set per class; students never train on it and everything tuned is tuned on it. The test
set is only for reported numbers.
"""
from __future__ import annotations

import gzip
import os
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from .errors import DDLibError, check_choice
from .paths import shared_dir

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
FASHION_DEBIAN = Path("/usr/share/datasets/fashion-mnist")
FASHION_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
                 "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
FASHION_HELP = ("install the Debian package (apt-get install dataset-fashion-mnist), set DDLIB_FASHION_MNIST to a "
                "folder with the four IDX .gz files, or DDLIB_TORCHVISION_ROOT to a torchvision root")
CIFAR_HELP = ("put cifar10-jpeg.npz in shared/data/cifar10/, set DDLIB_CIFAR10 to its path, or set "
              "DDLIB_TORCHVISION_ROOT to a torchvision root holding cifar-10-batches-py")


@dataclass(frozen=True)
class Raw:
    """One dataset as loaded: uint8 images [N, C, H, W], int64 labels, class names, where it came from."""
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: tuple
    source: str


@dataclass(frozen=True)
class Splits:
    """Train / validation / test tensors (uint8 images, int64 labels) plus normalisation constants."""
    name: str
    classes: tuple
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    mean: tuple
    std: tuple
    source: str

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def shape(self) -> tuple:
        """(channels, height, width) of one image."""
        return tuple(self.x_train.shape[1:])


# --- readers -------------------------------------------------------------------------------------------------

def _read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally gzipped) into a uint8 array, checking its header against its size."""
    try:
        opener = gzip.open if str(path).endswith(".gz") else open
        with opener(path, "rb") as f:
            raw = f.read()
        magic = int.from_bytes(raw[:4], "big")
        ndim = magic & 0xFF
        if magic >> 8 != 0x08 or ndim not in (1, 3):
            raise ValueError(f"bad IDX magic {magic:#x}")
        dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
        data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
        if data.size != int(np.prod(dims)):
            raise ValueError(f"{data.size} bytes of data for shape {dims}")
        return data.reshape(dims)
    except (OSError, EOFError, ValueError) as e:
        raise DDLibError(f"corrupt Fashion-MNIST file {path} ({e}); {FASHION_HELP}") from None


def _find_idx(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).exists():
            return folder / name
    return None


def _load_fashion_mnist() -> Raw:
    folders = [Path(os.environ["DDLIB_FASHION_MNIST"])] if "DDLIB_FASHION_MNIST" in os.environ else []
    folders.append(FASHION_DEBIAN)
    if "DDLIB_TORCHVISION_ROOT" in os.environ:
        folders.append(Path(os.environ["DDLIB_TORCHVISION_ROOT"]) / "FashionMNIST" / "raw")
    for folder in folders:
        files = {k: [_find_idx(folder, s) for s in v] for k, v in FASHION_FILES.items()}
        if all(p is not None for v in files.values() for p in v):
            arrays = {k: (_read_idx(v[0]), _read_idx(v[1])) for k, v in files.items()}
            for k, (x, y) in arrays.items():
                if len(x) != len(y) or y.max() >= 10:
                    raise DDLibError(f"corrupt Fashion-MNIST {k} split in {folder}; {FASHION_HELP}")
            t = {k: (torch.from_numpy(x.copy()).unsqueeze(1), torch.from_numpy(y.astype(np.int64)))
                 for k, (x, y) in arrays.items()}
            return Raw(*t["train"], *t["test"], FASHION_CLASSES, str(folder))
    raise DDLibError(f"Fashion-MNIST not found (looked in {', '.join(map(str, folders))}); {FASHION_HELP}")


def _decode_jpegs(blob: np.ndarray, offsets: np.ndarray) -> torch.Tensor:
    from torchvision.io import decode_jpeg, ImageReadMode
    data = torch.from_numpy(blob)
    chunks = [data[offsets[i]:offsets[i + 1]] for i in range(len(offsets) - 1)]
    return torch.stack(decode_jpeg(chunks, mode=ImageReadMode.RGB))


def _load_cifar10() -> Raw:
    candidates = [Path(os.environ["DDLIB_CIFAR10"])] if "DDLIB_CIFAR10" in os.environ else []
    candidates.append(shared_dir() / "data" / "cifar10" / "cifar10-jpeg.npz")
    for path in candidates:
        if path.exists():
            try:
                with np.load(path, allow_pickle=False) as z:
                    arr = {k: z[k] for k in z.files}
                out = {}
                for split in ("train", "test"):
                    x = _decode_jpegs(arr[f"{split}_jpeg"], arr[f"{split}_offsets"])
                    y = torch.from_numpy(arr[f"{split}_labels"].astype(np.int64))
                    if len(x) != len(y):
                        raise ValueError(f"{len(x)} images but {len(y)} labels in {split}")
                    out[split] = (x, y)
                classes = tuple(str(c) for c in arr["classes"])
            except (OSError, KeyError, ValueError, RuntimeError, zipfile.BadZipFile) as e:
                raise DDLibError(f"corrupt CIFAR-10 file {path} ({type(e).__name__}: {e}); {CIFAR_HELP}") from None
            return Raw(*out["train"], *out["test"], classes, str(path))
    if "DDLIB_TORCHVISION_ROOT" in os.environ:
        from torchvision.datasets import CIFAR10
        root = os.environ["DDLIB_TORCHVISION_ROOT"]
        out = {}
        for split, train in (("train", True), ("test", False)):
            try:
                d = CIFAR10(root, train=train, download=os.environ.get("DDLIB_DOWNLOAD") == "1")
            except RuntimeError as e:
                raise DDLibError(f"CIFAR-10 not in {root} ({e}); {CIFAR_HELP}") from None
            out[split] = (torch.from_numpy(d.data).permute(0, 3, 1, 2).contiguous(),
                          torch.tensor(d.targets, dtype=torch.int64))
        return Raw(*out["train"], *out["test"], tuple(d.classes), root)
    raise DDLibError(f"CIFAR-10 not found (looked in {', '.join(map(str, candidates))}); {CIFAR_HELP}")


def _load_digits() -> Raw:
    """scikit-learn's 8x8 digits (1,797 images), split 50 test images per class with a fixed seed."""
    from sklearn.datasets import load_digits
    d = load_digits()
    x = torch.from_numpy(np.round(d.images * (255 / 16)).astype(np.uint8)).unsqueeze(1)
    y = torch.from_numpy(d.target.astype(np.int64))
    test = per_class_indices(y, 50, seed=0)
    mask = torch.ones(len(y), dtype=torch.bool)
    mask[test] = False
    return Raw(x[mask], y[mask], x[test], y[test], tuple(str(i) for i in range(10)), "sklearn.datasets.load_digits")


LOADERS = {"fashion_mnist": _load_fashion_mnist, "cifar10": _load_cifar10, "digits": _load_digits}


@lru_cache(maxsize=4)
def load_raw(name: str) -> Raw:
    check_choice("dataset", name, LOADERS)
    return LOADERS[name]()


# --- splits and sampling -------------------------------------------------------------------------------------

def per_class_indices(y: torch.Tensor, ipc: int, seed: int) -> torch.Tensor:
    """``ipc`` indices per class drawn uniformly without replacement (seeded), sorted."""
    if not isinstance(ipc, (int, np.integer)) or isinstance(ipc, bool) or ipc < 1:
        raise DDLibError(f"IPC must be a positive integer or 'full', got {ipc!r}")
    counts = torch.bincount(y)
    if ipc > int(counts.min()):
        raise DDLibError(f"IPC {ipc} is larger than the smallest class ({int(counts.min())} images)")
    g = torch.Generator().manual_seed(int(seed))
    picks = []
    for c in range(len(counts)):
        idx = torch.nonzero(y == c).flatten()
        picks.append(idx[torch.randperm(len(idx), generator=g)[:ipc]])
    return torch.cat(picks).sort().values


@lru_cache(maxsize=8)
def load(name: str, val_per_class: int = 500, split_seed: int = 0) -> Splits:
    """Load ``name`` and carve ``val_per_class`` validation images per class from its training set."""
    raw = load_raw(name)
    smallest = int(torch.bincount(raw.y_train).min())
    if not 1 <= val_per_class < smallest:
        raise DDLibError(f"val_per_class must be between 1 and {smallest - 1} for {name} (its smallest class has "
                         f"{smallest} training images), got {val_per_class}")
    val = per_class_indices(raw.y_train, val_per_class, seed=split_seed)
    keep = torch.ones(len(raw.y_train), dtype=torch.bool)
    keep[val] = False
    xf = raw.x_train[keep].float() / 255
    mean = tuple(xf.mean(dim=(0, 2, 3)).tolist())
    std = tuple(xf.std(dim=(0, 2, 3)).tolist())
    return Splits(name, raw.classes, raw.x_train[keep], raw.y_train[keep], raw.x_train[val], raw.y_train[val],
                  raw.x_test, raw.y_test, mean, std, raw.source)


def normalize(x: torch.Tensor, splits: Splits, device="cpu") -> torch.Tensor:
    """uint8 [N, C, H, W] -> float32 on ``device``, standardised with the training split's channel statistics."""
    if x.dtype == torch.uint8:
        x = x.to(device).float().div_(255)
    else:
        x = x.to(device).float()
        if not torch.isfinite(x).all():
            raise DDLibError("images contain NaN or infinite values")
    mean = torch.tensor(splits.mean, device=device).view(1, -1, 1, 1)
    std = torch.tensor(splits.std, device=device).view(1, -1, 1, 1)
    return (x - mean) / std



@lru_cache(maxsize=4)
def on_device(name: str, val_per_class: int = 500, split_seed: int = 0, device: str = "cpu") -> dict:
    """The normalised splits as float tensors on ``device`` (made once per process): {'train': (x, y), ...}."""
    s = load(name, val_per_class, split_seed)
    return {k: (normalize(getattr(s, f"x_{k}"), s, device), getattr(s, f"y_{k}").to(device))
            for k in ("train", "val", "test")}
