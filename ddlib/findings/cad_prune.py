"""Chapter 05, CAD-Prune and CA2D (the paper's claim 4): a subset chosen for the budget (CAD-Prune) and RDED run on
that subset (CA2D), against random, chapter 01's coresets, chapter 03's distilled sets and chapter 04's difficulty
bins, all under HL at the same budgets, IPC, recipe and seeds.

CAD-Prune's free choices (which end of the score to keep, the window J and W, a stratified draw) are chosen per
(budget, IPC) on VALIDATION accuracy, first seed, from ``cad_grid``; CA2D uses CAD-Prune's choice. The best fixed
difficulty window is chapter 04's bin with the best validation accuracy at that (budget, IPC).

Reproduction criterion (fixed before any number was seen), per (budget, IPC) under HL: CA2D beats the strongest DD
method (chosen on validation among chapter 03's) with a paired 95% interval above zero. At every point: reproduced;
at some: partly reproduced; at none: not reproduced. Beside it, not part of it: CAD-Prune against random, the
strongest coreset and the best fixed window.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from .. import distill as distillers, regimes, select
from ..errors import DDLibError
from ..experiment import RunConfig, sweep, unique
from ..stats import paired_difference, t_interval
from . import common, difficulty, hard_labels, label_regimes
from .common import CommonParams

CHAPTER = "05_cad_prune_ca2d"
LABEL = "ch-cad"
TITLE = "CAD-Prune and CA2D"
CLAIM = ("Selecting images of the difficulty that suits the compute budget (CAD-Prune) and distilling from them "
         "(CA2D) beats the DD methods under hard labels.")


@dataclass
class Params(CommonParams):
    """The chapter's knobs (and the common ones, and chapters 01, 03 and 04's where it reuses their runs)."""
    cad_budgets: list = field(default_factory=lambda: [3200, 12_800])      # [ours, CPU] two budgets, x4 apart
    cad_ipcs: list = field(default_factory=lambda: [10])                   # [ours, CPU] the paper: several
    cad_knobs: dict = field(default_factory=lambda: {"probe": 500})        # [ours, CPU] 500 images per class scored
    cad_grid: list = field(default_factory=lambda: [{"which": "hardest"}, {"which": "easiest"},
                                                    {"which": "hardest", "J": 3}])   # chosen on validation
    selectors: list = field(default_factory=lambda: ["random", "herding"])
    methods: list = field(default_factory=lambda: ["dm", "dc", "mtt", "sre2l", "rded"])
    distill_seed: int | None = 0
    distill_knobs: dict = field(default_factory=dict)
    recorder_model: str = "convnet3-w16-instancenorm"
    recorder_epochs: float = 2.0
    recorder_batch: int = 32
    bins: int = 3
    difficulty_score: str = "teacher_loss"


def check(p: Params) -> Params:
    if not p.cad_grid or not all(isinstance(c, dict) for c in p.cad_grid):
        raise DDLibError(f"cad_grid must be a non-empty list of knob dicts, got {p.cad_grid!r}")
    for c in p.cad_grid:
        select.check_knobs("cad", {**p.cad_knobs, **c})
    hard_labels.check(common.as_params(hard_labels.Params, p))
    difficulty.check(_ch04(p))
    return p


def _ch04(p: Params) -> difficulty.Params:
    return replace(common.as_params(difficulty.Params, p), compute_budgets=list(p.cad_budgets),
                   difficulty_ipcs=list(p.cad_ipcs))


def tune_temperature(p: Params, progress: bool = True) -> tuple:
    """HL only: no temperature is read."""
    return 1.0, pd.DataFrame()


def _base(p: Params, ipc, budget, seed) -> dict:
    regime, optim = regimes.ARMS["HL"]
    return dict(common.run_kwargs(p, 1.0), ipc=ipc, regime=regime, optim=optim, budget=budget, seed=seed)


def cad_config(p: Params, ipc, budget, seed, candidate: dict) -> RunConfig:
    return RunConfig(**_base(p, ipc, budget, seed), select="cad",
                     select_knobs=tuple(sorted({**p.cad_knobs, **candidate}.items())))


def ca2d_knobs(p: Params, candidate: dict) -> tuple:
    """CA2D's knobs: CAD-Prune's as chosen, then the profile's own for ca2d (budget, model, batch: the run's)."""
    own = (p.distill_knobs or {}).get("ca2d", {})
    return tuple(sorted({**p.cad_knobs, **candidate, **own}.items()))


def tune(p: Params, progress: bool = True) -> tuple:
    """Per (budget, IPC), the ``cad_grid`` candidate with the best validation accuracy (first seed; ties: the first
    listed). Returns ({(budget, ipc): candidate}, the tuning table)."""
    check(p)
    cfgs = [cad_config(p, ipc, b, p.seeds[0], c) for b in p.cad_budgets for ipc in p.cad_ipcs for c in p.cad_grid]
    df = sweep(cfgs, progress=progress, desc="CAD-Prune on validation")
    vals = iter(df["val_acc"].tolist())                       # the sweep's rows come in the configs' order
    rows, chosen = [], {}
    for b in p.cad_budgets:
        for ipc in p.cad_ipcs:
            v = [next(vals) for _ in p.cad_grid]
            best = int(np.argmax(v))
            chosen[(b, ipc)] = p.cad_grid[best]
            rows += [dict(budget=b, ipc=ipc, candidate=_cand_name(c), val_acc=a, chosen=j == best)
                     for j, (c, a) in enumerate(zip(p.cad_grid, v))]
    return chosen, pd.DataFrame(rows)


def _cand_name(c: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in c.items()) or "defaults"


def configs(p: Params, chosen: dict) -> list:
    """Every (budget, IPC) x (random, coresets, DD methods, CAD-Prune, CA2D, difficulty bins) x seed, under HL."""
    ch01 = common.as_params(label_regimes.Params, p)
    ch03 = common.as_params(hard_labels.Params, p)
    regime, optim = regimes.ARMS["HL"]
    out = []
    for b in p.cad_budgets:
        for ipc in p.cad_ipcs:
            cand = chosen[(b, ipc)]
            for s in p.seeds:
                base = _base(p, ipc, b, s)
                out += [label_regimes.run_config(ch01, 1.0, name, ipc=ipc, regime=regime, optim=optim, budget=b,
                                                 seed=s) for name in p.selectors]
                out += [RunConfig(**base, distill=m, distill_knobs=hard_labels.knobs_for(ch03, m),
                                  distill_seed=p.distill_seed) for m in p.methods]
                out.append(cad_config(p, ipc, b, s, cand))
                out.append(RunConfig(**base, distill="ca2d", distill_knobs=ca2d_knobs(p, cand),
                                     distill_seed=p.distill_seed))
    out += difficulty.configs(_ch04(p))
    return unique(out)


def run(p: Params, temperature: float = 1.0, progress: bool = True) -> pd.DataFrame:
    """CAD-Prune's choice on validation (:func:`tune`, cached), then every run of :func:`configs`."""
    chosen, _ = tune(p, progress)
    df = sweep(configs(p, chosen), progress=progress, desc="CAD-Prune and CA2D runs")
    df = difficulty.label(df, _ch04(p))
    df["method"] = [d if isinstance(d, str) and d else f"bin {int(k)}" if sel == "window" else sel
                    for d, sel, k in zip(df["distill"].fillna(""), df["select"], df["bin"])]
    return df


