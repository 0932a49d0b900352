"""The saturation chapter as a notebook: its parameters cell matches the quick profile, it runs end to end on the
tiny profile with papermill and writes its result files, and the executed copy passes nbval (lax)."""
import ast
import json
import math
import subprocess
import sys

import nbformat
import pandas as pd
import pytest
import yaml

from ddlib.findings import ALL_PARAMS, saturation
from ddlib.report import STATUSES

from conftest import REPO, clear_ddlib_caches, subprocess_env

NOTEBOOK = REPO / "notebooks" / "02_saturation.ipynb"
PARAMS = REPO / "params"


def load_yaml(name):
    with open(PARAMS / f"{name}.yaml") as f:
        return yaml.safe_load(f)


def parameters_cell(path=NOTEBOOK) -> dict:
    """The notebook's parameters cell as {name: value}; every statement must be ``name = literal``."""
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, "exactly one cell tagged 'parameters'"
    values = {}
    for stmt in ast.parse(cells[0].source).body:
        assert isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name), \
            f"not `name = literal`: {ast.unparse(stmt)}"
        name = stmt.targets[0].id
        assert name not in values, f"{name} assigned twice"
        values[name] = ast.literal_eval(stmt.value)
    return values


def test_parameters_cell_equals_the_quick_profile():
    cell, quick = parameters_cell(), load_yaml("quick")
    assert set(cell) == set(saturation.Params.__dataclass_fields__)      # the cell lists every parameter
    assert {k: quick[k] for k in cell if k in quick} == cell             # with the quick profile's values
    assert set(cell) <= set(quick), f"missing from quick.yaml: {sorted(set(cell) - set(quick))}"
    # quick.yaml's other names belong to other chapters, not to nobody
    assert set(quick) <= ALL_PARAMS, f"parameters of no chapter: {sorted(set(quick) - ALL_PARAMS)}"
    # and the Params defaults are the quick profile too (python -m ddlib sweep without --params)
    defaults = saturation.Params()
    assert {k: getattr(defaults, k) for k in cell} == cell


def test_profiles_have_the_same_names():
    quick, tiny, paper = load_yaml("quick"), load_yaml("tiny"), load_yaml("paper")
    assert set(tiny) == set(quick) == set(paper)
    assert (quick["profile"], tiny["profile"], paper["profile"]) == ("quick", "tiny", "paper")


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The notebook run by papermill on the tiny profile, with caches and results in temp folders."""
    import papermill

    root = tmp_path_factory.mktemp("notebook")
    dirs = {"cache": root / "cache", "results": root / "results", "out": root / "executed"}
    dirs["out"].mkdir()
    out = dirs["out"] / NOTEBOOK.name
    with pytest.MonkeyPatch.context() as mp:                 # the kernel inherits this process's environment
        mp.setenv("DDLIB_CACHE", str(dirs["cache"]))
        mp.setenv("DDLIB_RESULTS", str(dirs["results"]))
        clear_ddlib_caches()
        papermill.execute_notebook(str(NOTEBOOK), str(out), parameters=load_yaml("tiny"), kernel_name="python3",
                                   cwd=str(REPO), progress_bar=False)
    clear_ddlib_caches()
    return dict(dirs, notebook=out, params=load_yaml("tiny"))


def test_the_tiny_run_writes_one_row_per_run(executed):
    p = executed["params"]
    folder = executed["results"] / "tiny" / "02_saturation"
    df = pd.read_csv(folder / "results.csv")
    assert df["budget"].notna().all() and df["samples_seen"].notna().all() and df["steps"].notna().all()
    assert (df["samples_seen"] == [math.ceil(b / p["batch"]) * p["batch"] for b in df["budget"]]).all()
    assert (df["dataset"] == "digits").all() and (df["model"] == p["model"]).all()
    seen = list(zip(df["budget"], df["arm"], df["ipc"].astype(str), df["seed"]))
    assert len(seen) == len(set(seen)), "a run appears twice"
    ipcs = [str(i) for i in p["ipcs"]] + ["full"]
    main = {(b, arm, ipc, s) for b in p["budgets"] for arm in p["arms"] for ipc in ipcs for s in p["seeds"]}
    curve = {(b, arm, "full", s) for b in p["full_budgets"] if b not in p["budgets"] for arm in p["full_arms"]
             for s in p["seeds"]}
    assert set(seen) == main | curve
    assert len(df) == len(p["arms"]) * len(ipcs) * len(p["seeds"]) * len(p["budgets"]) + len(curve)


def test_the_tiny_run_writes_its_summary(executed):
    p = executed["params"]
    s = json.loads((executed["results"] / "tiny" / "02_saturation" / "summary.json").read_text())
    assert s["claim"] == saturation.CLAIM and s["chapter"] == "02_saturation"
    assert s["status"] in STATUSES and s["sentence"]
    assert s["key_numbers"] and all({"name", "mean", "lo", "hi", "n"} <= set(k) for k in s["key_numbers"])
    prov = s["provenance"]
    assert prov["profile"] == "tiny" and prov["seeds"] == p["seeds"] and prov["device"] == "cpu"
    assert isinstance(prov["commit"], str) and prov["commit"] and prov["commit"] != "unknown"
    assert prov["runs"] == len(pd.read_csv(executed["results"] / "tiny" / "02_saturation" / "results.csv"))
    assert s["params"]["profile"] == "tiny" and s["params"]["budgets"] == p["budgets"]


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
    summary = json.loads((executed["results"] / "tiny" / "02_saturation" / "summary.json").read_text())
    assert summary["provenance"]["cache_hits"] == summary["provenance"]["runs"]     # nothing trained twice
