"""Walk the app the way a lecturer does, in a real browser: every page, back and forth, Back and Forward.

Each test is one Streamlit session (one page object) on the shipped default model, driven only by
sidebar clicks, the browser's Back/Forward buttons and a few widgets. After every step it waits for
the page's title (h1) and for the script run to finish, then looks for an exception box
(`stException`) and for JavaScript errors. A test records every bad step and fails once at the end,
naming each page with the navigation that led to it and the start of the exception text, so one run
lists everything that needs fixing.

Pages are addressed by their sidebar link text (the `st.navigation` titles in app.py) and checked by
their URL path, which survives moving the page files around.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Error as PlaywrightError

# (sidebar link text, URL path, text in the page's h1), in sidebar order.
PAGES = [
    ("What is a VAE?", "", "VAE Latent Explorer"),
    ("2-D toy VAE", "toy", "2-D toy VAE"),
    ("Likelihood & samples", "likelihood", "Likelihood & samples"),
    ("KL: exact vs sampled", "kl", "KL: exact vs sampled"),
    ("Why reparameterise?", "reparameterisation", "Why reparameterise?"),
    ("Inference for one image", "inference", "Inference for one image"),
    ("Bayesian neural network", "bnn", "Bayesian neural network"),
    ("Reconstructions", "reconstruct", "Reconstructions"),
    ("Latent map", "latent_map", "Latent map"),
    ("Decoder", "decoder", "Decoder: from a code z to an image"),
    ("Anomalies", "anomaly", "Anomalies"),
    ("Clusters", "clusters", "Clusters"),
    ("Log-likelihood (IWAE)", "loglik", "Log-likelihood (IWAE)"),
    ("β & rate–distortion", "rate_distortion", "β & rate–distortion"),
    ("Train a model", "train", "Train a model"),
]
TITLES = [title for title, _, _ in PAGES]
PATH = {title: path for title, path, _ in PAGES}
H1 = {title: h1 for title, _, h1 in PAGES}

EXCEPTION = "[data-testid='stException']"
RUN_TIMEOUT_MS = 120_000  # the first visit of a page computes (and caches) on two CPU cores

# Counts finished script runs (full runs and fragment runs) on the app root's script-state attribute,
# so a step can wait for "a run has started and finished since I acted" instead of for a moment.
WATCH_RUNS_JS = """() => {
    const app = document.querySelector("[data-testid='stApp']");
    if (window.__runWatch && window.__runWatch.app === app) return;
    if (window.__runWatch) window.__runWatch.obs.disconnect();
    const w = {app, finished: 0, obs: null};
    w.obs = new MutationObserver(records => {
        for (const r of records) if (r.oldValue === 'running' || r.oldValue === 'rerunRequested') w.finished++;
    });
    w.obs.observe(app, {attributes: true, attributeFilter: ['data-test-script-state'], attributeOldValue: true});
    window.__runWatch = w;
}"""
FINISHED_RUNS_JS = "() => window.__runWatch ? window.__runWatch.finished : 0"
IDLE_AFTER_JS = """n => {
    const app = document.querySelector("[data-testid='stApp']");
    return !!app && window.__runWatch && window.__runWatch.finished > n
        && app.getAttribute('data-test-script-state') === 'notRunning'
        && !document.querySelector("[data-testid='stStatusWidget']");
}"""
IDLE_JS = """() => {
    const app = document.querySelector("[data-testid='stApp']");
    return !!app && app.getAttribute('data-test-script-state') === 'notRunning'
        && !document.querySelector("[data-testid='stStatusWidget']");
}"""


class Walk:
    """One browser session through the app; `failures` collects what went wrong, step by step."""

    def __init__(self, page, url: str):
        self.page, self.url = page, url.rstrip("/")
        self.trail: list[str] = []  # the steps so far, as "Decoder", "[Back] Decoder", ...
        self.failures: list[str] = []
        self.js_errors: list[str] = []
        page.on("pageerror", lambda e: self.js_errors.append(str(e)))

    # --- steps ---------------------------------------------------------------------------------------

    def open_home(self) -> None:
        self.page.goto(self.url + "/")
        self.trail.append("open /")
        self._check("What is a VAE?")

    def click(self, title: str) -> None:
        """Go to a page by its sidebar link."""
        nav = self.page.locator("[data-testid='stSidebarNav']")
        link = nav.get_by_role("link", name=title, exact=True)
        if not link.is_visible():  # a long menu is collapsed behind "View more"
            nav.get_by_role("button", name=re.compile("more", re.I)).click()
        link.click()
        self.trail.append(title)
        self._check(title)

    def back(self, expected: str) -> None:
        self.page.go_back()
        self.trail.append(f"[Back] {expected}")
        self._check(expected)

    def forward(self, expected: str) -> None:
        self.page.go_forward()
        self.trail.append(f"[Forward] {expected}")
        self._check(expected)

    def act(self, what: str, action, done_js: str | None = None, arg=None) -> None:
        """Use a widget on the current page; wait for the rerun it causes, then check.

        done_js: a condition only that rerun makes true (new text, a button enabled); once it holds, waiting
        for the app to be idle is enough. Without it the step counts finished runs, which misses a run so
        fast that React never draws its 'running' state (a warm cache): give `done_js` where you can.
        """
        mark = self._mark()
        self.trail.append(f"({what})")
        where = f"{self._current} after {self.path()}"
        try:
            action()
            if done_js is not None:
                self.page.wait_for_function(done_js, arg=arg, timeout=RUN_TIMEOUT_MS)
            self._wait_idle(None if done_js is not None else mark)
        except PlaywrightError as e:
            self._give_up(where, "the widget did not respond", e)
        self._record(where)

    def finish(self) -> None:
        assert not self.failures, (f"{len(self.failures)} bad step(s):\n\n" + "\n\n".join(self.failures))

    # --- checks --------------------------------------------------------------------------------------

    def path(self, n: int = 4) -> str:
        steps = self.trail[-n:]
        return ("… -> " if len(self.trail) > n else "") + " -> ".join(steps)

    def _mark(self) -> int:
        self.page.evaluate(WATCH_RUNS_JS)
        return self.page.evaluate(FINISHED_RUNS_JS)

    def _wait_idle(self, mark: int | None) -> None:
        if mark is None:
            self.page.wait_for_function(IDLE_JS, timeout=RUN_TIMEOUT_MS)
        else:
            self.page.wait_for_function(IDLE_AFTER_JS, arg=mark, timeout=RUN_TIMEOUT_MS)

    def _check(self, title: str) -> None:
        """The page `title` is shown (its h1 and URL), its run finished, with no exception box and no JS error."""
        self._current = title
        where = f"{title} after {self.path()}"
        h1 = self.page.locator("h1").filter(has_text=H1[title]).first
        try:
            h1.wait_for(timeout=RUN_TIMEOUT_MS)
            # The page's own h1 is drawn by its run, so that run has started: waiting for the app to
            # be idle is enough. (Counting finished runs since `mark` missed a run once in CI: the
            # observer can miss the transition when the app root is redrawn on a page switch.)
            self.page.evaluate(WATCH_RUNS_JS)
            self._wait_idle(None)
        except PlaywrightError as e:
            self._give_up(where, "the page did not finish loading", e)
        pathname = self.page.evaluate("() => location.pathname")
        if pathname.strip("/") != PATH[title]:
            self.failures.append(f"{where}: the URL path is {pathname!r}, not '/{PATH[title]}'")
        self._record(where)

    def _give_up(self, where: str, what: str, error: Exception) -> None:
        """A step that cannot finish ends the walk: fail with it, and with the bad steps before it."""
        shown = ", ".join(self.page.locator("h1").all_inner_texts()) or "no h1"
        text = self._exception_text() or "no exception box"
        earlier = ("\n\nEarlier bad steps:\n\n" + "\n\n".join(self.failures)) if self.failures else ""
        raise AssertionError(f"{where}: {what} ({shown} shown; {text}): {str(error).splitlines()[0]}{earlier}") from None

    def _record(self, where: str) -> None:
        text = self._exception_text()
        if text:
            self.failures.append(f"{where}: exception box:\n    " + text.replace("\n", "\n    "))
        if self.js_errors:
            self.failures.append(f"{where}: JavaScript error(s): {self.js_errors}")
            self.js_errors.clear()

    def _exception_text(self) -> str:
        boxes = self.page.locator(EXCEPTION)
        if boxes.count() == 0:
            return ""
        return boxes.first.inner_text()[:500]


@pytest.fixture
def walk(page, app_server):
    w = Walk(page, app_server.url)
    w.open_home()
    return w


def test_walk_every_page_then_back_and_forth(walk):
    # Down the menu and back up it: every pair of sidebar neighbours both ways (A -> B, then B -> A), and
    # every page entered again after the user has left it (the Decoder once crashed on return).
    for title in TITLES[1:]:
        walk.click(title)
    for title in reversed(TITLES[:-1]):
        walk.click(title)
    walk.finish()


def test_back_button_returns_to_working_pages(walk):
    visited = ["What is a VAE?", "Reconstructions", "Latent map", "Decoder", "Train a model"]
    for title in visited[1:]:
        walk.click(title)
    for title in reversed(visited[:-1]):  # Back to Decoder (just left), Latent map, Reconstructions, home
        walk.back(title)
    for title in visited[1:]:  # and Forward through them all again
        walk.forward(title)
    # Decoder -> another page -> Back, straight away, and once more after a different detour.
    walk.click("Decoder")
    walk.click("Anomalies")
    walk.back("Decoder")
    walk.forward("Anomalies")
    walk.back("Decoder")
    walk.finish()


def _metric_value(page, label: str) -> str:
    return page.locator("[data-testid='stMetric']").filter(has_text=label).locator(
        "[data-testid='stMetricValue']").first.inner_text()


def test_interacting_then_leaving_and_returning(walk):
    page = walk.page

    # Decoder: start from a test image, pick another one; leave for the Latent map and come back.
    walk.click("Decoder")
    walk.act("Start from: A test image",
             lambda: page.locator(".st-key-dec_start").get_by_role("radio", name="A test image").click(),
             "() => { const b = document.querySelector('.st-key-dec_pick_btn button'); return b && !b.disabled; }")
    code = page.locator("[data-testid='stCode']").first.inner_text()
    walk.act("Another test image", lambda: page.locator(".st-key-dec_pick_btn button").click(),
             "c => { const e = document.querySelector(\"[data-testid='stCode']\"); return e && e.innerText !== c; }",
             code)
    walk.click("Latent map")
    walk.click("Decoder")

    # Reconstructions: other images (Reshuffle) and the mean instead of a sample; leave and come back.
    walk.click("Reconstructions")
    walk.act("Reshuffle", lambda: page.locator(".st-key-recon_shuffle button").click(),
             "() => document.querySelector(\"[data-testid='stMain']\").innerText.includes('Seed 1 ·')")
    walk.act("Show: a sampled z", lambda: page.locator(".st-key-recon_mode [data-testid='stRadioOption']").nth(1).click(),
             "() => { const r = document.querySelectorAll('.st-key-recon_mode input'); return r.length > 1 && r[1].checked; }")
    walk.click("Latent map")

    # Latent map: 1σ ellipses and prior & holes on; leave for Anomalies and come back.
    walk.act("1σ ellipses on", lambda: page.locator(".st-key-map_ellipses label p").first.click(),
             "() => document.querySelector('.st-key-map_ellipses input').checked")
    walk.act("Prior & holes on", lambda: page.locator(".st-key-map_holes label p").first.click(),
             "() => document.querySelector('.st-key-map_holes input').checked")
    walk.click("Anomalies")

    # Anomalies: move the threshold a step; leave for Clusters and come back, then for other pages.
    threshold = _metric_value(page, "Threshold")

    def raise_threshold():
        page.locator(".st-key-anomaly_threshold input[type='range']").first.focus()
        page.keyboard.press("ArrowRight")

    walk.act("threshold up", raise_threshold,
             """t => { const m = [...document.querySelectorAll("[data-testid='stMetric']")]
                          .find(e => e.innerText.includes('Threshold'));
                       return m && !m.innerText.includes(t); }""", threshold)
    walk.click("Clusters")
    walk.click("Anomalies")
    walk.click("Latent map")
    walk.click("Reconstructions")
    walk.click("Anomalies")
    walk.finish()
