"""The book's figure helpers: one colour per arm in every chapter (seaborn's colour-blind palette)."""
from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import seaborn as sns
import torch

from .distill import NAMES
from .errors import DDLibError

_PAL = sns.color_palette("colorblind")
ARM_COLORS = {"HL": _PAL[0], "HL (AdamW)": _PAL[9], "SL": _PAL[1], "SL+KD": _PAL[2]}
ARM_MARKERS = {"HL": "o", "HL (AdamW)": "s", "SL": "^", "SL+KD": "D"}


# [issue 36] one colour per verdict, on the landing page's forest plot and its badges (book/_static/findings.css)
STATUS_COLORS = {"reproduced": _PAL[2], "partly reproduced": _PAL[1], "not reproduced": _PAL[3],
                 "inconclusive": _PAL[7]}


def style():
    sns.set_theme(context="notebook", style="whitegrid", font_scale=0.95)


def _ipc_positions(labels):
    """x positions for IPC labels: numbers on a log axis, 'full' one step past the largest."""
    nums = sorted({int(v) for v in labels if v != "full"})
    pos = {str(n): float(n) for n in nums}
    pos["full"] = (nums[-1] * 4.0) if nums else 1.0
    return pos


def accuracy_vs_ipc(table, budgets, arms, title_fmt="budget {b:,} samples seen"):
    """One panel per budget: mean test accuracy (95% interval) against IPC, one line per arm; the full training
    set is the last point on each line."""
    style()
    fig, axes = plt.subplots(1, len(budgets), figsize=(5.2 * len(budgets), 3.9), sharey=True, squeeze=False)
    pos = _ipc_positions(table["ipc"])
    for ax, b in zip(axes[0], budgets):
        for arm in arms:
            t = table[(table["budget"] == b) & (table["arm"] == arm)].copy()
            t["x"] = t["ipc"].map(pos)
            t = t.sort_values("x")
            ax.errorbar(t["x"], t["mean"] * 100, yerr=[(t["mean"] - t["lo"]).fillna(0) * 100,
                                                       (t["hi"] - t["mean"]).fillna(0) * 100],
                        color=ARM_COLORS.get(arm), marker=ARM_MARKERS.get(arm, "o"), ms=5, capsize=3, label=arm)
        ax.set_xscale("log")
        ax.set_xticks(list(pos.values()), [k for k in pos])
        ax.minorticks_off()
        ax.set_xlabel("images per class (IPC)")
        ax.set_title(title_fmt.format(b=b))
    axes[0][0].set_ylabel("test accuracy (%)")
    axes[0][-1].legend(loc="lower right", frameon=True)
    fig.tight_layout()
    return fig


def ratio_vs_ipc(ratios, budgets, arms, threshold):
    """acc(IPC)/acc(full) per arm, paired by seed, with the 'near-optimal' threshold drawn."""
    style()
    fig, axes = plt.subplots(1, len(budgets), figsize=(5.2 * len(budgets), 3.6), sharey=True, squeeze=False)
    for ax, b in zip(axes[0], budgets):
        for arm in arms:
            t = ratios[(ratios["budget"] == b) & (ratios["arm"] == arm)].sort_values("ipc")
            ax.errorbar(t["ipc"].astype(float), t["mean"] * 100,
                        yerr=[(t["mean"] - t["lo"]).fillna(0) * 100, (t["hi"] - t["mean"]).fillna(0) * 100],
                        color=ARM_COLORS.get(arm), marker=ARM_MARKERS.get(arm, "o"), ms=5, capsize=3, label=arm)
        ax.axhline(threshold * 100, color="0.4", ls="--", lw=1)
        ax.axhline(100, color="0.7", ls=":", lw=1)
        ax.set_xscale("log")
        ipcs = sorted(ratios["ipc"].astype(int).unique())
        ax.set_xticks(ipcs, [str(i) for i in ipcs])
        ax.minorticks_off()
        ax.set_xlabel("images per class (IPC)")
        ax.set_title(f"budget {b:,} samples seen")
    axes[0][0].set_ylabel("% of full-data accuracy")
    axes[0][-1].legend(loc="lower right", frameon=True)
    fig.tight_layout()
    return fig


