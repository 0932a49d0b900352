"""Chapter 01, label regimes decide what quality means (the paper's scalability analysis): at a fixed compute budget,
strong coresets beat a random subset of the same size under hard labels (HL), but not convincingly under a fixed
set of soft labels (SL) or under abundant soft labels (SL+KD). Beyond the paper: a dial between SL and SL+KD, SL
with k stored (augmented view, teacher label) pairs per image (``RunConfig(regime="sl", label_views=k)``).

Quality gain of a selector at (budget, arm, IPC): test accuracy of its subset minus that of the random subset,
paired by seed. The *best coreset* of (budget, arm, IPC) is the non-random selector with the highest mean
VALIDATION accuracy over seeds (ties: the first listed); its test gain, with a paired 95% t interval, is the
reported quality gain. The test set never picks anything.

Reproduction criterion (fixed before any number was seen; revised in issue 12 to rest on positive evidence, and in
issue 34 to decide either way), per (budget, IPC): the claim holds if the HL gain beats random (its interval lies
above zero) AND, for every soft arm (SL, SL+KD), the soft gain is "not convincingly" positive: the paired difference
gain_HL - gain_soft (per seed, each arm with its own best coreset) has an interval above zero (HL larger), OR the
soft gain passes the equivalence test (upper bound under ``analysis.MARGIN``). Each part can be refuted
(``analysis.beats``, ``analysis.no_convincing_gain``): the HL gain when its interval lies under the margin (HL does
not beat random by a point, if at all); a soft arm when both of its halves are, HL's lead over it under the margin
and the soft gain convincing (lower bound above the margin) (``analysis.either``). A point holds when every part
does and is refuted when one part is (``analysis.both``); otherwise it is open (``analysis.verdict_status``). The
intervals that decide (per point: the HL gain, and per soft arm its difference and its gain) are corrected for
their number (Bonferroni, ``analysis.family_level``); the numbers shown are 95% intervals.

Gate (issue 12; issue 34: resolved either way): the HL gain is resolved at the decisive IPC, ``views_ipc``: its 95%
interval lies above zero or under ``analysis.MARGIN`` (``analysis.beats`` decides), so a coreset shown no better
than random there refutes the claim instead of gating it out; else the verdict is inconclusive at this scale. Each
point states the smallest HL gain its seeds can detect.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .. import data, picks, profile as prof, select, teacher as teachers
from ..analysis import MARGIN, above_or_below, beats, best_on_validation, both, by_seed, ci_text, deciding, \
    detectable_effect, either, excludes_zero, family_level, family_text, gate, gate_text, gated, how_sure, key_number, \
    label_arms, listing, no_convincing_gain, paired_difference, power_text, t_interval, verdict_status
from ..config import unique
from ..sweeps import sweep
from ..profile import Profile
from .chapter import kd_plan_choice, kd_tune_configs, none, record_verdict

CHAPTER = "01_label_regimes"
LABEL = "ch-label-regimes"
TITLE = "Label regimes decide what quality means"
CLAIM = ("At a fixed compute budget, strong coresets beat random subsets under hard labels, and by more than under "
         "soft labels (SL) or soft labels with knowledge distillation (SL+KD), where their lead shrinks or vanishes.")
SOFT_ARMS = ("SL", "SL+KD")


tune = prof.kd_temperature      # the KD temperature chosen on validation (chapter 02's runs)
tune_configs, plan_choice = kd_tune_configs, kd_plan_choice
unmeetable_gates = none         # its gate (the HL gain resolved) is for the runs to meet
record = record_verdict


def coresets(names) -> list:
    """The non-random selectors of ``names``, in order."""
    return [s for s in names if s != "random"]


def grid_configs(p: Profile, temperature: float) -> list:
    """The main grid: every budget x arm x IPC x selector (random always included) x seed."""
    out = []
    for b in p.budgets:
        for arm in p.coreset_arms:
            for ipc in p.ipcs:
                for name in ["random", *coresets(p.selectors)]:
                    out += [prof.subset_run(p, name, temperature, ipc=ipc, **prof.arm(arm), budget=b, seed=s)
                            for s in prof.seeds_at(p, ipc)]
    return out


def dial_configs(p: Profile, temperature: float) -> list:
    """The k-view dial at ``views_ipc``: SL with ``label_views=k`` for every k in ``views``, plus its two ends,
    classic SL (k = 0) and SL+KD (the same configs as the main grid's, so shared when the grid has them)."""
    out = []
    names = ["random", *coresets(p.views_selectors)]
    for b in p.budgets:
        for k in [0, *p.views]:
            out += [prof.subset_run(p, n, temperature, ipc=p.views_ipc, regime="sl", budget=b, seed=s, label_views=k)
                    for n in names for s in p.seeds]
        out += [prof.subset_run(p, n, temperature, ipc=p.views_ipc, regime="slkd", budget=b, seed=s)
                for n in names for s in p.seeds]
    return out


def configs(p: Profile, temperature: float) -> list:
    return unique([*grid_configs(p, temperature), *dial_configs(p, temperature)])


def run(p: Profile, temperature: float, progress: bool = True) -> pd.DataFrame:
    df = label_arms(sweep(configs(p, temperature), progress=progress, desc="label-regime runs", store=p.store))
    df["label_views"] = df["label_views"].fillna(0).astype(int)
    return df


def teacher_agreement(p: Profile) -> pd.DataFrame:
    """What each selector keeps, read by the teacher: the share of a subset's images whose label the teacher's
    prediction agrees with, per selector (rows) and IPC (columns), on the first seed's draw. A score selector that
    keeps the highest scores (EL2N) keeps the images a trained network gets wrong: mislabelled or atypical ones
    [Paul et al. 2021 prune the very highest scores for this reason]."""
    splits = data.load(p.dataset, p.val_per_class)
    t = teachers.get(prof.teacher(p), p.dataset, p.val_per_class, 0, p.device)
    agrees = (t.train_logits.argmax(1).cpu() == splits.y_train)
    rows = {name: {ipc: float(agrees[picks.indices(prof.subset_run(p, name, ipc=ipc, **prof.arm("HL"),
                                                                    budget=p.budgets[0], seed=p.seeds[0]),
                                                   p.store)].float().mean())
                   for ipc in p.ipcs} for name in ["random", *coresets(p.selectors)]}
    return pd.DataFrame(rows).T.rename_axis(index="selector", columns="IPC")


def agreement_sentence(agree: pd.DataFrame) -> str:
    """The selectors whose images the teacher labels otherwise more often than not, against the random draw."""
    low = [s for s in agree.index if s != "random" and (agree.loc[s] < 0.5).any()]
    if not low:
        return "Every selector keeps images whose label the teacher agrees with at least half of the time."
    def shares(name):
        return ", ".join(f"{v:.0%}" for v in agree.loc[name])
    ipcs = ", ".join(map(str, agree.columns))
    return " ".join(f"The teacher agrees with the label of {shares(s)} of {s}'s images at IPC {ipcs}, against "
                    f"{shares('random')} of the random draw's." for s in low) + \
        (" Where that share is under half, a student trained on those images with hard labels is taught mostly "
         "labels the teacher disputes.")


def describe(p: Profile, n_train: int) -> str:
    """The setup in a few Markdown lines."""
    budgets = ", ".join(f"{b:,} samples seen ({-(-b // p.batch):,} steps of {p.batch})" for b in p.budgets)
    scored = [s for s in coresets(p.selectors) if select.reads(s, {}) == "recorder"]
    runs = len(prof.recorder(p).runs())
    rec = (f"; score selectors ({', '.join(scored)}) average their score over {runs} scoring "
           f"run{'s' if runs > 1 else ''} of `{p.recorder_model}` on the full split (one per seed), "
           f"{p.recorder_epochs:g} epochs, batch {p.recorder_batch}" if scored else "")
    emb = [s for s in coresets(p.selectors) if select.reads(s, {}) == "teacher"]
    emb = f"; {', '.join(emb)} read{'s' if len(emb) == 1 else ''} the teacher's penultimate features" if emb else ""
    return (f"- **Data**: `{p.dataset}`, {n_train:,} training images after the validation split "
            f"({p.val_per_class} per class)\n"
            f"- **Student**: `{p.model}`; **teacher**: `{p.teacher_model}`, {p.teacher_epochs:g} epochs\n"
            f"- **Budget**: {budgets}, the same for every subset size\n"
            f"- **Subsets**: IPC {', '.join(map(str, p.ipcs))}; selectors {', '.join(p.selectors)}{emb}{rec}\n"
            f"- **Arms**: {', '.join(p.coreset_arms)}; **seeds**: {', '.join(map(str, p.seeds))}"
            + (f" ({', '.join(map(str, p.ipc1_seeds))} at IPC 1)" if p.ipc1_seeds and 1 in p.ipcs else "") + "; "
            f"**device**: `{p.device}`; **profile**: `{p.profile}`\n"
            f"- **The k dial**: IPC {p.views_ipc}, SL with k = {', '.join(map(str, p.views))} stored labelled views "
            f"per image, selectors {', '.join(p.views_selectors)}")


# --- analysis ---------------------------------------------------------------------------------------------------

def _grid(df: pd.DataFrame) -> pd.DataFrame:
    """The main grid's rows (classic labels: no stored views)."""
    views = df["label_views"] if "label_views" in df else pd.Series(0, index=df.index)
    return df[views.fillna(0).astype(int) == 0]


def accuracy_table(df: pd.DataFrame, p: Profile) -> pd.DataFrame:
    """Mean test accuracy (95% interval) and mean validation accuracy per (budget, arm, selector, IPC) of the main
    grid (the dial's extra ends, when ``views_ipc`` or ``views_selectors`` lie outside it, are left out)."""
    g = _grid(df)
    g = g[g["arm"].isin(p.coreset_arms) & g["select"].isin(["random", *p.selectors])
          & g["ipc"].astype(str).isin([str(i) for i in p.ipcs])]
    rows = []
    for (b, arm, sel, ipc), g in g.groupby(["budget", "arm", "select", "ipc"], sort=False):
        rows.append(dict(budget=b, arm=arm, selector=sel, ipc=int(ipc), **t_interval(g["test_acc"]),
                         val_mean=float(g["val_acc"].mean())))
    return pd.DataFrame(rows)


def gain_table(df: pd.DataFrame, p: Profile) -> pd.DataFrame:
    """Per (budget, arm, IPC, coreset): test gain over random paired by seed (interval), the mean validation
    gain, and whether it is the best coreset of its (budget, arm, IPC) on validation."""
    g = _grid(df)
    rows = []
    for b in p.budgets:
        for arm in p.coreset_arms:
            for ipc in p.ipcs:
                where = dict(budget=b, arm=arm, ipc=ipc)
                rnd, rnd_val = by_seed(g, select="random", **where), by_seed(g, "val_acc", select="random", **where)
                block = []
                for sel in coresets(p.selectors):
                    acc, val = by_seed(g, select=sel, **where), by_seed(g, "val_acc", select=sel, **where)
                    if not acc:
                        continue
                    d = paired_difference(acc, rnd)
                    vd = paired_difference(val, rnd_val)
                    block.append(dict(budget=b, arm=arm, ipc=int(ipc), selector=sel, **d,
                                      val_gain=vd["mean"], val_mean=float(np.mean(list(val.values())))))
                if block:
                    best = best_on_validation(pd.DataFrame(block), value="val_mean").name
                    for i, r in enumerate(block):
                        r["best"] = i == best
                rows += block
    return pd.DataFrame(rows)


def best_gains(df: pd.DataFrame, gains: pd.DataFrame) -> tuple:
    """The best coreset (on validation) of every (budget, arm, IPC): a table of its test gain with interval, and
    the per-seed gains {(budget, arm, ipc): {seed: gain}} that the verdict pairs across arms."""
    g = _grid(df)
    rows, per_seed = [], {}
    if gains.empty:
        return pd.DataFrame(rows), per_seed
    for _, r in gains[gains["best"]].iterrows():
        where = dict(budget=r["budget"], arm=r["arm"], ipc=r["ipc"])
        acc, rnd = by_seed(g, select=r["selector"], **where), by_seed(g, select="random", **where)
        per_seed[int(r["budget"]), r["arm"], int(r["ipc"])] = {s: acc[s] - rnd[s] for s in acc if s in rnd}
        rows.append(dict(budget=int(r["budget"]), arm=r["arm"], ipc=int(r["ipc"]), best=r["selector"],
                         val_gain=r["val_gain"], **{k: r[k] for k in ("mean", "lo", "hi", "n")}))
    return pd.DataFrame(rows), per_seed


def verdict_points(best: pd.DataFrame, per_seed: dict, p: Profile) -> tuple:
    """The criterion of the module docstring at every (budget, IPC): one dict per point, with its ``outcome``, its
    parts' 95% intervals (shown) and outcomes (read at the family level); and the number of deciding intervals."""
    soft_arms = [a for a in p.coreset_arms if a in SOFT_ARMS]
    where = [(int(b), int(ipc)) for b in p.budgets for ipc in p.ipcs if (int(b), "HL", int(ipc)) in per_seed]
    m = sum(1 + 2 * sum((b, arm, ipc) in per_seed for arm in soft_arms) for b, ipc in where)
    level, points = family_level(m), []
    for b, ipc in where:
        hl = per_seed[b, "HL", ipc]
        hl_ci = t_interval(hl.values())
        pt = dict(budget=b, ipc=ipc, hl=hl_ci, hl_outcome=beats(t_interval(hl.values(), level)), soft={})
        for arm in soft_arms:
            soft = per_seed.get((b, arm, ipc))
            if soft is None:
                continue
            soft_ci = t_interval(soft.values())
            larger = beats(paired_difference(hl, soft, level))               # HL's lead over the soft arm's
            vanishes = no_convincing_gain(t_interval(soft.values(), level))
            pt["soft"][arm] = dict(gain=soft_ci, diff=paired_difference(hl, soft), larger=larger, vanishes=vanishes,
                                   equivalent=vanishes == "holds",
                                   distinguishable=excludes_zero(soft_ci), outcome=either(larger, vanishes))
        parts = [pt["hl_outcome"], *(s["outcome"] for s in pt["soft"].values())]
        pt["outcome"] = both(*parts) if pt["soft"] else "open"
        pt["holds"] = pt["outcome"] == "holds"
        points.append(pt)
    return points, m


def _best_name(best: pd.DataFrame, b, arm, ipc) -> str:
    m = best[(best["budget"] == b) & (best["arm"] == arm) & (best["ipc"] == ipc)] if not best.empty else best
    return str(m["best"].iloc[0]) if len(m) else "?"


def gates(points: list, p: Profile) -> list:
    """The HL gain is resolved (its 95% interval lies above zero or under the margin) at ``views_ipc``, the decisive
    IPC, at every budget."""
    out = []
    for pt in points:
        if pt["ipc"] == p.views_ipc:
            lead = f"budget {pt['budget']:,}, " if len(p.budgets) > 1 else ""
            out.append(gate(f"HL gain resolved at {lead}IPC {pt['ipc']}", beats(pt["hl"]) != "open",
                            f"HL gain {ci_text(pt['hl'])} points (resolved: above zero, or under the "
                            f"{MARGIN * 100:g}-point margin), detectable {detectable_effect(pt['hl']) * 100:.1f}"))
    return out


def verdict(best: pd.DataFrame, per_seed: dict, p: Profile, dial: dict | None = None) -> dict:
    """Apply the gates and the reproduction criterion; say per soft arm whether its gain is distinguishable from
    zero and whether it passes the equivalence test."""
    points, m = verdict_points(best, per_seed, p)
    soft_arms = [a for a in p.coreset_arms if a in SOFT_ARMS]
    if "HL" not in p.coreset_arms or not soft_arms or not points:
        lacks = "The sweep lacks HL, a soft arm, or a coreset besides random."
        return dict(status="inconclusive", headline=lacks, sure="", deciding=None, sentence=lacks, details=[],
                    key_numbers=[], points=points, gates=[])
    checks = gates(points, p)
    details = [gate_text(g) for g in checks]
    for pt in points:
        b, ipc = pt["budget"], pt["ipc"]
        parts = [f"HL gain {ci_text(pt['hl'])} ({_best_name(best, b, 'HL', ipc)}, beats random: {pt['hl_outcome']}; "
                 f"{power_text(pt['hl'], 'the HL gain')})"]
        for arm, s in pt["soft"].items():
            parts.append(f"{arm} gain {ci_text(s['gain'])} ({_best_name(best, b, arm, ipc)}; "
                         f"{'distinguishable from zero' if s['distinguishable'] else 'not distinguishable from zero'}"
                         f"; no convincing gain, under the {MARGIN * 100:g}-point margin: {s['vanishes']})"
                         f", HL minus {arm} {ci_text(s['diff'])} (HL larger: {s['larger']})")
        lead = f"budget {b:,}, " if len(p.budgets) > 1 else ""
        details.append(f"{lead}IPC {ipc}: {pt['outcome']}. " + "; ".join(parts)
                       + f" (accuracy points, 95% intervals over seeds; the outcomes: {family_text(m)}).")
    held = sum(pt["holds"] for pt in points)
    refuted = sum(pt["outcome"] == "refuted" for pt in points)

    def at(outcome):                                   # which points: "(IPC 10)", "(budget 12,800, IPC 10)"
        hit = [f"budget {pt['budget']:,}, IPC {pt['ipc']}" if len(p.budgets) > 1 else f"IPC {pt['ipc']}"
               for pt in points if (pt["holds"] if outcome == "holds" else pt["outcome"] == outcome)]
        return f" ({'; '.join(hit)})" if hit else ""
    status = verdict_status([pt["outcome"] for pt in points], len(p.seeds))
    where = "(budget, IPC) points" if len(p.budgets) > 1 else "IPCs"
    soft_bits = []
    for arm in soft_arms:
        nz = [pt["ipc"] for pt in points if arm in pt["soft"] and pt["soft"][arm]["distinguishable"]]
        soft_bits.append(f"the {arm} gain is distinguishable from zero at "
                         + (f"IPC {', '.join(map(str, nz))}" if nz else "no IPC"))
    decisive = [pt for pt in points if pt["ipc"] == p.views_ipc]
    sentence = (f"Coreset quality gain larger under HL than under {' and '.join(soft_arms)}: {status} at this scale "
                f"(the criterion holds at {held} of {len(points)} {where}{at('holds')} and is refuted at "
                f"{refuted}{at('refuted')}; {family_text(m)}; "
                f"{_n_seeds(p)}); " + "; ".join(soft_bits) + "."
                + (f" At IPC {p.views_ipc}, {power_text(decisive[0]['hl'], 'the HL gain')}." if decisive else ""))
    status, sentence = gated(status, sentence, checks)
    if dial and dial.get("sentence"):
        sentence += " Beyond the paper: " + dial["sentence"][:1].lower() + dial["sentence"][1:]
    pt = deciding_point(points, status, p)
    power = power_text(pt["hl"], "the HL gain")
    return dict(status=status, headline=headline(pt, best, p), sure=how_sure([q["outcome"] for q in points], where,
                                                                             f"at IPC {pt['ipc']}, {power}", checks),
                deciding=deciding_number(pt),
                sentence=sentence, details=details, key_numbers=key_numbers(best, p), points=points, gates=checks)


def deciding_point(points: list, status: str, p: Profile) -> dict:
    """The point the headline and the deciding number are read at: where the status comes from (the first refuted
    point of a *not reproduced*, the first holding point of a *reproduced* or *partly reproduced*), else the
    decisive IPC ``views_ipc`` [issue 34: a verdict that turns on IPC 50 names IPC 50]."""
    want = {"not reproduced": "refuted", "reproduced": "holds", "partly reproduced": "holds"}.get(status)
    return next((pt for pt in points if pt["outcome"] == want),
                next((pt for pt in points if pt["ipc"] == p.views_ipc), points[0]))


def deciding_number(pt: dict) -> dict | None:
    """The interval that decides point ``pt``: its HL gain where that part is refuted (herding no better than
    random under HL), else HL's lead over SL+KD (or the last soft arm); None without a soft arm."""
    if pt["hl_outcome"] == "refuted":
        return deciding(f"HL quality gain, IPC {pt['ipc']}", pt["hl"], MARGIN, f"the {MARGIN * 100:g}-point margin")
    arm = "SL+KD" if "SL+KD" in pt["soft"] else next(reversed(pt["soft"]), None)
    return deciding(f"HL minus {arm} quality gain, IPC {pt['ipc']}", pt["soft"][arm]["diff"]) if arm else None


def headline(pt: dict, best: pd.DataFrame, p: Profile) -> str:
    """The verdict's first sentence in plain words [issue 36]: at the decisive point ``pt`` (``views_ipc``), how
    far the best coreset sits above random in each arm, and what that says of the claim."""
    b, ipc = pt["budget"], pt["ipc"]
    names = {_best_name(best, b, arm, ipc) for arm in ["HL", *pt["soft"]]}
    who = f"the best coreset ({names.pop()})" if len(names) == 1 else "each regime's best coreset"
    soft = [f"{above_or_below(s['gain']['mean'], unit='')} under {arm}" for arm, s in pt["soft"].items()]
    if not pt["soft"]:
        end = "no soft-label arm has runs there"
    elif pt["hl_outcome"] != "holds":
        end = "its lead under HL is too close to call" if pt["hl_outcome"] == "open" else \
            "under HL it does not beat random"
    elif all(s["outcome"] == "holds" for s in pt["soft"].values()):
        end = ("its lead vanishes under soft labels" if all(s["equivalent"] for s in pt["soft"].values())
               else "its lead shrinks under soft labels")
    elif any(s["outcome"] == "refuted" for s in pt["soft"].values()):
        end = "its lead does not shrink under soft labels"
    else:
        end = "the seeds cannot tell whether its lead shrinks under soft labels"
    lead = f"budget {b:,}, " if len(p.budgets) > 1 else ""
    scores = listing([f"{above_or_below(pt['hl']['mean'], 'random')} under HL", *soft])
    return f"At {lead}IPC {ipc}, {who} scores {scores}: {end}."


def _n_seeds(p: Profile) -> str:
    extra = f", {len(p.ipc1_seeds)} at IPC 1" if p.ipc1_seeds and 1 in p.ipcs else ""
    return f"{len(p.seeds)} seed{'s' if len(p.seeds) != 1 else ''} per point{extra}"


def key_numbers(best: pd.DataFrame, p: Profile) -> list:
    """Best-coreset test gains (fractions of accuracy), the dial's IPC first, HL before the soft arms."""
    if best.empty:
        return []
    order = {a: i for i, a in enumerate(p.coreset_arms)}
    t = best.assign(_first=(best["ipc"] != p.views_ipc).astype(int), _arm=best["arm"].map(order))
    t = t.sort_values(["_first", "budget", "ipc", "_arm"])
    lead = len(p.budgets) > 1
    return [key_number(f"{r['arm']} best-coreset gain over random ({r['best']}), IPC {int(r['ipc'])}"
                       + (f", budget {int(r['budget']):,}" if lead else ""), r) for _, r in t.iterrows()]


# --- the k dial ------------------------------------------------------------------------------------------------

def dial_table(df: pd.DataFrame, p: Profile) -> pd.DataFrame:
    """At ``views_ipc``: the gain of each ``views_selectors`` coreset over random (paired by seed) against the
    soft-label supply: 'SL' (k = 0, one label from the clean image), k stored views, 'SL+KD' (a fresh label per
    augmented view). Column ``k`` is 0 for SL and inf for SL+KD (their order on the dial)."""
    rows = []
    views = df["label_views"].fillna(0).astype(int) if "label_views" in df else pd.Series(0, index=df.index)
    for b in p.budgets:
        steps = [("SL", 0, "sl", 0)] + [(f"k={k}", k, "sl", k) for k in sorted(p.views)] + [("SL+KD", math.inf,
                                                                                         "slkd", 0)]
        for label, k, regime, lv in steps:
            m = (df["budget"] == b) & (df["ipc"].astype(str) == str(p.views_ipc)) & (df["regime"] == regime) \
                & (views == lv)
            sub = df[m]
            rnd = dict(zip(sub.loc[sub["select"] == "random", "seed"], sub.loc[sub["select"] == "random", "test_acc"]))
            for sel in coresets(p.views_selectors):
                s = sub[sub["select"] == sel]
                acc = dict(zip(s["seed"], s["test_acc"]))
                if not acc or not rnd:
                    continue
                d = paired_difference(acc, rnd)
                rows.append(dict(budget=int(b), step=label, k=k, selector=sel, **d,
                                 acc=float(np.mean(list(acc.values()))),
                                 random_acc=float(np.mean(list(rnd.values()))),
                                 includes_zero=bool(np.isfinite(d["lo"]) and d["lo"] <= 0 <= d["hi"])))
    return pd.DataFrame(rows)


def flatten_point(dial: pd.DataFrame, p: Profile, gains: pd.DataFrame | None = None) -> dict:
    """Per (budget, selector): the least soft-label supply along the dial (SL, k = 1, ..., SL+KD) at which the
    gain's interval includes zero, and whether it stays so at every larger supply. A computed sentence, which says
    so when the HL gain at that IPC is itself not distinguishable from zero (then the dial shows nothing vanish)."""
    out, bits = {}, []
    if dial.empty:
        return dict(points=out, sentence="")
    for (b, sel), t in dial.groupby(["budget", "selector"], sort=False):
        t = t.sort_values("k")
        if not np.isfinite(t["lo"]).any():
            out[int(b), sel] = None
            bits.append(f"the {sel} gain at IPC {p.views_ipc} has no interval with one seed")
            continue
        flat = t["includes_zero"].to_numpy()
        first = int(np.argmax(flat)) if flat.any() else None
        stays = first is not None and bool(flat[first:].all())
        step = None if first is None else t["step"].iloc[first]
        out[int(b), sel] = dict(first=step, k=None if first is None else float(t["k"].iloc[first]), stays=stays)
        lead = f"at budget {int(b):,}, " if len(p.budgets) > 1 else ""
        if step is None:
            bits.append(f"{lead}the {sel} gain at IPC {p.views_ipc} never becomes indistinguishable from zero "
                        f"within the sweep (SL to SL+KD)")
        else:
            where = {"SL": "already under classic SL (one stored label per image)",
                     "SL+KD": "only under SL+KD (a fresh label for every view)"}.get(
                step, f"at k = {int(t['k'].iloc[first])} stored labelled views per image")
            bits.append(f"{lead}the {sel} gain at IPC {p.views_ipc} is first indistinguishable from zero {where}"
                        + ("" if step == "SL+KD" else " and stays so" if stays else
                           ", though not at every larger supply"))
            hl = pd.DataFrame() if gains is None else gains[
                (gains["budget"] == b) & (gains["arm"] == "HL") & (gains["ipc"] == p.views_ipc)
                & (gains["selector"] == sel)]
            if len(hl) and not hl["lo"].iloc[0] > 0:
                bits[-1] += (", but its HL gain there is not distinguishable from zero either, so at this scale "
                             "the dial cannot show a real gain vanishing")
    sentence = "; ".join(bits)
    return dict(points=out, sentence=sentence[:1].upper() + sentence[1:] + "." if sentence else "")


def analyse(df: pd.DataFrame, p: Profile) -> dict:
    gains = gain_table(df, p)
    best, per_seed = best_gains(df, gains)
    dial = dial_table(df, p)
    flat = flatten_point(dial, p, gains)
    return dict(table=accuracy_table(df, p), gains=gains, best=best, dial=dial, flat=flat,
                verdict=verdict(best, per_seed, p, flat))
