"""The codes behind the Decoder page's grids, and the words under them.

The same style given every label (a conditional model), the learned manifold around the current
code, lerp and slerp between two test codes, and samples from the prior: each is a batch of
codes (and labels) for the page to decode, with the layout that shows it. The codes come from
`vae.latent`; nothing here needs a model or Streamlit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from vae.latent import grid_values, interpolate, manifold_codes, prior_samples

from .decoder_axes import dim_name
from .i18n import N_, _
from .images import mark_cell, nearest_cell

PRIOR_SAMPLES = 64  # an unconditional model's prior grid: 4 rows of 16
PRIOR_ROWS_PER_LABEL = 6  # a conditional model's: this many rows, one column per label
INTERPOLATIONS = (  # (method, label: marked here, translated where shown)
    ("lerp", N_("**Linear (lerp)**: the straight line between the two codes")),
    ("slerp", N_("**Spherical (slerp)**: follows the sphere, keeping the norm the prior expects")),
)


def code_text(z: Sequence[float]) -> str:
    """The readout of a code: "z = [+0.50, -1.00]"."""
    return "z = [" + ", ".join(f"{v:+.2f}" for v in z) + "]"


def same_style(z: Sequence[float], n_classes: int) -> tuple[np.ndarray, tuple[int, ...]]:
    """Codes (n_classes, D), all equal to z, and the labels 0..n_classes-1 to decode them with."""
    return np.array([list(z)] * n_classes, dtype=np.float32), tuple(range(n_classes))


def same_style_caption(z: Sequence[float]) -> str:
    return _("The same style {code} given each label: the conditional model separates *what* digit from *how* it "
             "is written.").format(code=code_text(z))


@dataclass(frozen=True)
class Manifold:
    """An n x n grid of codes over dimensions dims = (x, y), the others held at the current code.

    codes: (n*n, D) float32, row-major, top row at the highest y (`vae.latent.manifold_codes`).
    cell: (row, col) of the grid cell nearest the current code, or None when the code lies off
    the grid (`outside`: its (dim, value) pairs beyond the grid). scale: how much the page enlarges
    the tiled grid; image_size: one image's height and width before that. edge: the grid's outermost
    coordinate (both axes span ±edge).
    """

    codes: np.ndarray
    n: int
    dims: tuple[int, int]
    cell: tuple[int, int] | None
    scale: int
    image_size: int
    latent_dim: int
    edge: float = 0.0
    outside: tuple[tuple[int, float], ...] = ()

    def mark(self, grid: np.ndarray) -> np.ndarray:
        """RGB copy of the enlarged, tiled grid with a box around the cell nearest the current code
        (no box when the code is off the grid: the nearest cell would only be a corner or an edge)."""
        if self.cell is None:
            return np.repeat(np.asarray(grid, dtype=np.uint8)[..., None], 3, axis=2)
        big = self.image_size > 8  # 28x28 images have an empty margin a thicker box may cover
        return mark_cell(grid, *self.cell, cell=self.image_size, pad=2, scale=self.scale, inset=int(big))

    def text(self) -> str:
        dx, dy = self.dims
        fields = {"n": self.n, "edge": self.edge, "x": dim_name(dx), "y": dim_name(dy)}
        if self.latent_dim == 2:
            return _("Each cell decodes a code on a {n} × {n} grid of standard-normal quantiles (5 % to 95 %, "
                     "±{edge:.2f}): {x} grows left to right, {y} bottom to top.").format(**fields)
        return _("Each cell decodes a code on a {n} × {n} grid of standard-normal quantiles (5 % to 95 %, ±{edge:.2f}): "
                 "{x} grows left to right, {y} bottom to top, the other dimensions stay at the current code."
                 ).format(**fields)

    def box_text(self) -> str:
        """What the red box shows, or why there is none."""
        if self.cell is not None:
            return _("The :red[**red box**] is the cell nearest to your current code.")
        coords = [f"{dim_name(k)} = {v:+.2f}" for k, v in self.outside]  # one or both of the grid's two dimensions
        where = coords[0] if len(coords) == 1 else _("{first} and {second}").format(first=coords[0], second=coords[1])
        return _("z is outside the grid shown (±{edge:.2f}): {where}, so no cell is marked. The decoded image above "
                 "shows what z decodes to.").format(edge=self.edge, where=where)


def outside_grid(values: np.ndarray, point: Sequence[float]) -> list[int]:
    """Which coordinates of `point` lie beyond the grid of ascending `values`: further than half the
    outermost gap past the first or last value (within that, the edge cell is the nearest)."""
    v = np.asarray(values, dtype=np.float64)
    lo, hi = v[0] - (v[1] - v[0]) / 2, v[-1] + (v[-1] - v[-2]) / 2
    return [i for i, p in enumerate(point) if not lo <= p <= hi]


def manifold(z: Sequence[float], dims: tuple[int, int], image_size: int) -> Manifold:
    """The manifold grid through the current code z: 15 x 15 cells for 28x28 images, 10 x 10 for 8x8."""
    big = image_size > 8
    n = 15 if big else 10
    codes = manifold_codes(len(z), n=n, dims=dims, base=torch.tensor(list(z), dtype=torch.float32))
    values = grid_values(n).numpy()
    point = (float(z[dims[0]]), float(z[dims[1]]))
    off = outside_grid(values, point)
    cell = None if off else nearest_cell(values, point)
    return Manifold(codes.numpy(), n, dims, cell, 2 if big else 5, image_size, len(z), float(values[-1]),
                    tuple((dims[i], point[i]) for i in off))


def interpolations(mu_a: np.ndarray, mu_b: np.ndarray, steps: int) -> list[tuple[str, np.ndarray]]:
    """(label, codes (steps, D)) for each way from code a to code b, lerp first."""
    a, b = torch.as_tensor(mu_a), torch.as_tensor(mu_b)
    return [(label, interpolate(a, b, steps, method).numpy()) for method, label in INTERPOLATIONS]


@dataclass(frozen=True)
class PriorGrid:
    """Codes drawn from the prior, tiled `nrow` to a row; labels: one per code (conditional models)."""

    codes: np.ndarray
    nrow: int
    labels: tuple[int, ...] | None
    caption: str


def prior_grid(latent_dim: int, seed: int, prior: torch.nn.Module | None = None, n_classes: int = 0,
               mixture: bool = False) -> PriorGrid:
    """Codes from the model's prior (`model.prior`; None: N(0, I)), seeded.

    A conditional model (n_classes > 0) gets PRIOR_ROWS_PER_LABEL rows with one column per label;
    an unconditional one PRIOR_SAMPLES codes, 16 to a row. mixture: the prior is a learned mixture
    (only the caption's words depend on it).
    """
    if n_classes:
        n, nrow = PRIOR_ROWS_PER_LABEL * n_classes, n_classes
        labels: tuple[int, ...] | None = tuple(i % n_classes for i in range(n))
    else:
        n, nrow, labels = PRIOR_SAMPLES, 16, None
    codes = prior_samples(latent_dim, n, torch.Generator().manual_seed(seed), prior=prior).numpy()
    fields = {"n": n, "seed": seed, "rows": PRIOR_ROWS_PER_LABEL}
    if mixture and n_classes:
        caption = _("{n} codes drawn from its learned mixture prior (seed {seed}), decoded: what the model generates "
                    "from scratch, one column of {rows} per digit.")
    elif mixture:
        caption = _("{n} codes drawn from its learned mixture prior (seed {seed}), decoded: what the model generates "
                    "from scratch.")
    elif n_classes:
        caption = _("{n} codes drawn from the prior z ~ N(0, I) (seed {seed}), decoded: what the model generates from "
                    "scratch, one column of {rows} per digit.")
    else:
        caption = _("{n} codes drawn from the prior z ~ N(0, I) (seed {seed}), decoded: what the model generates from "
                    "scratch.")
    caption = caption.format(**fields)
    return PriorGrid(codes, nrow, labels, caption)


@dataclass(frozen=True)
class Traversal:
    """Every latent dimension swept on its own from a code z: one row per dimension, most used first.

    codes: (len(dims) * steps, D), row after row; dims: the dimension of each row; kl: its KL to the
    prior (nats, from the model card; None when unknown); values: the swept values of each row.
    """

    codes: np.ndarray
    dims: tuple[int, ...]
    kl: tuple[float | None, ...]
    values: np.ndarray


def traversal(z: Sequence[float], reach: Sequence[float], kl_per_dim: Sequence[float] = (), steps: int = 9) -> Traversal:
    """Sweep each dimension over ±reach[d] with the others held at z; rows ordered by KL, largest first
    (the active dimensions on top, collapsed ones below), or in index order without KLs."""
    z = np.asarray(z, dtype=np.float32)
    d = len(z)
    kls = list(kl_per_dim) if len(kl_per_dim) == d else [None] * d
    order = sorted(range(d), key=lambda k: -(kls[k] or 0.0)) if kls[0] is not None else list(range(d))
    values = np.stack([np.linspace(-reach[k], reach[k], steps, dtype=np.float32) for k in order])  # (rows, steps)
    codes = np.repeat(z[None], len(order) * steps, axis=0)
    for row, k in enumerate(order):
        codes[row * steps : (row + 1) * steps, k] = values[row]
    return Traversal(codes, tuple(order), tuple(kls[k] for k in order), values)
