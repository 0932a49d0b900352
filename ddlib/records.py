"""The results store: one JSON record per finished run, at ``<store>/<key>.json`` (a profile's committed
``results/<profile>/runs/`` or the private cache's ``runs/``), written atomically, so a killed sweep resumes where
it stopped and nothing half-written is read back; a record is read only as the run whose key it carries."""
from __future__ import annotations

import json
import math
import sys
from dataclasses import asdict, replace
from pathlib import Path

from .config import RunConfig
from .errors import DDLibError
from .paths import cache_dir
from .runner import run
from .store import read_record, write_json


def run_store() -> Path:
    """Where a run's record goes when no store is named: the private cache's ``runs/`` (a profile's committed store
    is ``Profile.store``, ``results/<profile>/runs/``)."""
    return cache_dir() / "runs"


def record_path(cfg: RunConfig, store: Path | None = None) -> Path:
    return Path(store or run_store()) / f"{cfg.key()}.json"


def as_asked(result: dict, cfg: RunConfig) -> dict:
    """A cached result under the config that asked for it: configs with one key differ only in fields that cannot
    change the numbers (e.g. the temperature of an HL run, or a set given as its cache file rather than by method),
    and the row should say what was asked."""
    asked = {k: v for k, v in asdict(cfg).items() if k not in ("teacher", "recorder")}
    return dict(result, **json.loads(json.dumps(asked)))      # as stored: tuples read back as lists


ACCURACIES = ("val_acc", "test_acc")   # shares in [0, 1]
COUNTS = ("samples_seen", "steps")     # non-negative integers


def why_not_its(record: dict, cfg: RunConfig) -> str | None:
    """Why a stored record is not ``cfg``'s result, or None: its key, its code fingerprint, the config inside (read
    back, it must key as ``cfg`` does: an SL+KD config under an HL key is another run's) and every metric's type and
    range are checked [issue 37: no silent wrong number]. A set file's path is taken as asked: where a file lies is
    no part of what it is, and the key covers its content."""
    if record.get("key") != cfg.key():
        return "not this run's key"
    if record.get("code") != cfg.code():
        return "made by other code"
    try:
        stored = RunConfig.from_record(record["config"])
        if cfg.synset_file:
            stored = replace(stored, synset_file=cfg.synset_file)
        if stored.key() != cfg.key():
            return "its config is another run's"
    except (KeyError, TypeError, ValueError, AttributeError, DDLibError):
        return "its config does not read back"
    for name in ACCURACIES:
        v = record.get(name)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
            return f"{name} is {v!r}, not a share in [0, 1]"
    for name in COUNTS:
        v = record.get(name)
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            return f"{name} is {v!r}, not a count"
    v = record.get("wall_s")
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < math.inf:
        return f"wall_s is {v!r}, not a time"
    return None


def is_current(record: dict) -> bool:
    """Was a stored record made by this code: its key is the one its config has now (the key covers the code the
    run executes and its inputs' keys). A run on a set file is judged by its code fingerprint alone, since the file
    need not be on this machine; a record whose config does not read back is not current."""
    try:
        cfg = RunConfig.from_record(record["config"])
        return record.get("code") == cfg.code() if cfg.synset_file else record.get("key") == cfg.key()
    except (KeyError, TypeError, ValueError, DDLibError):
        return False


MAX_RECORD_BYTES = 1 << 24   # [ours, issue 37] a run record is a few KB; a larger file is no record ddlib wrote


def _read(path: Path) -> tuple:
    """(the record at ``path``, why it cannot be one) without parsing a file over MAX_RECORD_BYTES or recursing
    through JSON nested thousands deep [issue 37]; (None, None) when there is no record (or it is not JSON, which
    ``store.read_record`` says)."""
    try:
        if path.stat().st_size > MAX_RECORD_BYTES:
            return {}, f"over {MAX_RECORD_BYTES:,} bytes"
        return read_record(path), None
    except FileNotFoundError:
        return None, None
    except RecursionError:
        return {}, "nested too deeply"


def read_stored(cfg: RunConfig, store: Path | None = None) -> dict | None:
    """The stored result of ``cfg``, or None. A record that is not JSON (or too large or too deeply nested to
    read), or not this run's result (:func:`why_not_its`), is reported in one line and recomputed (writes are
    atomic, so that is outside damage)."""
    path = record_path(cfg, store)
    record, why = _read(path)
    if record is None:
        return None
    why = why or why_not_its(record, cfg)
    if why is not None:
        print(f"ddlib: corrupt run record {path} ({why}); recomputing", file=sys.stderr)
        return None
    return dict(as_asked(record, cfg), cache_hit=True)


def cached_run(cfg: RunConfig, progress: bool = False, store: Path | None = None) -> dict:
    """``run(cfg)``, read from ``store`` (default :func:`run_store`) when this exact config has run before."""
    hit = read_stored(cfg, store)
    if hit is not None:
        return hit
    result = run(cfg, progress)
    write_json(record_path(cfg, store), result)
    return dict(result, cache_hit=False)

