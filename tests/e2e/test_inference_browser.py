"""The "Inference for one image" page in a real browser: optimise, scrub the step slider, the plane follows."""

from __future__ import annotations

from drawing import CANVAS, draw_a_one

PLANE = ".st-key-inf_plane .js-plotly-plot"


def optimised_trace_name(page) -> str:
    return page.evaluate(f"""() => {{
        const gd = document.querySelector("{PLANE}");
        const t = gd && gd._fullData.find(t => (t.name || '').startsWith('optimised q at step'));
        return t ? t.name : ''; }}""")


def test_optimise_then_scrub_the_steps(page, app_server):
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(app_server.url)
    page.get_by_text("This model:").first.wait_for()
    page.get_by_role("link", name="Inference for one image", exact=True).click()
    page.get_by_text("ELBO of the encoder's Gaussian").first.wait_for(timeout=90_000)
    page.locator(PLANE).first.wait_for(timeout=90_000)  # the true posterior is drawn before any run
    assert optimised_trace_name(page) == ""

    page.get_by_role("button", name="Optimise").click()
    page.get_by_text("Amortisation gap").first.wait_for(timeout=120_000)
    page.wait_for_function(f"""() => {{ const gd = document.querySelector("{PLANE}");
        return gd && gd._fullData.some(t => t.name === 'optimised q at step 500, 1σ'); }}""", timeout=90_000)

    slider = page.locator("[data-testid='stSlider']").filter(has_text="Step of the optimiser").get_by_role("slider")
    slider.focus()
    for _ in range(25):  # 25 steps of 4 back: step 400
        page.keyboard.press("ArrowLeft")
    page.wait_for_function(f"""() => {{ const gd = document.querySelector("{PLANE}");
        return gd && gd._fullData.some(t => t.name === 'optimised q at step 400, 1σ'); }}""", timeout=90_000)
    page.get_by_text("Step 400").first.wait_for(timeout=30_000)
    assert page.locator("[data-testid='stException']").count() == 0
    assert not errors, errors


def test_a_drawn_digit_gets_its_own_gaps(page, app_server):
    page.goto(app_server.url)
    page.get_by_text("This model:").first.wait_for()
    page.get_by_role("link", name="Inference for one image", exact=True).click()
    page.get_by_text("ELBO of the encoder's Gaussian").first.wait_for(timeout=90_000)
    page.get_by_text("a drawing", exact=True).click()
    page.get_by_text("The pad is empty").first.wait_for(timeout=60_000)
    draw_a_one(page, page.locator(CANVAS).first, 196)
    page.get_by_text("your drawing as the model sees it").first.wait_for(timeout=90_000)
    page.get_by_role("button", name="Optimise").click()
    page.get_by_text("Amortisation gap").first.wait_for(timeout=120_000)
    assert page.locator("[data-testid='stException']").count() == 0
