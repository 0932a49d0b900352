"""Rerunning a ddlib run elsewhere (DD-Ranking, DeepCore): the subset's indices in the dataset's own order with the
validation images carved out, an export of the training images as .npy, and the recipe's knobs on the CLI."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ddlib import cli, data, profile as prof
from ddlib.config import RunConfig
from ddlib.runner import pick, subset_record

TINY = ["--params", "tiny"]


def _json(capsys):
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_a_saved_subset_is_the_run_s_images_in_the_dataset_s_own_order(isolated, capsys):
    out = isolated["tmp"] / "subset.json"
    assert cli.main(["train", *TINY, "--ipc", "3", "--seed", "4", "--save-subset", str(out), "--json"]) == 0
    r, s = _json(capsys), json.loads(out.read_text())
    raw = data.load_raw("digits")
    cfg = RunConfig(dataset="digits", val_per_class=20, ipc=3, seed=4)
    splits = data.load("digits", 20)
    trained_on = splits.x_train[pick(cfg)["indices"]]
    assert torch.equal(raw.x_train[s["indices"]], trained_on)                   # the same images, read back
    assert raw.y_train[s["indices"]].tolist() == s["labels"] and len(s["indices"]) == r["subset_size"] == 30
    assert not set(s["indices"]) & set(s["validation_indices"]) and len(s["validation_indices"]) == 200
    assert torch.equal(raw.x_train[s["validation_indices"]], splits.x_val)
    assert s["run_key"] == r["key"] and s["order"].startswith("the dataset's own")


def test_export_writes_the_subset_as_npy_and_reads_back(isolated, capsys):
    out = isolated["tmp"] / "export"
    assert cli.main(["export", *TINY, "--ipc", "2", "--seed", "1", "--out", str(out)]) == 0
    meta = json.loads((out / "export.json").read_text())
    x, y = np.load(out / "images.npy"), np.load(out / "labels.npy")
    raw = data.load_raw("digits")
    assert x.dtype == np.float32 and x.shape == (20, 1, 8, 8) and 0 <= x.min() and x.max() <= 1
    assert np.array_equal(x, raw.x_train[meta["indices"]].numpy() / np.float32(255))
    assert y.tolist() == raw.y_train[meta["indices"]].tolist() == meta["labels"]
    tiny = prof.Profile.load("tiny")
    assert meta["indices"] == subset_record(prof.subset_run(tiny, ipc=2, seed=1))["indices"]
    norm = isolated["tmp"] / "norm"
    assert cli.main(["export", *TINY, "--ipc", "2", "--seed", "1", "--normalized", "--out", str(norm)]) == 0
    z = np.load(norm / "images.npy")
    splits = data.load("digits", 20)
    assert np.allclose(z, data.normalize(torch.from_numpy(x), splits).numpy(), atol=1e-6)
    capsys.readouterr()
    assert cli.main(["export", *TINY, "--ipc", "2", "--out", str(out)]) == 2                  # not an empty folder
    assert "not an empty folder" in capsys.readouterr().err


def test_export_a_distilled_set(isolated):
    out = isolated["tmp"] / "dm"
    assert cli.main(["export", *TINY, "--ipc", "1", "--distill", "dm", "--out", str(out)]) == 0
    meta = json.loads((out / "export.json").read_text())
    assert meta["method"] == "dm" and np.load(out / "images.npy").shape == (10, 1, 8, 8)


def test_epochs_lr_and_schedule_from_the_cli(isolated, capsys):
    assert cli.main(["train", *TINY, "--ipc", "2", "--epochs", "8", "--lr", "0.05", "--schedule", "cosine",
                     "--json"]) == 0
    r = _json(capsys)
    assert r["budget"] == 8 * 2 * 10 and r["lr"] == 0.05 and r["schedule"] == "cosine"
    assert cli.main(["train", *TINY, "--ipc", "2", "--epochs", "8", "--json"]) == 0
    assert _json(capsys)["key"] != r["key"]                                      # the recipe is part of the key


@pytest.mark.parametrize("flags, needle", [(["--budget", "100", "--epochs", "2"], "not both"),
                                           (["--epochs", "-1"], "--epochs must be a positive"),
                                           (["--lr", "0"], "lr must be a positive"),
                                           (["--schedule", "linear"], "invalid choice: 'linear'"),
                                           (["--distill", "dm", "--save-subset", "x.json"], "has no subset")])
def test_bad_recipe_flags_are_one_line(flags, needle, isolated, capsys, monkeypatch):
    monkeypatch.chdir(isolated["tmp"])
    try:
        rc = cli.main(["train", *TINY, "--ipc", "2", *flags])
    except SystemExit as e:                 # argparse's own one-line usage error (a name not in choices=)
        rc = e.code
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]
    assert not isolated["cache"].exists()


def test_export_as_an_image_folder_reads_back_as_the_same_images(isolated, capsys):
    """[issue 38] --format imagefolder: a PNG per image in a folder per class, named by the zero-padded index, which
    torchvision's ImageFolder sorts in ddlib's order and ddlib's own set reader reads back pixel for pixel; a float
    (distilled) set is rounded to 8 bits and says so; --normalized is refused in one line."""
    from ddlib import synset
    out = isolated["tmp"] / "folder"
    assert cli.main(["export", *TINY, "--ipc", "2", "--seed", "1", "--format", "imagefolder", "--out", str(out)]) == 0
    meta = json.loads((out / "export.json").read_text())
    assert sorted(d.name for d in out.iterdir() if d.is_dir()) == [str(c) for c in range(10)]
    assert meta["format"] == "imagefolder" and len(meta["files"]) == 20 and meta["rounded_to_8_bits"] is False
    raw = data.load_raw("digits")
    splits = data.load("digits", 20)
    back = synset.read(out, splits.classes, splits.shape)
    order = [int(f.split("/")[1][:5]) for f in sorted(meta["files"])]   # the images, in the order read back
    assert torch.equal(back.labels, raw.y_train[meta["indices"]][order])
    assert torch.equal((back.images * 255).round().to(torch.uint8), raw.x_train[meta["indices"]][order])
    dm = isolated["tmp"] / "dm"
    assert cli.main(["export", *TINY, "--ipc", "1", "--distill", "dm", "--format", "imagefolder",
                     "--out", str(dm)]) == 0
    assert json.loads((dm / "export.json").read_text())["rounded_to_8_bits"] is True
    capsys.readouterr()
    assert cli.main(["export", *TINY, "--ipc", "2", "--format", "imagefolder", "--normalized",
                     "--out", str(isolated["tmp"] / "n")]) == 2
    assert "8-bit pixels" in capsys.readouterr().err
