"""Chapter 03, the hard-label re-evaluation (the paper's claim 3): at equal IPC and an equal training budget, most
DD methods fail to beat a random real subset under hard labels (HL); RDED does, but it leans on easy patches and
trails a strong coreset. Every distilled set is trained under HL and under SL+KD (the regime DD papers report) next
to random and chapter 01's coresets, with the same recipe, budget and seeds.

Gain of a method at (budget, arm, IPC): its test accuracy minus the random subset's, paired by seed. The *strongest
coreset* of (budget, arm, IPC) is chapter 01's best non-random selector on VALIDATION accuracy.

Reproduction criterion (fixed before any number was seen), per (budget, IPC) under HL:
(a) RDED beats random (its gain's 95% interval lies above zero);
(b) most of the other DD methods do not (fewer than half of them have a gain interval above zero);
(c) RDED trails the strongest coreset (coreset minus RDED, paired by seed, has an interval above zero).
All three at every point: reproduced; at least one sub-claim somewhere: partly reproduced; none: not reproduced.
Beside it, not part of it: RDED's easy-patch bias (where its source images sit in their class's difficulty
distribution) and each method's share of its SL+KD lead over random that survives under HL (DD-Ranking's idea).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd
import torch

from .. import data, distill as distillers, regimes, select
from ..errors import DDLibError
from ..experiment import RunConfig, sweep, unique
from ..stats import fmt, paired_difference, t_interval
from . import common, label_regimes
from .common import CommonParams

CHAPTER = "03_hard_label_reevaluation"
LABEL = "ch-hard-labels"
TITLE = "The hard-label re-evaluation"
CLAIM = ("Under hard labels most DD methods fail to beat a random subset of the same size; RDED does, but it leans "
         "on easy patches and trails a strong coreset.")
EASY_METHOD = "rded"


@dataclass
class Params(CommonParams):
    """The chapter's knobs (and the common ones); the defaults are the quick profile. ``budgets``, ``seeds`` and
    ``selectors`` mean what they mean in chapter 01, so the random subsets and coresets come from the cache."""
    budgets: list = field(default_factory=lambda: [12_800])
    dd_ipcs: list = field(default_factory=lambda: [10])          # [ours, CPU] the paper profile: 1, 10, 50
    methods: list = field(default_factory=lambda: ["dm", "dc", "mtt", "sre2l", "rded"])
    dd_arms: list = field(default_factory=lambda: ["HL", "SL+KD"])
    selectors: list = field(default_factory=lambda: ["random", "herding"])   # chapter 01's; the strongest is used
    recorder_model: str = "convnet3-w16-instancenorm"
    recorder_epochs: float = 2.0
    recorder_batch: int = 32
    distill_seed: int | None = 0     # one set per (method, IPC) for every training seed; None: a set per seed
    distill_knobs: dict = field(default_factory=dict)   # {method: {knob: value}}; the student's model by default


def check(p: Params) -> Params:
    for m in p.methods:
        distillers.check(m)
    for m, k in (p.distill_knobs or {}).items():
        distillers.check(m)
        distillers.make_knobs(m, k)
    for arm in p.dd_arms:
        if arm not in regimes.ARMS:
            raise DDLibError(f"unknown arm {arm!r}; valid: {', '.join(regimes.ARMS)}")
    if "HL" not in p.dd_arms:
        raise DDLibError("dd_arms must include 'HL' (the chapter's claim is about hard labels)")
    for s in p.selectors:
        select.check(s)
    if not p.seeds:
        raise DDLibError("seeds is empty")
    return p


def tune_temperature(p: Params, progress: bool = True) -> tuple:
    """The KD temperature chosen on validation: exactly chapter 02's runs (cached)."""
    return common.tune_temperature(p, min(p.budgets), progress)


