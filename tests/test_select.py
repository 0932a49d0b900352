"""Selectors: the interface (exactly ipc per class, sorted, seeded), the pure rules against their definitions, and
the adapters that compute embeddings (a cached teacher) and difficulty scores (a cached scoring run)."""
import itertools

import numpy as np
import pytest
import torch

from ddlib import data, rules, scores, select
from ddlib.errors import DDLibError
from ddlib.teacher import TeacherConfig

torch.set_num_threads(1)

SIZES = (30, 25, 40)   # unequal classes


def fake_splits():
    """A synthetic training split (no validation or test images needed by the selectors)."""
    y = torch.cat([torch.full((n,), c) for c, n in enumerate(SIZES)])
    g = torch.Generator().manual_seed(0)
    y = y[torch.randperm(len(y), generator=g)]
    x = torch.randint(0, 256, (len(y), 1, 4, 4), dtype=torch.uint8, generator=g)
    empty = torch.zeros(0, dtype=torch.int64)
    return data.Splits("synthetic", ("a", "b", "c"), x, y, x[:0], empty, x[:0], empty, (0.5,), (0.25,), "test")


def fake_inputs(splits, E=8):
    g = torch.Generator().manual_seed(1)
    n = len(splits.y_train)
    probs = torch.softmax(2 * torch.randn(E, n, 3, generator=g), 2).half()
    dyn = scores.Dynamics(probs, splits.y_train.clone(), torch.arange(1, E + 1) * n, {"id": "fake"})
    return dict(embeddings=torch.randn(n, 5, generator=g), dynamics=dyn)


def knobs_for(name, inputs):
    return {"random": {}, "herding": {"embeddings": inputs["embeddings"]},
            "kcenter": {"embeddings": inputs["embeddings"]},
            "cad": {"dynamics": inputs["dynamics"], "J": 3}}.get(name, {"dynamics": inputs["dynamics"]})


def test_registry_names():
    assert {"random", "herding", "kcenter", "el2n", "forgetting", "aum", "ccs", "window"} <= set(select.SELECTORS)


@pytest.mark.parametrize("name", sorted(select.SELECTORS))
def test_every_selector_is_class_balanced_sorted_and_seeded(name):
    """Every selector keeps IPC x classes samples, class-balanced except CCS, whose code picks over the whole set."""
    splits = fake_splits()
    inputs = fake_inputs(splits)
    kw = knobs_for(name, inputs)
    for ipc in (1, 5):
        out = select.select(name, splits, ipc, 0, **kw)
        idx = out["indices"]
        assert idx.dtype == torch.long and torch.equal(idx, idx.unique())   # sorted and unique
        counts = torch.bincount(splits.y_train[idx], minlength=3).tolist()
        assert counts == [ipc] * 3 if name != "ccs" else sum(counts) == 3 * ipc
        assert torch.equal(select.select(name, splits, ipc, 0, **kw)["indices"], idx)
        if out["scores"] is not None:
            assert out["scores"].shape == (len(splits.y_train),)
    if name in ("random", "kcenter", "window", "ccs"):   # seeded randomness
        draws = {tuple(select.select(name, splits, 5, s, **kw)["indices"].tolist()) for s in range(4)}
        assert len(draws) > 1
    assert torch.equal(select.select(name, splits, "full", 0)["indices"], torch.arange(len(splits.y_train)))


def test_example_calls_from_the_brief():
    splits = fake_splits()
    inputs = fake_inputs(splits)
    easy = select.select("el2n", splits, 3, 0, dynamics=inputs["dynamics"], which="easiest")
    hard = select.select("el2n", splits, 3, 0, dynamics=inputs["dynamics"])        # default: hardest
    d = scores.difficulty("el2n", inputs["dynamics"])
    assert torch.equal(easy["scores"], d)
    for c in range(3):
        members = torch.nonzero(splits.y_train == c).flatten()
        cut_easy = d[members].sort().values[2]
        cut_hard = d[members].sort().values[-3]
        assert (d[easy["indices"][splits.y_train[easy["indices"]] == c]] <= cut_easy).all()
        assert (d[hard["indices"][splits.y_train[hard["indices"]] == c]] >= cut_hard).all()
    out = select.select("herding", splits, 3, 0, embeddings=inputs["embeddings"])
    assert len(out["indices"]) == 9
    # window and CCS also take a precomputed difficulty; a score of the wrong length is refused
    d = torch.arange(len(splits.y_train)).float()
    out = select.select("ccs", splits, 3, 0, scores=d, beta=0.0)
    assert torch.equal(out["scores"], d) and torch.bincount(splits.y_train[out["indices"]]).tolist() == [3] * 3
    with pytest.raises(DDLibError, match="cover 10 samples"):
        select.select("window", splits, 3, 0, scores=d[:10])


