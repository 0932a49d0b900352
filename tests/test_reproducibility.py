"""The results store and make book's spot check [issue 12]: stored runs re-run from scratch agree with the store, a
changed record fails the check and names its run, the sample spans three chapters and says what it left out."""
import json
import subprocess

import pandas as pd
import pytest

from ddlib import reproducibility as rep
from ddlib.errors import DDLibError
from ddlib.config import RunConfig
from ddlib.sweeps import sweep
from ddlib.teacher import TeacherConfig

from conftest import DIGITS, PYTHON, REPO, TINY_TEACHER, subprocess_env

PROFILE = "t"
CHAPTERS = ("01_a", "02_b", "03_c")


def configs():
    return [RunConfig(**DIGITS, ipc=2, regime=regime, budget=96, seed=s, teacher=TeacherConfig(**TINY_TEACHER),
                      temperature=4.0) for regime in ("hl", "slkd") for s in (0, 1)]


@pytest.fixture
def store(isolated):
    """A profile 't' whose store holds four runs, listed by three chapters' tables (as a build leaves them)."""
    runs = isolated["results"] / PROFILE / "runs"
    df = sweep(configs(), progress=False, store=runs)
    for i, chapter in enumerate(CHAPTERS):
        folder = isolated["results"] / PROFILE / chapter
        folder.mkdir(parents=True)
        df.iloc[[i, (i + 1) % len(df)]].to_csv(folder / "results.csv", index=False)
    return dict(isolated, runs=runs, keys=list(df["key"]))


def test_a_stored_run_rerun_from_scratch_matches_the_store(store):
    report = rep.check(PROFILE, seed=0)
    assert {r["chapter"] for r in report["rows"]} == set(CHAPTERS) and all(r["match"] for r in report["rows"])
    assert all(r["diff_test_acc"] == 0.0 and r["diff_val_acc"] == 0.0 for r in report["rows"])   # bit for bit
    saved = json.loads((store["results"] / PROFILE / "recheck.json").read_text())
    assert saved["seed"] == 0 and len(saved["rows"]) == 3
    table = rep.markdown(PROFILE)
    assert "| chapter | run | key |" in table and table.count("| yes |") == 3


def test_a_changed_stored_accuracy_fails_the_check_and_names_the_run(store):
    key = store["keys"][1]
    path = store["runs"] / f"{key}.json"
    record = json.loads(path.read_text())
    path.write_text(json.dumps(dict(record, test_acc=record["test_acc"] + 2 * rep.TOLERANCE)))
    with pytest.raises(DDLibError, match=f"spot check failed: run {key}") as e:
        rep.check(PROFILE, seed=0, force=(key,))
    assert "\n" not in str(e.value)
    r = subprocess.run([PYTHON, "-m", "ddlib", "recheck", "--profile", PROFILE, "--force", key], cwd=REPO,
                       capture_output=True, text=True, env=subprocess_env(store["cache"], store["results"]))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and key in r.stderr


def test_the_sample_spans_three_chapters_and_forced_runs_come_first(store):
    plan = rep.sample(PROFILE, seed=3, force=(store["keys"][3],))
    assert plan["picks"][0][1] == store["keys"][3] and len({c for c, _ in plan["picks"]}) == 3
    assert plan["eligible"] == {c: 2 for c in CHAPTERS} and plan["left_out"] == {}
    with pytest.raises(DDLibError, match="in none of this build's chapter tables"):
        rep.sample(PROFILE, force=("0" * 16,))
    (store["results"] / PROFILE / CHAPTERS[2] / "results.csv").unlink()
    with pytest.raises(DDLibError, match="from 3 chapters"):
        rep.sample(PROFILE)


def test_runs_on_files_and_slow_inputs_are_left_out_and_counted(store):
    assert rep.why_not_eligible({"config": {"synset_file": "/x.safetensors"}}) == "trains on a set file"
    assert "outside a sweep" in rep.why_not_eligible({"config": {}, "device": "cpu", "cpu_threads": 2})
    assert "expert trajectories" in rep.why_not_eligible({"config": {}, "distill_wall_s": 10.0,
                                                          "distill_compute": {"expert_train_samples": 100}})
    hl, slkd = (json.loads((store["runs"] / f"{k}.json").read_text()) for k in store["keys"][:3:2])
    assert rep.why_not_eligible(hl) is None and rep.why_not_eligible(slkd) is None
    # the teacher's samples (5 epochs of 1,097 images) at the run's own rate, counted only where it reads one
    assert rep.input_seconds(hl) == 0.0
    assert rep.input_seconds(slkd) == pytest.approx(5 * 1097 * slkd["wall_s"] / slkd["samples_seen"])
    slow = dict(slkd, wall_s=slkd["samples_seen"] / 40.0)     # 40 samples a second: the teacher takes 137 s
    assert rep.why_not_eligible(slow) == "its inputs take over 120 s to re-make"
    assert rep.why_not_eligible(dict(hl, distill_wall_s=900.0)) == "its inputs take over 120 s to re-make"
    key = store["keys"][0]
    path = store["runs"] / f"{key}.json"
    path.write_text(json.dumps(dict(json.loads(path.read_text()), distill_wall_s=900.0)))
    ok, left_out = rep.eligible(PROFILE)
    assert key not in ok["01_a"] and left_out["01_a"] == {"its inputs take over 120 s to re-make": 1}


def test_a_record_carries_its_config_code_and_machine(store):
    record = json.loads((store["runs"] / f"{store['keys'][0]}.json").read_text())
    assert RunConfig.from_record(record["config"]).key() == store["keys"][0]
    assert len(record["code"]) == 16 and "cores" in record["machine"] and record["cpu_threads"] >= 1
    assert set(pd.read_csv(store["results"] / PROFILE / "01_a" / "results.csv")["key"]) <= set(store["keys"])