def full_data_curve(curve, arms):
    """Full-data test accuracy against budget: where does the full-data reference stop improving?"""
    style()
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    for arm in arms:
        t = curve[curve["arm"] == arm].sort_values("budget")
        ax.errorbar(t["budget"], t["mean"] * 100, yerr=[(t["mean"] - t["lo"]).fillna(0) * 100,
                                                        (t["hi"] - t["mean"]).fillna(0) * 100],
                    color=ARM_COLORS.get(arm), marker=ARM_MARKERS.get(arm, "o"), ms=5, capsize=3, label=arm)
    ax.set_xscale("log")
    budgets = sorted(curve["budget"].unique())
    ax.set_xticks(budgets, [f"{int(b):,}" for b in budgets])
    ax.minorticks_off()
    ax.set_xlabel("budget (samples seen)")
    ax.set_ylabel("full-data test accuracy (%)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


# --- chapter 01: selectors against random under each label regime ------------------------------------------------
# Selectors get their own colours, taken from the colour-blind palette's entries the arms do not use; random, the
# baseline, is grey and dashed everywhere.
SELECTOR_COLORS = {"random": _PAL[7], "herding": _PAL[4], "kcenter": _PAL[5], "el2n": _PAL[3], "forgetting": _PAL[6],
                   "aum": _PAL[8], "ccs": (0.0, 0.0, 0.0), "window": _PAL[1], "dyn_unc": _PAL[2],
                   "cad": _PAL[0]}
SELECTOR_MARKERS = {"random": "o", "herding": "s", "kcenter": "P", "el2n": "v", "forgetting": "X", "aum": "<",
                    "ccs": "D", "window": ">", "dyn_unc": "*", "cad": "h"}


def _yerr(t, scale=100.0):
    return [(t["mean"] - t["lo"]).fillna(0) * scale, (t["hi"] - t["mean"]).fillna(0) * scale]


def _log_ipc_axis(ax, ipcs):
    ax.set_xscale("log")
    ax.set_xticks(ipcs, [str(i) for i in ipcs])
    ax.minorticks_off()
    ax.set_xlabel("images per class (IPC)")


def accuracy_by_selector(table, budgets, arms, selectors):
    """One panel per arm (columns) and budget (rows): mean test accuracy (95% interval) against IPC, one line per
    selector; random dashed. ``table``: rows with budget, arm, selector, ipc, mean, lo, hi."""
    style()
    fig, axes = plt.subplots(len(budgets), len(arms), figsize=(2.9 * len(arms), 3.4 * len(budgets)), sharey=True,
                             squeeze=False)
    ipcs = sorted(table["ipc"].astype(int).unique())
    for row, b in zip(axes, budgets):
        for ax, arm in zip(row, arms):
            for sel in selectors:
                t = table[(table["budget"] == b) & (table["arm"] == arm) & (table["selector"] == sel)]
                t = t.sort_values("ipc")
                ax.errorbar(t["ipc"].astype(float), t["mean"] * 100, yerr=_yerr(t), capsize=3, ms=5,
                            color=SELECTOR_COLORS.get(sel), marker=SELECTOR_MARKERS.get(sel, "o"),
                            ls="--" if sel == "random" else "-", label=sel)
            _log_ipc_axis(ax, ipcs)
            ax.set_title(arm + (f", budget {b:,}" if len(budgets) > 1 else ""), color=ARM_COLORS.get(arm))
        row[0].set_ylabel("test accuracy (%)")
    lo, hi = axes[0][0].get_ylim()
    axes[0][0].set_ylim(max(lo, 0.0), min(hi, 100.0))   # an interval past 0 or 100% (few seeds) is cut at the frame
    axes[0][-1].legend(loc="lower right", frameon=True)
    fig.tight_layout()
    return fig



def _budget_title(ax, b, budgets) -> None:
    """A panel's title names its budget when the figure has more than one."""
    if len(budgets) > 1:
        ax.set_title(f"budget {b:,} samples seen")


def _finish(fig, axes, ylabel: str):
    """The y label on the first panel, the legend on the last, a tight layout."""
    axes[0][0].set_ylabel(ylabel)
    axes[0][-1].legend(loc="best", frameon=True)
    fig.tight_layout()
    return fig


def gain_by_regime(best, budgets, arms):
    """One panel per budget: the best coreset's test gain over random (accuracy points, paired 95% interval)
    per IPC, one marker per arm side by side, the selector chosen on validation written above each point."""
    style()
    fig, axes = plt.subplots(1, len(budgets), figsize=(6.0 * len(budgets), 3.9), sharey=True, squeeze=False)
    ipcs = sorted(best["ipc"].astype(int).unique())
    width = 0.8 / max(1, len(arms))
    for ax, b in zip(axes[0], budgets):
        for j, arm in enumerate(arms):
            t = best[(best["budget"] == b) & (best["arm"] == arm)].sort_values("ipc")
            x = [ipcs.index(int(i)) + (j - (len(arms) - 1) / 2) * width for i in t["ipc"]]
            ax.errorbar(x, t["mean"] * 100, yerr=_yerr(t), fmt=ARM_MARKERS.get(arm, "o"), ms=6, capsize=4,
                        color=ARM_COLORS.get(arm), label=arm)
            for xi, (_, r) in zip(x, t.iterrows()):
                top = r["hi"] if r["hi"] == r["hi"] else r["mean"]
                ax.annotate(r["best"], (xi, top * 100), textcoords="offset points", xytext=(0, 4), ha="center",
                            fontsize=7, color="0.3")
        ax.axhline(0, color="0.4", lw=1)
        ax.set_xticks(range(len(ipcs)), [str(i) for i in ipcs])
        ax.set_xlabel("images per class (IPC)")
        _budget_title(ax, b, budgets)
    return _finish(fig, axes, "best coreset minus random\n(test accuracy points)")


def views_dial(dial, budgets, selectors):
    """The k dial, one panel per budget: gain over random (accuracy points, paired 95% interval) against k stored
    labelled views per image on a log axis; classic SL (one label from the clean image) drawn at the left end and
    SL+KD (a fresh label per view) at the right end, in their arms' colours."""
    style()
    fig, axes = plt.subplots(1, len(budgets), figsize=(6.0 * len(budgets), 3.7), sharey=True, squeeze=False)
    for ax, b in zip(axes[0], budgets):
        d = dial[dial["budget"] == b]
        ks = sorted(int(k) for k in d["k"].unique() if 0 < k < float("inf"))
        lo_x = (ks[0] / 3.0) if ks else 0.5
        hi_x = (ks[-1] * 3.0) if ks else 2.0
        pos = {0: lo_x, float("inf"): hi_x, **{k: float(k) for k in ks}}
        for sel in selectors:
            t = d[d["selector"] == sel].sort_values("k")
            if t.empty:
                continue
            mid = t[t["k"].between(1, float("inf"), inclusive="left")]
            ax.errorbar(mid["k"].astype(float), mid["mean"] * 100, yerr=_yerr(mid), capsize=3, ms=5,
                        color=SELECTOR_COLORS.get(sel), marker=SELECTOR_MARKERS.get(sel, "o"),
                        label=f"{sel}, SL k views")
            for k, arm in ((0, "SL"), (float("inf"), "SL+KD")):
                e = t[t["k"] == k]
                if len(e):
                    ax.errorbar([pos[k]], e["mean"] * 100, yerr=_yerr(e), capsize=4, ms=7, color=ARM_COLORS[arm],
                                marker=ARM_MARKERS[arm], ls="none",
                                label=f"{sel}, {arm}" if len(selectors) > 1 else arm)
            ax.plot([pos[k] for k in t["k"]], t["mean"] * 100, color=SELECTOR_COLORS.get(sel), lw=0.8, ls=":")
        ax.axhline(0, color="0.4", lw=1)
        ax.set_xscale("log")
        ax.set_xticks([lo_x, *map(float, ks), hi_x], ["SL", *map(str, ks), "SL+KD"])
        ax.minorticks_off()
        ax.set_xlabel("stored labelled views per image (k)")
        _budget_title(ax, b, budgets)
    return _finish(fig, axes, "coreset minus random\n(test accuracy points)")


# --- chapter 03: distilled sets next to random and the coresets ---------------------------------------------------
# Distillers get the dark palette, so they never share a colour with a selector or an arm.
_DARK = sns.color_palette("dark")
METHOD_COLORS = {"dm": _DARK[0], "dc": _DARK[1], "mtt": _DARK[2], "sre2l": _DARK[3], "rded": _DARK[4],
                 "ca2d": _DARK[9]}


def set_color(name):
    """The colour of a set in every chapter-03 figure: a selector's or a distiller's."""
    return SELECTOR_COLORS.get(name) or METHOD_COLORS.get(name, (0.3, 0.3, 0.3))


def _panels(table, budgets, ipcs):
    return [(b, i) for b in budgets for i in ipcs if len(table[(table["budget"] == b) & (table["ipc"] == i)])]


def _panel_title(b, ipc, budgets):
    return f"IPC {ipc}" + (f", budget {b:,}" if len(budgets) > 1 else "")


def accuracy_by_method(table, budgets, ipcs, arms):
    """One panel per (budget, IPC): mean test accuracy (95% interval) of every set (random, coresets, distilled
    sets), one marker per arm side by side; a dashed line per arm at the random subset's mean."""
    style()
    panels = _panels(table, budgets, ipcs)
    fig, axes = plt.subplots(1, len(panels), figsize=(7.0 * len(panels), 3.9), sharey=True, squeeze=False)
    width = 0.7 / max(1, len(arms))
    for ax, (b, ipc) in zip(axes[0], panels):
        t = table[(table["budget"] == b) & (table["ipc"] == ipc)]
        methods = list(dict.fromkeys(t["method"]))
        for j, arm in enumerate(arms):
            a = t[t["arm"] == arm].set_index("method").reindex(methods).dropna(subset=["mean"])
            x = [methods.index(m) + (j - (len(arms) - 1) / 2) * width for m in a.index]
            ax.errorbar(x, a["mean"] * 100, yerr=_yerr(a), fmt=ARM_MARKERS.get(arm, "o"), ms=6, capsize=3,
                        color=ARM_COLORS.get(arm), label=arm)
            if "random" in a.index:
                ax.axhline(a.loc["random", "mean"] * 100, color=ARM_COLORS.get(arm), ls="--", lw=1)
        kinds = t.drop_duplicates("method").set_index("method")["kind"]
        ax.set_xticks(range(len(methods)), [NAMES.get(m, m) if kinds[m] == "distilled" else m for m in methods],
                      rotation=35, ha="right", rotation_mode="anchor")
        ax.set_title(_panel_title(b, ipc, budgets))
    return _finish(fig, axes, "test accuracy (%)")


def rank_shift(ranks, budgets, ipcs, arms):
    """One panel per (budget, IPC): each set's rank (1 = best mean test accuracy) under each arm, joined by a line,
    so a method that leads under soft labels and falls under hard labels shows as a falling line."""
    style()
    panels = _panels(ranks, budgets, ipcs)
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4.2), squeeze=False)
    for ax, (b, ipc) in zip(axes[0], panels):
        t = ranks[(ranks["budget"] == b) & (ranks["ipc"] == ipc)]
        for m, r in t.groupby("method", sort=False):
            r = r.set_index("arm").reindex(arms).dropna(subset=["rank"])
            x = [arms.index(a) for a in r.index]
            ax.plot(x, r["rank"], marker="o", color=set_color(m), ls="--" if m == "random" else "-")
            for side, (xi, rank) in ((-1, (x[0], r["rank"].iloc[0])), (1, (x[-1], r["rank"].iloc[-1]))):
                ax.annotate(NAMES.get(m, m), (xi, rank), textcoords="offset points", xytext=(7 * side, 0),
                            va="center", ha="left" if side > 0 else "right", fontsize=8, color="0.15")
        ax.set_xticks(range(len(arms)), arms)
        ax.set_xlim(-0.6, len(arms) - 0.4)
        ax.invert_yaxis()
        ax.set_ylabel("rank (1 = best)")
        ax.set_title(_panel_title(b, ipc, budgets))
    fig.tight_layout()
    return fig


