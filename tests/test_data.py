"""Datasets: the real files, the validation split, class-balanced sampling, and one-line errors for bad data."""
import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from ddlib import data
from ddlib.errors import DDLibError

from conftest import REPO

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_NAMES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                 "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
HAVE_FASHION = all((FASHION_DIR / n).exists() for n in FASHION_NAMES)
CIFAR_NPZ = REPO.parent / "shared" / "data" / "cifar10" / "cifar10-jpeg.npz"
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

needs_fashion = pytest.mark.skipif(not HAVE_FASHION, reason=f"Fashion-MNIST IDX files not in {FASHION_DIR} "
                                   "(apt-get install dataset-fashion-mnist)")
needs_cifar = pytest.mark.skipif(not CIFAR_NPZ.exists(), reason=f"{CIFAR_NPZ} is absent")


def one_line_error(excinfo, *needles):
    msg = str(excinfo.value)
    assert "\n" not in msg, msg
    for n in needles:
        assert n in msg, f"{n!r} not in {msg!r}"
    return msg


# --- the real datasets ---------------------------------------------------------------------------------------

@needs_fashion
def test_fashion_mnist_from_the_debian_files(fresh_caches, monkeypatch):
    monkeypatch.delenv("DDLIB_FASHION_MNIST", raising=False)
    s = data.load("fashion_mnist", val_per_class=500)
    assert s.source == str(FASHION_DIR)
    assert (len(s.y_train), len(s.y_val), len(s.y_test)) == (55_000, 5_000, 10_000)
    assert s.shape == (1, 28, 28) and s.x_train.dtype == torch.uint8 and s.x_test.dtype == torch.uint8
    assert list(s.classes) == FASHION_CLASSES and s.num_classes == 10
    assert torch.bincount(s.y_train).tolist() == [5_500] * 10
    assert torch.bincount(s.y_test).tolist() == [1_000] * 10
    raw = data.load_raw("fashion_mnist")
    # the published order of the files: the first training labels are ankle boot, T-shirt, T-shirt, dress, ...
    assert raw.y_train[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    assert raw.y_test[:10].tolist() == [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]
    assert 0 < float(s.x_train[:1000].float().mean()) < 255


@needs_cifar
def test_cifar10_from_the_shared_npz(fresh_caches, monkeypatch):
    monkeypatch.delenv("DDLIB_CIFAR10", raising=False)
    monkeypatch.setenv("DDLIB_SHARED", str(CIFAR_NPZ.parents[2]))
    s = data.load("cifar10", val_per_class=500)
    assert Path(s.source) == CIFAR_NPZ
    assert (len(s.y_train), len(s.y_val), len(s.y_test)) == (45_000, 5_000, 10_000)
    assert s.shape == (3, 32, 32) and s.x_train.dtype == torch.uint8
    assert list(s.classes) == CIFAR_CLASSES
    assert torch.bincount(s.y_val).tolist() == [500] * 10 and torch.bincount(s.y_test).tolist() == [1_000] * 10
    assert len(s.mean) == len(s.std) == 3 and all(0.3 < m < 0.6 for m in s.mean)


def test_digits():
    s = data.load("digits", val_per_class=20)
    assert (len(s.y_train), len(s.y_val), len(s.y_test)) == (1_097, 200, 500)
    assert s.shape == (1, 8, 8) and s.x_train.dtype == torch.uint8 and int(s.x_train.max()) == 255
    assert list(s.classes) == [str(i) for i in range(10)]
    assert torch.bincount(s.y_test).tolist() == [50] * 10


# --- the validation split, on a dataset whose images carry their own index ----------------------------------

SIZES = [40, 33, 57]


def _tagged():
    """A fake dataset: image i holds i in its pixels (base 256), so every split can be traced back."""
    y = torch.cat([torch.full((n,), c) for c, n in enumerate(SIZES)])
    y = y[torch.randperm(len(y), generator=torch.Generator().manual_seed(0))]
    ids = torch.arange(len(y))
    x = torch.stack([ids % 256, ids // 256, ids % 7, ids % 3], 1).to(torch.uint8).view(-1, 1, 2, 2)
    return data.Raw(x, y, x[:5], y[:5], ("a", "b", "c"), "tagged")


def _ids(x):
    return (x[:, 0, 0, 0].long() + 256 * x[:, 0, 0, 1].long()).tolist()


@pytest.fixture
def tagged(monkeypatch, fresh_caches):
    monkeypatch.setitem(data.LOADERS, "tagged", _tagged)
    return _tagged()


def test_validation_split_is_disjoint_balanced_and_seeded(tagged):
    s = data.load("tagged", val_per_class=7, split_seed=0)
    train_ids, val_ids = _ids(s.x_train), _ids(s.x_val)
    assert not set(train_ids) & set(val_ids)                                 # disjoint
    assert sorted(train_ids + val_ids) == list(range(sum(SIZES)))            # together, the training set
    assert torch.bincount(s.y_val).tolist() == [7, 7, 7]                     # class-balanced
    assert torch.equal(s.y_val, tagged.y_train[val_ids]) and torch.equal(s.y_train, tagged.y_train[train_ids])
    assert torch.equal(s.x_test, tagged.x_test)                              # the test set is untouched
    data.load.cache_clear()
    again = data.load("tagged", val_per_class=7, split_seed=0)
    assert _ids(again.x_val) == val_ids                                      # same split_seed, same split
    other = data.load("tagged", val_per_class=7, split_seed=1)
    assert _ids(other.x_val) != val_ids and torch.bincount(other.y_val).tolist() == [7, 7, 7]
    # the normalisation constants come from the training split only
    xf = s.x_train.float() / 255
    assert s.mean == pytest.approx(tuple(xf.mean(dim=(0, 2, 3)).tolist()))


def test_val_per_class_must_be_positive(tagged):
    with pytest.raises(DDLibError) as e:
        data.load("tagged", val_per_class=0)
    one_line_error(e)


def test_per_class_indices_seeded_and_balanced():
    y = _tagged().y_train
    a = data.per_class_indices(y, 5, seed=3)
    assert torch.bincount(y[a]).tolist() == [5, 5, 5]
    assert torch.equal(a, a.unique())                                        # sorted, no repeats
    assert torch.equal(a, data.per_class_indices(y, 5, seed=3))
    assert not torch.equal(a, data.per_class_indices(y, 5, seed=4))
    full = data.per_class_indices(y, min(SIZES), seed=0)
    assert torch.bincount(y[full]).tolist() == [min(SIZES)] * 3
    assert data.per_class_indices(y, np.int64(2), seed=0).tolist() == data.per_class_indices(y, 2, seed=0).tolist()


@pytest.mark.parametrize("ipc,needle", [(0, "positive integer"), (-1, "positive integer"), (2.0, "positive"),
                                        (True, "positive"), ("5", "positive"),
                                        (min(SIZES) + 1, "larger than the smallest class (33 images)")])
def test_bad_ipc(ipc, needle):
    with pytest.raises(DDLibError) as e:
        data.per_class_indices(_tagged().y_train, ipc, seed=0)
    one_line_error(e, needle)


def test_unknown_dataset():
    with pytest.raises(DDLibError) as e:
        data.load("imagenet", val_per_class=20)
    one_line_error(e, "unknown dataset 'imagenet'", "fashion_mnist", "cifar10", "cifar100", "mnist", "svhn",
                   "tinyimagenet", "digits", "folder:PATH[@SIZE]")


def test_normalize():
    s = data.load("digits", val_per_class=20)
    x = data.normalize(s.x_train, s)
    assert x.dtype == torch.float32
    assert float(x.mean()) == pytest.approx(0.0, abs=1e-4) and float(x.std()) == pytest.approx(1.0, abs=1e-3)
    assert torch.allclose(data.normalize(s.x_val.float() / 255, s), data.normalize(s.x_val, s))
    for bad in (float("nan"), float("inf")):
        xf = s.x_val[:4].float() / 255
        xf[2, 0, 3, 3] = bad
        with pytest.raises(DDLibError) as e:
            data.normalize(xf, s)
        one_line_error(e, "NaN")


# --- bad and missing files -----------------------------------------------------------------------------------

def _idx(dims, payload: bytes) -> bytes:
    header = bytes([0, 0, 0x08, len(dims)]) + b"".join(int(d).to_bytes(4, "big") for d in dims)
    return header + payload


def _write_fake_fashion(folder: Path, n_train=6, n_test=4, gz=True, **override):
    """Four small, valid IDX files (optionally one of them replaced by ``override[name] = bytes``)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    files = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        files[f"{split}-images-idx3-ubyte"] = _idx([n, 28, 28], rng.integers(0, 256, n * 784, dtype=np.uint8)
                                                   .tobytes())
        files[f"{split}-labels-idx1-ubyte"] = _idx([n], (np.arange(n) % 10).astype(np.uint8).tobytes())
    files.update(override)
    for name, blob in files.items():
        if gz:
            with gzip.open(folder / f"{name}.gz", "wb") as f:
                f.write(blob)
        else:
            (folder / name).write_bytes(blob)
    return files


@pytest.mark.parametrize("gz", [True, False])
def test_fashion_env_folder_is_used_first(tmp_path, monkeypatch, fresh_caches, gz):
    files = _write_fake_fashion(tmp_path / "fm", gz=gz)
    monkeypatch.setenv("DDLIB_FASHION_MNIST", str(tmp_path / "fm"))
    raw = data.load_raw("fashion_mnist")
    assert raw.source == str(tmp_path / "fm")
    assert raw.x_train.shape == (6, 1, 28, 28) and raw.y_test.tolist() == [0, 1, 2, 3]
    assert raw.x_train.flatten().numpy().tobytes() == files["train-images-idx3-ubyte"][16:]


def _fashion_error(folder, monkeypatch):
    monkeypatch.setenv("DDLIB_FASHION_MNIST", str(folder))
    with pytest.raises(DDLibError) as e:
        data.load("fashion_mnist", val_per_class=1)
    return one_line_error(e, "corrupt Fashion-MNIST", "apt-get install dataset-fashion-mnist")


@needs_fashion
def test_truncated_fashion_mnist_files_raise(tmp_path, monkeypatch, fresh_caches):
    folder = tmp_path / "truncated"
    folder.mkdir()
    for name in FASHION_NAMES:
        blob = (FASHION_DIR / name).read_bytes()
        (folder / name).write_bytes(blob[: len(blob) // 3])      # a download cut short
    msg = _fashion_error(folder, monkeypatch)
    assert str(folder) in msg


@pytest.mark.parametrize("name,blob,needle", [
    ("train-images-idx3-ubyte", _idx([6, 28, 28], bytes(5 * 784)), "bytes of data for shape"),   # wrong size
    ("t10k-labels-idx1-ubyte", _idx([4], bytes(3)), "bytes of data"),
    ("train-images-idx3-ubyte", b"\x00\x00\x09\x03" + bytes(20), "bad IDX magic"),
    ("train-images-idx3-ubyte", b"", "bad IDX magic"),
    ("train-labels-idx1-ubyte", _idx([6], bytes([0, 1, 2, 3, 4, 10])), "train split"),   # label 10
    ("t10k-labels-idx1-ubyte", _idx([3], bytes([0, 1, 2])), "test split"),              # 4 images, 3 labels
])
def test_corrupt_fashion_idx_raises(tmp_path, monkeypatch, fresh_caches, name, blob, needle):
    _write_fake_fashion(tmp_path / "fm", **{name: blob})
    msg = _fashion_error(tmp_path / "fm", monkeypatch)
    assert needle in msg


def test_fashion_file_that_is_not_gzip_raises(tmp_path, monkeypatch, fresh_caches):
    _write_fake_fashion(tmp_path / "fm")
    (tmp_path / "fm" / "t10k-images-idx3-ubyte.gz").write_bytes(b"this is not a gzip file at all")
    _fashion_error(tmp_path / "fm", monkeypatch)


def test_missing_fashion_mnist_says_how_to_get_it(tmp_path, monkeypatch, fresh_caches):
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("DDLIB_FASHION_MNIST", str(tmp_path / "empty"))
    monkeypatch.setattr(data, "FASHION_DEBIAN", tmp_path / "no-debian-package")
    monkeypatch.delenv("DDLIB_TORCHVISION_ROOT", raising=False)
    with pytest.raises(DDLibError) as e:
        data.load("fashion_mnist", val_per_class=1)
    one_line_error(e, "Fashion-MNIST not found", str(tmp_path / "empty"),
                   "apt-get install dataset-fashion-mnist", "DDLIB_FASHION_MNIST")


def _cifar_npz(path: Path, n_train=20, n_test=10, **override):
    from torchvision.io import encode_jpeg
    g = torch.Generator().manual_seed(0)
    arr = {}
    for split, n in (("train", n_train), ("test", n_test)):
        jpegs = [encode_jpeg(torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8, generator=g)).numpy()
                 for _ in range(n)]
        arr[f"{split}_jpeg"] = np.concatenate(jpegs)
        arr[f"{split}_offsets"] = np.cumsum([0] + [len(j) for j in jpegs]).astype(np.int64)
        arr[f"{split}_labels"] = (np.arange(n) % 10).astype(np.uint8)
    arr["classes"] = np.array(CIFAR_CLASSES)
    arr.update(override)
    arr = {k: v for k, v in arr.items() if v is not None}
    np.savez(path, **arr)
    return path


def test_cifar_env_file_is_used_first(tmp_path, monkeypatch, fresh_caches):
    path = _cifar_npz(tmp_path / "small.npz")
    monkeypatch.setenv("DDLIB_CIFAR10", str(path))
    raw = data.load_raw("cifar10")
    assert raw.source == str(path) and raw.x_train.shape == (20, 3, 32, 32) and raw.x_test.shape == (10, 3, 32, 32)
    assert list(raw.classes) == CIFAR_CLASSES and raw.y_train.tolist() == [i % 10 for i in range(20)]


def _cifar_error(path, monkeypatch):
    monkeypatch.setenv("DDLIB_CIFAR10", str(path))
    with pytest.raises(DDLibError) as e:
        data.load("cifar10", val_per_class=1)
    return one_line_error(e, "corrupt CIFAR-10 file", str(path), "DDLIB_CIFAR10")


def test_garbage_cifar_npz_raises(tmp_path, monkeypatch, fresh_caches):
    path = tmp_path / "cifar10-jpeg.npz"
    path.write_bytes(b"garbage, not an npz" * 100)
    _cifar_error(path, monkeypatch)


def test_cifar_npz_with_bad_contents_raises(tmp_path, monkeypatch, fresh_caches):
    _cifar_error(_cifar_npz(tmp_path / "nokey.npz", classes=None), monkeypatch)                 # missing array
    _cifar_error(_cifar_npz(tmp_path / "labels.npz", train_labels=np.zeros(3, np.uint8)), monkeypatch)
    bad = _cifar_npz(tmp_path / "ok.npz")
    with np.load(bad) as z:
        arr = {k: z[k] for k in z.files}
    arr["test_jpeg"] = np.full_like(arr["test_jpeg"], 7)                                          # not JPEG data
    np.savez(tmp_path / "jpeg.npz", **arr)
    _cifar_error(tmp_path / "jpeg.npz", monkeypatch)


def test_truncated_cifar_npz_raises(tmp_path, monkeypatch, fresh_caches):
    """A copy cut short (a zip without its central directory), as an interrupted download or copy leaves it."""
    full = _cifar_npz(tmp_path / "full.npz").read_bytes()
    path = tmp_path / "cifar10-jpeg.npz"
    path.write_bytes(full[: len(full) // 2])
    _cifar_error(path, monkeypatch)


def test_missing_cifar_says_how_to_get_it(tmp_path, monkeypatch, fresh_caches):
    monkeypatch.setenv("DDLIB_SHARED", str(tmp_path / "no-shared"))
    monkeypatch.setenv("DDLIB_CIFAR10", str(tmp_path / "nowhere" / "cifar10-jpeg.npz"))
    monkeypatch.delenv("DDLIB_TORCHVISION_ROOT", raising=False)
    with pytest.raises(DDLibError) as e:
        data.load("cifar10", val_per_class=1)
    one_line_error(e, "CIFAR-10 not found", str(tmp_path / "no-shared" / "data" / "cifar10" / "cifar10-jpeg.npz"),
                   "put cifar10-jpeg.npz in shared/data/cifar10/", "DDLIB_CIFAR10", "DDLIB_TORCHVISION_ROOT")


def test_channel_statistics_are_exact_and_the_same_on_any_thread_count():
    x = torch.randint(0, 256, (500, 3, 8, 8), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    before, got = torch.get_num_threads(), []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            got.append(data.channel_stats(x))
    finally:
        torch.set_num_threads(before)
    assert got[0] == got[1]
    xd = x.double() / 255
    assert got[0][0] == pytest.approx(xd.mean(dim=(0, 2, 3)).tolist(), rel=1e-12)
    assert got[0][1] == pytest.approx(xd.std(dim=(0, 2, 3)).tolist(), rel=1e-12)
