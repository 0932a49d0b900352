"""Audit a user's distilled set (``python -m ddlib audit FILE``): train on it under HL, SL and SL+KD at one compute
budget, next to random real subsets of the same IPC and the herding coreset (the teacher's features, as chapters 01
and 03 use), over several seeds, with the same recipe for every set.

What it writes to its folder: ``results.csv`` (one row per run, with every run's provenance), ``audit.json`` (the
machine-readable summary: the file's sha256, the setting, per regime the set's accuracy with a 95% t interval and
its gain over random paired by seed, the share of its SL+KD lead over random that survives under HL, provenance)
and ``report.html`` (the report notebook ``ddlib/templates/audit_report.ipynb`` executed by papermill and rendered
to one standalone page; ``python -m ddlib audit-report DIR`` renders it later where papermill/nbconvert lack).

Gain of a set under an arm: its test accuracy minus the random subset's, paired by seed (seed s trains both with
the same init, batch order and augmentation stream; random draws its subset with s). The *share that survives under
HL* is gain_HL / gain_SL+KD (DD-Ranking's question), defined only where the SL+KD gain's interval lies above zero;
it is a ratio of means, without an interval. Stored soft labels in the file are what SL trains on (as the set's
authors ship them); without them SL uses the teacher's softmax on the set's images, as for any distilled set. SL+KD
ignores stored labels: the teacher relabels every augmented batch.
"""
from __future__ import annotations

import importlib.util
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from . import data, gallery, regimes, report
from .errors import DDLibError
from .config import check_device, check_inputs, file_synset
from .origin import provenance
from .sweeps import sweep
from . import profile as prof
from .analysis import by_seed, fmt, gain_table, paired_difference, points_text, survival_table
from .profile import MAX_SEEDS, Profile
from .paths import PACKAGE_DIR, results_dir
from .store import atomic_write, read_json, write_json
from .synset import PICKLE_SUFFIXES, infer_ipc, peek_meta, sha256

ARMS = ("HL", "SL", "SL+KD")
SET = "set"
BASELINES = ("random", "herding")
METHODS = (SET, *BASELINES)
TEMPLATE = PACKAGE_DIR / "templates" / "audit_report.ipynb"
FORMAT = 1


@dataclass
class Plan:
    """An audit, checked before any compute: the set, the dataset, the claimed IPC, the budget, the seeds and the
    recipe (``p``: a profile's common parameters and its first budget); ``temperature`` None means: choose it on the
    validation split."""
    path: Path
    dataset: str
    ipc: int
    ipc_source: str
    budget: int
    p: Profile
    sha256: str
    synset: object
    temperature: float | None = None
    notes: list = field(default_factory=list)

    @property
    def seeds(self) -> list:
        return list(self.p.seeds)