def picks_difficulty(picks, budgets, ipcs):
    """One panel per (budget, IPC): the cumulative distribution of the difficulty percentile (within the class, by
    the scoring run's EL2N, a score RDED did not optimise) of the images each set was built from. The diagonal is
    what a uniform draw gives; a curve above it leans on easy images."""
    style()
    panels = _panels(picks, budgets, ipcs)
    fig, axes = plt.subplots(1, len(panels), figsize=(5.0 * len(panels), 3.9), squeeze=False)
    for ax, (b, ipc) in zip(axes[0], panels):
        t = picks[(picks["budget"] == b) & (picks["ipc"] == ipc)]
        t = t.assign(set=t["method"].map(lambda m: NAMES.get(m, m)))
        sns.ecdfplot(data=t, x="percentile", hue="set", ax=ax,
                     palette={NAMES.get(m, m): set_color(m) for m in t["method"].unique()})
        ax.plot([0, 1], [0, 1], color="0.5", lw=1, ls=":")
        ax.set_xlabel("difficulty percentile in its class (0 = easiest)")
        ax.set_ylabel("share of picked images")
        ax.set_title(_panel_title(b, ipc, budgets))
    fig.tight_layout()
    return fig


# --- the audit of a user's set (ddlib.audit) ----------------------------------------------------------------------
AUDIT_COLORS = {"set": _PAL[3], "random": SELECTOR_COLORS["random"], "herding": SELECTOR_COLORS["herding"]}
AUDIT_MARKERS = {"set": "*", "random": "o", "herding": "s"}


