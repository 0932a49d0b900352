"""Chapter 01 (label regimes): the verdict and the best-coreset choice on synthetic results, the configs it shares
with chapter 02 and the k-view dial's configs, and the notebook end to end on the tiny profile."""
import json

import numpy as np
import pandas as pd
import pytest

from conftest import REPO
from ddlib import profile as prof, regimes
from ddlib.analysis import MARGIN
from ddlib.errors import DDLibError
from ddlib.findings import label_regimes as ch, saturation as sat
from ddlib.profile import Profile

NOTEBOOK = REPO / "notebooks" / "01_label_regimes.ipynb"


def profile(name: str) -> Profile:
    return Profile.load(name)


def synthetic(gains, seeds=(0, 1, 2, 3, 4), ipcs=(1, 10), selectors=("herding", "el2n"), budget=1000,
              views=(), noise=0.002, val_offset=None, soft_wobble=None):
    """A results frame like ``ch.run``'s. ``gains[(arm, ipc)]`` = the true test gain of the first coreset over
    random (the others get half of it); random's accuracy varies a lot with the seed (as random draws do), the
    per-seed gains only a little, by a fixed zero-mean pattern (so a zero gain has mean exactly zero; the soft arms
    follow ``soft_wobble`` instead where given, so that HL minus a soft gain varies with the seed too).
    ``val_offset[(arm, ipc, selector)]`` shifts that selector's validation accuracy only."""
    rng = np.random.RandomState(0)
    wobble = dict(zip(seeds, [1, -1, 2, -2, 0] if len(seeds) == 5 else [0] * len(seeds)))
    soft = dict(zip(seeds, soft_wobble)) if soft_wobble else wobble
    rows = []

    def row(arm, ipc, sel, seed, acc, val, k=0):
        regime, optim = regimes.ARMS[arm]
        rows.append(dict(budget=budget, arm=arm, regime=regime, optim=optim, select=sel, ipc=ipc, seed=seed,
                         test_acc=acc, val_acc=val, label_views=k, cache_hit=False, wall_s=0.0))

    for arm in ("HL", "SL", "SL+KD"):
        for ipc in ipcs:
            for seed in seeds:
                base = 0.5 + 0.08 * rng.randn()
                row(arm, ipc, "random", seed, base, base)
                for j, sel in enumerate(selectors):
                    g = gains.get((arm, ipc), 0.0) * (1.0 if j == 0 else 0.5) + \
                        noise * (wobble if arm == "HL" else soft)[seed]
                    v = base + g + (val_offset or {}).get((arm, ipc, sel), 0.0)
                    row(arm, ipc, sel, seed, base + g, v)
    for k in views:                                  # the dial: flat quality from k views on
        for seed in seeds:
            base = 0.6 + 0.08 * rng.randn()
            row("SL", ipcs[-1], "random", seed, base, base, k)
            row("SL", ipcs[-1], selectors[0], seed, base + noise * wobble[seed], base, k)
    return pd.DataFrame(rows)


def params(seeds=(0, 1, 2, 3, 4), ipcs=(1, 10), selectors=("herding", "el2n"), views=(), **kw):
    return Profile(budgets=[1000], seeds=list(seeds), ipcs=list(ipcs), selectors=["random", *selectors],
                   views=list(views), views_ipc=ipcs[-1], views_selectors=["random", selectors[0]], **kw)


def status(gains, **kw):
    seeds = kw.pop("seeds", (0, 1, 2, 3, 4))
    df = synthetic(gains, seeds=seeds, **kw)
    return ch.analyse(df, params(seeds=seeds))["verdict"]


def test_verdict_reproduced_when_only_hl_gains():
    v = status({("HL", 1): 0.10, ("HL", 10): 0.05})
    assert v["status"] == "reproduced", v["details"]
    assert all(pt["holds"] for pt in v["points"])
    assert not any(s["distinguishable"] for pt in v["points"] for s in pt["soft"].values())
    assert "no IPC" in v["sentence"]


