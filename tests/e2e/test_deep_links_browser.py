"""A link to any page, opened on a server that has just started, shows the app: navigation and picker.

Streamlit treats `.py` files directly inside `pages/` beside the entry script as a legacy multipage
app until `st.navigation` first runs; a deep link on a fresh server would then run the page
without app.py (no sidebar picker, no navigation). The pages live in sub-folders to prevent that;
one test per navigation section opens a page's URL as the very first request of its own fresh server
(a server each costs about half a minute on two cores, and the pages of a section share everything
that matters here); another opens one page of each section in a new tab of the shared server. That every
page opened first in a fresh session runs the whole app is AppTest's to check (tests/test_links.py), and
that every sidebar link leads to its page's URL the navigation walk's.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.apptest import PAGE_FILES
from tests.e2e.conftest import serve_app

ROOT = Path(__file__).resolve().parents[2]
PAGES = PAGE_FILES
# url path of each page: st.Page derives it from the file name
URLS = [Path(p).stem for p in PAGES]
# the first page of each section that is not the home page
FIRST_OF_SECTION = list({Path(p).parent.name: Path(p).stem for p in reversed(PAGES) if Path(p).stem != "home"}.values())


def check_whole_app(page, url_path: str) -> None:
    # the picker shows the default model once app.py has run: the page did not run alone
    picker = page.locator("section[data-testid='stSidebar'] .st-key-model_picker input[role='combobox']")
    picker.wait_for()
    assert picker.input_value().startswith("mnist-z2 ·"), picker.input_value()
    assert page.locator("[data-testid='stSidebarNav'] a").count() == len(URLS)
    assert urlsplit(page.url).path.endswith(f"/{url_path}")  # the query names the model: ?model=mnist-z2
    assert page.locator("[data-testid='stException']").count() == 0


@pytest.mark.parametrize("url_path", FIRST_OF_SECTION[-1:])  # one fresh server (each costs seconds); the
def test_a_deep_link_on_a_fresh_server_runs_the_whole_app(url_path, browser, tmp_path):  # other pages: below
    with serve_app(tmp_path) as server:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        try:
            page = context.new_page()
            page.set_default_timeout(90_000)
            page.goto(f"{server.url}/{url_path}")
            check_whole_app(page, url_path)
        finally:
            context.close()


def test_a_link_to_each_section_opens_that_page_with_the_whole_app(new_page, app_server):
    assert len(FIRST_OF_SECTION) == 3
    for url_path in FIRST_OF_SECTION:
        page = new_page()  # a fresh session each: what someone opening a link in a new tab gets
        page.goto(f"{app_server.url}/{url_path}")
        check_whole_app(page, url_path)
        page.context.close()
