"""Chapters 04 (difficulty vs compute) and 05 (CAD-Prune and CA2D): the computed verdicts on planted results, and
the runs they share with chapters 01, 03 and 04."""
import numpy as np
import pandas as pd
import pytest

from ddlib import profile as prof
from ddlib.errors import DDLibError
from ddlib.findings import cad_prune as ch05, difficulty as ch04, hard_labels
from ddlib.profile import Profile

SEEDS = (0, 1, 2, 3, 4)
WOBBLE = dict(zip(SEEDS, [1, -1, 2, -2, 0]))


def planted_bins(acc_by_budget, seeds=SEEDS, noise=0.0, ipcs=(10,), hard_extra=None):
    """Chapter 04's frame: random varies a lot with the seed, each bin's offset from it only a little (the same
    for every bin, so the hard-minus-easy gap is exact), plus ``noise`` x a normal draw per bin and seed; the
    hardest bin at the largest budget gains ``hard_extra[seed]`` more (a per-seed interaction)."""
    rng, own = np.random.RandomState(0), np.random.RandomState(1)
    rows = []
    for ipc in ipcs:
        for b, accs in acc_by_budget.items():
            for s in seeds:
                base = 0.6 + 0.08 * rng.randn()
                for k, a in enumerate([0.0, *accs]):
                    acc = base + a + (0.002 * WOBBLE[s] + noise * own.randn() if k else 0.0)
                    if k == len(accs) and b == max(acc_by_budget):
                        acc += (hard_extra or {}).get(s, 0.0)
                    rows.append(dict(ipc=ipc, budget=b, seed=s, bin=k - 1, test_acc=acc, val_acc=acc))
    return pd.DataFrame(rows)


def ch04_verdict(df):
    p = Profile(compute_budgets=sorted(set(df["budget"])), difficulty_ipcs=sorted(set(df["ipc"])), bins=3,
                seeds=list(SEEDS))
    table = ch04.accuracy_table(df, p)
    return ch04.verdict(table, ch04.best_bins(table), ch04.shift(df, p), p), ch04.best_bins(table)


def test_easy_first_then_hard_is_reproduced():
    v, best = ch04_verdict(planted_bins({800: [0.06, 0.03, -0.02], 12_800: [0.0, 0.03, 0.07]}))
    assert v["status"] == "reproduced", v["details"]
    assert best.set_index("budget")["bin"].to_dict() == {800: 0, 12_800: 2}
    change = [k for k in v["key_numbers"] if k["name"].startswith("change")][0]
    assert change["mean"] == pytest.approx(0.07 + 0.08, abs=1e-9) and change["lo"] > 0


FIXED = {800: [0.06, 0.03, -0.02], 12_800: [0.06, 0.03, -0.02]}


def test_a_fixed_gap_resolved_by_the_seeds_is_refuted_under_the_margin():
    """[issue 34] A gap that does not grow is a false claim: once its interval lies under the margin it is refuted,
    not left open until an interval falls wholly below zero."""
    v, _ = ch04_verdict(planted_bins(FIXED))
    assert v["status"] == "not reproduced", v["details"]
    assert "is refuted, under 1 point, at 1" in v["sentence"] and "detect a true effect" in v["sentence"]
    assert "the hard images gain under 1 point with compute" in v["headline"]


def test_a_fixed_gap_the_seeds_cannot_resolve_stays_open():
    v, _ = ch04_verdict(planted_bins(FIXED, noise=0.02))
    change = [k for k in v["key_numbers"] if k["name"].startswith("change")][0]
    assert change["lo"] < 0 and change["hi"] > 0.01                  # straddles zero and the margin
    assert v["status"] == "inconclusive" and "is inconclusive at this scale" in v["sentence"]
    assert "the seeds cannot tell" in v["headline"]


def test_a_shrinking_gap_is_not_reproduced():
    v, _ = ch04_verdict(planted_bins({800: [0.0, 0.03, 0.07], 12_800: [0.06, 0.03, -0.02]}))
    assert v["status"] == "not reproduced" and "refuted, under 1 point, at 1" in v["sentence"]


