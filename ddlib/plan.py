"""What a profile's evidence costs, before it runs [issue 13: a paper profile sized for one GPU; the guide: compute
is a first-class quantity]. ``python -m ddlib plan --params FILE`` counts every student run that ``make evidence``
trains (once, where chapters share it) in samples seen, teacher forwards, evaluation forwards and FLOPs, says how
many the results store already holds, lists the inputs those runs read (the teacher, scoring runs, MTT's and
DATM's experts, distilled sets) and whether the cache holds them, and, where the store holds runs of the profile's
device, estimates the time left at their measured FLOP rate. It also names the gates the grid cannot meet, whatever
its runs give (each chapter's ``unmeetable_gates``), so a profile is sized without a wasted sweep. Nothing is
trained, distilled or written.

Not counted: pitfall 5's runs on stored-label files (two per seed, small SL runs), the audit chapter's runs beyond
chapter 03's, CAD-Prune's scoring runs (one per budget, as long as it), and each distiller's own steps, which are
no samples seen of a student: a set is one input, with its iterations and, where the store has one made on this
device, its measured wall time."""
from __future__ import annotations

import json
import math
import sys
from functools import lru_cache

import pandas as pd
import torch
from torch.utils.flop_counter import FlopCounterMode

from . import data, distill, models, profile as prof, regimes, select
from .budget import Budget
from .distill import datm, mtt
from .config import RunConfig
from .records import read_stored
from .report import markdown_table
from .sweeps import default_workers
from .findings import CHAPTERS
from .paths import cache_dir
from .profile import Profile
from .scores import recorder_key
from .store import read_record

# [NVIDIA H200 datasheet] dense TF32 tensor-core peak, 494 TFLOP/s: a floor on the time of fp32 training there
# (cuDNN runs fp32 convolutions on TF32 by torch's default; the time at peak is a bound, not an estimate).
H200_TF32_FLOPS = 494e12


def chapter_configs(p: Profile, chapters=None) -> list:
    """[(chapter, part, config)] in ``make evidence``'s order, each run once: the first chapter that needs a run
    owns it; ``chapters`` (names) keeps only those (default: all). A chapter whose choice on validation is stored is
    planned with that choice (read back, nothing trained), otherwise with its ``plan_choice``, a stand-in of the
    same cost."""
    out, seen = [], set()
    for chapter in (c for c in CHAPTERS if chapters is None or c.name in chapters):
        tuning, choice = chapter.tune_configs(p), chapter.plan_choice(p)
        if tuning and all(read_stored(c, p.store) is not None for c in tuning):
            choice = chapter.tune(p, progress=False)[0]
        for part, cfgs in (("choice on validation", tuning), ("runs", chapter.configs(p, choice))):
            for c in cfgs:
                if c.key() not in seen:
                    seen.add(c.key())
                    out.append((chapter.name, part, c))
    return out


@lru_cache(maxsize=None)
def flops_per_sample(model: str, shape: tuple, num_classes: int) -> tuple:
    """(training, forward) FLOPs of one sample through ``model``: convolutions and matrix products as torch's
    FlopCounterMode counts them (norms, activations and augmentation are left out)."""
    net = models.build(model, shape, num_classes)
    x = torch.zeros(2, *shape)
    with FlopCounterMode(display=False) as fwd:
        net(x)
    with FlopCounterMode(display=False) as train:
        net(x).sum().backward()
    return train.get_total_flops() / 2, fwd.get_total_flops() / 2


def cost(c: RunConfig, splits: data.Splits) -> dict:
    """What one run computes: samples seen; teacher forwards (SL+KD: one per sample seen; SL: one per stored label,
    counted also for a set that brings its own, which needs none); evaluation forwards (validation and test); and
    their FLOPs."""
    samples = Budget(c.budget, c.batch).samples_seen
    n = len(splits.y_train) if c.ipc == "full" else int(c.ipc) * splits.num_classes
    teacher = regimes.LabelSource(c.regime, c.label_views).teacher_forwards(n, samples)
    evals = len(splits.y_val) + len(splits.y_test)
    train_f, fwd_f = flops_per_sample(c.model, splits.shape, splits.num_classes)
    teacher_f = flops_per_sample(c.teacher.model, splits.shape, splits.num_classes)[1]
    return dict(samples_seen=samples, teacher_forwards=teacher, eval_forwards=evals,
                flops=samples * train_f + teacher * teacher_f + evals * fwd_f)


