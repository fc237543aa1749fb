"""Turning image tensors into things a screen shows: uint8 arrays, tiled grids, PNG bytes, marked cells.

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


# --- manifold grid marking ----------------------------------------------------------------------

def nearest_cell(values: torch.Tensor | np.ndarray, point: tuple[float, float]) -> tuple[int, int]:
    """(row, col) of the cell of a `vae.latent.manifold_codes` grid nearest to the 2-D `point`.

    `values` are the grid's ascending coordinates (`grid_values`); rows run from the highest y
    at the top, columns from the lowest x at the left.
    """
    v = np.asarray(values, dtype=np.float64)
    col = int(np.argmin(np.abs(v - point[0])))
    row = len(v) - 1 - int(np.argmin(np.abs(v - point[1])))
    return row, col


def mark_cell(grid: np.ndarray, row: int, col: int, cell: int, pad: int = 2, scale: int = 1,
              color: tuple[int, int, int] = (230, 40, 40), inset: int = 0) -> np.ndarray:
    """RGB copy (H, W, 3) of a greyscale `tile` grid with a box drawn around one cell.

    `cell` and `pad` are the tile's image size and padding before an optional nearest-neighbour
    `scale`. The box covers the padding around the cell plus `inset` pixels of the cell's own
    border (digits have an empty margin, so a thicker box still hides nothing).
    """
    rgb = np.repeat(np.asarray(grid, dtype=np.uint8)[..., None], 3, axis=2)
    step = (cell + pad) * scale
    top, left = row * step, col * step  # the padding strip just above / left of the cell
    size = (cell + 2 * pad) * scale
    bottom, right = min(top + size, rgb.shape[0]), min(left + size, rgb.shape[1])
    w = max(1, (pad + inset) * scale)
    col_rgb = np.array(color, dtype=np.uint8)
    rgb[top:top + w, left:right] = col_rgb
    rgb[bottom - w:bottom, left:right] = col_rgb
    rgb[top:bottom, left:left + w] = col_rgb
    rgb[top:bottom, right - w:right] = col_rgb
    return rgb
