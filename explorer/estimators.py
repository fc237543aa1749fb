"""Estimators for teaching: KL closed form against Monte Carlo, importance-weighted bounds, units.

- KL estimators: the closed form of Kingma & Welling (2014, Appendix B) against the Monte-Carlo
  estimate mean_s [log q(z_s|x) - log p(z_s)], unbiased with a variance that falls as 1/n;
- log-likelihood: the importance-weighted bound of Burda et al. (2016),
  L_k = E[log 1/k sum_i p(x, z_i) / q(z_i|x)], with L_1 = ELBO <= L_k <= L_k+1 <= log p(x), and the
  exact log p(x) by integration over a latent grid for tiny 1-D or 2-D models (a test oracle);
- unit conversions (nats per pixel, bits per dimension) and the Gaussian decoder's negative
  log-likelihood written through the mean squared error (`gaussian_nll_split` splits the core's
  `vae.losses.reconstruction_nll` that way; `gaussian_nll_from_mse` is the same identity in
  closed form, a test oracle).

Every log p(z) here is `model.prior.log_prob` (N(0, I) or the learned mixture); the stand-alone
KL functions take an optional `prior` and default to N(0, I), where the KL also has a closed form.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from vae.config import VAEConfig
from vae.losses import log_importance_weights, reconstruction_nll
from vae.model import VAE, DiagonalGaussian, standard_normal_log_prob


# ---------------------------------------------------------------------------------------------
# KL: closed form versus Monte Carlo
# ---------------------------------------------------------------------------------------------


def _log_p(prior: torch.nn.Module | None) -> Callable[[torch.Tensor], torch.Tensor]:
    # The prior plugs in here: a model's `.prior.log_prob` (learned mixture or N(0, I)).
    return standard_normal_log_prob if prior is None else prior.log_prob


def _closed_form(posterior: DiagonalGaussian, prior: torch.nn.Module | None) -> float | None:
    if prior is not None and not getattr(prior, "analytic_kl", False):
        return None
    return posterior.kl().double().mean().item()


def _repeated_means(posterior: DiagonalGaussian, n_samples: int, n_repeats: int, ns: Sequence[int],
                    generator: torch.Generator | None, prior: torch.nn.Module | None) -> tuple[np.ndarray, float]:
    """Batch-mean MC estimates from the first n of n_samples draws, per repeat, (n_repeats, len(ns)), and
    the standard deviation of a one-draw estimate measured over all n_repeats * n_samples draws."""
    log_p = _log_p(prior)
    idx = torch.as_tensor([n - 1 for n in ns])
    counts = torch.as_tensor(list(ns), dtype=torch.float64).unsqueeze(1)  # (K, 1)
    out, singles = [], []
    b = posterior.mu.shape[0]
    per_chunk = max(1, 2_000_000 // max(1, n_samples * b * posterior.mu.shape[1]))
    for start in range(0, n_repeats, per_chunk):
        r = min(per_chunk, n_repeats - start)
        eps = torch.randn((r, n_samples, *posterior.mu.shape), generator=generator,
                          device=posterior.mu.device, dtype=posterior.mu.dtype)
        z = posterior.mu + posterior.std * eps  # (R, S, B, D)
        ratio = (posterior.log_prob(z) - log_p(z)).double()  # (R, S, B)
        running = ratio.cumsum(dim=1)[:, idx] / counts  # (R, K, B): mean of the first n draws
        out.append(running.mean(-1).cpu())  # (R, K), averaged over the batch
        singles.append(ratio.mean(-1).flatten().cpu())  # one-draw estimates of the batch mean
    singles = torch.cat(singles)
    return torch.cat(out).numpy(), float(singles.std()) if len(singles) > 1 else float("nan")


@dataclass
class KLEstimates:
    """Repeated n-sample Monte-Carlo estimates of the batch-mean KL (nats per image).

    analytic: the closed form (None when the prior has none); estimates: (n_repeats,).
    """

    analytic: float | None
    estimates: np.ndarray
    n_samples: int

    @property
    def mean(self) -> float:
        return float(self.estimates.mean())

    @property
    def std(self) -> float:
        """Spread of one n-sample estimate (what a single training step sees)."""
        return float(self.estimates.std(ddof=1)) if len(self.estimates) > 1 else float("nan")

    @property
    def standard_error(self) -> float:
        """Uncertainty of `mean` itself, std / sqrt(n_repeats)."""
        return self.std / math.sqrt(len(self.estimates))


@torch.no_grad()
def kl_estimates(posterior: DiagonalGaussian, n_samples: int, n_repeats: int = 200,
                 generator: torch.Generator | None = None, prior: torch.nn.Module | None = None) -> KLEstimates:
    """`n_repeats` independent estimates of KL(q || p) averaged over the batch, each from n_samples draws.

    For one image pass a posterior of batch size 1. p is `prior` (N(0, I) by default).
    """
    if n_samples < 1 or n_repeats < 1:
        raise ValueError(f"n_samples and n_repeats must be >= 1, got {n_samples} and {n_repeats}")
    est = _repeated_means(posterior, n_samples, n_repeats, [n_samples], generator, prior)[0][:, 0]
    return KLEstimates(_closed_form(posterior, prior), est, n_samples)


@dataclass
class KLErrorCurve:
    """How the Monte-Carlo KL estimate's error shrinks with the number of samples n.

    n: (K,) sample counts; rmse, std, bias: (K,) over repeats, against the closed form;
    sigma_1: the spread of a one-sample estimate, measured over every draw made (n_repeats * max(n)),
        so the theory line is sigma_1 / sqrt(n).
    """

    n: np.ndarray
    rmse: np.ndarray
    std: np.ndarray
    bias: np.ndarray
    sigma_1: float
    analytic: float

    @property
    def slope(self) -> float:
        """Least-squares slope of log(rmse) on log(n); -1/2 for an unbiased estimator."""
        return float(np.polyfit(np.log(self.n), np.log(self.rmse), 1)[0])

    def theory(self) -> np.ndarray:
        return self.sigma_1 / np.sqrt(self.n)


@torch.no_grad()
def kl_error_curve(posterior: DiagonalGaussian, ns: Sequence[int] = (1, 3, 10, 30, 100, 300, 1000),
                   n_repeats: int = 100, generator: torch.Generator | None = None) -> KLErrorCurve:
    """Error of the n-sample MC estimate of the batch-mean KL(q || N(0, I)) for each n in `ns`.

    Each repeat draws max(ns) samples and reads the estimate at every n from their running mean
    (nested estimates: cheap, and each n on its own is still an honest n-sample estimate).
    Needs the closed form, so the prior is N(0, I).
    """
    ns = sorted({int(n) for n in ns})
    if not ns or ns[0] < 1 or n_repeats < 2:
        raise ValueError("ns must hold sample counts >= 1 and n_repeats must be >= 2")
    analytic = _closed_form(posterior, None)
    est, sigma_1 = _repeated_means(posterior, ns[-1], n_repeats, ns, generator, None)  # (R, K)
    err = est - analytic
    std = est.std(axis=0, ddof=1)
    return KLErrorCurve(np.array(ns), np.sqrt((err**2).mean(0)), std, err.mean(0), sigma_1, analytic)


# ---------------------------------------------------------------------------------------------
# Log-likelihood: ELBO versus the importance-weighted bound
# ---------------------------------------------------------------------------------------------


def iwae_bounds(log_w: torch.Tensor, ks: Sequence[int]) -> dict[int, torch.Tensor]:
    """Estimates of the k-sample bound L_k per image, {k: (B,)}, from log-weights (K, B).

    For each k the K draws are cut into floor(K / k) disjoint groups of k and the group estimates
    log 1/k sum exp(log w) are averaged: an unbiased estimate of L_k with less variance than one
    group. k = 1 is the mean log-weight, the ELBO; k = K is the single K-sample estimate.
    """
    total = log_w.shape[0]
    out = {}
    for k in ks:
        if not 1 <= k <= total:
            raise ValueError(f"k must be between 1 and the {total} log-weights drawn, got {k}")
        groups = total // k
        grouped = log_w[: groups * k].reshape(groups, k, *log_w.shape[1:])  # (G, k, B)
        out[int(k)] = (torch.logsumexp(grouped, dim=1) - math.log(k)).mean(0)
    return out


def effective_sample_size(log_w: torch.Tensor) -> torch.Tensor:
    """(B,) (sum w)^2 / sum w^2 of the importance weights: k for a perfect q, near 1 for a poor one."""
    return torch.exp(2 * torch.logsumexp(log_w, 0) - torch.logsumexp(2 * log_w, 0))


@dataclass
class LogLikelihoodReport:
    """ELBO and importance-weighted bounds per image (nats; higher is better).

    ks: the k values; iwae: (len(ks), B) estimates of L_k; elbo: (B,) the ELBO (= L_1) from all
    draws; ess: (B,) effective sample size of the largest-k draw.
    """

    ks: list[int]
    iwae: np.ndarray
    elbo: np.ndarray
    ess: np.ndarray

    @property
    def gap(self) -> np.ndarray:
        """(B,) L_kmax - ELBO: a lower bound on KL(q(z|x) || p(z|x)), the posterior's looseness."""
        return self.iwae[-1] - self.elbo