def test_the_interactions_are_read_at_a_level_corrected_for_the_number_of_ipcs():
    """A growth of the gap whose 95% interval lies just above zero holds at one IPC, but stays open when two IPCs
    share the 5% (each read at 97.5%, Bonferroni), and the verdict says so."""
    extra = dict(zip(SEEDS, [0.03, 0.0, 0.036, 0.006, 0.028]))       # the interaction per seed: 95% lo just over 0
    one, _ = ch04_verdict(planted_bins(FIXED, hard_extra=extra))
    two, _ = ch04_verdict(planted_bins(FIXED, hard_extra=extra, ipcs=(10, 50)))
    assert one["status"] == "reproduced" and "95.00% level each, Bonferroni over 1 IPC;" in one["sentence"]
    assert two["status"] == "inconclusive" and "97.50% level each, Bonferroni over 2 IPCs" in two["sentence"]
    assert two["deciding"]["lo"] > 0                                  # the number shown is the 95% interval


def test_a_difficulty_scorer_weaker_than_the_students_or_barely_trained_gates_the_verdict_out():
    df = planted_bins({800: [0.06, 0.03, -0.02], 12_800: [0.0, 0.03, 0.07]})
    p = Profile(compute_budgets=[800, 12_800], difficulty_ipcs=[10], bins=3, seeds=list(SEEDS))
    table = ch04.accuracy_table(df, p)
    best_student = table["val"].max()
    for score, passed in [(dict(val_acc=best_student + 0.05), True), (dict(val_acc=best_student - 0.01), False),
                          (dict(passes=2.0), True), (dict(passes=0.2), False)]:
        checks = ch04.gates(table, score)
        assert [g["passed"] for g in checks] == [passed], (score, checks)
        v = ch04.verdict(table, ch04.best_bins(table), ch04.shift(df, p), p, checks=checks)
        assert v["status"] == ("reproduced" if passed else "inconclusive"), v["sentence"]
        assert v["details"][0].startswith("gate '") and ("FAILED" in v["details"][0]) != passed
        if not passed:
            assert v["sentence"].startswith("Inconclusive at this scale: ")


def test_the_best_bins_move_has_a_bootstrap_share():
    moving = planted_bins({800: [0.06, 0.03, -0.02], 12_800: [0.0, 0.03, 0.07]})
    fixed = planted_bins({800: [0.06, 0.03, -0.02], 12_800: [0.06, 0.03, -0.02]})
    p = Profile(compute_budgets=[800, 12_800], difficulty_ipcs=[10], bins=3, seeds=list(SEEDS))
    assert ch04.best_bin_moves(moving, p, 10) == 1.0 and ch04.best_bin_moves(fixed, p, 10) == 0.0
    assert np.isnan(ch04.best_bin_moves(moving[moving["seed"] == 0], p, 10))         # one seed: no resampling


def test_bins_are_the_window_selector_on_class_quantiles():
    p = Profile(bins=4)
    assert [prof.bin_knobs(p, k)["lo"] for k in range(4)] == [0.0, 0.25, 0.5, 0.75]
    assert prof.bin_knobs(p, 3) == {"lo": 0.75, "hi": 1.0, "score": "teacher_loss"}
    assert [prof.bin_name(p, k) for k in (0, 3)] == ["0%-25%", "75%-100%"]
    run = prof.bin_run(p, 3, ipc=10, budget=800, seed=0)
    assert (run.select, dict(run.select_knobs), run.regime, run.select_reads) == \
        ("window", {"lo": 0.75, "hi": 1.0, "score": "teacher_loss"}, "hl", "teacher")
    for bad, needle in ((dict(bins=1), "bins"),                   # refused by the profile, before any compute
                        (dict(difficulty_score="loss"), "unknown score 'loss'"),
                        (dict(compute_budgets=[]), "compute_budgets"),
                        (dict(cad_knobs={"probes": 5}), "no knob 'probes'")):
        with pytest.raises(DDLibError, match=needle) as e:
            Profile(**bad).check()
        assert "\n" not in str(e.value)


