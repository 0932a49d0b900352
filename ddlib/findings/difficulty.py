"""Chapter 04, difficulty must match compute (the finding behind CAD-Prune): split every class into difficulty bins,
train under HL on subsets drawn from one bin at a time at several budgets, and ask whether the best bin moves toward
harder images as the budget grows (Sorscher et al. 2022's "easy when data is scarce, hard when abundant", read along
the compute axis as the paper does).

Difficulty: the class-wise quantiles of ``difficulty_score`` (higher = harder): ``teacher_loss`` (the cached
teacher's loss on the clean image, no extra run) or any recorder score (``el2n``, ``forgetting``, ...; chapter 01's
scoring run). Bin k of B holds the quantiles [k/B, (k+1)/B]; a subset draws IPC per class uniformly from it (seeded).

Reproduction criterion (revised in issue 12: no status rests on a point comparison; in issue 34: it can decide
either way), per IPC: the hard-minus-easy gap (test accuracy of the hardest bin minus the easiest, paired by seed)
is larger at the largest budget than at the smallest: the difference of the two gaps, paired by seed (the
interaction), has its interval above zero (holds), or under ``analysis.MARGIN`` (refuted: the gap grows by less than
a point, if at all; ``analysis.beats``). The intervals that decide are corrected for their number (Bonferroni, one
per IPC: ``analysis.family_level``). Beside it, with an interval of its own, the best bin chosen on VALIDATION
accuracy: the share of bootstrap resamples of the seeds in which it is harder at the largest budget than at the
smallest (:func:`best_bin_moves`).

Gate (issue 12, "the scoring run really trains"; the rule is ours): the difficulty axis comes from a network that has
learned the task. ``teacher_loss``: the teacher's validation accuracy is above every student of the chapter (a scorer
that knows less than the students cannot rank images for them); a recorder score: its run made at least
:data:`ddlib.analysis.MIN_PASSES` passes over the training split. A failed gate makes the verdict inconclusive at
this scale.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from .. import data, profile as prof, select, teacher as teachers
from ..analysis import MARGIN, MIN_PASSES, above_or_below, at_level, beats, best_on_validation, by_seed, ci_text, \
    deciding, family_level, family_text, gain_table, gate, gate_text, gated, how_sure, key_number, label_arms, \
    paired_difference, power_text, t_interval, verdict_status
from ..config import unique
from ..sweeps import sweep
from ..profile import Profile, bin_name
from .chapter import none, record_verdict

BOOTSTRAP = 2000   # [ours] resamples of the seeds for the best bin's move
CHAPTER = "04_difficulty_vs_compute"
LABEL = "ch-difficulty"
TITLE = "Difficulty must match compute"
CLAIM = ("The best difficulty of a subset depends on the training budget: easy images win when compute is scarce, "
         "harder ones as it grows.")


tune = prof.hl_only
tune_configs = none
record = record_verdict


def plan_choice(p: Profile) -> float:
    """The choice ``plan`` uses: :func:`tune`'s own, which trains nothing."""
    return tune(p, progress=False)[0]


def configs(p: Profile, temperature: float = 1.0) -> list:
    """The sweep: :func:`bin_configs` at ``compute_budgets`` and ``difficulty_ipcs`` (HL: no temperature)."""
    return bin_configs(p, p.compute_budgets, p.difficulty_ipcs)


def bin_configs(p: Profile, budgets: list, ipcs: list) -> list:
    """Every (IPC, budget) x (random, each bin) x seed, under HL (chapter 05 runs them at its own budgets)."""
    out = []
    for ipc in ipcs:
        for b in budgets:
            for s in p.seeds:
                out.append(prof.subset_run(p, "random", ipc=ipc, **prof.arm("HL"), budget=b, seed=s))
                out += [prof.bin_run(p, k, ipc=ipc, budget=b, seed=s) for k in range(p.bins)]
    return unique(out)


def label(df: pd.DataFrame, p: Profile) -> pd.DataFrame:
    """Add 'bin' (0 = easiest; -1 for random, None for any other set) and 'arm' columns to a sweep's rows."""
    df = label_arms(df)
    lo = [dict(k).get("lo") if k else None for k in df["select_knobs"]]    # (name, value) pairs; JSON: lists
    df["bin"] = pd.array([-1 if s == "random" and not d else int(round(v * p.bins)) if s == "window" else None
                          for s, d, v in zip(df["select"], df["distill"].fillna(""), lo)], dtype="Int64")
    return df


def run(p: Profile, temperature: float = 1.0, progress: bool = True) -> pd.DataFrame:
    return label(sweep(configs(p, temperature), progress=progress, desc="difficulty bins", store=p.store), p)


