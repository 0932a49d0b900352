"""What every chapter shares: the common parameters, the teacher and run defaults they imply, the KD temperature
chosen on validation, and per-seed lookups. Chapters that share parameters share runs through the result cache."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from .. import regimes
from ..errors import DDLibError
from ..experiment import RunConfig, sweep
from ..teacher import TeacherConfig


@dataclass
class CommonParams:
    """Knobs every chapter has; the defaults are the quick profile (CPU, Fashion-MNIST)."""
    profile: str = "quick"
    dataset: str = "fashion_mnist"
    model: str = "convnet3-w16-instancenorm"   # [ours, CPU] the paper profile uses width 128
    seeds: list = field(default_factory=lambda: [0, 1, 2])
    batch: int = 32                            # [ours, CPU] more steps per sample seen; paper profile: 256
    aug: str = "dsa"
    temperatures: list = field(default_factory=lambda: [1.0, 4.0, 20.0])  # KD temperature, chosen on validation
    val_per_class: int = 250                   # [ours, CPU] the paper profile uses 500
    teacher_model: str = "convnet3-w16-batchnorm"  # [ours, CPU] 6 epochs: ~88% on Fashion-MNIST; BN for SRe2L
    teacher_epochs: float = 6.0
    teacher_floor: float = 0.85
    device: str = "cpu"

    @classmethod
    def from_dict(cls, d: dict):
        names = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - names)
        if unknown:
            raise DDLibError(f"unknown parameter(s) {unknown}; valid: {sorted(names)}")
        return cls(**d)


def as_params(cls, p: CommonParams):
    """``p`` as another chapter's ``cls``: the fields they share, the rest at ``cls``'s defaults (a chapter that
    reuses another's runs builds them from this)."""
    return cls(**{k: getattr(p, k) for k in cls.__dataclass_fields__ if hasattr(p, k)})


def teacher_config(p: CommonParams) -> TeacherConfig:
    return TeacherConfig(model=p.teacher_model, epochs=float(p.teacher_epochs), floor=p.teacher_floor)


def run_kwargs(p: CommonParams, temperature: float) -> dict:
    """The RunConfig fields a chapter's parameters fix (everything but subset, regime, budget and seed)."""
    return dict(dataset=p.dataset, model=p.model, batch=p.batch, aug=p.aug, temperature=float(temperature),
                val_per_class=p.val_per_class, teacher=teacher_config(p), device=p.device)


def tune_temperature(p: CommonParams, budget: int, progress: bool = True) -> tuple:
    """Choose the KD temperature on the validation split: SL+KD on the full training split at ``budget``, first
    seed; the best validation accuracy wins (ties: the first listed). [ours: the reconstruction's T = 20 comes from
    300-epoch ImageNet runs; at small budgets a lower T may learn faster.] Returns (T, the tuning table)."""
    if len(p.temperatures) == 1:
        return float(p.temperatures[0]), pd.DataFrame()
    cfgs = [RunConfig(ipc="full", regime="slkd", budget=budget, seed=p.seeds[0], **run_kwargs(p, t))
            for t in p.temperatures]
    df = sweep(cfgs, progress=progress, desc="temperature on validation")
    best = float(df.loc[df["val_acc"].idxmax(), "temperature"])
    return best, df[["temperature", "val_acc", "budget", "seed"]]


def label_arms(df: pd.DataFrame) -> pd.DataFrame:
    """Add the 'arm' (HL, HL (AdamW), SL, SL+KD) and a string 'ipc_label' column to a sweep's rows."""
    df = df.copy()
    df["arm"] = [regimes.arm_name(r, o) for r, o in zip(df["regime"], df["optim"])]
    df["ipc_label"] = df["ipc"].astype(str)
    return df


def by_seed(df: pd.DataFrame, value: str = "test_acc", **where) -> dict:
    """{seed: value} over the rows matching every ``column=value`` in ``where`` (compared as strings)."""
    m = np.ones(len(df), dtype=bool)
    for k, v in where.items():
        m &= (df[k].astype(str) == str(v)).to_numpy()
    return dict(zip(df.loc[m, "seed"], df.loc[m, value]))


def write(chapter, df: pd.DataFrame, analysis: dict, p: CommonParams, started: float) -> dict:
    """Write a chapter's results.csv and summary.json for its profile; return the summary. ``chapter`` is the
    chapter's module (its CHAPTER, LABEL, TITLE and CLAIM) and ``analysis["verdict"]`` its computed verdict."""
    from .. import report
    report.write_results(df, p.profile, chapter.CHAPTER)
    v = analysis["verdict"]
    return report.write_summary(p.profile, chapter.CHAPTER, label=chapter.LABEL, title=chapter.TITLE,
                                claim=chapter.CLAIM, status=v["status"], sentence=v["sentence"],
                                key_numbers=v["key_numbers"], params=asdict(p), df=df, started=started)


def main(chapter, params: dict) -> dict:
    """Run a chapter without Jupyter (``python -m ddlib sweep``): choose T, sweep, analyse, write the result files.
    The chapter module provides Params, tune_temperature, run and analyse (and optionally check)."""
    from . import chapter_params
    started = time.time()
    p = chapter_params(chapter.Params, params)
    p = getattr(chapter, "check", lambda q: q)(p)
    temperature, _ = chapter.tune_temperature(p)
    df = chapter.run(p, temperature)
    return write(chapter, df, chapter.analyse(df, p), p, started)


def pts(mean, lo, hi) -> str:
    """A difference of accuracies in points with its interval: '+1.2 [-0.3, +2.7]' (no interval: '+1.2')."""
    if not np.isfinite(lo):
        return f"{mean * 100:+.1f}"
    return f"{mean * 100:+.1f} [{lo * 100:+.1f}, {hi * 100:+.1f}]"


def accuracy_for_page(table: pd.DataFrame, index: list) -> pd.DataFrame:
    """An accuracy table as a page shows it: test accuracy (%, mean ± half-width), mean validation accuracy and the
    gain over random (points, paired interval), indexed by ``index``."""
    from ..stats import fmt
    return pd.DataFrame({"test accuracy (%)": [fmt(r) for _, r in table.iterrows()],
                         "validation (%)": [f"{v * 100:.1f}" for v in table["val"]],
                         "gain over random": ["" if r["name"] == "random" else
                                              pts(r["gain"], r["gain_lo"], r["gain_hi"]) for _, r in table.iterrows()],
                         "seeds": table["n"].astype(int).to_numpy()},
                        index=pd.MultiIndex.from_frame(table[index]))


def differences_for_page(diffs: pd.DataFrame, index: list) -> pd.DataFrame:
    """Paired differences (columns mean, lo, hi, n) as '+1.2 [-0.3, +2.7]' points, indexed by ``index``."""
    return pd.DataFrame({"difference (points, 95% interval)": [pts(r["mean"], r["lo"], r["hi"])
                                                               for _, r in diffs.iterrows()],
                         "seeds": diffs["n"].astype(int).to_numpy()},
                        index=pd.MultiIndex.from_frame(diffs[index]))
