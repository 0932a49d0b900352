"""``ddlib.plan``: what a profile's ``make evidence`` costs before it runs, counted from the chapters' own configs
and the store (the whole tiny evidence against its plan is in tests/test_device_script.py)."""
from __future__ import annotations

import json
import subprocess

import pytest

from conftest import DIGITS, PYTHON, REPO, TINY_TEACHER, subprocess_env
from ddlib import cli, data, plan, profile as prof
from ddlib.config import RunConfig
from ddlib.records import cached_run
from ddlib.findings import CHAPTERS, FINDINGS
from ddlib.teacher import TeacherConfig

TINY = prof.load("tiny")
TITLES = {c.name: c.title for c in CHAPTERS}


def test_flops_per_sample_count_the_convolution_and_the_classifier():
    """convnet1-w4 on 8x8 grey: a 3x3 conv to 4 channels at 8x8 (2,304 multiply-adds), then a 64 -> 10 linear
    (640): 2 FLOPs per multiply-add; training adds the backward pass (at least the weight gradients)."""
    train, forward = plan.flops_per_sample("convnet1-w4-instancenorm", (1, 8, 8), 10)
    assert forward == 2 * (8 * 8 * 4 * 9 + 64 * 10)
    assert 2 * forward <= train <= 3 * forward


@pytest.mark.parametrize("regime, views, teacher", [("hl", 0, 0), ("slkd", 0, "samples"), ("sl", 0, 50),
                                                    ("sl", 4, 200)])
def test_a_runs_cost_counts_samples_seen_and_teacher_forwards(regime, views, teacher):
    """Whole batches (1,000 at batch 32 is 1,024 samples seen); SL+KD: one teacher forward per sample seen; SL:
    one per stored label (k views: k per image); HL: none. Every run evaluates on validation and test."""
    splits = data.load("digits", 20)
    cfg = RunConfig(**DIGITS, ipc=5, regime=regime, budget=1000, label_views=views,
                    teacher=TeacherConfig(**TINY_TEACHER))
    c = plan.cost(cfg, splits)
    assert c["samples_seen"] == 1024
    assert c["teacher_forwards"] == (1024 if teacher == "samples" else teacher)
    assert c["eval_forwards"] == len(splits.y_val) + len(splits.y_test)
    train_f, fwd_f = plan.flops_per_sample(cfg.model, splits.shape, splits.num_classes)
    assert c["flops"] >= 1024 * train_f + c["eval_forwards"] * fwd_f


def test_the_plan_holds_each_run_once_and_reads_the_store(isolated):
    """Every config once, owned by the first chapter that needs it; nothing stored in an empty store; a run
    stored by a sweep counts as done, and nothing is trained by planning."""
    rows = plan.runs(TINY)
    assert rows["key"].is_unique and not rows["stored"].any()
    assert list(dict.fromkeys(rows["chapter"])) == [c.name for c in CHAPTERS if c.configs(TINY, c.plan_choice(TINY))]
    assert not TINY.store.exists() or not any(TINY.store.iterdir())
    hl = next(c for _, _, c in plan.chapter_configs(TINY) if c.regime == "hl" and c.source == "subset")
    cached_run(hl, store=TINY.store)
    again = plan.runs(TINY)
    assert again.loc[again["stored"], "key"].tolist() == [hl.key()]
    table = plan.by_chapter(TINY, again)
    assert table.loc["all", "runs"] == len(rows) and table.loc["all", "stored"] == 1
    assert table.loc["all", "samples seen (M)"] == pytest.approx(rows["samples_seen"].sum() / 1e6)
    stored = again.loc[again["stored"]].iloc[0]
    assert stored["wall_s"] > 0                                   # its measured time gives the rate
    assert plan.measured_rate(again) == pytest.approx(stored["flops"] / stored["wall_s"])
    everything = table.loc["all"]
    assert everything["hours left at the measured rate"] / everything["hours from empty at the measured rate"] == \
        pytest.approx(1 - stored["flops"] / rows["flops"].sum())


