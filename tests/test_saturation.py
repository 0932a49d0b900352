"""The saturation chapter's verdict on synthetic result frames (no training), and the runs it asks for. (Its old
parameter-handling tests, from_dict and the notebook namespace, now test ``Profile`` in test_profile.py.)"""
import math

import numpy as np
import pandas as pd
import pytest

from ddlib import regimes, report
from ddlib.findings import saturation
from ddlib.profile import Profile
from ddlib.report import STATUSES

ARMS = list(regimes.ARMS)          # HL, HL (AdamW), SL, SL+KD
JITTER = [0.0, 0.004, -0.003, 0.002, -0.001]


def frame(slkd, hl=0.7, other=0.85, seeds=(0, 1, 2), ipcs=(1, 10, 50), budgets=(12_800,), batch=32,
          n_train=55_000, teacher_gain=0.02, doubling_gain=0.001, doubled=True):
    """Rows as ``saturation.run`` returns them: one per (budget, arm, IPC incl. full, seed), and the full-data runs
    at twice each budget (``doubled``). ``slkd`` and ``hl`` are the subset/full accuracy ratios, a number or
    {ipc: ratio}; seeds jitter them (in opposite directions, so the paired differences have a spread). Full-data
    SL+KD is ``teacher_gain`` above full-data HL; doubling a budget gains ``doubling_gain``."""
    def ratio(spec, ipc):
        return spec[ipc] if isinstance(spec, dict) else spec

    rows = []
    for budget in budgets:
        steps = math.ceil(budget / batch)
        for arm in ARMS:
            for s in seeds:
                full = 0.80 + 0.02 * s + (teacher_gain + JITTER[s] / 4 if arm == "SL+KD" else 0.0)
                rows.append(dict(budget=budget, arm=arm, ipc_label="full", seed=s, test_acc=full,
                                 epochs=steps * batch / n_train, steps=steps))
                if doubled:
                    rows.append(dict(budget=2 * budget, arm=arm, ipc_label="full", seed=s,
                                     test_acc=full + doubling_gain + JITTER[s] / 4,
                                     epochs=2 * steps * batch / n_train, steps=2 * steps))
                for ipc in ipcs:
                    r = {"SL+KD": ratio(slkd, ipc) + JITTER[s], "HL": ratio(hl, ipc) - JITTER[s]}.get(arm, other)
                    rows.append(dict(budget=budget, arm=arm, ipc_label=str(ipc), seed=s, test_acc=full * r,
                                     epochs=steps * batch / (10 * ipc), steps=steps))
    return pd.DataFrame(rows)


def params(**kw):
    kw.setdefault("seeds", [0, 1, 2])
    return Profile(**{**dict(ipcs=[1, 10, 50], budgets=[12_800], arms=ARMS, min_ipc=10, threshold=0.95), **kw})


def verdict(df, p):
    a = saturation.analyse(df, p)
    v = a["verdict"]
    assert v["status"] in STATUSES
    return v, a


def test_saturation_everywhere_is_reproduced():
    p = params()
    v, a = verdict(frame(slkd=0.99, hl=0.7), p)
    assert v["status"] == "reproduced" and all(g["passed"] for g in v["gates"])
    assert [(pt["ipc"], pt["near"], pt["above"], pt["outcome"]) for pt in v["points"]] == \
        [(10, "holds", {"HL": "holds"}, "holds"), (50, "holds", {"HL": "holds"}, "holds")]
    sl = [k for k in v["key_numbers"] if k["name"].startswith("SL+KD")]
    assert len(sl) == 2 and all(set(k) >= {"name", "mean", "lo", "hi", "n"} for k in v["key_numbers"])
    assert all(k["mean"] == pytest.approx(0.99 + np.mean(JITTER[:3])) and k["n"] == 3 for k in sl)
    assert all(k["lo"] < k["mean"] < k["hi"] for k in sl)
    r = a["ratios"].set_index(["arm", "ipc"])
    assert r.loc[("SL+KD", 10), "diff_vs_hl"] == pytest.approx(0.29 + 2 * np.mean(JITTER[:3]))
    assert "2 of 2" in v["sentence"] and "3 seeds" in v["sentence"] and "detect a true effect" in v["sentence"]


