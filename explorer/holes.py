"""Holes in a 2-D latent space: where the prior p(z) has mass but the aggregate posterior q(z) has little.

Rezende & Viola 2018, "Taming VAEs"; Hoffman & Johnson 2016, "ELBO surgery": sampling the prior
lands in a hole, yet no encoded test image is nearby (q(z) is built from the test set's codes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from vae.latent import decode_images
from vae.model import VAE


@dataclass
class DensityGrid:
    """The prior p(z) and the aggregate posterior q(z) = 1/N sum_i q(z|x_i) on a 2-D grid.

    xs (nx,), ys (ny,): grid coordinates; log_prior, log_aggregate (ny, nx): log densities, row j
    at height ys[j]. Where the prior has mass but q(z) has almost none is a "hole" (Rezende &
    Viola 2018, "Taming VAEs"; Hoffman & Johnson 2016, "ELBO surgery"): sampling the prior lands
    there, yet no encoded test image lies nearby. The test codes stand in for the training codes,
    so the decoder has most likely never learned what to draw there either.
    """

    xs: np.ndarray
    ys: np.ndarray
    log_prior: np.ndarray
    log_aggregate: np.ndarray

    @property
    def cell_area(self) -> float:
        return float((self.xs[1] - self.xs[0]) * (self.ys[1] - self.ys[0]))

    def hole_mask(self, ratio: float = 0.1) -> np.ndarray:
        """(ny, nx) True where q(z) < ratio * p(z)."""
        return self.log_aggregate < self.log_prior + np.log(ratio)

    def prior_mass_in_holes(self, ratio: float = 0.1) -> float:
        """Probability that a draw from the prior lands in a hole (grid sum of p(z) dz)."""
        return float(np.exp(self.log_prior)[self.hole_mask(ratio)].sum() * self.cell_area)

    def holes(self, k: int = 6, ratio: float = 0.1, min_separation: float = 0.6) -> np.ndarray:
        """Up to k hole centres (k, 2), most prior-probable first, at least `min_separation` apart."""
        j, i = np.nonzero(self.hole_mask(ratio))
        order = np.argsort(-self.log_prior[j, i])
        chosen: list[np.ndarray] = []
        for t in order:
            point = np.array([self.xs[i[t]], self.ys[j[t]]])
            if all(np.linalg.norm(point - c) >= min_separation for c in chosen):
                chosen.append(point)
                if len(chosen) == k:
                    break
        return np.array(chosen).reshape(-1, 2)


AE_KERNEL_STD = 0.03  # of the order of a trained 2-D VAE's posterior sigma on MNIST


def aggregate_logvar(logvar: np.ndarray, variational: bool, kernel_std: float = AE_KERNEL_STD) -> np.ndarray:
    """The log-variances that build q(z) in `density_grid`: the encoder's own for a VAE.

    A plain autoencoder's codes are points (its logvar is a stand-in for zero width), so q(z)
    would be zero between them; a fixed Gaussian kernel of std `kernel_std` around each code (a
    kernel density estimate) gives "near a code" a width comparable to a VAE's posteriors.
    """
    logvar = np.asarray(logvar, dtype=np.float32)
    return logvar if variational else np.full_like(logvar, 2 * math.log(kernel_std))


@torch.no_grad()
def density_grid(
    prior: torch.nn.Module, mu: np.ndarray | torch.Tensor, logvar: np.ndarray | torch.Tensor, n: int = 90,
    extent: tuple[float, float, float, float] | None = None, max_codes: int = 2000, seed: int = 0,
) -> DensityGrid:
    """Evaluate log p(z) and log q(z) on an n x n grid over a 2-D latent space.

    q(z) is the equal mixture of the posteriors N(mu_i, diag exp(logvar_i)) of (a seeded subset of
    at most `max_codes` of) the encoded images. `extent` = (x0, x1, y0, y1) defaults to a square
    covering both the codes and the prior's bulk.
    """
    mu = torch.as_tensor(np.asarray(mu), dtype=torch.float32)
    logvar = torch.as_tensor(np.asarray(logvar), dtype=torch.float32)
    if mu.ndim != 2 or mu.shape[1] != 2 or logvar.shape != mu.shape:
        raise ValueError(f"density_grid needs 2-D codes: mu and logvar of shape (N, 2), got {tuple(mu.shape)}")
    if len(mu) > max_codes:
        keep = torch.randperm(len(mu), generator=torch.Generator().manual_seed(seed))[:max_codes]
        mu, logvar = mu[keep], logvar[keep]
    if extent is None:
        reach = max(3.5, float(torch.quantile(mu.abs().flatten(), 0.995)) + 0.5)
        extent = (-reach, reach, -reach, reach)
    xs = torch.linspace(extent[0], extent[1], n)
    ys = torch.linspace(extent[2], extent[3], n)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    z = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)  # (n*n, 2)
    log_prior = prior.log_prob(z)
    var = logvar.exp()
    log_q = []
    for s in range(0, len(z), 2048):
        diff = z[s : s + 2048, None, :] - mu[None]  # (G, N, 2)
        log_n = -0.5 * (diff**2 / var + logvar + math.log(2 * math.pi)).sum(-1)  # (G, N)
        log_q.append(torch.logsumexp(log_n, dim=1) - math.log(len(mu)))
    shape = (n, n)
    return DensityGrid(xs.numpy(), ys.numpy(), log_prior.reshape(shape).numpy(), torch.cat(log_q).reshape(shape).numpy())


def hole_labels(n_holes: int, n_classes: int) -> torch.Tensor | None:
    """Labels (n_holes,) for decoding holes with a conditional model, cycling 0, 1, ..., n_classes - 1;
    None for an unconditional model (n_classes 0)."""
    return torch.arange(n_holes) % n_classes if n_classes > 0 else None


@torch.no_grad()
def decode_holes(model: VAE, holes: np.ndarray) -> torch.Tensor:
    """Mean images (k, C, H, W) of the hole centres (k, 2); a conditional model draws them as its
    classes in turn (`hole_labels`)."""
    z = torch.as_tensor(np.asarray(holes), dtype=torch.float32).reshape(-1, model.config.latent_dim)
    return decode_images(model, z, labels=hole_labels(len(z), model.config.n_classes))
