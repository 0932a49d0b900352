"""The inputs a store's runs read, kept beside it and restored into an empty cache [issue 33: a five-minute fresh
build]: a fresh clone reads its teacher instead of training it, each file checked against its checksum."""
from __future__ import annotations

import dataclasses

from ddlib import artefacts, distill, teacher as teachers
from ddlib.config import RunConfig
from ddlib.records import cached_run
from ddlib.teacher import TeacherConfig

from conftest import DIGITS, TINY_TEACHER, clear_ddlib_caches

CFG = RunConfig(**DIGITS, ipc=2, regime="slkd", budget=64, teacher=TeacherConfig(**TINY_TEACHER))


def test_kept_inputs_restore_into_an_empty_cache_and_are_read_not_made(isolated, monkeypatch, capsys):
    store = isolated["results"] / "t" / "runs"
    first = cached_run(CFG, store=store)
    hl = cached_run(dataclasses.replace(CFG, regime="hl", seed=1), store=store)    # reads no input
    assert artefacts.read_by(store)["teachers"] == [first["teacher_id"]] and "teacher_id" not in hl
    kept = artefacts.keep("t", store)
    assert kept == [("teachers", first["teacher_id"])] and artefacts.keep("t", store) == []   # once
    folder = artefacts.artefact_dir("t") / "teachers" / first["teacher_id"]
    assert "train_embeddings.safetensors" not in {p.name for p in folder.iterdir()}        # derived: left out

    empty = isolated["tmp"] / "fresh-cache"
    monkeypatch.setenv("DDLIB_CACHE", str(empty))
    clear_ddlib_caches()
    assert artefacts.restore("t") == [("teachers", first["teacher_id"])] and artefacts.restore("t") == []
    monkeypatch.setattr(teachers, "_train", lambda *a, **k: (_ for _ in ()).throw(AssertionError("trained")))
    again = cached_run(dataclasses.replace(CFG, seed=2), store=store)                       # reads, does not make
    assert again["teacher_id"] == first["teacher_id"]

    (folder / "model.safetensors").write_bytes(b"changed")                                  # damaged in the store
    monkeypatch.setenv("DDLIB_CACHE", str(isolated["tmp"] / "another-cache"))
    assert artefacts.restore("t") == []
    assert f"ddlib: corrupt artefact {folder} (a file is missing or changed); left out" in capsys.readouterr().err


def test_a_distilled_sets_runs_keep_the_set_so_a_fresh_build_reads_it(isolated, monkeypatch):
    """[issue 36] Chapter 03's sets are among the kept inputs (each run records its ``synset_key``): a fresh cache
    restored from them draws and trains on the set without distilling it."""
    cfg = RunConfig(**DIGITS, ipc=2, budget=64, distill="dm", distill_knobs=(("iterations", 2), ("batch_real", 16)))
    store = isolated["results"] / "t" / "runs"
    key = cached_run(cfg, store=store)["synset_key"]
    assert ("synsets", key) in artefacts.keep("t", store)
    monkeypatch.setenv("DDLIB_CACHE", str(isolated["tmp"] / "fresh-cache"))
    clear_ddlib_caches()
    assert ("synsets", key) in artefacts.restore("t")
    monkeypatch.setattr(distill, "distill", lambda *a, **k: (_ for _ in ()).throw(AssertionError("distilled")))
    assert cfg.synset().meta["key"] == key and cfg.synset().meta["cache_hit"]
