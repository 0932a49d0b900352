"""Chapter 03, the hard-label re-evaluation (the paper's claim 3): at equal IPC and an equal training budget, most
DD methods fail to beat a random real subset under hard labels (HL); RDED does, but it leans on easy patches and
trails a strong coreset. Every distilled set is trained under HL and under SL+KD (the regime DD papers report) next
to random and chapter 01's coresets, with the same recipe, budget and seeds.

Gain of a method at (budget, arm, IPC): its test accuracy minus the random subset's, paired by seed. The *strongest
coreset* of (budget, arm, IPC) is chapter 01's best non-random selector on VALIDATION accuracy.

Reproduction criterion (revised in issue 12 to rest on positive evidence), per (budget, IPC) under HL:
(a) RDED beats random: its gain's 95% interval lies above zero (holds) or below it (refuted);
(b) most of the other DD methods do not: more than half of them are shown not to, by the equivalence test (gain's
    upper bound under ``analysis.MARGIN``) (holds); at least half beat random with an interval above zero (refuted);
(c) RDED trails the strongest coreset: coreset minus RDED, paired by seed, lies above zero (holds) or below
    (refuted).
A point holds when all three hold and is refuted when one is (``analysis.both``); the status follows
``analysis.verdict_status``, after the gate of :func:`gates` (one set per seed). Beside it, not part of it: RDED's easy-patch bias, measured with a score RDED did not
optimise (:data:`BIAS_SCORE`, the scoring run's EL2N; RDED picks crops by the teacher's loss), with intervals over
seeds, one RDED set per seed; and each method's share of its SL+KD lead over random that survives under HL
(DD-Ranking's idea).
"""
from __future__ import annotations

from dataclasses import asdict, replace

import numpy as np
import pandas as pd
import torch

from .. import data, distill as distillers, profile as prof, select
from ..analysis import MARGIN, best_on_validation, both, by_seed, equivalent, fmt, gain_table, gate, gate_text, \
    gated, key_number, label_arms, outcome, paired_difference, points_text, power_text, survival_table, t_interval, \
    verdict_status
from ..experiment import sweep, unique
from ..profile import Profile
from .label_regimes import coresets

CHAPTER = "03_hard_label_reevaluation"
LABEL = "ch-hard-labels"
TITLE = "The hard-label re-evaluation"
CLAIM = ("Under hard labels most DD methods fail to beat a random subset of the same size; RDED does, but it leans "
         "on easy patches and trails a strong coreset.")
EASY_METHOD = "rded"
BIAS_SCORE = "el2n"   # [issue 12] the easy-patch bias read with a score RDED did not optimise (it minimises the
                      # teacher's loss when it picks crops): the EL2N of chapter 01's first scoring run


tune = prof.kd_temperature      # the KD temperature chosen on validation (chapter 02's runs)


def knobs_table(p: Profile) -> pd.DataFrame:
    """Every method's knobs as this run uses them (one column per method, values as written)."""
    cols = {distillers.NAMES[m]: {k: str(v) for k, v in
                                  asdict(distillers.make_knobs(m, prof.distill_knobs(p, m))).items()}
            for m in p.methods}
    return pd.DataFrame(cols).fillna("")


def configs(p: Profile, temperature: float) -> list:
    """Every (budget, arm, IPC) x (random, chapter 01's coresets, each method) x seed."""
    out = []
    for b in p.budgets:
        for arm in p.dd_arms:
            for ipc in p.dd_ipcs:
                for s in p.seeds:
                    run = dict(ipc=ipc, **prof.arm(arm), budget=b, seed=s)
                    out += [prof.subset_run(p, name, temperature, **run) for name in p.selectors]
                    out += [prof.distilled_run(p, m, temperature, **run) for m in p.methods]
    return unique(out)


def run(p: Profile, temperature: float, progress: bool = True) -> pd.DataFrame:
    df = label_arms(sweep(configs(p, temperature), progress=progress, desc="re-evaluation runs", store=p.store))
    df["method"] = [d if isinstance(d, str) and d else s for d, s in zip(df["distill"].fillna(""), df["select"])]
    return df


