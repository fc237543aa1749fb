"""A VAE on 2-D points: the whole model visible in three scatter plots, trained in seconds on a CPU.

The data are seeded point clouds (Gaussian blobs, scikit-learn's two moons, a ring, a spiral).
The model is the project's own `vae.VAE`, not a separate toy class, so what a student sees here
is exactly the encoder, reparameterisation, decoder, loss and `fit` loop the image models use:

- each point (a, b) becomes a 1x1 "image" with two pixels, `input_shape=(1, 1, 2)`;
- the decoder is the Gaussian likelihood p(x|z) = N(x; x_hat, sigma^2 I) with a fixed sigma
  (`VAEConfig.gaussian_std`). Its mean x_hat comes out of a sigmoid, so it lives in (0, 1):
  the points are mapped into [0.1, 0.9] by one shift and one scale shared by both axes (the
  shapes are not distorted), which keeps every target away from the sigmoid's flat ends where
  gradients vanish. The Gaussian negative log-density then is the exact reconstruction term.
  A Bernoulli decoder would be the wrong likelihood for coordinates.

In these units the default sigma = 0.02 is 1/40 of the data's width: a code must place a point
to about that precision to reconstruct it, and the KL (rate) it pays for that precision shows in
the latent plot. Raising beta (Higgins et al. 2017) or sigma buys a smaller KL with precision:
reconstructions shrink onto a curve or towards the data mean (posterior collapse). With a
1-D latent the decoder can only draw a curve through the plane, which the page shows by
decoding a line of codes; with a 2-D latent it warps the whole latent grid onto the data.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from explorer.i18n import N_
from vae.config import TrainConfig, VAEConfig
from vae.model import VAE, build_model
from vae.train import fit

TOY_DATASETS = {  # name (the value the page keeps) -> what the picker shows, translated where shown
    "blobs": N_("Gaussian blobs (4 clusters)"),
    "moons": N_("two moons"),
    "ring": N_("a ring"),
    "spiral": N_("a spiral"),
}
MARGIN = 0.1  # the data fill [MARGIN, 1 - MARGIN] in the model's units


@dataclass
class ToyData:
    """Points (N, 2) float32 and a colour label per point (N,) int64: blob, moon, or position along the ring/spiral (8 bins)."""

    name: str
    points: np.ndarray
    labels: np.ndarray


def make_toy_data(name: str, n: int = 1000, noise: float = 0.06, seed: int = 0) -> ToyData:
    """A seeded 2-D point cloud by name (a key of TOY_DATASETS); `noise` is the scatter's std in data units."""
    if name not in TOY_DATASETS:
        raise ValueError(f"unknown toy dataset {name!r}; choose one of: {', '.join(TOY_DATASETS)}")
    if not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    if not noise >= 0:
        raise ValueError(f"noise must be >= 0, got {noise!r}")
    rng = np.random.default_rng(seed)
    if name == "blobs":
        centres = np.array([[-1.5, -1.0], [1.5, -1.0], [0.0, 1.5], [2.0, 2.0]])
        labels = rng.integers(0, len(centres), size=n)
        points = centres[labels] + rng.normal(scale=4 * noise, size=(n, 2))
    elif name == "moons":
        from sklearn.datasets import make_moons

        points, labels = make_moons(n_samples=int(n), noise=noise, random_state=int(rng.integers(2**31)))
    elif name == "ring":
        angle = rng.uniform(0, 2 * math.pi, size=n)
        points = np.c_[np.cos(angle), np.sin(angle)] + rng.normal(scale=noise, size=(n, 2))
        labels = (angle / (2 * math.pi) * 8).astype(np.int64)
    else:  # one arm of an Archimedean spiral, 1.5 turns, denser nowhere in particular
        t = np.sqrt(rng.uniform(0, 1, size=n))  # uniform along the arc, roughly
        theta = 0.5 * math.pi + 3 * math.pi * t
        points = np.c_[theta * np.cos(theta), theta * np.sin(theta)] / (3.5 * math.pi) * 2 + rng.normal(scale=noise, size=(n, 2))
        labels = np.minimum((t * 8).astype(np.int64), 7)
    return ToyData(name, points.astype(np.float32), np.asarray(labels, dtype=np.int64))


