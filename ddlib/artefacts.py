"""The small inputs a profile's stored runs read (teachers, scoring runs, distilled sets), kept beside its results
store, content-addressed and checksummed, so that a fresh build makes none of them again [issue 33: a five-minute
fresh build]. ``make evidence`` keeps them (:func:`keep`), ``make book`` restores them into the cache
(:func:`restore`), where ``store.cached_folder`` checks every file's sha256 on each read.

A cache folder is ``<cache>/<kind>/<key>/``, its key covering the code and config that made it; its meta.json,
written last, lists every file it was made with and their sha256 (``store.CHECKSUMS``). Files written into it later
(a teacher's embeddings of the training split, 59 MB for Fashion-MNIST) are derived: they are left out, and made
again where a selector needs them. The spot check still re-makes its runs' inputs from scratch, in a cache of its
own (``reproducibility``)."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

from .paths import cache_dir, results_dir
from .store import CHECKSUMS, atomic_write, file_sha256, read_record

KINDS = ("teachers", "scores", "synsets")
LIMIT_BYTES = 16 << 20   # [ours] a folder above this is not kept: the store holds small inputs, not data sets


def artefact_dir(profile: str) -> Path:
    """``results/<profile>/artefacts/``, committed beside the results store."""
    return results_dir() / profile / "artefacts"


def read_by(store: Path) -> dict:
    """{kind: keys} of the inputs the runs in ``store`` read: their teacher (for its labels, its picks or a set's
    observer), their scoring runs (a score selector's, CAD-Prune's own) and their distilled set."""
    out = {kind: set() for kind in KINDS}
    for path in sorted(Path(store).glob("*.json")):
        r = read_record(path) or {}
        out["teachers"] |= {r.get("teacher_id"), r.get("select_teacher_id"),
                            (r.get("distill_compute") or {}).get("observer_id")}
        out["scores"] |= set(str(r.get("recorder_ids") or "").split(",")) | {r.get("scoring_run_id")}
        out["synsets"].add(r.get("synset_key"))
    return {kind: sorted(k for k in keys if isinstance(k, str) and k) for kind, keys in out.items()}


def complete(folder: Path) -> dict | None:
    """The meta of a cache folder whose every listed file is there with its sha256, else None."""
    meta = read_record(folder / "meta.json")
    if meta is None or not isinstance(meta.get(CHECKSUMS), dict):
        return None
    if any(file_sha256(folder / name) != sha for name, sha in meta[CHECKSUMS].items()):
        return None
    return meta


def _copy(src: Path, dest: Path, meta: dict) -> None:
    """The folder's listed files, then its meta.json last (the cache's rule: a folder whose meta reads is whole)."""
    for name in meta[CHECKSUMS]:
        atomic_write(dest / name, lambda tmp, n=name: shutil.copyfile(src / n, tmp))
    atomic_write(dest / "meta.json", lambda tmp: shutil.copyfile(src / "meta.json", tmp))


def keep(profile: str, store: Path, cache: Path | None = None) -> list:
    """Copy into :func:`artefact_dir` every complete cache folder that the runs in ``store`` read (:func:`read_by`)
    and the store lacks, up to LIMIT_BYTES each; the (kind, key) pairs copied."""
    cache, kept = Path(cache or cache_dir()), []
    for kind, keys in read_by(store).items():
        for key in keys:
            src, dest = cache / kind / key, artefact_dir(profile) / kind / key
            meta = complete(src)
            if meta is None or complete(dest) is not None:
                continue
            if sum((src / name).stat().st_size for name in meta[CHECKSUMS]) > LIMIT_BYTES:
                continue
            _copy(src, dest, meta)
            kept.append((kind, key))
    return kept


def restore(profile: str, cache: Path | None = None) -> list:
    """Copy every kept artefact of ``profile`` into the cache where the cache lacks it; the (kind, key) pairs copied.
    A kept folder whose files do not match its meta is reported in one line and left out (the cache makes it)."""
    cache, restored = Path(cache or cache_dir()), []
    root = artefact_dir(profile)
    for kind in KINDS:
        for src in sorted(p for p in (root / kind).glob("*") if p.is_dir()):
            meta = complete(src)
            if meta is None:
                print(f"ddlib: corrupt artefact {src} (a file is missing or changed); left out", file=sys.stderr)
                continue
            dest = cache / kind / src.name
            if read_record(dest / "meta.json") is not None:
                continue
            _copy(src, dest, meta)
            restored.append((kind, src.name))
    return restored
