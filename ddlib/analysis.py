"""What every chapter and the audit compute from a sweep's rows: per-seed lookups, gains over a baseline paired by
seed, the choice made on the validation split, the status rule, and how a difference is written.

Rules shared by every verdict (fixed before any number was seen):
- a comparison is paired by seed (:func:`ddlib.stats.paired_difference`) with a 95% t interval;
- a choice (best coreset, best bin, temperature, CAD-Prune's candidate) is made on VALIDATION accuracy, ties to the
  first listed; the test set never picks anything;
- a criterion that holds at every point is *reproduced*, at some *partly reproduced*, at none *not reproduced*;
  fewer than two seeds or no point at all: *inconclusive*.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import regimes
from .stats import fmt, paired_difference, t_interval


def by_seed(df: pd.DataFrame, value: str = "test_acc", **where) -> dict:
    """{seed: value} over the rows matching every ``column=value`` in ``where`` (compared as strings)."""
    m = np.ones(len(df), dtype=bool)
    for k, v in where.items():
        m &= (df[k].astype(str) == str(v)).to_numpy()
    return dict(zip(df.loc[m, "seed"], df.loc[m, value]))


def label_arms(df: pd.DataFrame) -> pd.DataFrame:
    """Add the 'arm' (HL, HL (AdamW), SL, SL+KD) and a string 'ipc_label' column to a sweep's rows."""
    df = df.copy()
    df["arm"] = [regimes.arm_name(r, o) for r, o in zip(df["regime"], df["optim"])]
    df["ipc_label"] = df["ipc"].astype(str)
    return df


def gain_table(df: pd.DataFrame, points: list, names, column: str = "method", baseline: str = "random") -> list:
    """Per point (a dict of ``column=value`` filters) and per name in ``names``: the point's fields, the name, its
    test accuracy (mean, lo, hi, n over seeds), its mean validation accuracy ``val``, and its test gain over
    ``baseline`` paired by seed (``gain``, ``gain_lo``, ``gain_hi``, ``gain_n``; zero for the baseline itself).
    Names without rows at a point are left out. Returns the rows (a list of dicts) for the caller to extend."""
    rows = []
    for where in points:
        base = by_seed(df, **{column: baseline}, **where)
        for name in names:
            acc = by_seed(df, **{column: name}, **where)
            if not acc:
                continue
            val = by_seed(df, "val_acc", **{column: name}, **where)
            g = paired_difference(acc, base) if name != baseline else dict(mean=0.0, lo=0.0, hi=0.0, n=len(acc))
            rows.append(dict(where, **{column: name}, **t_interval(acc.values()), val=float(np.mean(list(val.values()))),
                             gain=g["mean"], gain_lo=g["lo"], gain_hi=g["hi"], gain_n=g["n"]))
    return rows


def best_on_validation(table: pd.DataFrame, by: list | None = None, value: str = "val"):
    """The row with the highest ``value`` (validation accuracy), ties to the first: a Series, or None for an empty
    table; with ``by``, one row per group (a DataFrame, groups in first-seen order)."""
    if by is None:
        return None if table.empty else table.loc[table[value].idxmax()]
    if table.empty:
        return table
    return table.loc[table.groupby(by, sort=False)[value].idxmax()].reset_index(drop=True)


def above_zero(ci) -> bool:
    """The interval (a dict or row with ``lo``, or the lower bound itself) lies above zero; False without one."""
    lo = ci if isinstance(ci, (int, float, np.floating)) else ci["lo"]
    return bool(np.isfinite(lo) and lo > 0)


def excludes_zero(ci: dict) -> bool:
    return bool(np.isfinite(ci["lo"]) and (ci["lo"] > 0 or ci["hi"] < 0))


def status(held: int, points: int, seeds: int, some: bool | None = None) -> str:
    """The status rule: the criterion held at ``held`` of ``points`` points with ``seeds`` seeds; ``some``: whether
    any part of it held anywhere (default: ``held > 0``), which earns *partly reproduced*."""
    if seeds < 2 or points == 0:
        return "inconclusive"
    if held == points:
        return "reproduced"
    return "partly reproduced" if (held > 0 if some is None else some) else "not reproduced"


def points_text(mean, lo, hi) -> str:
    """A difference of accuracies in points with its interval: '+1.2 [-0.3, +2.7]', '+1.2 (no interval)' with one
    seed, '–' when there is no number."""
    if not np.isfinite(mean):
        return "–"
    if not np.isfinite(lo):
        return f"{mean * 100:+.1f} (no interval)"
    return f"{mean * 100:+.1f} [{lo * 100:+.1f}, {hi * 100:+.1f}]"


def ci_text(r) -> str:
    """:func:`points_text` of a row or dict with mean, lo and hi."""
    return points_text(r["mean"], r["lo"], r["hi"])


def key_number(name: str, r, unit: str = "points") -> dict:
    """A summary's key number from a row or dict with mean, lo, hi and n."""
    return dict(name=name, unit=unit, mean=float(r["mean"]), lo=float(r["lo"]), hi=float(r["hi"]), n=int(r["n"]))


def accuracy_for_page(table: pd.DataFrame, index: list) -> pd.DataFrame:
    """An accuracy table as a page shows it: test accuracy (%, mean ± half-width), mean validation accuracy and the
    gain over random (points, paired interval), indexed by ``index``."""
    return pd.DataFrame({"test accuracy (%)": [fmt(r) for _, r in table.iterrows()],
                         "validation (%)": [f"{v * 100:.1f}" for v in table["val"]],
                         "gain over random": ["" if r["kind"] == "random" else
                                              points_text(r["gain"], r["gain_lo"], r["gain_hi"])
                                              for _, r in table.iterrows()],
                         "seeds": table["n"].astype(int).to_numpy()},
                        index=pd.MultiIndex.from_frame(table[index]))


def differences_for_page(diffs: pd.DataFrame, index: list) -> pd.DataFrame:
    """Paired differences (columns mean, lo, hi, n) as '+1.2 [-0.3, +2.7]' points, indexed by ``index``."""
    return pd.DataFrame({"difference (points, 95% interval)": [ci_text(r) for _, r in diffs.iterrows()],
                         "seeds": diffs["n"].astype(int).to_numpy()},
                        index=pd.MultiIndex.from_frame(diffs[index]))


def percentiles_for_page(t: pd.DataFrame, index: list) -> pd.DataFrame:
    """Mean difficulty percentiles (0-1, with intervals) as a page shows them, indexed by ``index``."""
    return pd.DataFrame({"mean difficulty percentile (50 = uniform)": [fmt(r, digits=0) for _, r in t.iterrows()],
                         "images": t["n"].astype(int).to_numpy()},
                        index=pd.MultiIndex.from_frame(t[index]))
