"""The live decoder in a real browser: dragging a slider or the latent pad redraws the image while dragging.

Runs `streamlit run app.py` and headless Chromium (fixtures in conftest.py) on the shipped
`models/mnist-z2`, the app's default model. The proof of live decoding is that the canvas
pixels change between mouse.down and mouse.up, before any server round trip could finish;
after mouse.up the page's code readout (rendered by Python) shows the new z.
Issue 13: the pad's pixels show every digit's colour, the codes under the marker included; the
dimensions are z₁, z₂; on `models/mnist-mog-z2` the sliders and the pad reach its far codes.
Issue 15: `models/mnist-conv-z2`, the convolutional decoder, redraws live the same way, and the
image the browser draws is the one PyTorch decodes.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

import vae
from explorer.images import to_uint8
from explorer.registry import showable_split
from tests.data_root import require_shipped_model

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "mnist-z2"
MOG = ROOT / "models" / "mnist-mog-z2"
CONV = ROOT / "models" / "mnist-conv-z2"

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


def open_decoder(page, url: str, model: str | None = None):
    """The Decoder page on the default model (checked) or on `model` (picked first); returns the live
    component's image canvas, once drawn, and the list the page's JavaScript errors go to."""
    page_errors: list[str] = []
    page.on("pageerror", lambda e: page_errors.append(str(e)))
    page.goto(url)
    # Land on the home page first: it runs app.py, whose st.navigation owns the sidebar links.
    page.get_by_text("What is a VAE?").first.wait_for()
    if model is None:
        picker = page.locator("section[data-testid='stSidebar'] [data-testid='stSelectbox'] input[role='combobox']")
        picker.wait_for()
        assert picker.input_value().startswith("mnist-z2"), picker.input_value()
    else:
        pick_model(page, model)
    page.get_by_role("link", name="Decoder", exact=True).click()
    image = page.locator("canvas[data-testid='vld-image']")
    image.wait_for(state="visible")
    page.wait_for_function("c => Number(c.getAttribute('data-frame')) > 0", arg=image.element_handle())
    return image, page_errors


def pick_model(page, name: str) -> None:
    picker = page.locator("section[data-testid='stSidebar'] [data-testid='stSelectbox'] input[role='combobox']")
    picker.wait_for()
    picker.click()
    page.keyboard.type(name)  # the dropdown renders only the first few options: filter to this one
    page.get_by_role("option", name=f"{name} ·").first.click()
    page.wait_for_function(
        "n => document.querySelector(\"section[data-testid='stSidebar'] input[role='combobox']\").value.startsWith(n)",
        arg=name)


def drag_slider_left(page, slider) -> None:
    """Press on the middle of `slider`'s track and move to 10 % of it in eight steps, the button held."""
    box = slider.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] / 2, y)
    page.mouse.down()
    for i in range(1, 9):
        page.mouse.move(box["x"] + box["width"] * (0.5 - 0.4 * i / 8), y)
        page.wait_for_timeout(30)
    page.wait_for_timeout(100)


def code_readout(page) -> str:
    return page.locator("[data-testid='stCode']").first.inner_text()


def test_slider_and_pad_drags_redraw_the_image_while_dragging(page, app_server):
    image, page_errors = open_decoder(page, app_server.url)
    start = image.evaluate(PIXELS_JS)
    assert 5 < start["mean"] < 250  # a drawn digit, not an empty canvas
    assert "z = [+0.00, +0.00]" in code_readout(page)

    # --- drag z₁'s slider thumb to the right ---
    slider = page.locator("input.vld-slider[data-dim='0']")
    box = slider.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] / 2, y)  # value 0 is the middle of -reach..reach
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
    extent = float(pad.get_attribute("data-extent"))  # the pad shows [-extent, extent] on both axes
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
    assert z0 == pytest.approx(-0.6 * extent, abs=0.15) and z1 == pytest.approx(0.6 * extent, abs=0.15)  # sliders follow
    page.mouse.up()
    page.wait_for_function(
        """() => [...document.querySelectorAll("[data-testid='stCode']")].some(e => e.innerText.includes('z = [-'))""")
    assert re.search(r"z = \[-2\.\d\d, \+2\.\d\d\]", code_readout(page)), code_readout(page)
    assert not page_errors, page_errors


