"""The teaching chapter: six pitfalls of evaluating distilled data, each a small experiment with its effect in
accuracy points and a 95% interval over seeds [issue 14]. Not a finding: it writes a results table (which the
build's spot check samples), no verdict. Most of its runs are chapters 01-03's, read from the results store.

1. Soft-label inflation: the same random subset under HL and SL+KD, and a DD method's reported (SL+KD) gain over a
   random HL subset split into what the teacher supplies and what is left [paper, claim 1; DD-Ranking].
2. Compute not normalised: a fixed number of epochs (the DD convention) gives a bigger subset more samples seen;
   the IPC gap at fixed epochs against the gap at fixed samples seen [paper: the fixed-budget protocol].
3. Selecting on the test set: the best test accuracy over a learning-rate grid and evaluation points (as several DD
   codebases report) against the test accuracy of the choice made on validation [ours].
4. Too few seeds: how often a 1-, 2-, 3- or 5-seed comparison names the other winner than all seeds do, by
   resampling chapter 01's stored seeds, and the interval width against the number of seeds [ours].
5. A teacher whose class order differs from the set's (the cause of RDED's reproduction failures): SL on a set file
   whose soft labels are stored in another class order, and the check that catches it (:func:`label_agreement`).
6. One random draw as the baseline: how far a single random subset sits from the mean over draws [DD-Ranking].
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from .. import data, distill as distillers, profile as prof, report, select, synset as synsets, teacher as teachers
from ..analysis import by_seed, label_arms, paired_difference, points_text, t_interval
from ..config import unique
from ..sweeps import sweep
from ..paths import cache_dir
from ..profile import Profile
from ..train import OPTIMIZERS
from .chapter import kd_plan_choice, kd_tune_configs, none
from .label_regimes import coresets

CHAPTER = "07_pitfalls"
LABEL = "teach-pitfalls"
TITLE = "Pitfalls of evaluating distilled data"
CLAIM = ""                      # a teaching chapter: no claim, no verdict
SEED_COUNTS = (1, 2, 3, 5)      # [ours] the seed counts pitfall 4 resamples
PERMUTATION_SEED = 0            # [ours] the class order of pitfall 5's mislabelled file (a fixed derangement)
EXTRA = "extra compute's part"  # pitfall 2's row: the fixed-epoch gap minus the fixed-budget gap

tune = prof.kd_temperature      # the KD temperature chosen on validation (chapter 02's runs)
tune_configs, plan_choice = kd_tune_configs, kd_plan_choice
unmeetable_gates = none


def _n_classes(p: Profile) -> int:
    return data.load(p.dataset, p.val_per_class).num_classes


def describe(p: Profile, n_train: int | None = None) -> str:
    """The setup in a few Markdown lines: what the pitfalls' runs share (``n_train`` is not among them)."""
    lrs = ", ".join(f"{lr:g}" for lr in p.pitfall_lrs)
    return (f"- **Data**: `{p.dataset}`, validation split of {p.val_per_class} images per class\n"
            f"- **Student**: `{p.model}`, batch {p.batch}; **teacher**: `{p.teacher_model}`, "
            f"{p.teacher_epochs:g} epochs\n"
            f"- **Budget**: {p.budgets[0]:,} samples seen (the honest protocol's); the DD convention's "
            f"{p.pitfall_epochs:g} epochs over each subset for pitfall 2; learning rates {lrs} at "
            f"{', '.join(f'{b:,}' for b in p.pitfall_budgets)} samples seen for pitfall 3\n"
            f"- **Subsets**: IPC {', '.join(map(str, p.ipcs))}; chapter 03's sets at IPC {p.dd_ipcs[0]}; "
            f"**seeds**: {', '.join(map(str, p.seeds))}; **device**: `{p.device}`; **profile**: `{p.profile}`")


def fixed_epoch_budget(p: Profile, ipc: int) -> int:
    """Samples seen by ``pitfall_epochs`` passes over an IPC-``ipc`` subset: the DD convention's compute."""
    return int(round(p.pitfall_epochs * ipc * _n_classes(p)))


def _lr(value: float):
    """None where the grid's value is the HL recipe's own (one run, shared with the chapters), else the value."""
    return None if math.isclose(value, OPTIMIZERS["sgd"]["lr"]) else float(value)