@dataclass(frozen=True)
class Scaler:
    """Maps points into the decoder's range and back: unit = MARGIN + (p - low) / span * (1 - 2 MARGIN)."""

    low: np.ndarray  # (2,)
    span: float

    @classmethod
    def fit(cls, points: np.ndarray) -> "Scaler":
        low, high = points.min(0), points.max(0)
        return cls(low.astype(np.float64), float(max((high - low).max(), 1e-6)))

    @property
    def unit_per_data(self) -> float:
        return (1 - 2 * MARGIN) / self.span

    def to_unit(self, points: np.ndarray) -> np.ndarray:
        return (MARGIN + (np.asarray(points, np.float64) - self.low) * self.unit_per_data).astype(np.float32)

    def from_unit(self, unit: np.ndarray) -> np.ndarray:
        return (self.low + (np.asarray(unit, np.float64) - MARGIN) / self.unit_per_data).astype(np.float32)


@dataclass
class ToyResult:
    """A trained toy VAE and what it makes of the data, in data units.

    recon (N, 2): decoder mean at z = mu; mu, std (N, D): the posterior of each point;
    samples (M, 2): decoder means of M codes drawn from the prior N(0, I) (what the model generates);
    grid_z, grid_x: lines of codes (L, P, D) (z_i = -2, -1, 0, 1, 2) and their decoded images
        (L, P, 2): one line over z in [-3, 3] for a 1-D latent, five lines per axis for 2-D;
    history: `fit`'s per-epoch records (nats per point).
    """

    model: VAE
    data: ToyData
    scaler: Scaler
    recon: np.ndarray
    mu: np.ndarray
    std: np.ndarray
    samples: np.ndarray
    grid_z: np.ndarray
    grid_x: np.ndarray
    history: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def recon_error(self) -> float:
        """Root-mean-square distance between the points and their reconstructions, in data units."""
        return float(np.sqrt(((self.recon - self.data.points) ** 2).sum(1).mean()))


def latent_grid_lines(latent_dim: int, points: int = 61, levels: tuple[float, ...] = (-2.0, -1.0, 0.0, 1.0, 2.0),
                      extent: float = 3.0) -> np.ndarray:
    """Lines through latent space (L, points, latent_dim): the z axis for D=1; lines z_i = level for D=2."""
    t = np.linspace(-extent, extent, points)
    if latent_dim == 1:
        return t[None, :, None].astype(np.float32)
    lines = [np.c_[t, np.full_like(t, v)] for v in levels] + [np.c_[np.full_like(t, v), t] for v in levels]
    return np.stack(lines).astype(np.float32)


def toy_config(latent_dim: int = 2, hidden: int = 64, sigma: float = 0.02) -> VAEConfig:
    """The toy model: two-pixel images, an MLP with two hidden layers, a Gaussian decoder of fixed std `sigma`."""
    return VAEConfig(input_shape=(1, 1, 2), latent_dim=latent_dim, arch="mlp", hidden_dims=(hidden, hidden),
                     likelihood="gaussian", gaussian_std=sigma)


def train_toy(data: ToyData, latent_dim: int = 2, beta: float = 1.0, epochs: int = 100, seed: int = 0,
              lr: float = 3e-3, batch_size: int = 100, sigma: float = 0.02, n_samples: int = 500,
              on_epoch: Callable[[dict[str, Any]], bool | None] | None = None) -> ToyResult:
    """Train a fresh toy VAE on `data` with the project's `fit` (on CPU) and describe the result.

    Deterministic for a given seed: the weights are initialised from `seed` without touching
    the global random state, and `fit` shuffles and samples with generators seeded from it.
    `on_epoch` is passed to `fit` (return True to stop early).
    """
    if latent_dim not in (1, 2):
        raise ValueError(f"the toy VAE has a latent size of 1 or 2, got {latent_dim!r}")
    scaler = Scaler.fit(data.points)
    x = torch.from_numpy(scaler.to_unit(data.points)).reshape(-1, 1, 1, 2)  # (N, 1, 1, 2): a 2-pixel image
    model = build_model(toy_config(latent_dim, sigma=sigma), seed)
    cfg = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, beta=beta, seed=seed, device="cpu", schedule="cosine")
    t0 = time.perf_counter()
    result = fit(model, x, None, cfg, on_epoch=on_epoch)
    seconds = time.perf_counter() - t0
    model.eval()
    with torch.no_grad():
        q = model.encode(x)
        recon = model.generate(q.mu).reshape(-1, 2).numpy()
        z = torch.randn(n_samples, latent_dim, generator=torch.Generator().manual_seed(seed + 2))
        samples = model.generate(z).reshape(-1, 2).numpy()
        grid_z = latent_grid_lines(latent_dim)
        grid_x = model.generate(torch.from_numpy(grid_z).reshape(-1, latent_dim)).reshape(*grid_z.shape[:2], 2).numpy()
    return ToyResult(model, data, scaler, scaler.from_unit(recon), q.mu.numpy(), q.std.numpy(),
                     scaler.from_unit(samples), grid_z, scaler.from_unit(grid_x), result.history, seconds)