def test_no_gain_anywhere_resolved_by_the_seeds_is_refuted_under_the_margin():
    """[issue 34] A coreset shown no better than random under HL (interval under the margin) resolves the gate and
    refutes the claim: a true null is not left open."""
    v = status({})
    assert [g["passed"] for g in v["gates"]] == [True] and v["status"] == "not reproduced", v["sentence"]
    assert all(pt["hl_outcome"] == "refuted" for pt in v["points"])
    assert "under HL it does not beat random" in v["headline"]


def test_no_gain_the_seeds_cannot_resolve_fails_the_gate_and_is_inconclusive_not_a_refutation():
    v = status({}, noise=0.02)
    assert v["status"] == "inconclusive" and "a gate is not met: HL gain resolved at IPC 10" in v["sentence"]
    assert [g["passed"] for g in v["gates"]] == [False]
    assert all(pt["hl_outcome"] == "open" for pt in v["points"])     # an interval around zero and the margin


def test_an_hl_gain_the_corrected_intervals_cannot_resolve_is_open():
    """[issue 34] The HL gain's 95% interval clears zero (the gate passes), but read at the Bonferroni level of the
    10 deciding intervals (2 IPCs x (HL gain + 2 soft arms x 2)) it does not: inconclusive, and the verdict says
    at which level."""
    v = status({("HL", 1): 0.05, ("HL", 10): 0.05}, noise=0.015)
    assert [g["passed"] for g in v["gates"]] == [True] and all(pt["hl"]["lo"] > 0 for pt in v["points"])
    assert all(pt["hl_outcome"] == "open" for pt in v["points"]) and v["status"] == "inconclusive", v["details"]
    assert "99.50% level each, Bonferroni over 10 intervals" in v["sentence"]
    assert "its lead under HL is too close to call" in v["headline"]


def test_a_convincing_soft_gain_refutes_only_with_hls_lead_shown_under_the_margin():
    """A soft arm's part ("HL larger, or the soft gain not convincing") is refuted only when both halves are: a
    convincing soft gain leaves it open while HL's lead over it may still exceed the margin."""
    v = status({(arm, ipc): g for arm, g in (("HL", 0.10), ("SL", 0.08), ("SL+KD", 0.08)) for ipc in (1, 10)},
               noise=0.01, soft_wobble=[2, 1, -2, 0, -1])
    soft = [s for pt in v["points"] for s in pt["soft"].values()]
    assert all(s["vanishes"] == "refuted" and s["larger"] == "open" and s["outcome"] == "open" for s in soft)
    assert all(pt["hl_outcome"] == "holds" for pt in v["points"]) and v["status"] == "inconclusive"
    assert "the seeds cannot tell whether its lead shrinks" in v["headline"]


def test_verdict_not_reproduced_when_soft_gains_equal_hl():
    v = status({(arm, ipc): 0.08 for arm in ("HL", "SL", "SL+KD") for ipc in (1, 10)})
    assert v["status"] == "not reproduced" and v["gates"][0]["passed"]
    assert all(pt["hl_outcome"] == "holds" for pt in v["points"])    # HL gains, but so does every soft arm,
    assert all(s["outcome"] == "refuted" for pt in v["points"] for s in pt["soft"].values())   # convincingly,
    assert all(s["larger"] == "refuted" for pt in v["points"] for s in pt["soft"].values())    # and as much
    assert all(s["distinguishable"] for pt in v["points"] for s in pt["soft"].values())


def test_verdict_not_reproduced_when_the_coreset_loses_under_hl():
    v = status({("HL", 1): -0.06, ("HL", 10): -0.05})
    assert v["status"] == "not reproduced" and all(pt["outcome"] == "refuted" for pt in v["points"])


def test_the_headline_and_deciding_number_name_the_point_the_status_comes_from():
    """[issue 34] A *not reproduced* names its first refuted point (here IPC 1, not ``views_ipc``): its HL gain,
    against the margin that refutes it; a *partly reproduced* names its holding point and HL's lead over SL+KD."""
    v = status({("HL", 1): 0.0, ("HL", 10): 0.0})
    assert v["status"] == "not reproduced" and v["points"][0]["outcome"] == "refuted"
    assert v["deciding"]["name"] == "HL quality gain, IPC 1" and v["deciding"]["threshold"] == MARGIN
    assert v["headline"].startswith("At IPC 1,")
    v = status({("HL", 1): 0.0, ("HL", 10): 0.05})
    assert v["status"] == "partly reproduced" and v["deciding"]["name"] == "HL minus SL+KD quality gain, IPC 10"


