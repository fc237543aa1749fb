"""Why reparameterise?, in a real browser: the log-log plot and the histogram render, and redraw when the
user changes n or the test image (fixtures in conftest.py)."""

from __future__ import annotations

LOGLOG = ".st-key-rp_loglog .js-plotly-plot"
HIST = ".st-key-rp_hist .js-plotly-plot"


def wait_idle(page):
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=90_000)


def plotted(page, selector: str):
    """The drawn traces' y values (log-log) or x values (histogram), as plotly.js holds them."""
    return page.evaluate("""(sel) => document.querySelector(sel)._fullData
        .filter(t => t.visible !== false).map(t => Array.from(t.type === 'histogram' ? t.x : t.y))""", selector)


def wait_changed(page, selector: str, before) -> None:
    """Wait until plotly.js has drawn other data in the chart (it redraws a moment after the run ends)."""
    page.wait_for_function("""([sel, before]) => {
        const gd = document.querySelector(sel);
        const now = gd && gd._fullData && gd._fullData.filter(t => t.visible !== false)
            .map(t => Array.from(t.type === 'histogram' ? t.x : t.y));
        return now && JSON.stringify(now) !== JSON.stringify(before); }""", arg=[selector, before], timeout=90_000)


def ratio_text(page) -> str:
    return page.locator("[data-testid='stMarkdownContainer']").filter(has_text="times more samples").first.inner_text()


def test_changing_n_and_the_image_redraws_the_plots(page, app_server):
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(app_server.url)
    page.get_by_role("link", name="Why reparameterise?", exact=True).click()
    page.locator("h1").filter(has_text="Why reparameterise?").first.wait_for(timeout=90_000)
    page.locator(HIST).first.wait_for(timeout=90_000)
    wait_idle(page)
    assert "At n = 10" in ratio_text(page)
    hist_before, loglog_before = plotted(page, HIST), plotted(page, LOGLOG)

    # n: one step right on the select slider, 10 -> 30. The histogram shows other estimates, the log-log stays.
    page.locator(".st-key-rp_n input[type='range']").press("ArrowRight")
    page.wait_for_function("() => document.querySelector('[data-testid=\"stMain\"]').innerText.includes('At n = 30')",
                           timeout=90_000)
    wait_idle(page)
    wait_changed(page, HIST, hist_before)
    assert "each from n = 30 draws" in page.locator("h3").filter(has_text="estimates of").first.inner_text()
    assert plotted(page, LOGLOG) == loglog_before

    # Another test image: new draws, so the log-log plot redraws too.
    field = page.locator(".st-key-rp_row input")
    field.fill("5")
    field.press("Enter")
    wait_changed(page, LOGLOG, loglog_before)
    wait_idle(page)
    assert page.get_by_text("#5 ·").count() >= 1
    assert page.locator("[data-testid='stException']").count() == 0
    assert not errors, errors
