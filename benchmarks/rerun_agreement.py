"""How closely does a stored run agree with the same run made again? The measurement behind
``ddlib.reproducibility.TOLERANCE``.

A sample of a profile's stored runs (one per regime and source kind present) is re-run with
``ddlib.reproducibility.recheck`` as the build's spot check does: in a new process and an empty cache (teacher,
scoring run and set made again), each run in a one-thread worker as ``make evidence`` made it. The same runs are
then re-run in one process on another thread count (their inputs read from the cache); since issue 37 a run trains
on one thread in any process (``ddlib.runner.run``), so the two should agree to the last digit. Writes a Markdown
table (stdout, or ``--out``).
Usage: ``python benchmarks/rerun_agreement.py --profile quick --runs 6 [--threads 2] [--out FILE]``
"""
from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import pandas as pd

from ddlib import reproducibility as rep
from ddlib.paths import results_dir


def pick(profile: str, n: int, seed: int = 0) -> list:
    """``n`` eligible stored runs, spread over (regime, source) kinds."""
    store = results_dir() / profile / "runs"
    by_kind = {}
    for f in sorted(store.glob("*.json")):
        r = json.loads(f.read_text())
        if rep.why_not_eligible(r) is None:
            c = r["config"]
            by_kind.setdefault((c["regime"], c["distill"] or c["select"]), []).append(r["key"])
    rng, kinds = random.Random(seed), sorted(by_kind)
    rng.shuffle(kinds)
    return [("store", rng.choice(by_kind[k])) for k in kinds[:n]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--runs", type=int, default=6)
    ap.add_argument("--threads", type=int, default=2, help="the other thread count to compare")
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    picks = pick(a.profile, a.runs)
    rows = [dict(r, rerun="as the spot check: inputs made again, one-thread workers")
            for r in rep.recheck(a.profile, picks, tolerance=float("inf"))]
    rows += [dict(r, rerun=f"in one process on {a.threads} threads, inputs from the cache")
             for r in rep.recheck(a.profile, picks, tolerance=float("inf"), threads=a.threads, fresh_inputs=False)]
    df = pd.DataFrame(rows)
    lines = [f"Profile `{a.profile}`: {len(picks)} stored runs re-run (`python benchmarks/rerun_agreement.py "
             f"--profile {a.profile} --runs {a.runs} --threads {a.threads}`).", "",
             "| rerun | run | max abs. difference, test (points) | max abs. difference, validation (points) |",
             "| --- | --- | --- | --- |"]
    for (how, run), g in df.groupby(["rerun", "run"], sort=False):
        lines.append(f"| {how} | {run} | {g['diff_test_acc'].abs().max() * 100:.2f} | "
                     f"{g['diff_val_acc'].abs().max() * 100:.2f} |")
    lines.append("")
    for how, g in df.groupby("rerun", sort=False):
        worst = max(g["diff_test_acc"].abs().max(), g["diff_val_acc"].abs().max()) * 100
        lines.append(f"- {how}: the largest difference is {worst:.2f} points over {len(g)} runs.")
    text = "\n".join(lines)
    if a.out:
        a.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
