"""One chapter interface [issue 33]: every chapter module has the same names, so ``plan``, ``evidence``, ``sweep``
and the tests iterate one registry (``ddlib.findings.CHAPTERS``) and never ask which chapter they hold.

A chapter module has ``CHAPTER`` (its notebook's stem), ``LABEL``, ``TITLE``, ``CLAIM`` ("" for a tool or teaching
chapter) and these functions of a ``ddlib.profile.Profile`` ``p``:

- ``tune(p, progress=True) -> (choice, table)``: the choice made on the validation split (a KD temperature,
  CAD-Prune's candidates; an HL-only or tool chapter chooses nothing) with its table;
- ``tune_configs(p) -> list``: the runs ``tune`` trains ([] where none);
- ``plan_choice(p)``: what ``plan`` takes for the choice without tuning (a stand-in of the same cost);
- ``configs(p, choice) -> list``: every run config of the sweep that can be named before it runs;
- ``run(p, choice, progress=True)``: the sweep's rows (the audits, for the tool chapter);
- ``analyse(df, p) -> dict`` (``None`` where the chapter has nothing to analyse);
- ``describe(p, n_train) -> str``: the setup in a few Markdown lines;
- ``unmeetable_gates(p, n_train) -> list``: the gates the grid cannot meet, whatever its runs give ([] if none);
- ``record(chapter, out, p, started) -> dict``: what ``make evidence`` writes of ``run``'s output, and its line
  (``chapter``, ``status``, ``sentence``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from types import ModuleType
from typing import Callable

import pandas as pd

from .. import profile as prof, report
from ..profile import Profile, as_dict

KINDS = ("finding", "tool", "teaching")


@dataclass(frozen=True)
class Chapter:
    """A chapter of the book: ``name`` (``make evidence --chapters``'s), its module, ``kind`` (one of
    :data:`KINDS`), its module's constants and the functions of the module docstring."""
    name: str
    module: ModuleType
    kind: str
    chapter: str
    label: str
    title: str
    claim: str
    tune: Callable
    tune_configs: Callable
    plan_choice: Callable
    configs: Callable
    run: Callable
    analyse: Callable | None
    describe: Callable
    unmeetable_gates: Callable
    record: Callable

    @classmethod
    def of(cls, name: str, module: ModuleType, kind: str) -> Chapter:
        """The registry entry of a chapter module."""
        assert kind in KINDS, kind
        m = module
        return cls(name=name, module=m, kind=kind, chapter=m.CHAPTER, label=m.LABEL, title=m.TITLE, claim=m.CLAIM,
                   tune=m.tune, tune_configs=m.tune_configs, plan_choice=m.plan_choice, configs=m.configs, run=m.run,
                   analyse=m.analyse, describe=m.describe, unmeetable_gates=m.unmeetable_gates, record=m.record)

    def evidence(self, p: Profile, progress: bool = True) -> dict:
        """``make evidence``'s part of this chapter: its choice on validation, its sweep and what it writes."""
        started = time.time()
        choice, _ = self.tune(p, progress)
        return self.record(self, self.run(p, choice, progress), p, started)


def write(chapter, df: pd.DataFrame, analysis: dict, p: Profile, started: float) -> dict:
    """Write a chapter's results.csv and summary.json for its profile; return the summary. ``chapter`` is the
    chapter's module (its CHAPTER, LABEL, TITLE and CLAIM) and ``analysis["verdict"]`` its computed verdict."""
    report.write_results(df, p.profile, chapter.CHAPTER)
    v = analysis["verdict"]
    return report.write_summary(p.profile, chapter.CHAPTER, label=chapter.LABEL, title=chapter.TITLE,
                                claim=chapter.CLAIM, status=v["status"], headline=v["headline"], sure=v["sure"],
                                deciding=v["deciding"], sentence=v["sentence"], key_numbers=v["key_numbers"],
                                params=as_dict(p), df=df, started=started)


def record_verdict(chapter: Chapter, df: pd.DataFrame, p: Profile, started: float) -> dict:
    """A finding's ``record``: its results.csv and summary.json, with the verdict of its analysis."""
    return write(chapter.module, df, chapter.analyse(df, p), p, started)


def kd_tune_configs(p: Profile) -> list:
    """The runs of ``prof.kd_temperature`` (chapters 01-03's and the pitfalls' choice): chapter 02's, at the
    smallest main budget."""
    return prof.temperature_configs(p, min(p.budgets))


def kd_plan_choice(p: Profile) -> float:
    """A stand-in for the KD temperature, for planning: the first listed (a temperature names runs; it does not
    change what they cost)."""
    return float(p.temperatures[0])


def none(p: Profile, *_) -> list:
    """No runs on validation, or no gate the grid cannot meet: the uniform answer of a chapter without them."""
    return []
