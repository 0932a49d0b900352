"""One module per finding: the sweep a chapter runs, its analysis and its computed verdict. Notebooks call these;
``python -m ddlib sweep NAME`` runs the same sweep without Jupyter (e.g. on a GPU machine).

Every chapter module has ``CHAPTER``, ``LABEL``, ``TITLE``, ``CLAIM`` and three functions of a
``ddlib.profile.Profile``: ``tune(p)`` (the choice made on the validation split: the KD temperature, or CAD-Prune's
candidates, with its table), ``run(p, choice)`` (the sweep's rows) and ``analyse(df, p)`` (tables and verdict)."""
from __future__ import annotations

import sys
import time

import pandas as pd

from .. import report
from ..errors import DDLibError
from ..records import is_current
from ..profile import Profile, as_dict
from ..store import read_record
from . import audit_sets, cad_prune, difficulty, hard_labels, label_regimes, pitfalls, saturation

FINDINGS = {"label_regimes": label_regimes, "saturation": saturation, "hard_labels": hard_labels,
            "difficulty": difficulty, "cad_prune": cad_prune}


def write(chapter, df: pd.DataFrame, analysis: dict, p: Profile, started: float) -> dict:
    """Write a chapter's results.csv and summary.json for its profile; return the summary. ``chapter`` is the
    chapter's module (its CHAPTER, LABEL, TITLE and CLAIM) and ``analysis["verdict"]`` its computed verdict."""
    report.write_results(df, p.profile, chapter.CHAPTER)
    v = analysis["verdict"]
    return report.write_summary(p.profile, chapter.CHAPTER, label=chapter.LABEL, title=chapter.TITLE,
                                claim=chapter.CLAIM, status=v["status"], sentence=v["sentence"],
                                key_numbers=v["key_numbers"], params=as_dict(p), df=df, started=started)


def main(chapter, params: dict) -> dict:
    """Run a chapter without Jupyter (``python -m ddlib sweep``): its choice on validation, the sweep, the
    analysis, the result files."""
    started = time.time()
    p = Profile.from_dict(params).check()
    choice, _ = chapter.tune(p)
    df = chapter.run(p, choice)
    return write(chapter, df, chapter.analyse(df, p), p, started)


def prune(p: Profile) -> int:
    """Remove the store's records made by other code (their keys cannot match this code's); their number."""
    stale = [f for f in sorted(p.store.glob("*.json")) if not is_current(read_record(f) or {})]
    for f in stale:
        f.unlink()
    return len(stale)


EVIDENCE = (*FINDINGS, "audit", "pitfalls")   # make evidence's parts, in its order


def evidence(params: dict, chapters=None):
    """``make evidence``: every chapter's choice, sweep and result files, then chapter 06's audits and chapter 07's
    pitfall runs, into the profile's results store (``Profile.store``); ``chapters`` (names of :data:`EVIDENCE`)
    keeps only those, in that order, e.g. the one a short GPU call can finish. Finished runs are read back, so a
    stopped call resumes; records of other code are removed first. Yields each chapter's summary as it finishes."""
    chosen = list(EVIDENCE) if chapters is None else list(chapters)
    unknown = [c for c in chosen if c not in EVIDENCE]
    if unknown or not chosen:
        raise DDLibError(f"unknown evidence chapter(s) {', '.join(unknown) or '(none given)'}; valid: "
                         f"{', '.join(EVIDENCE)}")
    p = Profile.from_dict(params).check()
    removed = prune(p)
    if removed:
        print(f"ddlib: removed {removed} records of other code from {p.store}", file=sys.stderr)
    for name in (c for c in EVIDENCE if c in chosen):
        if name in FINDINGS:
            yield main(FINDINGS[name], params)
        elif name == "audit":
            audit_sets.run(p)
            yield dict(chapter=audit_sets.CHAPTER, status="-", sentence=f"audited {', '.join(p.audit_methods)}")
        else:
            temperature, _ = pitfalls.tune(p)
            df = pitfalls.run(p, temperature)
            report.write_results(df, p.profile, pitfalls.CHAPTER)
            yield dict(chapter=pitfalls.CHAPTER, status="-", sentence=f"{len(df)} runs")