def describe(p: Profile, n_train: int) -> str:
    budgets = ", ".join(f"{b:,} samples seen ({-(-b // p.batch):,} steps of {p.batch})" for b in p.budgets)
    sets = ("one distilled set per method and IPC (seed "
            f"{p.distill_seed}), trained with every seed" if p.distill_seed is not None
            else "one distilled set per method, IPC and seed")
    return (f"- **Data**: `{p.dataset}`, {n_train:,} training images after the validation split "
            f"({p.val_per_class} per class)\n"
            f"- **Student**: `{p.model}` (also the network DM, DC and MTT distil with); **teacher**: "
            f"`{p.teacher_model}`, {p.teacher_epochs:g} epochs (RDED's observer, SRe2L's BatchNorm statistics "
            f"and the SL+KD teacher)\n"
            f"- **Budget**: {budgets}, the same for every set\n"
            f"- **Sets**: IPC {', '.join(map(str, p.dd_ipcs))}; methods {', '.join(map(_name, p.methods))}; {sets}; "
            f"against random and the strongest of chapter 01's coresets ({', '.join(coresets(p.selectors))})\n"
            f"- **Arms**: {', '.join(p.dd_arms)}; **seeds**: {', '.join(map(str, p.seeds))}; **device**: "
            f"`{p.device}`; **profile**: `{p.profile}`")


# --- analysis ---------------------------------------------------------------------------------------------------

def strongest_coreset(df: pd.DataFrame, p: Profile, budget, arm, ipc) -> str | None:
    """Chapter 01's non-random selector with the best mean validation accuracy at (budget, arm, IPC)."""
    t = pd.DataFrame(gain_table(df, [dict(budget=budget, arm=arm, ipc=ipc)], coresets(p.selectors)))
    best = best_on_validation(t)
    return None if best is None else str(best["method"])


def accuracy_table(df: pd.DataFrame, p: Profile) -> pd.DataFrame:
    """Per (budget, arm, IPC, method): test accuracy with its interval, the gain over random (paired), and the
    distillation wall time and kind of each set ('random', 'coreset' or 'distilled')."""
    rows = []
    for b in p.budgets:
        for arm in p.dd_arms:
            for ipc in p.dd_ipcs:
                core = strongest_coreset(df, p, b, arm, ipc)
                for r in gain_table(df, [dict(budget=b, arm=arm, ipc=ipc)],
                                    ["random", *coresets(p.selectors), *p.methods]):
                    m = r["method"]
                    sub = df[(df["method"] == m) & (df["budget"] == b) & (df["arm"] == arm)
                             & (df["ipc"].astype(str) == str(ipc))]
                    kind = "random" if m == "random" else "distilled" if m in p.methods else "coreset"
                    wall = float(sub["distill_wall_s"].mean()) if kind == "distilled" and "distill_wall_s" in sub \
                        else np.nan
                    rows.append(dict(r, budget=int(b), ipc=int(ipc), kind=kind, strongest=m == core, distill_s=wall))
    return pd.DataFrame(rows)


def table_for_page(table: pd.DataFrame, arms: list) -> pd.DataFrame:
    """The accuracy table as the page shows it: per set, each arm's test accuracy (%, mean ± half-width) and gain
    over random (points, paired interval), and the distillation wall time in seconds."""
    out = table[["budget", "ipc", "method"]].drop_duplicates().set_index(["budget", "ipc", "method"])
    for arm in arms:
        t = table[table["arm"] == arm].set_index(["budget", "ipc", "method"])
        out[f"{arm} accuracy"] = pd.Series([fmt(r) for _, r in t.iterrows()], index=t.index, dtype=object)
        out[f"{arm} gain"] = pd.Series(["" if r["kind"] == "random" else points_text(r["gain"], r["gain_lo"],
                                                                                      r["gain_hi"])
                                        for _, r in t.iterrows()], index=t.index, dtype=object)
    wall = table.groupby(["budget", "ipc", "method"], sort=False)["distill_s"].first()
    out["distillation s"] = wall.map(lambda v: "" if not np.isfinite(v) else f"{v:.0f}")
    return out


def survival_for_page(survival: pd.DataFrame) -> pd.DataFrame:
    s = survival.assign(**{c: survival[c].map(lambda v: f"{v * 100:+.1f}") for c in ("gain_soft", "gain_hl")},
                        share=survival["share"].map(lambda v: "–" if not np.isfinite(v) else f"{v:.0%}"))
    return s.rename(columns={"gain_soft": "gain, soft arm", "gain_hl": "gain, HL", "share": "share left under HL"}
                    ).set_index(["budget", "ipc", "method", "soft_arm"])


def ranking(table: pd.DataFrame) -> pd.DataFrame:
    """Rank of every set by mean test accuracy (1 = best) within each (budget, arm, IPC)."""
    t = table.copy()
    t["rank"] = t.groupby(["budget", "arm", "ipc"])["mean"].rank(ascending=False, method="min").astype(int)
    return t


def source_difficulty(p: Profile) -> torch.Tensor:
    """Each training image's difficulty as its percentile (0 = easiest, 1 = hardest) within its class, by
    :data:`BIAS_SCORE` from the first of the profile's scoring runs (``prof.recorder``, its first seed: one run is
    enough to rank, and a fresh build makes no more), a network RDED never consulted."""
    splits = data.load(p.dataset, p.val_per_class)
    recorder = replace(prof.recorder(p), seeds=tuple(p.recorder_seeds[:1]))
    return select.class_percentile(select.difficulty(BIAS_SCORE, splits, recorder=recorder, device=p.device),
                                   splits.y_train)