# Per class: the share of its dots whose pad pixel shows its own colour (the nearest of 1 to 4
# stacked dots of each class over the background, the background or the marker's colours); and over
# the dots inside the marker's ring (off its centre dot), how many show some class's colour and how
# many their own.
VISIBLE_JS = """pad => {
    const { points, colours, axes, dotAlpha, marker, markerRadius } = pad.vldDrawn();
    const W = pad.width, H = pad.height, dpr = W / pad.clientWidth, e = axes.pad_extent;
    const px = pad.getContext('2d').getImageData(0, 0, W, H).data;
    const at = (x, y) => { const o = 4 * (Math.floor(y) * W + Math.floor(x)); return [px[o], px[o + 1], px[o + 2]]; };
    const bg = at(W - 3, 3);
    const refs = [[-1, bg], [-3, [232, 38, 42]], [-3, [255, 92, 92]], [-3, [255, 255, 255]]];  // -3: a marker's reds, white
    colours.forEach((c, k) => {
        const rgb = [1, 3, 5].map(i => parseInt(c.slice(i, i + 2), 16));
        for (let n = 1; n <= 4; n++) {
            const f = 1 - Math.pow(1 - dotAlpha, n);
            refs.push([k, rgb.map((v, j) => bg[j] + f * (v - bg[j]))]);
        }
    });
    const nearest = p => refs.reduce((best, [k, r]) => {
        const d = (p[0] - r[0]) ** 2 + (p[1] - r[1]) ** 2 + (p[2] - r[2]) ** 2;
        return d < best[1] ? [k, d] : best;
    }, [-2, Infinity])[0];
    const own = colours.map(() => 0), total = colours.map(() => 0);
    let under = 0, underShown = 0, underOwn = 0;
    for (let i = 0; i < points.n; i++) {
        const k = points.labels[i];
        const x = (points.xy[2 * i] / e + 1) / 2 * W, y = H - (points.xy[2 * i + 1] / e + 1) / 2 * H;
        if (x < 0 || y < 0 || x >= W || y >= H) continue;
        const shown = nearest(at(x, y));
        total[k] += 1;
        if (shown === k) own[k] += 1;
        const r = Math.hypot(x / dpr - marker[0], y / dpr - marker[1]);
        if (r > 2.5 && r < markerRadius - 3) {  // inside the ring, off its centre dot
            under += 1;
            if (shown >= 0) underShown += 1;
            if (shown === k) underOwn += 1;
        }
    }
    return { own: own.map((o, k) => o / Math.max(1, total[k])), total, under, underShown, underOwn };
}"""


def test_every_digit_shows_on_the_pad_even_under_the_marker(page, app_server):
    """Digit 3's codes sit round the origin, where the marker starts; 5, 8 and 9 crowd round them."""
    _, page_errors = open_decoder(page, app_server.url)
    pad = page.locator("canvas[data-testid='vld-pad']")
    pad.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    seen = pad.evaluate(VISIBLE_JS)
    split, _ = showable_split("mnist", "test")  # what the server shows: MNIST's test set, or its 1,000-image sample
    assert min(seen["total"]) > 0.8 * len(split) / 10  # about a tenth of the codes per digit
    worst = min(range(10), key=lambda k: seen["own"][k])
    assert seen["own"][worst] >= 0.4, (worst, seen["own"])  # at least 40 % of every digit's dots show its colour
    # The marker is a ring: the dots inside it still show (under the old filled disc: 44 % and 2 %).
    assert seen["under"] > 20 * len(split) / 10_000 and seen["underShown"] >= 0.8 * seen["under"], seen
    assert seen["underOwn"] >= 0.2 * seen["under"], seen
    assert pad.get_attribute("data-axes") == "z₁,z₂"
    names = page.locator(".vld-slider-name").all_inner_texts()
    assert names == ["z₁", "z₂"]
    assert not page_errors, page_errors


