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
    bandwidth: float = 0.0  # the narrowest width a code's Gaussian was given (`smoothing_bandwidth`)
    n_codes: int = 0  # how many codes the estimate rests on

    @property
    def cell_area(self) -> float:
        return float((self.xs[1] - self.xs[0]) * (self.ys[1] - self.ys[0]))

    def hole_mask(self, ratio: float = 0.1) -> np.ndarray:
        """(ny, nx) True where q(z) < ratio * p(z)."""
        return self.log_aggregate < self.log_prior + np.log(ratio)

    def prior_mass_in_holes(self, ratio: float = 0.1) -> float:
        """Probability that a draw from the prior lands in a hole (grid sum of p(z) dz)."""
        return float(np.exp(self.log_prior)[self.hole_mask(ratio)].sum() * self.cell_area)

    def prior_level(self, mass: float) -> float:
        """The density p(z) whose contour encloses `mass` of the prior (its highest-density region), on the grid."""
        p = np.sort(np.exp(self.log_prior).ravel())[::-1]
        inside = np.cumsum(p) * self.cell_area
        return float(p[min(int(np.searchsorted(inside, mass * inside[-1])), len(p) - 1)])

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


def smoothing_bandwidth(n_codes: int, step: float, peak_density: float, ratio: float = 0.1,
                        min_count: float = 10.0) -> float:
    """The narrowest std h a code's Gaussian may have in the estimate of q(z): at least the grid step,
    and wide enough to resolve a hole from `n_codes` codes.

    q(z) = 1/N sum_i q(z|x_i) over N test codes is an unbiased estimate of the aggregate posterior, but
    its noise grows as the posteriors shrink: a 2-D VAE on MNIST has sigma ~ 0.03, narrower than the
    grid's cells, and the mixture then dips to nothing between neighbouring codes, calling gaps of a
    few hundredths "holes" in the middle of the clusters. Widened to std h, it is a kernel density
    estimate whose relative error is 1/sqrt(N q(z) 4 pi h^2) (Silverman 1986, Ch. 4, for a
    2-D Gaussian kernel). h is chosen so that where q(z) equals the hole threshold `ratio` * the prior's
    peak density, the estimate rests on `min_count` codes' worth of kernel (relative error 1/sqrt(10)):
    about 0.07 for 10,000 codes, 0.37 for the 360 of sklearn's digits test split.
    """
    if n_codes < 1 or peak_density <= 0:
        raise ValueError(f"smoothing_bandwidth needs codes and a positive density, got {n_codes}, {peak_density}")
    return max(float(step), math.sqrt(min_count / (4 * math.pi * n_codes * ratio * peak_density)))


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
    ratio: float = 0.1, bandwidth: float | None = None,
) -> DensityGrid:
    """Evaluate log p(z) and log q(z) on an n x n grid over a 2-D latent space.

    q(z) is the equal mixture of the posteriors N(mu_i, diag exp(logvar_i)) of (a seeded subset of
    at most `max_codes` of) the encoded images, each no narrower than `bandwidth` (default
    `smoothing_bandwidth` for the hole threshold `ratio`; 0 keeps the posteriors as they are).
    `extent` = (x0, x1, y0, y1) defaults to a square covering the prior's bulk (99.9% of each coordinate).
    """
    mu = torch.as_tensor(np.asarray(mu), dtype=torch.float32)
    logvar = torch.as_tensor(np.asarray(logvar), dtype=torch.float32)
    if mu.ndim != 2 or mu.shape[1] != 2 or logvar.shape != mu.shape:
        raise ValueError(f"density_grid needs 2-D codes: mu and logvar of shape (N, 2), got {tuple(mu.shape)}")
    if len(mu) > max_codes:
        keep = torch.randperm(len(mu), generator=torch.Generator().manual_seed(seed))[:max_codes]
        mu, logvar = mu[keep], logvar[keep]
    if extent is None:  # holes only matter where the prior has mass: a plain autoencoder's far codes would coarsen the grid
        draws = prior.sample(20_000, generator=torch.Generator().manual_seed(seed))  # (20000, 2)
        reach = max(3.5, float(torch.quantile(draws.abs().flatten(), 0.999)) + 0.5)
        extent = (-reach, reach, -reach, reach)
    xs = torch.linspace(extent[0], extent[1], n)
    ys = torch.linspace(extent[2], extent[3], n)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    z = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)  # (n*n, 2)
    log_prior = prior.log_prob(z)
    if bandwidth is None:
        step = max(float(xs[1] - xs[0]), float(ys[1] - ys[0]))
        bandwidth = smoothing_bandwidth(len(mu), step, float(log_prior.max().exp()), ratio)
    var = logvar.exp().clamp_min(bandwidth**2)  # (N, 2): a posterior narrower than the bandwidth is widened to it
    logvar = var.log()
    log_q = []
    for s in range(0, len(z), 2048):
        diff = z[s : s + 2048, None, :] - mu[None]  # (G, N, 2)
        log_n = -0.5 * (diff**2 / var + logvar + math.log(2 * math.pi)).sum(-1)  # (G, N)
        log_q.append(torch.logsumexp(log_n, dim=1) - math.log(len(mu)))
    shape = (n, n)
    return DensityGrid(xs.numpy(), ys.numpy(), log_prior.reshape(shape).numpy(), torch.cat(log_q).reshape(shape).numpy(),
                       bandwidth=float(bandwidth), n_codes=len(mu))


