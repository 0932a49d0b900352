"""Atomic file writes: a result either exists whole or not at all (a killed run leaves only a temp file). And the
cache's one rule, "meta.json written last": a cached artefact is complete when its meta record reads back, and it is
made on one CPU thread, whoever asks for it."""
from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

import torch

from .kernels import cpu_kernels
from .paths import cache_dir

KEY_LENGTH = 16   # hex characters of a sha256 in every cache key
# [ours, measured in issue 12] the CPU threads every cached artefact (teacher, scoring run, expert, set) is made on:
# made on 2 threads instead of 1, the quick teacher came out different (validation 90.76% against 90.60%), and runs
# whose images it ranks (difficulty bins, RDED's crops) moved by up to 2.6 points on a fresh clone's spot check.
INPUT_THREADS = 1

_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write(path: Path, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)`` on a temp file beside ``path``, then rename it into place (atomic on POSIX)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)   # mkstemp makes owner-only files; results and caches are for sharing
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def write_json(path: Path, obj) -> Path:
    def _write(tmp):
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=1, sort_keys=True, default=str)
    return atomic_write(path, _write)


def read_json(path: Path):
    with open(path) as f:
        return json.load(f)


def digest(obj, code: str) -> str:
    """The hash in every cache key: sha256 of ``json.dumps(obj, sort_keys=True)``, ``code`` (the fingerprint of
    the code that makes the thing keyed, ``fingerprint.of``) and the CPU kernels in force (``kernels``), its first
    KEY_LENGTH hex chars. Code that can change a number changes the keys of what it can change, so a record or
    artefact made by other code is never read as this code's; an edit that cannot move a number leaves every key as
    it was [issue 33]."""
    text = json.dumps(obj, sort_keys=True) + "\0" + code + "\0" + cpu_kernels()
    return hashlib.sha256(text.encode()).hexdigest()[:KEY_LENGTH]


def read_record(path: Path) -> dict | None:
    """The meta record at ``path``, or None when it is missing or corrupt (not JSON, or not a JSON object: said in
    one line on stderr): either way the artefact it describes is to be made again."""
    try:
        meta = read_json(path)
    except FileNotFoundError:
        return None
    except ValueError:               # not JSON (or not text)
        meta = None
    if not isinstance(meta, dict):
        print(f"ddlib: corrupt cache record {path}; recomputing", file=sys.stderr)
        return None
    return meta


CHECKSUMS = "file_sha256"   # the meta's record of every file the folder was made with, verified on each read


def cached_folder(kind: str, key: str, make: Callable[[Path], dict]) -> tuple[Path, dict]:
    """The folder ``<cache>/<kind>/<key>/`` and its meta, by the rule "meta.json written last": unless
    ``meta.json`` reads back (:func:`read_record`), ``make(folder)`` writes the artefact's files (atomically, e.g.
    with :func:`atomic_write`) and returns the meta, which is then written, atomically and last. A killed process
    thus never leaves a folder that reads as complete. ``make`` runs on :data:`INPUT_THREADS` threads. The meta
    records each file's sha256, checked on every read: a truncated or changed file is reported in one line and the
    artefact made again. Files written into the folder later (derived caches) are not covered. The meta is returned
    as read back, on a hit or not."""
    folder = cache_dir() / kind / key
    meta = read_record(folder / "meta.json")
    if meta is not None and meta.get(CHECKSUMS) != {name: file_sha256(folder / name)
                                                    for name in meta.get(CHECKSUMS) or {}}:
        print(f"ddlib: corrupt cache folder {folder} (a file is missing or changed); recomputing", file=sys.stderr)
        meta = None
    if meta is None:
        folder.mkdir(parents=True, exist_ok=True)
        with input_threads():
            made = make(folder)
        files = sorted(p.name for p in folder.iterdir() if p.is_file() and p.name != "meta.json"
                       and not p.name.startswith("."))
        write_json(folder / "meta.json", dict(made, **{CHECKSUMS: {n: file_sha256(folder / n) for n in files}}))
        meta = read_json(folder / "meta.json")
    return folder, meta


@contextmanager
def input_threads():
    """Torch on :data:`INPUT_THREADS` CPU threads inside, as before outside: a cached input's bits then do not
    depend on the thread count of the process that happens to make it (a sweep's main process or its one-thread
    workers, a notebook kernel, the spot check)."""
    before = torch.get_num_threads()
    torch.set_num_threads(INPUT_THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def file_sha256(path: Path) -> str | None:
    """The sha256 of a file's bytes (None for a missing file)."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except FileNotFoundError:
        return None
    return h.hexdigest()


_FILE_SHA256: dict = {}   # (resolved path, size, mtime_ns) -> sha256 of the bytes, this process's memory
RACY_NS = 2 * 10 ** 9     # [git's "racily clean" rule] a file changed this recently may change again with the same
#                           size and mtime (timestamps are coarser than writes): it is hashed each time it is asked


def cached_file_sha256(path) -> str:
    """:func:`file_sha256` of an existing file, remembered by (resolved path, size, mtime): reading a folder's
    digest again costs a stat per file [issue 37: content-keyed folders]."""
    st = os.stat(path)
    sig = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)
    if sig not in _FILE_SHA256:
        sha = file_sha256(path)
        if time.time_ns() - st.st_mtime_ns <= RACY_NS:
            return sha
        _FILE_SHA256[sig] = sha
    return _FILE_SHA256[sig]


def tree_sha256(root, files) -> str:
    """The sha256 of ``files`` under ``root``: each file's path relative to ``root`` and the sha256 of its bytes,
    in the order given (a renamed, added, removed or edited file changes it)."""
    h = hashlib.sha256()
    for f in files:
        h.update(str(Path(f).relative_to(root)).encode() + b"\0")
        h.update(bytes.fromhex(cached_file_sha256(f)))
    return h.hexdigest()