def describe(p: Profile, n_train: int) -> str:
    score = ("the teacher's loss on the clean image" if p.difficulty_score == select.TEACHER_SCORE else
             f"`{p.difficulty_score}` from chapter 01's scoring run (`{p.recorder_model}`, {p.recorder_epochs:g} "
             f"epochs)")
    budgets = ", ".join(f"{b:,}" for b in p.compute_budgets)
    return (f"- **Data**: `{p.dataset}`, {n_train:,} training images after the validation split\n"
            f"- **Difficulty**: {score}, ranked within each class and cut into {p.bins} equal bins\n"
            f"- **Student**: `{p.model}`, HL (SGD), batch {p.batch}; **budgets**: {budgets} samples seen\n"
            f"- **IPC**: {', '.join(map(str, p.difficulty_ipcs))}; **seeds**: {', '.join(map(str, p.seeds))}; "
            f"**device**: `{p.device}`; **profile**: `{p.profile}`")


# --- analysis ---------------------------------------------------------------------------------------------------

def accuracy_table(df: pd.DataFrame, p: Profile) -> pd.DataFrame:
    """Per (IPC, budget, bin or random): test accuracy with its interval, mean validation accuracy, and the gain
    over random (paired by seed)."""
    rows = gain_table(df, [dict(ipc=ipc, budget=b) for ipc in p.difficulty_ipcs for b in p.compute_budgets],
                      [-1, *range(p.bins)], column="bin", baseline=-1)
    return pd.DataFrame([dict(r, ipc=int(r["ipc"]), budget=int(r["budget"]), kind="random" if r["bin"] < 0 else "bin",
                              name="random" if r["bin"] < 0 else bin_name(p, r["bin"])) for r in rows])


def best_bins(table: pd.DataFrame) -> pd.DataFrame:
    """Per (IPC, budget): the bin with the best mean VALIDATION accuracy, and its test accuracy."""
    best = best_on_validation(table[table["bin"] >= 0], by=["ipc", "budget"])
    return best[["ipc", "budget", "bin", "name", "mean", "lo", "hi", "val"]]


def shift(df: pd.DataFrame, p: Profile) -> pd.DataFrame:
    """Per IPC: the hard-minus-easy gap at each budget (paired by seed) and the change of that gap from the smallest
    to the largest budget (a difference of paired differences, paired by seed)."""
    rows = []
    lo_b, hi_b = min(p.compute_budgets), max(p.compute_budgets)
    for ipc in p.difficulty_ipcs:
        gap = {}
        for b in p.compute_budgets:
            hard = by_seed(df, bin=p.bins - 1, ipc=ipc, budget=b)
            easy = by_seed(df, bin=0, ipc=ipc, budget=b)
            gap[b] = {s: hard[s] - easy[s] for s in hard if s in easy}
            rows.append(dict(ipc=int(ipc), budget=int(b), what="hard minus easy", **paired_difference(hard, easy)))
        if lo_b != hi_b:
            rows.append(dict(ipc=int(ipc), budget=int(hi_b), what=f"change of the gap from {lo_b:,} to {hi_b:,}",
                             **paired_difference(gap[hi_b], gap[lo_b])))
    return pd.DataFrame(rows)


def best_bin_moves(df: pd.DataFrame, p: Profile, ipc, resamples: int = BOOTSTRAP, seed: int = 0) -> float:
    """The share of bootstrap resamples of the seeds (with replacement) in which the bin with the best mean
    validation accuracy is harder at the largest budget than at the smallest (ties: the easier bin, as
    ``best_on_validation`` takes the first). NaN without two budgets or two common seeds."""
    lo_b, hi_b = min(p.compute_budgets), max(p.compute_budgets)
    vals = {b: [by_seed(df, "val_acc", bin=k, ipc=ipc, budget=b) for k in range(p.bins)] for b in (lo_b, hi_b)}
    seeds = sorted(set.intersection(*(set(v) for b in vals for v in vals[b])))
    if lo_b == hi_b or len(seeds) < 2:
        return float("nan")
    m = {b: np.array([[v[s] for s in seeds] for v in vals[b]]) for b in vals}   # bins x seeds
    draw = np.random.default_rng(seed).integers(0, len(seeds), size=(resamples, len(seeds)))
    best = {b: m[b][:, draw].mean(axis=2).argmax(axis=0) for b in m}            # per resample
    return float((best[hi_b] > best[lo_b]).mean())