def test_errors_are_one_line_and_say_what_is_needed():
    splits = fake_splits()
    inputs = fake_inputs(splits)
    cases = [(("nope",), {}, "unknown selector"),
             (("herding",), {}, "needs embeddings="),
             (("kcenter",), {}, "teacher="),
             (("el2n",), {}, "needs dynamics="),
             (("ccs",), {}, "scores="),
             (("el2n",), dict(dynamics=inputs["dynamics"], wich="easiest"), "no knob 'wich'"),
             (("window",), dict(dynamics=inputs["dynamics"], score="nope"), "unknown score"),
             (("window",), dict(dynamics=inputs["dynamics"], lo=0.5, hi=0.55), "fewer than IPC"),
             (("el2n",), dict(dynamics=inputs["dynamics"], which="middle"), "unknown which"),
             (("herding",), dict(embeddings=inputs["embeddings"][:10]), "embeddings must be"),
             (("random",), {}, "larger than the smallest class")]
    for (name,), kw, msg in cases:
        ipc = 26 if msg.startswith("larger") else 5
        with pytest.raises(DDLibError, match=msg) as e:
            select.select(name, splits, ipc, 0, **kw)
        assert "\n" not in str(e.value)
    # knobs of the chosen score pass through window and CCS; inputs are accepted (and ignored) by every selector
    select.select("window", splits, 2, 0, dynamics=inputs["dynamics"], score="dyn_unc", J=3, W=2)
    select.select("random", splits, 2, 0, embeddings=inputs["embeddings"], device="cpu")


# --- the pure rules -------------------------------------------------------------------------------------------

def test_keep_by_score_and_seeded_ties():
    y = torch.tensor([0] * 6 + [1] * 6)
    s = torch.tensor([5., 1, 3, 2, 4, 0, 0, 0, 0, 1, 1, 1])
    assert select.keep_by_score(s, y, 2, "easiest")[:2].tolist() == [1, 5]     # class 0: scores 1 and 0
    assert select.keep_by_score(s, y, 2, "hardest")[:2].tolist() == [0, 4]     # class 0: scores 5 and 4
    assert set(select.keep_by_score(s, y, 2, "hardest")[2:].tolist()) <= {9, 10, 11}
    # class 1 is three 0s and three 1s: the two easiest are two of the 0s, which two depends on the seed
    picks = {tuple(select.keep_by_score(s, y, 2, "easiest", seed=k)[2:].tolist()) for k in range(10)}
    assert all(set(p) <= {6, 7, 8} for p in picks) and len(picks) > 1


def test_window_draws_inside_the_quantile_band():
    y = torch.zeros(100, dtype=torch.long)
    s = torch.randperm(100, generator=torch.Generator().manual_seed(0)).float()   # ranks = scores
    for seed in range(5):
        idx = select.window(s, y, 10, 0.2, 0.5, seed)
        assert len(idx) == 10 and ((s[idx] >= 20) & (s[idx] < 50)).all()


