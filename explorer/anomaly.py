"""Anomaly detection with a trained VAE: score every image by what its ELBO terms cost in nats.

An image the model finds atypical costs many nats; "score > threshold => anomaly" is the classic
detector (An & Cho, "Variational Autoencoder based Anomaly Detection using Reconstruction
Probability", 2015). Two scores (SCORE_METHODS): "mean", the reconstruction -log p(x|z) at
z = mu plus the KL, a deterministic plug-in score and not a bound on anything (with a learned
mixture prior its KL is a one-draw estimate, so not deterministic either); and "samples", the
-ELBO averaged over a few draws z ~ q(z|x), an unbiased estimate of the -ELBO, whose
expectation is an upper bound on -log p(x). Both rank images almost alike.

Its known failure is worth showing too: a model can give higher likelihood to another dataset
than to its own (Nalisnick et al., "Do Deep Generative Models Know What They Don't Know?",
ICLR 2019, found Fashion-MNIST models scoring MNIST as more likely). The anomalies here
(`anomaly_groups`) are another dataset resized to the model's input and synthetic noise; the
detector is summarised by precision, recall and the confusion counts at a threshold, and by the
threshold-free ROC AUC.

Functions that call the model take optional labels `y` and pass them on (a conditional VAE
needs them); scores of a conditional model without labels marginalise the label.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from vae.data import DatasetUnavailable, Split
from vae.losses import neg_elbo_per_image
from vae.model import VAE

from .i18n import N_, _
from .registry import showable_split


SCORE_SAMPLES = 4  # z draws averaged by the "samples" method
_SCORE_TEXTS = {  # {n}: SCORE_SAMPLES; shown in the reader's language by `score_method_text`
    "mean": N_("Reconstruction at z = μ plus the KL: one pass, a score rather than a bound"),
    "samples": N_("−ELBO averaged over {n} draws z ~ q(z|x): on average an upper bound on −log p(x)"),
}
SCORE_METHODS = {method: text.format(n=SCORE_SAMPLES) for method, text in _SCORE_TEXTS.items()}  # method -> English
SCORE_HELP = N_("Training uses one random z per image: a noisy −ELBO. Averaging a few draws estimates it better, and on "
                "average it is an upper bound on −log p(x). Rebuilding from z = μ instead removes that noise (usually a "
                "slightly lower price), but it is a score, not a bound. Both rank images almost identically.")
NOISE_KINDS = ("uniform", "gaussian")
# The anomaly groups' names (keys of `anomaly_groups`), English; `group_label` shows them translated.
UNIFORM_NOISE, GAUSSIAN_NOISE = N_("uniform noise"), N_("Gaussian noise")
_OTHER_GROUP = re.compile(r"(?P<other>.+) \(not (?P<dataset>.+)\)")


def score_method_text(method: str) -> str:
    """What the score `method` (a key of SCORE_METHODS) is, in the reader's language."""
    return _(_SCORE_TEXTS[method]).format(n=SCORE_SAMPLES)


def group_label(name: str, short: bool = False) -> str:
    """A group name of `anomaly_groups` in the reader's language; `short`: without "(not <dataset>)"."""
    other = _OTHER_GROUP.fullmatch(name)
    if other is None:
        return _(name)
    if short:
        return other["other"]
    return _("{other} (not {dataset})").format(other=other["other"], dataset=other["dataset"])


def _is_conditional(model: VAE) -> bool:
    return getattr(model.config, "n_classes", 0) > 0


def _neg_elbo(model: VAE, x: torch.Tensor, y: torch.Tensor | None, method: str, generator: torch.Generator) -> torch.Tensor:
    """Score per image (B,) by `method` (see SCORE_METHODS); y as given (None for a plain model)."""
    if method == "mean":
        return neg_elbo_per_image(model, x, sample=False, generator=generator, y=y)
    draws = [neg_elbo_per_image(model, x, sample=True, generator=generator, y=y) for _draw in range(SCORE_SAMPLES)]
    return torch.stack(draws).mean(0)


