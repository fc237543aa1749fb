"""Inference for one image, as the Learn page shows it: the encoder's amortised q(z|x) against a
Gaussian optimised for that image alone, the true posterior, and the gaps of Cremer, Li & Duvenaud
("Inference Suboptimality in Variational Autoencoders", ICML 2018).

The maths lives in `vae.inference` (the CLI's `vae-explorer gaps` runs it too) and is re-exported
here; this module adds what the page needs around it: one image's encoder Gaussian and its
precise ELBO, a run of the per-image optimiser as NumPy arrays, the posterior's highest-density
regions for contour lines, the average gaps of a test subset, and sentences that read them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from explorer.i18n import N_, _
from vae.inference import (  # noqa: F401  (re-exported: the app's view of the core)
    GaussianFit, GridPosterior, InferenceGaps, comparison_eps, fit_gaussian, gaussian_elbo, grid_posterior,
    inference_gaps, iwae_log_px, model_log_joint,
)
from vae.model import VAE

STARTS = ("prior", "encoder")  # where the per-image optimiser starts: N(0, I), or the encoder's guess
START_NAMES = {"prior": N_("the prior"), "encoder": N_("the encoder")}  # a start as a sentence names it ("from {start}")
STEPS = 500
ELBO_SAMPLES = 1000  # z draws behind every reported ELBO: its Monte-Carlo error is ~0.05 nats
IWAE_K = 5000  # importance samples for log p(x) when the latent is not 2-D


def _label(model: VAE, y) -> torch.Tensor | None:
    return None if y is None or not model.config.conditional else torch.as_tensor(y).long().reshape(-1)


@dataclass
class Amortised:
    """The encoder's q(z|x) of one image: mu, logvar (D,), and its ELBO in nats (ELBO_SAMPLES draws)."""

    mu: np.ndarray
    logvar: np.ndarray
    elbo: float

    @property
    def std(self) -> np.ndarray:
        return np.exp(0.5 * self.logvar)


@torch.no_grad()
def amortised(model: VAE, x: torch.Tensor, y=None, seed: int = 0) -> Amortised:
    """One forward pass of the encoder for x (1, C, H, W) (and its label y, for a conditional model)."""
    x, y = x.to(model.device), _label(model, y)
    q = model.encode(x, y)
    eps = comparison_eps(ELBO_SAMPLES, 1, model.config.latent_dim, seed, model.device)
    elbo = gaussian_elbo(model_log_joint(model, x, y), q.mu, q.logvar, eps)
    return Amortised(q.mu[0].cpu().numpy(), q.logvar[0].cpu().numpy(), float(elbo[0]))


@dataclass
class Run:
    """The per-image optimiser on one image, recorded every few steps.

    start: one of STARTS; steps: (T,) the recorded step numbers; mu, logvar: (T, D) the Gaussian
    at those steps; elbo: (T,) its ELBO there (the same 64 eps at every step: a comparable curve);
    final_elbo: the last Gaussian's ELBO on the same ELBO_SAMPLES draws as `Amortised.elbo`.
    """

    start: str
    steps: np.ndarray
    mu: np.ndarray
    logvar: np.ndarray
    elbo: np.ndarray
    final_elbo: float

    @property
    def std(self) -> np.ndarray:
        return np.exp(0.5 * self.logvar)

    def index(self, step: int) -> int:
        """The position of the last recorded step at or before `step`."""
        return int(np.searchsorted(self.steps, step, side="right") - 1)


def optimise(model: VAE, x: torch.Tensor, y=None, start: str = "prior", steps: int = STEPS, seed: int = 0,
             lr: float = 0.1) -> Run:
    """Fit a free Gaussian to the one image x (1, C, H, W) by Adam on its ELBO, from the prior or the encoder."""
    if start not in STARTS:
        raise ValueError(f"start must be one of {STARTS}, got {start!r}")
    x, y = x.to(model.device), _label(model, y)
    d = model.config.latent_dim
    if start == "prior":
        mu0 = logvar0 = torch.zeros(1, d, device=model.device)
    else:
        with torch.no_grad():
            q = model.encode(x, y)
        mu0, logvar0 = q.mu, q.logvar
    log_joint = model_log_joint(model, x, y)
    fit = fit_gaussian(log_joint, mu0, logvar0, steps=steps, lr=lr, seed=seed)
    eps = comparison_eps(ELBO_SAMPLES, 1, d, seed, model.device)
    final = gaussian_elbo(log_joint, fit.mu[-1], fit.logvar[-1], eps)
    return Run(start, fit.steps, fit.mu[:, 0].cpu().numpy(), fit.logvar[:, 0].cpu().numpy(),
               fit.elbo[:, 0].cpu().numpy(), float(final[0]))


