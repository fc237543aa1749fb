"""Rate and distortion: where a model sits between KL and reconstruction, a live beta sweep, latent usage.

A model's test KL is its *rate* R and its reconstruction term its *distortion* D, so
-ELBO = D + R, and a beta-VAE (Higgins et al. 2017) trades one for the other (Alemi et al.,
"Fixing a Broken ELBO", 2018). Latent usage: the KL of each latent dimension and the active
units of Burda, Grosse & Salakhutdinov (2016), Cov_x(E_q[z_d]) > 0.01 (a dimension below it has
collapsed to the prior).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch

from vae.card import Metrics, ModelCard
from vae.config import TrainConfig, VAEConfig
from vae.latent import active_units
from vae.model import VAE, DiagonalGaussian, build_model


# ---------------------------------------------------------------------------------------------
# Rate and distortion
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RDPoint:
    """One model on the rate-distortion plane (test-set means, nats per image).

    rate: KL(q(z|x) || p(z)); distortion: E_q[-log p(x|z)]; source: "shipped", "yours" or "sweep".
    """

    name: str
    dataset: str
    beta: float
    rate: float
    distortion: float
    latent_dim: int
    likelihood: str
    source: str = "shipped"

    @property
    def neg_elbo(self) -> float:
        return self.rate + self.distortion

    @property
    def label(self) -> str:
        return f"{self.name} (β={self.beta:g})"


def rd_point(name: str, card: ModelCard, source: str = "shipped") -> RDPoint:
    """The rate-distortion point of a model from its card; ValueError saying why it has none."""
    if card.metrics is None:
        raise ValueError("its card has no test metrics (recon, kl)")
    return RDPoint(name=name, dataset=card.dataset, beta=card.beta, rate=card.metrics.kl,
                   distortion=card.metrics.recon, latent_dim=card.config.latent_dim,
                   likelihood=card.config.likelihood, source=source)


def rate_distortion_points(
    cards: Iterable[tuple[str, ModelCard | None, str]], dataset: str, likelihood: str = "bernoulli",
) -> tuple[list[RDPoint], list[tuple[str, str]]]:
    """Points of the models of `dataset` whose distortions share a unit, and the models left out.

    cards: (name, card, source) triples. Only models with the same decoder `likelihood` are
    comparable (a Gaussian decoder's nats depend on its fixed std); conditional models are left
    out because their label carries information for free, so their D + R bounds log p(x|y), not
    log p(x). Returns (points, [(name, reason)]) for the models of `dataset` that were skipped.
    """
    points, skipped = [], []
    for name, card, source in cards:
        if card is None or card.dataset != dataset:
            continue
        if card.config.conditional:
            skipped.append((name, "conditional model: its rate is measured given the label"))
        elif card.config.likelihood != likelihood:
            skipped.append((name, f"{card.config.likelihood} decoder: its distortion is in other units"))
        else:
            try:
                points.append(rd_point(name, card, source))
            except ValueError as e:
                skipped.append((name, str(e)))
    return points, skipped


def iso_elbo_levels(points: Sequence[RDPoint], n: int = 5) -> list[float]:
    """About `n` round values of -ELBO = R + D spanning the points (for the iso-ELBO lines)."""
    if not points:
        return []
    totals = [p.neg_elbo for p in points]
    lo, hi = min(totals), max(totals)
    span = max(hi - lo, 1e-6 + 0.05 * max(abs(hi), 1.0))
    raw = span / max(n - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(lo / step) * step
    stop = math.ceil(hi / step) * step
    count = int(round((stop - start) / step)) + 1
    return [round(start + i * step, 10) for i in range(count)]


@dataclass
class SweepResult:
    """One beta of a sweep: the trained model, how the run ended and its test metrics."""

    beta: float
    model: VAE
    status: str
    metrics: Metrics
    seconds: float
    saved_path: Path | None = None

    def point(self, name: str, dataset: str) -> RDPoint:
        return RDPoint(name=name, dataset=dataset, beta=self.beta, rate=self.metrics.kl,
                       distortion=self.metrics.recon, latent_dim=self.model.config.latent_dim,
                       likelihood=self.model.config.likelihood, source="sweep")


def sweep_name(prefix: str, beta: float) -> str:
    """Directory name of one sweep model, e.g. digits-sweep-beta0.25."""
    return f"{prefix}-beta{beta:g}"


def beta_sweep(
    train_x: torch.Tensor,
    test_x: torch.Tensor,
    betas: Sequence[float],
    config: VAEConfig,
    train_config: TrainConfig,
    on_progress: Callable[[int, float, float], bool | None] | None = None,
    save_dir: str | Path | None = None,
    dataset: str = "digits",
    name_prefix: str = "digits-sweep",
) -> list[SweepResult]:
    """Train one fresh model per beta (same architecture, seed and data) and measure each on `test_x`.

    Every model starts from the same initial weights (seeded by `train_config.seed`), so the
    points differ only by beta. on_progress(i, beta, fraction of the whole sweep done) is called
    at every step; returning True stops the sweep after the current model's last finished epoch.
    With `save_dir`, each model is saved there as `sweep_name(name_prefix, beta)` (replacing an
    earlier sweep model of that name) with a full card, like a model trained on the Train page.
    """
    from vae.train import model_metrics, run_training, save_run


    if not betas:
        raise ValueError("give at least one beta")
    results: list[SweepResult] = []
    stop = False
    for i, beta in enumerate(betas):
        cfg = TrainConfig(**{**train_config.to_dict(), "beta": float(beta)})
        model = build_model(config, cfg.seed)

        def on_step(info, i=i, beta=beta) -> bool:
            nonlocal stop
            done = (info.epoch * info.steps_per_epoch + info.step + 1) / (cfg.epochs * info.steps_per_epoch)
            if on_progress is not None and on_progress(i, float(beta), (i + done) / len(betas)):
                stop = True
            return stop

        run = run_training(model, train_x, None, cfg, on_step=on_step)
        if not run.history:  # stopped or diverged before one epoch: nothing to measure
            break
        model.eval()
        saved = None
        if save_dir is not None:
            saved = Path(save_dir) / sweep_name(name_prefix, float(beta))
            metrics = save_run(model, saved, run, dataset, cfg, len(train_x), test_x, trained_in="beta sweep")
        else:
            metrics = Metrics.from_dict(model_metrics(model, test_x, seed=cfg.seed))
        for p in model.parameters():
            p.requires_grad_(False)
        results.append(SweepResult(float(beta), model, run.status, metrics, run.seconds, saved))
        if stop:
            break
    return results


# ---------------------------------------------------------------------------------------------
# Latent usage: KL per dimension and active units
# ---------------------------------------------------------------------------------------------


@dataclass
class LatentUsage:
    """How much each latent dimension is used, over a set of images.

    kl: (D,) mean KL(q(z_d|x) || N(0, 1)) of each dimension, nats (Kingma & Welling, App. B).
    mu_variance: (D,) Var_x(mu_d), the variance across images of the posterior mean.
    active: (D,) mu_variance > threshold (Burda et al. 2016).
    """

    kl: np.ndarray
    mu_variance: np.ndarray
    active: np.ndarray
    threshold: float

    @property
    def n_active(self) -> int:
        return int(self.active.sum())

    @property
    def latent_dim(self) -> int:
        return int(self.kl.shape[0])


def latent_usage(mu: torch.Tensor | np.ndarray, logvar: torch.Tensor | np.ndarray, threshold: float = 0.01) -> LatentUsage:
    """Per-dimension KL and active units from the posterior parameters mu, logvar (N, D) of a dataset.

    The KL is to N(0, I) per dimension, whatever the model's prior (a learned mixture's KL does
    not split by dimension, so for it this is a diagnostic only).
    """
    mu = torch.as_tensor(np.asarray(mu), dtype=torch.float64)
    logvar = torch.as_tensor(np.asarray(logvar), dtype=torch.float64)
    if mu.ndim != 2 or mu.shape != logvar.shape or mu.shape[0] == 0:
        raise ValueError(f"mu and logvar must both be (N, D) with N >= 1, got {tuple(mu.shape)} and {tuple(logvar.shape)}")
    kl = DiagonalGaussian(mu, logvar).kl_per_dim().mean(0)  # (D,)
    return LatentUsage(kl=kl.numpy(), mu_variance=mu.var(dim=0, unbiased=False).numpy(),
                       active=active_units(mu, threshold).numpy(), threshold=threshold)
