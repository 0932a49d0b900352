"""The teaching chapter's six computations on planted tables (each can pass and each can fail), its files, and each
exercise's papermill variant run on the tiny profile [issue 14]."""
import math
import re

import nbformat
import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from ddlib import profiles, synset as synsets
from ddlib.findings import pitfalls as ch
from ddlib.profile import Profile

from conftest import REPO, clear_ddlib_caches

SEEDS = list(range(6))
WOBBLE = np.array([1, -1, 2, -2, 0.5, -0.5]) * 0.002
P = Profile(seeds=SEEDS, ipcs=[1, 10], dd_ipcs=[10], views_ipc=10, budgets=[1000], methods=["dm"],
            selectors=["random", "herding"], coreset_arms=["HL", "SL+KD"], pitfall_epochs=50.0,
            pitfall_lrs=[0.003, 0.01], pitfall_budgets=[500, 1000])


def row(method="random", arm="HL", ipc=10, seed=0, acc=0.5, val=None, budget=1000, lr=np.nan, file_order=""):
    regime = {"HL": "hl", "SL+KD": "slkd", "SL": "sl"}[arm]
    return dict(method=method, select="random" if method == "dm" else method, distill="dm" if method == "dm" else "",
                arm=arm, regime=regime, ipc=ipc, seed=seed, test_acc=acc, val_acc=acc if val is None else val,
                budget=budget, lr=lr, file_order=file_order, synset_file="")


def planted(teacher=0.10, own=0.03, seeds=SEEDS):
    """Random and DM at IPC 10 under HL and SL+KD: SL+KD adds ``teacher`` to any images, DM's images add ``own``."""
    rng = np.random.RandomState(0)
    rows = []
    for s in seeds:
        base = 0.6 + 0.05 * rng.randn()
        for m, g in (("random", 0.0), ("dm", own)):
            rows.append(row(m, "HL", seed=s, acc=base + g + (WOBBLE[s] if m == "dm" else 0)))
            rows.append(row(m, "SL+KD", seed=s, acc=base + g + teacher - WOBBLE[s]))
    return pd.DataFrame(rows)


def test_inflation_splits_the_reported_gain_into_the_teachers_part():
    t = ch.inflation(planted(teacher=0.10, own=0.03), P).set_index("method")
    assert t.loc["random", "teacher"] == pytest.approx(0.10, abs=1e-9)
    assert t.loc["dm", "reported"] == pytest.approx(0.13, abs=1e-9)     # what a DD paper would report
    assert t.loc["dm", "share"] == pytest.approx(0.10 / 0.13, abs=1e-6)
    assert t.loc["dm", "teacher_lo"] < 0.10 < t.loc["dm", "teacher_hi"]
    none = ch.inflation(planted(teacher=0.0, own=0.03), P).set_index("method")
    assert abs(none.loc["random", "teacher"]) < 1e-9 and none.loc["dm", "share"] == pytest.approx(0.0, abs=1e-6)


def test_compute_effect_is_the_fixed_epoch_gap_minus_the_fixed_budget_gap():
    rows = []
    for s in SEEDS:
        for ipc, fixed, epochs in ((1, 0.40, 0.30), (10, 0.60, 0.70)):
            rows.append(row(ipc=ipc, seed=s, acc=fixed + WOBBLE[s]))
            rows.append(row(ipc=ipc, seed=s, acc=epochs - WOBBLE[s], budget=ch.fixed_epoch_budget(P, ipc)))
    c = ch.compute_effect(pd.DataFrame(rows), P).set_index("what")
    assert c.loc["fixed epochs", "mean"] == pytest.approx(0.40) and c.loc["fixed samples seen", "mean"] == \
        pytest.approx(0.20)
    assert c.loc[ch.EXTRA, "mean"] == pytest.approx(0.20) and c.loc[ch.EXTRA, "lo"] > 0
    assert c.loc["fixed epochs", "samples"] == "500 vs 5,000"       # 50 epochs of 10 and 100 images


@pytest.mark.parametrize("trial", range(5))
def test_a_test_set_search_is_never_below_the_validation_choice(trial):
    rng = np.random.RandomState(trial)
    rows = [row(seed=s, acc=rng.rand(), val=rng.rand(), lr=np.nan if lr == 0.01 else lr, budget=b)
            for s in SEEDS for lr in P.pitfall_lrs for b in P.pitfall_budgets]
    t = ch.test_selection(pd.DataFrame(rows), P)
    assert (t["table"]["selected_on_test"] >= t["table"]["chosen_on_validation"]).all()
    assert len(t["table"]) == len(SEEDS) and t["inflation"]["mean"] >= 0


