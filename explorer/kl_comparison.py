"""What the KL buys: a VAE beside a plain autoencoder of the same architecture and latent size.

Without the KL term nothing ties the codes to the prior N(0, I): they spread as far as the encoder
likes and leave empty space between the classes, so a code drawn from N(0, I), or a point on a
path between two codes, often lies where no image was ever encoded (Hoffman & Johnson 2016,
"ELBO surgery"; Rezende & Viola 2018, "Taming VAEs"). This module measures that on the test codes
of two 2-D models and prepares what the comparison shows: a shared plotting range, decodes of
z ~ N(0, I) and one interpolation row per model.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Iterable

import numpy as np
import torch

from vae.card import ModelCard
from vae.latent import decode_images
from vae.model import VAE

from .i18n import _
from .registry import class_labels
from .registry import ModelEntry

VAE_MODEL, AE_MODEL = "mnist-z2", "mnist-ae-z2"
FAR = 0.1  # a prior draw with no test code this close lands where nothing was encoded (~3 posterior sigmas of mnist-z2)
N_PRIOR = 2000  # prior draws measured
END_CLASSES = (0, 1)  # the interpolation runs from the first test "0" to the first test "1"


@dataclass(frozen=True)
class CodeSpread:
    """Where one model's test codes lie relative to the prior N(0, I) (2-D codes).

    inside_2sigma: share of the test codes within distance 2 of the origin (the prior holds 86 %
        of its mass there in 2-D: 1 - exp(-2)).
    radius_99: the 99th percentile of the codes' distances from the origin.
    prior_far: share of the prior draws farther than `far` from every test code.
    class_share: (K,) share of the prior draws whose nearest test code has label k: which digits
        sampling N(0, I) reaches, and how often.
    class_tv: total-variation distance between `class_share` and the test set's label mix
        (0: the prior reaches every class as often as it occurs; 1: never the right ones).
    """

    inside_2sigma: float
    radius_99: float
    prior_far: float
    far: float
    class_share: tuple[float, ...]
    class_tv: float

    @property
    def rarest_class(self) -> int:
        """The label the prior's draws reach least often."""
        return int(np.argmin(self.class_share))


def twins(vae_card: ModelCard, ae_card: ModelCard) -> bool:
    """Whether a VAE (beta 1, standard prior) and a plain autoencoder differ only by the KL term:
    same dataset, architecture and 2-D latent, neither conditional."""
    v, a = vae_card.config, ae_card.config
    if not v.variational or v.prior != "standard" or v.conditional or v.latent_dim != 2:
        return False
    return dataclasses.replace(v, variational=False) == a and vae_card.dataset == ae_card.dataset and vae_card.beta == 1.0


def find_pair(entries: Iterable[ModelEntry], selected: str | None = None) -> tuple[ModelEntry, ModelEntry] | None:
    """A (VAE, plain autoencoder) pair of twins among the usable models, or None.

    Preference: a pair holding the `selected` model, then the shipped (mnist-z2, mnist-ae-z2), then
    the first pair in listing order.
    """
    usable = [e for e in entries if e.card is not None]
    pairs = [(v, a) for a in usable if not a.card.config.variational
             for v in usable if v.card.config.variational and twins(v.card, a.card)]
    if not pairs:
        return None
    return min(pairs, key=lambda p: (selected not in (p[0].name, p[1].name), (p[0].name, p[1].name) != (VAE_MODEL, AE_MODEL)))


def prior_codes(n: int = N_PRIOR, seed: int = 0, latent_dim: int = 2) -> np.ndarray:
    """(n, latent_dim) draws from N(0, I), seeded."""
    return torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(seed)).numpy()