def test_the_mixture_prior_model_s_pad_and_sliders_reach_its_far_codes(page, app_server):
    require_shipped_model(MOG)
    _, page_errors = open_decoder(page, app_server.url, "mnist-mog-z2")
    pad = page.locator("canvas[data-testid='vld-pad']")
    pad.wait_for(state="visible")
    page.wait_for_function("c => Number(c.getAttribute('data-extent')) > 5", arg=pad.element_handle())
    slider = page.locator("input.vld-slider[data-dim='0']")
    reach = float(slider.get_attribute("max"))
    extent = float(pad.get_attribute("data-extent"))
    assert reach > 3 and float(slider.get_attribute("min")) == -reach and extent > reach
    assert float(page.locator("input.vld-slider[data-dim='1']").get_attribute("max")) == reach
    seen = pad.evaluate(VISIBLE_JS)
    split, _ = showable_split("mnist", "test")
    assert sum(seen["total"]) >= 0.99 * len(split)  # 99 % of the test codes land on the pad (was 75 % at ±3.5)

    # Drag the marker to the far upper right: z follows to the reach, well past the old ±3.
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    page.mouse.down()
    for i in range(1, 11):
        page.mouse.move(box["x"] + box["width"] * (0.5 + 0.49 * i / 10), box["y"] + box["height"] * (0.5 - 0.49 * i / 10))
        page.wait_for_timeout(30)
    page.mouse.up()
    z = [float(page.locator(f"input.vld-slider[data-dim='{k}']").input_value()) for k in (0, 1)]
    assert z == [pytest.approx(reach, abs=0.05), pytest.approx(reach, abs=0.05)]  # clamped to the reach
    page.wait_for_function(
        """r => [...document.querySelectorAll("[data-testid='stCode']")].some(e => e.innerText.includes('z = [+' + r))""",
        arg=f"{reach:.2f}")
    # The manifold grid spans ±1.64: it says z is off the grid instead of boxing a corner cell.
    page.get_by_text("z is outside the grid shown (±1.64)").first.wait_for()
    assert page.get_by_text("red box").count() == 0
    assert not page_errors, page_errors


# The decoded image as drawn: the grey level at the centre of each of its h x w enlarged pixels.
DRAWN_IMAGE_JS = """(c, [h, w]) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const out = [];
    for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) {
        const x = Math.floor((j + 0.5) * c.width / w), y = Math.floor((i + 0.5) * c.height / h);
        out.push(d[4 * (y * c.width + x)]);
    }
    return out;
}"""


def drawn_image(image, h: int = 28, w: int = 28) -> np.ndarray:
    return np.array(image.evaluate(DRAWN_IMAGE_JS, [h, w]), dtype=np.int64).reshape(h, w)


def test_the_conv_model_redraws_while_dragging_and_draws_what_pytorch_decodes(page, app_server):
    require_shipped_model(CONV)
    model, _ = vae.load_model(CONV)
    image, page_errors = open_decoder(page, app_server.url, "mnist-conv-z2")  # the live component, not the fallback
    start = image.evaluate(PIXELS_JS)
    assert 5 < start["mean"] < 250
    assert "z = [+0.00, +0.00]" in code_readout(page)
    expected = to_uint8(model.generate(torch.zeros(1, 2)))[0].astype(np.int64)
    assert np.abs(drawn_image(image) - expected).max() <= 1  # grey levels: rounding either side of a half

    # --- drag z₁'s slider thumb to the left: pixels change between mouse.down and mouse.up ---
    slider = page.locator("input.vld-slider[data-dim='0']")
    drag_slider_left(page, slider)
    during = image.evaluate(PIXELS_JS)
    value = float(slider.input_value())
    assert value < -1.0
    assert during["hash"] != start["hash"] and during["frame"] > start["frame"] + 1  # redrawn before mouse.up
    assert "z = [+0.00, +0.00]" in code_readout(page)  # ... and the server has not been told yet
    expected = to_uint8(model.generate(torch.tensor([[value, 0.0]])))[0].astype(np.int64)
    assert np.abs(drawn_image(image) - expected).max() <= 1
    page.mouse.up()
    page.wait_for_function(
        """() => [...document.querySelectorAll("[data-testid='stCode']")].some(e => e.innerText.includes('z = [-'))""")
    assert re.search(rf"z = \[{value:+.2f}, \+0\.00\]", code_readout(page)), code_readout(page)

    # --- drag on the latent pad, towards the lower right ---
    pad = page.locator("canvas[data-testid='vld-pad']")
    pad.scroll_into_view_if_needed()
    pbox = pad.bounding_box()
    extent = float(pad.get_attribute("data-extent"))
    before = image.evaluate(PIXELS_JS)
    page.mouse.move(pbox["x"] + pbox["width"] * 0.5, pbox["y"] + pbox["height"] * 0.5)
    page.mouse.down()
    frames = []
    for i in range(1, 11):
        t = i / 10
        page.mouse.move(pbox["x"] + pbox["width"] * (0.5 + 0.25 * t), pbox["y"] + pbox["height"] * (0.5 + 0.25 * t))
        page.wait_for_timeout(30)
        frames.append(image.evaluate(PIXELS_JS))
    page.wait_for_timeout(100)
    z0 = float(page.locator("input.vld-slider[data-dim='0']").input_value())
    z1 = float(page.locator("input.vld-slider[data-dim='1']").input_value())
    assert len({f["hash"] for f in frames} - {before["hash"]}) >= 3  # several distinct images while the pointer is down
    assert z0 == pytest.approx(0.5 * extent, abs=0.15) and z1 == pytest.approx(-0.5 * extent, abs=0.15)
    page.mouse.up()
    page.wait_for_function(
        """() => [...document.querySelectorAll("[data-testid='stCode']")].some(e => e.innerText.includes('z = [+'))""")
    assert "decoded in your browser" in page.locator(".vld-caption").inner_text()
    assert not page_errors, page_errors