def test_the_test_search_gains_nothing_when_validation_ranks_like_test():
    rows = [row(seed=s, acc=0.5 + 0.01 * k, val=0.4 + 0.01 * k, lr=np.nan if lr == 0.01 else lr, budget=b)
            for s in SEEDS for k, (lr, b) in enumerate((lr, b) for lr in P.pitfall_lrs for b in P.pitfall_budgets)]
    t = ch.test_selection(pd.DataFrame(rows), P)
    assert t["inflation"]["mean"] == 0.0
    rows = [dict(r, val_acc=1 - r["val_acc"]) for r in rows]            # validation now picks the worst cell
    assert ch.test_selection(pd.DataFrame(rows), P)["inflation"]["mean"] == pytest.approx(0.03)


def _coreset_frame(gain, noise, seeds=SEEDS):
    rng = np.random.RandomState(1)
    rows = []
    for arm in P.coreset_arms:
        for s in seeds:
            base = 0.6 + 0.05 * rng.randn()
            rows += [row("random", arm, seed=s, acc=base), row("herding", arm, seed=s, acc=base + gain + noise *
                                                               rng.randn())]
    return pd.DataFrame(rows)


def test_few_seeds_never_err_on_a_clear_effect_and_often_on_noise():
    clear = ch.few_seeds(_coreset_frame(gain=0.05, noise=0.001), P).set_index("seeds")
    assert (clear["mean"] == 0).all() and list(clear.index) == [1, 2, 3, 5, 6]
    noisy = ch.few_seeds(_coreset_frame(gain=0.0, noise=0.02), P).set_index("seeds")
    assert noisy.loc[1, "mean"] > 0.2 and noisy.loc[6, "mean"] == 0          # all seeds agree with themselves
    assert noisy.loc[2, "half_width"] > noisy.loc[5, "half_width"]          # more seeds, narrower intervals


def _file(tmp_path, name, soft):
    y = torch.arange(4).repeat_interleave(2)
    s = synsets.SynSet(torch.rand(8, 1, 8, 8), y, soft, dict(num_classes=4))
    return str(synsets.save(tmp_path / f"{name}.safetensors", s))


def test_label_agreement_catches_another_class_order(tmp_path):
    y = torch.arange(4).repeat_interleave(2)
    soft = torch.nn.functional.one_hot(y, 4).float() * 0.7 + 0.075
    perm = ch.permutation(4)
    assert (perm != torch.arange(4)).all() and sorted(perm.tolist()) == [0, 1, 2, 3]   # a derangement
    assert ch.label_agreement(_file(tmp_path, "ordered", soft)) == 1.0
    assert ch.label_agreement(_file(tmp_path, "shuffled", soft[:, perm])) == 0.0
    assert math.isnan(ch.label_agreement(_file(tmp_path, "hard", None)))


def test_class_order_effect_is_shuffled_minus_ordered(tmp_path, monkeypatch):
    rows = [dict(row(seed=s, acc=a, file_order=o, arm="SL"), synset_file=f"{o}-{s}")
            for s in SEEDS for o, a in (("ordered", 0.7 + WOBBLE[s]), ("shuffled", 0.1))]
    monkeypatch.setattr(ch, "label_agreement", lambda path: 0.9 if path.startswith("ordered") else 0.05)
    o = ch.class_order(pd.DataFrame(rows), P)
    assert o["effect"]["mean"] == pytest.approx(-0.6 - WOBBLE.mean()) and o["effect"]["hi"] < 0
    assert o["agreement"] == pytest.approx({"ordered": 0.9, "shuffled": 0.05})


def test_one_draw_prediction_interval_is_wider_than_the_means():
    acc = 0.5 + np.array([0.05, -0.04, 0.03, -0.02, 0.01, -0.03])
    d = ch.one_draw(pd.DataFrame([row(seed=s, acc=a, ipc=1) for s, a in zip(SEEDS, acc)]), P).iloc[0]
    from scipy import stats
    assert d["one_draw_half"] == pytest.approx(stats.t.ppf(0.975, 5) * acc.std(ddof=1) * math.sqrt(1 + 1 / 6))
    assert d["one_draw_half"] > (d["hi"] - d["lo"]) / 2 and (d["lowest"], d["highest"]) == (acc.min(), acc.max())