def test_a_small_soft_gain_passes_the_equivalence_test():
    # a +0.4-point gain, read at 99.5% (10 intervals): its upper bound stays under the margin with this spread
    v = status({("HL", 1): 0.10, ("HL", 10): 0.05, ("SL", 10): 0.004, ("SL+KD", 10): 0.004}, noise=0.001)
    soft = v["points"][1]["soft"]
    assert all(s["equivalent"] and s["outcome"] == "holds" for s in soft.values()) and v["status"] == "reproduced"


def test_the_verdict_states_its_detectable_effect():
    v = status({("HL", 1): 0.10, ("HL", 10): 0.05})
    assert "seeds of the HL gain detect a true effect of" in v["sentence"] and "80% power" in v["sentence"]


def test_verdict_partly_when_some_ipcs_hold():
    v = status({("HL", 1): 0.10, ("HL", 10): 0.06, ("SL", 10): 0.06, ("SL+KD", 10): 0.06})
    assert v["status"] == "partly reproduced"
    assert [pt["holds"] for pt in v["points"]] == [True, False]
    assert "distinguishable from zero at IPC 10" in v["sentence"]
    assert "holds at 1 of 2 IPCs (IPC 1) and is refuted at" in v["sentence"]     # which IPC, not only how many


def test_verdict_inconclusive_with_one_seed():
    v = status({("HL", 1): 0.10, ("HL", 10): 0.05}, seeds=(0,))
    assert v["status"] == "inconclusive"


def test_key_numbers_are_best_coreset_gains_with_intervals():
    v = status({("HL", 1): 0.10, ("HL", 10): 0.05})
    nums = v["key_numbers"]
    assert len(nums) == 6 and all(set(k) == {"name", "mean", "lo", "hi", "n", "unit"} for k in nums)
    assert all(k["unit"] == "points" for k in nums)    # differences of accuracies, shown as points
    assert nums[0]["name"].startswith("HL best-coreset gain") and "IPC 10" in nums[0]["name"]   # views_ipc first
    assert nums[0]["mean"] == pytest.approx(0.05, abs=0.01) and nums[0]["lo"] > 0
    json.dumps(nums)                                                   # plain floats and ints


def test_best_coreset_is_chosen_on_validation_not_test():
    # el2n is worse on test (half the gain) but made better on validation: it must be the one chosen.
    df = synthetic({(arm, ipc): 0.10 for arm in ("HL", "SL", "SL+KD") for ipc in (1, 10)},
                   val_offset={(arm, ipc, "el2n"): 0.2 for arm in ("HL", "SL", "SL+KD") for ipc in (1, 10)})
    a = ch.analyse(df, params())
    assert set(a["best"]["best"]) == {"el2n"}
    assert a["best"]["mean"].to_numpy() == pytest.approx(0.05, abs=0.01)     # el2n's test gain, not herding's
    g = a["gains"]
    assert g.loc[g["best"], "selector"].eq("el2n").all()
    assert (g.loc[g["selector"] == "herding", "mean"] > g.loc[g["selector"] == "el2n", "mean"].to_numpy()).all()


def test_dial_finds_where_the_gain_vanishes():
    # the dial's SL (k = 0) and SL+KD ends come from the grid: SL gains, SL+KD does not; k = 1, 4 are flat
    df = synthetic({("HL", 10): 0.1, ("SL", 10): 0.1}, views=(1, 4))
    p = params(views=(1, 4))
    a = ch.analyse(df, p)
    d = a["dial"]
    assert list(d["step"]) == ["SL", "k=1", "k=4", "SL+KD"]
    assert list(d["includes_zero"]) == [False, True, True, True]
    assert a["flat"]["points"][1000, "herding"] == dict(first="k=1", k=1.0, stays=True)
    assert "k = 1 stored labelled views" in a["flat"]["sentence"]
    never = ch.flatten_point(d.assign(includes_zero=False), p)
    assert "never" in never["sentence"]


