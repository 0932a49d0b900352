"""The book's tools chapter: ``python -m ddlib audit`` on ddlib's own distilled sets (chapter 03's), exactly as a
user audits a file, and what it refuses. Not a finding: it writes each set's audit folder (``results.csv``,
``audit.json``), not a chapter summary.

The sets are handed to the audit as their cache files; a file whose bytes equal a cached set's runs as that set
(``distill.cached_key``), so its HL and SL+KD runs are chapter 03's, read from the result cache.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .. import audit, distill, profile as prof, synset as synsets
from ..analysis import points_text
from ..errors import DDLibError
from ..paths import results_dir
from ..profile import Profile
from .chapter import none

CHAPTER = "06_audit_your_set"
LABEL = "tool-audit"
TITLE = "Audit your own distilled set"
CLAIM = ""                      # a tool chapter: no claim, no verdict
tune_configs = unmeetable_gates = none
analyse = None                  # each audit analyses itself (its audit.json)


def tune(p: Profile, progress: bool = True) -> tuple:
    """No choice on validation: the audit takes the profile's settings, as a user's call does."""
    return None, pd.DataFrame()


def plan_choice(p: Profile) -> None:
    """The choice ``plan`` uses: none, as :func:`tune`'s."""
    return None


def configs(p: Profile, choice=None) -> list:
    """None that can be named before the sets exist (the audit reads each set's file), so ``python -m ddlib plan``
    counts none; a set's HL and SL+KD runs are chapter 03's, as its file runs as the cached set."""
    return []


def set_file(p: Profile, method: str) -> Path:
    """The file of chapter 03's ``method`` set at the first of ``dd_ipcs`` (distilled and cached if needed): what
    ``python -m ddlib distill --method METHOD --out FILE`` hands a user."""
    cfg = prof.distilled_run(p, method, ipc=p.dd_ipcs[0])
    cfg.synset()
    return distill.cached_set_path(cfg.key_fields()["synset"])


def folder(p: Profile, method: str) -> Path:
    return results_dir() / p.profile / CHAPTER / method


def run(p: Profile, choice=None, progress: bool = True) -> dict:
    """Audit every set of ``audit_methods``; {method: ``audit.load`` of its folder}. ``choice``: :func:`tune`'s."""
    out = {}
    for m in p.audit_methods:
        pl = audit.plan(set_file(p, m), params=prof.as_dict(p))
        audit.run(pl, folder(p, m), progress=progress, store=p.store,
                  command=f"python -m ddlib audit <{m} set> --params {p.profile}")
        out[m] = audit.load(folder(p, m))
    return out


def record(chapter, audits: dict, p: Profile, started: float) -> dict:
    """``make evidence``'s part: the audits' folders (:func:`run` wrote them), no chapter summary: no verdict."""
    return dict(chapter=chapter.chapter, status="-", sentence=f"audited {', '.join(p.audit_methods)}")


def describe(p: Profile, n_train: int) -> str:
    """The setup in a few Markdown lines: what ``python -m ddlib audit`` runs on each set."""
    return (f"- **Data**: `{p.dataset}`, {n_train:,} training images after the validation split "
            f"({p.val_per_class} per class)\n"
            f"- **Sets**: chapter 03's {', '.join(distill.NAMES.get(m, m) for m in p.audit_methods)} at IPC "
            f"{p.dd_ipcs[0]}, each handed to the audit as its file\n"
            f"- **Runs**: HL, SL and SL+KD at {p.budgets[0]:,} samples seen, next to random and herding of the same "
            f"IPC; **seeds**: {', '.join(map(str, p.seeds))}; **device**: `{p.device}`; **profile**: `{p.profile}`")


def overview(audits: dict) -> pd.DataFrame:
    """One row per audited set: its gain over random under each arm (points, 95% interval) and the share of its
    SL+KD lead that survives under HL."""
    rows = {}
    for m, a in audits.items():
        s = a["summary"]
        row = {}
        for arm in audit.ARMS:
            g = s["regimes"][arm]["gain_over_random"]
            row[f"{arm} gain"] = points_text(g["mean"], _nan(g["lo"]), _nan(g["hi"]))
        sh = s["hl_share_of_slkd_lead"]
        row["share of the SL+KD lead left under HL"] = "–" if sh["share"] is None else f"{sh['share']:.0%}"
        rows[distill.NAMES.get(m, m)] = row
    return pd.DataFrame(rows).T


def _nan(v):
    return np.nan if v is None else v


def refusals(p: Profile) -> pd.DataFrame:
    """What the audit says to inputs it cannot use, before any compute: each bad file next to the one-line error
    it gets (written to a temporary folder, never trained on)."""
    good = synsets.load(set_file(p, p.audit_methods[0]))
    x, y = good.images.clamp(0, 1), good.labels   # in [0, 1], so each case meets its own check (DM's are unclipped)
    with_nan = x.clone()
    with_nan.view(-1)[0] = float("nan")
    cases = {
        "a pickle file (model.pt)": ("model.pt", None),
        "NaN pixels": ("nan.npz", dict(images=with_nan, labels=y)),
        "pixels in 0..255": ("bytes.npz", dict(images=x * 255, labels=y)),
        "wrong image size": ("size.npz", dict(images=x[..., :-2, :-2], labels=y)),
        "a label out of range": ("label.npz", dict(images=x, labels=torch.where(y == y.max(), y + 50, y))),
        "a class missing": ("missing.npz", dict(images=x[y != 0], labels=y[y != 0])),
    }
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for what, (name, arrays) in cases.items():
            path = Path(tmp) / name
            if arrays is None:
                path.write_bytes(b"\x80\x04not read")
            else:
                np.savez(path, **{k: v.numpy() for k, v in arrays.items()})
            try:
                audit.plan(path, params=prof.as_dict(p))
                message = "(accepted)"
            except DDLibError as e:
                message = str(e).replace(tmp + "/", "")
            rows.append({"input": what, "the audit's answer (nothing is trained or written)": message})
    return pd.DataFrame(rows).set_index("input")