def audit_accuracy(table, arms=("HL", "SL", "SL+KD"), methods=("set", "random", "herding")):
    """One panel per arm: test accuracy (mean, 95% interval over seeds) of the audited set, the random subsets and
    the herding coreset; random's mean drawn across the panel, dashed. ``table``: ddlib.audit.accuracy_table."""
    style()
    arms = [a for a in arms if (table["arm"] == a).any()]
    fig, axes = plt.subplots(1, len(arms), figsize=(3.3 * len(arms), 3.7), sharey=True, squeeze=False)
    for ax, arm in zip(axes[0], arms):
        t = table[table["arm"] == arm].set_index("method")
        present = [m for m in methods if m in t.index]
        for i, m in enumerate(present):
            r = t.loc[[m]]
            ax.errorbar([i], r["mean"] * 100, yerr=_yerr(r), fmt=AUDIT_MARKERS.get(m, "o"), ms=9 if m == "set" else 6,
                        capsize=4, color=AUDIT_COLORS.get(m), label=m)
        if "random" in t.index:
            ax.axhline(t.loc["random", "mean"] * 100, color=AUDIT_COLORS["random"], ls="--", lw=1)
        ax.set_xticks(range(len(present)), present)
        ax.set_xlim(-0.6, len(present) - 0.4)
        ax.set_title(arm, color=ARM_COLORS.get(arm))
    axes[0][0].set_ylabel("test accuracy (%)")
    fig.tight_layout()
    return fig