def describe(p: Params, n_train: int) -> str:
    return (f"- **Data**: `{p.dataset}`, {n_train:,} training images after the validation split\n"
            f"- **Student**: `{p.model}`, HL (SGD), batch {p.batch}; **budgets**: "
            f"{', '.join(f'{b:,}' for b in p.cad_budgets)} samples seen; **IPC**: "
            f"{', '.join(map(str, p.cad_ipcs))}\n"
            f"- **CAD-Prune**: {_cand_name(p.cad_knobs)}; candidates chosen on validation: "
            f"{'; '.join(map(_cand_name, p.cad_grid))}\n"
            f"- **Against**: {', '.join(p.selectors)}, {', '.join(map(_name, p.methods))}, CA2D and "
            f"{p.bins} difficulty bins; **seeds**: {', '.join(map(str, p.seeds))}; **device**: `{p.device}`; "
            f"**profile**: `{p.profile}`")


# --- analysis ---------------------------------------------------------------------------------------------------

def _name(m: str, p: Params | None = None) -> str:
    if p is not None and m.startswith("bin "):
        return f"bin {difficulty.bin_name(p, int(m[4:]))}"
    return {"cad": "CAD-Prune", **distillers.NAMES}.get(m, m)


def kind(m: str, p: Params) -> str:
    return ("random" if m == "random" else "distilled" if m in p.methods else "compute-aligned" if m in ("cad", "ca2d")
            else "bin" if m.startswith("bin ") else "coreset")


def accuracy_table(df: pd.DataFrame, p: Params) -> pd.DataFrame:
    """Per (budget, IPC, method): test accuracy with its interval, mean validation accuracy, gain over random."""
    rows = []
    for b in p.cad_budgets:
        for ipc in p.cad_ipcs:
            rnd = common.by_seed(df, method="random", budget=b, ipc=ipc)
            for m in dict.fromkeys(df["method"]):
                acc = common.by_seed(df, method=m, budget=b, ipc=ipc)
                if not acc:
                    continue
                val = common.by_seed(df, "val_acc", method=m, budget=b, ipc=ipc)
                gain = paired_difference(acc, rnd) if m != "random" else dict(mean=0.0, lo=0.0, hi=0.0)
                rows.append(dict(budget=int(b), ipc=int(ipc), method=m, name=_name(m, p), kind=kind(m, p),
                                 **t_interval(acc.values()), val=float(np.mean(list(val.values()))),
                                 gain=gain["mean"], gain_lo=gain["lo"], gain_hi=gain["hi"]))
    return pd.DataFrame(rows)


def _best(table: pd.DataFrame, b, ipc, kinds) -> str | None:
    t = table[(table["budget"] == b) & (table["ipc"] == ipc) & table["kind"].isin(kinds)]
    return None if t.empty else str(t.loc[t["val"].idxmax(), "method"])


