"""DC and MTT distillers on scikit-learn digits with tiny nets: each lowers its own objective, returns a valid,
class-sorted, seeded set that survives a save/load round trip; DC's distance and loops against their definitions;
MTT's expert cache is reused across IPCs and seeds and rebuilt when half written."""
import pytest
import torch

from ddlib import distill as D, synset
from ddlib.distill import dc, mtt
from ddlib.errors import DDLibError
from ddlib.paths import cache_dir

torch.set_num_threads(1)

VPC = 20
TINY = {
    "dc": dict(model="convnet2-w8-instancenorm", iterations=3, batch_real=16, outer_loop=2, inner_loop=2),
    "mtt": dict(model="convnet2-w8-instancenorm", iterations=10, lr_img=100.0, syn_steps=4, experts=2,
                train_epochs=3, max_start_epoch=1, epoch_samples=256, batch_train=64),
}


def ctx(ipc=2, seed=0):
    return D.Context("digits", ipc, seed, val_per_class=VPC)


@pytest.mark.parametrize("method", ["dc", "mtt"])
def test_objective_goes_down(method):
    mod, k, c = D.METHODS[method], D.make_knobs(method, TINY[method]), ctx()
    x0, y0 = c.real_init()
    out = mod.distill(c, k)
    assert torch.equal(out["y"], y0) and out["x"].shape == x0.shape
    before, after = mod.objective(c, k, x0, y0), mod.objective(c, k, out["x"], out["y"])
    assert after < before, (before, after)
    assert mod.objective(c, k, x0, y0) == before          # the probe is fixed


@pytest.mark.parametrize("method", ["dc", "mtt"])
def test_set_is_valid_seeded_and_round_trips(method, tmp_path):
    ipc = 2
    s = D.distill(method, "digits", ipc, 0, val_per_class=VPC, **TINY[method])
    assert s.images.shape == (ipc * 10, 1, 8, 8) and s.images.dtype == torch.float32
    assert torch.equal(s.labels, torch.arange(10).repeat_interleave(ipc))
    assert s.meta["pixels"] == "unclipped" and torch.isfinite(s.images).all()   # as DC and MTT evaluate [issue 13]
    synset.check(s, num_classes=10, shape=(1, 8, 8), ipc=ipc)
    compute = s.meta["compute"]
    assert compute["iterations"] == TINY[method]["iterations"] and compute["synthetic_forward_samples"] > 0
    assert s.meta["method"] == method and s.meta["knobs"]["model"] == "convnet2-w8-instancenorm"
    again = D.distill(method, "digits", ipc, 0, val_per_class=VPC, **TINY[method])
    assert torch.equal(again.images, s.images)
    other = D.distill(method, "digits", ipc, 1, val_per_class=VPC, **TINY[method])
    assert not torch.equal(other.images, s.images)
    path = synset.save(tmp_path / f"{method}.safetensors", s)
    back = synset.load(path)
    assert torch.equal(back.images, s.images) and torch.equal(back.labels, s.labels)
    assert back.meta["compute"] == s.meta["compute"] and back.meta["key"] == s.meta["key"]


def test_dc_distance_is_layerwise_one_minus_cosine():
    w = torch.randn(4, 3, 3, 3)
    b = torch.randn(4)
    assert float(dc.distance([w, b], [2 * w, -b])) == pytest.approx(0, abs=1e-5)   # scale-free; biases count 0
    assert float(dc.distance([w, b], [-w, b])) == pytest.approx(8, abs=1e-4)       # 4 rows, cosine -1 each
    lin = torch.eye(3)
    assert float(dc.distance([lin], [torch.eye(3)[[1, 2, 0]]])) == pytest.approx(3, abs=1e-5)  # orthogonal rows
    g1, g2 = [torch.randn(5, 7)], [torch.randn(5, 7)]
    rows = 1 - torch.nn.functional.cosine_similarity(g1[0], g2[0], dim=1, eps=0)
    assert float(dc.distance(g1, g2)) == pytest.approx(float(rows.sum()), rel=1e-4)


def test_dc_loops_follow_the_paper_and_scale():
    paper = dc.Knobs(loop_scale=1.0)
    assert [dc.loops(ipc, paper) for ipc in (1, 10, 50)] == [(1, 1), (10, 50), (50, 10)]
    assert dc.loops(12, paper) == (10, 50) and dc.loops(2, paper) == (1, 1) and dc.loops(500, paper) == (50, 10)
    assert dc.loops(10, dc.Knobs()) == (2, 10)                  # the CPU default: 0.2 x (10, 50)
    assert dc.loops(10, dc.Knobs(outer_loop=3, inner_loop=4)) == (3, 4)


def test_mtt_experts_are_cached_shared_and_rebuilt_when_half_written(experts_trained):
    k = D.make_knobs("mtt", TINY["mtt"])
    trained = experts_trained
    c = ctx(ipc=3, seed=5)                         # the IPC and seed do not enter the expert key
    folder = cache_dir() / "experts" / mtt.expert_key(c, k)
    assert mtt.expert_key(c, k) == mtt.expert_key(ctx(ipc=1, seed=0), k)
    assert mtt.expert_key(c, k) != mtt.expert_key(c, D.make_knobs("mtt", dict(TINY["mtt"], lr_teacher=0.02)))
    traj, _ = mtt.expert_trajectories(c, k)        # may be a hit from the other tests: same key
    n_params = sum(p.numel() for p in c.net(k.model, 0).parameters())
    assert traj.shape == (k.experts, k.train_epochs + 1, n_params)
    assert (folder / "meta.json").exists()
    trained.clear()
    s = D.distill("mtt", "digits", 3, 5, val_per_class=VPC, **TINY["mtt"])
    assert trained == [] and s.meta["compute"]["experts_cache_hit"] is True
    assert s.meta["compute"]["expert_train_samples"] == 2 * 3 * 4 * 64    # experts x epochs x steps x batch
    (folder / "meta.json").unlink()                # a killed run leaves no meta: the folder is not trusted
    traj2, info2 = mtt.expert_trajectories(c, k)
    assert trained == [0, 1] and info2["experts_cache_hit"] is False and (folder / "meta.json").exists()
    assert torch.equal(traj2, traj)                # experts are seeded by their index: the same trajectories
    (folder / "trajectories.safetensors").write_bytes(b"not a safetensors file")
    trained.clear()
    traj3, info3 = mtt.expert_trajectories(c, k)   # a corrupt file is rebuilt, not trusted
    assert trained == [0, 1] and info3["experts_cache_hit"] is False and torch.equal(traj3, traj)


def test_bad_knobs_are_one_line_errors():
    for method, bad in [("dc", dict(iterations=-1)), ("dc", dict(loop_scale=0)), ("dc", dict(outer_loop=-2)),
                        ("mtt", dict(max_start_epoch=5, train_epochs=6, expert_epochs=2)),
                        ("mtt", dict(syn_steps=0)), ("mtt", dict(experts=0)), ("dc", dict(lr=1.0)),
                        ("mtt", dict(lr_img=-1.0))]:
        with pytest.raises(DDLibError) as e:
            D.make_knobs(method, bad)
        assert "\n" not in str(e.value)
