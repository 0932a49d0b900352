"""A distilled (synthetic) set on disk: images, labels, optional stored soft labels, and a JSON of provenance.

The file format is safetensors (no pickle, so a file from anyone can be opened safely): ``images`` float32
[N, C, H, W] in pixel units [0, 1], ``labels`` int64 [N], optionally ``soft_labels`` float32 [N, K] (rows sum to 1).
The provenance (method, knobs, dataset, class list, IPC, seed, compute) is stored twice: in the safetensors header
and beside the file as ``FILE.json`` for a reader. :func:`read` reads a user's set: safetensors, ``.npz`` (with pickle
disabled) or an image folder (one subfolder per class, named by the dataset's class names or by class indices,
holding PNG or JPEG files); :func:`check` checks everything a training run relies on before any compute.
"""
from __future__ import annotations

import json
import math
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from .data import IMAGE_SUFFIXES, decode_image_file, stored_channels
from .errors import DDLibError
from .store import atomic_write, cached_file_sha256, tree_sha256, write_json

FORMAT = 1
PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin")


# meta["pixels"]: a distiller's own tensor, kept outside [0, 1] because its method's evaluation trains on it so
# (DC, DM, MTT and DATM evaluate the unclipped synthetic tensor) [issue 13]
UNCLIPPED = "unclipped"


@dataclass
class SynSet:
    images: torch.Tensor                 # float32 [N, C, H, W] in [0, 1] (or meta["pixels"] == UNCLIPPED)
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
    meta = dict({k: v for k, v in s.meta.items() if k != "file_format"}, format=FORMAT)
    atomic_write(path, lambda p: save_file(tensors, p, metadata={"ddlib": json.dumps(meta, default=str)}))
    write_json(Path(str(path) + ".json"), meta)
    return path


def check(s: SynSet, num_classes: int | None = None, shape: tuple | None = None, ipc: int | None = None) -> SynSet:
    """One-line DDLibErrors for a set no training run should see: wrong shapes or channels, pixels outside [0, 1]
    (unless its provenance says ``pixels: unclipped``) or not finite, labels out of range, missing classes, or a
    class count different from the claimed IPC."""
    x, y = s.images, s.labels
    if x.ndim != 4:
        raise DDLibError(f"images must be [N, C, H, W], got shape {tuple(x.shape)}")
    if y.ndim != 1 or len(y) != len(x):
        raise DDLibError(f"labels must be one integer per image ([{len(x)}]), got shape {tuple(y.shape)}")
    if not x.is_floating_point() or not torch.isfinite(x).all():
        raise DDLibError("images contain NaN or infinite values" if x.is_floating_point() else
                         f"images must be floating point in [0, 1], got {x.dtype}")
    if x.numel() and s.meta.get("pixels") != UNCLIPPED and (x.min() < 0 or x.max() > 1):
        raise DDLibError(f"pixel values must lie in [0, 1], got [{float(x.min()):.3g}, {float(x.max()):.3g}] (a set "
                         f"kept unclipped on purpose says so in its header: pixels: {UNCLIPPED})")
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


def load(path, classes=None, shape=None) -> SynSet:
    """Read a set from safetensors, npz or an image folder, never unpickling anything. ``classes`` (the dataset's
    class names) lets a folder's class subfolders be named by class; ``shape`` (C, H, W) lets a folder's wrong-sized
    image be named. Shapes and values are checked by :func:`check` (with the dataset's classes and shape, the
    caller's job). ``meta["file_format"]`` says which reader read it: safetensors, npz or folder. A user's file or
    folder is read by :func:`read`."""
    path = Path(path)
    if path.is_dir():
        return load_folder(path, classes, shape)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise DDLibError(f"{path.name}: pickle-based files are refused (they can run code when opened); convert "
                         f"it with torch.load on a machine you trust and save images/labels with "
                         f"safetensors.torch.save_file or numpy.savez")
    if not path.is_file():
        raise DDLibError(f"no such file: {path}")
    if path.suffix.lower() == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: torch.from_numpy(_numeric(np.array(z[k]), k, path)) for k in z.files}
        except DDLibError:
            raise
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
            raise DDLibError(f"{path.name}: not a readable npz without pickle ({str(e).splitlines()[0]})") from None
        meta, kind = {}, "npz"
    else:
        try:
            arrays = load_file(path)
            with safe_open(path, "pt") as f:
                meta = json.loads((f.metadata() or {}).get("ddlib", "{}"))
            if not isinstance(meta, dict):
                raise json.JSONDecodeError("header metadata 'ddlib' is not a JSON object", "", 0)
            meta = checked_header(meta, path)
        except (SafetensorError, OSError, json.JSONDecodeError) as e:
            raise DDLibError(f"{path.name}: not a readable safetensors file "
                             f"({(str(e).splitlines() or [type(e).__name__])[0]})") from None
        kind = "safetensors"
    missing = {"images", "labels"} - set(arrays)
    if missing:
        raise DDLibError(f"{path.name}: needs arrays 'images' and 'labels', missing {sorted(missing)} "
                         f"(found {sorted(arrays)})")
    images = arrays["images"]
    if images.dtype == torch.uint8:       # an 8-bit image file: scale to [0, 1]
        images = images.float() / 255
    soft = arrays.get("soft_labels")
    return SynSet(images.float() if images.is_floating_point() else images, arrays["labels"],
                  None if soft is None else soft.float(), dict(meta, file_format=kind))