def isoline(xs: np.ndarray, ys: np.ndarray, values: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """The contour values = level of a grid (ny, nx) over xs (nx,), ys (ny,), by marching squares
    (Lorensen & Cline 1987, in 2-D): x, y arrays of line segments with NaN between them (one plot trace).

    Each grid cell the contour crosses holds one segment, or two at a saddle, split by the cell's mean.
    """
    xs, ys, v = np.asarray(xs, float), np.asarray(ys, float), np.asarray(values, float)
    above = v > level
    with np.errstate(divide="ignore", invalid="ignore"):
        th = (level - v[:, :-1]) / (v[:, 1:] - v[:, :-1])  # (ny, nx-1): where each horizontal edge crosses
        tv = (level - v[:-1]) / (v[1:] - v[:-1])  # (ny-1, nx): where each vertical edge crosses
    hx, hy = xs[:-1] + th * np.diff(xs), np.broadcast_to(ys[:, None], th.shape)
    vx, vy = np.broadcast_to(xs[None, :], tv.shape), ys[:-1, None] + tv * np.diff(ys)[:, None]
    hc, vc = above[:, :-1] != above[:, 1:], above[:-1] != above[1:]
    # The edges of cell (j, i), in the order bottom, right, top, left: (4, ny-1, nx-1) each.
    crossed = np.stack([hc[:-1], vc[:, 1:], hc[1:], vc[:, :-1]])
    ex = np.stack([hx[:-1], vx[:, 1:], hx[1:], vx[:, :-1]])
    ey = np.stack([hy[:-1], vy[:, 1:], hy[1:], vy[:, :-1]])
    n = crossed.sum(0)
    pairs = []
    j, i = np.nonzero(n == 2)
    first = np.argmax(crossed[:, j, i], axis=0)
    second = 3 - np.argmax(crossed[::-1, j, i], axis=0)
    pairs.append((first, second, j, i))
    j, i = np.nonzero(n == 4)  # a saddle: cut off the two corners the cell's mean does not join
    centre_above = (v[j, i] + v[j, i + 1] + v[j + 1, i] + v[j + 1, i + 1]) / 4 > level
    around_right = above[j, i] == centre_above  # cut off bottom-right and top-left corners
    pairs.append((np.zeros_like(j), np.where(around_right, 1, 3), j, i))
    pairs.append((np.where(around_right, 2, 1), np.where(around_right, 3, 2), j, i))
    segments = [(ex[a, jj, ii], ey[a, jj, ii], ex[b, jj, ii], ey[b, jj, ii]) for a, b, jj, ii in pairs]
    x = np.concatenate([np.stack([x0, x1, np.full_like(x0, np.nan)], 1).ravel() for x0, _, x1, _ in segments])
    y = np.concatenate([np.stack([y0, y1, np.full_like(y0, np.nan)], 1).ravel() for _, y0, _, y1 in segments])
    return x, y


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