def test_the_configs_reuse_the_chapters_runs():
    from ddlib.findings import hard_labels, label_regimes, saturation
    p = Profile.load("quick")
    ours = {c.key() for c in ch.configs(p, 4.0)}
    shared = {c.key() for c in [*saturation.configs(p, 4.0), *label_regimes.configs(p, 4.0),
                                *hard_labels.configs(p, 4.0)]}
    new = [c for c in ch.configs(p, 4.0) if c.key() not in shared]
    assert ours & shared and all(c.regime == "hl" and c.select == "random" for c in new)   # only fixed-epoch and
    assert len(new) == len(p.seeds) * (len(p.ipcs) + len(p.pitfall_lrs) * len(p.pitfall_budgets) - 1)   # grid runs


# --- the exercises ----------------------------------------------------------------------------------------------

def exercises() -> list:
    """Each exercise's papermill override, as its command in the notebook gives it: ("-y", yaml) or ("-p", k, v)."""
    nb = nbformat.read(REPO / "notebooks" / "07_pitfalls.ipynb", as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    out = []
    for cmd in re.findall(r"papermill notebooks/07_pitfalls\.ipynb .*?\\\n(.*?)\n", text):
        y = re.search(r'-y "([^"]+)"', cmd)
        p = re.search(r"-p (\w+) (\S+)", cmd)
        out.append(yaml.safe_load(y.group(1)) if y else {p.group(1): yaml.safe_load(p.group(2))})
    return out


def test_there_are_four_exercises_each_with_a_folded_answer():
    nb = nbformat.read(REPO / "notebooks" / "07_pitfalls.ipynb", as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert len(exercises()) >= 4 and text.count(":class: dropdown") >= len(exercises())
    assert all(set(e) <= set(Profile.__dataclass_fields__) for e in exercises())


def _tiny_value(name, value, tiny):
    """An exercise's override scaled to the tiny profile: a value the tiny profile can run (seeds and IPCs it has)."""
    if name == "seeds":
        return tiny["seeds"][:1] + [tiny["seeds"][-1]]
    if name == "views_ipc":
        return tiny["ipcs"][0]
    if name == "pitfall_lrs":
        return value[:1]
    return value


@pytest.mark.parametrize("index", range(4))
def test_each_exercise_variant_runs_on_the_tiny_profile(index, tmp_path, monkeypatch):
    import papermill
    tiny = yaml.safe_load(profiles.path("tiny").read_text())
    override = {k: _tiny_value(k, v, tiny) for k, v in exercises()[index].items()}
    monkeypatch.setenv("DDLIB_CACHE", str(tmp_path.parent / "exercise-cache"))       # shared by the variants
    monkeypatch.setenv("DDLIB_RESULTS", str(tmp_path / "results"))
    clear_ddlib_caches()
    out = tmp_path / "07.ipynb"
    papermill.execute_notebook(str(REPO / "notebooks" / "07_pitfalls.ipynb"), str(out),
                               parameters={**tiny, **override}, kernel_name="python3", cwd=str(REPO),
                               progress_bar=False)
    clear_ddlib_caches()
    df = pd.read_csv(tmp_path / "results" / "tiny" / ch.CHAPTER / "results.csv")
    for k, v in override.items():
        if k == "seeds":
            assert sorted(df["seed"].unique()) == sorted(v)
        if k == "pitfall_epochs":
            assert (df["budget"] == ch.fixed_epoch_budget(Profile.from_dict({**tiny, **override}), 1)).any()


def test_pitfall_1_says_which_sets_the_teacher_inflates():
    """The sentence names the sets whose SL+KD-minus-HL part is clear of zero, either way, every number computed."""
    inf = pd.DataFrame([dict(method=m, reported=r, reported_lo=r - 0.01, reported_hi=r + 0.01, teacher=t,
                             teacher_lo=t - 0.005, teacher_hi=t + 0.005, ipc=10, n=10)
                        for m, r, t in (("random", 0.04, 0.04), ("dm", 0.06, -0.02), ("rded", 0.03, 0.0))])
    empty = pd.DataFrame()
    a = dict(inflation=inf, compute=empty, test=dict(table=empty), seeds=empty, draw=empty,
             order=dict(effect=dict(n=0)))
    text = ch.sentences(a, P)[1]
    assert "DM: reported +6.0 [+5.0, +7.0], the teacher's part -2.0 [-2.5, -1.5]" in text
    assert "The teacher inflates the reported number of random, and deflates that of DM" in text
