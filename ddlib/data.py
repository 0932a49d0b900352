"""Datasets as uint8 tensors with class names, a seeded validation split, and class-balanced IPC sampling.

Real data only, through one registry (:func:`check`, :func:`load_raw`): Fashion-MNIST (Debian
``dataset-fashion-mnist`` or a torchvision root), CIFAR-10 (the JPEG npz in ``shared/data/cifar10`` or a torchvision
root), CIFAR-100, MNIST, SVHN and TinyImageNet from a torchvision-style root (``DDLIB_TORCHVISION_ROOT``; nothing
is downloaded at run time), any class-per-folder image tree as ``folder:PATH[@SIZE]``, and scikit-learn's 8x8
digits for fast tests. The validation split is carved from the training set per class; students never train on it
and everything tuned is tuned on it. The test set is only for reported numbers.
"""
from __future__ import annotations

import gzip
import math
import os
import pickle
import re
import warnings
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from . import fingerprint
from .errors import DDLibError, check_choice
from .paths import shared_dir
from .store import KEY_LENGTH, tree_sha256

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
        raise DDLibError(f"corrupt IDX file {path} ({e})") from None


def _find_idx(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).exists():
            return folder / name
    return None


def _idx_splits(folder: Path, num_classes: int = 10) -> dict | None:
    """{'train': (x, y), 'test': (x, y)} from the four IDX files (gzipped or not) of an MNIST-format folder, or None
    when a file is missing."""
    files = {k: [_find_idx(folder, s) for s in v] for k, v in FASHION_FILES.items()}
    if not all(p is not None for v in files.values() for p in v):
        return None
    out = {}
    for k, (xs, ys) in files.items():
        x, y = _read_idx(xs), _read_idx(ys)
        if len(x) != len(y) or y.max() >= num_classes:
            raise DDLibError(f"corrupt {k} split in {folder}: {len(x)} images, {len(y)} labels up to {y.max()}")
        out[k] = (torch.from_numpy(x.copy()).unsqueeze(1), torch.from_numpy(y.astype(np.int64)))
    return out


def _load_fashion_mnist() -> Raw:
    folders = [Path(os.environ["DDLIB_FASHION_MNIST"])] if "DDLIB_FASHION_MNIST" in os.environ else []
    folders.append(FASHION_DEBIAN)
    if "DDLIB_TORCHVISION_ROOT" in os.environ:
        folders.append(Path(os.environ["DDLIB_TORCHVISION_ROOT"]) / "FashionMNIST" / "raw")
    for folder in folders:
        try:
            t = _idx_splits(folder)
        except DDLibError as e:
            raise DDLibError(f"corrupt Fashion-MNIST: {e}; {FASHION_HELP}") from None
        if t is not None:
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
        return _cifar_python("cifar10", "cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)],
                             ["test_batch"], "labels", "batches.meta", "label_names")
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


def _root(dataset: str, expected: list) -> Path:
    """The torchvision-style root holding ``expected`` (paths below it); a one-line error naming them otherwise."""
    root = os.environ.get("DDLIB_TORCHVISION_ROOT")
    missing = expected if root is None else [e for e in expected if not (Path(root) / e).exists()]
    if missing:
        where = "DDLIB_TORCHVISION_ROOT is not set" if root is None else f"not in {root}"
        raise DDLibError(f"{dataset}: {where}; expected {', '.join(missing)} under a torchvision root "
                         f"(DDLIB_TORCHVISION_ROOT; nothing is downloaded at run time)")
    return Path(root)


def _load_mnist() -> Raw:
    names = [f"MNIST/raw/{s}" for v in FASHION_FILES.values() for s in v]
    root = os.environ.get("DDLIB_TORCHVISION_ROOT")
    t = _idx_splits(Path(root) / "MNIST" / "raw") if root else None
    if t is None:
        _root("mnist", names)          # a file is missing: this names the files expected and raises
    return Raw(*t["train"], *t["test"], tuple(str(i) for i in range(10)), str(Path(root) / "MNIST"))


class _ArraysOnly(pickle.Unpickler):
    """An unpickler for the CIFAR python batches (dicts of lists, text and numpy arrays): any other class, so any
    code a hostile file could name, is refused."""
    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype")}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refused to load {module}.{name}")
        return super().find_class(module, name)