@torch.no_grad()
def anomaly_scores(model: VAE, x: torch.Tensor, y: torch.Tensor | None = None, method: str = "mean",
                   batch_size: int = 1000, seed: int = 0) -> torch.Tensor:
    """Anomaly score of each image in x (N, C, H, W) in nats, (N,) on CPU; higher = more atypical.

    method: a key of SCORE_METHODS. "mean" is -log p(x|z=mu) + KL, one pass and no bound;
    "samples" averages SCORE_SAMPLES one-draw -ELBO estimates (its expectation, the -ELBO, is
    >= -log p(x)). Draws come from a generator seeded with `seed`, so either score is
    reproducible; "mean" is deterministic unless the prior's KL is sampled (see
    `score_is_deterministic`). y (N,): labels for a conditional model. A conditional model given
    no labels scores -log( (1/K) sum_k exp(-s_k) ) over the per-label scores s_k, which with
    "samples" estimates the label-marginal bound -log( (1/K) sum_k exp ELBO(x | y=k) ) >= -log p(x)
    (uniform label prior), so images with no label (noise, another dataset) are scored like the
    test images.
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


def score_is_deterministic(model: VAE, method: str) -> bool:
    """Whether `method` gives the same score whatever the seed: only "mean", and only when the
    prior's KL has a closed form (a learned mixture's KL is a one-draw estimate)."""
    if method not in SCORE_METHODS:
        raise ValueError(f"method must be one of {list(SCORE_METHODS)}, got {method!r}")
    return method == "mean" and bool(model.prior.analytic_kl)


def score_notes(model: VAE, method: str) -> list[str]:
    """What a reader needs to know beside `method`'s scores for this model, one sentence each (in the
    reader's language): how a conditional model scores an unlabelled image, that a mixture prior's KL
    is sampled, and that a plain autoencoder's score is its reconstruction alone."""
    notes = []
    k = getattr(model.config, "n_classes", 0)
    if k > 0:
        notes.append(_("A conditional model needs a label; an unlabelled image gets its scores s(x|y) for all K = {k} "
                       "labels combined: −log((1/K) Σ_y exp(−s(x|y))). With the averaged −ELBO as s, that estimates the "
                       "bound on −log p(x) with every label equally likely.").format(k=k))
    if not getattr(model.config, "variational", True):
        notes.append(_("This model is a plain autoencoder: its score is the reconstruction cost alone, with no KL and no "
                       "draws of z (both scores agree). That is the classic reconstruction-error detector, not a bound on "
                       "−log p(x)."))
    if method == "mean" and not score_is_deterministic(model, method):
        notes.append(_("This model's learned mixture prior has no closed-form KL, so even at z = μ the KL in the score is "
                       "a one-draw estimate: seeded here, but not a deterministic score."))
    return notes


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


@dataclass
class AnomalyGroups:
    """The anomalies shown against a model's test images.

    images: group name (English, a key: `group_label` translates it) -> images (n, C, H, W) in [0, 1], in
    display order; note: a sentence saying what stood in for the other dataset (the loader's, as it gave
    it), or that it is missing (in the reader's language), or None when there is nothing to say.
    """

    images: dict[str, torch.Tensor]
    note: str | None = None


def anomaly_groups(normal: torch.Tensor, dataset: str, input_shape: tuple[int, int, int], n: int,
                   load_split: Callable[[str], tuple[Split, str | None]] = showable_split) -> AnomalyGroups:
    """n seeded images of each kind of anomaly for a model of `input_shape` trained on `dataset`.

    Groups, in order: "<other> (not <dataset>)", test images of `other_dataset(dataset)` resized
    to the input (greyscale models only, and only when `load_split` finds them on disk; otherwise
    `note` says so); "uniform noise"; "Gaussian noise" with the pixel mean and std of `normal`
    (N, C, H, W), that dataset's test images. load_split(name) -> (split, note): the app's
    (cached) `registry.showable_split` by default.
    """
    shape = tuple(int(v) for v in input_shape)
    images, note = {}, None
    other = other_dataset(dataset)
    if shape[0] == 1:
        try:
            split, note = load_split(other)
            pick = torch.randperm(len(split), generator=torch.Generator().manual_seed(0))[:n]
            images[f"{split.name} (not {dataset})"] = resize_images(split.x[pick], shape[1:])
        except DatasetUnavailable:
            note = _("{other} is not on this machine, so only noise plays the anomaly (set VAE_DATA_DIR to a folder "
                     "holding it).").format(other=other)
    images[UNIFORM_NOISE] = noise_images("uniform", n, shape, seed=1)
    images[GAUSSIAN_NOISE] = noise_images("gaussian", n, shape, mean=normal.mean().item(), std=normal.std().item(), seed=2)
    return AnomalyGroups(images, note)


def score_groups(model: VAE, groups: dict[str, torch.Tensor], method: str = "mean") -> dict[str, np.ndarray]:
    """`anomaly_scores` of each group of images, {name: (n,)}, in the groups' order."""
    return {name: anomaly_scores(model, x, method=method).numpy() for name, x in groups.items()}


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


def default_threshold(options: list[float], normal: np.ndarray | torch.Tensor, percentile: float = 95.0) -> float:
    """The option nearest the `percentile`-th percentile of the normal scores: about 5% false alarms at 95."""
    target = float(np.percentile(np.asarray(normal, dtype=np.float64), percentile))
    return min(options, key=lambda v: abs(v - target))


def share_below(normal: np.ndarray | torch.Tensor, score: float) -> float:
    """Share of the normal scores strictly below `score`: how many images are more typical than it."""
    return float((np.asarray(normal, dtype=np.float64) < score).mean())


@dataclass(frozen=True)
class GroupSummary:
    """One row of the per-group table: `n` images, their median score (nats), the share `flagged`
    above the threshold, and the ROC AUC of the group against the normal images (NaN for the
    normal group itself)."""

    name: str
    n: int
    median: float
    flagged: float
    auc: float


def summarise_groups(normal_name: str, normal: np.ndarray, anomalies: dict[str, np.ndarray],
                     threshold: float) -> list[GroupSummary]:
    """The normal group first, then each anomaly group, scored at `threshold`."""
    normal = np.asarray(normal, dtype=np.float64)
    groups = [(normal_name, normal)] + [(k, np.asarray(v, dtype=np.float64)) for k, v in anomalies.items()]
    return [GroupSummary(name, len(s), float(np.median(s)), float((s > threshold).mean()),
                         math.nan if i == 0 else roc_auc(normal, s))
            for i, (name, s) in enumerate(groups)]
