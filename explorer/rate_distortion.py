"""Rate and distortion: where a model sits between KL and reconstruction, a beta sweep, latent usage.

A model's test KL is its *rate* R and its reconstruction term its *distortion* D, so
-ELBO = D + R, and a beta-VAE (Higgins et al. 2017) trades one for the other (Alemi et al.,
"Fixing a Broken ELBO", 2018). The beta sweep trains one model per beta in the background
(`explorer.jobs.SweepJob`, the Train page's machinery) and saves each, so its points come from
the models' cards like every other. Latent usage: the KL of each latent dimension and the active
units of Burda, Grosse & Salakhutdinov (2016), Cov_x(E_q[z_d]) > 0.01 (a dimension below it has
collapsed to the prior).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import torch

from vae.card import ModelCard
from vae.config import TrainConfig, VAEConfig
from vae.latent import active_units
from vae.model import DiagonalGaussian

from .i18n import N_, _
from .jobs import JobSnapshot, SweepJob, shown
from .registry import ModelEntry
from .train_form import LIKELIHOOD_NAMES, shown_name


# ---------------------------------------------------------------------------------------------
# Rate and distortion
# ---------------------------------------------------------------------------------------------

# Values the code keeps (a point's source, a model's state) -> what the page shows, with `shown_name`.
SOURCE_NAMES = {"shipped": N_("shipped"), "yours": N_("yours"), "sweep": N_("sweep")}
STATE_NAMES = {"done": N_("done"), "stopped": N_("stopped"), "diverged": N_("diverged"), "failed": N_("failed")}


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
        raise ValueError(_("its card has no test metrics (recon, kl)"))
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
    log p(x); plain autoencoders too, since they have no KL to place on the rate axis. Returns (points, [(name, reason)]) for the models of `dataset` that were skipped.
    """
    points, skipped = [], []
    for name, card, source in cards:
        if card is None or card.dataset != dataset:
            continue
        if not card.config.variational:
            skipped.append((name, _("plain autoencoder: no KL, its rate is not measured (a point code has infinite "
                                    "rate)")))
        elif card.config.conditional:
            skipped.append((name, _("conditional model: its rate is measured given the label")))
        elif card.config.likelihood != likelihood:
            skipped.append((name, _("{likelihood} decoder: its distortion is in other units").format(
                likelihood=shown_name(LIKELIHOOD_NAMES, card.config.likelihood))))
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


def model_source(entry: ModelEntry) -> str:
    """How a listed model came to be, for the plot's legend: "sweep", "shipped" or "yours"."""
    if entry.card is not None and entry.card.trained_in == "beta sweep":
        return "sweep"
    return "shipped" if entry.shipped else "yours"


def cards_of(entries: Iterable[ModelEntry]) -> list[tuple[str, ModelCard | None, str]]:
    """(name, card, source) of each listed model, as `rate_distortion_points` takes them."""
    return [(e.name, e.card, model_source(e)) for e in entries]


def datasets_of(entries: Iterable[ModelEntry]) -> list[str]:
    """The datasets the usable models were trained on, sorted."""
    return sorted({e.card.dataset for e in entries if e.card is not None})


def likelihoods_of(entries: Iterable[ModelEntry], dataset: str) -> list[str]:
    """The decoder likelihoods among the usable models of `dataset`, sorted."""
    return sorted({e.card.config.likelihood for e in entries if e.card is not None and e.card.dataset == dataset})


def preferred(options: Sequence[Any], *wishes: Any) -> Any:
    """The first wish that is one of `options`, else the first option (None when there are none)."""
    return next((w for w in wishes if w in options), options[0] if options else None)


def plot_note(points: Sequence[RDPoint], skipped: Sequence[tuple[str, str]], dataset: str, likelihood: str,
              selected: str | None) -> str:
    """The caption under the plot (markdown): what it shows, and which models it leaves out and why."""
    note = _("{n} {dataset} models with a {likelihood} decoder; test-set means in nats per image, from each "
             "model's card.").format(n=len(points), dataset=dataset, likelihood=shown_name(LIKELIHOOD_NAMES, likelihood))
    if selected and selected not in {p.name for p in points}:
        note += _(" The selected model ({model}) is not on this plot.").format(model=selected)
    if skipped:
        left_out = _("; ").join(_("**{model}** ({why})").format(model=n, why=why) for n, why in skipped)
        note += _(" Left out: {models}.").format(models=left_out)
    return note