def _cifar_python(dataset: str, folder: str, train: list, test: list, label_key: str, meta: str,
                  names_key: str) -> Raw:
    """A torchvision-format CIFAR folder (the python batches: ``data`` [N, 3072] uint8 and the labels), read with
    :class:`_ArraysOnly`, never a full unpickler."""
    base = _root(dataset, [f"{folder}/{f}" for f in (*train, *test, meta)]) / folder

    def read(name):
        try:
            with open(base / name, "rb") as f:
                d = _ArraysOnly(f, encoding="latin1").load()
            return d if isinstance(d, dict) else {}
        except (OSError, EOFError, ValueError, pickle.UnpicklingError) as e:
            raise DDLibError(f"{dataset}: unreadable {base / name} ({type(e).__name__}: {e})") from None

    out = {}
    for split, names in (("train", train), ("test", test)):
        parts = [read(n) for n in names]
        try:
            x = np.concatenate([np.asarray(d["data"], dtype=np.uint8).reshape(-1, 3, 32, 32) for d in parts])
            y = np.concatenate([np.asarray(d[label_key], dtype=np.int64) for d in parts])
        except (KeyError, ValueError) as e:
            raise DDLibError(f"{dataset}: {base} is not in the CIFAR python format ({type(e).__name__}: {e})") from None
        if len(x) != len(y):
            raise DDLibError(f"{dataset}: {len(x)} images but {len(y)} labels in the {split} split of {base}")
        out[split] = (torch.from_numpy(x.copy()), torch.from_numpy(y))
    classes = tuple(str(c) for c in read(meta).get(names_key, []))
    if not classes or int(max(out["train"][1].max(), out["test"][1].max())) >= len(classes):
        raise DDLibError(f"{dataset}: {base / meta} does not name every class")
    return Raw(*out["train"], *out["test"], classes, str(base))


def _load_cifar100() -> Raw:
    """CIFAR-100's fine labels, from a torchvision root (``cifar-100-python/``)."""
    return _cifar_python("cifar100", "cifar-100-python", ["train"], ["test"], "fine_labels", "meta",
                         "fine_label_names")


def _load_svhn() -> Raw:
    """SVHN's cropped digits (``train_32x32.mat``, ``test_32x32.mat``; MATLAB files, read without pickle); label 10
    is the digit 0, as in torchvision."""
    from scipy.io import loadmat
    files = {"train": "train_32x32.mat", "test": "test_32x32.mat"}
    root = _root("svhn", list(files.values()))
    out = {}
    for split, name in files.items():
        try:
            m = loadmat(root / name)
            x = torch.from_numpy(np.ascontiguousarray(m["X"].transpose(3, 2, 0, 1)))
            y = torch.from_numpy(m["y"].astype(np.int64).ravel() % 10)
        except (OSError, KeyError, ValueError) as e:
            raise DDLibError(f"svhn: unreadable {root / name} ({type(e).__name__}: {e})") from None
        if x.dtype != torch.uint8 or x.shape[1:] != (3, 32, 32) or len(x) != len(y):
            raise DDLibError(f"svhn: {root / name} holds {tuple(x.shape)} {x.dtype} images and {len(y)} labels")
        out[split] = (x, y)
    return Raw(*out["train"], *out["test"], tuple(str(i) for i in range(10)), str(root))


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def decode_image_file(path, channels: int, what: str) -> torch.Tensor:
    """The image file at ``path`` as [channels, H, W] (uint8; uint16 from a 16-bit PNG), converted to ``channels``
    (1: grey, 3: colour) by libpng or libjpeg: a palette expanded to its colours, alpha dropped, grey repeated or
    colour taken to luma. The one decoder of every image folder, a folder dataset's and a set's [issue 37: a set's
    palette PNGs were read as palette indices]. ``what`` names the file in the one-line error."""
    from torchvision.io import ImageReadMode, decode_image as decode, read_file
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return decode(read_file(str(path)), mode=ImageReadMode.GRAY if channels == 1 else ImageReadMode.RGB)
    except (RuntimeError, ValueError, OSError) as e:
        raise DDLibError(f"{what}: unreadable image ({(str(e).splitlines() or [type(e).__name__])[0]})") from None


def stored_channels(path, what: str) -> int | None:
    """The colour channels an image file stores: 1 (grey, with or without alpha), 3 (colour, with or without
    alpha), or None for a palette PNG (its palette may hold either)."""
    from torchvision.io import ImageReadMode, decode_image as decode, read_file
    try:
        raw = read_file(str(path))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            stored = decode(raw, mode=ImageReadMode.UNCHANGED).shape[0]
    except (RuntimeError, ValueError, OSError) as e:
        raise DDLibError(f"{what}: unreadable image ({(str(e).splitlines() or [type(e).__name__])[0]})") from None
    if bytes(raw[:8].tolist()) == PNG_SIGNATURE and len(raw) > 25 and int(raw[25]) == 3:   # IHDR colour type 3
        return None
    return 1 if stored <= 2 else 3


