"""DATM on scikit-learn digits with tiny nets: the CLI writes a set that carries its learned soft labels; distilling
lowers DATM's own objective and moves the labels from their expert initialisation (images the experts classify
correctly); DATM reads MTT's expert cache for the same recipe; the start-epoch window grows as the code does; bad
knobs are one-line errors."""
import subprocess

import pytest
import torch

from ddlib import distill as D, profile as prof, synset
from ddlib.distill import datm, mtt
from ddlib.errors import DDLibError
from ddlib.paths import cache_dir
from ddlib.profile import Profile

from conftest import PYTHON, REPO, subprocess_env

torch.set_num_threads(1)

VPC = 20
RECIPE = dict(model="convnet2-w8-instancenorm", experts=2, train_epochs=3, epoch_samples=256, batch_train=64,
              lr_teacher=0.1)   # a tiny expert recipe whose experts classify most digits correctly
TINY = dict(RECIPE, iterations=10, lr_img=100.0, syn_steps=4, min_start_epoch=0, current_max_start_epoch=0,
            max_start_epoch=1, expansion_end=5)


def ctx(ipc=2, seed=0):
    return D.Context("digits", ipc, seed, val_per_class=VPC)


def test_cli_writes_a_set_with_soft_labels(tmp_path):
    env = subprocess_env(tmp_path / "cache", tmp_path / "results")
    out = tmp_path / "s.safetensors"
    proc = subprocess.run([PYTHON, "-m", "ddlib", "distill", "--method", "datm", "--params", "tiny",
                           "--ipc", "1", "--out", str(out)], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    s = synset.load(out)
    synset.check(s, num_classes=10, shape=(1, 8, 8), ipc=1)
    assert s.soft_labels is not None and s.soft_labels.shape == (10, 10) and s.soft_labels.dtype == torch.float32
    assert torch.allclose(s.soft_labels.sum(1), torch.ones(10), atol=1e-5) and s.soft_labels.min() >= 0
    assert torch.equal(s.labels, torch.arange(10))           # hard labels: the class each image was drawn from
    tiny = Profile.load("tiny")
    assert s.meta["method"] == "datm" and s.meta["compute"]["iterations"] == tiny.distill_knobs["datm"]["iterations"]


def test_objective_goes_down_and_labels_move():
    k, c = D.make_knobs("datm", TINY), ctx()
    traj, _ = mtt.expert_trajectories(c, datm.mtt_knobs(k))
    x0, y0, logits0, info = datm.init_images_and_labels(c, k, traj)
    p0 = torch.softmax(logits0, 1)
    out = datm.distill(c, k)
    assert torch.equal(out["y"], y0) and torch.equal(y0, torch.arange(10).repeat_interleave(2))
    assert out["x"].shape == x0.shape and out["soft_labels"].shape == (20, 10)
    before, after = datm.objective(c, k, x0, p0), datm.objective(c, k, out["x"], out["soft_labels"])
    assert after < before, (before, after)
    assert datm.objective(c, k, x0, p0) == before            # the probe is fixed
    assert (out["soft_labels"] - p0).abs().max() > 0.01      # the labels are learned, not just stored
    assert out["compute"]["skipped_iterations"] < k.iterations
    # the initialisation: every image is classified correctly by an expert at label_epoch, and the initial
    # logits (the mean over those experts) pick its class
    assert info["label_init_accuracy"] == 1.0 and torch.equal(logits0.argmax(1), y0)
    f = datm._label_net(c, k)
    right = torch.stack([f(traj[e, k.label_epoch], x0).argmax(1) == y0 for e in range(len(traj))])
    assert bool(right.any(0).all())
    # seeded: the same run gives the same set, another seed other images
    again = datm.distill(c, k)
    assert torch.equal(again["x"], out["x"]) and torch.equal(again["soft_labels"], out["soft_labels"])
    other_x, *_ = datm.init_images_and_labels(ctx(seed=1), k, traj)
    assert not torch.equal(other_x, x0)


def test_datm_and_mtt_share_one_expert_cache(experts_trained):
    trained = experts_trained
    c = ctx(ipc=1, seed=3)
    k = D.make_knobs("datm", dict(TINY, lr_teacher=0.05))    # a recipe no other test uses
    mk = D.make_knobs("mtt", dict(RECIPE, lr_teacher=0.05, max_start_epoch=1))
    assert mtt.expert_key(c, datm.mtt_knobs(k)) == mtt.expert_key(c, mk)
    assert mtt.expert_key(c, datm.mtt_knobs(datm.Knobs())) == mtt.expert_key(c, mtt.Knobs())   # by default too
    assert mtt.expert_key(c, datm.mtt_knobs(k)) != mtt.expert_key(c, datm.mtt_knobs(D.make_knobs("datm", TINY)))
    mtt.expert_trajectories(c, mk)                           # MTT trains them
    assert trained == [0, 1]
    assert (cache_dir() / "experts" / mtt.expert_key(c, mk) / "meta.json").exists()
    trained.clear()
    out = datm.distill(c, k)                                 # DATM reads them
    assert trained == [] and out["compute"]["experts_cache_hit"] is True
    assert len(list((cache_dir() / "experts").glob(f"{k.model}-digits-*"))) >= 1


def test_window_grows_from_current_to_max_start_epoch():
    k = datm.Knobs(train_epochs=10, min_start_epoch=1, current_max_start_epoch=2, max_start_epoch=6, expansion_end=8)
    k.validate()
    got = [datm.window(k, it) for it in range(12)]
    assert got[0] == (1, 2) and got[1] == (1, 2) and got[2] == (1, 3) and got[4] == (1, 4) and got[8] == (1, 6)
    assert got[-1] == (1, 6)                                 # stays at max_start_epoch after expansion_end
    assert all(lo == 1 for lo, _ in got) and [hi for _, hi in got] == sorted(hi for _, hi in got)
    # upper = current + int((max - current) * it / expansion_end), as the code's Sequential_Generation
    assert [hi for _, hi in got] == [min(6, 2 + int(4 * it / 8)) for it in range(12)]
    flat = datm.Knobs(train_epochs=10, min_start_epoch=1, current_max_start_epoch=2, max_start_epoch=6,
                      sequential=False)
    assert {datm.window(flat, it) for it in range(12)} == {(1, 6)}
    # the distiller draws its starts inside the window: a window that never opens past 0 gives only start 0
    closed = D.make_knobs("datm", dict(TINY, iterations=4, expansion_end=1000))
    assert datm.distill(ctx(), closed)["compute"]["start_epoch_counts"] == [4, 0]


def test_published_settings_are_knobs_and_move_later_with_ipc():
    """The paper profile holds DATM's published settings by IPC (issue 13): valid knobs, later windows for larger
    IPC."""
    p = Profile.load("paper").check()
    by_ipc = p.distill_knobs_by_ipc["datm"]
    assert sorted(by_ipc) == [1, 10, 50]
    knobs = {ipc: D.make_knobs("datm", prof.distill_knobs(p, "datm", ipc)) for ipc in by_ipc}
    tops = [knobs[i].max_start_epoch for i in (1, 10, 50)]
    assert tops == sorted(tops) and tops[0] < tops[-1]       # larger IPC, later (harder) trajectories
    assert knobs[1].sequential is False and knobs[10].current_max_start_epoch == 10
    assert {k.iterations for k in knobs.values()} == {10_000} and {k.syn_steps for k in knobs.values()} == {80}


def test_bad_knobs_are_one_line_errors():
    for bad in [dict(min_start_epoch=3, current_max_start_epoch=2, max_start_epoch=2),
                dict(min_start_epoch=5, max_start_epoch=4), dict(current_max_start_epoch=5, max_start_epoch=4),
                dict(max_start_epoch=5, train_epochs=6, expert_epochs=2), dict(min_start_epoch=-1),
                dict(expansion_end=0), dict(label_epoch=7, train_epochs=6), dict(lr_y=-1.0), dict(threshold=0.0),
                dict(momentum_y=1.0), dict(syn_steps=0), dict(experts=0), dict(lr_y="high"), dict(soft=True)]:
        with pytest.raises(DDLibError) as e:
            D.make_knobs("datm", bad)
        assert "\n" not in str(e.value), bad
