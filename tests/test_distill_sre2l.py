"""SRe2L's recover step on digits with a small BatchNorm teacher: the interface (shapes, exactly IPC per class, pixels
in [0, 1], provenance, a seeded result), the loss against its definition and falling from the initial noise, the
teacher checks (BatchNorm required, trained once and cached), and the crop + flip against torchvision's rule."""
import pytest
import torch
import torch.nn as nn

from ddlib import distill as distillers, synset, teacher as teachers
from ddlib.distill import sre2l
from ddlib.errors import DDLibError
from ddlib.teacher import TeacherConfig

torch.set_num_threads(1)

BN_TEACHER = "convnet2-w8-batchnorm"
# a 3-epoch digits teacher: ~0.75 validation accuracy, under a second to train
TCFG = TeacherConfig(model=BN_TEACHER, epochs=3, batch=32, lr=0.1, floor=0.0)
IPC, ITERS = 3, 80
RUN = dict(val_per_class=20, teacher=TCFG, teacher_model=BN_TEACHER, iterations=ITERS)


def run(seed=0, ipc=IPC, **change):
    return distillers.distill("sre2l", "digits", ipc, seed, **{**RUN, **change})


def ctx_for(ipc=IPC, seed=0):
    return distillers.Context("digits", ipc, seed, teacher=TCFG, val_per_class=20)


def knobs(**change):
    return distillers.make_knobs("sre2l", {**{k: RUN[k] for k in ("teacher_model", "iterations")}, **change})


def normalised(ctx, images):
    mean = torch.tensor(ctx.splits.mean).view(1, -1, 1, 1)
    std = torch.tensor(ctx.splits.std).view(1, -1, 1, 1)
    return (images - mean) / std


@pytest.fixture(scope="module")
def result():
    return run()


def test_the_set_has_ipc_images_per_class_in_pixel_range(result):
    s = result
    assert s.images.shape == (IPC * 10, 1, 8, 8) and s.images.dtype == torch.float32
    assert s.labels.dtype == torch.int64
    assert torch.equal(s.labels, torch.arange(10).repeat_interleave(IPC))          # class-sorted, IPC each
    assert float(s.images.min()) >= 0.0 and float(s.images.max()) <= 1.0
    assert torch.isfinite(s.images).all() and s.images.std() > 0.05               # not collapsed to a constant
    synset.check(s, num_classes=10, shape=(1, 8, 8), ipc=IPC)


def test_compute_and_provenance_name_the_teacher(result):
    s = result
    t = teachers.get(TCFG, "digits", val_per_class=20)
    c = s.meta["compute"]
    assert c["iterations"] == ITERS and c["batches"] == 1
    assert c["teacher_forward_samples"] == c["teacher_backward_samples"] == ITERS * IPC * 10
    assert c["teacher_id"] == t.id == s.meta["teacher_id"] == TCFG.key("digits", 20, 0)
    assert c["teacher_samples_seen"] == t.meta["samples_seen"] > 0
    assert s.meta["method"] == "sre2l" and s.meta["knobs"]["teacher_model"] == BN_TEACHER


def test_the_recovery_loss_falls_from_the_initial_noise(result):
    ctx, k = ctx_for(), knobs()
    x0, y0 = sre2l.initial_noise(ctx)
    assert x0.shape == (IPC * 10, 1, 8, 8) and torch.equal(y0, result.labels)
    before = sre2l.objective(ctx, k, x0, y0)
    after = sre2l.objective(ctx, k, normalised(ctx, result.images), result.labels)
    assert after < before / 2, (before, after)
    # the teacher now calls most recovered images by their target class
    t = teachers.get(TCFG, "digits", val_per_class=20)
    with torch.no_grad():
        pred = t.model(normalised(ctx, result.images)).argmax(1)
    assert float((pred == result.labels).float().mean()) > 0.5


