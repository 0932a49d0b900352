"""One module per chapter: the sweep a chapter runs, its analysis and, for a finding, its computed verdict. Notebooks
call these; ``python -m ddlib sweep NAME`` runs a finding's sweep without Jupyter (e.g. on a GPU machine), and
``python -m ddlib evidence`` every chapter's.

Every chapter module has the same names (``ddlib.findings.chapter``'s docstring lists them); :data:`CHAPTERS` is
the one registry, in book order, that ``plan``, ``evidence``, ``sweep`` and the tests iterate."""
from __future__ import annotations

import sys
from dataclasses import replace

from .. import profile as prof, teacher as teachers
from ..errors import DDLibError
from ..records import is_current
from ..profile import Profile
from ..store import read_record
from . import audit_sets, cad_prune, difficulty, hard_labels, label_regimes, pitfalls, saturation
from .chapter import Chapter, write  # noqa: F401 (the notebooks call findings.write)

CHAPTERS = (Chapter.of("label_regimes", label_regimes, "finding"), Chapter.of("saturation", saturation, "finding"),
            Chapter.of("hard_labels", hard_labels, "finding"), Chapter.of("difficulty", difficulty, "finding"),
            Chapter.of("cad_prune", cad_prune, "finding"), Chapter.of("audit", audit_sets, "tool"),
            Chapter.of("pitfalls", pitfalls, "teaching"))
FINDINGS = {c.name: c for c in CHAPTERS if c.kind == "finding"}   # ``sweep``'s: the chapters with a verdict
EVIDENCE = tuple(c.name for c in CHAPTERS)                        # make evidence's parts, in its order


def main(chapter: Chapter, params: dict, progress: bool = True, announce=None) -> dict:
    """Run a chapter without Jupyter (``python -m ddlib sweep``): its choice on validation, the sweep, the
    analysis, the result files; with ``progress``, first ``announce(p, chapters)`` (the caller's, e.g.
    ``plan.announce``: plan reads this registry, so it is passed in, not imported), then progress bars."""
    p = Profile.from_dict(params).check()
    if progress and announce is not None:
        announce(p, [chapter.name])
    return chapter.evidence(p, progress)


def prune(p: Profile) -> int:
    """Remove the store's records made by other code (their keys cannot match this code's); their number."""
    stale = [f for f in sorted(p.store.glob("*.json")) if not is_current(read_record(f) or {})]
    for f in stale:
        f.unlink()
    return len(stale)


def refuse_weak_teacher(p: Profile, floor_source: str) -> None:
    """[issue 35] The profile's teacher (read from the cache, or trained there first) against ``p.teacher_floor``
    before any student run: a teacher under it fails every run that reads it, so the call stops at once, in one line
    naming the floor, where it comes from (``floor_source``) and the measured validation accuracy."""
    t = teachers.get(replace(prof.teacher(p), floor=0.0), p.dataset, p.val_per_class, 0, p.device)
    if t.meta["val_acc"] < p.teacher_floor:
        raise DDLibError(f"teacher {t.id} has validation accuracy {t.meta['val_acc']:.3f}, under the floor "
                         f"{p.teacher_floor:.3f} ({floor_source}); no student run was started: train it longer "
                         f"(teacher_epochs) or lower the floor")


def evidence(params: dict, chapters=None, progress: bool = True, origin: str = "the parameters", announce=None):
    """``make evidence``: every chapter's choice, sweep and result files (a finding's verdict, chapter 06's audits,
    chapter 07's pitfall runs), into the profile's results store (``Profile.store``); ``chapters`` (names of
    :data:`EVIDENCE`) keeps only those, in that order, e.g. the one a short GPU call can finish. Finished runs are
    read back, so a stopped call resumes; records of other code are removed first, and a teacher under its floor is
    refused before any run (:func:`refuse_weak_teacher`; ``origin`` names where ``params`` came from). With
    ``progress``, ``announce(p, chapters)`` (as :func:`main`), then progress bars. Yields each chapter's summary as it finishes."""
    chosen = list(EVIDENCE) if chapters is None else list(chapters)
    unknown = [c for c in chosen if c not in EVIDENCE]
    if unknown or not chosen:
        raise DDLibError(f"unknown evidence chapter(s) {', '.join(unknown) or '(none given)'}; valid: "
                         f"{', '.join(EVIDENCE)}")
    p = Profile.from_dict(params).check()
    removed = prune(p)
    if removed:
        print(f"ddlib: removed {removed} records of other code from {p.store}", file=sys.stderr)
    refuse_weak_teacher(p, f"teacher_floor in {origin}" if "teacher_floor" in params else
                        "the default teacher_floor of ddlib.profile.Profile")
    if progress and announce is not None:
        announce(p, chosen)
    for chapter in (c for c in CHAPTERS if c.name in chosen):
        yield chapter.evidence(p, progress)