def plan(file, dataset: str | None = None, ipc: int | None = None, budget: int | None = None,
         seeds: int | None = None, device: str | None = None, params: str | dict | None = None,
         temperature: float | None = None) -> Plan:
    """Check every input before any compute and before anything is written: the parameters, the dataset, the file
    (readable without pickle, the dataset's classes, image shape and channels, pixels in [0, 1], finite, labels in
    range, every class present, the claimed IPC), the budget, the seeds and the device. One-line DDLibErrors.

    ``params``: a profile's name (tiny, quick, paper), a YAML file of one's own or a dict; ``seeds``: how many
    (0, 1, ...); ``dataset``: default the one the file names, else the parameters'; ``ipc``: the claim, default the
    file's own (its provenance, else its class counts when they are all equal)."""
    p = Profile.load(params) if isinstance(params, (str, Path)) else Profile.from_dict(dict(params or {}))
    path = Path(file)
    if not path.exists() and path.suffix.lower() not in PICKLE_SUFFIXES:
        raise DDLibError(f"no such file or folder: {path}")
    named = peek_meta(path).get("dataset")
    if dataset is None:
        dataset = named or p.dataset
    elif named and named != data.content_name(dataset):    # a folder's name: with its files' digest
        raise DDLibError(f"{path.name} says it was distilled from {named!r}, not {dataset!r}; pass --dataset {named}")
    p = replace(p, dataset=dataset)
    if seeds is not None:
        if isinstance(seeds, bool) or not isinstance(seeds, int) or not 1 <= seeds <= MAX_SEEDS:
            raise DDLibError(f"seeds takes how many seeds (an integer from 1 to {MAX_SEEDS}), got {seeds!r}")
        p = replace(p, seeds=list(range(seeds)))
    if not p.seeds:
        raise DDLibError("seeds is empty")
    if device is not None:
        p = replace(p, device=device)
    if budget is None:
        if not p.budgets:
            raise DDLibError("no budget: give --budget, or a parameters file with budgets")
        budget = p.budgets[0]
    if temperature is not None and not temperature > 0:
        raise DDLibError(f"temperature must be positive, got {temperature!r}")
    if temperature is None and (not p.temperatures or not all(isinstance(t, (int, float)) and t > 0
                                                               for t in p.temperatures)):
        raise DDLibError(f"temperatures must be a list of positive numbers, got {p.temperatures!r}")
    splits = data.load(p.dataset, p.val_per_class)          # a missing dataset fails here, before the file
    if ipc is None:                                          # the file checked without a claim, then its own IPC
        ipc, source = infer_ipc(file_synset(str(path), p.dataset, None, p.val_per_class), splits.num_classes)
    else:
        source = "claimed (--ipc)"
    s = file_synset(str(path), p.dataset, ipc, p.val_per_class)  # classes, shape, values and the claimed IPC
    pl = Plan(path.resolve(), p.dataset, ipc, source, budget, p, s.meta["sha256"], s, temperature)
    for c in configs(pl, temperature or 1.0):                # names, numbers, IPC against the dataset, device
        check_inputs(c)
    check_device(p.device)
    m = s.meta
    if m.get("val_per_class") not in (None, p.val_per_class) or m.get("split_seed") not in (None, 0):
        pl.notes.append(f"the set was distilled with another validation split (val_per_class "
                        f"{m.get('val_per_class')}, split seed {m.get('split_seed')}) than the audit's "
                        f"({p.val_per_class}, 0): it may have seen validation images, so validation accuracies "
                        f"(and the temperature chosen on them) may flatter it; test accuracies are unaffected")
    return pl


def configs(pl: Plan, temperature: float) -> list:
    """Every arm x (the set, random, herding) x seed, in that order. Random and herding are built exactly as
    chapters 01 and 03 build them, so a profile's runs come from the result cache."""
    out = []
    for arm in ARMS:
        for s in pl.seeds:
            kw = dict(ipc=pl.ipc, **prof.arm(arm), budget=pl.budget, seed=s)
            out.append(prof.subset_run(pl.p, temperature=temperature, synset_file=str(pl.path), **kw))
            out += [prof.subset_run(pl.p, b, temperature, **kw) for b in BASELINES]
    return out


def method_of(row) -> str:
    f = row.get("synset_file")
    return SET if isinstance(f, str) and f else row["select"]


def run(pl: Plan, out: Path, progress: bool = True, command: str = "", store: Path | None = None) -> dict:
    """Choose the KD temperature (on validation, unless given), train every run (or read it from ``store``, by
    default the private cache: a user's set is no part of a profile's committed store), and write ``results.csv``
    and ``audit.json`` to ``out`` (:func:`render` makes report.html from them). Returns the summary (audit.json's
    content); its wall time covers the temperature choice and the runs."""
    started = time.time()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if pl.temperature is not None:
        temperature, t_source = float(pl.temperature), "given"
    else:
        temperature, _ = prof.tune_temperature(pl.p, pl.budget, progress, ipcs=[pl.ipc])
        t_source = ("the only one listed" if len(pl.p.temperatures) == 1 else
                    f"chosen on the validation split from {list(pl.p.temperatures)} (SL+KD on random subsets of "
                    f"the set's IPC, the same budget, {prof.TUNE_SEEDS} seeds; the first listed unless another is "
                    f"higher beyond the seeds' noise)")
    df = sweep(configs(pl, temperature), progress=progress, desc="audit runs", store=store)
    df.insert(0, "method", [method_of(r) for r in df.to_dict("records")])
    df.insert(1, "arm", [regimes.arm_name(r, o) for r, o in zip(df["regime"], df["optim"])])
    df["audit_sha256"] = pl.sha256
    report.write_csv(df, out / "results.csv")
    summary = summarise(df, pl, temperature, t_source, started, command)
    write_json(out / "audit.json", _json_safe(summary))
    return summary


# --- analysis ---------------------------------------------------------------------------------------------------

