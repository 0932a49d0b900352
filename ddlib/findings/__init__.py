"""One module per finding: the sweep a chapter runs, its analysis and its computed verdict. Notebooks call these;
``python -m ddlib sweep NAME`` runs the same sweep without Jupyter (e.g. on a GPU machine).

Every chapter module has ``CHAPTER``, ``LABEL``, ``TITLE``, ``CLAIM`` and three functions of a
``ddlib.profile.Profile``: ``tune(p)`` (the choice made on the validation split: the KD temperature, or CAD-Prune's
candidates, with its table), ``run(p, choice)`` (the sweep's rows) and ``analyse(df, p)`` (tables and verdict)."""
from __future__ import annotations

import time

import pandas as pd

from .. import report
from ..profile import Profile, as_dict
from . import cad_prune, difficulty, hard_labels, label_regimes, saturation

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