def runs(p: Profile, chapters=None) -> pd.DataFrame:
    """One row per run ``make evidence`` trains (of ``chapters``, names, if given): chapter, part, key, whether it
    is stored, its :func:`cost`, the set it trains on (method, iterations, key) and, for a run stored from the
    profile's device, its measured wall time and its set's."""
    splits = data.load(p.dataset, p.val_per_class)
    rows = []
    for chapter, part, c in chapter_configs(p, chapters):
        rec = read_stored(c, p.store)
        here = rec is not None and rec.get("device") == p.device
        rows.append(dict(chapter=chapter, part=part, key=c.key(), stored=rec is not None, **cost(c, splits),
                         method=c.distill, synset=c.key_fields().get("synset", ""),
                         iterations=getattr(c.distill_knob_values(), "iterations", math.nan) if c.distill else
                         math.nan,
                         wall_s=rec["wall_s"] if here else math.nan,
                         distill_wall_s=(rec.get("distill_wall_s") or math.nan) if here else math.nan))
    return pd.DataFrame(rows)


def _cached(kind: str, key: str) -> bool:
    """Whether ``<cache>/<kind>/<key>/`` holds a finished artefact: its meta.json reads back (store's rule)."""
    return read_record(cache_dir() / kind / key / "meta.json") is not None


def inputs(p: Profile, run_rows: pd.DataFrame) -> pd.DataFrame:
    """One row per input of the runs: the teacher and each scoring run (training samples), MTT's and DATM's experts
    (training samples: expert epochs x the epoch), each distilled set (its method, iterations and measured wall
    time); and whether the cache holds it."""
    splits = data.load(p.dataset, p.val_per_class)
    n = len(splits.y_train)
    t = prof.teacher(p)
    tkey = t.key(p.dataset, p.val_per_class, 0)
    rows = [dict(input="teacher", name=tkey, cached=_cached("teachers", tkey), samples_seen=math.ceil(t.epochs * n))]
    scored = "recorder" in {*(select.reads(name, {}) for name in p.selectors),     # score selectors, and
                            select.reads("window", {"score": p.difficulty_score})}  # chapter 04's axis
    for r in prof.recorder(p).runs() if scored else []:
        key = recorder_key(p.dataset, **r, val_per_class=p.val_per_class)
        rows.append(dict(input="scoring run", name=key, cached=_cached("scores", key),
                         samples_seen=math.ceil(r["epochs"] * n)))
    experts = {}
    for method in (m for m in p.methods if m in ("mtt", "datm")):
        for ipc in p.dd_ipcs:
            k = prof.distilled_run(p, method, ipc=ipc).distill_knob_values()
            k = datm.mtt_knobs(k) if method == "datm" else k
            ctx = distill.Context(p.dataset, ipc, 0, p.device, t, p.val_per_class)
            experts[mtt.expert_key(ctx, k)] = k.experts * k.train_epochs * (k.epoch_samples or n)
    rows += [dict(input="experts", name=key, cached=_cached("experts", key), samples_seen=s)
             for key, s in experts.items()]
    for key, g in run_rows[run_rows["synset"] != ""].groupby("synset", sort=False):
        rows.append(dict(input="set", method=distill.NAMES.get(g["method"].iloc[0], g["method"].iloc[0]), name=key,
                         cached=_cached("synsets", key), iterations=g["iterations"].iloc[0],
                         wall_s=g["distill_wall_s"].max()))
    return pd.DataFrame(rows)


def measured_rate(run_rows: pd.DataFrame) -> float:
    """FLOPs per second of one worker, measured on the stored runs of the profile's device (NaN if none)."""
    timed = run_rows.dropna(subset=["wall_s"])
    return float(timed["flops"].sum() / timed["wall_s"].sum()) if len(timed) else math.nan


