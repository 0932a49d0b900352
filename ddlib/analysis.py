"""What every chapter and the audit compute from a sweep's rows: confidence intervals over seeds, per-seed lookups,
gains over a baseline paired by seed, the choice made on the validation split, the status rule, and how a
difference is written. Comparisons are paired by seed: the same seed draws the same subset, init and augmentation
stream in every arm, so a per-seed difference removes most of the subset-draw noise.

Rules shared by every verdict (fixed before any number was seen):
- a comparison is paired by seed (:func:`paired_difference`) with a 95% t interval;
- a choice (best coreset, best bin, temperature, CAD-Prune's candidate) is made on VALIDATION accuracy, ties to the
  first listed; the test set never picks anything;
- each point's outcome is decided by an interval (:func:`outcome`): the claim *holds* (its interval clears the
  claimed side), is *refuted* (the interval excludes the claimed effect) or stays *open*; the chapter's status
  follows from the outcomes (:func:`verdict_status`): *not reproduced* needs a refutation, never just an interval
  that includes zero, and "no convincing gain" is an equivalence test against a stated margin
  (:func:`equivalent`, :func:`no_convincing_gain`); a "beats" claim holds above zero and is refuted when its
  interval lies under the margin (:func:`beats`), so that a false claim can be refuted [issue 34];
- a verdict read from several intervals reads each at the Bonferroni level of their number (:func:`family_level`,
  :func:`at_level`) and says so (:func:`family_text`) [issue 34];
- before a verdict its gates are checked from the data (:func:`gate`); a failed gate makes the verdict
  *inconclusive at this scale*, with its numbers (:func:`gated`);
- each verdict states the smallest effect its seeds can detect (:func:`detectable_effect`) [issue 12].
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats as _st
from scipy.optimize import brentq as _brentq

from . import regimes

LEVEL = 0.95
POWER = 0.80                 # [standard: Cohen] the power at which the detectable effect is stated
MARGIN = 0.01                # [ours, issue 12] equivalence margin: a gain under 1 accuracy point is no convincing gain


def t_interval(values, level: float = LEVEL) -> dict:
    """Mean and two-sided t interval of ``values`` (NaN bounds for fewer than two values)."""
    v = np.asarray(list(values), dtype=float)
    v = v[np.isfinite(v)]
    n = len(v)
    if n == 0:
        return dict(mean=math.nan, lo=math.nan, hi=math.nan, n=0)
    mean = float(v.mean())
    if n < 2:
        return dict(mean=mean, lo=math.nan, hi=math.nan, n=n)
    half = float(_st.t.ppf(0.5 + level / 2, n - 1) * v.std(ddof=1) / math.sqrt(n))
    return dict(mean=mean, lo=mean - half, hi=mean + half, n=n)


def paired_difference(a: dict, b: dict, level: float = LEVEL) -> dict:
    """t interval of a[seed] - b[seed] over the seeds both have."""
    seeds = sorted(set(a) & set(b))
    return t_interval([a[s] - b[s] for s in seeds], level)


def fmt(ci: dict, scale: float = 100.0, digits: int = 1) -> str:
    """'84.2 ± 1.3' (half-width of the interval), or just the mean when there is no interval."""
    if not np.isfinite(ci["lo"]):
        return f"{ci['mean'] * scale:.{digits}f}"
    return f"{ci['mean'] * scale:.{digits}f} ± {(ci['hi'] - ci['lo']) / 2 * scale:.{digits}f}"



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


def survival_table(table: pd.DataFrame, soft_arms, by: tuple = ()) -> pd.DataFrame:
    """DD-Ranking's question: of each set's gain over random under a soft-label arm, how much is left under HL?
    Per (``by``..., method) and soft arm: both gains and ``share`` = gain_HL / gain_soft, defined (else NaN) only
    where the soft-label gain's interval lies above zero (a share of a lead not shown to exist is noise: a soft gain
    near zero gives shares in the thousands of percent). ``table`` has columns arm, method, gain, gain_lo (and
    ``by``); random is left out."""
    rows = []
    for arm in soft_arms:
        for key, t in table[table["method"] != "random"].groupby([*by, "method"], sort=False):
            hl, soft = t[t["arm"] == "HL"], t[t["arm"] == arm]
            if hl.empty or soft.empty:
                continue
            g_hl, g_soft = float(hl["gain"].iloc[0]), float(soft["gain"].iloc[0])
            shown = float(soft["gain_lo"].iloc[0]) > 0
            rows.append(dict(zip([*by, "method"], key if isinstance(key, tuple) else (key,)), soft_arm=arm,
                             gain_soft=g_soft, gain_hl=g_hl, share=g_hl / g_soft if shown else np.nan))
    return pd.DataFrame(rows)


def family_level(m: int, level: float = LEVEL) -> float:
    """The level of each of ``m`` intervals that together keep ``level`` (Bonferroni) [issue 34: a verdict over
    several points controls for their number]."""
    return 1 - (1 - level) / max(1, m)


def family_text(m: int, what: str = "interval") -> str:
    """How a verdict controls for the number ``m`` of its deciding intervals, in words [issue 34]: 'deciding
    intervals at the 98.75% level each, Bonferroni over 4 intervals'."""
    return f"deciding intervals at the {family_level(m):.2%} level each, Bonferroni over {m} {what}{'s' * (m != 1)}"


