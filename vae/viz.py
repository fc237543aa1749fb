"""Turning image tensors into things a screen shows: uint8 arrays, tiled grids, PNG bytes.

Pure NumPy/PIL so the app's pages only lay out what these return.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import torch


def to_uint8(images: torch.Tensor | np.ndarray) -> np.ndarray:
    """Images (N, 1, H, W) or (1, H, W) or (H, W) in [0, 1] -> uint8 (N, H, W) / (H, W)."""
    arr = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if arr.ndim == 4:
        arr = arr[:, 0]
    elif arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    return (np.clip(arr, 0, 1) * 255 + 0.5).astype(np.uint8)


def tile(images: torch.Tensor | np.ndarray, nrow: int, pad: int = 2, pad_value: int = 40) -> np.ndarray:
    """Tile N images (N, 1, H, W) in [0, 1] into one uint8 grid with `nrow` images per row."""
    imgs = to_uint8(images)
    if imgs.ndim == 2:
        imgs = imgs[None]
    n, h, w = imgs.shape
    ncol = max(1, nrow)
    nrows = -(-n // ncol)
    grid = np.full((nrows * (h + pad) + pad, ncol * (w + pad) + pad), pad_value, dtype=np.uint8)
    for i, img in enumerate(imgs):
        r, c = divmod(i, ncol)
        grid[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + c * (w + pad) : pad + c * (w + pad) + w] = img
    return grid


def upscale(img: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement, so 28x28 pixels stay crisp on a projector."""
    return np.kron(img, np.ones((factor, factor), dtype=img.dtype)) if factor > 1 else img


def png_bytes(img: np.ndarray) -> bytes:
    """uint8 greyscale (H, W) -> PNG file bytes."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


def png_data_url(img: np.ndarray) -> str:
    """uint8 greyscale (H, W) -> a `data:image/png;base64,...` URL, for an <img> that needs no server file."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(img)).decode("ascii")