def by_chapter(p: Profile, run_rows: pd.DataFrame) -> pd.DataFrame:
    """Per chapter: runs and how many are stored; what all of them cost (samples seen, teacher forwards, PFLOPs);
    the hours from an empty store and the hours left, at the measured rate on the sweep's workers; and the floor
    from an empty store, the minutes at an H200's TF32 peak."""
    rate, workers = measured_rate(run_rows), default_workers([RunConfig(device=p.device)])
    g = run_rows.groupby("chapter", sort=False)
    left = run_rows.assign(flops=run_rows["flops"].where(~run_rows["stored"], 0.0)).groupby("chapter", sort=False)
    out = pd.DataFrame({"runs": g.size(), "stored": g["stored"].sum(),
                        "samples seen (M)": g["samples_seen"].sum() / 1e6,
                        "teacher forwards (M)": g["teacher_forwards"].sum() / 1e6,
                        "PFLOPs": g["flops"].sum() / 1e15, "PFLOPs left": left["flops"].sum() / 1e15})
    out.loc["all"] = out.sum()
    for col, flops in (("hours from empty", "PFLOPs"), ("hours left", "PFLOPs left")):
        out[f"{col} at the measured rate"] = out[flops] * 1e15 / (rate * workers) / 3600
    out["minutes from empty at an H200's TF32 peak"] = out["PFLOPs"] * 1e15 / H200_TF32_FLOPS / 60
    return out.drop(columns="PFLOPs left").astype({"runs": int, "stored": int})


def unmeetable_gates(p: Profile, n_train: int) -> pd.DataFrame:
    """The gates the profile's grid cannot meet on a training split of ``n_train`` images, whatever its runs give
    (each chapter's ``unmeetable_gates``): one row per gate, with its chapter. Each makes a verdict inconclusive at
    this scale before any run is trained."""
    return pd.DataFrame([dict(chapter=c.title, gate=g) for c in CHAPTERS for g in c.unmeetable_gates(p, n_train)],
                        columns=["chapter", "gate"])


def _table(df: pd.DataFrame, index: bool = True) -> str:
    """A Markdown table: counts with thousands separators, other numbers to 0.01, no value as a dash."""
    def cell(v):
        if isinstance(v, (bool, str)):
            return str(v)
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return "-"
        return f"{int(v):,}" if float(v).is_integer() and (abs(v) >= 1 or isinstance(v, int)) else f"{v:,.2f}"
    body = df.reset_index() if index else df
    rows = [[cell(v) for v in r] for r in body.itertuples(index=False)]
    return markdown_table([str(c) for c in body.columns], rows)


def tables(p: Profile) -> dict:
    """The plan of ``p`` as data: ``rate`` (FLOP/s per worker, NaN if none), ``timed`` (the stored runs it is
    measured on), ``workers``, and the tables ``chapters`` (per chapter, and all), ``sets`` (distilled sets by
    method and iterations), ``inputs`` (the teacher, scoring runs, experts) and ``gates`` (those the grid cannot
    meet)."""
    rows, gaps = runs(p), unmeetable_gates(p, len(data.load(p.dataset, p.val_per_class).y_train))
    ins = inputs(p, rows)
    titles = {c.name: c.title for c in CHAPTERS}
    is_set = ins["input"] == "set"
    first = {name: i for i, name in enumerate(dict.fromkeys(ins.loc[is_set, "method"]))}
    sets = ins[is_set].groupby(["method", "iterations"], sort=False, dropna=False).agg(
        sets=("name", "size"), cached=("cached", "sum"), wall=("wall_s", "max")).reset_index()
    sets = sets.sort_values("method", key=lambda col: col.map(first), kind="stable").rename(
        columns={"method": "set", "wall": "measured wall time (s)"}).set_index("set")
    other = ins[~is_set][["input", "name", "cached", "samples_seen"]].rename(
        columns={"name": "cache name", "samples_seen": "samples seen"})
    return dict(rate=measured_rate(rows), timed=int(rows["wall_s"].notna().sum()),
                workers=default_workers([RunConfig(device=p.device)]),
                chapters=by_chapter(p, rows).rename(index=titles).rename_axis("chapter"), sets=sets, inputs=other,
                gates=gaps)


