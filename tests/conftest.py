"""Fixtures shared by the AppTest page tests."""

import pytest


@pytest.fixture
def user_dir(tmp_path, monkeypatch):
    """An empty folder the app saves the user's models in (VAE_USER_MODELS_DIR), per test."""
    path = tmp_path / "user-models"
    monkeypatch.setenv("VAE_USER_MODELS_DIR", str(path))
    return path
