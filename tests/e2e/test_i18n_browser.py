"""简体中文 in a real browser: every page opened with ?lang=zh shows no English sentence, and the
sidebar's switch changes the language, which page links and reloads keep.

What a reader sees is read from the rendered page: every visible text node, the Plotly figures'
SVG text included; maths (KaTeX), code blocks and hidden elements (inactive tabs, closed menus,
text drawn at size 0 because CSS draws it anew: Streamlit's upload box, see pages/ui/i18n.py) are
skipped. "English sentence": see tests/i18n_check.py.
"""

from __future__ import annotations

from pathlib import Path

from tests.apptest import PAGE_FILES
from tests.i18n_check import english_sentences

VISIBLE_TEXT = """() => {
  const out = [];
  const skip = '.katex, script, style, noscript, code, pre, [data-testid="stCode"], .modebar, [aria-hidden="true"]';
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, el = node.parentElement, text = node.textContent.trim();
    if (!text || !el || el.closest(skip)) continue;
    const box = el.getBoundingClientRect();  // 1-pixel boxes: text kept for screen readers ("Skip to main content")
    if (box.width < 2 || box.height < 2) continue;
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || style.opacity === '0' || parseFloat(style.fontSize) === 0) continue;
    out.push(text);
  }
  return out;
}"""

HAS_CHINESE = "t => /[\\u4e00-\\u9fff]/.test(t)"


def wait_idle(page):
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=120_000)


def page_url(base: str, file: str) -> str:
    stem = Path(file).stem
    return f"{base}/?lang=zh" if stem == "home" else f"{base}/{stem}?lang=zh"


def test_every_page_in_chinese_shows_no_english_sentence(page, app_server):
    found: dict[str, list[str]] = {}
    for file in PAGE_FILES:
        page.goto(page_url(app_server.url, file))
        title = page.locator("h1").first
        title.wait_for(timeout=120_000)
        wait_idle(page)
        page.wait_for_timeout(300)  # figures draw after the run
        assert page.evaluate(HAS_CHINESE, title.inner_text()), (file, title.inner_text())
        english = sorted({s for text in page.evaluate(VISIBLE_TEXT) for s in english_sentences(text)})
        if english:
            found[file] = english
    assert not found, "\n".join(f"{f}: {e}" for f, e in found.items())


def test_the_sidebar_switch_changes_the_language_and_links_keep_it(page, app_server):
    page.goto(app_server.url)
    page.locator("h1").first.wait_for(timeout=120_000)
    wait_idle(page)
    sidebar = page.locator("section[data-testid='stSidebar']")
    sidebar.get_by_text("简体中文", exact=True).click()
    page.wait_for_function("() => location.search.includes('lang=zh')", timeout=60_000)
    page.get_by_role("link", name="解码器", exact=True).wait_for(timeout=60_000)
    page.get_by_role("link", name="解码器", exact=True).click()
    page.wait_for_function("() => location.pathname.endsWith('/decoder')", timeout=60_000)
    title = page.locator("h1").first
    title.wait_for()
    wait_idle(page)
    assert page.evaluate(HAS_CHINESE, title.inner_text()), title.inner_text()
    page.wait_for_function("() => location.search.includes('lang=zh')", timeout=60_000)
    page.reload()
    page.locator("h1").first.wait_for(timeout=120_000)
    assert page.evaluate(HAS_CHINESE, page.locator("h1").first.inner_text())
    sidebar = page.locator("section[data-testid='stSidebar']")
    sidebar.get_by_text("English", exact=True).click()
    page.get_by_role("link", name="Decoder", exact=True).wait_for(timeout=60_000)
    assert "lang=zh" not in page.url