def at_level(ci, level: float) -> dict:
    """A :func:`t_interval` at :data:`LEVEL` read at ``level`` instead (e.g. a :func:`family_level`): the same mean,
    its half-width scaled by the ratio of the two t quantiles, which is exact for a t interval, so a table of 95%
    intervals can be re-read without its per-seed values. No interval stays none."""
    n, mean = int(ci["n"]), float(ci["mean"])
    if n < 2 or not np.isfinite(ci["lo"]):
        return dict(mean=mean, lo=math.nan, hi=math.nan, n=n)
    half = (ci["hi"] - ci["lo"]) / 2 * _st.t.ppf(0.5 + level / 2, n - 1) / _st.t.ppf(0.5 + LEVEL / 2, n - 1)
    return dict(mean=mean, lo=float(mean - half), hi=float(mean + half), n=n)


def holm_above_zero(differences: dict, level: float = LEVEL) -> list:
    """The names whose paired differences lie above zero, one-sided t tests at (1 - ``level``) / 2 each, controlled
    for their number by Holm's step-down rule (Holm 1979) [issue 34: a choice among several parts says so]."""
    pvalues = {}
    for name, values in differences.items():
        v = np.asarray(list(values), dtype=float)
        v = v[np.isfinite(v)]
        if len(v) >= 2 and v.std(ddof=1) > 0:
            pvalues[name] = float(_st.ttest_1samp(v, 0.0, alternative="greater").pvalue)
        elif len(v) >= 2 and v.mean() > 0:   # every difference the same and positive: certain
            pvalues[name] = 0.0
    alpha, held = (1 - level) / 2, []
    for i, (name, pv) in enumerate(sorted(pvalues.items(), key=lambda kv: kv[1])):
        if pv > alpha / (len(differences) - i):
            break
        held.append(name)
    return held


def excludes_zero(ci: dict) -> bool:
    return bool(np.isfinite(ci["lo"]) and (ci["lo"] > 0 or ci["hi"] < 0))


OUTCOMES = ("holds", "refuted", "open")


def outcome(ci, above: float = 0.0) -> str:
    """A one-sided claim "the quantity exceeds ``above``" judged by its interval: *holds* when the lower bound is
    above it, *refuted* when the upper bound is below it (the interval excludes the claimed effect), else *open*."""
    if not np.isfinite(ci["lo"]):
        return "open"
    return "holds" if ci["lo"] > above else "refuted" if ci["hi"] < above else "open"


def both(*outcomes: str) -> str:
    """The outcome of a claim that needs every part: refuted if any part is, holds if all do, else open. "Any part
    refuted" is a union over the parts: their intervals are read at :func:`family_level` of their number (and of the
    points'), so that one refutation among many keeps its level [issue 34]."""
    return "refuted" if "refuted" in outcomes else "holds" if all(o == "holds" for o in outcomes) else "open"


