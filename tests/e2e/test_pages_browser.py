"""What a user sees on the other pages, in a real browser: every page renders, uploads and drawings reconstruct.

AppTest cannot upload through the browser, draw on the canvas component or see plotly render;
these tests do, on the shipped models (fixtures in conftest.py).
"""

from __future__ import annotations

import json

import numpy as np
from drawing import CANVAS, draw_a_one
from PIL import Image

import vae
from explorer.images import png_bytes
from explorer.registry import showable_split

# sidebar link -> the page's title
PAGES = {"What is a VAE?": "VAE Latent Explorer", "Reconstructions": "Reconstructions", "Latent map": "Latent map",
         "Decoder": "Decoder", "Train a model": "Train a model"}


MAP = ".st-key-latent_scatter .js-plotly-plot"  # the Latent map page's chart (the home page has a small one)


def open_home(page, url):
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.get_by_text("This model:").first.wait_for()
    return errors


def wait_idle(page):
    """Wait until Streamlit's run has finished (no 'Running...' status, no stale elements)."""
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=90_000)


def test_every_page_renders_without_an_error_box(page, app_server):
    errors = open_home(page, app_server.url)
    for name, title in PAGES.items():
        page.get_by_role("link", name=name, exact=True).click()
        page.locator("h1").filter(has_text=title).first.wait_for(timeout=90_000)
        wait_idle(page)
        assert page.locator("[data-testid='stException']").count() == 0, name
        assert page.locator("[data-testid='stAlertContentError']").count() == 0, name
    assert not errors, errors


def test_home_page_draws_its_small_latent_map(page, app_server):
    open_home(page, app_server.url)
    page.locator(".st-key-home_map .js-plotly-plot canvas").first.wait_for(timeout=90_000)
    n_points = page.evaluate("""() => {
        const gd = document.querySelector('.st-key-home_map .js-plotly-plot');
        return gd._fullData.filter(t => t.type === 'scattergl').reduce((n, t) => n + t.x.length, 0);
    }""")
    # Up to 2,000 codes of the test split the server shows (it sees this process's VAE_DATA_DIR).
    split, _ = showable_split("mnist", "test")
    assert n_points == min(2_000, len(split))


def test_latent_map_renders_its_points(page, app_server):
    open_home(page, app_server.url)
    page.get_by_role("link", name="Latent map", exact=True).click()
    plot = page.locator(MAP).first
    plot.wait_for(timeout=90_000)
    # WebGL scatter traces: one per class, a point for every image of the test split the server
    # shows: 10,000 for full MNIST, 1,000 for the bundled sample when VAE_DATA_DIR lacks MNIST.
    # (`_fullData` holds the decoded arrays; plotly.py sends `data` base64-packed.)
    n_points = page.evaluate("""() => {
        const gd = document.querySelector(".st-key-latent_scatter .js-plotly-plot");
        return gd._fullData.filter(t => t.type === 'scattergl').reduce((n, t) => n + t.x.length, 0);
    }""")
    split, _ = showable_split("mnist", "test")
    assert n_points == len(split)
    page.get_by_text(f"{len(split):,} {split.name} test images").first.wait_for()


def _digit_png() -> bytes:
    """A real test digit, drawn large in dark ink on white paper, as a phone photo would be."""
    digit = vae.load_dataset("mnist-sample", "test").x[7, 0].numpy()
    img = Image.fromarray(((1 - digit) * 255).astype(np.uint8)).resize((200, 200), Image.Resampling.BILINEAR)
    return png_bytes(np.asarray(img))


