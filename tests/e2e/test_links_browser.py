"""Links that open a view (issue 13, items 6 and 7): the model, the Decoder's code z, the Reconstructions'
images and the Latent map's chosen point round-trip through the URL. A reload keeps them; the
"Link to this view" button gives the link; opening it in a fresh browser context (a new session,
no cookies) shows the same view."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

PICKER = "section[data-testid='stSidebar'] .st-key-model_picker input[role='combobox']"
CODE_READOUT = "[data-testid='stCode']"


def wait_idle(page):
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=120_000)


def query(url: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}


def warm(page, url: str) -> None:
    """Open the app once: the first request after a server starts can show Streamlit's 'Page not found'."""
    page.goto(url)
    page.get_by_text("What is a VAE?").first.wait_for()


def pick_model(page, name: str) -> None:
    page.locator(PICKER).click()
    page.keyboard.type(name)
    page.get_by_role("option", name=f"{name} ·").first.click()
    page.wait_for_function(f"() => document.querySelector(\"{PICKER}\").value.startsWith('{name}')")


def shared_link(page, key: str) -> str:
    """Open the page's 'Link to this view' popover and read the link it offers."""
    page.locator(f".st-key-{key} button").first.click()
    code = page.locator("[data-testid='stPopoverBody'] [data-testid='stCode']").first
    code.wait_for()
    link = code.inner_text().strip()
    page.keyboard.press("Escape")
    return link


def test_decoder_link_and_reload_keep_the_model_and_the_code(new_page, app_server):
    page = new_page()
    warm(page, app_server.url)
    pick_model(page, "digits-z2")
    page.get_by_role("link", name="Decoder", exact=True).click()
    pad = page.locator("canvas[data-testid='vld-pad']")
    pad.wait_for(state="visible")
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    page.mouse.down()
    for i in range(1, 9):  # towards the lower right: z1 > 0, z2 < 0
        page.mouse.move(box["x"] + box["width"] * (0.5 + 0.03 * i), box["y"] + box["height"] * (0.5 + 0.03 * i))
    page.mouse.up()
    page.wait_for_function(f"""() => [...document.querySelectorAll("{CODE_READOUT}")]
        .some(e => /z = \\[\\+\\d\\.\\d\\d, -\\d\\.\\d\\d\\]/.test(e.innerText))""")
    readout = page.locator(CODE_READOUT).first.inner_text()
    z = re.search(r"z = \[([^\]]+)\]", readout).group(1)
    page.wait_for_function("() => new URL(location.href).searchParams.get('z') !== '0.00,0.00'")
    wait_idle(page)
    assert query(page.url)["model_picker"].startswith("digits-z2 ·")  # the picker is bound to the address
    link = shared_link(page, "dec_link")
    assert urlsplit(link).path.endswith("/decoder") and query(link) == query(page.url), (link, page.url)

    page.reload()  # a reload is a new session: the model and the code come from the URL
    page.locator(CODE_READOUT).first.wait_for()
    assert page.locator(PICKER).input_value().startswith("digits-z2")
    page.wait_for_function(f"""z => [...document.querySelectorAll("{CODE_READOUT}")].some(e => e.innerText.includes(z))""",
                           arg=f"z = [{z}]")

    fresh = new_page()  # another browser context: no cookies, no session, just the link
    fresh.goto(link)
    fresh.locator(CODE_READOUT).first.wait_for()
    fresh.wait_for_function(f"""z => [...document.querySelectorAll("{CODE_READOUT}")].some(e => e.innerText.includes(z))""",
                            arg=f"z = [{z}]")
    assert fresh.locator(PICKER).input_value().startswith("digits-z2")
    # the live decoder in the new browser starts at the linked code too (its sliders show it)
    values = [float(v) for v in z.split(",")]
    slider = fresh.locator("input.vld-slider[data-dim='0']")  # inside the component's shadow DOM
    slider.wait_for(state="attached")
    for _ in range(100):
        if abs(float(slider.input_value()) - values[0]) < 0.02:
            break
        fresh.wait_for_timeout(200)
    assert abs(float(slider.input_value()) - values[0]) < 0.02, (slider.input_value(), values)
    assert fresh.locator("[data-testid='stException']").count() == 0