def _read_images(files: list, size: int | None, where: str) -> torch.Tensor:
    """uint8 [N, 3, H, W] from image files (:func:`decode_image_file`), resized to ``size`` x ``size`` if given
    (else all must match)."""
    from torchvision.transforms.functional import resize
    out = []
    for f in files:
        img = decode_image_file(f, 3, f"{where}: {f}")
        out.append(img if size is None else resize(img, [size, size], antialias=True))
    if len({tuple(i.shape) for i in out}) > 1:
        raise DDLibError(f"{where}: images of different sizes; give a size, e.g. folder:PATH@64")
    return torch.stack(out)


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def _folder_tree(path: Path, name: str) -> tuple:
    """(classes, {"train": (files, labels), "test": (files, labels)}) of a class-per-folder tree: what
    :func:`_load_folder_tree` reads, and what its digest covers."""
    test = next((path / d for d in ("test", "val") if (path / d).is_dir()), None)
    if not (path / "train").is_dir() or test is None:
        raise DDLibError(f"{name}: expected {path}/train/<class>/ and {path}/test/<class>/ (or val/) image folders")
    classes = sorted(d.name for d in (path / "train").iterdir() if d.is_dir() and not d.name.startswith("."))
    out = {}
    for split, folder in (("train", path / "train"), ("test", test)):
        files, labels = [], []
        for c, cls in enumerate(classes):
            found = sorted(f for f in (folder / cls).glob("*") if f.suffix.lower() in IMAGE_SUFFIXES) \
                if (folder / cls).is_dir() else []
            if not found:
                raise DDLibError(f"{name}: class {cls!r} has no image in {folder}")
            files += found
            labels += [c] * len(found)
        out[split] = (files, labels)
    return tuple(classes), out


DIGEST = re.compile(r"(.*)#([0-9a-f]{16})")   # folder:PATH#DIGEST[@SIZE]: a folder as it was when named


def _tree_digest(path: Path, splits: dict) -> str:
    return tree_sha256(path, [f for files, _ in splits.values() for f in files])[:KEY_LENGTH]


def content_name(name):
    """``name`` as keys take it: ``folder:PATH[@SIZE]`` becomes ``folder:PATH#DIGEST[@SIZE]``, DIGEST the sha256
    of the files the loader reads (names and bytes, each file's hash remembered by path, size and mtime), so every
    key made from it (a run's, its teacher's, its scoring runs' and sets') changes when an image does, and loading
    it checks the files are still those [issue 37: an edited folder was a cache hit with the old numbers]. A name
    that has its digest, and every other dataset's name, is returned as it is."""
    if not isinstance(name, str) or not name.startswith(FOLDER):
        return name
    path, size = _folder_spec(name)
    if DIGEST.fullmatch(str(path)):
        return name
    digest = _tree_digest(path, _folder_tree(path, name)[1])
    return f"{FOLDER}{path}#{digest}" + (f"@{size}" if size else "")


def _load_folder_tree(path: Path, size: int | None, name: str) -> Raw:
    """``PATH/train/<class>/*`` and ``PATH/test/<class>/*`` (or ``val/``), PNG or JPEG, classes in sorted order
    (ImageNette, ImageNet subsets). Colour (RGB) at their size, or resized to ``SIZE`` x ``SIZE``. With a digest
    (:func:`content_name`), the files must still be those it names."""
    named = DIGEST.fullmatch(str(path))
    path = Path(named.group(1)) if named else path
    classes, splits = _folder_tree(path, name)
    if named and _tree_digest(path, splits) != named.group(2):
        raise DDLibError(f"{name}: its files have changed since this name was taken (digest now "
                         f"{_tree_digest(path, splits)}); ask for folder:{path} again")
    out = {split: (_read_images(files, size, name), torch.tensor(labels, dtype=torch.int64))
           for split, (files, labels) in splits.items()}
    if out["train"][0].shape[1:] != out["test"][0].shape[1:]:
        raise DDLibError(f"{name}: train and test images differ in size; give a size, e.g. folder:PATH@64")
    return Raw(*out["train"], *out["test"], classes, str(path))