def image_gaps(model: VAE, x: torch.Tensor, y=None, steps: int = STEPS, seed: int = 0) -> InferenceGaps:
    """The gap decomposition of one image (or a few), as the CLI computes it: the best Gaussian is fitted
    from the encoder's guess; log p(x) on the grid (2-D) or by IWAE with k = IWAE_K."""
    return inference_gaps(model, x, _label(model, y), steps=steps, seed=seed, n_elbo=ELBO_SAMPLES, iwae_k=IWAE_K)


def subset_gaps(model: VAE, x: torch.Tensor, y: torch.Tensor, n: int, steps: int = STEPS, seed: int = 0,
                on_image=None) -> InferenceGaps:
    """The gaps of the first n test images (x, y: a whole test split; labels used by conditional models)."""
    n = min(n, len(x))
    return inference_gaps(model, x[:n], _label(model, y[:n]), steps=steps, seed=seed, n_elbo=ELBO_SAMPLES,
                          iwae_k=IWAE_K, on_image=on_image)


def hpd_mass(log_density: np.ndarray) -> np.ndarray:
    """For every grid cell, the share of the posterior in cells at least as dense (same shape).

    Its contour at 0.5 bounds the smallest region holding half the posterior (the 50 % highest
    density region), at 0.9 the 90 % one: contour levels that mean the same for every image.
    """
    p = np.exp(log_density - log_density.max()).ravel()
    order = np.argsort(-p)
    cumulative = np.empty_like(p)
    cumulative[order] = np.cumsum(p[order]) / p.sum()
    return cumulative.reshape(log_density.shape)


@dataclass
class GapRow:
    """One model's mean gaps over a test subset, nats per image."""

    model: str
    latent_dim: int
    n_images: int
    method: str
    log_px: float
    elbo_encoder: float
    elbo_optimised: float
    approximation_gap: float
    amortisation_gap: float

    @property
    def total_gap(self) -> float:
        return self.approximation_gap + self.amortisation_gap

    @property
    def amortisation_share(self) -> float:
        """Amortisation gap / total gap (nan when the total is not positive)."""
        return self.amortisation_gap / self.total_gap if self.total_gap > 0 else float("nan")


def gap_row(model_name: str, latent_dim: int, gaps: InferenceGaps) -> GapRow:
    return GapRow(model_name, latent_dim, len(gaps.log_px), gaps.method, float(gaps.log_px.mean()),
                  float(gaps.elbo_encoder.mean()), float(gaps.elbo_optimised.mean()),
                  float(gaps.approximation_gap.mean()), float(gaps.amortisation_gap.mean()))


def gaps_reading(rows: list[GapRow]) -> str:
    """A few sentences on what the measured gaps say, against Cremer et al.'s finding."""
    if not rows:
        return _("No model measured yet.")
    amort = [r for r in rows if r.amortisation_gap > r.approximation_gap]
    text = [_("Cremer et al. found that on MNIST and Fashion-MNIST the **amortisation gap** (one encoder for all "
              "images) is often the larger part of what the ELBO loses, not the Gaussian shape of q. Here it is "
              "larger in **{larger} of {n}** models.").format(larger=len(amort), n=len(rows))]
    by_amort = max(rows, key=lambda r: r.amortisation_gap)
    by_approx = max(rows, key=lambda r: r.approximation_gap)
    text.append(_("The largest amortisation gap is {amort_model}'s ({amort_gap:.2f} nats per image); the largest "
                  "approximation gap is {approx_model}'s ({approx_gap:.2f} nats).").format(
        amort_model=by_amort.model, amort_gap=by_amort.amortisation_gap,
        approx_model=by_approx.model, approx_gap=by_approx.approximation_gap))
    if len(amort) > len(rows) / 2:
        text.append(_("Every model's approximation gap is at most {gap:.2f} nats: a diagonal Gaussian fitted to one "
                      "image is close to its true posterior, and most of what the ELBO loses is the encoder missing "
                      "that Gaussian. A better encoder (or a few steps of per-image optimisation on top of it) would "
                      "close more of the gap than a richer family of q.").format(gap=by_approx.approximation_gap))
    small = [r.model for r in rows if r.total_gap < 1.0]
    if small:
        text.append(_("The total gap is under 1 nat for {models}: there the ELBO is a tight bound on log p(x).")
                    .format(models=_(", ").join(small)))
    wide = [r for r in rows if r.latent_dim > 2]
    if wide:
        text.append(_("For larger latents log p(x) is an importance-sampled lower bound, so their approximation gaps "
                      "are if anything underestimated."))
    return join_sentences(text)


def join_sentences(sentences: list[str]) -> str:
    """One paragraph: a space after an English sentence, none after a Chinese one (ending in 。)."""
    return "".join(t if t.endswith(("。", "！", "？")) else t + " " for t in sentences).rstrip()
