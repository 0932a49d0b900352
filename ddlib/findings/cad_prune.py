"""Chapter 05, CAD-Prune and CA2D (the paper's claim 4): a subset chosen for the budget (CAD-Prune) and RDED run on
that subset (CA2D), against random, chapter 01's coresets, chapter 03's distilled sets and chapter 04's difficulty
bins, all under HL at the same budgets, IPC, recipe and seeds.

CAD-Prune's free choices (which end of the score to keep, the window J and W, a stratified draw) are chosen per
(budget, IPC) on VALIDATION accuracy, first seed, from ``cad_grid``; CA2D uses CAD-Prune's choice. The best fixed
difficulty window is chapter 04's bin with the best validation accuracy at that (budget, IPC).

Reproduction criterion (fixed before any number was seen; outcomes by interval since issue 12, decidable either way
since issue 34), per (budget, IPC) under HL: CA2D beats the strongest DD method (chosen on validation among chapter
03's): the paired interval lies above zero (holds) or under ``analysis.MARGIN`` (refuted: CA2D gains less than a
point, if anything; ``analysis.beats``). The intervals that decide, one per (budget, IPC) whose gate passed, are
corrected for their number (Bonferroni, ``analysis.family_level``). Beside it, not part of it: CAD-Prune against
random, the strongest coreset and the best fixed window.

Gate (issue 12), per budget: CAD-Prune's scoring run trains on every image at least
:data:`ddlib.analysis.MIN_PASSES` times (its samples seen over the training split), and records at least J + W - 1
EL2N values for its windows; otherwise the windows span a run in which most probe images were never trained on, the
mechanism cannot act, and that budget's points are inconclusive at this scale.
"""
from __future__ import annotations

import math

import pandas as pd

from .. import data, distill as distillers, gallery, profile as prof
from ..analysis import MARGIN, MIN_PASSES, above_or_below, at_level, beats, best_on_validation, by_seed, ci_text, \
    deciding, family_level, family_text, gain_table, gate, gate_text, gated, how_sure, key_number, paired_difference, \
    power_text, verdict_status
from ..budget import Budget
from ..config import unique
from ..sweeps import sweep
from ..profile import Profile, bin_name
from . import difficulty
from .chapter import record_verdict

CHAPTER = "05_cad_prune_ca2d"
LABEL = "ch-cad"
TITLE = "CAD-Prune and CA2D"
CLAIM = ("Selecting images of the difficulty that suits the compute budget (CAD-Prune) and distilling from them "
         "(CA2D) beats the DD methods under hard labels.")

record = record_verdict


def tune(p: Profile, progress: bool = True) -> tuple:
    """Per (budget, IPC), the ``cad_grid`` candidate with the best validation accuracy (first seed; ties: the first
    listed). Returns ({(budget, ipc): candidate}, the tuning table)."""
    names = [candidate_name(c) for c in p.cad_grid]
    df = sweep(tune_configs(p), progress=progress, desc="CAD-Prune on validation", store=p.store)
    df = df.assign(candidate=names * (len(p.cad_budgets) * len(p.cad_ipcs)))   # rows come in the configs' order
    chosen = {(int(r["budget"]), int(r["ipc"])): p.cad_grid[names.index(r["candidate"])]
              for _, r in best_on_validation(df, by=["budget", "ipc"], value="val_acc").iterrows()}
    table = df[["budget", "ipc", "candidate", "val_acc"]].assign(
        chosen=[n == candidate_name(chosen[int(b), int(i)])
                for b, i, n in zip(df["budget"], df["ipc"], df["candidate"])])
    return chosen, table


def tune_configs(p: Profile) -> list:
    """:func:`tune`'s runs: every (budget, IPC) x ``cad_grid`` candidate, first seed."""
    return [prof.cad_run(p, c, ipc=ipc, budget=b, seed=p.seeds[0])
            for b in p.cad_budgets for ipc in p.cad_ipcs for c in p.cad_grid]


def plan_choice(p: Profile) -> dict:
    """A stand-in for :func:`tune`'s choice, for planning: the first ``cad_grid`` candidate at every (budget, IPC)
    (a candidate names the runs; it does not change what they cost)."""
    return {(b, i): p.cad_grid[0] for b in p.cad_budgets for i in p.cad_ipcs}


