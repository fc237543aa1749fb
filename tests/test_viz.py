"""Image helpers used by the pages."""

import io

import numpy as np
import torch
from PIL import Image

from explorer.images import png_bytes, png_data_url, tile, to_uint8, upscale


def test_to_uint8_shapes_and_rounding():
    x = torch.tensor([[[[0.0, 0.5], [1.0, 2.0]]]])  # (1, 1, 2, 2), 2.0 is clipped
    assert to_uint8(x).tolist() == [[[0, 128], [255, 255]]]
    assert to_uint8(x[0]).shape == (2, 2)


def test_tile_places_images_in_rows_with_padding():
    imgs = torch.stack([torch.full((1, 2, 2), v) for v in (0.0, 1.0, 0.0)])
    grid = tile(imgs, nrow=2, pad=1, pad_value=7)
    assert grid.shape == (2 * 3 + 1, 2 * 3 + 1)
    assert (grid[1:3, 4:6] == 255).all() and (grid[1:3, 1:3] == 0).all() and (grid[4:6, 4:6] == 7).all()


def test_upscale_and_png_round_trip():
    img = np.array([[0, 255], [128, 64]], dtype=np.uint8)
    big = upscale(img, 3)
    assert big.shape == (6, 6) and (big[:3, :3] == 0).all() and (big[3:, 3:] == 64).all()
    back = np.asarray(Image.open(io.BytesIO(png_bytes(big))))
    assert np.array_equal(back, big)


def test_png_data_url_holds_the_same_png():
    import base64

    img = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    url = png_data_url(img)
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == png_bytes(img)