def _numeric(a: np.ndarray, name: str, path) -> np.ndarray:
    """An npz array as torch takes it: numbers only (no text or records); unsigned 64-bit labels as int64 when they
    fit. A one-line DDLibError otherwise."""
    if a.dtype.kind not in "biuf":
        raise DDLibError(f"{Path(path).name}: array {name!r} holds {a.dtype} values, not numbers")
    if a.dtype == np.uint64 or a.dtype == np.uint32:
        if a.size and a.max() > np.iinfo(np.int64).max:
            raise DDLibError(f"{Path(path).name}: array {name!r} holds values too large for int64")
        return a.astype(np.int64)
    return a


def _class_of_folder(name: str, classes) -> int | None:
    if classes is not None and name in classes:
        return list(classes).index(name)
    if name.isdigit() and (classes is None or int(name) < len(classes)):
        return int(name)
    return None


# Superseded by read_folder for every user's folder [issue 37: it read palette PNGs as palette indices]. Kept as it
# is because the distillers' code fingerprints cover it through load (their reader of their own set files): delete it
# and load's folder branch at the next re-key of the distilled sets.
def load_folder(path, classes=None, shape=None) -> SynSet:
    """An image folder: one subfolder per class, named by the dataset's class name or by its index 0..C-1, each
    holding PNG or JPEG files (decoded as stored: 1 channel for grey, 3 for colour; 8-bit scaled to [0, 1]).
    Hidden files and folders are skipped, and so are files beside the class folders (e.g. a README)."""
    from torchvision.io import ImageReadMode, decode_image, read_file

    path = Path(path)
    valid = (f"the dataset's class names ({', '.join(map(str, classes))}) or " if classes is not None else "") + \
        (f"class indices 0..{len(classes) - 1}" if classes is not None else "class indices 0, 1, ...")
    folders = {}
    for d in sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")):
        c = _class_of_folder(d.name, classes)
        if c is None:
            raise DDLibError(f"{path.name}: unknown class folder {d.name!r}; class folders are named by {valid}")
        if c in folders:
            raise DDLibError(f"{path.name}: folders {folders[c].name!r} and {d.name!r} both hold class {c}")
        folders[c] = d
    if not folders:
        raise DDLibError(f"{path.name}: no class folders; an image folder holds one subfolder per class, named by "
                         f"{valid}, with PNG or JPEG files")
    images, labels = [], []
    for c in sorted(folders):
        files = sorted(f for f in folders[c].iterdir() if not f.name.startswith("."))
        if not files:
            raise DDLibError(f"{path.name}/{folders[c].name}: empty class folder (no PNG or JPEG image)")
        for f in files:
            rel = f"{path.name}/{folders[c].name}/{f.name}"
            if not f.is_file() or f.suffix.lower() not in IMAGE_SUFFIXES:
                raise DDLibError(f"{rel}: not a PNG or JPEG file (a class folder holds images only)")
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    img = decode_image(read_file(str(f)), mode=ImageReadMode.UNCHANGED)
            except (RuntimeError, ValueError, OSError) as e:
                raise DDLibError(f"{rel}: unreadable image ({(str(e).splitlines() or [type(e).__name__])[0]})") \
                    from None
            if img.dtype == torch.uint8:
                x = img.float() / 255
            elif img.dtype == torch.uint16:
                x = img.to(torch.int32).float() / 65535
            else:
                raise DDLibError(f"{rel}: unsupported pixel type {img.dtype} (8- or 16-bit PNG, or JPEG)")
            if shape is not None and tuple(x.shape) != tuple(shape):
                what = "channel count" if x.shape[0] != shape[0] else "image size"
                raise DDLibError(f"wrong {what}: {rel} is {tuple(x.shape)} (channels, height, width), the "
                                 f"dataset's images are {tuple(shape)}")
            if images and x.shape != images[0].shape:
                raise DDLibError(f"{rel} is {tuple(x.shape)} (channels, height, width), but the first image is "
                                 f"{tuple(images[0].shape)}; every image of a set has one size")
            images.append(x)
            labels.append(c)
    return SynSet(torch.stack(images), torch.tensor(labels, dtype=torch.int64),
                  meta=dict(file_format="folder", folders={str(c): d.name for c, d in folders.items()}))