def test_uploads_show_reconstructions_and_bad_files_a_message(page, app_server):
    open_home(page, app_server.url)
    page.get_by_role("link", name="Reconstructions", exact=True).click()
    page.get_by_role("tab", name="Upload your digits").click()
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files([
        {"name": "my-digit.png", "mimeType": "image/png", "buffer": _digit_png()},
        {"name": "broken.png", "mimeType": "image/png", "buffer": b"this is not a png"},
    ])
    page.get_by_text("my-digit.png").last.wait_for(timeout=90_000)
    page.get_by_text("reconstruction", exact=True).first.wait_for(timeout=90_000)
    wait_idle(page)
    # The code and the score follow the images in the same run: wait for them, not for a moment.
    page.wait_for_function("""() => { const t = document.querySelector("[data-testid='stMain']").innerText;
        return t.includes('−ELBO') && t.includes('μ = ('); }""", timeout=90_000)
    error = page.locator("[data-testid='stAlertContentError']").filter(has_text="broken.png")
    assert "not an image" in error.inner_text()
    assert page.locator("[data-testid='stException']").count() == 0


def test_a_drawn_digit_is_reconstructed(page, app_server):
    open_home(page, app_server.url)
    page.get_by_role("link", name="Reconstructions", exact=True).click()
    page.get_by_role("tab", name="Draw a digit").click()
    page.get_by_text("The pad is empty").wait_for(timeout=90_000)
    draw_a_one(page, page.locator(CANVAS).first, 280)
    page.get_by_text("your drawing").wait_for(timeout=90_000)
    # The drawing's code and score, later in the same run.
    page.wait_for_function("""() => { const t = document.querySelector("[data-testid='stMain']").innerText;
        return t.includes('−ELBO') && t.includes('μ = ('); }""", timeout=90_000)


def test_clicking_a_point_on_the_latent_map_shows_that_image(page, app_server):
    open_home(page, app_server.url)
    page.get_by_role("link", name="Latent map", exact=True).click()
    page.locator(MAP).first.wait_for(timeout=90_000)
    page.get_by_text("Click a dot to see its image").wait_for()
    wait_idle(page)
    page.wait_for_timeout(1000)  # let plotly finish laying out before reading its axes
    # Screen position of one test code: the first point of the last trace of points (drawn over all the
    # others, so nothing covers it), through plotly's axes.
    target = page.evaluate("""() => {
        const gd = document.querySelector(".st-key-latent_scatter .js-plotly-plot");
        const points = gd._fullData.filter(t => t.type === 'scattergl' && t.customdata);
        const t = points[points.length - 1];
        const L = gd._fullLayout, box = gd.getBoundingClientRect();
        // _offset: where each axis starts (a narrow column shrinks the equal-aspect map's domain)
        return {x: box.left + L.xaxis._offset + L.xaxis.l2p(t.x[0]),
                y: box.top + L.yaxis._offset + L.yaxis.l2p(t.y[0]), row: Number(t.customdata[0])};
    }""")
    page.mouse.click(target["x"], target["y"])
    page.get_by_text(f"Test image #{target['row']}").wait_for(timeout=60_000)
    page.get_by_text("σ = (").wait_for(timeout=60_000)  # the code of the clicked image
    # The clicked dot is ringed on top of the map, and stays so (and shown) when an overlay redraws the map.
    ringed = """() => { const gd = document.querySelector(".st-key-latent_scatter .js-plotly-plot");
        return gd && gd._fullData.length && gd._fullData[gd._fullData.length - 1].name === 'selected image'; }"""
    page.wait_for_function(ringed, timeout=60_000)
    page.get_by_text("Prior & holes").click()
    page.get_by_text("Holes: where the prior").wait_for(timeout=90_000)
    wait_idle(page)
    page.wait_for_function(ringed, timeout=60_000)
    assert page.get_by_text(f"Test image #{target['row']}").count() == 1


def _square_png() -> bytes:
    """A photo-like non-digit: a filled black square on white paper."""
    paper = np.full((200, 200), 255, dtype=np.uint8)
    paper[30:171, 30:171] = 0
    return png_bytes(paper)