def audit_gains(table, arms=("HL", "SL", "SL+KD"), methods=("set", "herding")):
    """Gain over random (test accuracy points, paired 95% interval) of the audited set and the herding coreset under
    each arm, side by side; zero is the random subset."""
    style()
    fig, ax = plt.subplots(figsize=(5.6, 3.6))
    arms = [a for a in arms if (table["arm"] == a).any()]
    width = 0.36
    for j, m in enumerate(methods):
        t = table[table["method"] == m].set_index("arm").reindex(arms).dropna(subset=["gain"])
        if t.empty:
            continue
        x = [arms.index(a) + (j - (len(methods) - 1) / 2) * width for a in t.index]
        g = t[["gain", "gain_lo", "gain_hi"]].set_axis(["mean", "lo", "hi"], axis=1)
        ax.errorbar(x, g["mean"] * 100, yerr=_yerr(g), fmt=AUDIT_MARKERS.get(m, "o"), ms=9 if m == "set" else 6,
                    capsize=4, color=AUDIT_COLORS.get(m), label=m)
    ax.axhline(0, color="0.4", lw=1)
    ax.set_xticks(range(len(arms)), arms)
    ax.set_ylabel("minus random\n(test accuracy points)")
    ax.legend(loc="best", frameon=True)
    fig.tight_layout()
    return fig


# --- chapters 04 and 05: difficulty against compute, CAD-Prune and CA2D -------------------------------------------

def difficulty_heatmap(table, best, ipcs):
    """One panel per IPC: mean test accuracy (%) of subsets drawn from each difficulty bin (columns, easiest first)
    at each budget (rows); the bin chosen on validation at each budget is framed."""
    style()
    fig, axes = plt.subplots(1, len(ipcs), figsize=(5.6 * len(ipcs), 0.9 + 0.8 * table["budget"].nunique()),
                             squeeze=False)
    for ax, ipc in zip(axes[0], ipcs):
        t = table[(table["ipc"] == ipc) & (table["bin"] >= 0)]
        grid = t.pivot(index="budget", columns="bin", values="mean") * 100
        names = t.drop_duplicates("bin").set_index("bin")["name"]
        sns.heatmap(grid, annot=True, fmt=".1f", cmap="viridis", cbar_kws={"label": "test accuracy (%)"}, ax=ax,
                    xticklabels=[names[k] for k in grid.columns], yticklabels=[f"{b:,}" for b in grid.index])
        for _, r in best[best["ipc"] == ipc].iterrows():
            ax.add_patch(plt.Rectangle((list(grid.columns).index(r["bin"]), list(grid.index).index(r["budget"])),
                                       1, 1, fill=False, edgecolor="black", lw=2.5))
        ax.set_xlabel("difficulty bin (quantiles of the class, easiest first)")
        ax.set_ylabel("budget (samples seen)")
        ax.set_title(f"IPC {ipc}")
    fig.tight_layout()
    return fig