def picks_difficulty(df: pd.DataFrame, p: Profile) -> pd.DataFrame:
    """Where the images behind each set sit in their class's difficulty distribution (:func:`source_difficulty`):
    RDED's source images (a set distilled with each seed, so that an interval is over sets), the strongest HL
    coreset's picks and the random subset's, per (budget, IPC, seed). One row per picked image."""
    pct = source_difficulty(p)
    splits = data.load(p.dataset, p.val_per_class)
    rows = []
    for b in p.budgets:
        for ipc in p.dd_ipcs:
            core = strongest_coreset(df, p, b, "HL", ipc)
            for s in p.seeds:
                picks = {"random": select.select("random", splits, ipc, s)["indices"]}
                if core:
                    picks[core] = select.select(core, splits, ipc, s, teacher=prof.teacher(p), device=p.device,
                                                recorder=prof.recorder(p))["indices"]
                if EASY_METHOD in p.methods:
                    rcfg = replace(prof.distilled_run(p, EASY_METHOD, ipc=ipc, budget=b, seed=s), distill_seed=s)
                    picks[EASY_METHOD] = torch.tensor(rcfg.synset().meta["sources"])
                for m, idx in picks.items():
                    rows += [dict(budget=b, ipc=ipc, seed=s, method=m, percentile=float(v)) for v in pct[idx]]
    return pd.DataFrame(rows)


def easy_bias(picks: pd.DataFrame) -> pd.DataFrame:
    """Mean difficulty percentile of each set's source images (50 = a uniform draw from the class), with a 95%
    interval over seeds: the mean of each seed's set is one value (images of one set are not independent)."""
    rows = []
    for (b, ipc, m), t in picks.groupby(["budget", "ipc", "method"], sort=False):
        rows.append(dict(budget=b, ipc=ipc, method=m, **t_interval(t.groupby("seed")["percentile"].mean())))
    return pd.DataFrame(rows)


def _name(m: str) -> str:
    return distillers.NAMES.get(m, m)


def gates(df: pd.DataFrame, p: Profile) -> list:
    """The sets vary with the seed (``distill_seed`` is null: one set per seed). With one set per method, trained with
    every seed (the DD convention), each method's gain over random holds the luck of one draw: DC, DM and MTT start
    from the real images of their seed's random subset, RDED crops from it [issue 13]. The gate's numbers: how far
    that draw's random subset sits from the mean over draws, under HL, at each budget and IPC."""
    if p.distill_seed is None:
        return [gate("one set per seed", True, "every seed distils its own set")]
    out = []
    for b in p.budgets:
        for ipc in p.dd_ipcs:
            rnd = by_seed(df, method="random", budget=b, arm="HL", ipc=ipc)
            if p.distill_seed in rnd and len(rnd) > 1:
                others = [v for s, v in rnd.items() if s != p.distill_seed]
                luck = rnd[p.distill_seed] - float(np.mean(others))
                out.append(gate(f"one set per seed (IPC {ipc}{f', budget {b:,}' if len(p.budgets) > 1 else ''})",
                                False, f"one set per method, from distillation seed {p.distill_seed}, whose random "
                                       f"subset sits {luck * 100:+.1f} points from the mean of the other "
                                       f"{len(others)} draws; set distill_seed: null"))
    return out


