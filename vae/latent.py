"""Latent-space utilities: encode a dataset, decode codes, grids, paths and 2-D projections.

Everything here is batched and runs under `torch.no_grad()`; inputs and outputs are tensors on
the model's device except the projections, which work on NumPy arrays for scikit-learn.
The 2-D manifold grid places codes at standard-normal quantiles, as in Kingma & Welling (2014,
Fig. 4) and the Keras VAE example, so equal steps in the grid are equal steps of prior mass.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import torch

from .model import VAE


@dataclass
class EncodedDataset:
    """Posterior parameters of a dataset: mu, logvar (N, D) and labels (N,), all on CPU."""

    mu: torch.Tensor
    logvar: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return self.mu.shape[0]


@torch.no_grad()
def encode_dataset(model: VAE, x: torch.Tensor, labels: torch.Tensor | None = None, batch_size: int = 2000) -> EncodedDataset:
    """q(z|x) parameters of every image in x (N, C, H, W); a conditional model is given the labels."""
    mus, logvars = [], []
    for start in range(0, x.shape[0], batch_size):
        y = None if labels is None or not model.config.conditional else labels[start : start + batch_size]
        q = model.encode(x[start : start + batch_size].to(model.device), y)
        mus.append(q.mu.cpu())
        logvars.append(q.logvar.cpu())
    labels = labels if labels is not None else torch.full((x.shape[0],), -1, dtype=torch.long)
    return EncodedDataset(torch.cat(mus), torch.cat(logvars), labels.cpu())


@torch.no_grad()
def decode_images(model: VAE, z: torch.Tensor, batch_size: int = 2000, labels: torch.Tensor | int | None = None) -> torch.Tensor:
    """Mean images (N, C, H, W) in [0, 1] for codes z (N, D), on CPU.

    labels: for a conditional model, one label for all codes or one per code (N,).
    """
    z = torch.as_tensor(z, dtype=torch.float32)
    if labels is not None:
        labels = torch.as_tensor(labels).long().reshape(-1)
        labels = labels.expand(len(z)) if labels.numel() == 1 else labels
    out = []
    for s in range(0, len(z), batch_size):
        y = None if labels is None else labels[s : s + batch_size]
        out.append(model.generate(z[s : s + batch_size].to(model.device), y).cpu())
    return torch.cat(out) if out else torch.empty(0, *model.config.input_shape)


def grid_values(n: int, quantile_range: tuple[float, float] = (0.05, 0.95)) -> torch.Tensor:
    """n coordinates at evenly spaced standard-normal quantiles (ascending)."""
    lo, hi = quantile_range
    if not (0 < lo < hi < 1) or n < 2:
        raise ValueError("need n >= 2 and 0 < low quantile < high quantile < 1")
    inv = NormalDist().inv_cdf
    return torch.tensor([inv(lo + (hi - lo) * i / (n - 1)) for i in range(n)], dtype=torch.float32)


def manifold_codes(
    latent_dim: int, n: int = 15, dims: tuple[int, int] = (0, 1), base: torch.Tensor | None = None,
    quantile_range: tuple[float, float] = (0.05, 0.95),
) -> torch.Tensor:
    """Codes (n*n, D) on a grid over two dimensions, row-major with the top row at the highest y.

    The other dimensions are held at `base` (default: the origin). Decoded and tiled as an
    n x n image this is the familiar "learned manifold" figure.
    """
    if latent_dim < 2 or dims[0] == dims[1] or not all(0 <= d < latent_dim for d in dims):
        raise ValueError(f"dims must be two different dimensions of a latent of size {latent_dim} >= 2")
    values = grid_values(n, quantile_range)
    codes = (base.clone().float() if base is not None else torch.zeros(latent_dim)).repeat(n * n, 1)
    ys, xs = torch.meshgrid(values.flip(0), values, indexing="ij")  # (n, n) each; top row = high y
    codes[:, dims[0]] = xs.reshape(-1)
    codes[:, dims[1]] = ys.reshape(-1)
    return codes


def interpolate(z0: torch.Tensor, z1: torch.Tensor, steps: int = 10, method: str = "lerp") -> torch.Tensor:
    """Codes (steps, D) from z0 to z1 inclusive, linear or spherical (Shoemake's slerp).

    slerp keeps interpolants at a norm typical of the prior in high dimensions, where the
    straight line passes through the low-density region near the origin (White, 2016).
    """
    if steps < 2:
        raise ValueError("steps must be >= 2")
    t = torch.linspace(0, 1, steps).unsqueeze(1)  # (steps, 1)
    z0, z1 = z0.float().reshape(1, -1), z1.float().reshape(1, -1)
    if method == "lerp":
        return (1 - t) * z0 + t * z1
    if method != "slerp":
        raise ValueError(f"method must be 'lerp' or 'slerp', got {method!r}")
    n0, n1 = z0.norm(), z1.norm()
    if n0 < 1e-8 or n1 < 1e-8:
        return (1 - t) * z0 + t * z1  # direction undefined at the origin
    omega = torch.arccos(((z0 / n0) * (z1 / n1)).sum().clamp(-1.0, 1.0))
    if omega.abs() < 1e-6:
        return (1 - t) * z0 + t * z1
    so = torch.sin(omega)
    return torch.sin((1 - t) * omega) / so * z0 + torch.sin(t * omega) / so * z1


def prior_samples(latent_dim: int, n: int, generator: torch.Generator | None = None,
                  prior: torch.nn.Module | None = None) -> torch.Tensor:
    """n codes (n, D) drawn from `prior` (a model's `.prior`), the standard normal by default."""
    if prior is not None:
        return prior.sample(n, generator)
    return torch.randn(n, latent_dim, generator=generator)


def traverse(z: torch.Tensor, dim: int, values: torch.Tensor | None = None) -> torch.Tensor:
    """Codes (len(values), D): `z` with dimension `dim` swept over `values` (default -3..3)."""
    values = values if values is not None else torch.linspace(-3, 3, 9)
    codes = z.float().reshape(1, -1).repeat(len(values), 1)
    if not 0 <= dim < codes.shape[1]:
        raise ValueError(f"dim must be in [0, {codes.shape[1]}), got {dim}")
    codes[:, dim] = values
    return codes


def active_units(mu: torch.Tensor, threshold: float = 0.01) -> torch.Tensor:
    """Boolean (D,): dimensions whose posterior mean varies across data, Cov_x(E_q[z_d]) > threshold.

    The active-unit count of Burda et al. (2016); inactive dimensions have collapsed to the prior.
    """
    return mu.float().var(dim=0, unbiased=False) > threshold


@dataclass
class Projection:
    """A 2-D view of codes: `coords` (N, 2); `pca` is set (and invertible) for method "pca"."""

    coords: np.ndarray
    method: str
    indices: np.ndarray  # rows of the input that were projected (t-SNE may subsample)
    pca: object | None = None

    def inverse(self, points: np.ndarray) -> np.ndarray:
        """Map 2-D points back to latent codes (PCA only; t-SNE has no inverse)."""
        if self.pca is None:
            raise ValueError(f"a {self.method} projection cannot be inverted")
        return self.pca.inverse_transform(np.asarray(points, dtype=np.float64))


def project_2d(mu: np.ndarray | torch.Tensor, method: str = "pca", max_points: int = 3000, seed: int = 0) -> Projection:
    """Project codes (N, D) to 2-D: identity for D == 2, PCA, or t-SNE on a subsample.

    t-SNE costs about a minute for 10,000 points on two CPU cores, so it embeds a seeded
    random subset of at most `max_points`; `indices` says which rows.
    """
    mu = np.asarray(mu, dtype=np.float64)
    n, d = mu.shape
    if method == "identity" or (d == 2 and method != "tsne"):
        return Projection(mu[:, :2].copy(), "identity", np.arange(n))
    if method == "pca":
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2, random_state=seed).fit(mu)
        return Projection(pca.transform(mu), "pca", np.arange(n), pca)
    if method == "tsne":
        from sklearn.manifold import TSNE

        rng = np.random.default_rng(seed)
        idx = np.sort(rng.choice(n, size=min(n, max_points), replace=False))
        perplexity = float(min(30, max(2, (len(idx) - 1) / 3)))
        coords = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(mu[idx])
        return Projection(coords, "tsne", idx)
    raise ValueError(f"method must be 'identity', 'pca' or 'tsne', got {method!r}")


# what `reconstruct` shows as x_hat: the decoder mean at z = mu, the mean at a sampled z, or a sample of p(x|z)
RECONSTRUCTION_MODES = ("mean", "z-sample", "x-sample")


@dataclass
class Reconstruction:
    """Per-image results for images x (N, C, H, W).

    x_hat: (N, C, H, W) in [0, 1], per `mode`; mu, std: (N, D) posterior parameters;
    neg_elbo, recon, kl: (N,) in nats, the one-sample ELBO estimate (the training metric).
    """

    x_hat: torch.Tensor
    mu: torch.Tensor
    std: torch.Tensor
    neg_elbo: torch.Tensor
    recon: torch.Tensor
    kl: torch.Tensor


@torch.no_grad()
def reconstruct(model: VAE, x: torch.Tensor, mode: str = "mean", seed: int = 0,
                labels: torch.Tensor | None = None) -> Reconstruction:
    """Reconstruct x and score each image; `mode` is one of RECONSTRUCTION_MODES.

    labels (N,): needed by a conditional model (which then reconstructs x as that digit).
    """
    from .losses import reconstruction_nll

    if mode not in RECONSTRUCTION_MODES:
        raise ValueError(f"mode must be one of {RECONSTRUCTION_MODES}, got {mode!r}")
    x = x.to(model.device)
    g = torch.Generator(device=model.device).manual_seed(seed)
    y = None if labels is None or not model.config.conditional else torch.as_tensor(labels).to(model.device)
    q = model.encode(x, y)
    z = q.sample(g)
    x_params = model.decode(z, y)
    recon = reconstruction_nll(x_params, x, model.config)
    kl = model.kl(q, z)
    if mode == "mean":
        x_hat = model.generate(q.mu, y)
    elif mode == "z-sample":
        x_hat = model.mean_image(x_params)
    else:
        x_hat = model.sample_x(x_params, g)
    return Reconstruction(x_hat.cpu(), q.mu.cpu(), q.std.cpu(), (recon + kl).cpu(), recon.cpu(), kl.cpu())