def difficulty_placement(picks, ipcs):
    """One panel per IPC: the cumulative distribution of the difficulty percentile of each set's images; the
    diagonal is a uniform draw, a curve above it leans on easy images, below it on hard ones."""
    style()
    fig, axes = plt.subplots(1, len(ipcs), figsize=(5.4 * len(ipcs), 3.9), squeeze=False)
    for ax, ipc in zip(axes[0], ipcs):
        t = picks[picks["ipc"] == ipc]
        sets = list(dict.fromkeys(t["set"]))
        pal = dict(zip(sets, sns.color_palette("colorblind", len(sets))))
        sns.ecdfplot(data=t, x="percentile", hue="set", hue_order=sets, palette=pal, ax=ax)
        ax.plot([0, 1], [0, 1], color="0.5", lw=1, ls=":")
        ax.set_xlabel("difficulty percentile in its class (0 = easiest)")
        ax.set_ylabel("share of picked images")
        ax.set_title(f"IPC {ipc}")
    fig.tight_layout()
    return fig


KIND_COLORS = {"random": SELECTOR_COLORS["random"], "coreset": SELECTOR_COLORS["herding"], "bin": _PAL[1],
               "distilled": _DARK[7], "compute-aligned": _PAL[0]}


def cad_accuracy(table, budgets, ipcs):
    """One panel per (budget, IPC): every set's mean test accuracy under HL (95% interval), coloured by kind
    (coreset, difficulty bin, DD method, CAD-Prune/CA2D); the dashed line is the random subset."""
    style()
    panels = _panels(table, budgets, ipcs)
    fig, axes = plt.subplots(1, len(panels), figsize=(6.4 * len(panels), 4.2), sharey=True, squeeze=False)
    for ax, (b, ipc) in zip(axes[0], panels):
        t = table[(table["budget"] == b) & (table["ipc"] == ipc)].reset_index(drop=True)
        for i, r in t.iterrows():
            ax.errorbar([i], [r["mean"] * 100], yerr=_yerr(t.iloc[[i]]), fmt="o", ms=6, capsize=3,
                        color=KIND_COLORS.get(r["kind"], "0.3"))
        rnd = t[t["method"] == "random"]
        if len(rnd):
            ax.axhline(rnd["mean"].iloc[0] * 100, color=KIND_COLORS["random"], ls="--", lw=1)
        ax.set_xticks(range(len(t)), t["name"], rotation=60, ha="right")
        ax.set_title(f"budget {b:,}, IPC {ipc}")
    axes[0][0].set_ylabel("test accuracy, HL (%)")
    handles = [plt.Line2D([], [], color=c, marker="o", ls="", label=k) for k, c in KIND_COLORS.items()]
    axes[0][-1].legend(handles=handles, loc="lower right", frameon=True, fontsize=8)
    fig.tight_layout()
    return fig


# --- the sets themselves (chapters 03 and 05, the audit report) ----------------------------------------------

GRID_INCH = 0.55   # one image's side in the grids, in inches


def image_grid(images, labels, class_names, per_class=10, classes=None, fig=None, title="", columns=1):
    """One set's images [issue 36]: a row per class in ``classes`` (indices; default every class), its first
    ``per_class`` images in the set's order, one panel each, in pixel units as the set stores them; grey (1 channel)
    or RGB (3). Pixels outside [0, 1] (a distiller's unclipped tensor) are clipped for display only, and the title
    gives the share of the shown pixels that were. ``fig``: a Figure or SubFigure to draw in (default a new one);
    ``columns``: at least this many panels to a row, blank after the class's last image (grids side by side line up)."""
    x, y = torch.as_tensor(images).detach().float().cpu(), torch.as_tensor(labels).cpu()
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise DDLibError(f"images must be [N, C, H, W] with 1 (grey) or 3 (RGB) channels, got {tuple(x.shape)}")
    classes = list(range(len(class_names)) if classes is None else classes)
    rows = [x[y == c][:per_class] for c in classes]
    cols = max([len(r) for r in rows] + [columns])
    if fig is None:
        fig = plt.figure(figsize=(GRID_INCH * cols + 1.2, GRID_INCH * len(classes) + 0.7), layout="constrained")
    axes = fig.subplots(len(classes), cols, squeeze=False)
    for c, row, axs in zip(classes, rows, axes):
        for img, ax in zip(row, axs):
            img = img.clamp(0, 1)
            if img.shape[0] == 1:
                ax.imshow(img[0].numpy(), cmap="gray", vmin=0, vmax=1)
            else:
                ax.imshow(img.permute(1, 2, 0).numpy())
        for ax in axs:
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            ax.set_frame_on(False)
        axs[0].set_ylabel(textwrap.shorten(str(class_names[c]), 14), rotation=0, ha="right", va="center",
                          fontsize=8)
    shown = torch.cat(rows) if any(len(r) for r in rows) else x[:0]
    outside = float(((shown < 0) | (shown > 1)).float().mean()) if shown.numel() else 0.0
    title += f" ({outside:.1%} of pixels outside [0,\u00a01], clipped)" if outside else ""   # "[0, 1]" not broken
    letters = max(12, int(fig.bbox.width / fig.dpi / 0.07))     # a 9-point letter is about 0.07 inch wide
    fig.suptitle(textwrap.fill(title, letters), fontsize=9)
    return fig