def test_anomalies_page_scores_uploads_a_digit_passes_a_square_is_flagged(page, app_server):
    """mnist-z2 scores (measured): the digit ~131 nats, the filled square ~566, the default threshold
    (95th percentile of the test images) ~222."""
    open_home(page, app_server.url)
    page.get_by_role("link", name="Anomalies", exact=True).click()
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files([
        {"name": "my-digit.png", "mimeType": "image/png", "buffer": _digit_png()},
        {"name": "square.png", "mimeType": "image/png", "buffer": _square_png()},
        {"name": "broken.png", "mimeType": "image/png", "buffer": b"this is not a png"},
    ])
    page.get_by_text("Your images").first.wait_for(timeout=90_000)
    wait_idle(page)
    main = page.locator("[data-testid='stMain']")
    digit = main.locator("[data-testid='stMarkdownContainer']").filter(has_text="my-digit.png scores")
    square = main.locator("[data-testid='stMarkdownContainer']").filter(has_text="square.png scores")
    digit.first.wait_for(timeout=90_000)
    square.first.wait_for(timeout=90_000)
    assert "passes as normal" in digit.inner_text()
    assert "flagged as an anomaly" in square.inner_text()
    error = page.locator("[data-testid='stAlertContentError']").filter(has_text="broken.png")
    assert "not an image" in error.inner_text()
    # Each upload is drawn (the model's input, loaded in the browser) and marked on the histogram.
    loaded = """() => [...document.querySelectorAll("[data-testid='stImageCaption']")]
        .filter(c => c.textContent.trim() === 'model input')
        .map(c => { const img = c.parentElement.querySelector('img'); return !!img && img.complete && img.naturalWidth > 0; })"""
    page.wait_for_function(f"() => ({loaded})().filter(Boolean).length >= 2", timeout=30_000)  # images load after the text
    assert page.evaluate(loaded) == [True, True]
    names = page.evaluate("""() => {
        const gd = document.querySelector("[data-testid='stMain'] .js-plotly-plot");
        return gd ? gd._fullData.map(t => t.name).join('|') : '';
    }""")
    assert "my-digit.png" in names and "square.png" in names, names
    assert page.locator("[data-testid='stException']").count() == 0


def test_what_the_kl_buys_draws_both_maps_and_zooms_them_together(page, app_server):
    """Latent map on mnist-z2: the VAE and its plain-autoencoder twin side by side; the zoom sets both to ±4."""
    errors = open_home(page, app_server.url)
    page.get_by_role("link", name="Latent map", exact=True).click()
    page.get_by_role("tab", name="What the KL buys").click()
    page.get_by_text("What the KL buys: VAE vs plain autoencoder").first.wait_for(timeout=120_000)
    maps = [f".st-key-kl_map_{which} .js-plotly-plot" for which in ("vae", "ae")]
    ranges_js = f"""() => {json.dumps(maps)}.map(s => {{ const gd = document.querySelector(s);
        if (!gd || !gd._fullLayout || !gd._fullData) return null;
        const n = gd._fullData.filter(t => t.type === 'scattergl').reduce((n, t) => n + t.x.length, 0);
        return {{n, x: gd._fullLayout.xaxis.range}}; }})"""
    page.wait_for_function(f"() => ({ranges_js})().every(m => m && m.n > 0)", timeout=120_000)
    before = page.evaluate(ranges_js)
    assert before[0]["x"] == before[1]["x"], before  # the same axes for both models
    assert before[0]["n"] == before[1]["n"] > 1000, before
    page.get_by_text("Zoom in on the prior's region (both maps)", exact=True).click()
    page.wait_for_function(f"() => ({ranges_js})().every(m => m && Math.abs(m.x[0] + 4) < 1e-6 && Math.abs(m.x[1] - 4) < 1e-6)",
                           timeout=120_000)
    assert before[0]["x"][1] > 4, before  # the autoencoder's codes reach far beyond the prior's region
    assert page.locator("[data-testid='stException']").count() == 0
    assert not errors, errors
