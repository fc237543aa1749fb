"""Points on the 2-D latent map: new codes placed on a projection of the test codes, the axes, the
order the points are drawn in and the point a click selected.

The map of a model's test codes (`vae.latent.project_2d`) is the codes themselves for a 2-D
latent, their first two principal components, or t-SNE. Codes that were not part of the map
(a user's drawings, cluster centres) can be placed on the first two; t-SNE fits its embedding
to the points it was given and has no way to place new ones (van der Maaten & Hinton 2008).
"""

from __future__ import annotations

import numpy as np

_SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def dimension_names(latent_dim: int) -> list[str]:
    """The latent dimensions' names, counted from 1 as in the papers: z₁, z₂, ..., z_D."""
    return [f"z{str(j + 1).translate(_SUBSCRIPTS)}" for j in range(latent_dim)]


AXIS_TITLES = {"identity": tuple(dimension_names(2)), "pca": ("PC 1", "PC 2"), "tsne": ("t-SNE 1", "t-SNE 2")}


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


def interleaved_chunks(groups: np.ndarray, rounds: int = 2, seed: int = 0) -> list[tuple[int, np.ndarray]]:
    """The map's points in drawing order, as (group, indices into `groups`) chunks.

    Plotly draws its traces one after another, so one trace per class paints the last classes over
    the others (the 3s vanished under the 5s, 8s and 9s). Here each group is shuffled (seeded) and
    cut into `rounds` chunks, and every round draws one chunk of each group, the groups in a fresh
    random order: the classes interleave, while each chunk stays a trace of its own class (so the
    legend can still show and hide a class through `legendgroup`). Two rounds: every class has half
    its points in the last round, and the map stays 20 WebGL traces; the browser redraws each trace
    on every update, and 100 of them (10 rounds) made a click or a toggle take 0.3-0.5 s longer
    (benchmarks/interactions.py).
    """
    groups = np.asarray(groups)
    rng = np.random.default_rng(seed)
    values = np.unique(groups)
    parts = {g: np.array_split(rng.permutation(np.flatnonzero(groups == g)), rounds) for g in values}
    return [(g, parts[g][r]) for r in range(rounds) for g in rng.permutation(values) if len(parts[g][r])]


def clicked_row(points: list[dict]) -> int | None:
    """The dataset row of the last clicked map point (its `customdata`), or None when no point of the
    scatter was clicked (points of other traces, e.g. the selection ring, carry no row)."""
    rows = [p["customdata"] for p in points or [] if p.get("customdata") is not None]
    if not rows:
        return None
    row = rows[-1]
    return int(row if np.isscalar(row) else row[0])


def posterior_draws(model, x, y=None, n: int = 8, seed: int = 0):
    """What "the encoder outputs a distribution" means for one image x (1, C, H, W): n codes drawn from
    q(z|x) and the decoder's mean image at each, (n, C, H, W). A plain autoencoder gives n copies of one."""
    import torch

    from vae.latent import decode_images

    with torch.no_grad():
        q = model.encode(x, y)
        g = torch.Generator(device=q.mu.device).manual_seed(seed)
        z = torch.cat([q.sample(g) for _ in range(n)])  # (n, D)
        labels = None if y is None else y.expand(n)
        return z, decode_images(model, z, labels=labels)