def candidate_name(c: dict) -> str:
    """A ``cad_grid`` candidate in words, as the tuning table and the provenance table name it."""
    return ", ".join(f"{k}={v}" for k, v in c.items()) or "defaults"


def configs(p: Profile, chosen: dict) -> list:
    """Every (budget, IPC) x (random, coresets, DD methods, CAD-Prune, CA2D, difficulty bins) x seed, under HL."""
    out = []
    for b in p.cad_budgets:
        for ipc in p.cad_ipcs:
            cand = chosen[(b, ipc)]
            for s in p.seeds:
                run = dict(ipc=ipc, budget=b, seed=s)
                out += [prof.subset_run(p, name, **prof.arm("HL"), **run) for name in p.selectors]
                out += [prof.distilled_run(p, m, **prof.arm("HL"), **run) for m in p.methods]
                out.append(prof.cad_run(p, cand, **run))
                out.append(prof.ca2d_run(p, cand, **run))
    out += difficulty.bin_configs(p, p.cad_budgets, p.cad_ipcs)
    return unique(out)


def run(p: Profile, chosen: dict, progress: bool = True) -> pd.DataFrame:
    """Every run of :func:`configs` for CAD-Prune's choice on validation (:func:`tune`)."""
    df = sweep(configs(p, chosen), progress=progress, desc="CAD-Prune and CA2D runs", store=p.store)
    df = difficulty.label(df, p)
    df["method"] = [d if isinstance(d, str) and d else f"bin {int(k)}" if sel == "window" else sel
                    for d, sel, k in zip(df["distill"].fillna(""), df["select"], df["bin"])]
    return df


def describe(p: Profile, n_train: int) -> str:
    return (f"- **Data**: `{p.dataset}`, {n_train:,} training images after the validation split\n"
            f"- **Student**: `{p.model}`, HL (SGD), batch {p.batch}; **budgets**: "
            f"{', '.join(f'{b:,}' for b in p.cad_budgets)} samples seen; **IPC**: "
            f"{', '.join(map(str, p.cad_ipcs))}\n"
            f"- **CAD-Prune**: {candidate_name(p.cad_knobs)}; candidates chosen on validation: "
            f"{'; '.join(map(candidate_name, p.cad_grid))}\n"
            f"- **Against**: {', '.join(p.selectors)}, {', '.join(map(_name, p.methods))}, CA2D and "
            f"{p.bins} difficulty bins; **seeds**: {', '.join(map(str, p.seeds))}; **device**: `{p.device}`; "
            f"**profile**: `{p.profile}`")


def kept_configs(p: Profile, chosen: dict) -> dict:
    """CAD-Prune's runs whose images the chapter's grid shows [issue 36], by title: at every budget, IPC 10
    (``gallery.shown_ipc``), the first seed, with the candidate chosen on validation (:func:`tune`): runs of
    :func:`configs`, so the indices their students train on."""
    ipc = gallery.shown_ipc(p.cad_ipcs)
    return {f"budget {b:,} ({candidate_name(chosen[(b, ipc)])})":
            prof.cad_run(p, chosen[(b, ipc)], ipc=ipc, budget=b, seed=p.seeds[0]) for b in p.cad_budgets}


def kept_images(p: Profile, chosen: dict) -> gallery.Gallery:
    """The images CAD-Prune keeps in :func:`kept_configs`' runs, read from the cache (its scoring run is not made
    again: a one-line note where it is not there)."""
    return gallery.fetch(kept_configs(p, chosen), p.store)


# --- analysis ---------------------------------------------------------------------------------------------------

def _name(m: str, p: Profile | None = None) -> str:
    if p is not None and m.startswith("bin "):
        return f"bin {bin_name(p, int(m[4:]))}"
    return {"cad": "CAD-Prune", **distillers.NAMES}.get(m, m)


def kind(m: str, p: Profile) -> str:
    return ("random" if m == "random" else "distilled" if m in p.methods else "compute-aligned" if m in ("cad", "ca2d")
            else "bin" if m.startswith("bin ") else "coreset")


