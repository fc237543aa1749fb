"""Points on the 2-D latent map: new codes placed on a projection of the test codes, and the axes.

The map of a model's test codes (`vae.latent.project_2d`) is the codes themselves for a 2-D
latent, their first two principal components, or t-SNE. Codes that were not part of the map
(a user's drawings, cluster centres) can be placed on the first two; t-SNE fits its embedding
to the points it was given and has no way to place new ones (van der Maaten & Hinton 2008).
"""

from __future__ import annotations

import numpy as np

AXIS_TITLES = {"identity": ("z₁", "z₂"), "pca": ("PC 1", "PC 2"), "tsne": ("t-SNE 1", "t-SNE 2")}


def place_codes(codes: np.ndarray, method: str, pca: object | None = None) -> np.ndarray | None:
    """New codes (N, D) as points (N, 2) on a map made by `method`, or None on a t-SNE map.

    "identity" keeps the first two coordinates (the map of a 2-D latent); "pca" needs the map's
    fitted `pca` (anything with sklearn's `transform`).
    """
    if method not in AXIS_TITLES:
        raise ValueError(f"method must be one of {list(AXIS_TITLES)}, got {method!r}")
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2:
        raise ValueError(f"codes must be (N, D), got shape {codes.shape}")
    if method == "tsne":
        return None
    if method == "identity":
        return codes[:, :2].copy()
    if pca is None:
        raise ValueError("a PCA map needs its fitted pca to place new codes")
    return np.asarray(pca.transform(codes))


def ellipse_rows(rows: np.ndarray, n: int = 300, seed: int = 0) -> np.ndarray:
    """A seeded subset of at most n of the map's `rows` whose posterior ellipses are drawn (more is a blur)."""
    rows = np.asarray(rows)
    pick = np.random.default_rng(seed).choice(len(rows), size=min(n, len(rows)), replace=False)
    return rows[pick]