def knobs_for(p: Params, method: str) -> tuple:
    """The method's knobs: the profile's, plus, unless given, the student's network for the methods that train one
    on the images (DM, DC, MTT: the DD convention) and the chapter's teacher for SRe2L (it must use BatchNorm)."""
    k = dict((p.distill_knobs or {}).get(method, {}))
    fields = distillers.METHODS[method].Knobs.__dataclass_fields__
    if "model" in fields:
        k.setdefault("model", p.model)
    if method == "sre2l":
        k.setdefault("teacher_model", p.teacher_model)
    return tuple(sorted(k.items()))


def knobs_table(p: Params) -> pd.DataFrame:
    """Every method's knobs as this run uses them (one column per method, values as written)."""
    cols = {distillers.NAMES[m]: {k: str(v) for k, v in asdict(distillers.make_knobs(m, knobs_for(p, m))).items()}
            for m in p.methods}
    return pd.DataFrame(cols).fillna("")


def configs(p: Params, temperature: float) -> list:
    """Every (budget, arm, IPC) x (random, chapter 01's coresets, each method) x seed."""
    check(p)
    ch01 = common.as_params(label_regimes.Params, p)
    out = []
    for b in p.budgets:
        for arm in p.dd_arms:
            regime, optim = regimes.ARMS[arm]
            for ipc in p.dd_ipcs:
                for s in p.seeds:
                    out += [label_regimes.run_config(ch01, temperature, name, ipc=ipc, regime=regime, optim=optim,
                                                  budget=b, seed=s) for name in p.selectors]
                    out += [RunConfig(**common.run_kwargs(p, temperature), ipc=ipc, regime=regime, optim=optim,
                                      budget=b, seed=s, distill=m, distill_knobs=knobs_for(p, m),
                                      distill_seed=p.distill_seed) for m in p.methods]
    return unique(out)


def run(p: Params, temperature: float, progress: bool = True) -> pd.DataFrame:
    df = common.label_arms(sweep(configs(p, temperature), progress=progress, desc="re-evaluation runs"))
    df["method"] = [d if isinstance(d, str) and d else s for d, s in zip(df["distill"].fillna(""), df["select"])]
    return df


def describe(p: Params, n_train: int) -> str:
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
            f"against random and the strongest of chapter 01's coresets ({', '.join(label_regimes.coresets(p.selectors))})\n"
            f"- **Arms**: {', '.join(p.dd_arms)}; **seeds**: {', '.join(map(str, p.seeds))}; **device**: "
            f"`{p.device}`; **profile**: `{p.profile}`")


# --- analysis ---------------------------------------------------------------------------------------------------

def _acc(df, value="test_acc", **where) -> dict:
    return common.by_seed(df, value, **where)


def strongest_coreset(df: pd.DataFrame, p: Params, budget, arm, ipc) -> str | None:
    """Chapter 01's non-random selector with the best mean validation accuracy at (budget, arm, IPC)."""
    best, name = -np.inf, None
    for s in label_regimes.coresets(p.selectors):
        v = _acc(df, "val_acc", method=s, budget=budget, arm=arm, ipc=ipc)
        if v and np.mean(list(v.values())) > best:
            best, name = float(np.mean(list(v.values()))), s
    return name


def accuracy_table(df: pd.DataFrame, p: Params) -> pd.DataFrame:
    """Per (budget, arm, IPC, method): test accuracy with its interval, the gain over random (paired), and the
    distillation wall time and kind of each set ('random', 'coreset' or 'distilled')."""
    rows = []
    for b in p.budgets:
        for arm in p.dd_arms:
            for ipc in p.dd_ipcs:
                where = dict(budget=b, arm=arm, ipc=ipc)
                rnd = _acc(df, method="random", **where)
                core = strongest_coreset(df, p, b, arm, ipc)
                for m in ["random", *label_regimes.coresets(p.selectors), *p.methods]:
                    acc = _acc(df, method=m, **where)
                    if not acc:
                        continue
                    sub = df[(df["method"] == m) & (df["budget"] == b) & (df["arm"] == arm)
                             & (df["ipc"].astype(str) == str(ipc))]
                    kind = "random" if m == "random" else "distilled" if m in p.methods else "coreset"
                    gain = paired_difference(acc, rnd) if m != "random" else dict(mean=0.0, lo=0.0, hi=0.0, n=len(acc))
                    wall = float(sub["distill_wall_s"].mean()) if kind == "distilled" and "distill_wall_s" in sub \
                        else np.nan
                    rows.append(dict(budget=int(b), arm=arm, ipc=int(ipc), method=m, kind=kind,
                                     strongest=m == core, **t_interval(acc.values()),
                                     gain=gain["mean"], gain_lo=gain["lo"], gain_hi=gain["hi"], distill_s=wall))
    return pd.DataFrame(rows)