def _load_tinyimagenet() -> Raw:
    """TinyImageNet-200 (``tiny-imagenet-200/``): 200 classes of 64x64 images; its labelled val split is the test
    split (its test split has no labels)."""
    root = _root("tinyimagenet", ["tiny-imagenet-200/train", "tiny-imagenet-200/val/val_annotations.txt"])
    base = root / "tiny-imagenet-200"
    wnids = sorted(d.name for d in (base / "train").iterdir() if d.is_dir())
    files = {w: sorted((base / "train" / w / "images").glob("*.JPEG")) for w in wnids}
    val = [line.split("\t")[:2] for line in (base / "val" / "val_annotations.txt").read_text().splitlines() if line]
    where = "tinyimagenet"
    x_tr = _read_images([f for w in wnids for f in files[w]], None, where)
    y_tr = torch.tensor([c for c, w in enumerate(wnids) for _ in files[w]])
    try:
        y_te = torch.tensor([wnids.index(w) for _, w in val])
    except ValueError:
        raise DDLibError(f"{where}: val_annotations.txt names a class with no train folder") from None
    x_te = _read_images([base / "val" / "images" / f for f, _ in val], None, where)
    return Raw(x_tr, y_tr, x_te, y_te, tuple(wnids), str(base))


LOADERS = {"fashion_mnist": _load_fashion_mnist, "cifar10": _load_cifar10, "cifar100": _load_cifar100,
           "mnist": _load_mnist, "svhn": _load_svhn, "tinyimagenet": _load_tinyimagenet, "digits": _load_digits}
FOLDER = "folder:"   # folder:PATH[@SIZE], a class-per-folder image tree


def check(name: str) -> str:
    """``name`` if the registry knows it (a name of :data:`LOADERS`, or ``folder:PATH[@SIZE]``); a one-line
    DDLibError otherwise. Reads no data."""
    if not isinstance(name, str):
        raise DDLibError(f"a dataset is a name, got {name!r}")
    if name.startswith(FOLDER):
        _folder_spec(name)
    else:
        check_choice("dataset", name, (*LOADERS, "folder:PATH[@SIZE]"))
    return name


def _folder_spec(name: str) -> tuple:
    """(PATH, SIZE or None) of ``folder:PATH[@SIZE]``."""
    path, _, size = name[len(FOLDER):].rpartition("@") if "@" in name else (name[len(FOLDER):], "", "")
    if not path or (size and not (size.isdigit() and 4 <= int(size) <= 1024)):
        raise DDLibError(f"dataset {name!r}: write folder:PATH or folder:PATH@SIZE (SIZE 4 to 1024 pixels)")
    return Path(path), int(size) if size else None


def code_part(name: str) -> fingerprint.Part:
    """The code that reads dataset ``name``: its own loader (a run's key covers no other dataset's)."""
    check(name)
    return fingerprint.Part((fingerprint.root_of(_load_folder_tree if name.startswith(FOLDER) else LOADERS[name]),))


@lru_cache(maxsize=4)
def load_raw(name: str) -> Raw:
    check(name)
    if name.startswith(FOLDER):
        return _load_folder_tree(*_folder_spec(name), name)
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
    train, val = dataset_positions(name, val_per_class, split_seed)
    mean, std = channel_stats(raw.x_train[train])
    return Splits(name, raw.classes, raw.x_train[train], raw.y_train[train], raw.x_train[val], raw.y_train[val],
                  raw.x_test, raw.y_test, mean, std, raw.source)


def channel_stats(x: torch.Tensor) -> tuple:
    """(mean, std) per channel of uint8 images [N, C, H, W], in [0, 1] units (std with Bessel's correction, as
    ``torch.std``), from exact integer counts: a float reduction's result depends on the thread count (measured:
    the normalised splits differed in their last bits between 1 and 2 threads, and so did everything trained on
    them), these numbers do not."""
    mean, std = [], []
    for c in range(x.shape[1]):
        counts = torch.bincount(x[:, c].flatten(), minlength=256).tolist()
        n = sum(counts)
        total = sum(v * k for v, k in enumerate(counts))
        squares = sum(v * v * k for v, k in enumerate(counts))
        mean.append(total / n / 255)
        std.append(math.sqrt((n * squares - total * total) / (n * (n - 1))) / 255)   # exact to the division
    return tuple(mean), tuple(std)


def dataset_positions(name: str, val_per_class: int = 500, split_seed: int = 0) -> tuple:
    """(train, val): where the images of ddlib's training split and of its validation split sit in the dataset's
    own training set (the order of its files), sorted. Index ``i`` of the training split is ``train[i]`` there."""
    raw = load_raw(name)
    val = per_class_indices(raw.y_train, val_per_class, seed=split_seed)
    keep = torch.ones(len(raw.y_train), dtype=torch.bool)
    keep[val] = False
    return torch.nonzero(keep).flatten(), val


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