def either(*outcomes: str) -> str:
    """The outcome of a claim that needs one of its parts: holds if any part does, refuted if all are, else open
    (its intervals, like :func:`both`'s, read at :func:`family_level`)."""
    return "holds" if "holds" in outcomes else "refuted" if outcomes and all(o == "refuted" for o in outcomes) \
        else "open"


def equivalent(ci, margin: float = MARGIN) -> bool:
    """The equivalence half of "no convincing gain": the gain's upper bound lies under ``margin`` (a one-sided
    97.5% bound from the 95% interval, the TOST rule for a one-sided margin); False without an interval."""
    return bool(np.isfinite(ci["hi"]) and ci["hi"] < margin)


def beats(ci, margin: float = MARGIN) -> str:
    """A "beats" claim (the paired difference exceeds zero) judged by its interval [issue 34: a claim that is false
    must be refutable]: *holds* when the lower bound is above zero (:func:`outcome`); *refuted* when the upper bound
    lies under ``margin`` (:func:`equivalent`: the interval excludes every gain of a margin or more, so a true null is
    refuted once the seeds resolve it, where an interval wholly below zero almost never comes); else *open*. A gain
    shown above zero and under the margin holds: the claim is about its sign."""
    return "holds" if outcome(ci) == "holds" else "refuted" if equivalent(ci, margin) else "open"


def no_convincing_gain(ci, margin: float = MARGIN) -> str:
    """A "does not beat / no convincing gain" claim, the equivalence test against ``margin`` [issue 12]: *holds*
    when the upper bound lies under ``margin`` (:func:`equivalent`), *refuted* when the lower bound lies above it (a
    convincing gain), else *open*."""
    return {"holds": "refuted", "refuted": "holds"}.get(outcome(ci, margin), "open")


def within(ci, margin: float) -> bool:
    """Two-sided equivalence: the whole 95% interval lies inside (-margin, +margin) (TOST at the 2.5% level each
    side); False without an interval."""
    return bool(np.isfinite(ci["lo"]) and np.isfinite(ci["hi"]) and -margin < ci["lo"] and ci["hi"] < margin)


def verdict_status(outcomes: list, seeds: int) -> str:
    """The status from the points' outcomes: all hold, *reproduced*; some hold, *partly reproduced*; none holds and
    one is refuted, *not reproduced*; otherwise (every point open), *inconclusive*. Fewer than two seeds or no point:
    *inconclusive*."""
    if seeds < 2 or not outcomes:
        return "inconclusive"
    if all(o == "holds" for o in outcomes):
        return "reproduced"
    if "holds" in outcomes:
        return "partly reproduced"
    return "not reproduced" if "refuted" in outcomes else "inconclusive"


MIN_PASSES = 2.0   # [ours, issue 12: "the scoring run trains on each probe image several times"] a scoring run's
                   # passes over the training split (chapters 04 and 05)


def gate(name: str, passed: bool, numbers: str) -> dict:
    """A precondition of a verdict, checked from the data: its name, whether it passed, and the numbers it read."""
    return dict(name=name, passed=bool(passed), numbers=numbers)


def gate_text(g: dict) -> str:
    return f"gate '{g['name']}': {'passed' if g['passed'] else 'FAILED'} ({g['numbers']})"


def gated(status: str, sentence: str, gates: list) -> tuple:
    """(status, sentence) after the gates: any gate not met makes the verdict *inconclusive at this scale*, with
    those gates' numbers (a gate's name is the condition it needs), then what the criterion alone would have said
    (its sentence's "<status> at this scale" reads "<status> if the gates are set aside", so that it does not
    contradict the verdict; a criterion that is itself inconclusive says so); otherwise both unchanged."""
    failed = [g for g in gates if not g["passed"]]
    if not failed:
        return status, sentence
    n = len(failed)
    why = "; ".join(f"{g['name']} — {g['numbers']}" for g in failed)
    lead = f"Inconclusive at this scale: {'a gate is' if n == 1 else f'{n} gates are'} not met: {why}."
    if status == "inconclusive":
        return "inconclusive", f"{lead} Without the gates the criterion is inconclusive too: " + \
            sentence.replace("inconclusive at this scale", "inconclusive")
    aside = f"{status} if the {'gate is' if n == 1 else 'gates are'} set aside"
    return "inconclusive", (f"{lead} Read without the {'gate' if n == 1 else 'gates'}, the criterion would say "
                            f"{status}: {sentence.replace(f'{status} at this scale', aside)}")