def test_ccs_stratum_allocation():
    assert select.stratum_budgets([1, 5, 10], 9) == [1, 4, 4]
    assert select.stratum_budgets([0, 10, 0, 1, 5], 9) == [0, 4, 0, 1, 4]     # empty strata get nothing
    assert select.stratum_budgets([3, 3, 3], 7) == [2, 2, 3]
    with pytest.raises(DDLibError, match="cannot fill"):
        select.stratum_budgets([1, 2], 4)
    # the same allocation through ccs(): 3 equal-width strata over [0, 1] holding 1, 5 and 10 samples
    s = torch.tensor([0.0] + [0.4, 0.45, 0.5, 0.55, 0.6] + [0.7 + 0.3 * i / 9 for i in range(10)])
    y = torch.zeros(16, dtype=torch.long)
    for seed in range(3):
        idx = select.ccs(s, y, 9, beta=0.0, n_strata=3, seed=seed)
        strata = torch.bucketize(s[idx], torch.tensor([1 / 3, 2 / 3]))
        assert torch.bincount(strata, minlength=3).tolist() == [1, 4, 4]
    # beta drops the hardest: with beta 0.25 the 4 highest scores are never picked
    for seed in range(5):
        assert s[select.ccs(s, y, 9, beta=0.25, n_strata=3, seed=seed)].max() < 0.7 + 0.3 * 6 / 9 - 1e-6


def test_ccs_beta_grows_with_the_pruning_rate_and_the_pick_spans_the_whole_set():
    """CCS as its code runs it (issue 12): beta from the pruning rate, strata over the whole set."""
    assert [rules.ccs_beta(r) for r in (0.3, 0.7, 0.85, 0.9, 0.998)] == [0.0, 0.1, 0.1, 0.3, 0.3]
    y = torch.arange(2).repeat_interleave(50)
    s = torch.cat([torch.zeros(50), torch.linspace(1, 2, 50)])     # class 0 in one stratum, class 1 in two
    dropped = select.ccs(s, y, 5, n_strata=2, seed=0)               # pruning 90%: beta 0.3 drops the 30 hardest
    assert len(dropped) == 10 and s[dropped].max() <= s.sort().values[69]
    whole = select.ccs(s, y, 5, beta=0.0, n_strata=3, seed=0)      # strata of 50, 17, 33 get 4, 3, 3
    assert torch.bincount(y[whole], minlength=2).tolist() == [4, 6]   # the whole-set pick is not class-balanced
    per = select.ccs(s, y, 5, beta=0.0, n_strata=3, seed=0, per_class=True)
    assert torch.bincount(y[per], minlength=2).tolist() == [5, 5]


def _greedy_herding_reference(e, ipc):
    """Herding by its definition, exhaustively at each step, in numpy float64."""
    mu, chosen = e.mean(0), []
    for _ in range(ipc):
        cost = {i: np.linalg.norm(e[chosen + [i]].mean(0) - mu) for i in range(len(e)) if i not in chosen}
        chosen.append(min(cost, key=cost.get))
    return chosen


def test_herding_matches_its_definition():
    g = torch.Generator().manual_seed(3)
    emb = torch.randn(12, 4, generator=g)
    y = torch.tensor([0, 1] * 6)
    order = select.herding_order(emb, y, 2)
    for c in range(2):
        members = torch.nonzero(y == c).flatten()
        e = emb[members].double().numpy()
        ref = _greedy_herding_reference(e, 2)
        assert order[c].tolist() == members[ref].tolist()
        # the first pick is the sample nearest the class mean, over all singletons
        assert ref[0] == int(np.argmin(np.linalg.norm(e - e.mean(0), axis=1)))
        # and the greedy pair is the best pair that contains the first pick (exhaustive over the 6 points)
        best = min((p for p in itertools.combinations(range(6), 2) if ref[0] in p),
                   key=lambda p: np.linalg.norm(e[list(p)].mean(0) - e.mean(0)))
        assert sorted(best) == sorted(ref)
    assert torch.equal(select.herding(emb, y, 2), torch.cat(order).sort().values)


def test_kcenter_picks_the_farthest_point_each_step():
    g = torch.Generator().manual_seed(4)
    emb = torch.randn(60, 3, generator=g)
    y = torch.tensor([0, 1, 2] * 20)
    firsts = set()
    for seed in range(4):
        order = select.kcenter_order(emb, y, 6, seed)
        for c, picks in enumerate(order):
            members = torch.nonzero(y == c).flatten().tolist()
            picks = picks.tolist()
            firsts.add(picks[0])
            for t in range(1, len(picks)):
                def nearest(i):
                    return min(float((emb[i] - emb[j]).norm()) for j in picks[:t])
                rest = [i for i in members if i not in picks[:t]]
                assert nearest(picks[t]) == pytest.approx(max(nearest(i) for i in rest))
    assert len(firsts) > 3    # the first center is seeded