def set_grids(gallery, ncols=2):
    """Several sets side by side, an :func:`image_grid` each, from a ``ddlib.gallery.Gallery``: ``ncols`` sets to a
    row, each showing the gallery's classes with up to ``per_class`` images (the figure as wide as the most shown)."""
    n = len(gallery.sets)
    if not n:
        raise DDLibError(f"no set to draw: {gallery.note}")
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    k = len(gallery.classes)
    cols = max([min(gallery.per_class, int((torch.as_tensor(s.labels) == c).sum())) for s in gallery.sets.values()
                for c in gallery.classes] + [1])
    fig = plt.figure(figsize=(ncols * (GRID_INCH * cols + 1.2), nrows * (GRID_INCH * k + 0.7)), layout="constrained")
    subs = fig.subfigures(nrows, ncols, squeeze=False).flat
    for sub, (title, s) in zip(subs, gallery.sets.items()):
        image_grid(s.images, s.labels, s.class_names, gallery.per_class, gallery.classes, fig=sub, title=title,
                   columns=cols)
    return fig


# --- the landing page ----------------------------------------------------------------------------------------

def findings_forest(summaries):
    """The landing page's forest plot [issue 36]: per chapter summary, the number its verdict turns on (its
    ``deciding``: mean and 95% interval) drawn as its distance above the line the claim must clear (0: on the line),
    in points (of accuracy, or of full-data accuracy for a share), coloured by the chapter's verdict."""
    style()
    rows = [s for s in summaries if s.get("deciding")]
    fig, ax = plt.subplots(figsize=(7.5, 1.1 + 0.75 * max(len(rows), 1)))
    if not rows:
        ax.text(0.5, 0.5, "No chapter has a deciding number yet.", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    labels = []
    for y, s in enumerate(rows):
        d = s["deciding"]
        m, lo, hi = ((d[k] - d["threshold"]) * 100 for k in ("mean", "lo", "hi"))
        err = [[m - lo], [hi - m]] if lo == lo else None        # one seed: no interval
        ax.errorbar([m], [y], xerr=err, fmt="o", ms=7, capsize=4, lw=2, color=STATUS_COLORS[s["status"]])
        ax.annotate(f"{m:+.1f}", (m, y), xytext=(0, 7), textcoords="offset points", ha="center", fontsize=8)
        labels.append(textwrap.fill(s["title"], 48) + "\n" + textwrap.fill(f"{d['name']}, against {d['against']}", 48))
    ax.axvline(0, color="0.3", ls="--", lw=1)
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlabel("points above the line the claim must clear (95% interval)")
    shown = [st for st in STATUS_COLORS if any(s["status"] == st for s in rows)]
    ax.legend([plt.Line2D([], [], marker="o", ls="", color=STATUS_COLORS[st]) for st in shown], shown,
              loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(shown), frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


# --- the teaching chapter (pitfalls) --------------------------------------------------------------------------

def _hbars(ax, labels, means, los, his, colors, xlabel):
    """Horizontal bars with 95% interval whiskers (points), a zero line."""
    y = range(len(labels))
    err = [[m - lo for m, lo in zip(means, los)], [hi - m for m, hi in zip(means, his)]]
    ax.barh(list(y), means, xerr=err, color=colors, capsize=3)
    ax.set_yticks(list(y), labels)
    ax.axvline(0, color="0.3", lw=0.8)
    ax.set_xlabel(xlabel)


def pitfall_inflation(t):
    """Pitfall 1: per source, the 'gain' a DD paper reports (SL+KD minus random HL) beside the part the teacher adds
    to the same images (its SL+KD minus its HL), in points with 95% intervals."""
    style()
    fig, ax = plt.subplots(figsize=(7.5, 0.5 + 0.55 * len(t) * 2))
    labels, m, lo, hi, col = [], [], [], [], []
    for _, r in t.iterrows():
        name = NAMES.get(r["method"], r["method"])
        for what, key, c in (("reported gain", "reported", ARM_COLORS["SL+KD"]), ("teacher's part", "teacher",
                                                                                  ARM_COLORS["SL"])):
            labels.append(f"{name}: {what}")
            m.append(r[key] * 100), lo.append(r[f"{key}_lo"] * 100), hi.append(r[f"{key}_hi"] * 100), col.append(c)
    _hbars(ax, labels, m, lo, hi, col, "accuracy points (95% interval over seeds)")
    ax.invert_yaxis()
    fig.tight_layout()
    return fig


def pitfall_compute(c):
    """Pitfall 2: the gain of a bigger subset at fixed epochs and at fixed samples seen, and the difference."""
    style()
    fig, ax = plt.subplots(figsize=(7.5, 0.6 + 0.5 * len(c)))
    colors = {"fixed epochs": _PAL[3], "fixed samples seen": _PAL[0]}
    _hbars(ax, [f"{r['pair']}, {r['what']}" for _, r in c.iterrows()], list(c["mean"] * 100), list(c["lo"] * 100),
           list(c["hi"] * 100), [colors.get(w, _PAL[7]) for w in c["what"]], "accuracy points (95% interval)")
    ax.invert_yaxis()
    fig.tight_layout()
    return fig


def pitfall_test_selection(t):
    """Pitfall 3: per seed, the test accuracy of the validation choice and the best test accuracy of the grid."""
    style()
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for _, r in t.iterrows():
        ax.plot([0, 1], [r["chosen_on_validation"] * 100, r["selected_on_test"] * 100], color="0.6", lw=1)
    ax.scatter([0] * len(t), t["chosen_on_validation"] * 100, color=_PAL[0], zorder=3, label="chosen on validation")
    ax.scatter([1] * len(t), t["selected_on_test"] * 100, color=_PAL[3], zorder=3, label="best on the test set")
    ax.set_xticks([0, 1], ["chosen on validation", "best on the test set"])
    ax.set_xlim(-0.4, 1.4)
    ax.set_ylabel("test accuracy (%)")
    fig.tight_layout()
    return fig


def pitfall_seeds(s):
    """Pitfall 4: the share of n-seed comparisons that name the other winner, and their interval half-width."""
    style()
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.4))
    err = [(s["mean"] - s["lo"].clip(lower=0)) * 100, (s["hi"].clip(upper=1) - s["mean"]) * 100]
    axes[0].errorbar(s["seeds"], s["mean"] * 100, yerr=err, marker="o", color=_PAL[3], capsize=3)
    axes[0].set_xlabel("seeds per comparison")
    axes[0].set_ylabel("names the other winner (%)")
    h = s[s["half_width"].notna()]
    axes[1].plot(h["seeds"], h["half_width"] * 100, marker="o", color=_PAL[0])
    axes[1].set_xlabel("seeds per comparison")
    axes[1].set_ylabel("95% interval half-width (points)")
    fig.tight_layout()
    return fig


