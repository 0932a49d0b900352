"""Keys from what a run depends on [issue 33]: comments, docstrings, progress bars and executors move no key; an
edit moves the keys of exactly the runs whose code it touches; and every ddlib function a real run executes lies
inside the fingerprint of its key (traced), so no edit can change a number under an old key."""
from __future__ import annotations

import ast
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from ddlib import data, distill, fingerprint, scores, select, teacher as teachers
from ddlib.config import RUN, RunConfig
from ddlib.distill import mtt
from ddlib.runner import run
from ddlib.teacher import TeacherConfig

from conftest import DIGITS, TINY_TEACHER

PACKAGE = Path(fingerprint.__file__).parent
TEACHER = TeacherConfig(**TINY_TEACHER)
BASE = RunConfig(**DIGITS, ipc=2, budget=64, teacher=TEACHER)
RUNS = {"random HL": BASE, "random SL": replace(BASE, regime="sl"), "random SL+KD": replace(BASE, regime="slkd"),
        "herding": replace(BASE, select="herding"), "kcenter": replace(BASE, select="kcenter"),
        "el2n": replace(BASE, select="el2n"), "window": replace(BASE, select="window"),
        "cad": replace(BASE, select="cad", budget=320), "DM set": replace(BASE, distill="dm"),
        "MTT set": replace(BASE, distill="mtt"), "RDED set SL+KD": replace(BASE, distill="rded", regime="slkd")}


def keys() -> dict:
    """Every key a store or cache holds, for a spread of runs and their inputs."""
    ctx = distill.Context("digits", 2, 0, val_per_class=20)
    out = {name: cfg.key() for name, cfg in RUNS.items()}
    out.update(teacher=TEACHER.key("digits", 20, 0),
               scoring_run=scores.recorder_key("digits", model="convnet1-w4", epochs=2, batch=32, seed=0),
               dm_set=distill.key("dm", ctx, distill.make_knobs("dm")),
               mtt_experts=mtt.expert_key(ctx, distill.make_knobs("mtt")))
    return out


def copy_package(tmp_path: Path) -> Path:
    dest = tmp_path / "ddlib"
    shutil.copytree(PACKAGE, dest, ignore=shutil.ignore_patterns("__pycache__", "templates"))
    return dest


def insert_statement(package: Path, module: str, function: str, line: str = "_edited = 1") -> None:
    """Add a statement at the top of ``function`` (``Class.method`` too) in ``module`` of the copied package."""
    path = package.joinpath(*module.split(".")).with_suffix(".py")
    if not path.exists():
        path = package.joinpath(*module.split("."), "__init__.py")
    text = path.read_text().splitlines(keepends=True)
    nodes = ast.parse("".join(text)).body
    for part in function.split("."):
        node = next(n for n in nodes if getattr(n, "name", None) == part)
        nodes = node.body
    first = node.body[0]
    text.insert(first.lineno - 1, " " * first.col_offset + line + "\n")
    path.write_text("".join(text))


def keys_of(package: Path) -> dict:
    with fingerprint.reading(package):
        return keys()


def changed(before: dict, after: dict) -> set:
    return {k for k in before if before[k] != after[k]}


@pytest.fixture(scope="module")
def before() -> dict:
    return keys()


MODULES = sorted(p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("module", MODULES)
def test_comments_and_docstrings_move_no_key(module, before, tmp_path):
    package = copy_package(tmp_path)
    path = package / module
    source = path.read_text()
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    for node in ast.walk(tree):   # every docstring gets words
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body and \
                isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant) and \
                isinstance(node.body[0].value.value, str):
            doc = node.body[0].value
            line = lines[doc.lineno - 1]
            quote = line.index('"""' if '"""' in line[doc.col_offset:] else '"', doc.col_offset)
            width = 3 if line.startswith('"""', quote) else 1
            lines[doc.lineno - 1] = line[:quote + width] + "Edited. " + line[quote + width:]
    edited = "".join("# an edited comment\n" + ln if ln.startswith(("def ", "class ")) else ln for ln in lines)
    path.write_text("# a new first line\n" + edited)
    assert path.read_text() != source
    assert keys_of(package) == before


@pytest.mark.parametrize("module, function", [("sweeps", "Progress.update"), ("sweeps", "_pool"),
                                              ("sweeps", "sweep"), ("origin", "provenance"),
                                              ("records", "cached_run")])
def test_progress_executors_and_provenance_move_no_key(module, function, before, tmp_path):
    package = copy_package(tmp_path)
    insert_statement(package, module, function)
    assert keys_of(package) == before


