"""Re-key a results store after a change of the key rule that moves no number [issue 33: a store that lasts].

Every record's key is recomputed from its own config by this code's rule and the file renamed to it; the record's
``key`` and ``code`` fields follow. Nothing is trained. A run on a set file is keyed by the file's content, which
need not be on this machine: its stored ``synset_sha256`` stands in for the bytes, and a file that was one of
ddlib's cached sets (its record says ``synset_cached``, or has the old ``distill_code``) takes that set's key under this code, read
off the store's own run on the set by method.

Only for a change that provably moves no number: run it, then ``python -m ddlib recheck`` on a sample (every
``make book`` re-runs one), which re-makes the sampled runs from scratch and compares them with the re-keyed store.

    python scripts/rekey_store.py results/quick/runs            # re-key in place
    python scripts/rekey_store.py results/quick/runs --check    # only say how many keys would change
"""
from __future__ import annotations

import argparse
import sys
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

from ddlib import distill as distillers, synset as synsets
from ddlib.config import RunConfig
from ddlib.store import read_json, write_json


@contextmanager
def as_stored(record: dict, set_keys: dict):
    """A set file's content as the record states it (the file itself may be gone)."""
    cached = record.get("synset_cached") or "distill_code" in record
    own = set_keys.get(record.get("synset_key")) if cached else None
    with mock.patch.object(distillers, "cached_key", lambda path: own), \
            mock.patch.object(synsets, "sha256", lambda path: record["synset_sha256"]):
        yield


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("store", type=Path)
    ap.add_argument("--check", action="store_true", help="change nothing; print how many keys would change")
    args = ap.parse_args(argv)
    records = {f: read_json(f) for f in sorted(args.store.glob("*.json"))}
    set_keys = {}    # a set's key in the records -> its key under this code
    for r in records.values():
        cfg = RunConfig.from_record(r["config"])
        if cfg.distill:
            set_keys[r["synset_key"]] = cfg.key_fields()["synset"]
    moved = 0
    for path, r in records.items():
        cfg = RunConfig.from_record(r["config"])
        with as_stored(r, set_keys):
            key, code = cfg.key(), cfg.code()
        if key == r["key"] and path.stem == key:
            continue
        moved += 1
        if not args.check:
            if cfg.synset_file and r.get("synset_key") in set_keys:
                r["synset_key"] = set_keys[r["synset_key"]]
            if cfg.distill:
                r["synset_key"] = cfg.key_fields()["synset"]
            if r.pop("distill_code", None) and cfg.synset_file:
                r["synset_cached"] = True
            write_json(args.store / f"{key}.json", dict(r, key=key, code=code))
            if path.stem != key:
                path.unlink()
    print(f"{moved} of {len(records)} keys {'would change' if args.check else 'changed'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