def picks_on_axis(df: pd.DataFrame, p: Profile) -> pd.DataFrame:
    """Where chapter 03's RDED source images and CAD-Prune's picks at each budget sit on the chapter's difficulty
    axis (percentile within the class; 0 = easiest). One row per picked image (first seed)."""
    splits = data.load(p.dataset, p.val_per_class)
    d = select.difficulty(p.difficulty_score, splits, teacher=prof.teacher(p), recorder=prof.recorder(p),
                          device=p.device)
    pct = select.class_percentile(d, splits.y_train)
    rows, s = [], p.seeds[0]
    for ipc in p.difficulty_ipcs:
        if "rded" in p.methods:
            rcfg = prof.distilled_run(p, "rded", ipc=ipc)
            rows += [dict(ipc=ipc, budget="any", set="RDED", percentile=float(v))
                     for v in pct[torch.tensor(rcfg.synset().meta["sources"])]]
        for b in p.compute_budgets:
            idx = select.select("cad", splits, ipc, s, budget=b, model=p.model, batch=p.batch, device=p.device,
                                **dict(p.cad_knobs))["indices"]
            rows += [dict(ipc=ipc, budget=f"{b:,}", set=f"CAD-Prune (top), budget {b:,}", percentile=float(v))
                     for v in pct[idx]]
    return pd.DataFrame(rows)


def placement(picks: pd.DataFrame) -> pd.DataFrame:
    """Mean difficulty percentile of each set's images with a 95% interval over the images (50 = uniform)."""
    return pd.DataFrame([dict(ipc=ipc, set=name, **t_interval(t["percentile"]))
                         for (ipc, name), t in picks.groupby(["ipc", "set"], sort=False)])


def scorer(p: Profile) -> dict:
    """What the gate reads of the network behind ``difficulty_score``: the teacher's validation accuracy
    (``val_acc``), or the fewest passes over the training split among the recorder's runs (``passes``)."""
    if p.difficulty_score == select.TEACHER_SCORE:
        t = teachers.get(prof.teacher(p), p.dataset, p.val_per_class, 0, p.device)
        return dict(val_acc=float(t.meta["val_acc"]))
    splits = data.load(p.dataset, p.val_per_class)
    runs = select.scoring_dynamics(splits, prof.recorder(p), 0, p.device)
    return dict(passes=min(float(d.epochs[-1]) for d in runs))


def _passes_text(passes: float) -> str:
    return f"its run made {passes:.2f} passes over the training split (at least {MIN_PASSES:g})"


def gates(table: pd.DataFrame, score: dict) -> list:
    """The module docstring's gate, from :func:`scorer`'s numbers and the accuracy table's validation means."""
    if "passes" in score:
        return [gate("the difficulty scorer trains", score["passes"] >= MIN_PASSES, _passes_text(score["passes"]))]
    best = float(table["val"].max())
    return [gate("the teacher that scores difficulty beats every student here", score["val_acc"] > best,
                 f"teacher {score['val_acc']:.1%} on validation; the best student of this chapter {best:.1%}")]


def unmeetable_gates(p: Profile, n_train: int) -> list:
    """The gates the profile cannot meet, whatever its runs give (``python -m ddlib plan`` lists them): a recorder
    score from a scoring run of too few epochs."""
    short = p.difficulty_score != select.TEACHER_SCORE and p.recorder_epochs < MIN_PASSES
    return [f"the difficulty scorer trains: {_passes_text(p.recorder_epochs)}; raise recorder_epochs, or score "
            f"by {select.TEACHER_SCORE}"] if short else []


def axis_name(p: Profile) -> str:
    """The chapter's difficulty axis in words: the teacher's loss, or the recorder's score."""
    return "the teacher's loss" if p.difficulty_score == select.TEACHER_SCORE else \
        f"the scoring run's {p.difficulty_score.upper() if p.difficulty_score == 'el2n' else p.difficulty_score}"