def planted_sets(ca2d_gain, dm_gain=0.03, seeds=SEEDS, noise=0.0, budgets=(3200,), ca2d_extra=None):
    """Chapter 05's frame: random, herding, five DD methods, CAD-Prune, CA2D and three bins, at each budget; every
    set but random has the same small offset per seed (so CA2D minus DM is exact) plus ``noise`` x a normal draw,
    and CA2D gains ``ca2d_extra[seed]`` more (a per-seed difference)."""
    rng, own = np.random.RandomState(1), np.random.RandomState(2)
    gains = {"random": 0.0, "herding": 0.04, "dm": dm_gain, "dc": 0.0, "mtt": 0.0, "sre2l": -0.2, "rded": 0.01,
             "cad": 0.05, "ca2d": ca2d_gain, "bin 0": 0.02, "bin 1": 0.03, "bin 2": 0.0}
    rows = []
    for b in budgets:
        for s in seeds:
            base = 0.6 + 0.08 * rng.randn()
            for m, g in gains.items():
                acc = base + g + (0.002 * WOBBLE[s] + noise * own.randn() if m != "random" else 0.0)
                acc += (ca2d_extra or {}).get(s, 0.0) if m == "ca2d" else 0.0
                rows.append(dict(budget=b, ipc=10, seed=s, method=m, test_acc=acc, val_acc=acc))
    return pd.DataFrame(rows)


def ch05_verdict(df):
    p = Profile(cad_budgets=sorted(set(df["budget"])), cad_ipcs=[10], seeds=list(SEEDS))
    table = ch05.accuracy_table(df, p)
    comp = ch05.comparisons(df, table, p)
    return ch05.verdict(comp, p), comp


def test_ca2d_beating_the_strongest_dd_method_is_reproduced():
    v, comp = ch05_verdict(planted_sets(ca2d_gain=0.06))
    assert v["status"] == "reproduced", v["details"]
    top = comp[comp["against"].str.startswith("strongest")].iloc[0]
    assert top["other"] == "dm" and top["mean"] == pytest.approx(0.03, abs=1e-9)
    window = comp[comp["against"].str.startswith("best fixed window")].iloc[0]
    assert window["other"] == "bin 1" and window["mean"] == pytest.approx(0.02, abs=1e-9)


def test_ca2d_level_with_the_dd_methods_is_refuted_once_the_seeds_resolve_it_and_open_before():
    """[issue 34] CA2D no better than the strongest DD method is a false claim: refuted when the interval lies under
    the margin, open while it straddles zero and the margin."""
    v, _ = ch05_verdict(planted_sets(ca2d_gain=0.03))
    assert v["status"] == "not reproduced", v["details"]
    assert "at 0 of 1 (budget, IPC) points, above zero, and is refuted, under 1 point, at 1" in v["sentence"]
    assert "CA2D does not beat the DD methods there" in v["headline"]
    v, comp = ch05_verdict(planted_sets(ca2d_gain=0.03, noise=0.02))
    top = comp[comp["against"].str.startswith("strongest")].iloc[0]
    assert top["lo"] < 0 and top["hi"] > 0.01 and v["status"] == "inconclusive", v["details"]
    assert "CA2D beats the strongest DD method under hard labels at 0 of 1" in v["sentence"]
    assert "too close to call" in v["headline"]


def test_ca2d_below_the_dd_methods_is_not_reproduced():
    v, _ = ch05_verdict(planted_sets(ca2d_gain=0.0))
    assert v["status"] == "not reproduced" and "refuted, under 1 point, at 1" in v["sentence"]


def test_the_points_are_read_at_a_level_corrected_for_their_number():
    """A lead whose 95% interval lies just above zero holds at one (budget, IPC), but stays open at two points
    sharing the 5% (97.5% each); a budget gated out leaves the other point alone in its family."""
    extra = dict(zip(SEEDS, [0.03, 0.0, 0.036, 0.006, 0.028]))       # over DM, per seed: 95% lo just over 0
    one, _ = ch05_verdict(planted_sets(ca2d_gain=0.03, ca2d_extra=extra))
    assert one["status"] == "reproduced" and "95.00% level each, Bonferroni over 1 point;" in one["sentence"]
    two_df = planted_sets(ca2d_gain=0.03, ca2d_extra=extra, budgets=(3200, 12_800))
    two, comp = ch05_verdict(two_df)
    assert two["status"] == "inconclusive" and "97.50% level each, Bonferroni over 2 points" in two["sentence"]
    assert two["deciding"]["lo"] > 0                                  # the number shown is the 95% interval
    p = Profile(cad_budgets=[3200, 12_800], cad_ipcs=[10], seeds=list(SEEDS))
    failed = {3200: ch05.gate("CAD-Prune's scoring run trains at 3,200", False, "0.06 passes"),
              12_800: ch05.gate("CAD-Prune's scoring run trains at 12,800", True, "2.1 passes")}
    v = ch05.verdict(comp, p, failed)
    assert v["status"] == "reproduced" and "Bonferroni over 1 point;" in v["sentence"], v["sentence"]