def configs(p: Profile, temperature: float) -> list:
    """Every run of pitfalls 1-4 and 6 (pitfall 5's runs need its files: :func:`class_order_configs`)."""
    hl, kd = prof.arm("HL"), prof.arm("SL+KD")
    b, ipc = p.budgets[0], p.views_ipc
    out = [prof.subset_run(p, "random", temperature, ipc=i, **arm, budget=b, seed=s)
           for i in dict.fromkeys([*p.ipcs, p.dd_ipcs[0]]) for arm in (hl, kd) for s in p.seeds]       # 1, 2, 6
    out += [prof.distilled_run(p, m, temperature, ipc=p.dd_ipcs[0], **arm, budget=b, seed=s)
            for m in p.methods for arm in (hl, kd) for s in p.seeds]                                   # 1
    out += [prof.subset_run(p, "random", ipc=i, **hl, budget=fixed_epoch_budget(p, i), seed=s)
            for i in p.ipcs for s in p.seeds]                                                          # 2
    out += [prof.subset_run(p, "random", ipc=ipc, **hl, budget=pb, lr=_lr(lr), seed=s)
            for lr in p.pitfall_lrs for pb in p.pitfall_budgets for s in p.seeds]                      # 3
    out += [prof.subset_run(p, name, temperature, ipc=ipc, **prof.arm(arm), budget=b, seed=s)
            for arm in p.coreset_arms for name in ["random", *coresets(p.selectors)] for s in p.seeds]  # 4
    return unique(out)


# --- pitfall 5: the files -------------------------------------------------------------------------------------

def permutation(n: int, seed: int = PERMUTATION_SEED) -> torch.Tensor:
    """A fixed derangement of ``n`` classes (no class keeps its place): another codebase's class order."""
    g = torch.Generator().manual_seed(seed)
    while True:
        perm = torch.randperm(n, generator=g)
        if not (perm == torch.arange(n)).any():
            return perm


def class_order_file(p: Profile, seed: int, temperature: float, shuffled: bool) -> str:
    """A set file as another codebase would hand it over: the seed's random IPC-``views_ipc`` subset with the
    teacher's soft labels at ``temperature`` stored beside its hard labels, their columns in the dataset's class
    order, or (``shuffled``) in the order of :func:`permutation`. Written once into the cache."""
    splits = data.load(p.dataset, p.val_per_class)
    idx = select.select("random", splits, p.views_ipc, seed)["indices"]
    t = teachers.get(prof.teacher(p), p.dataset, p.val_per_class, 0, p.device)
    soft = F.softmax(t.train_logits[idx].cpu() / temperature, dim=1)
    if shuffled:
        soft = soft[:, permutation(splits.num_classes)]
    path = cache_dir() / "pitfalls" / f"{p.dataset}-ipc{p.views_ipc}-s{seed}-T{temperature:g}-" \
                                      f"{'shuffled' if shuffled else 'ordered'}-{t.id}.safetensors"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        synsets.save(path, synsets.SynSet(splits.x_train[idx].float() / 255, splits.y_train[idx], soft,
                                          dict(num_classes=splits.num_classes, method="random subset",
                                               classes=list(splits.classes), teacher_id=t.id,
                                               soft_label_order="shuffled" if shuffled else "dataset")))
    return str(path)


def class_order_configs(p: Profile, temperature: float) -> list:
    """SL on the stored soft labels of each seed's two files (ordered, shuffled)."""
    return [prof.subset_run(p, temperature=temperature, ipc=p.views_ipc, regime="sl", optim="auto",
                            budget=p.budgets[0], seed=s, synset_file=class_order_file(p, s, temperature, shuffled))
            for shuffled in (False, True) for s in p.seeds]


def label_agreement(path) -> float:
    """The check for pitfall 5: the share of a set's images whose stored soft label's argmax is its hard label. A
    teacher of the same classes agrees on most images; soft labels in another class order agree on few."""
    s = synsets.load(path)
    if s.soft_labels is None:
        return math.nan
    return float((s.soft_labels.argmax(1) == s.labels.long()).float().mean())


def run(p: Profile, temperature: float, progress: bool = True) -> pd.DataFrame:
    df = sweep([*configs(p, temperature), *class_order_configs(p, temperature)], progress=progress,
               desc="pitfall runs", store=p.store)
    df = label_arms(df)
    files = df["synset_file"].fillna("").astype(str)
    df["file_order"] = ["" if not f else "shuffled" if "-shuffled-" in f else "ordered" for f in files]
    df["method"] = [d if isinstance(d, str) and d else s for d, s in zip(df["distill"].fillna(""), df["select"])]
    return df