# Issue 16: on a projector's 1024x768 with the sidebar open the column is about 390 px wide; the
# decoded image must stay beside the pad (it wrapped below it), and follow the sidebar when it closes.
# The right edge of everything the component draws, and the main area's.
RIGHT_EDGES_JS = """vld => {
    const rights = [...vld.querySelectorAll('*')].map(e => e.getBoundingClientRect())
        .filter(r => r.width > 0 && r.height > 0).map(r => r.right);
    return {component: Math.max(...rights), box: vld.getBoundingClientRect().right,
            main: document.querySelector("[data-testid='stMain']").getBoundingClientRect().right};
}"""


def assert_image_beside_pad(page):
    pad = page.locator("canvas[data-testid='vld-pad']").bounding_box()
    image = page.locator("canvas[data-testid='vld-image']").bounding_box()
    assert image["x"] >= pad["x"] + pad["width"], (pad, image)  # to the right of the pad ...
    assert pad["y"] <= image["y"] < pad["y"] + pad["height"], (pad, image)  # ... its top level with the pad's span
    edges = page.locator(".vld").evaluate(RIGHT_EDGES_JS)
    assert edges["component"] <= edges["box"] + 0.5 and edges["component"] <= edges["main"], edges
    return pad, image


def drag_on_pad_redraws(page, image, towards: float) -> None:
    """Drag the marker from the pad's centre towards (towards, towards) of its width; the image changes before mouse.up."""
    pad = page.locator("canvas[data-testid='vld-pad']")
    box = pad.bounding_box()
    before = image.evaluate(PIXELS_JS)
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    page.mouse.down()
    for i in range(1, 11):
        t = 0.5 + (towards - 0.5) * i / 10
        page.mouse.move(box["x"] + box["width"] * t, box["y"] + box["height"] * t)
        page.wait_for_timeout(30)
    page.wait_for_timeout(100)
    during = image.evaluate(PIXELS_JS)
    assert during["hash"] != before["hash"] and during["frame"] > before["frame"], (before, during)
    page.mouse.up()


def test_the_image_stays_beside_the_pad_on_a_projector_with_the_sidebar_open_or_closed(page, app_server):
    page.set_viewport_size({"width": 1024, "height": 768})
    image, page_errors = open_decoder(page, app_server.url)
    sidebar = page.locator("section[data-testid='stSidebar']")
    assert sidebar.is_visible() and sidebar.bounding_box()["x"] >= 0  # open, as the app loads
    page.locator("canvas[data-testid='vld-pad']").scroll_into_view_if_needed()
    pad, small = assert_image_beside_pad(page)
    assert small["width"] % 28 == 0  # whole screen pixels per pixel of the 28x28 image
    drag_on_pad_redraws(page, image, 0.25)
    page.wait_for_function(
        """() => [...document.querySelectorAll("[data-testid='stCode']")].some(e => e.innerText.includes('z = [-'))""")
    z = [page.locator(f"input.vld-slider[data-dim='{k}']").input_value() for k in (0, 1)]

    # Close the sidebar: the column widens, the pad and the image grow back to their full size, z is kept.
    page.locator("[data-testid='stSidebarHeader']").hover()  # the button shows on hover only (after a drag, a
    page.get_by_label("Collapse sidebar").click()              # forced click without the hover misses it)
    page.locator("[data-testid='stExpandSidebarButton']").wait_for()
    page.wait_for_function("c => c.clientWidth === 252", arg=image.element_handle())
    pad_canvas = page.locator("canvas[data-testid='vld-pad']")
    page.wait_for_function("c => c.clientWidth === 320 && c.width === Math.round(320 * devicePixelRatio)",
                           arg=pad_canvas.element_handle())  # the pad redrawn at its new size, not stretched
    pad_canvas.scroll_into_view_if_needed()
    assert_image_beside_pad(page)
    assert [page.locator(f"input.vld-slider[data-dim='{k}']").input_value() for k in (0, 1)] == z
    drag_on_pad_redraws(page, image, 0.75)
    page.wait_for_function(
        """() => [...document.querySelectorAll("[data-testid='stCode']")].some(e => e.innerText.includes('z = [+'))""")
    assert not page_errors, page_errors
