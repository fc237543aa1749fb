"""Fixtures for browser tests: the app served by `streamlit run`, and headless Chromium via Playwright.

`app_server` starts one Streamlit server per test session on a free port of 127.0.0.1, with the
user-models directory pointed at a temporary folder (`app_server.user_models`); `serve_app` starts
another one (e.g. with its own environment) for a module that needs it. `browser` launches
Debian's /usr/bin/chromium (Playwright's own browser download is never used); `page` opens a fresh
page per test and saves a full-page screenshot to `test-artifacts/<test>.png` when the test fails;
`new_page` opens more, each in its own browser context (a separate Streamlit session), with the
same screenshots (`<test>-1.png`, ...).
Without Chromium the tests skip, except in CI (`CI=true`), where they fail. Every test here is
marked `browser`, so `pytest -m "not browser"` leaves them out.
The server inherits this process's `VAE_DATA_DIR` (set or unset), so a test can compute what the
server shows with `explorer.registry.showable_split`.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from tools.appserver import CHROMIUM, CHROMIUM_MISSING, chromium, streamlit_app

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
E2E = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Mark every test under tests/e2e `browser` (before `-m` deselects), wherever it was collected from."""
    for item in items:
        if E2E in item.path.resolve().parents:
            item.add_marker(pytest.mark.browser)


@dataclass
class AppServer:
    url: str
    user_models: Path
    log: Path


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@contextmanager
def serve_app(tmp: Path, env: dict[str, str] | None = None) -> Iterator[AppServer]:
    """`streamlit run app.py`, headless on 127.0.0.1, until the block ends; yields once /_stcore/health answers.

    tmp: a folder for the server's log and, unless `env` sets VAE_USER_MODELS_DIR, its empty
    user-models folder. env: extra environment variables for the server (e.g. a models folder
    with broken models in it).
    """
    user_models = tmp / "user-models"
    user_models.mkdir(exist_ok=True)
    env = {"VAE_USER_MODELS_DIR": str(user_models), **(env or {})}
    with streamlit_app(tmp / "streamlit.log", env, timeout_s=90) as app:
        yield AppServer(app.url, Path(app.env["VAE_USER_MODELS_DIR"]), app.log)


@pytest.fixture(scope="session")
def app_server(tmp_path_factory) -> Iterator[AppServer]:
    """One server for the whole test session, its user-models folder empty at the start."""
    with serve_app(tmp_path_factory.mktemp("app-server")) as server:
        yield server


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium from /usr/bin/chromium (never a downloaded browser)."""
    if not Path(CHROMIUM).exists():
        if _in_ci():
            pytest.fail(CHROMIUM_MISSING)
        pytest.skip(CHROMIUM_MISSING)
    with chromium() as b:
        yield b


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so fixtures can tell whether the test failed."""
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


def record_failure(pg, request, name: str) -> None:
    """Keep what a failed test's page showed: a full-page screenshot in test-artifacts/`name`.png, and,
    printed (CI keeps the output, not the screenshots, and a browser test that timed out says only
    what it waited for), the page's text and the end of its server's log."""
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        pg.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    except Exception as e:  # a crashed page must not hide the test's own failure
        print(f"could not save a screenshot: {e}")
    try:
        text = pg.locator("[data-testid='stMain']").inner_text(timeout=5_000)
        print("--- the page's text when the test failed ---\n" + text[-3_000:])
    except Exception as e:
        print(f"could not read the page: {e}")
    server = request.node.funcargs.get("app_server")
    if isinstance(server, AppServer) and server.log.exists():
        print("--- the end of the server's log ---\n" + server.log.read_text(errors="replace")[-3_000:])


@pytest.fixture
def new_page(browser, request):
    """A factory of 1400x1000 pages, each in a fresh browser context (its own cookies: its own Streamlit
    session); if the test fails, each page's screenshot, text and server log are kept (record_failure)."""
    contexts = []

    def make():
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        contexts.append(context)
        pg = context.new_page()
        pg.set_default_timeout(60_000)
        return pg

    yield make
    rep = getattr(request.node, "rep_call", None)
    failed = rep is not None and rep.failed
    for i, context in enumerate(contexts, 1):
        if failed:
            for pg in context.pages:
                record_failure(pg, request, request.node.name if len(contexts) == 1 else f"{request.node.name}-{i}")
        context.close()


@pytest.fixture
def page(new_page):
    """A fresh 1400x1000 page; if the test fails, test-artifacts/<test>.png and its text (new_page)."""
    return new_page()