def table_for_page(table: pd.DataFrame, arms: list) -> pd.DataFrame:
    """The accuracy table as the page shows it: per set, each arm's test accuracy (%, mean ± half-width) and gain
    over random (points, paired interval), and the distillation wall time in seconds."""
    out = table[["budget", "ipc", "method"]].drop_duplicates().set_index(["budget", "ipc", "method"])
    for arm in arms:
        t = table[table["arm"] == arm].set_index(["budget", "ipc", "method"])
        out[f"{arm} accuracy"] = pd.Series([fmt(r) for _, r in t.iterrows()], index=t.index, dtype=object)
        out[f"{arm} gain"] = pd.Series(["" if r["kind"] == "random" else common.pts(r["gain"], r["gain_lo"],
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


def bias_for_page(bias: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"mean difficulty percentile (50 = uniform)": [fmt(r, digits=0) for _, r in bias.iterrows()],
                         "images": bias["n"].astype(int).to_numpy()},
                        index=pd.MultiIndex.from_frame(bias[["budget", "ipc", "method"]]))


def ranking(table: pd.DataFrame) -> pd.DataFrame:
    """Rank of every set by mean test accuracy (1 = best) within each (budget, arm, IPC)."""
    t = table.copy()
    t["rank"] = t.groupby(["budget", "arm", "ipc"])["mean"].rank(ascending=False, method="min").astype(int)
    return t


def survival_table(table: pd.DataFrame, p: Params) -> pd.DataFrame:
    """DD-Ranking's question: of each set's lead over random under the soft-label arm, how much is left under HL?
    ``share`` = gain_HL / gain_soft, defined only where the soft-label gain is positive."""
    soft = [a for a in p.dd_arms if a != "HL"]
    rows = []
    for arm in soft:
        for (b, ipc, m), t in table[table["method"] != "random"].groupby(["budget", "ipc", "method"], sort=False):
            hl, sl = t[t["arm"] == "HL"], t[t["arm"] == arm]
            if hl.empty or sl.empty:
                continue
            g_hl, g_sl = float(hl["gain"].iloc[0]), float(sl["gain"].iloc[0])
            rows.append(dict(budget=b, ipc=ipc, method=m, kind=hl["kind"].iloc[0], soft_arm=arm,
                             gain_soft=g_sl, gain_hl=g_hl, share=g_hl / g_sl if g_sl > 0 else np.nan))
    return pd.DataFrame(rows)


def teacher_difficulty(p: Params) -> torch.Tensor:
    """Each training image's difficulty as its percentile (0 = easiest, 1 = hardest) within its class, by the
    teacher's true-class cross-entropy on the un-augmented image."""
    splits = data.load(p.dataset, p.val_per_class)
    return select.class_percentile(select.teacher_loss(splits, common.teacher_config(p), device=p.device),
                                   splits.y_train)


def picks_difficulty(df: pd.DataFrame, p: Params) -> pd.DataFrame:
    """Where the images behind each set sit in their class's difficulty distribution (teacher-loss percentile):
    RDED's source images, the strongest HL coreset's picks and the random subset's, per (budget, IPC, seed).
    One row per picked image."""
    pct = teacher_difficulty(p)
    splits = data.load(p.dataset, p.val_per_class)
    rows = []
    for b in p.budgets:
        for ipc in p.dd_ipcs:
            core = strongest_coreset(df, p, b, "HL", ipc)
            for s in p.seeds:
                cfg = RunConfig(**common.run_kwargs(p, 1.0), ipc=ipc, budget=b, seed=s)  # T: no part of a set
                picks = {"random": select.select("random", splits, ipc, s)["indices"]}
                if core:
                    picks[core] = select.select(core, splits, ipc, s, teacher=cfg.teacher, device=p.device,
                                                recorder=label_regimes.recorder(p))["indices"]
                if EASY_METHOD in p.methods:
                    rcfg = replace(cfg, distill=EASY_METHOD, distill_knobs=knobs_for(p, EASY_METHOD),
                                   distill_seed=p.distill_seed)
                    picks[EASY_METHOD] = torch.tensor(rcfg.synset().meta["sources"])
                for m, idx in picks.items():
                    rows += [dict(budget=b, ipc=ipc, seed=s, method=m, percentile=float(v)) for v in pct[idx]]
    return pd.DataFrame(rows)


def easy_bias(picks: pd.DataFrame) -> pd.DataFrame:
    """Mean difficulty percentile of each set's source images (50 = a uniform draw from the class), with a 95%
    interval over the images of the first seed (a set shared by every seed is counted once)."""
    rows = []
    for (b, ipc, m), t in picks.groupby(["budget", "ipc", "method"], sort=False):
        t = t[t["seed"] == t["seed"].min()]
        rows.append(dict(budget=b, ipc=ipc, method=m, **t_interval(t["percentile"])))
    return pd.DataFrame(rows)


def _name(m: str) -> str:
    return distillers.NAMES.get(m, m)


def _above(lo) -> bool:
    return bool(np.isfinite(lo) and lo > 0)


def _pts(mean, lo, hi) -> str:
    if not np.isfinite(lo):
        return f"{mean * 100:+.1f} (no interval)"
    return f"{mean * 100:+.1f} [{lo * 100:+.1f}, {hi * 100:+.1f}]"


def verdict(df: pd.DataFrame, table: pd.DataFrame, p: Params, bias: pd.DataFrame | None = None) -> dict:
    """Apply the criterion of the module docstring at every (budget, IPC); say plainly which methods beat random
    under HL, with intervals."""
    others = [m for m in p.methods if m != EASY_METHOD]
    details, key, held, any_sub, points = [], [], 0, False, 0
    sub_held = {"b": True} if EASY_METHOD not in p.methods else {"a": True, "b": True, "c": True}
    for b in p.budgets:
        for ipc in p.dd_ipcs:
            hl = table[(table["budget"] == b) & (table["arm"] == "HL") & (table["ipc"] == ipc)]
            if hl.empty:
                continue
            points += 1
            g = {r["method"]: r for _, r in hl.iterrows()}
            beats = [m for m in p.methods if m in g and _above(g[m]["gain_lo"])]
            a = EASY_METHOD in g and _above(g[EASY_METHOD]["gain_lo"])
            n_other = sum(m in beats for m in others)
            b_ = bool(others) and n_other < len([m for m in others if m in g]) / 2
            core = strongest_coreset(df, p, b, "HL", ipc)
            c, trail = False, None
            if core and EASY_METHOD in g:
                trail = paired_difference(_acc(df, method=core, budget=b, arm="HL", ipc=ipc),
                                          _acc(df, method=EASY_METHOD, budget=b, arm="HL", ipc=ipc))
                c = _above(trail["lo"])
            subs = [a, b_, c] if EASY_METHOD in p.methods else [b_]
            for name, ok in zip(sub_held, subs):
                sub_held[name] &= bool(ok)
            held += all(subs)
            any_sub |= any(subs)
            lead = f"budget {b:,}, " if len(p.budgets) > 1 else ""
            gains = "; ".join(f"{_name(m)} {_pts(g[m]['gain'], g[m]['gain_lo'], g[m]['gain_hi'])}" for m in p.methods
                              if m in g)
            txt = (f"{lead}IPC {ipc} under HL, gain over random in accuracy points (95% interval): {gains}. "
                   f"Beat random: {', '.join(map(_name, beats)) if beats else 'none'}. "
                   f"(a) RDED beats random: {'yes' if a else 'no'}; (b) most other methods do not: "
                   f"{'yes' if b_ else 'no'} ({n_other} of {len(others)} do)")
            if trail is not None:
                txt += (f"; (c) RDED trails the strongest coreset ({core}): {'yes' if c else 'no'}, coreset minus "
                        f"RDED {_pts(trail['mean'], trail['lo'], trail['hi'])}")
            details.append(txt + ".")
            for m in p.methods:
                if m in g:
                    key.append(dict(name=f"HL gain over random, {_name(m)}, IPC {ipc}" + (f", budget {b:,}" if lead else ""),
                                    unit="points", mean=float(g[m]["gain"]), lo=float(g[m]["gain_lo"]),
                                    hi=float(g[m]["gain_hi"]), n=int(g[m]["n"])))
    if not points:
        return dict(status="inconclusive", sentence="The sweep has no HL results.", details=[], key_numbers=[])
    status = "reproduced" if held == points else "partly reproduced" if any_sub else "not reproduced"
    if len(p.seeds) < 2:
        status = "inconclusive"
    beaters = sorted({m for m in p.methods for _, r in table[(table["arm"] == "HL") & (table["method"] == m)].iterrows()
                      if _above(r["gain_lo"])})
    names = {"a": "RDED beats random", "b": "most other methods fail to beat random",
             "c": "RDED trails the strongest coreset"}
    holding = " and ".join(f"({k}) {names[k]}" for k in sub_held if sub_held[k])
    failing = " and ".join(f"({k}) {names[k]}" for k in sub_held if not sub_held[k])
    where = "at every point" if points > 1 else ""
    sentence = (f"Under hard labels, {', '.join(map(_name, beaters)) if beaters else 'no DD method'} beat"
                f"{'s' if len(beaters) == 1 else ''} a random subset of the same size with a 95% interval above zero "
                f"(of {', '.join(map(_name, p.methods))}; {len(p.seeds)} seeds). The paper's claim is {status} at "
                f"this scale: " + "; ".join(
                    ([f"sub-claim{'s' if ' and ' in holding else ''} {holding} hold{'' if ' and ' in holding else 's'}"
                      f"{' ' + where if where else ''}"] if holding else [])
                    + ([f"{failing} {'do' if ' and ' in failing else 'does'} not"
                        f"{' hold at every point' if where else ' hold'}"] if failing else [])) + ".")
    if bias is not None and not bias.empty and EASY_METHOD in set(bias["method"]):
        r = bias[bias["method"] == EASY_METHOD].iloc[0]
        easier = bool(np.isfinite(r["hi"]) and r["hi"] < 0.5)
        sentence += (f" RDED's source images sit at difficulty percentile {r['mean'] * 100:.0f} "
                     f"[{r['lo'] * 100:.0f}, {r['hi'] * 100:.0f}] of their class on average (a uniform draw: 50): "
                     f"{'easier than a uniform draw' if easier else 'not distinguishable from a uniform draw'}.")
        core = bias[~bias["method"].isin([EASY_METHOD, "random"])]
        if len(core):
            c = core.iloc[0]
            sentence += f" The strongest coreset's ({c['method']}) sit at {c['mean'] * 100:.0f}."
    sentence += (" A gain whose interval includes zero is not evidence of no gain: with few seeds, small effects "
                 "stay undetected.")
    return dict(status=status, sentence=sentence, details=details, key_numbers=key)


def analyse(df: pd.DataFrame, p: Params) -> dict:
    table = accuracy_table(df, p)
    picks = picks_difficulty(df, p)
    bias = easy_bias(picks) if not picks.empty else pd.DataFrame()
    return dict(table=table, ranks=ranking(table), survival=survival_table(table, p), picks=picks, bias=bias,
                verdict=verdict(df, table, p, bias))
