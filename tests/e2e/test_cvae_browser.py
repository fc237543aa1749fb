"""The conditional model in a real browser: one style for every digit, redrawn while dragging.

Runs on the shipped `models/mnist-cvae-z2`. The "same style" row is drawn by the live decoder's
JavaScript from the per-label biases in the decoder spec; the proof it is live is that its
pixels change between mouse.down and mouse.up. Picking another digit redraws the main image
without new weights (the model id stays the same).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.data_root import require_shipped_model

from tests.e2e.test_decoder_browser import PIXELS_JS, drag_slider_left, open_decoder

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "mnist-cvae-z2"


@pytest.fixture(scope="module", autouse=True)
def shipped_model():
    return require_shipped_model(MODEL)


def test_dragging_redraws_all_ten_digits_and_the_digit_picker_switches_the_image(page, app_server):
    image, errors = open_decoder(page, app_server.url, "mnist-cvae-z2")
    row = page.locator("canvas[data-testid='vld-row']")
    row.wait_for(state="visible")
    page.wait_for_function("c => Number(c.getAttribute('data-frame')) > 0", arg=row.element_handle())
    box = row.bounding_box()
    assert box["width"] > 8 * box["height"]  # ten digits side by side
    start_row = row.evaluate(PIXELS_JS)
    assert 5 < start_row["mean"] < 250

    slider = page.locator("input.vld-slider[data-dim='1']")
    drag_slider_left(page, slider)
    during = row.evaluate(PIXELS_JS)
    assert during["hash"] != start_row["hash"] and during["frame"] > start_row["frame"]  # redrawn before mouse.up
    page.mouse.up()

    before = image.evaluate(PIXELS_JS)
    page.get_by_test_id("stMain").get_by_test_id("stButtonGroup").first.get_by_text("7", exact=True).click()
    page.wait_for_function("([c, h]) => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
                           " let x = 0; for (let i = 0; i < d.length; i += 4) x = (Math.imul(x, 31) + d[i]) >>> 0;"
                           " return x !== h; }", arg=[image.element_handle(), before["hash"]])
    assert page.locator(".vld-row-current").inner_text() == "7"
    assert not errors, errors
