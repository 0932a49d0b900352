"""The distiller interface, DM and RDED, the synthetic-set file, and distilled sets in runs and on the CLI."""
import json
import pickle
import subprocess

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from ddlib import data, distill, synset
from ddlib.distill import dm, rded
from ddlib.errors import DDLibError
from ddlib.config import RunConfig
from ddlib.records import cached_run
from ddlib.teacher import TeacherConfig

from conftest import DIGITS, PYTHON, REPO, TINY_TEACHER, subprocess_env

VPC = DIGITS["val_per_class"]
TEACHER = TeacherConfig(**TINY_TEACHER)
DM_KNOBS = dict(model="convnet2-w8-instancenorm", iterations=20, batch_real=16)
RDED_KNOBS = dict(pool=30)


def make(method, ipc=2, seed=0, **knobs):
    return distill.distill(method, "digits", ipc, seed, val_per_class=VPC, teacher=TEACHER, **knobs)


@pytest.fixture(scope="module")
def dm_set():
    return make("dm", **DM_KNOBS)


@pytest.fixture(scope="module")
def rded_sets():
    return {f: make("rded", factor=f, **RDED_KNOBS) for f in (1, 2)}


def ctx(ipc=2, seed=0):
    return distill.Context("digits", ipc, seed, teacher=TEACHER, val_per_class=VPC)


def normalised(s):
    return data.normalize(s.images, data.load("digits", VPC))


def check_set(s, ipc=2):
    assert s.images.shape == (ipc * 10, 1, 8, 8) and s.images.dtype == torch.float32
    assert torch.equal(torch.bincount(s.labels, minlength=10), torch.full((10,), ipc))
    clipped = s.meta.get("pixels") != "unclipped"      # DM keeps its tensor unclipped, as its evaluation [issue 13]
    assert not clipped or (s.images.min() >= 0 and s.images.max() <= 1)
    assert s.meta["compute"]["wall_s"] > 0 and s.meta["classes"] == list(data.load("digits", VPC).classes)


# --- DM ---------------------------------------------------------------------------------------------------------

def test_dm_lowers_its_objective_from_the_real_init(dm_set):
    k = distill.make_knobs("dm", DM_KNOBS)
    x0, y0 = ctx().real_init()
    assert dm.objective(ctx(), k, normalised(dm_set), dm_set.labels) < 0.8 * dm.objective(ctx(), k, x0, y0)


def test_dm_shapes_labels_range_and_compute(dm_set):
    check_set(dm_set)
    c = dm_set.meta["compute"]
    assert c["iterations"] == 20 and c["real_forward_samples"] == 20 * 10 * 16


def test_dm_is_deterministic_per_seed(dm_set):
    again, other = make("dm", **DM_KNOBS), make("dm", seed=1, **DM_KNOBS)
    assert torch.equal(again.images, dm_set.images)
    assert not torch.equal(other.images, dm_set.images)


# --- RDED -------------------------------------------------------------------------------------------------------

def test_rded_keeps_crops_its_observer_finds_easier_than_real_images(rded_sets):
    for f, s in rded_sets.items():
        k = distill.make_knobs("rded", dict(RDED_KNOBS, factor=f))
        x0, y0 = ctx().real_init()
        assert rded.objective(ctx(), k, normalised(s), s.labels) < rded.objective(ctx(), k, x0, y0)


def test_rded_records_the_source_of_every_crop(rded_sets):
    y = data.load("digits", VPC).y_train
    for f, s in rded_sets.items():
        check_set(s)
        src = torch.tensor(s.meta["sources"])
        assert len(src) == 2 * 10 * f * f and len(s.meta["source_losses"]) == len(src)
        assert torch.equal(y[src], torch.arange(10).repeat_interleave(2 * f * f))   # crops of their own class
        losses = torch.tensor(s.meta["source_losses"]).view(10, -1)
        assert (losses[:, 1:] >= losses[:, :-1]).all()                               # lowest loss first


