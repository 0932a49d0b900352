"""Every chapter notebook: its parameters cell names fields of ``Profile`` at their defaults (the quick profile),
every profile shipped in ddlib/profiles/ loads and passes ``check()``, each notebook runs end to end on the tiny profile with
papermill and writes its result files, and the executed copy passes nbval (lax)."""
import ast
import json
import math
import subprocess
import sys
from dataclasses import fields

import nbformat
import pandas as pd
import pytest
import yaml

from ddlib import profiles
from ddlib.findings import CHAPTERS as REGISTRY, pitfalls
from ddlib.profile import Profile
from ddlib.report import HEADLINE_WORDS, STATUSES

from conftest import REPO, clear_ddlib_caches, subprocess_env

PARAMS = profiles.DIR
CHAPTERS = {c.chapter: c.module for c in REGISTRY}
TOOL_CHAPTERS = {c.chapter for c in REGISTRY if c.kind == "tool"}      # no results.csv or summary.json of their own
TEACHING = {c.chapter for c in REGISTRY if c.kind == "teaching"}       # a results.csv, no summary.json
FIELDS = {f.name for f in fields(Profile)}


def load_yaml(name):
    with open(PARAMS / f"{name}.yaml") as f:
        return yaml.safe_load(f)


def notebook(chapter):
    return REPO / "notebooks" / f"{chapter}.ipynb"


def parameters_cell(path) -> dict:
    """The notebook's parameters cell as {name: value}; every statement must be ``name = literal``."""
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, "exactly one cell tagged 'parameters'"
    assert {"parameters", "hide-cell"} <= set(cells[0].metadata["tags"])
    values = {}
    for stmt in ast.parse(cells[0].source).body:
        assert isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name), \
            f"not `name = literal`: {ast.unparse(stmt)}"
        name = stmt.targets[0].id
        assert name not in values, f"{name} assigned twice"
        values[name] = ast.literal_eval(stmt.value)
    return values


def test_every_chapter_has_a_notebook_in_the_book():
    toc = (REPO / "_toc.yml").read_text()
    makefile = (REPO / "Makefile").read_text()
    for chapter in CHAPTERS:
        assert notebook(chapter).exists() and f"book/executed/{chapter}" in toc and chapter in makefile


@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_notebook_source_is_clean_and_its_parameters_are_the_quick_profile(chapter):
    mod, path = CHAPTERS[chapter], notebook(chapter)
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith(f"({mod.LABEL})=")
    assert not any(c.get("outputs") or c.get("execution_count") for c in nb.cells if c.cell_type == "code")
    cell, default = parameters_cell(path), Profile()
    assert set(cell) <= FIELDS, f"not a Profile field: {sorted(set(cell) - FIELDS)}"
    assert {"profile", "dataset", "model", "seeds", "device"} <= set(cell)
    assert cell == {k: getattr(default, k) for k in cell}                # each at Profile's default (quick)
    assert Profile.from_dict(cell) == default                           # of the right type, too
    # the chapter reads its parameters as one profile, checked before any compute, after the parameters cell
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    first = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    reads = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
             and "Profile.from_namespace(globals()).check()" in c.source]
    assert code and len(reads) == 1 and reads[0] > first
    # every figure is numbered, named and captioned, and its image carries the caption as its alt text
    for c in nb.cells:
        fig = c.metadata.get("mystnb", {}).get("figure")
        if fig:
            assert fig.get("name") and fig.get("caption") and c.metadata["mystnb"].get("image", {}).get("alt")


def test_every_profile_loads_and_checks_and_quick_is_the_default():
    files = [PARAMS / f"{name}.yaml" for name in ("quick", "tiny", "paper", "practice")]   # gpu-first: a trimmed
    assert all(f.is_file() for f in files)                                     # paper grid (test_device_script)
    for f in files:
        p = Profile.load(f)
        assert p.check() is p and p.profile == f.stem, f.name
        assert set(load_yaml(f.stem)) == FIELDS, f"{f.name} does not list every parameter once"
    assert Profile.load(PARAMS / "quick.yaml") == Profile()


