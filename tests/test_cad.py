"""CAD-Prune (compute-matched scoring run, windowed EL2N uncertainty, the pick) and CA2D (RDED on its pool)."""
import pytest
import torch

from ddlib import cad, data, distill, scores, select
from ddlib.errors import DDLibError
from ddlib.config import RunConfig
from ddlib.records import cached_run
from ddlib.teacher import TeacherConfig

from conftest import DIGITS, TINY_TEACHER

VPC = DIGITS["val_per_class"]
TEACHER = TeacherConfig(**TINY_TEACHER)
SCORING = dict(model="convnet2-w8-instancenorm", batch=32, seed=0, val_per_class=VPC)
CA2D_KNOBS = dict(pool=20, budget=320, score_model="convnet2-w8-instancenorm", score_batch=32, records=4, J=3, W=2)


@pytest.mark.parametrize("ipc", [1, 10, 50])
@pytest.mark.parametrize("epochs", [1, 30, 1000])
def test_the_scoring_run_costs_what_the_downstream_run_costs(ipc, epochs):
    # K x N = E x IPC x C [paper-notes], for CIFAR-10's and Fashion-MNIST's training-split sizes
    for n in (45_000, 55_000):
        budget = cad.downstream_samples(epochs, ipc, 10)
        assert budget == epochs * ipc * 10
        assert cad.matched_epochs(budget, n) * n == pytest.approx(budget)


def test_a_scoring_run_trains_exactly_the_budget_and_records_evenly():
    every = cad.record_every(320, 4)
    dyn = scores.record_dynamics("digits", budget=320, every=every, **SCORING)
    n = len(data.load("digits", VPC).y_train)
    assert dyn.meta["samples_seen"] == 320 and dyn.meta["steps"] == 10 and dyn.meta["id"].startswith("cad-digits-")
    assert dyn.samples.tolist() == [96, 160, 256, 320]          # every 80 samples, at whole batches of 32
    assert dyn.meta["epochs"] == cad.matched_epochs(320, n) and dyn.probs.shape[:2] == (4, n)
    assert dyn.meta["forward_samples"] == 4 * n
    probe5 = cad.probe_indices(data.load("digits", VPC).y_train, 5, 0)
    small = scores.record_dynamics("digits", budget=320, every=every, probe=probe5, **SCORING)
    assert len(probe5) == 50 and torch.equal(small.y, data.load("digits", VPC).y_train[probe5])
    assert small.meta["id"] != dyn.meta["id"] and small.meta["forward_samples"] == 4 * 50
    with pytest.raises(DDLibError, match="budget must be a positive number"):
        cad.matched_epochs(0, 100)
    with pytest.raises(DDLibError, match="exactly one of epochs and budget"):
        scores.record_dynamics("digits", budget=320, epochs=1.0, **SCORING)


def test_the_pick_on_a_hand_made_trajectory():
    # three samples of class 0 over 5 records (p of the true class): steady easy, learned in the last records,
    # never learned. J=3, W=2: the std of EL2N over records 1-3 and 2-4, averaged.
    p_true = torch.tensor([[0.9, 0.1, 0.1], [0.9, 0.1, 0.1], [0.9, 0.2, 0.1], [0.9, 0.6, 0.1], [0.9, 0.9, 0.1]])
    probs = torch.stack([p_true, 1 - p_true, torch.zeros_like(p_true)], dim=2)    # [E=5, N=3, C=3]
    y = torch.zeros(3, dtype=torch.long)
    s = scores.difficulty("dyn_unc", probs, y, J=3, W=2)
    el2n = (2 ** 0.5) * (1 - p_true)                                               # ||p - onehot||_2
    want = torch.stack([el2n[1:4].std(0), el2n[2:5].std(0)]).mean(0)
    assert torch.allclose(s, want)
    assert cad.pick(s, y, 1, "hardest").tolist() == [1]                            # the one still moving
    assert cad.pick(s, y, 2, "easiest").tolist() == [0, 2]                         # the two that are not