@torch.no_grad()
def log_likelihood_report(model: VAE, x: torch.Tensor, ks: Sequence[int] = (1, 10, 100, 1000), seed: int = 0,
                          y: torch.Tensor | None = None, batch_size: int | None = None) -> LogLikelihoodReport:
    """ELBO and IWAE bounds L_k for each k in `ks` for every image of x, from max(ks) draws per image."""
    ks = sorted({int(k) for k in ks})
    if not ks or ks[0] < 1:
        raise ValueError("ks must hold sample counts >= 1")
    kmax = ks[-1]
    generator = torch.Generator(device=model.device).manual_seed(seed)
    batch_size = batch_size or max(1, 100_000 // kmax)  # about 100k decodes at a time
    iwae, elbo, ess = [], [], []
    for s in range(0, len(x), batch_size):
        yb = None if y is None else y[s : s + batch_size].to(model.device)
        log_w = log_importance_weights(model, x[s : s + batch_size].to(model.device), kmax, generator=generator, y=yb)
        bounds = iwae_bounds(log_w, ks)
        iwae.append(torch.stack([bounds[k] for k in ks]).cpu())
        elbo.append(log_w.mean(0).cpu())
        ess.append(effective_sample_size(log_w).cpu())
    return LogLikelihoodReport(ks, torch.cat(iwae, 1).numpy(), torch.cat(elbo).numpy(), torch.cat(ess).numpy())


@torch.no_grad()
def log_marginal_grid(model: VAE, x: torch.Tensor, limit: float = 6.0, n: int = 401) -> torch.Tensor:
    """log p(x) = log of the integral of p(x|z) p(z) dz per image (B,), on a grid over [-limit, limit]^D.

    Exact up to the quadrature error, for models with D = 1 or 2 latent dimensions (a test
    oracle for the bounds above; needs the grid to resolve p(x|z), so a tiny, smooth model).
    """
    d = model.config.latent_dim
    if d not in (1, 2):
        raise ValueError(f"grid integration needs a 1-D or 2-D latent, got {d}")
    axis = torch.linspace(-limit, limit, n, device=model.device)
    cell = math.log(float(axis[1] - axis[0])) * d
    z = axis.unsqueeze(1) if d == 1 else torch.cartesian_prod(axis, axis)  # (G, D)
    log_prior = model.prior.log_prob(z)  # (G,)
    out = []
    for img in x.to(model.device):
        log_px_z = []
        for s in range(0, len(z), 20_000):
            params = model.decode(z[s : s + 20_000])
            log_px_z.append(-reconstruction_nll(params, img.unsqueeze(0), model.config))
        out.append(torch.logsumexp(torch.cat(log_px_z) + log_prior, 0) + cell)
    return torch.stack(out)


# ---------------------------------------------------------------------------------------------
# Units: nats per pixel, bits per dimension, and the Gaussian decoder as a scaled MSE
# ---------------------------------------------------------------------------------------------


def nats_per_pixel(nats: float | np.ndarray, n_pixels: int) -> float | np.ndarray:
    """Nats per image divided over the image's pixels."""
    return nats / n_pixels


def bits_per_dim(nats: float | np.ndarray, n_pixels: int) -> float | np.ndarray:
    """Nats per image as bits per pixel (divide by the pixel count and by ln 2)."""
    return nats / (n_pixels * math.log(2))


def gaussian_nll_from_mse(mse: float | np.ndarray, sigma: float, n_pixels: int) -> float | np.ndarray:
    """-log N(x; x_hat, sigma^2 I) per image from the mean squared error per pixel.

    -log p(x|z) = n_pixels * (MSE / (2 sigma^2) + log sigma + 1/2 log 2 pi): squared error up to
    a scale and a constant. The constant is negative once sigma < 1/sqrt(2 pi) ~ 0.40, so a good
    reconstruction has a negative NLL: a density, unlike a probability, can exceed 1.
    """
    return n_pixels * (mse / (2 * sigma**2) + math.log(sigma) + 0.5 * math.log(2 * math.pi))


@dataclass
class ReconstructionStats:
    """Per image (B,), at one sampled z ~ q(z|x) as in training: -log p(x|z) in nats per image and
    per pixel, and the mean squared error per pixel of the decoder mean at that z (a number that,
    unlike the nats, compares across likelihoods)."""

    nll: np.ndarray
    nll_per_pixel: np.ndarray
    mse: np.ndarray


@torch.no_grad()
def reconstruction_stats(model: VAE, x: torch.Tensor, seed: int = 0, y: torch.Tensor | None = None,
                         at_mean: bool = False) -> ReconstructionStats:
    """Reconstruction loss of images x (B, C, H, W) under `model`'s own likelihood, and their MSE: at one
    sampled z ~ q(z|x) as in training, or at z = mu (`at_mean`), the code whose decoder mean pages show."""
    x = x.to(model.device)
    generator = torch.Generator(device=model.device).manual_seed(seed)
    q = model.encode(x, y)
    x_params = model.decode(q.mode() if at_mean else q.sample(generator), y)
    nll = reconstruction_nll(x_params, x, model.config)
    mse = ((model.mean_image(x_params) - x) ** 2).flatten(1).mean(1)
    n = model.config.n_pixels
    return ReconstructionStats(nll.cpu().numpy(), (nll / n).cpu().numpy(), mse.cpu().numpy())


def gaussian_nll_constant(config: VAEConfig) -> float:
    """The part of a Gaussian decoder's -log p(x|z) per image that no reconstruction can lower: the
    core's `reconstruction_nll` of a perfect one, n_pixels * (log sigma + 1/2 log 2 pi).

    Negative once sigma < 1/sqrt(2 pi) ~ 0.40: a density, unlike a probability, can exceed 1.
    """
    if config.likelihood != "gaussian":
        raise ValueError(f"a {config.likelihood} decoder has no Gaussian constant")
    x = torch.zeros(1, *config.input_shape)
    return float(reconstruction_nll(x, x, config)[0])


@dataclass
class GaussianNLLSplit:
    """A Gaussian decoder's mean -log p(x|z) per image (nats) = `squared_error` + `constant`.

    squared_error: n_pixels * MSE / (2 sigma^2), the part a better reconstruction lowers;
    constant: `gaussian_nll_constant`, the NLL of a perfect reconstruction.
    """

    squared_error: float
    constant: float

    @property
    def total(self) -> float:
        return self.squared_error + self.constant


def gaussian_nll_split(config: VAEConfig, stats: ReconstructionStats) -> GaussianNLLSplit:
    """Split the images' mean reconstruction loss (`reconstruction_stats`, from the core) into its
    squared-error part and the constant, without a second copy of the formula."""
    constant = gaussian_nll_constant(config)
    return GaussianNLLSplit(float(np.mean(stats.nll)) - constant, constant)