def test_a_scoring_run_that_cannot_train_gates_its_budget_out():
    df, p = planted_sets(ca2d_gain=0.06), Profile(cad_budgets=[3200], cad_ipcs=[10], seeds=list(SEEDS))
    comp = ch05.comparisons(df, ch05.accuracy_table(df, p), p)
    failed = {3200: ch05.gate("CAD-Prune's scoring run trains at 3,200", False, "0.06 passes")}
    v = ch05.verdict(comp, p, failed)
    assert v["status"] == "inconclusive" and "0.06 passes" in v["sentence"] and "would say reproduced" in v["sentence"]
    assert "detect a true effect of" in v["sentence"]      # the power is stated even when every point is gated out
    assert ch05.verdict(comp, p, {3200: dict(failed[3200], passed=True)})["status"] == "reproduced"


def test_chapter_05_reuses_the_runs_of_chapters_01_03_and_04():
    p = Profile(cad_budgets=[12_800], seeds=[0])
    chosen = {(12_800, 10): p.cad_grid[0]}
    keys = {c.key() for c in ch05.configs(p, chosen)}
    ch01 = Profile(seeds=[0])
    assert prof.subset_run(ch01, "herding", 1.0, ipc=10, regime="hl", optim="auto", budget=12_800,
                           seed=0).key() in keys
    ch03 = hard_labels.main_configs(Profile(seeds=[0]), 4.0)
    assert {c.key() for c in ch03 if c.regime == "hl" and c.distill} <= keys
    ch04_keys = {c.key() for c in ch04.configs(Profile(seeds=[0], compute_budgets=[12_800]))}
    assert ch04_keys <= keys
    cad = [c for c in ch05.configs(p, chosen) if c.select == "cad"]
    assert len(cad) == 1 and dict(cad[0].select_knobs)["which"] == "hardest" and dict(cad[0].select_knobs)["probe"] \
        == 500 and cad[0].select_reads == "own" and "recorder" not in cad[0].key_fields()
    ca2d = [c for c in ch05.configs(p, chosen) if c.distill == "ca2d"]
    assert len(ca2d) == 1 and dict(ca2d[0].distill_knobs) == {"probe": 500, "which": "hardest"}


def test_cad_prune_chooses_its_candidate_on_validation_per_point(monkeypatch):
    """``tune`` runs every ``cad_grid`` candidate at every (budget, IPC), first seed, and keeps the one with the best
    validation accuracy (ties: the first listed), never looking at the test accuracy; ``run`` takes that choice."""
    p = Profile(cad_budgets=[800, 3200], cad_ipcs=[10], seeds=[3, 4],
                cad_grid=[{"which": "hardest"}, {"which": "easiest"}, {"which": "hardest", "J": 3}])
    val = {(800, "easiest", 6): 0.7, (3200, "hardest", 3): 0.7}            # everything else: 0.5

    def fake_sweep(cfgs, progress=True, desc="", store=None):
        rows = []
        for c in cfgs:
            k = dict(c.select_knobs)
            v = val.get((c.budget, k["which"], k["J"]), 0.5)
            rows.append(dict(budget=c.budget, ipc=c.ipc, seed=c.seed, val_acc=v, test_acc=1 - v))
        assert {c.seed for c in cfgs} == {3} and len(cfgs) == 2 * 3
        return pd.DataFrame(rows)

    monkeypatch.setattr(ch05, "sweep", fake_sweep)
    chosen, table = ch05.tune(p, progress=False)
    assert chosen == {(800, 10): {"which": "easiest"}, (3200, 10): {"which": "hardest", "J": 3}}
    assert table["chosen"].sum() == 2 and len(table) == 6
    val.clear()                                                          # a tie everywhere: the first listed
    assert ch05.tune(p, progress=False)[0] == {(800, 10): {"which": "hardest"}, (3200, 10): {"which": "hardest"}}
    cad = [c for c in ch05.configs(p, chosen) if c.select == "cad" and c.budget == 800]
    assert cad and all(dict(c.select_knobs)["which"] == "easiest" for c in cad)