def record(chapter, df: pd.DataFrame, p: Profile, started: float) -> dict:
    """``make evidence``'s part: the results table (the build's spot check samples it), no summary: no verdict."""
    report.write_results(df, p.profile, chapter.chapter)
    return dict(chapter=chapter.chapter, status="-", sentence=f"{len(df)} runs")


# --- the analyses -----------------------------------------------------------------------------------------------

def _main(df: pd.DataFrame, p: Profile) -> pd.DataFrame:
    """The runs at the main budget, the recipe's own learning rate, on real subsets or distilled sets (no files)."""
    lr = df["lr"] if "lr" in df else pd.Series(np.nan, index=df.index)
    return df[(df["budget"] == p.budgets[0]) & lr.isna() & (df["file_order"] == "")]


def inflation(df: pd.DataFrame, p: Profile) -> pd.DataFrame:
    """Pitfall 1. Per source (random, each DD method): its SL+KD accuracy minus its HL accuracy (``teacher``: what
    the teacher adds to the same images), and its SL+KD accuracy minus the random subset's HL accuracy (``reported``:
    the "gain" a DD paper reports), paired by seed; ``share``: the random subset's teacher part over ``reported``."""
    d = _main(df, p)
    ipc = p.dd_ipcs[0]
    rnd_hl = by_seed(d, method="random", arm="HL", ipc=ipc)
    rnd_teacher = paired_difference(by_seed(d, method="random", arm="SL+KD", ipc=ipc), rnd_hl)
    rows = []
    for m in ["random", *p.methods]:
        kd, hl = by_seed(d, method=m, arm="SL+KD", ipc=ipc), by_seed(d, method=m, arm="HL", ipc=ipc)
        if not kd or not hl:
            continue
        rep, own = paired_difference(kd, rnd_hl), paired_difference(kd, hl)
        rows.append(dict(method=m, ipc=ipc, teacher=own["mean"], teacher_lo=own["lo"], teacher_hi=own["hi"],
                         reported=rep["mean"], reported_lo=rep["lo"], reported_hi=rep["hi"], n=rep["n"],
                         share=rnd_teacher["mean"] / rep["mean"] if rep["mean"] > 0 else math.nan))
    return pd.DataFrame(rows)


def compute_effect(df: pd.DataFrame, p: Profile) -> pd.DataFrame:
    """Pitfall 2. Per IPC: random HL at ``pitfall_epochs`` epochs (samples seen grow with the IPC) and at the main
    budget; per consecutive IPC pair: the gap (larger minus smaller IPC) under each protocol and its change, the
    part of an "IPC gain" that is extra compute (all paired by seed)."""
    d = df[(df["method"] == "random") & (df["arm"] == "HL") & (df["file_order"] == "")]
    d = d[d["lr"].isna()] if "lr" in d else d
    epochs = {i: by_seed(d, ipc=i, budget=fixed_epoch_budget(p, i)) for i in p.ipcs}
    fixed = {i: by_seed(d, ipc=i, budget=p.budgets[0]) for i in p.ipcs}
    rows = []
    for small, large in zip(p.ipcs, p.ipcs[1:]):
        gap_e = {s: epochs[large][s] - epochs[small][s] for s in epochs[large] if s in epochs[small]}
        gap_b = {s: fixed[large][s] - fixed[small][s] for s in fixed[large] if s in fixed[small]}
        for what, ci in (("fixed epochs", t_interval(gap_e.values())), ("fixed samples seen", t_interval(
                gap_b.values())), (EXTRA, paired_difference(gap_e, gap_b))):
            rows.append(dict(pair=f"IPC {large} minus IPC {small}", what=what, **ci,
                             samples=(f"{fixed_epoch_budget(p, small):,} vs {fixed_epoch_budget(p, large):,}"
                                      if what == "fixed epochs" else f"{p.budgets[0]:,} each")))
    return pd.DataFrame(rows)


