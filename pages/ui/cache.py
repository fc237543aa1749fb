"""Streamlit caches around the app package: models, datasets, encoded test sets, projections, PNGs.

Models are `st.cache_resource` and shared by every session, so they are never mutated after
loading (eval mode, no gradients). Every key includes the weights' modification time, so a model
re-trained under the same name is picked up.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import streamlit as st

import vae
from explorer import registry
from explorer.i18n import lazy
from explorer.images import png_bytes


@st.cache_resource(show_spinner=lazy("Loading model…"), max_entries=16)
def load_model(path: str, mtime: float) -> tuple[vae.VAE, vae.ModelCard]:
    """Load once per (path, modification time)."""
    model, card = vae.load_model(path, device="cpu")
    for p in model.parameters():
        p.requires_grad_(False)  # shared between sessions: read-only
    return model, card


@st.cache_resource(show_spinner=lazy("Loading dataset…"), max_entries=8)
def showable_split(name: str, split: str = "test") -> tuple[vae.Split, str | None]:
    return registry.showable_split(name, split)


@st.cache_data(show_spinner=lazy("Encoding the test set…"), max_entries=16)
def encoded(model_path: str, mtime: float, dataset: str) -> dict[str, np.ndarray]:
    """Posterior means/log-variances of the test split the app shows for this model."""
    model, _ = load_model(model_path, mtime)
    split, _ = showable_split(dataset)
    enc = vae.encode_dataset(model, split.x, split.y)
    return {"mu": enc.mu.numpy(), "logvar": enc.logvar.numpy(), "labels": enc.labels.numpy()}


@st.cache_data(show_spinner=lazy("Measuring the model on the test set…"), max_entries=16)
def live_metrics(model_path: str, mtime: float, dataset: str) -> dict[str, Any]:
    """Test-set ELBO terms of the model, measured now (nats per image, one z sample per image)."""
    model, _ = load_model(model_path, mtime)
    split, note = showable_split(dataset)
    metrics = vae.evaluate(model, split.x, labels=split.y)
    return {**metrics, "n_images": len(split), "dataset": split.name, "note": note}


@st.cache_data(show_spinner=lazy("Projecting the codes to 2-D…"), max_entries=16)
def projection(model_path: str, mtime: float, dataset: str, method: str, max_points: int = 3000) -> dict[str, Any]:
    """2-D coordinates of the test codes (identity for 2-D models, PCA, or t-SNE on a subsample)."""
    enc = encoded(model_path, mtime, dataset)
    p = vae.project_2d(enc["mu"], method=method, max_points=max_points)
    return {"coords": p.coords, "rows": p.indices, "method": p.method, "pca": p.pca}


@st.cache_data(show_spinner=False, max_entries=512)
def png(image: np.ndarray) -> bytes:
    """PNG bytes of a uint8 image, cached: st.image would otherwise encode the same pixels on every
    rerun (most of a Decoder rerun's server time). st.image passes PNG bytes through unchanged as
    long as they are no wider than the width asked for and output_format="PNG" is given: with its
    default "auto" it re-encodes any image without alpha as JPEG (server time, and smeared pixels)."""
    return png_bytes(image)
