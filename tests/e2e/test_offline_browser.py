"""The app needs no network: no page asks the browser for anything but the app's own server.

Opens every page listed in the sidebar and records each request the browser makes. A request to
another host would fail offline (a console error, a missing icon) and tells a third party who
opens the app. (Found this way: a `:material/...:` page icon made every page fetch its favicon
from fonts.gstatic.com.)
"""

from __future__ import annotations

from urllib.parse import urlparse

LOCAL = {"127.0.0.1", "localhost"}


def test_no_page_requests_anything_outside_the_server(page, app_server):
    outside: list[str] = []

    def record(request):
        url = urlparse(request.url)
        if url.scheme not in ("data", "blob") and url.hostname not in LOCAL:
            outside.append(request.url)

    page.on("request", record)
    page.goto(app_server.url)
    page.get_by_text("What is a VAE?").first.wait_for()
    links = page.locator("[data-testid='stSidebarNav'] a")
    links.first.wait_for()
    more = page.locator("[data-testid='stSidebarNavViewButton']")
    if more.count() and "more" in more.inner_text().lower():  # a long page list starts folded
        more.click()
    n = links.count()
    assert n >= 5, links.all_inner_texts()
    for i in range(n):
        links.nth(i).click()
        page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=120_000)
        page.wait_for_timeout(300)  # late requests (icons, fonts) of the page just drawn
    assert not outside, sorted(set(outside))