@pytest.fixture(scope="module", params=sorted(CHAPTERS))
def executed(request, tmp_path_factory):
    """A chapter notebook run by papermill on the tiny profile, with caches and results in temp folders (shared
    by the chapters, as in the book, so later chapters read earlier chapters' runs)."""
    import papermill

    chapter = request.param
    root = tmp_path_factory.getbasetemp() / "notebooks"
    dirs = {"cache": root / "cache", "results": root / "results", "out": root / "executed"}
    dirs["out"].mkdir(parents=True, exist_ok=True)
    out = dirs["out"] / f"{chapter}.ipynb"
    with pytest.MonkeyPatch.context() as mp:                 # the kernel inherits this process's environment
        mp.setenv("DDLIB_CACHE", str(dirs["cache"]))
        mp.setenv("DDLIB_RESULTS", str(dirs["results"]))
        clear_ddlib_caches()
        papermill.execute_notebook(str(notebook(chapter)), str(out), parameters=load_yaml("tiny"),
                                   kernel_name="python3", cwd=str(REPO), progress_bar=False)
    clear_ddlib_caches()
    mod = CHAPTERS[chapter]
    return dict(dirs, chapter=chapter, module=mod, notebook=out, folder=dirs["results"] / "tiny" / chapter,
                params=Profile.load("tiny"))


def check_saturation_rows(df, p):
    seen = list(zip(df["budget"], df["arm"], df["ipc"].astype(str), df["seed"]))
    assert len(seen) == len(set(seen)), "a run appears twice"
    ipcs = [str(i) for i in p.ipcs] + ["full"]
    main = {(b, arm, ipc, s) for b in p.budgets for arm in p.arms for ipc in ipcs for s in p.seeds}
    curve = {(b, arm, "full", s) for b in p.full_budgets if b not in p.budgets for arm in p.full_arms
             for s in p.seeds}
    assert set(seen) == main | curve


def check_label_regimes_rows(df, p):
    mod = CHAPTERS["01_label_regimes"]
    assert len(df) == len(mod.configs(p, float(df["temperature"].iloc[0])))
    assert set(df["select"]) == set(p.selectors)
    assert sorted(df.loc[df["label_views"] > 0, "label_views"].unique()) == sorted(p.views)


def check_hard_labels_rows(df, p):
    mod = CHAPTERS["03_hard_label_reevaluation"]
    t = float(df["temperature"].iloc[0])
    parts = {"main": mod.main_configs(p, t), "converge": mod.convergence_configs(p, t),
             "published": mod.published_configs(p, t)}
    assert df["part"].value_counts().to_dict() == {k: len(v) for k, v in parts.items() if v}
    assert set(df["method"]) == set(p.selectors) | set(p.methods)
    df = df[df["part"] == "main"]
    distilled = df[df["method"].isin(p.methods)]
    assert len(distilled) == len(p.methods) * len(p.dd_ipcs) * len(p.dd_arms) * len(p.seeds) * len(p.budgets)
    assert distilled["synset_key"].notna().all() and (distilled["distill_wall_s"] > 0).all()
    assert (distilled["subset_size"] == distilled["ipc"].astype(int) * 10).all()


def check_difficulty_rows(df, p):
    assert len(df) == len(p.difficulty_ipcs) * len(p.compute_budgets) * len(p.seeds) * (p.bins + 1)
    assert sorted(df["bin"].unique()) == list(range(-1, p.bins)) and set(df["regime"]) == {"hl"}


def check_cad_rows(df, p):
    methods = set(p.selectors) | set(p.methods) | {"cad", "ca2d"} | {f"bin {k}" for k in range(p.bins)}
    assert set(df["method"]) == methods and set(df["regime"]) == {"hl"}
    assert len(df) == len(methods) * len(p.cad_budgets) * len(p.cad_ipcs) * len(p.seeds)
    cad = df[df["method"] == "cad"]
    assert (cad["scoring_samples_seen"] == cad["samples_seen"]).all()   # the scoring run costs the downstream run


def check_pitfall_rows(df, p):
    t = float(df.loc[df["regime"] != "hl", "temperature"].iloc[0])
    assert len(df) == len(pitfalls.configs(p, t)) + len(pitfalls.class_order_configs(p, t))
    assert set(df.loc[df["synset_file"].notna() & (df["synset_file"] != ""), "regime"]) == {"sl"}