def test_ipc_below_min_ipc_does_not_enter_the_verdict():
    v, _ = verdict(frame(slkd={1: 0.3, 10: 0.99, 50: 0.99}, hl=0.7), params())
    assert v["status"] == "reproduced" and {pt["ipc"] for pt in v["points"]} == {10, 50}
    v, _ = verdict(frame(slkd={1: 0.3, 10: 0.99, 50: 0.99}, hl=0.7), params(min_ipc=1))
    assert v["status"] == "partly reproduced"


def test_far_from_full_data_is_not_reproduced():
    v, _ = verdict(frame(slkd=0.8, hl=0.7), params())
    assert v["status"] == "not reproduced"
    assert all(pt["near"] == "refuted" and pt["above"]["HL"] == "holds" for pt in v["points"])


def test_when_hl_saturates_too_the_budget_does_not_separate_the_regimes():
    """[issue 34] HL on the subset as close to full data as SL+KD: the budget cannot test the claim."""
    v, _ = verdict(frame(slkd=0.99, hl=1.03), params())
    assert v["status"] == "inconclusive" and "the budget separates HL" in v["sentence"]
    assert all(pt["near"] == "holds" and pt["above"]["HL"] == "refuted" for pt in v["points"])
    v, _ = verdict(frame(slkd=0.99, hl={1: 0.5, 10: 0.9, 50: 0.99}), params())   # HL separated at IPC 10
    assert all(g["passed"] for g in v["gates"])


def test_hl_with_adamw_is_reported_beside_the_ratio_not_mixed_into_it():
    """[issue 34] one recipe for the ratio: HL (AdamW)'s full-data reference is another optimiser's."""
    v, _ = verdict(frame(slkd=0.99, hl=0.7, other=1.05), params())    # HL (AdamW) (and SL) saturate better
    assert v["status"] == "reproduced" and all(set(pt["above"]) == {"HL"} for pt in v["points"])
    assert any("HL (AdamW)" in d and "not part of the criterion" in d for d in v["details"])


def test_the_deciding_intervals_are_corrected_for_their_number():
    """Two points, two intervals each: each decides at 98.75%, so a ratio whose 95% interval just clears the
    threshold can stay open."""
    v, a = verdict(frame(slkd=0.9545, hl=0.7, seeds=(0, 1, 2, 3, 4)), params(seeds=[0, 1, 2, 3, 4]))
    r = a["ratios"].set_index(["arm", "ipc"]).loc[("SL+KD", 10)]
    assert r["lo"] > 0.95                                          # clears at 95% ...
    assert v["points"][0]["near"] == "open"                        # ... not at 98.75%
    assert any("98.75%" in d and "Bonferroni" in d for d in v["details"])


def test_mixed_is_partly_reproduced():
    v, _ = verdict(frame(slkd={1: 0.99, 10: 0.99, 50: 0.8}, hl=0.7), params())
    assert v["status"] == "partly reproduced"
    assert [(pt["ipc"], pt["outcome"]) for pt in v["points"]] == [(10, "holds"), (50, "refuted")]
    assert "1 of 2" in v["sentence"]


@pytest.mark.parametrize("kw, failed, aside", [
    (dict(teacher_gain=-0.03), "the teacher helps on the full data at 12,800", "would say reproduced"),
    (dict(hl=0.97), "the budget separates HL", "the criterion is inconclusive too")])
def test_a_failed_gate_makes_the_verdict_inconclusive_with_its_numbers(kw, failed, aside):
    v, _ = verdict(frame(**{"slkd": 0.99, "hl": 0.7, **kw}), params())
    assert v["status"] == "inconclusive" and failed in v["sentence"]
    assert aside in v["sentence"]
    assert any(not g["passed"] and g["name"] == failed for g in v["gates"])