def verdict(table: pd.DataFrame, best: pd.DataFrame, sh: pd.DataFrame, p: Profile,
            place: pd.DataFrame | None = None, moves: dict | None = None, checks: list | None = None) -> dict:
    """Apply the module docstring's gate (``checks``, from :func:`gates`) and criterion per IPC, and say plainly
    where the best bin sits at each budget, with the bootstrap share of its move (``moves``: {ipc: share})."""
    lo_b, hi_b = min(p.compute_budgets), max(p.compute_budgets)
    checks = checks or []
    details, key, outcomes, power = [gate_text(g) for g in checks], [], [], ""
    m = int(sh["what"].str.startswith("change").sum()) if not sh.empty else 0   # one deciding interval per IPC
    level = family_level(m)
    for ipc in p.difficulty_ipcs:
        b_ipc = best[best["ipc"] == ipc].set_index("budget")
        if b_ipc.empty:
            continue
        change = sh[(sh["ipc"] == ipc) & sh["what"].str.startswith("change")]
        if len(change):
            outcomes.append(beats(at_level(change.iloc[0], level)))
            power = power or power_text(change.iloc[0], "the change of the gap")
        path = ", ".join(f"{b:,}: {b_ipc.loc[b, 'name']}" for b in p.compute_budgets if b in b_ipc.index)
        txt = f"IPC {ipc}: the best bin on validation, by budget: {path} (0% = easiest)."
        share = (moves or {}).get(ipc, float("nan"))
        if np.isfinite(share):
            txt += (f" It is harder at {hi_b:,} than at {lo_b:,} in {share:.0%} of {BOOTSTRAP:,} bootstrap "
                    f"resamples of the seeds.")
        for _, r in sh[sh["ipc"] == ipc].iterrows():
            txt += (f" {r['what'].capitalize()}{'' if r['what'].startswith('change') else f' at {r.budget:,}'}: "
                    f"{ci_text(r)} points.")
            key.append(key_number(f"{r['what']}, IPC {ipc}" + ("" if r["what"].startswith("change") else
                                                               f", budget {r['budget']:,}"), r))
        if len(change):
            txt += f" Outcome: {outcomes[-1]} ({family_text(m, 'IPC')}; the numbers shown are 95% intervals)."
        details.append(txt)
    status = verdict_status(outcomes if lo_b != hi_b else [], len(p.seeds))
    sentence = (f"The claim that the hard-minus-easy gap grows with compute is {status} at this scale (the "
                f"interaction holds, above zero, at {outcomes.count('holds')} of {len(outcomes)} IPCs and is refuted, "
                f"under {MARGIN * 100:g} point, at {outcomes.count('refuted')}; {family_text(m, 'IPC')}; "
                f"{len(p.seeds)} seeds, budgets {lo_b:,} to {hi_b:,} samples seen{'; ' + power if power else ''}).")
    easiest = [ipc for ipc in p.difficulty_ipcs if len(best[best["ipc"] == ipc]) and
               (best.loc[best["ipc"] == ipc, "name"] == bin_name(p, 0)).all()]
    if easiest:
        sentence += (f" The easiest bin is the best on validation at every budget tested (IPC "
                     f"{', '.join(map(str, easiest))}): up to {hi_b:,} samples seen the best bin does not move "
                     f"toward harder images; whether it does at larger budgets is beyond this sweep.")
    if place is not None and not place.empty:
        parts = [f"{r['set']}: {r['mean'] * 100:.0f} [{r['lo'] * 100:.0f}, {r['hi'] * 100:.0f}]"
                 for _, r in place.iterrows()]
        sentence += (f" Mean difficulty percentile of the picks by {axis_name(p)} (50 = a uniform draw; intervals "
                     f"over the images of one draw): {'; '.join(parts)}.")
    status, sentence = gated(status, sentence, checks)
    change = sh[sh["what"].str.startswith("change")] if not sh.empty else sh
    return dict(status=status, headline=headline(sh, p, outcomes[0] if outcomes else "open"),
                sure=how_sure(outcomes, "IPCs", power, checks),
                deciding=deciding(f"change of the hard-minus-easy gap from {lo_b:,} to {hi_b:,}, IPC "
                                  f"{int(change['ipc'].iloc[0])}", change.iloc[0]) if len(change) else None,
                sentence=sentence, details=details, key_numbers=key, gates=checks)


def headline(sh: pd.DataFrame, p: Profile, decided: str) -> str:
    """The verdict's first sentence in plain words [issue 36]: at the first IPC, the hardest bin against the
    easiest at the smallest and the largest budget, and whether the gap between them grows (``decided``: that IPC's
    outcome)."""
    if sh.empty:
        return "The sweep has no hard-minus-easy gap to read."
    ipc = int(sh["ipc"].iloc[0])
    t = sh[sh["ipc"] == ipc]
    gaps, change = t[t["what"] == "hard minus easy"].set_index("budget")["mean"], t[t["what"].str.startswith("change")]
    lo_b, hi_b = min(p.compute_budgets), max(p.compute_budgets)
    text = (f"At IPC {ipc}, images from the hardest bin score {above_or_below(gaps[lo_b], 'the easiest')} at "
            f"{lo_b:,} samples seen")
    if change.empty:
        return text + "; one budget cannot show the gap change."
    end = {"holds": "the hard images gain with compute",
           "refuted": f"the hard images gain under {MARGIN * 100:g} point with compute"}.get(
        decided, "the seeds cannot tell whether the hard images gain with compute")
    return text + f" and {above_or_below(gaps[hi_b], unit='')} at {hi_b:,}: {end}."


def analyse(df: pd.DataFrame, p: Profile) -> dict:
    table = accuracy_table(df, p)
    best = best_bins(table)
    sh = shift(df, p)
    picks = picks_on_axis(df, p)
    place = placement(picks) if not picks.empty else pd.DataFrame()
    moves = {ipc: best_bin_moves(df, p, ipc) for ipc in p.difficulty_ipcs}
    return dict(table=table, best=best, shift=sh, picks=picks, placement=place, moves=moves,
                verdict=verdict(table, best, sh, p, place, moves, gates(table, scorer(p))))
