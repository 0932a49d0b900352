"""The results store: one JSON record per finished run, at ``<store>/<key>.json`` (a profile's committed
``results/<profile>/runs/`` or the private cache's ``runs/``), written atomically, so a killed sweep resumes where
it stopped and nothing half-written is read back; a record is read only as the run whose key it carries."""
from __future__ import annotations

import json
import sys
from dataclasses import asdict
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


RECORD_FIELDS = ("key", "val_acc", "test_acc", "samples_seen", "wall_s")   # what a finished run's record holds


def is_current(record: dict) -> bool:
    """Was a stored record made by this code: its key is the one its config has now (the key covers the code the
    run executes and its inputs' keys). A run on a set file is judged by its code fingerprint alone, since the file
    need not be on this machine; a record whose config does not read back is not current."""
    try:
        cfg = RunConfig.from_record(record["config"])
        return record.get("code") == cfg.code() if cfg.synset_file else record.get("key") == cfg.key()
    except (KeyError, TypeError, ValueError, DDLibError):
        return False


def read_stored(cfg: RunConfig, store: Path | None = None) -> dict | None:
    """The stored result of ``cfg``, or None. A record that is not JSON, not this run's, or lacks a result is
    reported in one line and recomputed (writes are atomic, so that is outside damage)."""
    path = record_path(cfg, store)
    record = read_record(path)
    if record is None:
        return None
    if record.get("key") != cfg.key() or any(not isinstance(record.get(k), (int, float, str)) or
                                             isinstance(record.get(k), bool) for k in RECORD_FIELDS):
        print(f"ddlib: corrupt run record {path} (not this run's, or without its result); recomputing",
              file=sys.stderr)
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

