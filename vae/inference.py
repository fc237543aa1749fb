"""Inference for one image: the encoder's q(z|x), a Gaussian fitted to that image alone, the true
posterior, and the gaps between them.

Variational inference comes in two steps. Per image, a free Gaussian q(z) = N(mu, diag sigma^2)
is fitted to one x by gradient ascent on the reparameterised ELBO (Kingma & Welling 2014, Sec.
2.3); amortised, the encoder outputs (mu, logvar) for every x in one forward pass. Cremer, Li &
Duvenaud, "Inference Suboptimality in Variational Autoencoders" (ICML 2018), split what the
encoder loses:

    log p(x) - ELBO(q_encoder) = [log p(x) - ELBO(q*)]  +  [ELBO(q*) - ELBO(q_encoder)]
                                  approximation gap         amortisation gap

where q* is the best diagonal Gaussian for that x. The approximation gap is what a Gaussian
cannot express of the true posterior p(z|x); the amortisation gap is what one shared encoder
gives away against fitting every image on its own.

log p(x) is integrated on a latent grid for 2-D models (exact up to quadrature), and estimated
by the importance-weighted bound of Burda et al. (2016) with q* as the proposal otherwise (a
lower bound, tight for large k). log p(z) is always `model.prior.log_prob` (N(0, I) or the
learned mixture); conditional models take their labels y. Every ELBO here is
E_q[log p(x, z)] + H[q] with the entropy in closed form, estimated with draws fixed by a seed
(common random numbers), so two Gaussians' ELBOs are compared on the same eps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from .losses import reconstruction_nll
from .model import VAE, DiagonalGaussian

# z (N, B, D) -> log p(x_b, z_nb), (N, B): the unnormalised log posterior of B images.
LogJoint = Callable[[torch.Tensor], torch.Tensor]

GRID_MIN_LIMIT = 6.0  # the grid covers at least [-6, 6]^2: N(0, 1) mass beyond it is ~1e-9


def model_log_joint(model: VAE, x: torch.Tensor, y: torch.Tensor | None = None, chunk: int = 8192) -> LogJoint:
    """log p(x|z) + log p(z) for the images x (B, C, H, W), decoding at most `chunk` codes at a time.

    y: the labels (B,) of a conditional model (then p(x|z, y)); a plain model ignores them.
    Differentiable in z (for fitting); wrap calls in torch.no_grad() to only evaluate.
    """
    x = x.to(model.device)
    b = x.shape[0]
    y = None if y is None or not model.config.conditional else torch.as_tensor(y, device=model.device).reshape(-1)

    def log_joint(z: torch.Tensor) -> torch.Tensor:
        out = []
        for s in range(0, z.shape[0], max(1, chunk // b)):
            zc = z[s : s + max(1, chunk // b)]  # (n, B, D)
            yc = None if y is None else y.repeat(zc.shape[0])  # (n*B,), B fastest like the flattened z
            x_params = model.decode(zc.flatten(0, 1), yc).unflatten(0, zc.shape[:2])  # (n, B, C, H, W)
            out.append(-reconstruction_nll(x_params, x, model.config) + model.prior.log_prob(zc))
        return torch.cat(out)

    return log_joint


def entropy(logvar: torch.Tensor) -> torch.Tensor:
    """H[N(mu, diag exp(logvar))] in nats, summed over the last dimension."""
    return 0.5 * (logvar + 1.0 + math.log(2 * math.pi)).sum(-1)


def common_eps(n: int, b: int, d: int, seed: int = 0, device: torch.device | str = "cpu") -> torch.Tensor:
    """(n, B, D) standard-normal draws fixed by `seed`: the same eps for every Gaussian compared.

    The ELBOs this module reports (the encoder's, a fit's final one) use `seed + 2`: a fit draws
    its training noise from `seed` and its curve's eps from `seed + 1`, and those must not be reused.
    """
    g = torch.Generator(device=device).manual_seed(seed)
    return torch.randn(n, b, d, generator=g, device=device)


def comparison_eps(n: int, b: int, d: int, seed: int = 0, device: torch.device | str = "cpu") -> torch.Tensor:
    """The (n, B, D) eps behind every reported ELBO of a run seeded `seed` (see `common_eps`)."""
    return common_eps(n, b, d, seed + 2, device)


@torch.no_grad()
def gaussian_elbo(log_joint: LogJoint, mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """ELBO of q = N(mu, diag exp(logvar)) for each image: mean over eps of log p(x, z) plus H[q].

    mu, logvar: (B, D), or (T, B, D) for T Gaussians per image (a fit's path); eps: (S, B, D).
    Returns (B,) or (T, B). The same eps for every Gaussian makes their differences precise.
    """
    path = mu.dim() == 3
    mu, logvar = (mu, logvar) if path else (mu[None], logvar[None])  # (T, B, D)
    t, s = mu.shape[0], eps.shape[0]
    z = mu[:, None] + torch.exp(0.5 * logvar)[:, None] * eps[None]  # (T, S, B, D)
    elbo = log_joint(z.flatten(0, 1)).unflatten(0, (t, s)).mean(1) + entropy(logvar)  # (T, B)
    return elbo if path else elbo[0]


@dataclass
class GaussianFit:
    """Diagonal Gaussians fitted to B images, one each, recorded every few steps.

    steps: (T,) the step numbers recorded, 0 (the start) to the last;
    mu, logvar: (T, B, D) the parameters at those steps;
    elbo: (T, B) the ELBO at those steps, all estimated with the same eps draws (so the curve's
        ups and downs are the Gaussian's, not the sampling's).
    """

    steps: np.ndarray
    mu: torch.Tensor
    logvar: torch.Tensor
    elbo: torch.Tensor

    @property
    def final(self) -> DiagonalGaussian:
        return DiagonalGaussian(self.mu[-1], self.logvar[-1])


def fit_gaussian(log_joint: LogJoint, mu0: torch.Tensor, logvar0: torch.Tensor, steps: int = 500, lr: float = 0.1,
                 n_samples: int = 16, seed: int = 0, record_every: int | None = None, eval_samples: int = 64,
                 on_step: Callable[[int], None] | None = None) -> GaussianFit:
    """Fit q_b = N(mu_b, diag exp(logvar_b)) to each image b alone by Adam on its reparameterised ELBO.

    mu0, logvar0: (B, D) the start (the prior's 0 and 0, or the encoder's guess). Each step draws
    `n_samples` fresh z = mu + sigma * eps per image; the learning rate falls from `lr` to lr/100
    on a cosine, so the last steps settle instead of jittering at the noise level. The images'
    parameters are separate and Adam is elementwise, so fitting B images at once is B independent
    fits. Seeded by `seed`; `on_step(step)` is called after every step.
    """
    if steps < 0 or n_samples < 1 or eval_samples < 1:
        raise ValueError(f"need steps >= 0 and n_samples, eval_samples >= 1, got {steps}, {n_samples}, {eval_samples}")
    record_every = record_every or max(1, steps // 125)
    mu = mu0.detach().clone().float().requires_grad_(True)
    logvar = logvar0.detach().clone().float().requires_grad_(True)
    g = torch.Generator(device=mu.device).manual_seed(seed)
    optimizer = torch.optim.Adam([mu, logvar], lr=lr)
    path_mu, path_logvar, recorded = [mu.detach().clone()], [logvar.detach().clone()], [0]
    for step in range(1, steps + 1):
        for group in optimizer.param_groups:
            group["lr"] = lr / 100 + 0.5 * (lr - lr / 100) * (1 + math.cos(math.pi * (step - 1) / max(1, steps)))
        eps = torch.randn(n_samples, *mu.shape, generator=g, device=mu.device)  # (S, B, D)
        with torch.enable_grad():
            z = mu + torch.exp(0.5 * logvar) * eps
            loss = -(log_joint(z).mean(0) + entropy(logvar)).sum()  # images are independent: sum their ELBOs
            mu.grad, logvar.grad = torch.autograd.grad(loss, [mu, logvar])  # no gradients for the model's weights
        optimizer.step()
        if step % record_every == 0 or step == steps:
            path_mu.append(mu.detach().clone())
            path_logvar.append(logvar.detach().clone())
            recorded.append(step)
        if on_step is not None:
            on_step(step)
    path_mu, path_logvar = torch.stack(path_mu), torch.stack(path_logvar)  # (T, B, D)
    eps = common_eps(eval_samples, *mu.shape, seed=seed + 1, device=mu.device)
    return GaussianFit(np.array(recorded), path_mu, path_logvar, gaussian_elbo(log_joint, path_mu, path_logvar, eps))


@torch.no_grad()
def iwae_log_px(log_joint: LogJoint, q: DiagonalGaussian, k: int = 5000, seed: int = 0, chunk: int = 500) -> torch.Tensor:
    """Importance-sampled log p(x) per image (B,) with proposal q: log 1/k sum_i p(x, z_i) / q(z_i), z_i ~ q.

    A lower bound in expectation (Burda et al. 2016) that tightens as k grows and as q nears p(z|x).
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    g = torch.Generator(device=q.mu.device).manual_seed(seed)
    log_w = []
    for s in range(0, k, chunk):
        eps = torch.randn(min(chunk, k - s), *q.mu.shape, generator=g, device=q.mu.device)
        z = q.mu + q.std * eps  # (n, B, D)
        log_w.append(log_joint(z) - q.log_prob(z))
    return torch.logsumexp(torch.cat(log_w), 0) - math.log(k)


@dataclass
class GridPosterior:
    """p(z|x) of one image on a 2-D grid, and log p(x) by integrating p(x|z) p(z) over it.

    A coarse grid of cells over [-limit, limit]^2 finds where the posterior is; the cells within
    `window_nats` of the best (and a margin) are then cut into a fine grid, the "window". Both
    are midpoint rules, which for a smooth, fast-decaying integrand are exact to many digits once
    a cell is narrower than about 2 sigma of the posterior.

    coarse_axis: (n,) cell centres on each axis; coarse_log_density: (n, n) log p(z|x) there,
        indexed [z1, z2];
    axis1, axis2: (m,) the window's cell centres; log_density: (m, m) log p(z|x) there, [z1, z2];
    log_px: log p(x) in nats; window_mass: the share of the posterior inside the window.
    """

    coarse_axis: np.ndarray
    coarse_log_density: np.ndarray
    axis1: np.ndarray
    axis2: np.ndarray
    log_density: np.ndarray
    log_px: float
    window_mass: float


@torch.no_grad()
def grid_posterior(model: VAE, x: torch.Tensor, y: torch.Tensor | None = None, limit: float = GRID_MIN_LIMIT,
                   coarse: int = 64, fine: int = 96, window_nats: float = 20.0, margin: int = 2) -> GridPosterior:
    """The true posterior p(z|x) of one image x (1, C, H, W) of a 2-D model, and log p(x), on a grid.

    The grid reaches at least one unit past the encoder's mean, wherever that is.
    """
    if model.config.latent_dim != 2:
        raise ValueError(f"the grid posterior needs a 2-D latent, got {model.config.latent_dim}")
    log_joint = model_log_joint(model, x, y)
    limit = max(limit, float(model.encode(x.to(model.device), y).mu.abs().max()) + 1.0)
    h = 2 * limit / coarse
    axis = -limit + h * (torch.arange(coarse, device=model.device) + 0.5)
    lj = log_joint(torch.cartesian_prod(axis, axis)[:, None])[:, 0].reshape(coarse, coarse)  # (n, n) [z1, z2]
    i, j = torch.nonzero(lj >= lj.max() - window_nats, as_tuple=True)
    i0, i1 = max(0, int(i.min()) - margin), min(coarse - 1, int(i.max()) + margin)
    j0, j1 = max(0, int(j.min()) - margin), min(coarse - 1, int(j.max()) + margin)
    lo1, hi1, lo2, hi2 = -limit + h * i0, -limit + h * (i1 + 1), -limit + h * j0, -limit + h * (j1 + 1)
    h1, h2 = (hi1 - lo1) / fine, (hi2 - lo2) / fine
    ax1 = lo1 + h1 * (torch.arange(fine, device=model.device) + 0.5)
    ax2 = lo2 + h2 * (torch.arange(fine, device=model.device) + 0.5)
    lj_fine = log_joint(torch.cartesian_prod(ax1, ax2)[:, None])[:, 0].reshape(fine, fine)  # (m, m) [z1, z2]
    outside = torch.ones_like(lj, dtype=torch.bool)
    outside[i0 : i1 + 1, j0 : j1 + 1] = False  # those coarse cells are replaced by the fine grid
    inside_mass = torch.logsumexp(lj_fine.flatten(), 0) + math.log(h1 * h2)
    log_px = torch.logsumexp(torch.cat([inside_mass[None], lj[outside] + 2 * math.log(h)]), 0)
    return GridPosterior(
        axis.cpu().numpy(), (lj - log_px).cpu().numpy(), ax1.cpu().numpy(), ax2.cpu().numpy(),
        (lj_fine - log_px).cpu().numpy(), float(log_px), float(torch.exp(inside_mass - log_px)),
    )


@dataclass
class InferenceGaps:
    """Per image (B,), nats: log p(x), the encoder's ELBO, the fitted Gaussian's ELBO (Cremer et al. 2018).

    method: how log p(x) was measured ("grid" for 2-D models, else "iwae k=<k>").
    """

    log_px: np.ndarray
    elbo_encoder: np.ndarray
    elbo_optimised: np.ndarray
    method: str

    @property
    def approximation_gap(self) -> np.ndarray:
        """log p(x) - ELBO(q*): what no Gaussian can capture of p(z|x)."""
        return self.log_px - self.elbo_optimised

    @property
    def amortisation_gap(self) -> np.ndarray:
        """ELBO(q*) - ELBO(encoder): what one shared encoder loses against fitting each image."""
        return self.elbo_optimised - self.elbo_encoder

    @property
    def total_gap(self) -> np.ndarray:
        """log p(x) - ELBO(encoder) = approximation gap + amortisation gap."""
        return self.log_px - self.elbo_encoder


def inference_gaps(model: VAE, x: torch.Tensor, y: torch.Tensor | None = None, steps: int = 500, seed: int = 0,
                   n_elbo: int = 1000, iwae_k: int = 5000, batch_size: int = 25,
                   on_image: Callable[[int], None] | None = None) -> InferenceGaps:
    """The gap decomposition for every image of x (B, C, H, W), `batch_size` images fitted at a time.

    The Gaussian is fitted from the encoder's guess for `steps` steps; both ELBOs use the same
    `n_elbo` draws; log p(x) comes from `grid_posterior` (2-D latents) or `iwae_log_px` with k =
    `iwae_k` and the fitted Gaussian as proposal. `on_image(n_done)` reports progress.
    """
    if steps < 0 or n_elbo < 1 or iwae_k < 1:
        raise ValueError(f"need steps >= 0, n_elbo >= 1 and iwae_k >= 1, got {steps}, {n_elbo}, {iwae_k}")
    grid = model.config.latent_dim == 2
    rows: list[list[np.ndarray]] = [[], [], []]
    for s in range(0, len(x), batch_size):
        xb = x[s : s + batch_size].to(model.device)
        yb = None if y is None or not model.config.conditional else y[s : s + batch_size]
        log_joint = model_log_joint(model, xb, yb)
        with torch.no_grad():
            q = model.encode(xb, yb)
        fit = fit_gaussian(log_joint, q.mu, q.logvar, steps=steps, seed=seed, record_every=max(1, steps), eval_samples=1)
        eps = comparison_eps(n_elbo, *q.mu.shape, seed=seed, device=model.device)
        elbo_enc, elbo_opt = gaussian_elbo(log_joint, torch.stack([q.mu, fit.mu[-1]]),
                                           torch.stack([q.logvar, fit.logvar[-1]]), eps)
        if grid:
            log_px = torch.tensor([grid_posterior(model, xb[i : i + 1], None if yb is None else yb[i : i + 1]).log_px
                                   for i in range(len(xb))])
        else:
            log_px = iwae_log_px(log_joint, fit.final, iwae_k, seed=seed + 3)
        for r, v in zip(rows, (log_px, elbo_enc, elbo_opt)):
            r.append(v.double().cpu().numpy())
        if on_image is not None:
            on_image(s + len(xb))
    log_px, elbo_enc, elbo_opt = (np.concatenate(r) for r in rows)
    return InferenceGaps(log_px, elbo_enc, elbo_opt, "grid" if grid else f"iwae k={iwae_k}")
