"""Name every number that moved between a saved build's chapter summaries and the current store's [issue 33: the
book's numbers do not move, or each difference is named].

Reads ``benchmarks/book_summaries_<commit>.json`` (status, sentence and key numbers per chapter, as saved before a
rebuild) and ``results/<profile>/<chapter>/summary.json`` (written by the chapter notebooks of the last build), and
prints a Markdown table: per chapter, the status before and after, and each key number's mean and interval before
and after, with the shift in points and whether the two intervals overlap.

    python benchmarks/compare_summaries.py benchmarks/book_summaries_f678ea1.json > benchmarks/summaries_moved.md
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def interval(n: dict) -> str:
    return f"{100 * n['mean']:+.2f} [{100 * n['lo']:+.2f}, {100 * n['hi']:+.2f}]"


def rows(before: dict, after: dict) -> list:
    """One row per key number either build has, matched by name."""
    old = {n["name"]: n for n in before.get("key_numbers", [])}
    new = {n["name"]: n for n in after.get("key_numbers", [])}
    out = []
    for name in [*old, *(k for k in new if k not in old)]:
        a, b = old.get(name), new.get(name)
        if a is None or b is None:
            out.append((name, interval(a) if a else "absent", interval(b) if b else "absent", "", ""))
            continue
        overlap = "yes" if a["lo"] <= b["hi"] and b["lo"] <= a["hi"] else "**no**"
        out.append((name, interval(a), interval(b), f"{100 * (b['mean'] - a['mean']):+.2f}", overlap))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("saved", type=Path, help="a saved build's summaries (benchmarks/book_summaries_<commit>.json)")
    ap.add_argument("--profile", default="quick")
    a = ap.parse_args(argv)
    saved = json.loads(a.saved.read_text())
    print(f"# Chapter summaries: {a.saved.name} against the current store ({a.profile} profile)\n")
    print(f"Saved: {saved['about']}\n")
    print("Numbers are in accuracy points (mean [95% interval]); 'overlap' says whether the two intervals meet.\n")
    for chapter, before in saved.items():
        if chapter == "about":
            continue
        path = REPO / "results" / a.profile / chapter / "summary.json"
        if not path.is_file():
            print(f"## {chapter}\n\nNo current summary ({path.relative_to(REPO)} is missing).\n")
            continue
        after = json.loads(path.read_text())
        print(f"## {chapter}\n\nStatus: {before['status']} -> {after['status']}\n")
        print("| key number | before | after | shift | overlap |\n|---|---|---|---|---|")
        for r in rows(before, after):
            print("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |")
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