def test_reconstructions_link_shows_the_same_images(new_page, app_server):
    page = new_page()
    warm(page, app_server.url)
    page.get_by_role("link", name="Reconstructions", exact=True).click()
    # One click at a time, as the page answers: a second click sent before the first run's answer carries the
    # seed field's old value, which Streamlit applies before the click's callback (the page then shows seed 1).
    page.get_by_role("button", name="Reshuffle").click()
    page.get_by_text("Seed 1 ·").first.wait_for()
    page.get_by_role("button", name="Reshuffle").click()
    page.get_by_text("Seed 2 ·").first.wait_for()
    page.get_by_text("Images", exact=True).first.wait_for()
    slider = page.locator("[data-testid='stSlider']").filter(has_text="Images").get_by_role("slider")
    slider.focus()
    page.keyboard.press("ArrowLeft")  # 16 -> 8 images
    page.wait_for_function("() => new URL(location.href).searchParams.get('recon_n') === '8'")
    wait_idle(page)
    page.wait_for_function("() => document.querySelectorAll(\"[data-testid='stImageCaption']\").length === 16")
    captions = page.locator("[data-testid='stImageCaption']").all_inner_texts()  # each input's over its score
    assert len(captions) == 16 and all(c.startswith("#") for c in captions[::2])
    link = shared_link(page, "recon_link")
    assert query(link)["recon_seed"] == "2" and query(link)["recon_n"] == "8"

    fresh = new_page()
    fresh.goto(link)
    fresh.get_by_text("Seed 2 ·").first.wait_for()
    wait_idle(fresh)
    fresh.wait_for_function("() => document.querySelectorAll(\"[data-testid='stImageCaption']\").length >= 16")
    assert fresh.locator("[data-testid='stImageCaption']").all_inner_texts() == captions
    assert fresh.locator("[data-testid='stImageCaption']").count() == 16  # 8 inputs over 8 reconstructions


def test_latent_map_link_keeps_the_clicked_image_and_the_overlay(new_page, app_server):
    page = new_page()
    warm(page, app_server.url)
    page.get_by_role("link", name="Latent map", exact=True).click()
    plot = ".st-key-latent_scatter .js-plotly-plot"
    page.locator(plot).first.wait_for(timeout=90_000)
    page.get_by_text("Click a dot to see its image").wait_for()
    wait_idle(page)
    page.wait_for_timeout(1000)  # plotly lays out before its axes can be read
    target = page.evaluate(f"""() => {{
        const gd = document.querySelector("{plot}");
        const points = gd._fullData.filter(t => t.type === 'scattergl' && t.customdata);
        const t = points[points.length - 1];
        const L = gd._fullLayout, box = gd.getBoundingClientRect();
        return {{x: box.left + L.xaxis._offset + L.xaxis.l2p(t.x[0]),
                y: box.top + L.yaxis._offset + L.yaxis.l2p(t.y[0]), row: Number(t.customdata[0])}};
    }}""")
    page.mouse.click(target["x"], target["y"])
    page.get_by_text(f"Test image #{target['row']}").wait_for(timeout=60_000)
    page.get_by_text("Prior & holes").click()
    page.get_by_text("Holes: where the prior").wait_for(timeout=90_000)
    wait_idle(page)
    link = shared_link(page, "map_link")
    assert query(link)["row"] == str(target["row"]) and query(link)["map_holes"] == "true", link

    fresh = new_page()
    fresh.goto(link)
    fresh.get_by_text(f"Test image #{target['row']}").wait_for(timeout=90_000)
    fresh.get_by_text("Holes: where the prior").wait_for(timeout=90_000)
    assert fresh.locator("[data-testid='stException']").count() == 0