def test_selection(df: pd.DataFrame, p: Profile) -> dict:
    """Pitfall 3. Per seed, over the grid ``pitfall_lrs`` x ``pitfall_budgets`` (random HL, IPC ``views_ipc``): the
    best TEST accuracy (a test-set search) and the test accuracy of the cell with the best VALIDATION accuracy (the
    honest choice); ``inflation`` = their difference, never negative. Returns the per-seed table and its interval."""
    d = df[(df["method"] == "random") & (df["arm"] == "HL") & (df["ipc"].astype(str) == str(p.views_ipc))
           & (df["file_order"] == "")]
    grid = {(lr, b) for lr in p.pitfall_lrs for b in p.pitfall_budgets}
    lrs = d["lr"].fillna(OPTIMIZERS["sgd"]["lr"]) if "lr" in d else pd.Series(OPTIMIZERS["sgd"]["lr"], index=d.index)
    d = d.assign(lr_used=lrs)
    d = d[[any(math.isclose(lr, g) and b == gb for g, gb in grid) for lr, b in zip(d["lr_used"], d["budget"])]]
    rows = []
    for s, g in d.groupby("seed"):
        if len(g) < len(grid):
            continue
        honest = g.loc[g["val_acc"].idxmax()]
        rows.append(dict(seed=int(s), selected_on_test=float(g["test_acc"].max()),
                         chosen_on_validation=float(honest["test_acc"]), lr=float(honest["lr_used"]),
                         budget=int(honest["budget"]), inflation=float(g["test_acc"].max() - honest["test_acc"])))
    table = pd.DataFrame(rows)
    return dict(table=table, inflation=t_interval(table["inflation"]) if len(table) else t_interval([]))


def few_seeds(df: pd.DataFrame, p: Profile, counts=SEED_COUNTS) -> pd.DataFrame:
    """Pitfall 4. Every coreset-minus-random comparison of chapter 01 at IPC ``views_ipc`` (each arm, each coreset),
    paired by seed; the "truth" is the sign of its mean over all seeds. Per seed count n: the share of n-seed
    subsets of the seeds whose mean names the other winner (over all subsets, averaged over comparisons, with a t
    interval over comparisons) and the mean half-width of their 95% interval."""
    d = _main(df, p)
    diffs = []
    for arm in p.coreset_arms:
        base = by_seed(d, select="random", arm=arm, ipc=p.views_ipc, distill="")
        for c in coresets(p.selectors):
            acc = by_seed(d, select=c, arm=arm, ipc=p.views_ipc)
            common = sorted(set(acc) & set(base))
            if len(common) >= 2:
                diffs.append(np.array([acc[s] - base[s] for s in common]))
    rows = []
    most = max((len(x) for x in diffs), default=0)
    for n in sorted({*counts, most}):
        wrong, halves = [], []
        for x in diffs:
            if n > len(x):
                continue
            truth = np.sign(x.mean())
            subsets = [list(c) for c in itertools.combinations(range(len(x)), n)]
            wrong.append(np.mean([np.sign(x[c].mean()) != truth for c in subsets]))
            if n >= 2:
                halves.append(np.mean([_half(t_interval(x[c])) for c in subsets]))
        if wrong:
            rows.append(dict(seeds=n, comparisons=len(wrong), **t_interval(wrong),
                             half_width=float(np.mean(halves)) if halves else math.nan))
    return pd.DataFrame(rows)


def class_order(df: pd.DataFrame, p: Profile) -> dict:
    """Pitfall 5. SL on the shuffled file minus SL on the ordered file, paired by seed, and each file kind's label
    agreement (:func:`label_agreement`, mean over seeds)."""
    d = df[df["file_order"] != ""]
    acc = {o: by_seed(d, file_order=o) for o in ("ordered", "shuffled")}
    agree = {o: float(np.mean([label_agreement(f) for f in d.loc[d["file_order"] == o, "synset_file"]]))
             for o in acc if acc[o]}
    return dict(effect=paired_difference(acc["shuffled"], acc["ordered"]), agreement=agree,
                accuracy={o: t_interval(a.values()) for o, a in acc.items()})


