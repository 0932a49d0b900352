"""Chapter 02, performance saturation (the paper's claim 2): under SL+KD, at a fixed compute budget, a random subset
of any size comes close to the full training set trained with the same budget; under HL it does not.

Reproduction criterion (fixed before any number was seen): at every budget and every IPC >= ``min_ipc``, the
SL+KD ratio acc(IPC)/acc(full), paired by seed, is at least ``threshold`` on average, and exceeds the HL ratio
(the paired 95% interval of the difference lies above zero). All points: reproduced; some: partly; none: not.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import profile as prof
from ..analysis import by_seed, fmt, label_arms, paired_difference, status as status_rule, t_interval
from ..experiment import sweep
from ..profile import Profile

CHAPTER = "02_saturation"
LABEL = "ch-saturation"
TITLE = "Soft labels saturate: performance saturation under SL+KD"
CLAIM = ("Under SL+KD, at a fixed compute budget, accuracy approaches the full-data accuracy at the same budget "
         "whatever the subset's size; under HL it does not.")


tune = prof.kd_temperature      # the KD temperature chosen on validation (chapter 02's runs)


def configs(p: Profile, temperature: float) -> list:
    grid = [(b, ipc, p.arms) for b in p.budgets for ipc in [*p.ipcs, "full"]]
    grid += [(b, "full", p.full_arms) for b in p.full_budgets if b not in p.budgets]
    return [prof.subset_run(p, "random", temperature, ipc=ipc, **prof.arm(arm), budget=budget, seed=s)
            for budget, ipc, arms in grid for arm in arms for s in p.seeds]


def run(p: Profile, temperature: float, progress: bool = True) -> pd.DataFrame:
    return label_arms(sweep(configs(p, temperature), progress=progress, desc="saturation runs", store=p.store))


def describe(p: Profile, n_train: int) -> str:
    """The setup in a few Markdown lines, budgets in samples seen, steps and epochs of the full split."""
    budgets = ", ".join(f"{b:,} samples seen ({-(-b // p.batch):,} steps of {p.batch}; "
                        f"{b / n_train:.2f} epochs of the full split)" for b in p.budgets)
    return (f"- **Data**: `{p.dataset}`, {n_train:,} training images after the validation split "
            f"({p.val_per_class} per class)\n"
            f"- **Student**: `{p.model}`; **teacher**: `{p.teacher_model}`, {p.teacher_epochs:g} epochs\n"
            f"- **Budgets**: {budgets}; full-data curve also at {', '.join(f'{b:,}' for b in p.full_budgets)}\n"
            f"- **Subsets**: random, IPC {', '.join(map(str, p.ipcs))} and the full split\n"
            f"- **Arms**: {', '.join(p.arms)}; **seeds**: {', '.join(map(str, p.seeds))}; "
            f"**device**: `{p.device}`; **profile**: `{p.profile}`")


def accuracy_table(df: pd.DataFrame) -> pd.DataFrame:
    """Mean test accuracy and 95% interval per (budget, arm, IPC)."""
    rows = []
    for (budget, arm, ipc), g in df.groupby(["budget", "arm", "ipc_label"], sort=False):
        ci = t_interval(g["test_acc"])
        rows.append(dict(budget=budget, arm=arm, ipc=ipc, **ci,
                         epochs=float(g["epochs"].iloc[0]), steps=int(g["steps"].iloc[0])))
    return pd.DataFrame(rows)


def ratio_table(df: pd.DataFrame, p: Profile) -> pd.DataFrame:
    """Per (budget, arm, IPC): acc(IPC)/acc(full) paired by seed, and for the soft arms its difference to HL's."""
    rows = []
    for budget in p.budgets:
        ratios = {}
        for arm in p.arms:
            full = by_seed(df, budget=budget, arm=arm, ipc_label="full")
            for ipc in p.ipcs:
                sub = by_seed(df, budget=budget, arm=arm, ipc_label=ipc)
                ratios[arm, ipc] = {s: sub[s] / full[s] for s in sub if s in full and full[s] > 0}
                rows.append(dict(budget=budget, arm=arm, ipc=ipc, **t_interval(ratios[arm, ipc].values())))
        for row in rows:
            if row["budget"] == budget and row["arm"] != "HL" and ("HL", row["ipc"]) in ratios:
                d = paired_difference(ratios[row["arm"], row["ipc"]], ratios["HL", row["ipc"]])
                row.update(diff_vs_hl=d["mean"], diff_lo=d["lo"], diff_hi=d["hi"])
    return pd.DataFrame(rows)


