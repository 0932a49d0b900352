"""The one chapter interface [issue 33]: one registry (``ddlib.findings.CHAPTERS``) in book order, one entry per
notebook and per Makefile chapter, every entry with the same functions, and no caller that asks which chapter it
holds or reaches into a chapter module's private names."""
from __future__ import annotations

import inspect
import re

import pytest

from conftest import REPO
from ddlib import data, profile as prof
from ddlib.config import RunConfig
from ddlib.findings import CHAPTERS, EVIDENCE, FINDINGS
from ddlib.findings.chapter import KINDS

TINY = prof.load("tiny")
MODULES = [c.module.__name__.rsplit(".", 1)[1] for c in CHAPTERS]


def test_the_registry_is_the_book_in_order_and_evidence_and_findings_come_from_it():
    assert [c.chapter for c in CHAPTERS] == sorted(c.chapter for c in CHAPTERS)
    assert EVIDENCE == ("label_regimes", "saturation", "hard_labels", "difficulty", "cad_prune", "audit", "pitfalls")
    assert EVIDENCE == tuple(c.name for c in CHAPTERS)
    assert list(FINDINGS) == [c.name for c in CHAPTERS if c.kind == "finding"]
    assert all(c.kind in KINDS for c in CHAPTERS) and {c.kind for c in CHAPTERS} == set(KINDS)
    assert all(bool(c.claim) == (c.kind == "finding") for c in CHAPTERS)     # a claim where there is a verdict
    assert all(callable(c.analyse) for c in FINDINGS.values())
    assert len({c.label for c in CHAPTERS}) == len({c.title for c in CHAPTERS}) == len(CHAPTERS)


def test_every_notebook_has_one_entry_and_the_makefile_lists_them_in_order():
    notebooks = sorted(f.stem for f in (REPO / "notebooks").glob("*.ipynb"))
    assert notebooks == [c.chapter for c in CHAPTERS]
    make = (REPO / "Makefile").read_text().replace("\\\n", " ")
    line = next(ln for ln in make.splitlines() if ln.startswith("CHAPTERS :="))
    assert line.split(":=", 1)[1].split() == [c.chapter for c in CHAPTERS]


@pytest.mark.parametrize("chapter", CHAPTERS, ids=EVIDENCE)
def test_every_chapter_has_the_uniform_functions(chapter):
    """Each function takes the interface's arguments (the module docstring of ``ddlib.findings.chapter``) and
    answers on the tiny profile without training: the runs on validation, a stand-in choice, the sweep's configs
    for it, the gates the grid cannot meet, the setup."""
    n_train = len(data.load(TINY.dataset, TINY.val_per_class).y_train)
    for f, args in ((chapter.tune, (TINY, False)), (chapter.tune_configs, (TINY,)), (chapter.plan_choice, (TINY,)),
                    (chapter.configs, (TINY, None)), (chapter.run, (TINY, None, False)),
                    (chapter.describe, (TINY, n_train)), (chapter.unmeetable_gates, (TINY, n_train)),
                    (chapter.record, (chapter, None, TINY, 0.0))):
        inspect.signature(f).bind(*args)
    if chapter.analyse is not None:
        inspect.signature(chapter.analyse).bind(None, TINY)
    cfgs = [*chapter.tune_configs(TINY), *chapter.configs(TINY, chapter.plan_choice(TINY))]
    assert all(isinstance(c, RunConfig) for c in cfgs)
    assert isinstance(chapter.unmeetable_gates(TINY, n_train), list)
    assert chapter.describe(TINY, n_train).startswith("- **Data**")


@pytest.mark.parametrize("chapter", FINDINGS.values(), ids=list(FINDINGS))
def test_a_findings_sweep_is_its_configs(chapter, monkeypatch):
    """What a finding's ``run`` trains is its ``configs`` for the same choice, in the same order (what ``plan``
    counts is what ``evidence`` runs)."""
    class Swept(Exception):
        pass

    def sweep(cfgs, **_):
        raise Swept([c.key() for c in cfgs])
    monkeypatch.setattr(chapter.module, "sweep", sweep)
    choice = chapter.plan_choice(TINY)
    with pytest.raises(Swept) as swept:
        chapter.run(TINY, choice, progress=False)
    assert swept.value.args[0] == [c.key() for c in chapter.configs(TINY, choice)]


def test_no_caller_asks_which_chapter_it_holds_or_imports_a_chapters_private_names():
    """Outside the chapter modules themselves: no ``is cad_prune`` (or any chapter module), no comparison with a
    chapter's name, no ``from .findings.X import _name`` and no ``X._name``."""
    mods, names = "|".join(MODULES), "|".join(EVIDENCE)
    patterns = [rf"\bis\s+(not\s+)?({mods})\b", rf"[!=]=\s*['\"]({names})['\"]", rf"['\"]({names})['\"]\s*[!=]=",
                rf"from\s+(\.+|ddlib\.)(findings\.)?({mods})\s+import\s+\(?[^)\n]*\b_\w", rf"\b({mods})\._\w"]
    own = {REPO / "ddlib" / "findings" / f"{m}.py" for m in MODULES}
    found = [f"{path.relative_to(REPO)}:{i}: {line.strip()}"
             for path in sorted((REPO / "ddlib").rglob("*.py")) if path not in own
             for i, line in enumerate(path.read_text().splitlines(), 1)
             if any(re.search(p, line) for p in patterns)]
    assert not found, "\n".join(found)