def accuracy_table(df: pd.DataFrame, p: Profile) -> pd.DataFrame:
    """Per (budget, IPC, method): test accuracy with its interval, mean validation accuracy, gain over random."""
    rows = gain_table(df, [dict(budget=b, ipc=ipc) for b in p.cad_budgets for ipc in p.cad_ipcs],
                      dict.fromkeys(df["method"]))
    return pd.DataFrame([dict(r, budget=int(r["budget"]), ipc=int(r["ipc"]), name=_name(r["method"], p),
                              kind=kind(r["method"], p)) for r in rows])


def _best(table: pd.DataFrame, b, ipc, kinds) -> str | None:
    best = best_on_validation(table[(table["budget"] == b) & (table["ipc"] == ipc) & table["kind"].isin(kinds)])
    return None if best is None else str(best["method"])


def comparisons(df: pd.DataFrame, table: pd.DataFrame, p: Profile) -> pd.DataFrame:
    """Paired differences (test accuracy, by seed) of CA2D and CAD-Prune against what the claim names: CA2D minus
    each DD method and minus the strongest one; CAD-Prune minus random, the strongest coreset and the best fixed
    window (strongest = best validation accuracy)."""
    rows = []
    for b in p.cad_budgets:
        for ipc in p.cad_ipcs:
            acc = lambda m: by_seed(df, method=m, budget=b, ipc=ipc)  # noqa: E731
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


def _scoring_gate_name(b: int) -> str:
    return f"CAD-Prune's scoring run trains at {b:,}"


def _too_few_passes(passes: float, n_train: int) -> str:
    return f"it makes {passes:.2f} passes over the {n_train:,} training images, and needs at least {MIN_PASSES:g}"


def unmeetable_gates(p: Profile, n_train: int) -> list:
    """The gates :func:`configs` cannot meet, whatever its runs give (``python -m ddlib plan`` lists them): a budget
    whose compute-matched scoring run (as many samples as the downstream run) makes too few passes."""
    passes = {b: Budget(b, p.batch).samples_seen / n_train for b in p.cad_budgets}
    return [f"{_scoring_gate_name(b)}: {_too_few_passes(x, n_train)} (cad_budgets from "
            f"{math.ceil(MIN_PASSES * n_train):,} samples seen meet it)" for b, x in passes.items() if x < MIN_PASSES]


def gates(df: pd.DataFrame, p: Profile) -> dict:
    """{budget: gate}: the scoring run's passes over the training split and its records against J + W - 1."""
    n_train = len(data.load(p.dataset, p.val_per_class).y_train)
    out = {}
    for b, t in df[df["method"] == "cad"].groupby("budget", sort=False):
        r = t.iloc[0]
        knobs = dict(map(tuple, r["select_knobs"])) if isinstance(r["select_knobs"], (list, tuple)) else {}
        passes = float(r["scoring_samples_seen"]) / n_train
        need = int(knobs.get("J", 0)) + int(knobs.get("W", 0)) - 1
        records = int(knobs.get("records", 0))
        short = [_too_few_passes(passes, n_train)] if passes < MIN_PASSES else []
        short += [f"it records {records} times, and its windows need {need}"] if records < need else []
        out[int(b)] = gate(_scoring_gate_name(int(b)), not short,
                           "; ".join(short) or f"{passes:.2f} passes over the {n_train:,} training images, "
                                                f"{records} records for windows needing {need}")
    return out