def verdict(ratios: pd.DataFrame, df: pd.DataFrame, p: Profile) -> dict:
    """Apply the reproduction criterion of the module docstring to the SL+KD rows."""
    pts = ratios[(ratios["arm"] == "SL+KD") & (ratios["ipc"].astype(int) >= p.min_ipc)]
    if pts.empty or "SL+KD" not in p.arms or "HL" not in p.arms:
        return dict(status="inconclusive", sentence="The sweep lacks SL+KD, HL or an IPC >= min_ipc.",
                    details=[], key_numbers=[], points=[])
    points, details = [], []
    for _, r in pts.iterrows():
        near = r["mean"] >= p.threshold
        above = bool(np.isfinite(r["diff_lo"]) and r["diff_lo"] > 0)
        points.append(dict(budget=int(r["budget"]), ipc=int(r["ipc"]), near=bool(near), above_hl=above,
                           holds=bool(near and above)))
        details.append(f"budget {int(r['budget']):,}, IPC {int(r['ipc'])}: SL+KD reaches "
                       f"{fmt(r, 100)}% of full-data SL+KD (criterion >= {p.threshold:.0%}: "
                       f"{'met' if near else 'not met'}); SL+KD minus HL ratio {r['diff_vs_hl'] * 100:+.1f} points "
                       f"[{r['diff_lo'] * 100:+.1f}, {r['diff_hi'] * 100:+.1f}] "
                       f"({'above zero' if above else 'not distinguishable from zero or below'})")
    held = sum(pt["holds"] for pt in points)
    status = status_rule(held, len(points), len(p.seeds))
    sentence = (f"Saturation {status} at this scale: the criterion holds at {held} of {len(points)} "
                f"(budget, IPC >= {p.min_ipc}) points, with {len(p.seeds)} seeds per point.")
    key_numbers = [dict(name=f"SL+KD acc(IPC {int(r['ipc'])}) / acc(full), budget {int(r['budget']):,}",
                        **{k: r[k] for k in ("mean", "lo", "hi", "n")}) for _, r in pts.iterrows()]
    key_numbers += [dict(name=f"HL acc(IPC {int(r['ipc'])}) / acc(full), budget {int(r['budget']):,}",
                         **{k: r[k] for k in ("mean", "lo", "hi", "n")})
                    for _, r in ratios[(ratios["arm"] == "HL") & (ratios["ipc"].astype(int) >= p.min_ipc)].iterrows()]
    return dict(status=status, sentence=sentence, details=details, key_numbers=key_numbers, points=points)


def full_data_curve(df: pd.DataFrame) -> pd.DataFrame:
    """Full-data accuracy per (arm, budget): is the full-data reference trained, or still climbing?"""
    full = df[df["ipc_label"] == "full"]
    rows = [dict(arm=arm, budget=b, epochs=float(g["epochs"].iloc[0]), **t_interval(g["test_acc"]))
            for (arm, b), g in full.groupby(["arm", "budget"])]
    return pd.DataFrame(rows).sort_values(["arm", "budget"])


def reference_caveats(df: pd.DataFrame, p: Profile) -> list:
    """Is the full-data reference trained at each verdict budget? For each arm of the full-data curve, the gain
    (paired by seed) from that budget to the curve's largest budget; a gain above one point means the saturation
    ratio there is read against an under-trained reference (the pilot's trap)."""
    out = []
    top = max([*p.budgets, *p.full_budgets])
    for budget in p.budgets:
        for arm in p.full_arms:
            if budget == top:
                continue
            d = paired_difference(by_seed(df, budget=top, arm=arm, ipc_label="full"),
                                  by_seed(df, budget=budget, arm=arm, ipc_label="full"))
            if d["n"] and d["mean"] > 0.01:
                out.append(f"Caveat: full-data {arm} still gains {d['mean'] * 100:+.1f} points from budget "
                           f"{budget:,} to {top:,} (n={d['n']}); the ratio at {budget:,} compares subsets with an "
                           "under-trained reference.")
    return out


def analyse(df: pd.DataFrame, p: Profile) -> dict:
    ratios = ratio_table(df, p)
    v = verdict(ratios, df, p)
    v["details"] = v["details"] + reference_caveats(df, p)
    return dict(table=accuracy_table(df), ratios=ratios, curve=full_data_curve(df), verdict=v)