def test_rded_factor_2_stitches_four_tiles():
    tiles = torch.arange(4.0).view(4, 1, 1, 1).expand(4, 1, 8, 8).contiguous()
    img = rded.stitch(tiles, 2, (8, 8))
    assert img.shape == (1, 1, 8, 8)
    assert img[0, 0, 0, 0] == 0 and img[0, 0, 0, 7] == 1 and img[0, 0, 7, 0] == 2 and img[0, 0, 7, 7] == 3
    assert torch.allclose(rded.tiles_of(img, 2), tiles)


def test_rded_is_deterministic_per_seed(rded_sets):
    assert torch.equal(make("rded", factor=1, **RDED_KNOBS).images, rded_sets[1].images)
    assert not torch.equal(make("rded", seed=3, factor=1, **RDED_KNOBS).images, rded_sets[1].images)


def test_rded_on_a_given_pool_uses_only_that_pool():
    c = ctx()
    pool = [idx[:3].tolist() for idx in c.class_index]
    out = rded.distill(c, distill.make_knobs("rded", RDED_KNOBS), pool=pool)
    assert set(out["sources"].tolist()) <= {i for p in pool for i in p}


# --- the interface ----------------------------------------------------------------------------------------------

def test_unknown_method_and_knob_are_one_line_errors():
    with pytest.raises(DDLibError, match="unknown distillation method 'gm'; valid: dm, dc, mtt, datm, sre2l, rded"):
        distill.make_knobs("gm")
    with pytest.raises(DDLibError, match="method 'dm' has no knob 'iters'; its knobs: model="):
        distill.make_knobs("dm", {"iters": 3})
    with pytest.raises(DDLibError, match="IPC 1000 is larger than the smallest class"):
        make("dm", ipc=1000, **DM_KNOBS)


def test_get_caches_the_set_and_reads_it_back(monkeypatch, capsys):
    first = distill.get("rded", "digits", 1, 0, val_per_class=VPC, teacher=TEACHER, **RDED_KNOBS)
    monkeypatch.setattr(rded, "distill", lambda *a, **k: pytest.fail("distilled again"))
    again = distill.get("rded", "digits", 1, 0, val_per_class=VPC, teacher=TEACHER, **RDED_KNOBS)
    assert torch.equal(first.images, again.images) and again.meta["cache_hit"]
    assert again.meta["sources"] == first.meta["sources"]
    record = distill.cached_set_path(first.meta["key"]).with_name("meta.json")          # written last
    record.write_text("{half a record")
    with pytest.raises(pytest.fail.Exception, match="distilled again"):                # not trusted: remade
        distill.get("rded", "digits", 1, 0, val_per_class=VPC, teacher=TEACHER, **RDED_KNOBS)
    assert f"corrupt cache record {record}" in capsys.readouterr().err


def test_a_file_with_the_bytes_of_a_cached_set_shares_its_runs(tmp_path):
    import shutil
    kw = dict(**{k: v for k, v in DIGITS.items()}, ipc=1, regime="hl", budget=64, seed=0, teacher=TEACHER)
    by_method = RunConfig(**kw, distill="rded", distill_knobs=tuple(RDED_KNOBS.items()))
    cached = by_method.synset()                              # made and cached
    path = distill.cached_set_path(by_method.key_fields()["synset"])
    copy = shutil.copy(path, tmp_path / "mine.safetensors")  # a user's copy: same bytes, another place
    assert distill.cached_key(copy) == cached.meta["key"]
    as_file = RunConfig(**kw, synset_file=str(copy))
    assert as_file.key() == by_method.key()
    r = cached_run(by_method)
    hit = cached_run(as_file)                                # read back, reported as the config that asked
    assert hit["cache_hit"] and hit["test_acc"] == r["test_acc"] and hit["synset_file"] == str(copy)
    # the same images saved again with other provenance: other bytes, keyed by its own content
    other = synset.save(tmp_path / "other.safetensors", synset.SynSet(cached.images, cached.labels,
                                                                        meta=dict(cached.meta, note="re-saved")))
    assert distill.cached_key(other) is None
    assert RunConfig(**kw, synset_file=str(other)).key() != by_method.key()


