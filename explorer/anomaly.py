"""Anomaly detection with a trained VAE: score every image by its negative ELBO.

An image the model finds atypical costs many nats; "score > threshold => anomaly" is the classic
detector (An & Cho, "Variational Autoencoder based Anomaly Detection using Reconstruction
Probability", 2015). Its known failure is worth showing too: a model can give higher likelihood
to another dataset than to its own (Nalisnick et al., "Do Deep Generative Models Know What They
Don't Know?", ICLR 2019, found Fashion-MNIST models scoring MNIST as more likely). Non-digits
here are another dataset resized to the model's input and synthetic noise; the detector is
summarised by precision, recall and the confusion counts at a threshold, and by the
threshold-free ROC AUC.

Functions that call the model take optional labels `y` and pass them on (a conditional VAE
needs them); scores of a conditional model without labels marginalise the label.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from vae.losses import neg_elbo_per_image
from vae.model import VAE


SCORE_METHODS = {
    "mean": "−ELBO at the posterior mean: reconstruction at z = μ plus the KL (deterministic, one pass)",
    "samples": "−ELBO averaged over 4 samples z ~ q(z|x) (the ELBO itself, with less sampling noise)",
}
SCORE_SAMPLES = 4  # z draws averaged by the "samples" method
NOISE_KINDS = ("uniform", "gaussian")


def _is_conditional(model: VAE) -> bool:
    return getattr(model.config, "n_classes", 0) > 0


def _neg_elbo(model: VAE, x: torch.Tensor, y: torch.Tensor | None, method: str, generator: torch.Generator) -> torch.Tensor:
    """-ELBO per image (B,) by `method`; y as given (None for a plain model)."""
    if method == "mean":
        return neg_elbo_per_image(model, x, sample=False, generator=generator, y=y)
    draws = [neg_elbo_per_image(model, x, sample=True, generator=generator, y=y) for _ in range(SCORE_SAMPLES)]
    return torch.stack(draws).mean(0)


@torch.no_grad()
def anomaly_scores(model: VAE, x: torch.Tensor, y: torch.Tensor | None = None, method: str = "mean",
                   batch_size: int = 1000, seed: int = 0) -> torch.Tensor:
    """Anomaly score of each image in x (N, C, H, W): its -ELBO in nats, (N,) on CPU; higher = more atypical.

    method: a key of SCORE_METHODS. y (N,): labels for a conditional model. A conditional model
    given no labels scores -log of the label-marginal bound,
    -log( (1/K) sum_k exp ELBO(x | y=k) ) >= -log p(x) with a uniform label prior,
    so images with no label (noise, another dataset) are scored like the test images.
    """
    if method not in SCORE_METHODS:
        raise ValueError(f"method must be one of {list(SCORE_METHODS)}, got {method!r}")
    g = torch.Generator(device=model.device).manual_seed(seed)
    k = getattr(model.config, "n_classes", 0)
    out = []
    for start in range(0, x.shape[0], batch_size):
        xb = x[start : start + batch_size].to(model.device)
        if y is not None or not _is_conditional(model):
            yb = None if y is None else torch.as_tensor(y)[start : start + batch_size].to(model.device)
            out.append(_neg_elbo(model, xb, yb, method, g).cpu())
        else:
            per_label = torch.stack([_neg_elbo(model, xb, torch.full((len(xb),), c, device=model.device), method, g)
                                     for c in range(k)])  # (K, B)
            out.append((-(torch.logsumexp(-per_label, dim=0) - math.log(k))).cpu())
    return torch.cat(out) if out else torch.empty(0)


def other_dataset(name: str) -> str:
    """The out-of-distribution dataset shown against a model trained on `name`."""
    return "mnist" if name == "fashion-mnist" else "fashion-mnist"


def resize_images(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Images (N, C, H, W) -> (N, C, *size) by area averaging (e.g. 28x28 Fashion-MNIST to 8x8)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return torch.nn.functional.adaptive_avg_pool2d(x, size).clamp(0, 1)


def noise_images(kind: str, n: int, shape: tuple[int, int, int], mean: float = 0.5, std: float = 0.25,
                 seed: int = 0) -> torch.Tensor:
    """n noise images (n, *shape) in [0, 1]: "uniform" pixels U(0, 1), or "gaussian" N(mean, std^2) clipped.

    Pass the normal data's pixel mean and std so Gaussian noise has the data's brightness and contrast.
    """
    if kind not in NOISE_KINDS:
        raise ValueError(f"kind must be one of {NOISE_KINDS}, got {kind!r}")
    g = torch.Generator().manual_seed(seed)
    if kind == "uniform":
        return torch.rand((n, *shape), generator=g)
    return (mean + std * torch.randn((n, *shape), generator=g)).clamp(0, 1)


@dataclass(frozen=True)
class Detection:
    """"score > threshold => anomaly" against known normal/anomalous images.

    tp: anomalies flagged, fp: normal images flagged, fn: anomalies missed, tn: normal images passed.
    precision = tp / (tp + fp) (NaN when nothing is flagged); recall = tp / (tp + fn) (NaN without
    anomalies); false_alarm_rate = fp / (fp + tn), the share of normal images flagged.
    """

    threshold: float
    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else math.nan

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else math.nan

    @property
    def false_alarm_rate(self) -> float:
        return self.fp / (self.fp + self.tn) if self.fp + self.tn else math.nan


def detect(normal: np.ndarray | torch.Tensor, anomalous: np.ndarray | torch.Tensor, threshold: float) -> Detection:
    """Confusion counts of the threshold detector; `normal` and `anomalous` are score arrays."""
    normal, anomalous = np.asarray(normal, dtype=np.float64), np.asarray(anomalous, dtype=np.float64)
    tp = int((anomalous > threshold).sum())
    fp = int((normal > threshold).sum())
    return Detection(float(threshold), tp=tp, fp=fp, fn=len(anomalous) - tp, tn=len(normal) - fp)


def roc_auc(normal: np.ndarray | torch.Tensor, anomalous: np.ndarray | torch.Tensor) -> float:
    """Area under the ROC curve of the score: the probability that a random anomaly outscores a random normal image."""
    from sklearn.metrics import roc_auc_score

    normal, anomalous = np.asarray(normal, dtype=np.float64), np.asarray(anomalous, dtype=np.float64)
    if len(normal) == 0 or len(anomalous) == 0:
        return math.nan
    truth = np.r_[np.zeros(len(normal)), np.ones(len(anomalous))]
    return float(roc_auc_score(truth, np.r_[normal, anomalous]))


def extremes(scores: np.ndarray | torch.Tensor, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the n lowest scores (most typical, lowest first) and the n highest (least typical, highest first)."""
    order = np.argsort(np.asarray(scores), kind="stable")
    n = min(n, len(order))
    return order[:n], order[::-1][:n].copy()


def score_thresholds(scores: np.ndarray, n: int = 120) -> list[float]:
    """Candidate thresholds, evenly spaced on a log scale over the scores' range (3 significant figures).

    Scores of noise can be 20 times those of normal images; log spacing gives the normal range
    as many slider steps as the rest.
    """
    scores = np.asarray(scores, dtype=np.float64)
    lo, hi = float(scores.min()), float(scores.max())
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError("scores must be finite")
    if lo <= 0 or hi / lo < 1.001:  # -ELBO is positive for Bernoulli decoders; fall back to a linear grid
        grid = np.linspace(lo, hi if hi > lo else lo + 1.0, n)
    else:
        grid = np.geomspace(lo, hi, n)
    return sorted({float(f"{v:.3g}") for v in grid})
