"""Every page on a projector's 1024x768, with the sidebar open (as the app loads) and collapsed: no metric
value cut to "1…", no equation running past its box, no error (issue 13, item 4). The "Large text"
switch for the back row enlarges the page's text and travels in the link."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TITLES = re.findall(r'st\.Page\("pages/[a-z]+/[a-z_]+\.py", title=_\("([^"]+)"\)', (ROOT / "app.py").read_text())

# Elements whose content is wider than their box: a metric's value or label cut with an ellipsis,
# a displayed equation wider than the text column it sits in (KaTeX's own margin allowed).
OVERFLOWS_JS = """() => {
    const out = [];
    document.querySelectorAll("[data-testid='stMetricValue'], [data-testid='stMetricLabel']").forEach(e => {
        if (e.scrollWidth > e.clientWidth + 1) out.push('metric ' + e.innerText.slice(0, 30)); });
    document.querySelectorAll(".katex-display").forEach(e => {
        const box = e.closest("[data-testid='stMarkdownContainer']") || e.parentElement;
        if (e.scrollWidth > box.clientWidth + 4) out.push('equation ' + e.innerText.slice(0, 30)); });
    return out;
}"""


def settled(page) -> list[str]:
    """After a page switch: wait for the run to finish and two frames to be laid out, then list what overflows."""
    page.wait_for_timeout(300)  # the status widget shows a moment after the click
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=180_000)
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    problems = page.evaluate(OVERFLOWS_JS)
    if page.locator("[data-testid='stException']").count():
        problems.append("exception")
    return problems


def follow(page, title: str) -> None:
    """Click the sidebar link `title` and wait until the app has moved to that page (the home page is the first)."""
    before = page.evaluate("() => location.pathname")
    page.get_by_role("link", name=title, exact=True).click()
    if title != TITLES[0]:
        page.wait_for_function("p => location.pathname !== p", arg=before)
    page.locator("h1").first.wait_for()


@pytest.mark.parametrize("sidebar", ["open", "collapsed"])
def test_every_page_fits_a_projector(new_page, app_server, sidebar):
    assert len(TITLES) >= 15
    page = new_page()
    page.set_viewport_size({"width": 1024, "height": 768})
    page.goto(app_server.url)
    page.get_by_text("This model:").first.wait_for()
    if sidebar == "collapsed":
        found = {}
        for title in TITLES:  # the links live in the sidebar: open it, follow one, close it, then measure
            expand = page.locator("[data-testid='stExpandSidebarButton']")
            if expand.is_visible():
                expand.click()
            follow(page, title)
            page.get_by_label("Collapse sidebar").click(force=True)  # the button shows on hover only
            page.locator("[data-testid='stExpandSidebarButton']").wait_for()
            if problems := settled(page):
                found[title] = problems
    else:
        found = {}
        for title in TITLES:
            follow(page, title)
            if problems := settled(page):
                found[title] = problems
    assert not found, found


def test_large_text_switch_enlarges_the_text_and_stays_in_the_link(new_page, app_server):
    page = new_page()
    page.set_viewport_size({"width": 1024, "height": 768})
    page.goto(app_server.url)
    page.get_by_text("This model:").first.wait_for()
    size = "() => parseFloat(getComputedStyle(document.querySelector(\"[data-testid='stMarkdownContainer'] p\")).fontSize)"
    normal = page.evaluate(size)
    page.get_by_text("Large text", exact=True).click()
    page.wait_for_function(f"n => ({size})() > n * 1.2", arg=normal)
    page.wait_for_function("() => new URL(location.href).searchParams.get('large_text') === 'true'")
    fresh = new_page()
    fresh.goto(page.url)
    fresh.get_by_text("This model:").first.wait_for()
    fresh.wait_for_function(f"n => ({size})() > n * 1.2", arg=normal)
