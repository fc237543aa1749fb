"""Fixtures shared by the AppTest page tests, and how the suite is shared between two processes.

The README's `pytest` runs on two worker processes (pytest-xdist, `-n 2 --dist loadgroup` in
pyproject.toml): a test module's tests stay together (its module-scoped fixtures are built once),
and every browser test goes to one worker, which keeps one app server and one Chromium for them all
while the other worker runs the rest. `pytest -n 0` runs in one process.
"""

from pathlib import Path

import pytest

E2E = Path(__file__).resolve().parent / "e2e"


def pytest_collection_modifyitems(config, items):
    for item in items:
        browser = E2E in item.path.resolve().parents
        item.add_marker(pytest.mark.xdist_group("browser" if browser else item.path.stem))


@pytest.fixture
def user_dir(tmp_path, monkeypatch):
    """An empty folder the app saves the user's models in (VAE_USER_MODELS_DIR), per test."""
    path = tmp_path / "user-models"
    monkeypatch.setenv("VAE_USER_MODELS_DIR", str(path))
    return path