# [ours, issue 37] what a user's set file may claim, checked before it is read or trained on
HEADER_LEAST = {"ipc": 1, "val_per_class": 1, "seed": 0, "split_seed": 0}   # a header's counts and seeds
UNCLIPPED_LIMIT = 100.0   # |pixel| of an unclipped set: ddlib's own DM set spans [-0.54, 1.48] (quick profile)
DEFLATE_RATIO = 1032      # the most bytes deflate unpacks from one (zlib's technical details)


def read(path, classes, shape) -> SynSet:
    """A user's set (safetensors, npz or image folder), read as :func:`load` reads ddlib's own files, with the
    dataset's ``classes`` and ``shape`` (C, H, W); a folder by :func:`read_folder`. Untrusted input, so bounded
    first [issue 37]: an npz's arrays claim no more bytes than they hold (a header claiming 10^11 rows asked for
    23 TiB), a header nested too deeply to parse, a count or seed below its least value, or an unclipped set's
    pixels beyond UNCLIPPED_LIMIT (values near 1e30 made every run NaN) are one-line DDLibErrors. Shapes and values
    are then checked by :func:`check`, the caller's job."""
    path = Path(path)
    if path.is_dir():
        return read_folder(path, classes, shape)
    if path.suffix.lower() == ".npz" and path.is_file():
        _check_npz_sizes(path)
    try:
        s = load(path, classes, shape)
    except RecursionError:
        raise DDLibError(f"{path.name}: its header is nested too deeply to read") from None
    for name, least in HEADER_LEAST.items():
        v = s.meta.get(name)
        if v is not None and v < least:
            raise DDLibError(f"{path.name}: header field {name!r} must be at least {least}, got {v!r}")
    x = s.images
    if s.meta.get("pixels") == UNCLIPPED and x.is_floating_point() and x.numel() and \
            float(x.abs().max()) > UNCLIPPED_LIMIT:     # NaN compares false: check() names it
        raise DDLibError(f"{path.name}: an unclipped set's pixel values must lie in [-{UNCLIPPED_LIMIT:g}, "
                         f"{UNCLIPPED_LIMIT:g}], got [{float(x.min()):.3g}, {float(x.max()):.3g}]")
    return s


def _check_npz_sizes(path: Path) -> None:
    """Every array of an npz claims (in its .npy header) no more bytes than its member holds, and every member
    unpacks to no more than deflate can make of its compressed bytes: checked before numpy allocates the claim."""
    try:
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                if info.file_size > DEFLATE_RATIO * max(info.compress_size, 1):
                    raise DDLibError(f"{path.name}: {info.filename} claims {info.file_size:,} bytes from "
                                     f"{info.compress_size:,} compressed")
                if not info.filename.endswith(".npy"):
                    continue
                with z.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                                   (2, 0): np.lib.format.read_array_header_2_0}.get(version)
                    if read_header is None:
                        raise DDLibError(f"{path.name}: {info.filename} is .npy format {version}, not 1.0 or 2.0")
                    shape, _, dtype = read_header(f)
                    claimed, holds = math.prod(shape) * dtype.itemsize, info.file_size - f.tell()
                if claimed > holds:
                    raise DDLibError(f"{path.name}: array {info.filename[:-4]!r} claims shape {shape} "
                                     f"({claimed:,} bytes), its file holds {holds:,}")
    except DDLibError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise DDLibError(f"{path.name}: not a readable npz without pickle ({str(e).splitlines()[0]})") from None