ROW_CHECKS = {"02_saturation": check_saturation_rows, "01_label_regimes": check_label_regimes_rows,
              "03_hard_label_reevaluation": check_hard_labels_rows, "04_difficulty_vs_compute": check_difficulty_rows,
              "05_cad_prune_ca2d": check_cad_rows, "07_pitfalls": check_pitfall_rows}


def test_the_tiny_audit_chapter_writes_an_audit_per_set(executed):
    if executed["chapter"] not in TOOL_CHAPTERS:
        pytest.skip("a findings chapter")
    p = executed["params"]
    for m in p.audit_methods:
        s = json.loads((executed["folder"] / m / "audit.json").read_text())
        assert s["file"]["method"] == m and s["ipc"] == p.dd_ipcs[0] and s["budget"] == p.budgets[0]
        assert set(s["regimes"]) == {"HL", "SL", "SL+KD"}
        runs = pd.read_csv(executed["folder"] / m / "results.csv")
        assert len(runs) == 3 * 3 * len(p.seeds)


def test_the_tiny_run_writes_one_row_per_run(executed):
    if executed["chapter"] in TOOL_CHAPTERS:
        pytest.skip("a tools chapter: checked by test_the_tiny_audit_chapter_writes_an_audit_per_set")
    p = executed["params"]
    df = pd.read_csv(executed["folder"] / "results.csv")
    assert df["budget"].notna().all() and df["samples_seen"].notna().all() and df["steps"].notna().all()
    assert (df["samples_seen"] == [math.ceil(b / p.batch) * p.batch for b in df["budget"]]).all()
    assert (df["dataset"] == "digits").all() and (df["model"] == p.model).all()
    ROW_CHECKS[executed["chapter"]](df, p)


def test_the_tiny_run_writes_its_summary(executed):
    if executed["chapter"] in TOOL_CHAPTERS | TEACHING:
        pytest.skip("a tools or teaching chapter writes no chapter summary")
    p, mod = executed["params"], executed["module"]
    s = json.loads((executed["folder"] / "summary.json").read_text())
    assert (s["claim"], s["chapter"], s["label"], s["title"]) == (mod.CLAIM, mod.CHAPTER, mod.LABEL, mod.TITLE)
    assert s["status"] in STATUSES and s["sentence"]
    assert 0 < len(s["headline"].split()) <= HEADLINE_WORDS and s["sure"]             # [issue 36] plain, then how sure
    assert s["deciding"] and {"mean", "lo", "hi", "threshold", "against"} <= set(s["deciding"])
    assert s["key_numbers"] and all({"name", "mean", "lo", "hi", "n"} <= set(k) for k in s["key_numbers"])
    prov = s["provenance"]
    assert prov["profile"] == "tiny" and prov["seeds"] == p.seeds and prov["device"] == "cpu"
    assert isinstance(prov["commit"], str) and prov["commit"] and prov["commit"] != "unknown"
    assert prov["runs"] == len(pd.read_csv(executed["folder"] / "results.csv"))
    assert s["params"]["profile"] == "tiny" and s["params"]["seeds"] == p.seeds


def test_the_executed_notebook_has_no_errors(executed):
    nb = nbformat.read(executed["notebook"], as_version=4)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "profile = \"tiny\"" in injected[0].source


def test_nbval_lax_passes_on_the_executed_copy(executed):
    """nbval re-runs the executed copy from its own folder; ddlib finds the result cache through the environment,
    so the runs are read back rather than trained again."""
    env = subprocess_env(executed["cache"], executed["results"])
    proc = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider",
                           str(executed["notebook"]), "-q"], cwd=executed["out"], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    if executed["chapter"] in TOOL_CHAPTERS:
        p = executed["params"]
        audits = [json.loads((executed["folder"] / m / "audit.json").read_text()) for m in p.audit_methods]
        assert all(a["provenance"]["cache_hits"] == a["provenance"]["runs"] for a in audits)
        return
    if executed["chapter"] in TEACHING:
        assert pd.read_csv(executed["folder"] / "results.csv")["cache_hit"].all()   # nothing trained twice
        return
    summary = json.loads((executed["folder"] / "summary.json").read_text())
    assert summary["provenance"]["cache_hits"] == summary["provenance"]["runs"]     # nothing trained twice