def points_table(points: Iterable[RDPoint]) -> list[dict[str, Any]]:
    """The points as table rows, best bound (lowest -ELBO) first."""
    model, rate, distortion, kind = _("model"), _("rate R (KL)"), _("distortion D"), _("kind")
    return [{model: p.name, "β": p.beta, "z": p.latent_dim, rate: round(p.rate, 2),
             distortion: round(p.distortion, 2), "−ELBO = D + R": round(p.neg_elbo, 2),
             kind: shown_name(SOURCE_NAMES, p.source)}
            for p in sorted(points, key=lambda p: p.neg_elbo)]


def compare_candidates(entries: Iterable[ModelEntry], selected: str, dataset: str) -> list[ModelEntry]:
    """The other usable VAEs of `dataset`, strongest beta first: the likeliest to show collapsed dimensions.

    Plain autoencoders are left out: they have no KL per dimension to show.
    """
    others = [e for e in entries if e.card is not None and e.card.dataset == dataset and e.name != selected
              and e.card.config.variational]
    return sorted(others, key=lambda e: -e.card.beta)


# ---------------------------------------------------------------------------------------------
# The beta sweep: one model per beta, trained in the background by a `SweepJob`
# ---------------------------------------------------------------------------------------------

SWEEP_PREFIX = "digits-sweep"
SWEEP_BETAS = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
SWEEP_DEFAULT_BETAS = (0.25, 0.5, 1.0, 2.0, 4.0)
# The shipped digits-z2's architecture, so its point (200 epochs) compares with the sweep's.
# Measured: benchmarks/RESULTS.md, "Measurements quoted from code (moved from docstrings)", 'Beta sweep'.
SWEEP_CONFIG = VAEConfig(input_shape=(1, 8, 8), latent_dim=2, hidden_dims=(256, 128))


def sweep_name(prefix: str, beta: float) -> str:
    """Directory name of one sweep model, e.g. digits-sweep-beta0.25."""
    return f"{prefix}-beta{beta:g}"


def sweep_job(
    betas: Iterable[float],
    epochs: int,
    out_dir: str | Path,
    *,
    config: VAEConfig = SWEEP_CONFIG,
    dataset: str = "digits",
    prefix: str = SWEEP_PREFIX,
    **job_options: Any,
) -> SweepJob:
    """A job (not yet started) that trains one model per beta, smallest first, on the CPU.

    Same architecture, seed and data for every beta, and every model starts from the same initial
    weights (`build_model(config, seed)`), so the points differ only by beta. Each is saved in
    `out_dir` as `sweep_name(prefix, beta)`, replacing an earlier sweep's model of that name, with
    a full card (trained_in "beta sweep", so the plot marks it as a sweep point). job_options go
    to `SweepJob` (e.g. isolate=False).
    """
    betas = sorted({float(b) for b in betas})
    if not betas:
        raise ValueError(_("give at least one beta"))
    base = TrainConfig(epochs=epochs, batch_size=64, lr=1e-3, seed=0, device="cpu")
    runs = [(sweep_name(prefix, b), TrainConfig(**{**base.to_dict(), "beta": b})) for b in betas]
    return SweepJob(runs, dataset, config, out_dir, trained_in="beta sweep", **job_options)


def sweep_progress_text(snap: JobSnapshot) -> str:
    """One line for a running sweep's progress bar: which model, which epoch, what is finished."""
    if snap.steps_per_epoch:
        text = _("Model {run} of {runs} (β = {beta:g}) · epoch {epoch} of {epochs} · {seconds:.0f} s").format(
            run=snap.run + 1, runs=snap.runs, beta=snap.beta, epoch=snap.epoch, epochs=snap.epochs,
            seconds=snap.elapsed)
    else:
        text = _("Model {run} of {runs} (β = {beta:g}): {doing}…").format(
            run=snap.run + 1, runs=snap.runs, beta=snap.beta, doing=shown(snap.message))
    finished = [f"β = {o.beta:g}" + ("" if o.state == "done" else f" ({shown_name(STATE_NAMES, o.state)})")
                for o in snap.outcomes]
    if finished:
        text += _(" · finished: {models}").format(models=_(", ").join(finished))
    if snap.stop_requested:
        text += _(" · stopping after this step…")
    return text


def sweep_report(snap: JobSnapshot) -> str:
    """What a finished sweep did and how long it took, for the page."""
    saved = [o for o in snap.outcomes if o.saved_path is not None]
    text = _("β sweep finished in {seconds:.0f} s: {message}.").format(seconds=snap.elapsed,
                                                                       message=shown(snap.message).rstrip(".。"))
    if saved:
        text += _(" Their points are on the plot, and the models in the sidebar picker.")
    return text


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