def accuracy_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per (arm, method): test accuracy (mean, 95% t interval, n) and the gain over random paired by seed, and for
    the set its difference from herding, paired by seed."""
    rows = gain_table(df, [dict(arm=arm) for arm in ARMS], METHODS)
    for r in rows:
        if r["method"] == SET:
            h = paired_difference(by_seed(df, method=SET, arm=r["arm"]), by_seed(df, method="herding", arm=r["arm"]))
            r.update(vs_herding=h["mean"], vs_herding_lo=h["lo"], vs_herding_hi=h["hi"])
    return pd.DataFrame(rows)


def _ci(d) -> dict:
    return {k: (float(d[k]) if k != "n" else int(d[k])) for k in ("mean", "lo", "hi", "n")}


def _verdict(lo, hi) -> str:
    if not np.isfinite(lo):
        return "no interval (one seed)"
    return "above random" if lo > 0 else "below random" if hi < 0 else "indistinguishable from random"


def sentence(table: pd.DataFrame, share: dict, seeds: int) -> str:
    """The audit in plain words: per arm, the set's gain over random (points, 95% interval) and what it means, then
    the share of its SL+KD lead that survives under HL."""
    parts = []
    for arm in ARMS:
        r = table[(table["arm"] == arm) & (table["method"] == SET)]
        if r.empty:
            continue
        r = r.iloc[0]
        parts.append(f"{arm} {points_text(r['gain'], r['gain_lo'], r['gain_hi'])} ({_verdict(r['gain_lo'], r['gain_hi'])})")
    text = (f"Gain of the set over a random real subset of the same size, in test-accuracy points with a 95% "
            f"interval over {seeds} seed{'s' if seeds != 1 else ''}: " + "; ".join(parts) + ". ")
    kd = table[(table["arm"] == "SL+KD") & (table["method"] == SET)]
    below = len(kd) and kd.iloc[0]["gain_hi"] < 0
    if share["share"] is None:
        text += (f"Its SL+KD gain ({share['gain_slkd'] * 100:+.1f} points) is "
                 f"{'below zero' if below else 'not shown above zero'}, so no share of a soft-label lead is given.")
    elif share["share"] > 1:
        text += (f"Its HL gain ({share['gain_hl'] * 100:+.1f} points) is {share['share']:.1f} times its SL+KD lead "
                 f"over random ({share['gain_slkd'] * 100:+.1f} points): the lead is the images', not the labels'.")
    else:
        text += (f"Of its SL+KD lead over random ({share['gain_slkd'] * 100:+.1f} points), "
                 f"{share['share']:.0%} survives under hard labels ({share['gain_hl'] * 100:+.1f} points).")
    return text + (" A gain whose interval includes zero is not evidence of no gain: with few seeds, small effects "
                   "stay undetected.")


def summarise(df: pd.DataFrame, pl: Plan, temperature: float, t_source: str, started: float,
              command: str = "") -> dict:
    """audit.json's content (accuracies and gains as fractions of the test set: 0.01 = one point)."""
    table = accuracy_table(df)
    per_arm = {}
    for arm in ARMS:
        t = table[table["arm"] == arm].set_index("method")
        if t.empty:
            continue
        a = {m: _ci(t.loc[m]) for m in METHODS if m in t.index}
        for m in (SET, "herding"):
            if m in t.index:
                key = "gain_over_random" if m == SET else "herding_gain_over_random"
                a[key] = dict(mean=float(t.loc[m, "gain"]), lo=float(t.loc[m, "gain_lo"]),
                              hi=float(t.loc[m, "gain_hi"]), n=int(t.loc[m, "gain_n"]))
        if SET in t.index:
            a["set_minus_herding"] = dict(mean=float(t.loc[SET, "vs_herding"]), lo=float(t.loc[SET, "vs_herding_lo"]),
                                          hi=float(t.loc[SET, "vs_herding_hi"]), n=int(t.loc[SET, "gain_n"]))
            a["verdict"] = _verdict(t.loc[SET, "gain_lo"], t.loc[SET, "gain_hi"])
        per_arm[arm] = a
    g_hl = per_arm["HL"]["gain_over_random"]["mean"]
    g_kd = per_arm["SL+KD"]["gain_over_random"]["mean"]
    shown = bool(per_arm["SL+KD"]["gain_over_random"]["lo"] > 0)
    share = dict(share=g_hl / g_kd if shown else None, gain_hl=g_hl, gain_slkd=g_kd, defined=shown,
                 definition="gain_HL / gain_SL+KD (means over seeds), defined where gain_SL+KD's 95% interval lies "
                            "above zero; no interval")
    s, m = pl.synset, pl.synset.meta
    first = df.iloc[0].to_dict()
    teacher_rows = df[df["teacher_id"].notna()] if "teacher_id" in df else df.iloc[:0]
    prov = dict(provenance(), device=pl.p.device, threads=provenance()["cpu_threads"],
                run_threads=sorted({int(v) for v in df["cpu_threads"]}) if "cpu_threads" in df else None,
                wall_s=time.time() - started, runs=len(df),
                cache_hits=int(df["cache_hit"].sum()) if "cache_hit" in df else None,
                compute_s=float(df["wall_s"].sum()), data_source=first.get("data_source"),
                teacher_id=teacher_rows["teacher_id"].iloc[0] if len(teacher_rows) else None,
                teacher_test_acc=float(teacher_rows["teacher_test_acc"].iloc[0]) if len(teacher_rows) else None,
                teacher_model=pl.p.teacher_model, command=command, written=time.strftime("%Y-%m-%d %H:%M:%S %Z"))
    return dict(
        kind="ddlib-audit", format=FORMAT,
        file=dict(path=str(pl.path), sha256=pl.sha256, format=m.get("file_format"), images=len(s),
                  image_shape=list(s.images.shape[1:]), soft_labels=s.soft_labels is not None,
                  method=m.get("method"), key=m.get("key"), distilled_with=dict(
                      dataset=m.get("dataset"), ipc=m.get("ipc"), seed=m.get("seed"),
                      val_per_class=m.get("val_per_class"), split_seed=m.get("split_seed"))),
        dataset=pl.dataset, ipc=pl.ipc, ipc_source=pl.ipc_source, budget=pl.budget, batch=pl.p.batch,
        steps=-(-pl.budget // pl.p.batch), seeds=pl.seeds, arms=list(ARMS), baselines=list(BASELINES),
        temperature=temperature, temperature_source=t_source,
        model=pl.p.model, params=prof.as_dict(pl.p),
        units="accuracies and gains are fractions of the test set (0.01 = one point); intervals are 95% t "
              "intervals over seeds, gains paired by seed",
        regimes=per_arm, hl_share_of_slkd_lead=share, sentence=sentence(table, share, len(pl.seeds)),
        notes=list(pl.notes), provenance=prov, files=dict(results="results.csv", summary="audit.json",
                                                          report="report.html"))


def _json_safe(obj):
    """NaN and infinities as null (audit.json is strict JSON), numpy scalars as Python numbers."""
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


# --- the report -------------------------------------------------------------------------------------------------

def load(audit_dir) -> dict:
    """An audit folder as the report reads it: {'summary': audit.json, 'runs': results.csv, 'table', 'survival'}."""
    d = Path(audit_dir)
    if not (d / "audit.json").exists() or not (d / "results.csv").exists():
        raise DDLibError(f"{d} holds no audit (audit.json and results.csv); run `python -m ddlib audit FILE` first")
    summary = read_json(d / "audit.json")
    runs = pd.read_csv(d / "results.csv")
    table = accuracy_table(runs)
    return dict(summary=summary, runs=runs, table=table, survival=survival_table(table[table["method"].isin((SET, "herding"))], ("SL+KD", "SL")), dir=d)


MARKUP = "&<>\"'`*_[]\\|#~!$"   # HTML's specials and Markdown's marks (MyST's $ math too)


def safe(value) -> str:
    """``value`` as Markdown text that renders as itself: HTML escaped, and Markdown's own marks (code spans,
    emphasis, links, backslashes) turned into entities. Everything a user's file or a hand-edited audit.json says
    goes through here on its way into a page, so no file name or header can add markup or script to report.html."""
    return "".join(f"&#{ord(c)};" if c in MARKUP else c for c in str(value))


def headline_markdown(a: dict) -> str:
    s = a["summary"]
    f = s["file"]
    what = f"<code>{safe(Path(str(f['path'])).name)}</code>" + (f" ({safe(f['method'])})" if f.get("method") else "")
    return (f"**The set**: {what}, {safe(f['images'])} images of {safe(s['dataset'])} ({safe(s['ipc'])} per class, "
            f"{safe(s['ipc_source'])}), sha256 <code>{safe(str(f['sha256'])[:16])}</code>…, "
            f"{'with' if f['soft_labels'] is True else 'without'} stored soft labels.\n\n"
            f"**The protocol**: student <code>{safe(s['model'])}</code>, {_count(s['budget'])} samples seen "
            f"({_count(s['steps'])} steps of {safe(s['batch'])}) in every run, seeds "
            f"{', '.join(map(safe, s['seeds']))}; KD temperature {safe(s['temperature'])} "
            f"({safe(s['temperature_source'])}); baselines: a random real subset and the herding coreset (the "
            f"teacher's features) of the same IPC.\n\n**In one paragraph**: {safe(s['sentence'])}"
            + "".join(f"\n\n*Note*: {safe(n)}" for n in s.get("notes", [])))


def set_images(a: dict) -> gallery.Gallery:
    """The audited set's images, drawn in the report as the book draws its sets [issue 36]: read from the file as
    audited, or a one-line note where the file is gone, its content changed since (its sha256 differs from
    audit.json's) or it no longer reads against the dataset."""
    s = a["summary"]
    path = Path(str(s["file"]["path"]))
    try:
        if sha256(path) != s["file"]["sha256"]:
            return gallery.Gallery(note=f"*Not drawn: <code>{safe(path)}</code> changed since the audit (its sha256 "
                                        f"differs from audit.json's).*")
        vpc = int(s["params"]["val_per_class"])
        images = file_synset(str(path), str(s["dataset"]), None, vpc)
        classes = data.load(str(s["dataset"]), vpc).classes
    except (DDLibError, KeyError, TypeError, ValueError) as e:
        return gallery.Gallery(note=f"*Not drawn: {safe(e)}.*")
    return gallery.Gallery({"the audited set": gallery.Shown(images.images, images.labels, classes)})


def _count(v) -> str:
    return f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else safe(v)


def gain_table_for_page(a: dict) -> pd.DataFrame:
    """Per arm and method: test accuracy (%, mean ± half-width), gain over random and the set's difference from
    herding (points, paired 95% interval)."""
    t = a["table"]
    rows = []
    for _, r in t.iterrows():
        rows.append({"arm": r["arm"], "trained on": r["method"], "test accuracy (%)": fmt(r),
                     "gain over random (points)": "" if r["method"] == "random" else
                     points_text(r["gain"], r["gain_lo"], r["gain_hi"]),
                     "set minus herding (points)": points_text(r["vs_herding"], r["vs_herding_lo"], r["vs_herding_hi"])
                     if r["method"] == SET else "",
                     "seeds": int(r["n"])})
    return pd.DataFrame(rows).set_index(["arm", "trained on"])


def survival_markdown(a: dict) -> str:
    sh = a["summary"]["hl_share_of_slkd_lead"]
    pts = {k: f"{sh[k] * 100:+.1f}" if isinstance(sh.get(k), (int, float)) else safe(sh.get(k))
           for k in ("gain_slkd", "gain_hl")}
    if not isinstance(sh.get("share"), (int, float)) or isinstance(sh.get("share"), bool):
        return (f"The set's SL+KD gain over random is {pts['gain_slkd']} points: not a lead, so the share that "
                f"survives under hard labels is undefined.")
    if sh["share"] > 1:
        return (f"The set's HL gain over random ({pts['gain_hl']} points) is **{sh['share']:.1f} times** its SL+KD "
                f"lead ({pts['gain_slkd']} points): the lead is the images', not the teacher's labels; a ratio of "
                f"means, without an interval (see the gains' intervals).")
    return (f"**{sh['share']:.0%}** of the set's SL+KD lead over random ({pts['gain_slkd']} points) survives under "
            f"hard labels ({pts['gain_hl']} points). Below 100%: part of the lead is the teacher's labels, not the "
            f"images; a ratio of means, without an interval (see the gains' intervals).")


def survival_for_page(a: dict) -> pd.DataFrame:
    s = a["survival"]
    if s.empty:
        return s
    return pd.DataFrame({"trained on": s["method"], "soft arm": s["soft_arm"],
                         "gain, soft arm (points)": s["gain_soft"].map(lambda v: f"{v * 100:+.1f}"),
                         "gain, HL (points)": s["gain_hl"].map(lambda v: f"{v * 100:+.1f}"),
                         "share left under HL": s["share"].map(lambda v: "–" if not np.isfinite(v) else f"{v:.0%}")}
                        ).set_index(["trained on", "soft arm"])


def provenance_table(a: dict) -> pd.DataFrame:
    s = a["summary"]
    p = s["provenance"]
    rows = {"file": s["file"]["path"], "file sha256": s["file"]["sha256"], "file format": s["file"]["format"],
            "dataset (data source)": f"{s['dataset']} ({p.get('data_source')})",
            "student": s["model"], "budget (samples seen)": f"{s['budget']:,}",
            "teacher": f"{p.get('teacher_model')} ({p.get('teacher_id')}, test accuracy "
                       f"{(p.get('teacher_test_acc') or float('nan')) * 100:.1f}%)",
            "KD temperature": f"{s['temperature']:g}: {s['temperature_source']}",
            "seeds": ", ".join(map(str, s["seeds"])), "device": p["device"], "GPU": p.get("gpu") or "none",
            "threads (this process; per run)": f"{p['threads']}; {', '.join(map(str, p.get('run_threads') or []))}",
            "runs (cache hits)": f"{p['runs']} ({p['cache_hits']})",
            "training compute, s": f"{p['compute_s']:.1f}", "audit wall time, s": f"{p['wall_s']:.1f}",
            "ddlib": p["ddlib_version"], "commit": p["commit"], "torch": p["torch"], "python": p["python"],
            "command": p.get("command") or "", "written": p["written"]}
    return pd.DataFrame({"value": [str(v) for v in rows.values()]}, index=list(rows))


def runs_for_page(a: dict) -> pd.DataFrame:
    """Every run behind the numbers: its key in the result cache (``<cache>/runs/<key>.json``), accuracy, time."""
    cols = [c for c in ("arm", "method", "seed", "test_acc", "val_acc", "steps", "wall_s", "device", "cpu_threads",
                        "cache_hit", "commit", "key") if c in a["runs"]]
    t = a["runs"][cols].copy()
    for c in ("test_acc", "val_acc"):
        t[c] = (t[c] * 100).round(1)
    t["wall_s"] = t["wall_s"].round(1)
    return t.rename(columns={"test_acc": "test acc (%)", "val_acc": "val acc (%)"}).set_index(["arm", "method",
                                                                                              "seed"])


def missing_report_tools() -> list:
    """What rendering the report needs and this environment lacks (papermill, nbconvert, ipykernel)."""
    return [m for m in ("papermill", "nbconvert", "ipykernel") if importlib.util.find_spec(m) is None]


def render(audit_dir, timeout: int = 600) -> Path:
    """Execute the report notebook on ``audit_dir`` with papermill and write it as one standalone HTML page
    (inputs hidden, figures embedded as data URIs, no script fetched from the web) to ``audit_dir/report.html``.
    The kernel starts in an empty temporary folder, never in ``audit_dir``: a kernel puts its folder first on the
    import path, and an audit folder someone sent may hold a ``matplotlib.py`` [issue 37]."""
    d = Path(audit_dir).resolve()
    load(d)                                        # a folder without an audit: one line, nothing written
    missing = missing_report_tools()
    if missing:
        raise DDLibError(f"rendering the report needs {', '.join(missing)}: pip install 'ddlib[book]' (or "
                         f"pip install papermill nbconvert ipykernel), then python -m ddlib audit-report {d}")
    import tempfile

    import nbformat
    import papermill
    from nbconvert import HTMLExporter

    with tempfile.TemporaryDirectory() as tmp:
        executed = Path(tmp) / "audit_report.ipynb"
        papermill.execute_notebook(str(TEMPLATE), str(executed), parameters=dict(audit_dir=str(d)),
                                   kernel_name="python3", cwd=tmp, progress_bar=False, log_output=False,
                                   execution_timeout=timeout)
        nb = nbformat.read(executed, as_version=4)
    exporter = HTMLExporter(template_name="lab", exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True, embed_images=True)
    body, _ = exporter.from_notebook_node(nb, resources=dict(metadata=dict(name="Audit of a distilled set")))
    body = standalone(body)
    return atomic_write(d / "report.html", lambda f: Path(f).write_text(body, encoding="utf-8"))


def standalone(html: str) -> str:
    """The page without anything it would fetch from the web: nbconvert's lab template links require.js, MathJax
    and mermaid from a CDN (for widgets, LaTeX and diagrams, which the report has none of)."""
    import re
    html = re.sub(r'<script[^>]*\bsrc="https?://[^"]*"[^>]*>\s*</script>', "", html)
    html = re.sub(r'<link[^>]*\bhref="https?://[^"]*"[^>]*>', "", html)
    html = re.sub(r'<script type="text/x-mathjax-config">.*?</script>', "", html, flags=re.S)
    return re.sub(r'<script type="module">(?:(?!</script>).)*?mermaid.*?</script>', "", html, flags=re.S)


def default_out(pl: Plan) -> Path:
    return results_dir() / "audit" / f"{pl.path.stem}-{pl.sha256[:12]}"


def render_hint(out) -> str:
    return f"report not rendered (needs papermill, nbconvert, ipykernel); render it later: python -m ddlib " \
           f"audit-report {out}"
