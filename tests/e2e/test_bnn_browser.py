"""The "Bayesian neural network" page in a real browser: the plane image is drawn and redrawn when the
number of training codes changes; an uploaded digit and a drawn one get the networks' probabilities."""

from __future__ import annotations

import numpy as np
from drawing import CANVAS, draw_a_one
from PIL import Image

import vae
from explorer.images import png_bytes

PLANE = ".st-key-bnn_plane .js-plotly-plot"
PROBS = ".st-key-bnn_probs .js-plotly-plot"


def wait_idle(page):
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=120_000)


def open_page(page, url) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.get_by_text("This model:").first.wait_for()
    page.get_by_role("link", name="Bayesian neural network", exact=True).click()
    page.locator(PLANE).first.wait_for(timeout=120_000)
    wait_idle(page)
    return errors


def plane_source(page) -> str:
    """The data URL of the plane's background image as plotly drew it (an <image> in the SVG)."""
    return page.evaluate(f"""() => {{ const img = document.querySelector("{PLANE} svg image");
        return img ? (img.getAttribute('href') || img.getAttribute('xlink:href') || '') : ''; }}""")


def test_the_plane_is_drawn_and_follows_the_training_codes(page, app_server):
    errors = open_page(page, app_server.url)
    page.wait_for_function(f"""() => {{ const img = document.querySelector("{PLANE} svg image");
        return img && (img.getAttribute('href') || '').startsWith('data:image/png'); }}""", timeout=60_000)
    before = plane_source(page)
    assert len(before) > 1000
    page.get_by_text("Trained on 300 codes").first.wait_for()

    slider = page.locator("[data-testid='stSlider']").filter(has_text="Training codes").get_by_role("slider")
    slider.focus()
    # 300 -> 100 codes: a size every test split offers (the bundled 1,000-image sample stops at 300, since
    # training on all its codes would leave none to test on)
    page.keyboard.press("ArrowLeft")
    page.get_by_text("Trained on 100 codes").first.wait_for(timeout=120_000)
    page.wait_for_function(f"""old => {{ const img = document.querySelector("{PLANE} svg image");
        return img && img.getAttribute('href') !== old; }}""", arg=before, timeout=60_000)
    assert page.locator("[data-testid='stException']").count() == 0
    assert not errors, errors


def _digit_png() -> bytes:
    digit = vae.load_dataset("mnist-sample", "test").x[3, 0].numpy()
    img = Image.fromarray(((1 - digit) * 255).astype(np.uint8)).resize((160, 160), Image.Resampling.BILINEAR)
    return png_bytes(np.asarray(img))


def bayesian_bars(page) -> list[float]:
    return page.evaluate(f"""() => {{ const gd = document.querySelector("{PROBS}");
        return gd ? Array.from(gd._fullData[0].y) : []; }}""")


def test_an_upload_and_a_drawing_get_probabilities_with_error_bars(page, app_server):
    errors = open_page(page, app_server.url)
    page.get_by_role("tab", name="Your digit").click()
    page.get_by_text("Upload a photo or scan").first.wait_for()
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(
        [{"name": "my-digit.png", "mimeType": "image/png", "buffer": _digit_png()}])
    page.locator(PROBS).first.wait_for(timeout=120_000)
    page.wait_for_function(f"""() => {{ const gd = document.querySelector("{PROBS}");
        return gd && gd._fullData.length === 2 && gd._fullData[0].error_y.visible; }}""", timeout=60_000)
    bars = bayesian_bars(page)
    assert len(bars) == 10 and abs(sum(bars) - 1) < 1e-3
    label = int(vae.load_dataset("mnist-sample", "test").y[3])
    assert int(np.argmax(bars)) == label, (bars, label)

    page.get_by_text("Draw", exact=True).click()
    page.get_by_text("The pad is empty").wait_for(timeout=60_000)
    draw_a_one(page, page.locator(CANVAS).first, 224)
    page.get_by_text("your drawing as the networks see it").first.wait_for(timeout=120_000)
    page.wait_for_function(f"""() => {{ const gd = document.querySelector("{PROBS}");
        return gd && gd._fullData.length === 2; }}""", timeout=60_000)
    assert page.locator("[data-testid='stException']").count() == 0
    assert not errors, errors