def verdict(df: pd.DataFrame, table: pd.DataFrame, p: Profile, bias: pd.DataFrame | None = None) -> dict:
    """Apply the criterion of the module docstring at every (budget, IPC); say plainly which methods beat random
    under HL and which are shown not to, with intervals."""
    others = [m for m in p.methods if m != EASY_METHOD]
    details, key, outcomes, power = [], [], [], ""
    names = {"a": "RDED beats random", "b": "most other methods fail to beat random",
             "c": "RDED trails the strongest coreset"}
    subs_seen = {k: [] for k in (names if EASY_METHOD in p.methods else ["b"])}
    for b in p.budgets:
        for ipc in p.dd_ipcs:
            hl = table[(table["budget"] == b) & (table["arm"] == "HL") & (table["ipc"] == ipc)]
            if hl.empty:
                continue
            g = {r["method"]: r for _, r in hl.iterrows()}
            gain = {m: dict(mean=g[m]["gain"], lo=g[m]["gain_lo"], hi=g[m]["gain_hi"], n=g[m]["gain_n"])
                    for m in p.methods if m in g}
            beats = [m for m in gain if outcome(gain[m]) == "holds"]
            shown_not = [m for m in others if m in gain and equivalent(gain[m])]
            present = [m for m in others if m in gain]
            sub = {"b": "holds" if present and len(shown_not) > len(present) / 2 else
                   "refuted" if present and sum(m in beats for m in present) >= len(present) / 2 else "open"}
            core, trail = strongest_coreset(df, p, b, "HL", ipc), None
            if EASY_METHOD in p.methods:
                sub["a"] = outcome(gain[EASY_METHOD]) if EASY_METHOD in gain else "open"
                sub["c"] = "open"
                if core and EASY_METHOD in g:
                    trail = paired_difference(by_seed(df, method=core, budget=b, arm="HL", ipc=ipc),
                                              by_seed(df, method=EASY_METHOD, budget=b, arm="HL", ipc=ipc))
                    sub["c"] = outcome(trail)
            for k in subs_seen:
                subs_seen[k].append(sub[k])
            outcomes.append(both(*(sub[k] for k in subs_seen)))
            if EASY_METHOD in gain:
                power = power or power_text(gain[EASY_METHOD], "RDED's gain over random")
            lead = f"budget {b:,}, " if len(p.budgets) > 1 else ""
            gains = "; ".join(f"{_name(m)} {points_text(v['mean'], v['lo'], v['hi'])}" for m, v in gain.items())
            txt = (f"{lead}IPC {ipc} under HL: {outcomes[-1]}. Gain over random in accuracy points (95% interval): "
                   f"{gains}. Beat random: {', '.join(map(_name, beats)) if beats else 'none'}; shown not to "
                   f"(upper bound under {MARGIN * 100:g} point): {', '.join(map(_name, shown_not)) or 'none'}. "
                   + "; ".join(f"({k}) {names[k]}: {sub[k]}" for k in subs_seen))
            if trail is not None:
                txt += f" (coreset {core} minus RDED {points_text(trail['mean'], trail['lo'], trail['hi'])})"
            details.append(txt + ".")
            for m, v in gain.items():
                key.append(key_number(f"HL gain over random, {_name(m)}, IPC {ipc}"
                                      + (f", budget {b:,}" if lead else ""), v))
    if not outcomes:
        return dict(status="inconclusive", sentence="The sweep has no HL results.", details=[], key_numbers=[])
    checks = gates(df, p)
    details = [gate_text(g) for g in checks] + details
    status = verdict_status(outcomes, len(p.seeds))
    beaters = sorted({m for m in p.methods for _, r in table[(table["arm"] == "HL") & (table["method"] == m)].iterrows()
                      if np.isfinite(r["gain_lo"]) and r["gain_lo"] > 0})
    per_sub = "; ".join(f"({k}) {names[k]}: " + ", ".join(v) for k, v in subs_seen.items())
    sentence = (f"Under hard labels, {', '.join(map(_name, beaters)) if beaters else 'no DD method'} beat"
                f"{'s' if len(beaters) == 1 else ''} a random subset of the same size with a 95% interval above zero "
                f"(of {', '.join(map(_name, p.methods))}; {len(p.seeds)} seeds{'; ' + power if power else ''}). "
                f"The paper's claim is {status} at this scale: {per_sub}.")
    status, sentence = gated(status, sentence, checks)
    if bias is not None and not bias.empty and EASY_METHOD in set(bias["method"]):
        r = bias[bias["method"] == EASY_METHOD].iloc[0]
        easier = bool(np.isfinite(r["hi"]) and r["hi"] < 0.5)
        sentence += (f" By the scoring run's {BIAS_SCORE.upper()} (a score RDED did not optimise), RDED's source "
                     f"images sit at difficulty percentile {r['mean'] * 100:.0f} [{r['lo'] * 100:.0f}, "
                     f"{r['hi'] * 100:.0f}] of their class (interval over {int(r['n'])} sets; a uniform draw: 50): "
                     f"{'easier than a uniform draw' if easier else 'not shown easier than a uniform draw'}.")
        core = bias[~bias["method"].isin([EASY_METHOD, "random"])]
        if len(core):
            c = core.iloc[0]
            sentence += f" The strongest coreset's ({c['method']}) sit at {c['mean'] * 100:.0f}."
    return dict(status=status, sentence=sentence, details=details, key_numbers=key, gates=checks)


def analyse(df: pd.DataFrame, p: Profile) -> dict:
    table = accuracy_table(df, p)
    picks = picks_difficulty(df, p)
    bias = easy_bias(picks) if not picks.empty else pd.DataFrame()
    survival = survival_table(table, [a for a in p.dd_arms if a != "HL"], ("budget", "ipc"))
    return dict(table=table, ranks=ranking(table), survival=survival, picks=picks, bias=bias,
                verdict=verdict(df, table, p, bias))