def test_every_method_states_where_each_constant_comes_from():
    import inspect
    for name, mod in distill.METHODS.items():
        src = inspect.getsource(mod.Knobs)
        fields = [f for f in mod.Knobs.__dataclass_fields__]
        for f in fields:
            line = next(ln for ln in src.splitlines() if ln.strip().startswith(f"{f}:"))
            assert "#" in line, f"{name}.{f} has no comment saying where it comes from"


# --- the file ---------------------------------------------------------------------------------------------------

def test_a_set_round_trips_through_its_file(dm_set, tmp_path):
    path = synset.save(tmp_path / "dm.safetensors", dm_set)
    back = synset.load(path)
    assert torch.equal(back.images, dm_set.images) and torch.equal(back.labels, dm_set.labels)
    assert back.meta["method"] == "dm" and back.meta["knobs"]["iterations"] == 20
    side = json.loads((tmp_path / "dm.safetensors.json").read_text())
    assert side["key"] == dm_set.meta["key"] and side["compute"]["iterations"] == 20


def test_npz_loads_without_pickle(dm_set, tmp_path):
    np.savez(tmp_path / "s.npz", images=dm_set.images.numpy(), labels=dm_set.labels.numpy())
    back = synset.load(tmp_path / "s.npz")
    assert torch.equal(back.images, dm_set.images)
    np.savez(tmp_path / "obj.npz", images=np.array([object()], dtype=object), labels=np.zeros(1))
    with pytest.raises(DDLibError, match="not a readable npz without pickle"):
        synset.load(tmp_path / "obj.npz")


class _Boom:
    def __reduce__(self):
        return (open, ("/nonexistent-ddlib-pickle-ran", "w"))


def test_pickle_files_are_refused_unread(tmp_path):
    path = tmp_path / "set.pt"
    path.write_bytes(pickle.dumps(_Boom()))
    with pytest.raises(DDLibError, match="pickle-based files are refused"):
        synset.load(path)


@pytest.mark.parametrize("change, needle", [
    (lambda s: setattr(s, "images", s.images[:, :, :4]), "wrong image size"),
    (lambda s: setattr(s, "images", s.images.expand(-1, 3, -1, -1)), "wrong channel count"),
    (lambda s: setattr(s, "images", s.images * 2), "pixel values must lie in"),
    (lambda s: s.images.__setitem__((0, 0, 0, 0), float("nan")), "NaN or infinite"),
    (lambda s: s.labels.__setitem__(0, 10), "labels must lie in 0..9"),
    (lambda s: s.labels.__setitem__(slice(0, 2), 1), r"class\(es\) \[0\] have no image"),
    (lambda s: setattr(s, "labels", s.labels[:-1]), "one integer per image"),
])
def test_bad_sets_are_refused_with_one_line(dm_set, change, needle):
    s = synset.SynSet(dm_set.images.clamp(0, 1), dm_set.labels.clone())   # a valid image set, then one fault
    change(s)
    with pytest.raises(DDLibError, match=needle):
        synset.check(s, num_classes=10, shape=(1, 8, 8))


def test_a_claimed_ipc_must_match(dm_set):
    with pytest.raises(DDLibError, match="claims IPC 3"):
        synset.check(dm_set, num_classes=10, ipc=3)


def test_a_corrupt_file_is_refused(tmp_path):
    (tmp_path / "bad.safetensors").write_bytes(b"\x00" * 40)
    with pytest.raises(DDLibError, match="not a readable safetensors file"):
        synset.load(tmp_path / "bad.safetensors")
    save_file({"pixels": torch.zeros(2, 1, 8, 8)}, tmp_path / "nolabels.safetensors")
    with pytest.raises(DDLibError, match="needs arrays 'images' and 'labels'"):
        synset.load(tmp_path / "nolabels.safetensors")


# --- distilled sets in runs -------------------------------------------------------------------------------------

def run_config(**kw):
    kw = dict(dict(distill="rded", distill_knobs=tuple(RDED_KNOBS.items())), **kw)
    return RunConfig(**DIGITS, ipc=2, budget=320, teacher=TEACHER, **kw)


def test_a_run_trains_on_the_distilled_set_and_records_it(isolated):
    r = cached_run(run_config(regime="sl", temperature=4.0))
    assert r["subset_size"] == 20 and r["synset_key"].startswith("rded-digits-ipc2-s0-")
    assert r["distill_compute"]["observer_forward_samples"] == 10 * 30 * 5 and r["distill_wall_s"] > 0
    assert cached_run(run_config(regime="sl", temperature=4.0))["cache_hit"]


def test_distill_seed_shares_one_set_across_training_seeds():
    a, b = run_config(seed=0, distill_seed=0), run_config(seed=1, distill_seed=0)
    assert a.key_fields()["synset"] == b.key_fields()["synset"] and a.key() != b.key()
    assert run_config(seed=1).key_fields()["synset"] != a.key_fields()["synset"]


def test_distill_and_select_are_exclusive_and_keys_of_real_subsets_are_unchanged():
    with pytest.raises(DDLibError, match="either on a distilled set"):
        run_config(select="herding").validate()
    with pytest.raises(DDLibError, match="method 'rded' has no knob 'poool'"):
        run_config(distill_knobs=(("poool", 3),)).validate()
    assert "synset" not in RunConfig().key_fields() and "distill" not in RunConfig().key_fields()


# --- the CLI ----------------------------------------------------------------------------------------------------

def cli(*args, env):
    return subprocess.run([PYTHON, "-m", "ddlib", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)


def test_cli_distill_writes_a_set_and_refuses_bad_input(tmp_path):
    env = subprocess_env(tmp_path / "cache", tmp_path / "results")
    out = tmp_path / "s.safetensors"
    base = ["distill", "--dataset", "digits", "--val-per-class", str(VPC), "--device", "cpu", "--out", str(out)]
    r = cli(*base, "--method", "dm", "--ipc", "1", "--seed", "2", "--knob", "iterations=3", "--knob",
            "model=convnet2-w8-instancenorm", env=env)
    assert r.returncode == 0, r.stderr
    s = synset.load(out)
    assert s.images.shape == (10, 1, 8, 8) and s.meta["seed"] == 2 and s.meta["knobs"]["iterations"] == 3
    help_ = cli("distill", "--help", env=env)
    assert all(m in help_.stdout for m in ("dm", "dc", "mtt", "sre2l", "rded"))
    for args, needle in [(["--method", "gm", "--ipc", "1"], "invalid choice: 'gm'"),
                         (["--method", "dm", "--ipc", "999"], "IPC 999 is larger"),
                         (["--method", "dm", "--ipc", "1", "--knob", "iters=2"], "has no knob 'iters'")]:
        out.unlink(missing_ok=True)
        r = cli(*base, *args, env=env)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and needle in r.stderr, r.stderr
        assert not out.exists()


def test_an_unclipped_set_is_refused_unless_its_provenance_says_so(dm_set):
    """DC, DM, MTT and DATM evaluate their unclipped tensor, so ddlib keeps their sets so [issue 13]; any other set
    outside [0, 1] is refused as before."""
    s = synset.SynSet(dm_set.images * 2 - 0.5, dm_set.labels, meta=dict(dm_set.meta))
    s.meta.pop("pixels", None)
    with pytest.raises(DDLibError, match="pixels: unclipped"):
        synset.check(s, 10)
    s.meta["pixels"] = "unclipped"
    assert synset.check(s, 10) is s