def _synthetic(n_per=300):
    """Two classes of 8x8 images: a fixed pattern times +-margin plus unit noise; margins 3 (easy), 0.6, 0.15
    (hard). Difficulty is 1 / margin by construction."""
    g = torch.Generator().manual_seed(0)
    pattern = torch.randn(1, 1, 8, 8, generator=g)
    m = torch.cat([torch.full((n_per // 3,), v) for v in (3.0, 0.6, 0.15)])
    x = torch.cat([(2 * c - 1) * m.view(-1, 1, 1, 1) * pattern + torch.randn(n_per, 1, 8, 8, generator=g)
                   for c in (0, 1)])
    return x, torch.arange(2).repeat_interleave(n_per), m.repeat(2)


def test_the_pick_moves_toward_harder_samples_as_the_budget_grows():
    x, y, margin = _synthetic()
    hardness = []
    for budget in (300, 1500, 24_000):
        dyn = scores.record_dynamics_on(x, y, model="convnet1-w8-none", epochs=cad.matched_epochs(budget, len(x)),
                                        every=cad.record_every(budget, 8), batch=32, seed=0, aug="none")
        picked = cad.pick(scores.difficulty("dyn_unc", dyn, J=6, W=2), y, 30, "hardest")
        hardness.append(float((1 / margin[picked]).mean()))
    assert hardness[0] < hardness[1] < hardness[2], hardness
    assert hardness[0] < 1.0 and hardness[2] > 4.0      # easy images at the smallest budget, mostly hard at the largest


def test_the_cad_selector_in_a_run():
    cfg = RunConfig(**DIGITS, ipc=3, select="cad", regime="hl", budget=320, seed=0,
                    select_knobs=(("J", 3), ("W", 2), ("records", 4)))
    r = cached_run(cfg)
    assert r["scoring_samples_seen"] == 320 and r["scoring_run_id"].startswith("cad-digits-")
    splits = data.load("digits", VPC)
    picked = select.select("cad", splits, 3, 0, budget=320, model=DIGITS["model"], batch=32, J=3, W=2, records=4)
    assert torch.equal(torch.bincount(splits.y_train[picked["indices"]]), torch.full((10,), 3))
    again = select.select("cad", splits, 3, 0, budget=320, model=DIGITS["model"], batch=32, J=3, W=2, records=4)
    assert torch.equal(picked["indices"], again["indices"])
    other = select.select("cad", splits, 3, 0, budget=640, model=DIGITS["model"], batch=32, J=3, W=2, records=4)
    assert not torch.equal(picked["indices"], other["indices"])      # another budget, another scoring run


@pytest.mark.parametrize("knobs, needle", [
    (dict(J=6, W=2, records=4), "needs at least 7 records"),
    (dict(which="middle"), "unknown which 'middle'"),
    (dict(records=1), "records must be an integer >= 2"),
])
def test_bad_cad_knobs_are_one_line_errors(knobs, needle):
    with pytest.raises(DDLibError, match=needle):
        select.select("cad", data.load("digits", VPC), 3, 0, budget=320, model=DIGITS["model"], batch=32, **knobs)
    with pytest.raises(DDLibError, match="needs the downstream budget"):
        select.select("cad", data.load("digits", VPC), 3, 0)
    with pytest.raises(DDLibError, match="takes 2 steps, fewer than records=4"):     # one record per step at most
        select.select("cad", data.load("digits", VPC), 3, 0, budget=320, model=DIGITS["model"], batch=256,
                      records=4, J=3, W=2)


def test_ca2d_shapes_determinism_and_pool():
    s = distill.distill("ca2d", "digits", 2, 0, val_per_class=VPC, teacher=TEACHER, **CA2D_KNOBS)
    assert s.images.shape == (20, 1, 8, 8) and 0 <= s.images.min() and s.images.max() <= 1
    assert torch.equal(torch.bincount(s.labels, minlength=10), torch.full((10,), 2))
    again = distill.distill("ca2d", "digits", 2, 0, val_per_class=VPC, teacher=TEACHER, **CA2D_KNOBS)
    assert torch.equal(s.images, again.images)
    pool = select.select("cad", data.load("digits", VPC), 20, 0, budget=320, model="convnet2-w8-instancenorm",
                         batch=32, records=4, J=3, W=2)["indices"]
    assert set(s.meta["sources"]) <= set(pool.tolist())               # every crop comes from CAD-Prune's pool
    assert s.meta["compute"]["scoring_samples_seen"] == 320
    with pytest.raises(DDLibError, match="ca2d needs the downstream budget"):
        distill.distill("ca2d", "digits", 2, 0, val_per_class=VPC, teacher=TEACHER, pool=20)


def test_a_run_gives_ca2d_its_budget_model_and_batch():
    cfg = RunConfig(**DIGITS, ipc=2, regime="hl", budget=320, seed=0, distill="ca2d", teacher=TEACHER,
                    distill_knobs=(("pool", 20), ("records", 4), ("J", 3), ("W", 2)))
    k = cfg.distill_knob_values()
    assert (k.budget, k.score_model, k.score_batch) == (320, DIGITS["model"], 32)
    assert RunConfig(**{**cfg.__dict__, "budget": 640}).key() != cfg.key()
    r = cached_run(cfg)
    assert r["distill_compute"]["scoring_samples_seen"] == 320 and r["subset_size"] == 20