def test_the_objective_is_cross_entropy_plus_the_weighted_bn_term():
    ctx, k = ctx_for(), knobs(r_bn=0.5, first_bn_multiplier=3.0)
    x, y = sre2l.initial_noise(ctx)
    model = teachers.get(TCFG, "digits", val_per_class=20).model
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(bns) == 2
    seen = []
    handles = [m.register_forward_hook(lambda m, i, o: seen.append((m, i[0]))) for m in bns]
    with torch.no_grad():
        ce = float(nn.functional.cross_entropy(model(x), y))
    for h in handles:
        h.remove()
    terms = [float((m.running_mean - a.mean((0, 2, 3))).norm() +
                   (m.running_var - a.var((0, 2, 3), unbiased=False)).norm()) for m, a in seen]
    expect = ce + 0.5 * (3.0 * terms[0] + terms[1])
    assert sre2l.objective(ctx, k, x, y) == pytest.approx(expect, rel=1e-5)
    assert not any(m._forward_hooks for m in bns)                                 # the hooks were removed
    assert sre2l.objective(ctx, knobs(r_bn=0.0), x, y) == pytest.approx(ce, rel=1e-5)


def test_the_same_seed_gives_the_same_set_another_seed_another(result):
    assert torch.equal(run().images, result.images)
    assert not torch.equal(run(seed=1, iterations=5).images, run(seed=0, iterations=5).images)


def test_round_trip_through_a_synset_file(result, tmp_path):
    path = synset.save(tmp_path / "sre2l.safetensors", result)
    back = synset.load(path)
    assert torch.equal(back.images, result.images) and torch.equal(back.labels, result.labels)
    assert back.meta["method"] == "sre2l" and back.meta["compute"]["teacher_id"] == result.meta["teacher_id"]


def test_large_sets_are_recovered_in_batches_holding_every_class():
    y = torch.arange(10).repeat_interleave(4)
    groups = sre2l._batches(y, 10, 20)            # 2 images of every class per batch
    assert len(groups) == 2 and sorted(torch.cat(groups).tolist()) == list(range(40))
    for g in groups:
        assert torch.bincount(y[g], minlength=10).tolist() == [2] * 10
    assert len(sre2l._batches(y, 10, 3)) == 4      # at least one image per class per batch
    s = run(ipc=2, iterations=3, batch_size=10)
    assert s.meta["compute"]["batches"] == 2 and s.meta["compute"]["teacher_forward_samples"] == 3 * 20
    assert torch.equal(s.labels, torch.arange(10).repeat_interleave(2))


def test_a_teacher_without_batchnorm_is_refused(monkeypatch, fresh_caches):
    monkeypatch.setattr(teachers, "_train", lambda *a, **k: pytest.fail("trained a teacher it cannot use"))
    for bad in ("convnet2-w8-instancenorm", "convnet2-w8-none", "convnet2-w8"):
        with pytest.raises(DDLibError) as e:
            run(teacher_model=bad)
        assert "\n" not in str(e.value) and "BatchNorm" in str(e.value) and bad in str(e.value)
    with pytest.raises(DDLibError, match="no BatchNorm layer"):       # the module check behind the name check
        sre2l._BNStats(nn.Sequential(nn.Conv2d(1, 2, 3), nn.GroupNorm(2, 2)), "custom")


def test_bad_knobs_are_one_line_errors():
    for change in ({"iterations": -1}, {"batch_size": 0}, {"lr": 0.0}, {"crop_scale_min": 0.0}, {"beta1": 1.0},
                   {"r_bn": -1.0}):
        with pytest.raises(DDLibError) as e:
            knobs(**change)
        assert "\n" not in str(e.value) and "sre2l" in str(e.value)


def test_the_teacher_is_trained_once_and_then_read_from_the_cache(result, monkeypatch, fresh_caches):
    monkeypatch.setattr(teachers, "_train", lambda *a, **k: pytest.fail("the cached teacher was retrained"))
    s = run(seed=2, iterations=2)
    assert s.meta["teacher_id"] == result.meta["teacher_id"]
