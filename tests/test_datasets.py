"""The dataset registry on roots the tests write themselves: CIFAR-10/100 in torchvision's python format (read with
an unpickler that takes arrays only), MNIST's IDX files, SVHN's MATLAB files, TinyImageNet's layout and any
class-per-folder tree (``folder:PATH[@SIZE]``); offline, with one-line errors naming the files expected."""
from __future__ import annotations

import json
import os
import pickle
import subprocess

import numpy as np
import pytest
import torch
from scipy.io import savemat
from torchvision.io import write_jpeg, write_png

from ddlib import data
from ddlib.config import RunConfig
from ddlib.errors import DDLibError
from ddlib.records import cached_run
from ddlib.teacher import TeacherConfig

from conftest import PYTHON, REPO, clear_ddlib_caches, subprocess_env

RNG = np.random.RandomState(0)


def _images(n, c=3, h=32, w=32):
    return RNG.randint(0, 256, size=(n, c, h, w), dtype=np.uint8)


def _labels(n_per_class, classes):
    return np.repeat(np.arange(classes), n_per_class)


def _pickle(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(obj, f)


def cifar100_root(root, train=4, test=1):
    base = root / "cifar-100-python"
    for split, n in (("train", train), ("test", test)):
        y = _labels(n, 100)
        _pickle(base / split, {"data": _images(len(y)).reshape(len(y), -1), "fine_labels": y.tolist(),
                               "coarse_labels": (y // 5).tolist()})
    _pickle(base / "meta", {"fine_label_names": [f"class{i}" for i in range(100)]})
    return root


def cifar10_root(root):
    base = root / "cifar-10-batches-py"
    for i in range(1, 6):
        y = _labels(1, 10)
        _pickle(base / f"data_batch_{i}", {"data": _images(10).reshape(10, -1), "labels": y.tolist()})
    _pickle(base / "test_batch", {"data": _images(10).reshape(10, -1), "labels": _labels(1, 10).tolist()})
    _pickle(base / "batches.meta", {"label_names": [f"c{i}" for i in range(10)]})
    return root


def _idx(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    path.write_bytes(header + arr.astype(np.uint8).tobytes())


def mnist_root(root, train=6, test=2):
    raw = root / "MNIST" / "raw"
    for split, n in (("train", train), ("t10k", test)):
        y = _labels(n, 10)
        _idx(raw / f"{split}-images-idx3-ubyte", _images(len(y), 1, 28, 28)[:, 0])
        _idx(raw / f"{split}-labels-idx1-ubyte", y)
    return root


def svhn_root(root, train=5, test=2):
    root.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", train), ("test", test)):
        y = _labels(n, 10)
        x = _images(len(y)).transpose(2, 3, 1, 0)                  # MATLAB's [H, W, C, N]
        savemat(root / f"{split}_32x32.mat", {"X": x, "y": np.where(y == 0, 10, y).reshape(-1, 1)})
    return root


def folder_tree(root, sizes=((12, 12), (10, 14)), classes=("cat", "dog", "emu"), per_class=4, test_dir="val"):
    for split, n in (("train", per_class), (test_dir, 2)):
        for c in classes:
            (root / split / c).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                h, w = sizes[i % len(sizes)]
                write_png(torch.from_numpy(_images(1, 3, h, w)[0]), str(root / split / c / f"{i}.png"))
    return root


def tinyimagenet_root(root, wnids=("n01", "n02", "n03"), per_class=3):
    base = root / "tiny-imagenet-200"
    lines = []
    for w in wnids:
        (base / "train" / w / "images").mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            write_jpeg(torch.from_numpy(_images(1, 3, 64, 64)[0]), str(base / "train" / w / "images" / f"{w}_{i}.JPEG"))
    (base / "val" / "images").mkdir(parents=True, exist_ok=True)
    for j, w in enumerate(wnids):
        write_jpeg(torch.from_numpy(_images(1, 3, 64, 64)[0]), str(base / "val" / "images" / f"val_{j}.JPEG"))
        lines.append(f"val_{j}.JPEG\t{w}\t0\t0\t63\t63")
    (base / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture
def root(tmp_path, monkeypatch, fresh_caches):
    monkeypatch.setenv("DDLIB_TORCHVISION_ROOT", str(tmp_path / "root"))
    monkeypatch.setenv("DDLIB_SHARED", str(tmp_path / "no-shared"))
    monkeypatch.delenv("DDLIB_CIFAR10", raising=False)
    return tmp_path / "root"


@pytest.mark.parametrize("name, make, shape, classes, train, test", [
    ("cifar100", cifar100_root, (3, 32, 32), 100, 400, 100),
    ("cifar10", cifar10_root, (3, 32, 32), 10, 50, 10),
    ("mnist", mnist_root, (1, 28, 28), 10, 60, 20),
    ("svhn", svhn_root, (3, 32, 32), 10, 50, 20),
    ("tinyimagenet", tinyimagenet_root, (3, 64, 64), 3, 9, 3),
])
def test_a_torchvision_root_loads(root, name, make, shape, classes, train, test):
    make(root)
    raw = data.load_raw(name)
    assert raw.x_train.dtype == torch.uint8 and tuple(raw.x_train.shape) == (train, *shape)
    assert tuple(raw.x_test.shape) == (test, *shape) and len(raw.classes) == classes
    assert torch.equal(torch.bincount(raw.y_train), torch.full((classes,), train // classes))
    assert str(root) in raw.source


def test_cifar100_keeps_its_images_and_fine_labels(root):
    cifar100_root(root)
    with open(root / "cifar-100-python" / "train", "rb") as f:
        d = pickle.load(f)
    raw = data.load_raw("cifar100")
    assert torch.equal(raw.x_train, torch.from_numpy(d["data"].reshape(-1, 3, 32, 32)))
    assert raw.y_train.tolist() == d["fine_labels"] and raw.classes[7] == "class7"


def test_svhn_label_10_is_the_digit_0(root):
    svhn_root(root)
    assert data.load_raw("svhn").y_train.min() == 0


class _Boom:
    def __reduce__(self):
        return (os.system, ("touch /tmp/ddlib-pwned",))


def test_a_pickle_that_names_code_is_refused_unrun(root, tmp_path):
    cifar100_root(root)
    _pickle(root / "cifar-100-python" / "train", {"data": _Boom(), "fine_labels": [0]})
    with pytest.raises(DDLibError) as e:
        data.load_raw("cifar100")
    assert "refused to load posix.system" in str(e.value) and "\n" not in str(e.value)
    assert not os.path.exists("/tmp/ddlib-pwned")


@pytest.mark.parametrize("name, expected", [("cifar100", "cifar-100-python/train"), ("svhn", "train_32x32.mat"),
                                             ("mnist", "MNIST/raw/train-images-idx3-ubyte"),
                                             ("tinyimagenet", "tiny-imagenet-200/train")])
def test_missing_files_are_one_line_naming_them(root, name, expected):
    root.mkdir()
    with pytest.raises(DDLibError) as e:
        data.load_raw(name)
    assert expected in str(e.value) and "nothing is downloaded" in str(e.value) and "\n" not in str(e.value)


def test_without_a_root_the_error_says_which_variable(monkeypatch, fresh_caches):
    monkeypatch.delenv("DDLIB_TORCHVISION_ROOT", raising=False)
    with pytest.raises(DDLibError, match="DDLIB_TORCHVISION_ROOT is not set"):
        data.load_raw("cifar100")


def test_an_image_folder_tree_at_a_chosen_size(tmp_path, fresh_caches):
    tree = folder_tree(tmp_path / "tree")
    raw = data.load_raw(f"folder:{tree}@16")
    assert raw.classes == ("cat", "dog", "emu") and tuple(raw.x_train.shape) == (12, 3, 16, 16)
    assert tuple(raw.x_test.shape) == (6, 3, 16, 16) and raw.y_test.tolist() == [0, 0, 1, 1, 2, 2]
    with pytest.raises(DDLibError, match="different sizes; give a size"):
        data.load_raw(f"folder:{tree}")
    same = folder_tree(tmp_path / "same", sizes=((8, 8),), test_dir="test")
    assert tuple(data.load_raw(f"folder:{same}").x_train.shape[1:]) == (3, 8, 8)


def test_a_folder_dataset_is_keyed_by_its_files(tmp_path, isolated):
    """[issue 37] A folder's keys (its runs', its teacher's) cover the bytes of its images: replace one image and
    the next run is not a cache hit; the name taken before the change no longer loads. Built-in names are as
    they were."""
    tree = folder_tree(tmp_path / "tree", sizes=((8, 8),))
    asked = dict(dataset=f"folder:{tree}", val_per_class=1, ipc=1, budget=64, batch=16,
                 model="convnet2-w8-instancenorm", teacher=TeacherConfig(model="convnet2-w8-instancenorm", epochs=1))
    cfg = RunConfig(**asked)
    assert cfg.dataset.startswith(f"folder:{tree}#") and RunConfig(**asked) == cfg
    assert (cached_run(cfg)["cache_hit"], cached_run(RunConfig(**asked))["cache_hit"]) == (False, True)
    teacher = RunConfig(**asked, regime="slkd").key_fields()["teacher"]
    image = tree / "train" / "dog" / "2.png"
    write_png(255 - data.decode_image_file(image, 3, "test"), str(image))          # same name, size and shape
    again = RunConfig(**asked)
    assert again.dataset != cfg.dataset and again.key() != cfg.key()
    assert RunConfig(**asked, regime="slkd").key_fields()["teacher"] != teacher
    assert cached_run(again)["cache_hit"] is False
    clear_ddlib_caches()
    with pytest.raises(DDLibError, match="its files have changed since this name was taken"):
        data.load_raw(cfg.dataset)
    assert [RunConfig(dataset=d).dataset for d in ("digits", "fashion_mnist", "cifar10")] == \
        ["digits", "fashion_mnist", "cifar10"]


@pytest.mark.parametrize("name, needle", [("folder:", "write folder:PATH"), ("folder:x@3", "SIZE 4 to 1024"),
                                           ("folder:x@big", "write folder:PATH"), ("imagenet", "unknown dataset"),
                                           ("folder:/nowhere", "expected /nowhere/train/<class>/")])
def test_bad_dataset_names_are_one_line(name, needle, fresh_caches):
    with pytest.raises(DDLibError) as e:
        data.load_raw(name)
    assert needle in str(e.value) and "\n" not in str(e.value)


def _train(env, *args):
    r = subprocess.run([PYTHON, "-m", "ddlib", "train", "--val-per-class", "1", "--ipc", "1", "--budget", "64",
                        "--batch", "16", "--json", *args], cwd=REPO, env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_the_cli_trains_on_cifar100_and_on_a_folder(tmp_path):
    env = subprocess_env(tmp_path / "cache", tmp_path / "results", DDLIB_TORCHVISION_ROOT=tmp_path / "root")
    cifar100_root(tmp_path / "root", train=3)
    r = _train(env, "--dataset", "cifar100")
    assert r["dataset"] == "cifar100" and r["subset_size"] == 100 and 0 <= r["test_acc"] <= 1
    tree = folder_tree(tmp_path / "tree")
    r = _train(env, "--dataset", f"folder:{tree}@16")
    assert r["subset_size"] == 3 and r["data_source"] == str(tree)
