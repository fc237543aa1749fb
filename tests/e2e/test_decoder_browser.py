"""The live decoder in a real browser: dragging a slider or the latent pad redraws the image while dragging.

Runs `streamlit run app.py` and headless Chromium (fixtures in conftest.py) on the shipped
`models/mnist-z2`, the app's default model. The proof of live decoding is that the canvas
pixels change between mouse.down and mouse.up, before any server round trip could finish;
after mouse.up the page's code readout (rendered by Python) shows the new z.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.data_root import require_shipped_model

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "mnist-z2"

# A cheap fingerprint of a canvas: a hash of its pixels and their mean brightness.
PIXELS_JS = """c => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let hash = 0, sum = 0;
    for (let i = 0; i < d.length; i += 4) { hash = (Math.imul(hash, 31) + d[i]) >>> 0; sum += d[i]; }
    return {hash, mean: sum / (d.length / 4), frame: Number(c.getAttribute('data-frame') || 0)};
}"""


@pytest.fixture(scope="module", autouse=True)
def shipped_model():
    return require_shipped_model(MODEL)


def open_decoder(page, url: str):
    page_errors: list[str] = []
    page.on("pageerror", lambda e: page_errors.append(str(e)))
    page.goto(url)
    # Land on the home page first: it runs app.py, whose st.navigation owns the sidebar links.
    page.get_by_text("What is a VAE?").first.wait_for()
    picker = page.locator("section[data-testid='stSidebar'] [data-testid='stSelectbox'] input[role='combobox']")
    picker.wait_for()
    assert picker.input_value().startswith("mnist-z2"), picker.input_value()
    page.get_by_role("link", name="Decoder", exact=True).click()
    image = page.locator("canvas[data-testid='vld-image']")
    image.wait_for(state="visible")
    page.wait_for_function("c => Number(c.getAttribute('data-frame')) > 0", arg=image.element_handle())
    return image, page_errors


def code_readout(page) -> str:
    return page.locator("[data-testid='stCode']").first.inner_text()


def test_slider_and_pad_drags_redraw_the_image_while_dragging(page, app_server):
    image, page_errors = open_decoder(page, app_server.url)
    start = image.evaluate(PIXELS_JS)
    assert 5 < start["mean"] < 250  # a drawn digit, not an empty canvas
    assert "z = [+0.00, +0.00]" in code_readout(page)

    # --- drag z0's slider thumb to the right ---
    slider = page.locator("input.vld-slider[data-dim='0']")
    box = slider.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] / 2, y)  # value 0 is the middle of -3..3
    page.mouse.down()
    for i in range(1, 9):
        page.mouse.move(box["x"] + box["width"] * (0.5 + 0.4 * i / 8), y)
        page.wait_for_timeout(30)
    page.wait_for_timeout(100)
    during = image.evaluate(PIXELS_JS)
    value = float(slider.input_value())
    assert value > 1.5
    assert during["hash"] != start["hash"] and during["frame"] > start["frame"] + 1  # redrawn before mouse.up
    assert "z = [+0.00, +0.00]" in code_readout(page)  # ... and the server has not been told yet
    page.mouse.up()
    page.wait_for_function(
        """() => [...document.querySelectorAll("[data-testid='stCode']")].some(e => e.innerText.includes('z = [+'))
                 && ![...document.querySelectorAll("[data-testid='stCode']")].some(e => e.innerText.includes('z = [+0.00, +0.00]'))""")
    assert re.search(rf"z = \[\+{value:.2f}, \+0\.00\]", code_readout(page)), code_readout(page)

    # --- drag on the latent pad: towards the upper left ---
    pad = page.locator("canvas[data-testid='vld-pad']")
    pad.scroll_into_view_if_needed()
    pbox = pad.bounding_box()
    before = image.evaluate(PIXELS_JS)
    page.mouse.move(pbox["x"] + pbox["width"] * 0.5, pbox["y"] + pbox["height"] * 0.5)
    page.mouse.down()
    for i in range(1, 11):
        t = i / 10
        page.mouse.move(pbox["x"] + pbox["width"] * (0.5 - 0.3 * t), pbox["y"] + pbox["height"] * (0.5 - 0.3 * t))
        page.wait_for_timeout(30)
    page.wait_for_timeout(100)
    during_pad = image.evaluate(PIXELS_JS)
    z0 = float(page.locator("input.vld-slider[data-dim='0']").input_value())
    z1 = float(page.locator("input.vld-slider[data-dim='1']").input_value())
    assert during_pad["hash"] != before["hash"]  # live redraw while the pointer is down
    assert z0 == pytest.approx(-0.6 * 3.5, abs=0.15) and z1 == pytest.approx(0.6 * 3.5, abs=0.15)  # sliders follow the pad
    page.mouse.up()
    page.wait_for_function(
        """() => [...document.querySelectorAll("[data-testid='stCode']")].some(e => e.innerText.includes('z = [-'))""")
    assert re.search(r"z = \[-2\.\d\d, \+2\.\d\d\]", code_readout(page)), code_readout(page)
    assert not page_errors, page_errors
