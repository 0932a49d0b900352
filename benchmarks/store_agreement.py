"""Does a store filled again from empty hold the same numbers as the committed one? A whole-store version of the
build's spot check (``ddlib.reproducibility``).

Fill a second store with ``DDLIB_RESULTS=DIR DDLIB_CACHE=EMPTY python -m ddlib evidence --params FILE``, then
compare it with the committed store record by record (by key): which keys each holds, and for every shared record
the largest absolute difference of each measured field. Writes a Markdown table (stdout, or ``--out``).
Usage: ``python benchmarks/store_agreement.py --profile quick --other DIR/quick [--out FILE]``
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ddlib.paths import results_dir
from ddlib.store import read_record

MEASURED = ("val_acc", "test_acc", "final_loss", "samples_seen", "teacher_forward_samples", "teacher_val_acc",
            "teacher_test_acc")   # what a run measures; the rest of a record is its config and provenance


def records(store: Path) -> dict:
    """Every readable record in ``store/runs``, by key."""
    return {f.stem: r for f in sorted((store / "runs").glob("*.json")) if (r := read_record(f)) is not None}


def compare(ours: dict, theirs: dict) -> dict:
    """Per measured field: the largest absolute difference over the shared keys and how many records differ."""
    shared = sorted(ours.keys() & theirs.keys())
    table = {}
    for field in MEASURED:
        gaps = [abs((ours[k].get(field) or 0) - (theirs[k].get(field) or 0)) for k in shared]
        table[field] = (max(gaps, default=0.0), sum(g != 0 for g in gaps))
    return table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--other", type=Path, required=True, help="the other store's profile folder (holds runs/)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    committed = results_dir() / args.profile
    ours, theirs = records(committed), records(args.other)
    shared = ours.keys() & theirs.keys()
    lines = [f"Profile `{args.profile}`: the committed store ({len(ours)} records) against `{args.other}` "
             f"({len(theirs)} records): {len(shared)} keys in both, {len(ours.keys() - theirs.keys())} only in the "
             f"committed store, {len(theirs.keys() - ours.keys())} only in the other.", "",
             "| field | max abs. difference | records that differ |", "| --- | --- | --- |"]
    lines += [f"| {field} | {gap:g} | {n} of {len(shared)} |" for field, (gap, n) in compare(ours, theirs).items()]
    text = "\n".join(lines) + "\n"
    if args.out:
        args.out.write_text(text)
    print(text, end="")


if __name__ == "__main__":
    main()