def nearest_code(points: np.ndarray, codes: np.ndarray, chunk: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """For each of `points` (P, D): the distance to its nearest code in `codes` (N, D) and that code's row, (P,) each."""
    c = torch.as_tensor(codes, dtype=torch.float32)
    p = torch.as_tensor(points, dtype=torch.float32)
    # Exact differences, not the |a|^2 + |b|^2 - 2ab shortcut, which loses digits at small distances.
    found = [torch.cdist(p[s : s + chunk], c, compute_mode="donot_use_mm_for_euclid_dist").min(dim=1)
             for s in range(0, len(p), chunk)]
    return torch.cat([f.values for f in found]).numpy(), torch.cat([f.indices for f in found]).numpy()


def code_spread(codes: np.ndarray, labels: np.ndarray, n_classes: int, prior: np.ndarray | None = None,
                far: float = FAR) -> CodeSpread:
    """How one model's test codes (N, 2) with labels (N,) sit in the prior's region; `prior`
    (P, 2) defaults to `prior_codes()`."""
    codes, labels = np.asarray(codes, dtype=np.float32), np.asarray(labels)
    if codes.ndim != 2 or codes.shape[1] != 2 or len(codes) == 0 or labels.shape != (len(codes),):
        raise ValueError(f"code_spread needs 2-D codes (N, 2) and N labels, got {codes.shape} and {labels.shape}")
    prior = prior_codes() if prior is None else prior
    radius = np.linalg.norm(codes, axis=1)
    distance, nearest = nearest_code(prior, codes)
    share = np.bincount(labels[nearest], minlength=n_classes) / len(prior)
    mix = np.bincount(labels, minlength=n_classes) / len(labels)
    return CodeSpread(inside_2sigma=float((radius < 2.0).mean()), radius_99=float(np.quantile(radius, 0.99)),
                      prior_far=float((distance > far).mean()), far=far,
                      class_share=tuple(float(v) for v in share), class_tv=float(0.5 * np.abs(share - mix).sum()))


def shared_range(*codes: np.ndarray, quantile: float = 0.995, margin: float = 0.5) -> tuple[float, float]:
    """A symmetric axis range (-r, r) holding `quantile` of every model's codes and the prior's 2σ circle."""
    reach = max([2.5] + [float(np.quantile(np.abs(c), quantile)) + margin for c in codes])
    return -reach, reach


def interpolation_ends(labels: np.ndarray, classes: tuple[int, int] = END_CLASSES) -> tuple[int, int]:
    """Rows of the first test image of each of the two `classes` (the ends of the interpolation)."""
    labels = np.asarray(labels)
    rows = [np.flatnonzero(labels == c) for c in classes]
    if any(len(r) == 0 for r in rows):
        raise ValueError(f"the test set has no image labelled {classes[0] if len(rows[0]) == 0 else classes[1]}")
    return int(rows[0][0]), int(rows[1][0])


@torch.no_grad()
def interpolation_row(model: VAE, x_a: torch.Tensor, x_b: torch.Tensor, steps: int = 8) -> tuple[np.ndarray, torch.Tensor]:
    """Codes (steps, D) on the straight line from mu(x_a) to mu(x_b), and their decoded mean images."""
    mu = model.encode(torch.cat([x_a, x_b]).to(model.device)).mu.cpu()  # (2, D)
    t = torch.linspace(0, 1, steps)[:, None]
    z = (1 - t) * mu[0] + t * mu[1]  # (steps, D)
    return z.numpy(), decode_images(model, z)


def prior_decodes(model: VAE, z: np.ndarray) -> torch.Tensor:
    """Mean images of the given prior draws (the same draws for both models, so the rows compare)."""
    return decode_images(model, torch.as_tensor(z, dtype=torch.float32))


def summary(names: tuple[str, str], spreads: tuple[CodeSpread, CodeSpread], recon: tuple[float, float],
            class_names: list[str]) -> str:
    """Four sentences, with the measured numbers, on what the KL term changes: (VAE, autoencoder)
    names, code spreads and test reconstruction costs (nats per image), in the reader's language."""
    class_names = class_labels(class_names)  # Fashion-MNIST's names in the reader's language
    (v_name, a_name), (v, a) = names, spreads
    rare = a.rarest_class
    return _(
        "The KL term pulls every code towards N(0, I) and makes each image claim a small cloud instead of a point, "
        "so {vae}'s codes fill the prior's region: {v_inside:.0%} lie inside the 2σ circle, 99% within "
        "radius {v_radius:.1f}, and a draw from N(0, I) lands next to each digit about as often as that digit "
        "occurs (total-variation distance {v_tv:.2f} from the test set's label mix). Without it nothing holds "
        "the codes in place: {ae}'s spread out to radius {a_radius:.1f} (only {a_inside:.0%} inside "
        "2σ) and the prior's draws reach the digits unevenly (distance {a_tv:.2f}; the "
        "{rare}s by {a_rare:.1%} of draws against {v_rare:.1%} for the VAE), "
        "{a_far:.0%} of them farther than {far:g} from every test code (VAE: {v_far:.0%}). So "
        "sampling N(0, I) with the autoencoder over-produces some digits, misses others and lands in gaps, and a "
        "straight path between two codes can cross empty space. It reconstructs the test images in "
        "{a_recon:.1f} nats against the VAE's {v_recon:.1f}, but only the VAE is a generative model.").format(
        vae=v_name, ae=a_name, v_inside=v.inside_2sigma, v_radius=v.radius_99, v_tv=v.class_tv,
        a_radius=a.radius_99, a_inside=a.inside_2sigma, a_tv=a.class_tv, rare=class_names[rare],
        a_rare=a.class_share[rare], v_rare=v.class_share[rare], a_far=a.prior_far, far=a.far, v_far=v.prior_far,
        a_recon=recon[1], v_recon=recon[0])