@pytest.mark.parametrize("kw", [dict(doubling_gain=0.02), dict(doubled=False)])
def test_the_plateau_is_reported_not_gated(kw):
    v, _ = verdict(frame(slkd=0.99, hl=0.7, **kw), params())
    assert v["status"] == "reproduced"
    assert any("doubling the budget" in d for d in v["details"]) == kw.get("doubled", True)


def test_every_budget_counts():
    df = frame(slkd={1: 0.99, 10: 0.99, 50: 0.99}, hl=0.7, budgets=(12_800,))
    df = pd.concat([df, frame(slkd=0.8, hl=0.7, budgets=(51_200,))])
    v, _ = verdict(df, params(budgets=[12_800, 51_200]))
    assert v["status"] == "partly reproduced" and len(v["points"]) == 4
    assert {(pt["budget"], pt["outcome"]) for pt in v["points"]} == {(12_800, "holds"), (51_200, "refuted")}


def test_a_single_seed_is_inconclusive():
    v, _ = verdict(frame(slkd=0.99, hl=0.7, seeds=(0,)), params(seeds=[0]))
    assert v["status"] == "inconclusive"
    assert all(k["n"] == 1 and math.isnan(k["lo"]) for k in v["key_numbers"])


def test_without_hl_or_slkd_the_verdict_is_inconclusive():
    df = frame(slkd=0.99, hl=0.7)
    v, _ = verdict(df[df["arm"] != "SL+KD"], params(arms=["HL", "HL (AdamW)", "SL"]))
    assert v["status"] == "inconclusive"


def test_tables():
    p = params()
    df = frame(slkd=0.99, hl=0.7)
    a = saturation.analyse(df, p)
    t = a["table"]
    assert len(t) == 4 * 4 + 4 and set(t["ipc"]) == {"1", "10", "50", "full"}
    full = t[(t["arm"] == "HL") & (t["ipc"] == "full")].iloc[0]
    assert full["mean"] == pytest.approx(0.82) and full["n"] == 3 and full["steps"] == 400
    curve = a["curve"]
    assert set(curve["arm"]) == set(ARMS) and set(curve["budget"]) == {12_800, 25_600}


# --- the runs -------------------------------------------------------------------------------------------------

def test_configs_cover_every_point_and_the_full_data_curve():
    p = Profile(budgets=[1600], full_budgets=[800, 1600], ipcs=[1, 5], seeds=[0, 1], arms=ARMS,
                full_arms=["HL", "SL+KD"])
    cfgs = saturation.configs(p, 4.0)
    seen = [(c.budget, regimes.arm_name(c.regime, c.optim), c.ipc, c.seed) for c in cfgs]
    assert len(seen) == len(set(seen))
    main = {(1600, a, ipc, s) for a in ARMS for ipc in (1, 5, "full") for s in (0, 1)}
    curve = {(800, a, "full", s) for a in ("HL", "SL+KD") for s in (0, 1)}        # 1600 is already in the grid
    assert set(seen) == main | curve
    assert all(c.select == "random" and c.temperature == 4.0 and c.dataset == p.dataset for c in cfgs)
    assert saturation.tune(p.override(temperatures=[2]))[0] == 2.0   # one temperature listed: no tuning runs


def test_a_page_table_reads_in_words_and_percent():
    """The tuning table as the page shows it: accuracy in %, code names in words, booleans as yes/no."""
    t = pd.DataFrame(dict(temperature=[1.0, 4.0], val_acc=[0.8208, 0.83], ipc=[10, 10], chosen=[False, True]))
    shown = report.page_table(t, index=["ipc", "temperature"])
    assert list(shown.columns) == ["validation accuracy (%)", "chosen"] and shown.index.names == ["IPC", "temperature"]
    assert shown["validation accuracy (%)"].tolist() == [82.08, 83.0] and shown["chosen"].tolist() == ["no", "yes"]