def one_draw(df: pd.DataFrame, p: Profile) -> pd.DataFrame:
    """Pitfall 6. Per IPC: random HL test accuracy over draws (seeds): its mean with a 95% interval, and the 95%
    prediction interval of ONE draw, t x sd x sqrt(1 + 1/n), the range a single-draw baseline can land in."""
    d = _main(df, p)
    rows = []
    for ipc in p.ipcs:
        acc = np.array(list(by_seed(d, method="random", arm="HL", ipc=ipc).values()))
        if len(acc) < 2:
            continue
        ci = t_interval(acc)     # half-width t s / sqrt(n); one draw's: t s sqrt(1 + 1/n) = that x sqrt(n + 1)
        rows.append(dict(ipc=int(ipc), **ci, one_draw_half=_half(ci) * math.sqrt(len(acc) + 1),
                         lowest=float(acc.min()), highest=float(acc.max())))
    return pd.DataFrame(rows)


def _half(ci) -> float:
    """The half-width of an interval."""
    return (ci["hi"] - ci["lo"]) / 2


def analyse(df: pd.DataFrame, p: Profile) -> dict:
    return dict(inflation=inflation(df, p), compute=compute_effect(df, p), test=test_selection(df, p),
                seeds=few_seeds(df, p), order=class_order(df, p), draw=one_draw(df, p))


# --- what the page says ---------------------------------------------------------------------------------------

def _pts(ci) -> str:
    return points_text(ci["mean"], ci["lo"], ci["hi"])


def effects(a: dict, p: Profile) -> pd.DataFrame:
    """One row per pitfall: the effect measured, in accuracy points with a 95% interval (``mean``, ``lo``, ``hi`` as
    fractions) and its number of seeds or comparisons ``n``."""
    rows = []
    inf = a["inflation"]
    rnd = inf[inf["method"] == "random"]
    if len(rnd):
        r = rnd.iloc[0]
        rows.append(dict(pitfall="1. soft-label inflation", effect=f"SL+KD minus HL, the same random subset "
                         f"(IPC {int(r['ipc'])})", mean=r["teacher"], lo=r["teacher_lo"], hi=r["teacher_hi"],
                         n=int(r["n"])))
    c = a["compute"]
    part = c[c["what"] == EXTRA]
    if len(part):
        r = part.iloc[-1]
        rows.append(dict(pitfall="2. compute not normalised", effect=f"{r['pair']}: fixed-epoch gap minus "
                         f"fixed-budget gap", **{k: r[k] for k in ("mean", "lo", "hi", "n")}))
    rows.append(dict(pitfall="3. selecting on the test set", effect="best test accuracy over the grid minus the "
                     "validation choice's", **a["test"]["inflation"]))
    s = a["seeds"]
    one = s[s["seeds"] == 1]
    if len(one):
        r = one.iloc[0]
        rows.append(dict(pitfall="4. too few seeds", effect="share of 1-seed comparisons naming the other winner "
                         "(not points: a share)", **{k: r[k] for k in ("mean", "lo", "hi", "n")}))
    rows.append(dict(pitfall="5. class order differs", effect="SL on soft labels in another class order minus in the "
                     "right one", **a["order"]["effect"]))
    d = a["draw"]
    if len(d):
        r = d.iloc[0]
        rows.append(dict(pitfall="6. one random draw as baseline", effect=f"half-width of one draw's 95% prediction "
                         f"interval, IPC {int(r['ipc'])} (the mean's interval: +-{(r['hi'] - r['lo']) / 2 * 100:.1f})",
                         mean=r["one_draw_half"], lo=math.nan, hi=math.nan, n=int(r["n"])))
    return pd.DataFrame(rows)


