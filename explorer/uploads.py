"""A user's own image made to look like the dataset's: uploads, photos, scans and drawings.

`preprocess_image` turns a photo, scan or drawing of one digit into a model input the way MNIST
itself was made (LeCun et al., 1998): ink bright on black, scaled into a 20x20 box and centred
by its centre of mass in a 28x28 frame. Every unusable input raises ValueError with a
one-sentence message the page can show as it is, in the reader's language (`explorer.i18n`: a cache
that keeps one must take the language as an argument); `read_upload` wraps it for an uploader,
which accepts the file types in UPLOAD_TYPES.
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .i18n import _
from .images import to_uint8


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else _("no message")


ImageSource = Union[bytes, bytearray, str, Path, BinaryIO, Image.Image, np.ndarray]
MAX_PIXELS = 40_000_000  # decompression-bomb guard: a 6,300 x 6,300 photo is already plenty
MAX_SIDE = 20_000
_INK = 0.2  # intensity (after stretching) above which a pixel counts as ink
_MIN_INK_PIXELS = 4  # fewer ink pixels than this is noise, not a drawing
_WORK_SIDE = 1024  # larger images are block-averaged down to 1,024-2,047 pixels a side
_FORMATS = "PNG, JPEG, BMP, GIF, WebP, TIFF"
# File extensions every uploader accepts: what preprocess_image reads, plus what people pick for
# "a photo of a digit" that it cannot read (SVG drawings, iPhone HEIC photos, PDF scans). Letting
# those through means the page shows preprocess_image's sentence on what to do, not a bare icon.
UPLOAD_TYPES = ("png", "jpg", "jpeg", "bmp", "gif", "webp", "tif", "tiff", "svg", "heic", "heif", "pdf")


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
        raise ValueError(_("size must be an integer from 8 to 512, got {size!r}").format(size=size))
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
        raise ValueError(_("the image is {w} x {h} pixels; the limit is {limit:,} pixels and {side:,} per side")
                         .format(w=w, h=h, limit=MAX_PIXELS, side=MAX_SIDE))
    if w < 1 or h < 1:
        raise ValueError(_("the image has no pixels"))
    try:
        if getattr(img, "n_frames", 1) > 1:
            img.seek(0)  # animated GIF / WebP / APNG: the first frame
        img.load()  # Image.open only read the header: decoding now finds truncated files
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise ValueError(_("the image file is truncated or corrupted ({error})").format(error=_first_line(e))) from None
    return img


def _read_bytes(source) -> bytes:
    if isinstance(source, (str, Path)):
        try:
            data = Path(source).expanduser().read_bytes()
        except OSError as e:
            raise ValueError(_("cannot read {path!r}: {error}").format(path=str(source), error=e.strerror or e)) from None
    elif isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif hasattr(source, "read"):
        try:
            if hasattr(source, "seek"):
                source.seek(0)  # an upload may have been read before (e.g. to show it)
            data = source.read()
        except OSError as e:
            raise ValueError(_("cannot read the file: {error}").format(error=e)) from None
        if isinstance(data, str):
            raise ValueError(_("the file was opened in text mode; open it in binary mode ('rb')"))
    else:
        raise ValueError(_("cannot read an image from a {kind}; pass bytes, a path, a file, a PIL image or an array")
                         .format(kind=type(source).__name__))
    if not data:
        raise ValueError(_("the file is empty"))
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
            if found:
                message = _("the image is {pixels:,} pixels; the limit is {limit:,} pixels and {side:,} per side")
            else:
                message = _("the image has too many pixels; the limit is {limit:,} pixels and {side:,} per side")
            pixels = int(found.group(1)) if found else 0
            raise ValueError(message.format(pixels=pixels, limit=MAX_PIXELS, side=MAX_SIDE)) from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            raise ValueError(_unreadable(data)) from None


# Files people do pick when asked for "a photo of a digit", and what to do with each.
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}


def _unreadable(data: bytes) -> str:
    """Why `data` cannot be read as an image, naming the format when it is a common non-pixel one."""
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()  # after a UTF-8 BOM or white space
    if head.startswith(b"<svg") or (head.startswith((b"<?xml", b"<!doctype svg", b"<!--")) and b"<svg" in head):
        return _("SVG is a vector drawing, not pixels: open it in a browser or drawing program and save it as PNG")
    if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        return _("HEIC/HEIF photos (an iPhone's default) cannot be read here: export or share it as JPEG or PNG")
    if data.startswith(b"%PDF"):
        return _("this is a PDF document, not an image: export the page as PNG or JPEG")
    return _("not an image PIL can read (supported: {formats})").format(formats=_FORMATS)


def _array_to_image(arr: np.ndarray) -> Image.Image:
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.size == 0 or not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (3, 4))):
        raise ValueError(_("expected an image array of shape (H, W), (H, W, 3) or (H, W, 4), got {shape}")
                         .format(shape=arr.shape))
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    elif arr.dtype != np.uint8:
        if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)) or not np.isfinite(arr).all():
            raise ValueError(_("expected a uint8 image array, got dtype {dtype}").format(dtype=arr.dtype))
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
        raise ValueError(_("images in colour mode {mode} are not supported; save it as PNG or JPEG")
                         .format(mode=img.mode)) from None
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
        if noise > 0.25:  # the "paper" itself varies as much as ink would: noise or texture, not an empty page
            raise ValueError(_("no digit found: the image is noise or texture all over, with no plain background "
                               "around the ink (write or draw the digit on plain paper)"))
        raise ValueError(_("no ink found: the image looks blank"))
    ink /= ink.max()  # pencil on paper is low contrast: stretch it
    if np.count_nonzero(ink > _INK) < _MIN_INK_PIXELS:
        raise ValueError(_("no ink found: the image looks blank"))
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


@dataclass
class Upload:
    """A user's file read for a model: `x` (1, size, size) and a small RGB `preview` (H, W, 3) of
    the file as sent, or, when it cannot be used, `problem`: one sentence saying why and what to do."""

    x: torch.Tensor | None = None
    preview: np.ndarray | None = None
    problem: str | None = None


def read_upload(data: bytes, size: int, preview: bool = True) -> Upload:
    """An uploaded file's bytes -> Upload; every page shows `problem` the same way (never raises ValueError)."""
    try:
        return Upload(preprocess_image(data, size=size), preview_image(data) if preview else None)
    except ValueError as e:
        return Upload(problem=str(e))