def read_folder(path, classes, shape) -> SynSet:
    """An image folder: one subfolder per class, named by the dataset's class name or by its index 0..C-1 in ASCII
    digits, each holding PNG or JPEG files, decoded by ``data.decode_image_file`` to the dataset's channels (a palette
    expanded, alpha dropped; a colour file in a grey dataset, or the reverse, is refused) and scaled to [0, 1].
    Hidden files and folders are skipped, and so are files beside the class folders (e.g. a README)."""
    path = Path(path)
    valid = f"the dataset's class names ({', '.join(map(str, classes))}) or class indices 0..{len(classes) - 1}"
    folders = {}
    for d in sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")):
        named = d.name in classes or d.name.isascii()      # '⁵' is a digit to str.isdigit, not to int()
        c = _class_of_folder(d.name, classes) if named else None
        if c is None:
            raise DDLibError(f"{path.name}: unknown class folder {d.name!r}; class folders are named by {valid}")
        if c in folders:
            raise DDLibError(f"{path.name}: folders {folders[c].name!r} and {d.name!r} both hold class {c}")
        folders[c] = d
    if not folders:
        raise DDLibError(f"{path.name}: no class folders; an image folder holds one subfolder per class, named by "
                         f"{valid}, with PNG or JPEG files")
    images, labels = [], []
    for c in sorted(folders):
        files = sorted(f for f in folders[c].iterdir() if not f.name.startswith("."))
        if not files:
            raise DDLibError(f"{path.name}/{folders[c].name}: empty class folder (no PNG or JPEG image)")
        for f in files:
            rel = f"{path.name}/{folders[c].name}/{f.name}"
            if not f.is_file() or f.suffix.lower() not in IMAGE_SUFFIXES:
                raise DDLibError(f"{rel}: not a PNG or JPEG file (a class folder holds images only)")
            stored = stored_channels(f, rel)
            if stored not in (None, shape[0]):
                raise DDLibError(f"wrong channel count: {rel} has {stored} colour channel(s), the dataset's images "
                                 f"{shape[0]}")
            img = decode_image_file(f, shape[0], rel)
            if img.dtype not in (torch.uint8, torch.uint16):
                raise DDLibError(f"{rel}: unsupported pixel type {img.dtype} (8- or 16-bit PNG, or JPEG)")
            x = img.float() / 255 if img.dtype == torch.uint8 else img.to(torch.int32).float() / 65535
            if tuple(x.shape) != tuple(shape):
                raise DDLibError(f"wrong image size: {rel} is {tuple(x.shape)} (channels, height, width), the "
                                 f"dataset's images are {tuple(shape)}")
            images.append(x)
            labels.append(c)
    return SynSet(torch.stack(images), torch.tensor(labels, dtype=torch.int64),
                  meta=dict(file_format="folder", folders={str(c): d.name for c, d in folders.items()}))


def infer_ipc(s: SynSet, num_classes: int) -> tuple:
    """The set's IPC when none is claimed: (ipc, where it came from). The file's provenance (``meta["ipc"]``) if
    it states one, else the per-class count when every class has the same; a one-line DDLibError otherwise."""
    ipc = s.meta.get("ipc")
    if isinstance(ipc, int) and not isinstance(ipc, bool) and ipc > 0:
        return ipc, "the file's provenance"
    check(s, num_classes)                          # labels in range, every class present
    counts = sorted(set(torch.bincount(s.labels.long(), minlength=num_classes).tolist()))
    if len(counts) != 1:
        raise DDLibError(f"cannot tell the set's IPC: its classes hold {counts} images; give the claim with --ipc")
    return counts[0], "the class counts"


# --- content hash ---------------------------------------------------------------------------------------------

def _files_of(path: Path) -> list:
    """The files whose bytes make the set: the file itself, or every non-hidden file under a folder (sorted)."""
    if not path.is_dir():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(path).parts))


def signature(path) -> tuple:
    """(resolved path, [(relative name, mtime_ns, size) per file]): changes whenever the content can have."""
    path = Path(path).resolve()
    files = _files_of(path)
    return str(path), tuple((str(f.relative_to(path)) if f != path else "", f.stat().st_mtime_ns, f.stat().st_size)
                            for f in files)


def sha256(path) -> str:
    """The sha256 of the set's bytes (a file's content; for a folder, of every file's relative name and content,
    in sorted order: ``store.tree_sha256``). Each file's hash is remembered in this process by (path, size, mtime),
    so a config's key is cheap to recompute."""
    path = Path(path)
    if not path.exists():
        raise DDLibError(f"no such file: {path}")
    if path.is_dir():
        return tree_sha256(path.resolve(), _files_of(path.resolve()))
    return cached_file_sha256(path)


def peek_meta(path) -> dict:
    """The provenance in a safetensors file's header, without reading the tensors ({} for anything else)."""
    path = Path(path)
    if not path.is_file() or path.suffix.lower() in PICKLE_SUFFIXES or path.suffix.lower() == ".npz":
        return {}
    try:
        with safe_open(path, "pt") as f:
            meta = json.loads((f.metadata() or {}).get("ddlib", "{}"))
    except Exception:      # not safetensors, or unreadable: the loader says what is wrong
        return {}
    return checked_header(meta, path) if isinstance(meta, dict) else {}


HEADER_FIELDS = {"dataset": str, "method": str, "key": str, "ipc": int, "seed": int, "val_per_class": int,
                 "split_seed": int, "compute": dict, "pixels": str}   # what ddlib reads of a file's own provenance


def checked_header(meta: dict, path) -> dict:
    """A file's provenance header, each field ddlib reads of the type it must have (a file is untrusted input);
    a one-line DDLibError otherwise."""
    for name, kind in HEADER_FIELDS.items():
        v = meta.get(name)
        if v is not None and (not isinstance(v, kind) or isinstance(v, bool)):
            raise DDLibError(f"{Path(path).name}: header field {name!r} must be {kind.__name__}, got {v!r}")
    return meta