def sentences(a: dict, p: Profile) -> dict:
    """{pitfall number: the measured sentence for its section}, every number read from ``a``."""
    out = {}
    inf = a["inflation"]
    if len(inf):
        r = inf.set_index("method")
        bits = [f"{distillers.NAMES.get(m, m)}: reported "
                f"{_pts(dict(mean=x['reported'], lo=x['reported_lo'], hi=x['reported_hi']))}, the teacher's part "
                f"{_pts(dict(mean=x['teacher'], lo=x['teacher_lo'], hi=x['teacher_hi']))}" for m, x in r.iterrows()]
        out[1] = ("Against a random subset trained with hard labels, at IPC " f"{int(inf['ipc'].iloc[0])} and "
                  f"{p.budgets[0]:,} samples seen (accuracy points, 95% interval over {int(inf['n'].max())} seeds; "
                  f"the teacher's part is the same images' SL+KD minus HL accuracy): " + "; ".join(bits) + ".")
        up = [distillers.NAMES.get(m, m) for m, x in r.iterrows() if x["teacher_lo"] > 0]
        down = [distillers.NAMES.get(m, m) for m, x in r.iterrows() if x["teacher_hi"] < 0]
        out[1] += (f" The teacher inflates the reported number of {', '.join(up) or 'no set'}"
                   + (f", and deflates that of {', '.join(down)}" if down else "") + " (interval clear of zero).")
        if "random" in r.index and not r.loc["random", "teacher_lo"] > 0:
            out[1] += (" Here the teacher adds no resolved gain even to random images, so the inflation this pitfall "
                       "warns of is not shown at this scale: the teacher's labels do not yet help at this budget (the "
                       "first gate of chapter 02 fails for the same reason); a larger budget and a stronger teacher "
                       "are where to look for it.")
    c = a["compute"]
    if len(c):
        bits = [f"{pair}: {_pts(g[g['what'] == 'fixed epochs'].iloc[0])} at {p.pitfall_epochs:g} epochs "
                f"({g[g['what'] == 'fixed epochs'].iloc[0]['samples']} samples seen), "
                f"{_pts(g[g['what'] == 'fixed samples seen'].iloc[0])} at {p.budgets[0]:,} samples seen each; "
                f"extra compute's part {_pts(g[g['what'] == EXTRA].iloc[0])}"
                for pair, g in c.groupby("pair", sort=False)]
        out[2] = "The gain of a bigger random subset under HL (points, paired by seed): " + "; ".join(bits) + "."
    t = a["test"]
    if len(t["table"]):
        out[3] = (f"Over {len(p.pitfall_lrs)} learning rates x {len(p.pitfall_budgets)} evaluation points, the best "
                  f"test accuracy exceeds the test accuracy of the validation choice by {_pts(t['inflation'])} points "
                  f"({t['inflation']['n']} seeds). Each seed's excess is at least zero, since the best cell includes "
                  f"the validation choice; an interval reaching below zero only says the excess is small.")
        if not t["inflation"]["lo"] > 0:
            out[3] += (f" With {len(p.pitfall_lrs) * len(p.pitfall_budgets)} cells the maximum has little noise to "
                       f"exploit; a codebase that reports the best of hundreds of evaluation epochs takes the maximum "
                       f"over many more.")
    s = a["seeds"]
    if len(s):
        bits = [f"{int(r['seeds'])} seed{'s' if r['seeds'] > 1 else ''}: {r['mean']:.0%} "
                f"[{max(r['lo'], 0):.0%}, {min(r['hi'], 1):.0%}]" +
                (f", interval half-width {r['half_width'] * 100:.1f} points" if np.isfinite(r["half_width"]) else "")
                for _, r in s.iterrows()]
        out[4] = (f"Over {int(s['comparisons'].max())} coreset-minus-random comparisons of chapter 01 "
                  f"at IPC {p.views_ipc}, the share of seed subsets whose mean names the other winner than all "
                  f"{int(s['seeds'].max())} seeds do: " + "; ".join(bits) + ".")
    o = a["order"]
    if o["effect"]["n"]:
        out[5] = (f"SL on soft labels stored in another class order minus the same set in the right order: "
                  f"{_pts(o['effect'])} points ({o['effect']['n']} seeds). The check: the stored soft labels' argmax "
                  f"agrees with the hard label on {o['agreement'].get('ordered', math.nan):.0%} of the images in the "
                  f"right order and on {o['agreement'].get('shuffled', math.nan):.0%} in the other.")
    d = a["draw"]
    if len(d):
        bits = [f"IPC {int(r['ipc'])}: the mean over {int(r['n'])} draws is {r['mean'] * 100:.1f} +- "
                f"{(r['hi'] - r['lo']) / 2 * 100:.1f}, one draw lands within +-{r['one_draw_half'] * 100:.1f} "
                f"(observed {r['lowest'] * 100:.1f} to {r['highest'] * 100:.1f})" for _, r in d.iterrows()]
        out[6] = "Random subsets under HL (test accuracy, %): " + "; ".join(bits) + "."
    return out


def random_draws(df: pd.DataFrame, p: Profile) -> pd.DataFrame:
    """Pitfall 6's points: every random HL run at the main budget (one per draw and IPC)."""
    d = _main(df, p)
    return d[(d["method"] == "random") & (d["arm"] == "HL")]
