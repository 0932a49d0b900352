"""The cache's one rule (``store.cached_folder``): meta.json written last, a corrupt record recomputed with a
one-line message, every artefact made on one thread, and one key length in every cache key."""
import hashlib
import os
import json
import re

import pytest
import torch

from ddlib import distill, scores, store
from ddlib.distill import mtt
from ddlib.config import RunConfig
from ddlib.teacher import TeacherConfig


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DDLIB_CACHE", str(tmp_path))
    return tmp_path


def maker(calls, fail=False):
    """A ``make`` that writes one artefact file (and then fails, if asked: a killed run)."""
    def make(folder):
        calls.append(folder)
        store.write_json(folder / "artefact.json", len(calls))
        if fail:
            raise KeyboardInterrupt
        return {"made": len(calls)}
    return make


def made(got):
    """(folder, meta) as ``make`` returned it: without the checksums cached_folder adds."""
    folder, meta = got
    assert set(meta[store.CHECKSUMS]) == {p.name for p in folder.iterdir() if p.name != "meta.json"}
    return folder, {k: v for k, v in meta.items() if k != store.CHECKSUMS}


def test_meta_is_written_last_so_a_killed_make_is_recomputed(cache):
    calls = []
    with pytest.raises(KeyboardInterrupt):
        store.cached_folder("things", "k", maker(calls, fail=True))
    folder = cache / "things" / "k"
    assert calls == [folder] and (folder / "artefact.json").exists() and not (folder / "meta.json").exists()
    assert made(store.cached_folder("things", "k", maker(calls))) == (folder, {"made": 2})
    assert store.read_json(folder / "artefact.json") == 2
    assert made(store.cached_folder("things", "k", maker(calls))) == (folder, {"made": 2}) and len(calls) == 2
    assert sorted(p.name for p in folder.iterdir()) == ["artefact.json", "meta.json"]      # no temp files left


def test_an_artefact_is_made_on_one_thread_whatever_the_callers_thread_count(cache):
    seen, before = [], torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        store.cached_folder("things", "k", lambda folder: seen.append(torch.get_num_threads()) or {})
        assert seen == [store.INPUT_THREADS] == [1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("bad", [b"{not json", b"[1, 2]", b"", b"\xff\x00"])
def test_a_corrupt_record_is_recomputed_with_a_message(cache, capsys, bad):
    calls = []
    folder, _ = store.cached_folder("things", "k", maker(calls))
    (folder / "meta.json").write_bytes(bad)
    assert made(store.cached_folder("things", "k", maker(calls))) == (folder, {"made": 2})
    err = capsys.readouterr().err
    assert err == f"ddlib: corrupt cache record {folder / 'meta.json'}; recomputing\n"


@pytest.mark.parametrize("damage", ["truncate", "change", "delete"])
def test_a_changed_or_missing_file_is_recomputed_with_a_message(cache, capsys, damage):
    calls = []
    folder, _ = store.cached_folder("things", "k", maker(calls))
    f = folder / "artefact.json"
    {"truncate": lambda: f.write_bytes(f.read_bytes()[:0]), "change": lambda: f.write_text("7"),
     "delete": f.unlink}[damage]()
    assert made(store.cached_folder("things", "k", maker(calls))) == (folder, {"made": 2})
    assert capsys.readouterr().err == f"ddlib: corrupt cache folder {folder} (a file is missing or changed); recomputing\n"
    assert made(store.cached_folder("things", "k", maker(calls)))[1] == {"made": 2} and len(calls) == 2


def test_one_key_length_everywhere():
    obj = {"b": [1, 2.0], "a": None}
    text = json.dumps(obj, sort_keys=True) + "\0" + "c" * 16 + "\0" + store.cpu_kernels()
    assert store.digest(obj, "c" * 16) == hashlib.sha256(text.encode()).hexdigest()[:16]
    assert store.KEY_LENGTH == 16 and store.digest(obj, "c") == store.digest(dict(reversed(obj.items())), "c")
    ctx = distill.Context("digits", 1, 0, val_per_class=20)
    keys = [TeacherConfig().key("digits", 20, 0),
            scores.recorder_key("digits", model="convnet1-w4", epochs=2, batch=128, seed=0),
            scores.recorder_key("digits", model="convnet1-w4", budget=320, every=80, batch=32, seed=0),
            mtt.expert_key(ctx, distill.make_knobs("mtt")),
            distill.key("rded", ctx, distill.make_knobs("rded"))]
    for key in keys:
        assert re.fullmatch(rf"[\w.-]+-[0-9a-f]{{{store.KEY_LENGTH}}}", key), key
    assert keys[2].startswith("cad-digits-convnet1-w4-b320-")            # CAD-Prune's compute-matched run


def test_the_cpu_kernels_are_pinned_and_in_every_key(monkeypatch):
    """[ours, measured 2026-12-07] Each CPU instruction set gives other numbers, so ddlib pins torch's kernels to
    AVX2 and keys every record by the kernels in force: a number made with others is never read as this one."""
    from ddlib import kernels
    assert all(os.environ.get(name) == value for name, value in kernels.PINS.items())
    assert store.cpu_kernels().endswith(",onednn=AVX2,mkl=AVX2")   # ATen's: AVX2 where the CPU has it
    before = RunConfig(dataset="digits", val_per_class=20).key(), TeacherConfig().key("digits", 20, 0)
    monkeypatch.setattr(store, "cpu_kernels", lambda: "aten=AVX512,onednn=native,mkl=native")
    after = RunConfig(dataset="digits", val_per_class=20).key(), TeacherConfig().key("digits", 20, 0)
    assert before[0] != after[0] and before[1] != after[1]
