"""The book's figure helpers: one colour per arm in every chapter (seaborn's colour-blind palette)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import seaborn as sns

_PAL = sns.color_palette("colorblind")
ARM_COLORS = {"HL": _PAL[0], "HL (AdamW)": _PAL[9], "SL": _PAL[1], "SL+KD": _PAL[2]}
ARM_MARKERS = {"HL": "o", "HL (AdamW)": "s", "SL": "^", "SL+KD": "D"}


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
    ax.set_xlabel("budget (samples seen)")
    ax.set_ylabel("full-data test accuracy (%)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig
