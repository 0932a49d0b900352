"""Teachers: trained once and cached on disk, checked (class list, accuracy floor) every time they are loaded."""
import json
import shutil

import pytest
import torch
from safetensors.torch import load_file

from ddlib import data, teacher as teachers, train
from ddlib.errors import DDLibError
from ddlib.paths import cache_dir
from ddlib.teacher import TeacherConfig

from conftest import TINY_TEACHER, clear_ddlib_caches

CFG = TeacherConfig(**TINY_TEACHER)


@pytest.fixture(scope="module")
def tiny():
    """The digits teacher, trained (or read from the session cache) once for this module."""
    clear_ddlib_caches()
    t = teachers.get(CFG, "digits", val_per_class=20)
    folder = cache_dir() / "teachers" / t.id
    return t, folder


def test_the_teacher_folder_holds_weights_logits_and_meta(tiny):
    t, folder = tiny
    assert t.id == CFG.key("digits", 20, 0) and folder.name == t.id
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == \
        ["meta.json", "model.safetensors", "train_logits.safetensors"]
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]      # no temp files left behind
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["classes"] == [str(i) for i in range(10)]
    assert meta["model"] == "convnet3-w16-instancenorm"
    assert meta["recipe"]["epochs"] == 5 and meta["recipe"]["lr"] == CFG.lr and meta["recipe"]["aug"] == "crop_flip"
    assert meta.get("seed", meta["recipe"].get("seed")) == 0
    for k in ("val_acc", "test_acc"):
        assert 0.0 <= meta[k] <= 1.0
    assert meta["id"] == t.id and meta["dataset"] == "digits" and meta["val_per_class"] == 20
    s = data.load("digits", val_per_class=20)
    assert meta["samples_seen"] == -(-5 * len(s.y_train) // CFG.batch) * CFG.batch   # 5 epochs, whole batches


def test_the_cached_weights_are_the_trained_teacher(tiny):
    t, folder = tiny
    d = data.on_device("digits", val_per_class=20)
    # the reloaded weights reproduce the accuracies and logits recorded at training time
    assert train.accuracy(t.model, *d["val"]) == pytest.approx(t.meta["val_acc"])
    assert train.accuracy(t.model, *d["test"]) == pytest.approx(t.meta["test_acc"])
    logits = load_file(folder / "train_logits.safetensors")["logits"]
    assert logits.shape == (len(d["train"][1]), 10)
    assert torch.allclose(logits, train.predict(t.model, d["train"][0]), atol=1e-4)
    assert torch.equal(t.train_logits, logits)
    assert not t.model.training and not any(p.requires_grad for p in t.model.parameters())


def test_a_second_get_loads_from_disk_without_training(tiny, monkeypatch, fresh_caches):
    t, folder = tiny

    def no_training(*a, **k):
        raise AssertionError("the cached teacher was retrained")

    monkeypatch.setattr(teachers, "_train", no_training)
    again = teachers.get(CFG, "digits", val_per_class=20)
    assert again.id == t.id and again.meta == t.meta
    sd1, sd2 = t.model.state_dict(), again.model.state_dict()
    assert all(torch.equal(sd1[k], sd2[k]) for k in sd1)
    # the floor is a check, not part of the teacher's identity: another floor reads the same folder
    other = teachers.get(TeacherConfig(**{**TINY_TEACHER, "floor": 0.01}), "digits", val_per_class=20)
    assert other.id == t.id
    # epochs given as 5 or 5.0 are the same teacher (the CLI parses floats)
    assert TeacherConfig(**{**TINY_TEACHER, "epochs": 5.0}).key("digits", 20, 0) == t.id


def test_a_different_recipe_is_a_different_teacher():
    keys = {TeacherConfig(**{**TINY_TEACHER, **change}).key("digits", 20, 0)
            for change in ({}, {"epochs": 6}, {"seed": 1}, {"lr": 0.1}, {"batch": 64}, {"aug": "none"},
                           {"model": "convnet2-w16"})}
    assert len(keys) == 7
    assert CFG.key("digits", 20, 1) != CFG.key("digits", 20, 0) != CFG.key("digits", 21, 0)


def test_a_teacher_under_its_floor_is_refused(tiny, monkeypatch, fresh_caches):
    t, _ = tiny
    monkeypatch.setattr(teachers, "_train", lambda *a, **k: pytest.fail("retrained"))
    floor = min(1.0, t.meta["val_acc"] + 0.01)
    with pytest.raises(DDLibError) as e:
        teachers.get(TeacherConfig(**{**TINY_TEACHER, "floor": floor}), "digits", val_per_class=20)
    msg = str(e.value)
    assert "\n" not in msg and "floor" in msg and f"{floor:.3f}" in msg and t.id in msg


def test_the_default_floor_is_the_datasets(tiny, monkeypatch, fresh_caches):
    t, _ = tiny
    monkeypatch.setitem(teachers.FLOORS, "digits", min(1.0, t.meta["val_acc"] + 0.01))
    with pytest.raises(DDLibError, match="under the floor"):
        teachers.get(TeacherConfig(**{**TINY_TEACHER, "floor": None}), "digits", val_per_class=20)


def test_a_teacher_with_another_class_list_is_refused(tiny, tmp_path, monkeypatch, fresh_caches):
    t, folder = tiny
    monkeypatch.setenv("DDLIB_CACHE", str(tmp_path))
    copy = tmp_path / "teachers" / t.id
    shutil.copytree(folder, copy)
    meta = json.loads((copy / "meta.json").read_text())
    meta["classes"] = meta["classes"][1:] + meta["classes"][:1]         # the same names, in another order
    (copy / "meta.json").write_text(json.dumps(meta))
    monkeypatch.setattr(teachers, "_train", lambda *a, **k: pytest.fail("retrained"))
    with pytest.raises(DDLibError) as e:
        teachers.get(CFG, "digits", val_per_class=20)
    msg = str(e.value)
    assert "\n" not in msg and "classes" in msg and str(copy) in msg