def test_random_configs_are_chapter_02s():
    for name in ("tiny", "quick", "paper"):
        p = profile(name)                                    # one profile for both chapters
        ours = [c for c in ch.grid_configs(p, 4.0) if c.select == "random" and c.seed in p.seeds]  # not ipc1_seeds
        theirs = {c.key(): c for c in sat.configs(p, 4.0)}
        assert ours and all(c.key() in theirs for c in ours), name
        assert all(c == theirs[c.key()] for c in ours), name            # the very same config, field by field


def test_selector_configs():
    p = profile("tiny").override(selectors=["random", "herding", "ccs"])
    cfgs = ch.grid_configs(p, 4.0)
    ccs = [c for c in cfgs if c.select == "ccs"]
    herding = [c for c in cfgs if c.select == "herding"]
    assert ccs and all(c.recorder == prof.recorder(p) for c in ccs)
    assert prof.recorder(p).model == p.recorder_model and prof.recorder(p).epochs == p.recorder_epochs
    assert "recorder" in ccs[0].key_fields() and "recorder" not in herding[0].key_fields()
    assert all(c.teacher == prof.teacher(p) for c in herding)                  # herding reads the teacher
    assert (ccs[0].select_reads, herding[0].select_reads) == ("recorder", "teacher")
    assert "select_teacher" in herding[0].key_fields() and "select_teacher" not in ccs[0].key_fields()
    n = len(p.budgets) * len(p.coreset_arms) * len(p.ipcs) * len(p.selectors) * len(p.seeds)
    assert len(cfgs) == n


def test_ipc1_seeds_only_at_ipc_1():
    p = profile("tiny").override(ipc1_seeds=[0, 1, 2, 3])
    seeds = {(c.ipc, c.seed) for c in ch.grid_configs(p, 4.0)}
    assert {s for i, s in seeds if i == 1} == {0, 1, 2, 3}
    assert {s for i, s in seeds if i != 1} == set(p.seeds)


def test_dial_configs_use_label_views():
    p = profile("tiny")
    dial = ch.dial_configs(p, 4.0)
    grid = {c.key() for c in ch.grid_configs(p, 4.0)}
    for k in p.views:
        ks = [c for c in dial if c.label_views == k]
        assert len(ks) == len(p.views_selectors) * len(p.seeds)
        assert all(c.regime == "sl" and c.ipc == p.views_ipc for c in ks)
        assert all(c.key() not in grid and c.key_fields()["label_views"] == k for c in ks)
    ends = [c for c in dial if c.label_views == 0]
    assert {c.regime for c in ends} == {"sl", "slkd"} and all(c.key() in grid for c in ends)   # shared ends
    for c in ch.configs(p, 4.0):
        c.validate()
    assert len(ch.configs(p, 4.0)) == len(grid) + len(p.views) * len(p.views_selectors) * len(p.seeds)


def test_bad_parameters_fail_in_one_line():
    for bad, needle in ((dict(selectors=["random", "herdin"]), "unknown selector 'herdin'"),
                        (dict(selectors=["random"]), "at least one selector besides 'random'"),
                        (dict(views_selectors=["random", "kmeans"]), "unknown selector 'kmeans'"),
                        (dict(coreset_arms=["HL", "KD"]), "unknown arm 'KD'"),
                        (dict(views=[0, 4]), "views")):
        with pytest.raises(DDLibError, match=needle) as e:
            profile("tiny").override(**bad).check()
        assert "\n" not in str(e.value)


def test_the_agreement_sentence_names_selectors_whose_images_the_teacher_labels_otherwise():
    agree = pd.DataFrame({1: [0.9, 1.0, 0.0], 10: [0.92, 0.95, 0.04]}, index=["random", "herding", "el2n"])
    text = ch.agreement_sentence(agree)
    assert "0%, 4% of el2n's images at IPC 1, 10, against 90%, 92% of the random draw's" in text
    assert "herding" not in text
    assert "at least half" in ch.agreement_sentence(agree.drop(index="el2n"))