def verdict(comp: pd.DataFrame, p: Profile, checks: dict | None = None) -> dict:
    """Apply the criterion of the module docstring at every (budget, IPC) whose gate passed (``checks``:
    {budget: gate}), and say where CAD-Prune stands."""
    checks = checks or {}
    details, key, outcomes, power = [gate_text(g) for g in checks.values()], [], [], ""
    gated_out, every, first, pts = 0, [], None, []
    for (b, ipc), c in comp.groupby(["budget", "ipc"], sort=False):
        top = c[(c["set"] == "CA2D") & c["against"].str.startswith("strongest")]
        if not top.empty:
            pts.append((b, ipc, top.iloc[0], c, b not in checks or checks[b]["passed"]))
    m = sum(ok for *_, ok in pts) or len(pts)          # the deciding intervals: the points whose gate passed
    for b, ipc, r, c, ok in pts:
        o = beats(at_level(r, family_level(m)))
        every.append(o)
        power = power or power_text(r, "CA2D minus the strongest DD method")
        if ok:
            outcomes.append(o)
        else:
            gated_out += 1
        if first is None or (ok and not first[2]):      # the first point whose gate passed, else the first
            first = (r, c, ok, o)
        vs = "; ".join(f"{x['against']} {ci_text(x)}" for _, x in c[c["set"] == "CA2D"].iterrows()
                       if not x["against"].startswith("strongest"))
        cad = "; ".join(f"{x['against']} {ci_text(x)}" for _, x in c[c["set"] == "CAD-Prune"].iterrows())
        details.append(f"Budget {b:,}, IPC {ipc}: CA2D minus the {r['against']}: {ci_text(r)} points "
                       f"({f'{o}, read at the {family_level(m):.2%} level' if ok else 'inconclusive: its gate failed'}"
                       f"); minus each DD method: {vs}. "
                       f"CAD-Prune minus {cad}.")
        for _, x in c.iterrows():
            if x["against"].startswith(("strongest", "random", "best")):
                key.append(key_number(f"{x['set']} minus {x['against']}, budget {b:,}, IPC {ipc}", x))
    if not (outcomes or gated_out) or len(p.seeds) < 2:
        few = "Too few seeds or no CA2D results to judge."
        return dict(status="inconclusive", headline=few, sure="", deciding=None, sentence=few, details=details,
                    key_numbers=key, gates=list(checks.values()))
    pairs = comp[comp["against"].str.startswith(("strongest", "best fixed"))]
    parts = [f"{r['set']} minus the {r['against']} {ci_text(r)} (budget {r['budget']:,}, IPC {r['ipc']})"
             for _, r in pairs.iterrows()]
    shown = outcomes or every         # all points gated out: say what they would have said
    status = verdict_status(shown, len(p.seeds))
    sentence = (f"CA2D beats the strongest DD method under hard labels at {shown.count('holds')} of "
                f"{len(shown)} (budget, IPC) points, above zero, and is refuted, under {MARGIN * 100:g} point, at "
                f"{shown.count('refuted')} ({family_text(m, 'point')}; {len(p.seeds)} seeds"
                f"{'; ' + power if power else ''}): the paper's claim is {status} at this scale. In points (95% "
                f"intervals): {'; '.join(parts)}.")
    if gated_out and not outcomes:
        status, sentence = gated(status, sentence, [g for g in checks.values() if not g["passed"]])
    elif gated_out:
        sentence += f" {gated_out} point(s) are inconclusive at this scale: their scoring run's gate failed."
    r, c, _, o = first
    return dict(status=status, headline=headline(r, c, o), sure=how_sure(shown, "(budget, IPC) points", power,
                                                                       list(checks.values())),
                deciding=deciding(f"CA2D minus the {r['against']}, budget {r['budget']:,}, IPC {r['ipc']}", r),
                sentence=sentence, details=details, key_numbers=key, gates=list(checks.values()))


def headline(r, c: pd.DataFrame, decided: str) -> str:
    """The verdict's first sentence in plain words [issue 36]: at one (budget, IPC), CA2D against the strongest DD
    method (its row ``r``, its outcome ``decided``), and CAD-Prune against the best fixed difficulty window (from the
    point's comparisons ``c``)."""
    end = {"holds": "CA2D wins there", "refuted": "CA2D does not beat the DD methods there"}.get(decided,
                                                                                                "too close to call")
    window = c[(c["set"] == "CAD-Prune") & c["against"].str.startswith("best fixed")]
    cad = f" and CAD-Prune {above_or_below(window['mean'].iloc[0], 'the best fixed difficulty window', '')}" \
        if len(window) else ""
    return (f"At budget {r['budget']:,}, IPC {r['ipc']}, CA2D scores {above_or_below(r['mean'], 'the ' + r['against'])}"
            f"{cad}: {end}.")


def analyse(df: pd.DataFrame, p: Profile) -> dict:
    table = accuracy_table(df, p)
    comp = comparisons(df, table, p)
    return dict(table=table, comparisons=comp, scoring=scoring_compute(df), verdict=verdict(comp, p, gates(df, p)))