def comparisons(df: pd.DataFrame, table: pd.DataFrame, p: Params) -> pd.DataFrame:
    """Paired differences (test accuracy, by seed) of CA2D and CAD-Prune against what the claim names: CA2D minus
    each DD method and minus the strongest one; CAD-Prune minus random, the strongest coreset and the best fixed
    window (strongest = best validation accuracy)."""
    rows = []
    for b in p.cad_budgets:
        for ipc in p.cad_ipcs:
            acc = lambda m: common.by_seed(df, method=m, budget=b, ipc=ipc)  # noqa: E731
            pairs = [("ca2d", m, _name(m)) for m in p.methods]
            strongest = {"DD method": _best(table, b, ipc, ["distilled"]),
                         "coreset": _best(table, b, ipc, ["coreset"]), "window": _best(table, b, ipc, ["bin"])}
            if strongest["DD method"]:
                pairs.append(("ca2d", strongest["DD method"], f"strongest DD method ({_name(strongest['DD method'])})"))
            pairs.append(("cad", "random", "random"))
            for what in ("coreset", "window"):
                if strongest[what]:
                    pairs.append(("cad", strongest[what], f"best {'fixed window' if what == 'window' else what} "
                                                          f"({_name(strongest[what], p)})"))
            for a, m, label in pairs:
                if acc(a) and acc(m):
                    rows.append(dict(budget=b, ipc=ipc, set=_name(a), against=label, other=m,
                                     **paired_difference(acc(a), acc(m))))
    return pd.DataFrame(rows)


def scoring_compute(df: pd.DataFrame) -> pd.DataFrame:
    """What CAD-Prune's scoring run cost at each budget, next to the downstream run it serves."""
    t = df[df["method"] == "cad"].drop_duplicates(["budget", "scoring_run_id"])
    return pd.DataFrame({"downstream samples seen": t["samples_seen"].astype(int).to_numpy(),
                         "scoring run: samples trained": t["scoring_samples_seen"].astype(int).to_numpy(),
                         "scoring run: images recorded (forward passes)":
                             t["scoring_forward_samples"].astype(int).to_numpy()},
                        index=pd.Index(t["budget"].astype(int), name="budget"))


def _pts(r) -> str:
    return common.pts(r["mean"], r["lo"], r["hi"])


def verdict(comp: pd.DataFrame, p: Params) -> dict:
    """Apply the criterion of the module docstring at every (budget, IPC), and say where CAD-Prune stands."""
    details, key, held, points = [], [], 0, 0
    for (b, ipc), c in comp.groupby(["budget", "ipc"], sort=False):
        top = c[(c["set"] == "CA2D") & c["against"].str.startswith("strongest")]
        if top.empty:
            continue
        points += 1
        r = top.iloc[0]
        ok = bool(np.isfinite(r["lo"]) and r["lo"] > 0)
        held += ok
        vs = "; ".join(f"{x['against']} {_pts(x)}" for _, x in c[c["set"] == "CA2D"].iterrows()
                       if not x["against"].startswith("strongest"))
        cad = "; ".join(f"{x['against']} {_pts(x)}" for _, x in c[c["set"] == "CAD-Prune"].iterrows())
        details.append(f"Budget {b:,}, IPC {ipc}: CA2D minus the {r['against']}: {_pts(r)} points "
                       f"({'beats it' if ok else 'does not beat it'}); minus each DD method: {vs}. "
                       f"CAD-Prune minus {cad}.")
        for _, x in c.iterrows():
            if x["against"].startswith(("strongest", "random", "best")):
                key.append(dict(name=f"{x['set']} minus {x['against']}, budget {b:,}, IPC {ipc}", unit="points",
                                mean=float(x["mean"]), lo=float(x["lo"]), hi=float(x["hi"]), n=int(x["n"])))
    if not points or len(p.seeds) < 2:
        return dict(status="inconclusive", sentence="Too few seeds or no CA2D results to judge.", details=details,
                    key_numbers=key)
    status = "reproduced" if held == points else "partly reproduced" if held else "not reproduced"
    pairs = comp[comp["against"].str.startswith(("strongest", "best fixed"))]
    parts = [f"{r['set']} minus the {r['against']} {_pts(r)} (budget {r['budget']:,}, IPC {r['ipc']})"
             for _, r in pairs.iterrows()]
    sentence = (f"CA2D beats the strongest DD method under hard labels at {held} of {points} (budget, IPC) points "
                f"with a 95% interval above zero ({len(p.seeds)} seeds): the paper's claim is {status} at this "
                f"scale. In points: {'; '.join(parts)}. A gain whose interval includes zero is not evidence of no "
                f"gain: with few seeds, small effects stay undetected.")
    return dict(status=status, sentence=sentence, details=details, key_numbers=key)


def analyse(df: pd.DataFrame, p: Params) -> dict:
    table = accuracy_table(df, p)
    comp = comparisons(df, table, p)
    return dict(table=table, comparisons=comp, scoring=scoring_compute(df), verdict=verdict(comp, p))