def detectable_effect(ci, level: float = LEVEL, power: float = POWER) -> float:
    """The smallest true paired difference a two-sided paired t test at ``level`` detects with probability
    ``power``, from the observed spread s / sqrt(n) (read off the interval's half-width): the noncentrality at which
    the noncentral t's power reaches ``power`` [standard: the power of a one-sample t test; issue 38: exact, where
    the normal approximation (t_{1-a/2} + t_{power}) x s / sqrt(n) gave 77% power for a stated 80% at 3 seeds].
    NaN without an interval."""
    n = int(ci["n"])
    if n < 2 or not np.isfinite(ci["lo"]):
        return math.nan
    df = n - 1
    t_crit = _st.t.ppf(0.5 + level / 2, df)
    se = (ci["hi"] - ci["lo"]) / 2 / t_crit

    def short(nc):     # the power at noncentrality nc, less the power wanted (scipy's far tail can be NaN: ~0)
        return _st.nct.sf(t_crit, df, nc) + np.nan_to_num(_st.nct.cdf(-t_crit, df, nc)) - power
    return float(_brentq(short, 0.0, 2 * (t_crit + _st.t.ppf(power, df))) * se)   # brackets it: the approximation
                                                                                   # is under the exact value


def power_text(ci, what: str = "the paired difference") -> str:
    """'its 10 seeds detect a true effect of 2.3 points (80% power, 5% level)' for a verdict's sentence."""
    d = detectable_effect(ci)
    if not np.isfinite(d):
        return f"{what} has no interval, so no effect size can be detected"
    return (f"the {int(ci['n'])} seeds of {what} detect a true effect of {d * 100:.1f} points or more "
            f"({POWER:.0%} power, {1 - LEVEL:.0%} level)")


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


def deciding(name: str, r, threshold: float = 0.0, against: str = "zero", unit: str = "points") -> dict:
    """The one number a chapter's verdict turns on [issue 36]: a :func:`key_number` and the line the claim says it
    lies above (``threshold``, named ``against`` on the page). The landing page's table and forest plot read it."""
    return dict(key_number(name, r, unit), threshold=float(threshold), against=against)


def above_or_below(v: float, what: str = "", unit: str = " points") -> str:
    """A difference of accuracies in plain words: '4.0 points above random', '0.3 points below' [issue 36]."""
    return f"{abs(v) * 100:.1f}{unit} {'below' if v < 0 else 'above'}{f' {what}' if what else ''}"


def listing(items) -> str:
    """'a', 'a and b', 'a, b and c'."""
    items = list(items)
    return ", ".join(items[:-1]) + (" and " if len(items) > 1 else "") + (items[-1] if items else "")


def how_sure(outcomes: list, where: str, power: str, gates: list = ()) -> str:
    """A verdict's second line, after its plain first sentence [issue 36]: at how many of ``where`` the claim
    holds and is refuted, the smallest effect its seeds detect (``power``, :func:`power_text`), and the gates not
    met (their numbers are in the list below it)."""
    text = (f"The claim holds at {outcomes.count('holds')} of {len(outcomes)} {where} and is refuted at "
            f"{outcomes.count('refuted')}" + (f"; {power}" if power else "") + ".")
    failed = [g["name"] for g in gates if not g["passed"]]
    if failed:
        text += (f" {'A gate is' if len(failed) == 1 else f'{len(failed)} gates are'} not met "
                 f"({'; '.join(failed)}): see the list below.")
    return text


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


def percentiles_for_page(t: pd.DataFrame, index: list, count: str = "images") -> pd.DataFrame:
    """Mean difficulty percentiles (0-1, with intervals) as a page shows them, indexed by ``index``; ``count`` names
    what the interval is over (its ``n``: images, or sets where each set's mean is one value)."""
    return pd.DataFrame({"mean difficulty percentile (50 = uniform)": [fmt(r, digits=0) for _, r in t.iterrows()],
                         count: t["n"].astype(int).to_numpy()},
                        index=pd.MultiIndex.from_frame(t[index]))