def test_editing_herding_moves_herding_runs_only(before, tmp_path):
    package = copy_package(tmp_path)
    insert_statement(package, "rules", "herding")
    assert changed(before, keys_of(package)) == {"herding"}


def test_editing_el2n_moves_the_score_selectors_not_herding(before, tmp_path):
    package = copy_package(tmp_path)
    insert_statement(package, "scores", "el2n")
    moved = changed(before, keys_of(package))
    assert {"el2n", "window"} <= moved and not moved & {"herding", "kcenter", "random HL", "teacher", "DM set"}


def test_editing_a_distiller_moves_only_its_sets_and_their_runs(before, tmp_path):
    package = copy_package(tmp_path)
    insert_statement(package, "distill.dm", "distill")
    assert changed(before, keys_of(package)) == {"DM set", "dm_set"}


def test_editing_the_teacher_moves_the_runs_that_read_it(before, tmp_path):
    package = copy_package(tmp_path)
    insert_statement(package, "teacher", "_train")
    assert changed(before, keys_of(package)) == {"teacher", "random SL", "random SL+KD", "herding", "kcenter",
                                                 "RDED set SL+KD"}


def test_editing_train_moves_every_run(before, tmp_path):
    package = copy_package(tmp_path)
    insert_statement(package, "train", "fit")
    moved = changed(before, keys_of(package))
    assert set(RUNS) | {"teacher", "scoring_run"} <= moved   # MTT's experts train by train.plain_sgd, not fit


def test_a_new_loader_moves_no_other_dataset(before, tmp_path):
    package = copy_package(tmp_path)
    insert_statement(package, "data", "_load_cifar10")
    insert_statement(package, "data", "_load_folder_tree")
    assert keys_of(package) == before


# --- every function a run executes is inside its key -----------------------------------------------------------

def covering(cfg: RunConfig) -> frozenset:
    """The definitions a run's key covers: its own code, and through the keys it holds, its teacher's and set's."""
    parts = [RUN, data.code_part(cfg.dataset)]
    if cfg.source == "subset":
        parts.append(select.code_part(cfg.select))
    if cfg.regime != "hl" or cfg.select_reads == "teacher" or (cfg.distill and distill.uses_teacher(cfg.distill)):
        parts.append(teachers.CODE)
    if cfg.distill:
        parts.append(distill.code_part(cfg.distill))
    return fingerprint.reach(*parts)


def executed_definitions(fn) -> set:
    """The (module, top-level definition) of every ddlib code object ``fn()`` runs, other than for code that makes
    no number (a nested function or a lambda counts as the definition it sits in)."""
    tops, seen = {}, set()

    def top_of(code):
        path = Path(code.co_filename)
        if PACKAGE not in path.parents:
            return None
        rel = path.relative_to(PACKAGE).with_suffix("")
        module = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        if path not in tops:
            tops[path] = [(n.lineno, n.end_lineno, n) for n in ast.parse(path.read_text()).body]
        for lo, hi, node in tops[path]:
            if lo <= code.co_firstlineno <= hi or any(d.lineno == code.co_firstlineno
                                                       for d in getattr(node, "decorator_list", ())):
                names = [node.name] if hasattr(node, "name") else \
                    [t.id for t in ast.walk(node) if isinstance(t, ast.Name) and isinstance(t.ctx, ast.Store)]
                return module, (names or [fingerprint.BODY])[0]
        return module, fingerprint.BODY

    def under_never(frame) -> bool:   # called by code that makes no number (origin, fingerprint)
        while frame is not None:
            top = top_of(frame.f_code)
            if top and any(top[0] == n or top[0].startswith(n + ".") for n, _ in fingerprint.NEVER):
                return True
            frame = frame.f_back
        return False

    def profile(frame, event, arg):
        if event == "call" and frame.f_code not in seen and top_of(frame.f_code) and not under_never(frame):
            seen.add(frame.f_code)

    sys.setprofile(profile)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return {t for t in map(top_of, seen) if t is not None}


@pytest.mark.parametrize("name", ["random HL", "random SL", "random SL+KD", "herding", "el2n", "cad", "DM set",
                                  "RDED set SL+KD"])
def test_every_function_a_run_executes_is_inside_its_key(name, isolated):
    cfg = replace(RUNS[name], seed=3)   # nothing cached: the run makes its inputs too
    ran = executed_definitions(lambda: run(cfg))
    outside = sorted(ran - covering(cfg))
    assert not outside, f"{name}: executed but outside its key: {outside}"
    assert ("runner", "run") in ran and ("train", "fit") in ran