def test_the_plan_command_prints_its_tables_without_training(isolated):
    env = subprocess_env(isolated["cache"], isolated["results"])
    done = subprocess.run([PYTHON, "-m", "ddlib", "plan", "--params", "tiny"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| all |" in done.stdout and "| MTT |" in done.stdout and "| experts |" in done.stdout
    assert "no stored run of device cpu yet" in done.stdout and "Gates" in done.stdout
    assert not (isolated["cache"] / "teachers").exists() and not (isolated["results"] / "tiny" / "runs").exists()


def test_the_plan_as_json_parses_and_holds_the_markdown_tables(isolated, capsys):
    """[issue 38] ``plan --json``: one JSON object with the profile, the rate (null before any stored run) and each
    table as rows, the chapters' ending in the total."""
    assert cli.main(["plan", "--params", "tiny", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["profile"], out["device"], out["flops_per_s_per_worker"], out["timed_runs"]) == ("tiny", "cpu", None, 0)
    rows = plan.runs(TINY)
    assert [r["chapter"] for r in out["chapters"]] == [TITLES[c] for c in dict.fromkeys(rows["chapter"])] + ["all"]
    assert out["chapters"][-1]["runs"] == len(rows) and out["chapters"][-1]["stored"] == 0
    assert out["chapters"][-1]["hours left at the measured rate"] is None
    assert out["inputs"][0]["input"] == "teacher" and out["inputs"][0]["cached"] is False
    assert {r["set"] for r in out["sets"]} >= {"MTT", "DM"} and all(r["chapter"] and r["gate"] for r in out["gates"])


def test_evidence_of_one_chapter_stores_its_runs_and_the_plan_counts_them(isolated, capfd):
    """``evidence(chapters=["saturation"])`` says first how many runs it trains (the plan's count), then trains
    saturation's runs and the choice on validation they read (the KD temperature), nothing else; the plan then
    counts exactly those as stored (some of them under chapter 01, which needs them first)."""
    from ddlib.findings import evidence
    saturation = FINDINGS["saturation"]
    summaries = list(evidence(prof.as_dict(TINY), ["saturation"], announce=plan.announce))
    assert [s["chapter"] for s in summaries] == [saturation.chapter]
    t = saturation.tune(TINY, progress=False)[0]
    wanted = {c.key() for c in [*saturation.tune_configs(TINY), *saturation.configs(TINY, t)]}
    assert capfd.readouterr().err.startswith(f"ddlib: tiny profile, saturation: {len(wanted)} runs, 0 stored, no "
                                             f"time estimate yet")
    assert {f.stem for f in TINY.store.glob("*.json")} == wanted
    assert plan.outlook(TINY, ["saturation"]).startswith(f"ddlib: tiny profile, saturation: {len(wanted)} runs, "
                                                         f"{len(wanted)} stored, about 0.00 h left")
    rows = plan.runs(TINY)
    assert set(rows.loc[rows["stored"], "key"]) == wanted


def test_an_unknown_evidence_chapter_is_one_line_before_any_compute(isolated):
    env = subprocess_env(isolated["cache"], isolated["results"])
    done = subprocess.run([PYTHON, "-m", "ddlib", "evidence", "--params", "tiny",
                           "--chapters", "saturation,sturation"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert "sturation" in done.stderr and "label_regimes, saturation" in done.stderr
    assert not (isolated["results"] / "tiny").exists() and not (isolated["cache"] / "teachers").exists()


def test_the_paper_profile_can_meet_every_gate_and_the_quick_one_says_which_it_cannot():
    """[issue 13] The paper profile is sized so that no gate fails by construction (45,000 CIFAR-10 training images
    after 500 per class for validation); the quick one names its two known ones: one set per method (chapter 03) and
    CAD-Prune's compute-matched scoring runs, under 2 passes over 57,500 Fashion-MNIST images (chapter 05)."""
    paper = prof.load("paper")
    assert plan.unmeetable_gates(paper, 50_000 - 10 * paper.val_per_class).empty
    quick = prof.load("quick")
    gaps = plan.unmeetable_gates(quick, 60_000 - 10 * quick.val_per_class)
    assert gaps["chapter"].tolist() == [TITLES["hard_labels"]] + [TITLES["cad_prune"]] * len(quick.cad_budgets)
    assert "distill_seed: null" in gaps["gate"].iloc[0]
    assert all("needs at least 2 (cad_budgets from 115,000 samples seen" in g for g in gaps["gate"].iloc[1:])


def test_a_grid_without_an_hl_arm_or_a_trained_scorer_is_named_before_any_run():
    """Saturation's separation gate needs HL at an IPC >= min_ipc (the plateau is reported, not gated [issue 34]);
    difficulty's gate needs a recorder run of at least 2 passes. A grid without them is named, with its remedy;
    adding them clears it."""
    grid = dict(prof.as_dict(TINY), budgets=[1000], full_budgets=[500], difficulty_score="el2n",
                recorder_epochs=1.0, cad_budgets=[10_000], distill_seed=None, min_ipc=10_000)
    gaps = plan.unmeetable_gates(prof.Profile.from_dict(grid), 1000)
    assert gaps["chapter"].tolist() == [TITLES["saturation"], TITLES["difficulty"]]
    assert "the budget separates HL" in gaps["gate"].iloc[0]
    assert "made 1.00 passes" in gaps["gate"].iloc[-1] and "raise recorder_epochs" in gaps["gate"].iloc[-1]
    fixed = prof.Profile.from_dict(dict(grid, min_ipc=TINY.min_ipc, recorder_epochs=2.0))
    assert plan.unmeetable_gates(fixed, 1000).empty