def as_json(p: Profile) -> dict:
    """:func:`tables` as JSON-ready data (``python -m ddlib plan --json``) [issue 38]: the profile, the rate, and
    each table as a list of rows (column: value; no value is null)."""
    t = tables(p)
    rows = {name: json.loads(t[name].reset_index(drop=name in ("inputs", "gates")).to_json(orient="records"))
            for name in ("chapters", "sets", "inputs", "gates")}
    return dict(profile=p.profile, dataset=p.dataset, model=p.model, device=p.device, workers=t["workers"],
                flops_per_s_per_worker=None if math.isnan(t["rate"]) else t["rate"], timed_runs=t["timed"], **rows)


def outlook(p: Profile, chapters) -> str:
    """The line ``evidence`` and ``sweep`` begin with [issue 38]: how many runs ``chapters`` (names) train, how many
    the store holds, and the hours left at the measured rate (from :func:`runs`, as :func:`by_chapter`)."""
    rows = runs(p, chapters)
    head = f"ddlib: {p.profile} profile, {', '.join(chapters)}: "
    if rows.empty:
        return head + "no student runs counted (python -m ddlib plan)"
    left = by_chapter(p, rows).loc["all", "hours left at the measured rate"]
    eta = (f", about {left:.2f} h left at the rate measured on {rows['wall_s'].notna().sum():,} stored run(s)" if
           not math.isnan(left) else f", no time estimate yet (no stored run of device {p.device})")
    return head + f"{len(rows):,} runs, {int(rows['stored'].sum()):,} stored{eta} (python -m ddlib plan)"


# the chapters' table on a page: short headers, said in full above it (1280 px: the long ones cut the table off)
PAGE_COLUMNS = {"samples seen (M)": "samples (M)", "teacher forwards (M)": "teacher fwd (M)",
                "hours from empty at the measured rate": "hours", "hours left at the measured rate": "hours left",
                "minutes from empty at an H200's TF32 peak": "H200 minutes"}


def markdown(p: Profile) -> str:
    """The plan of ``p`` as Markdown: the chapters' table, the rate it rests on, the inputs, cached or not, and the
    gates the grid cannot meet."""
    t = tables(p)
    rate, gaps = t["rate"], t["gates"]
    said = (f"{rate / 1e9:,.2f} GFLOP/s per worker, measured on {t['timed']:,} stored runs of "
            f"device {p.device}" if not math.isnan(rate) else
            f"no stored run of device {p.device} yet, so no measured rate: the first runs stored give one")
    other = t["inputs"].assign(cached=lambda d: d["cached"].map({True: "yes", False: "no"}))
    return "\n\n".join([
        f"Profile {p.profile} ({p.dataset}, {p.model}, device {p.device}). Student runs, each counted once, under the "
        f"first chapter that trains it (chapters share runs: a random subset of chapter 01 is also chapter 03's "
        f"baseline); a run in the results store counts as done, and the hours are the sweep's "
        f"{t['workers']} worker(s) at work (*hours*: from an empty store and left, at the measured rate; *H200 "
        f"minutes*: from an empty store at an H200's TF32 peak):",
        _table(t["chapters"].rename(columns=PAGE_COLUMNS)),
        f"Rate: {said}. FLOPs are convolutions and matrix products (torch's FlopCounterMode): training, the "
        f"teacher's forwards and the evaluation passes.",
        "Distilled sets, by method and iterations (their distillation is not in the table above; *cached*: made on "
        "this machine already, for a run that trains on it; the wall time is the largest the store records for such "
        "a set on this device):", _table(t["sets"]),
        "The other inputs (teacher, scoring runs, MTT's and DATM's expert trajectories):", _table(other, index=False),
        "Gates this grid cannot meet, whatever its runs give (each leaves its verdict inconclusive at this scale, "
        "until the profile key it names changes):" if len(gaps) else
        "Gates: the grid can meet every gate; whether it does is for its runs to say.",
        *([_table(gaps, index=False)] if len(gaps) else [])])


def announce(p: Profile, chapters: list) -> None:
    """Say on stderr how many runs ``chapters`` train and the time left (:func:`outlook`) [issue 38]; passed to
    ``findings.evidence`` and ``findings.main`` by the command line."""
    print(outlook(p, chapters), file=sys.stderr, flush=True)
