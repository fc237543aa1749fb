"""Where the real datasets are for tests: `VAE_DATA_DIR`, or skip locally and fail in CI."""

import os
from pathlib import Path

import pytest

from vae.data import _TORCHVISION, available_offline


def in_ci() -> bool:
    """CI=true (or 1, yes): a missing dataset or model is then a failure, not a skip."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def data_root(name: str) -> Path:
    """The `VAE_DATA_DIR` that holds `name`, or skip (fail when CI=true) saying how to provide it."""
    root = os.environ.get("VAE_DATA_DIR")
    if root and available_offline(name, root):
        return Path(root)
    msg = (f"{name} files not found (VAE_DATA_DIR={root!r}): point VAE_DATA_DIR at a folder holding "
           f"{_TORCHVISION[name]}/raw/ with the four IDX files, e.g. ../shared/data")
    if in_ci():
        pytest.fail(msg)
    pytest.skip(msg)


def held_out_split(name: str):
    """The test split of any dataset: the bundled ones directly, the torchvision sets from `data_root`."""
    from vae.data import load_dataset

    root = data_root(name) if name in _TORCHVISION else None
    return load_dataset(name, "test", root=root, download=False)


def require_shipped_model(path: Path) -> Path:
    """A model directory committed in models/, or skip (fail when CI=true): it may not be trained yet."""
    if (path / "model.safetensors").is_file():
        return path
    if in_ci():
        pytest.fail(f"{path} is missing: the shipped models are part of the repository")
    pytest.skip(f"{path} is not trained yet")