# --- the adapters: a cached teacher and a cached scoring run on digits -----------------------------------------

def test_adapters_on_digits(tmp_path, monkeypatch):
    monkeypatch.setenv("DDLIB_CACHE", str(tmp_path))
    splits = data.load("digits", val_per_class=20)
    cfg = TeacherConfig(model="convnet1-w8", epochs=1, batch=128, floor=0.0)
    emb = select.teacher_embeddings(splits, cfg)
    assert emb.shape == (len(splits.y_train), 8 * 4 * 4) and emb.dtype == torch.float32
    out = select.select("herding", splits, 2, 0, teacher=cfg)
    assert torch.equal(out["indices"], select.herding(emb, splits.y_train, 2))
    out = select.select("kcenter", splits, 2, 0, teacher=cfg)
    assert torch.bincount(splits.y_train[out["indices"]]).tolist() == [2] * 10

    rec = scores.RecorderConfig(model="convnet1-w4", epochs=2, batch=128)
    out = select.select("aum", splits, 2, 0, recorder=rec)
    dyn = scores.record_dynamics("digits", model="convnet1-w4", epochs=2, batch=128, seed=0, val_per_class=20)
    assert torch.equal(out["scores"], scores.difficulty("aum", dyn))
    assert len(list((tmp_path / "scores").iterdir())) == 1          # one cached run, reused
    out = select.select("ccs", splits, 2, 0, recorder=dict(model="convnet1-w4", epochs=2, batch=128))
    assert len(out["indices"]) == 20                                 # over the whole set, as CCS's code
    out = select.select("ccs", splits, 2, 0, recorder=dict(model="convnet1-w4", epochs=2, batch=128), per_class=True)
    assert torch.bincount(splits.y_train[out["indices"]]).tolist() == [2] * 10
    with pytest.raises(DDLibError, match="pass the split_seed"):
        select.teacher_embeddings(splits, cfg, split_seed=1)


# --- the registry: what each selector reads, and its knobs written out ---------------------------------------------

def test_each_registry_entry_says_what_it_reads():
    assert all(isinstance(s, select.Selector) and callable(s.fn) for s in select.SELECTORS.values())
    assert select.reads("random", {}) == "nothing" and select.reads("cad", {}) == "own"
    assert select.reads("herding", {}) == select.reads("kcenter", {}) == "teacher"
    assert all(select.reads(s, {}) == "recorder" for s in ("el2n", "forgetting", "aum"))
    for name in ("window", "ccs"):                       # depends on the score: the teacher's loss or a recorder's
        assert select.reads(name, {}) == "recorder"
        assert select.reads(name, {"score": select.TEACHER_SCORE}) == "teacher"
    with pytest.raises(DDLibError, match="unknown selector 'best'"):
        select.reads("best", {})


def test_canonical_knobs_are_sorted_with_every_default_written_out():
    cad = select.canonical_knobs("cad", {"which": "easiest", "probe": 10})
    assert cad == tuple(sorted({**select.selector_knobs("cad"), "which": "easiest", "probe": 10}.items()))
    assert select.canonical_knobs("cad", (("probe", 10), ("which", "easiest"), ("J", 6))) == cad
    assert select.canonical_knobs("random", ()) == ()
    assert select.canonical_knobs("el2n", {}) == (("epoch", -1), ("which", "hardest"))
    assert dict(select.canonical_knobs("window", {"score": "teacher_loss"})) == {"lo": 0.25, "hi": 0.75,
                                                                                 "score": "teacher_loss"}
    for given, msg in (({"wich": "easiest"}, "no knob 'wich'"), ({"dynamics": None}, "is an input"),
                       ({"teacher": None, "device": "cpu"}, "are inputs")):
        with pytest.raises(DDLibError, match=msg) as e:
            select.canonical_knobs("el2n", given)
        assert "\n" not in str(e.value)