def pitfall_class_order(order):
    """Pitfall 5: SL test accuracy on the same sets with soft labels in the right and in another class order."""
    style()
    fig, ax = plt.subplots(figsize=(6.5, 2.4))
    acc = order["accuracy"]
    names = [o for o in ("ordered", "shuffled") if o in acc]
    _hbars(ax, [f"soft labels {'in the dataset order' if o == 'ordered' else 'in another class order'} "
                f"(agreement {order['agreement'].get(o, float('nan')):.0%})" for o in names],
           [acc[o]["mean"] * 100 for o in names], [acc[o]["lo"] * 100 for o in names],
           [acc[o]["hi"] * 100 for o in names], [ARM_COLORS["SL"], _PAL[3]], "SL test accuracy (%)")
    ax.invert_yaxis()
    fig.tight_layout()
    return fig


def pitfall_draws(df, draw):
    """Pitfall 6: every random draw's HL test accuracy per IPC, the mean's 95% interval (thick) and one draw's 95%
    prediction interval (thin)."""
    style()
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for i, (_, r) in enumerate(draw.iterrows()):
        pts = df[(df["ipc"].astype(str) == str(r["ipc"]))]["test_acc"] * 100
        ax.scatter([i] * len(pts), pts, color="0.4", s=14, zorder=3)
        ax.errorbar([i + 0.15], [r["mean"] * 100], yerr=[[r["one_draw_half"] * 100]], color=_PAL[3], capsize=4,
                    lw=1, label="one draw (95% prediction)" if i == 0 else None)
        ax.errorbar([i + 0.3], [r["mean"] * 100], yerr=[[(r["hi"] - r["lo"]) / 2 * 100]], color=_PAL[0], capsize=4,
                    lw=2.5, label="mean over draws (95% interval)" if i == 0 else None)
    ax.set_xticks(range(len(draw)), [f"IPC {int(i)}" for i in draw["ipc"]])
    ax.set_ylabel("random subset, HL test accuracy (%)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig
