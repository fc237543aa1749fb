"""What the "Bayesian neural network" page computes: two classifiers compared on the latent plane and on pixels.

On the latent plane: a small Bayesian network (`vae.bnn`, Bayes by Backprop) and its deterministic twin
learn the digit from a 2-D model's codes in seconds; on a grid over the plane we keep the predicted
class, the predictive entropy and the mutual information (the epistemic part), and the decision
boundaries of a few single weight draws. On pixels: the shipped pair `models/mnist-bnn` (trained with
`vae-explorer train-bnn`), its accuracy, calibration, out-of-distribution detection by predictive
entropy, and the class probabilities of one uploaded or drawn digit with their spread over weight draws.
"""

from __future__ import annotations

import math
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch
from torch import nn

from vae.bnn import (
    NETWORKS,
    BayesianNetwork,
    BNNConfig,
    ClassifierMetrics,
    Reliability,
    build_networks,
    classifier_metrics,
    fit_classifier,
    predict_samples,
    predictive,
    reliability,
)
from vae.data import DatasetUnavailable, Split, available_offline, load_dataset

from .anomaly import noise_images, resize_images, roc_auc
from .i18n import N_
from .registry import SHIPPED_DIR

PIXEL_MODEL = SHIPPED_DIR / "mnist-bnn"
MEASURES = ("entropy", "mutual_information", "det_entropy")  # the last: the deterministic network's entropy
LATENT_HIDDEN = (32, 32)
LATENT_STEPS = 800  # Adam steps on the codes, whatever their number of codes (see benchmarks/RESULTS.md)


_THREADS_LOCK = threading.Lock()


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run tiny networks on one torch thread: with two, each small step waits on the other (measured 1.1 s
    against 2.8-9.9 s for train_on_codes on a busy 2-core machine). The thread count is process-wide, so
    callers take turns and the previous count is always restored."""
    with _THREADS_LOCK:
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(before)


@dataclass
class LatentClassifiers:
    """Both networks trained on n_train codes; held-out accuracy of each on the other codes."""

    bayes: BayesianNetwork
    det: nn.Module
    n_train: int
    accuracy: dict[str, float]
    final_loss: dict[str, float]


def split_codes(n_codes: int, n_train: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of the training codes (n_train of them) and of the held-out rest, in a seeded order."""
    if not 1 <= n_train < n_codes:
        raise ValueError(f"n_train must be between 1 and {n_codes - 1}, got {n_train}")
    order = np.random.default_rng(seed).permutation(n_codes)
    return np.sort(order[:n_train]), np.sort(order[n_train:])


def plane_extent(mu: np.ndarray) -> float:
    """Half-width of the square shown around (N, 2) codes: their 99.5th |z| percentile plus 25 %, up to the next 0.5."""
    return float(np.ceil(np.percentile(np.abs(mu), 99.5) * 1.25 * 2) / 2)


def train_on_codes(mu: np.ndarray, labels: np.ndarray, n_train: int, n_classes: int = 10, prior_std: float = 1.0,
                   seed: int = 0) -> LatentClassifiers:
    """Train both classifiers on n_train of the (N, 2) codes `mu` for LATENT_STEPS Adam steps."""
    train, held = split_codes(len(mu), n_train, seed)
    x, y = torch.as_tensor(mu, dtype=torch.float32), torch.as_tensor(labels, dtype=torch.long)
    config = BNNConfig(in_features=mu.shape[1], hidden_dims=LATENT_HIDDEN, n_classes=n_classes, prior_std=prior_std,
                       init_std=0.1)
    bayes, det = build_networks(config, seed)
    batch = min(512, n_train)
    epochs = math.ceil(LATENT_STEPS / math.ceil(n_train / batch))
    losses = {}
    with _one_thread():
        for name, net in zip(NETWORKS, (bayes, det)):
            history = fit_classifier(net, x[train], y[train], epochs=epochs, batch_size=batch, lr=1e-2, seed=seed)
            losses[name] = history[-1]["train_loss"]
        accuracy = {name: classifier_metrics(net, x[held], y[held], n_samples=20, seed=seed).accuracy
                    for name, net in zip(NETWORKS, (bayes, det))}
    return LatentClassifiers(bayes.eval(), det.eval(), n_train, accuracy, losses)


@dataclass(frozen=True)
class PlaneMaps:
    """Predictions on a (R, R) grid over [-extent, extent]^2: rows run along z₂, columns along z₁.

    predicted, det_predicted: class indices; entropy, mutual_information, det_entropy: nats;
    sampled: (K, R, R) the classes of K single weight draws (their boundaries show the weights' spread).
    """

    axis: np.ndarray
    predicted: np.ndarray
    entropy: np.ndarray
    mutual_information: np.ndarray
    det_predicted: np.ndarray
    det_entropy: np.ndarray
    sampled: np.ndarray


def plane_maps(classifiers: LatentClassifiers, extent: float, resolution: int = 181, n_samples: int = 30,
               n_boundaries: int = 4, seed: int = 0) -> PlaneMaps:
    axis = np.linspace(-extent, extent, resolution, dtype=np.float32)
    zx, zy = np.meshgrid(axis, axis)
    grid = torch.from_numpy(np.stack([zx.ravel(), zy.ravel()], 1))  # (R*R, 2)
    draws = predict_samples(classifiers.bayes, grid, n_samples, seed)  # (S, R*R, C)
    pred = predictive(draws)
    det = predictive(predict_samples(classifiers.det, grid))
    shape = (resolution, resolution)
    return PlaneMaps(
        axis=axis, predicted=pred.probs.argmax(-1).reshape(shape).numpy(), entropy=pred.entropy.reshape(shape).numpy(),
        mutual_information=pred.mutual_information.reshape(shape).numpy(),
        det_predicted=det.probs.argmax(-1).reshape(shape).numpy(), det_entropy=det.entropy.reshape(shape).numpy(),
        sampled=draws[:n_boundaries].argmax(-1).reshape(-1, *shape).numpy(),
    )


def boundary_mask(classes: np.ndarray) -> np.ndarray:
    """(R, R) True on cells whose class differs from the next cell to the right or below: the decision boundaries."""
    mask = np.zeros(classes.shape, dtype=bool)
    mask[:, :-1] |= classes[:, 1:] != classes[:, :-1]
    mask[:-1, :] |= classes[1:, :] != classes[:-1, :]
    return mask


def _rgb(colour: str) -> np.ndarray:
    return np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)], dtype=np.float64)


def plane_image(maps: PlaneMaps, measure: str, colours: list[str]) -> tuple[np.ndarray, float]:
    """RGB image (R, R, 3) uint8, rows bottom-up: the predicted class's colour, faded to white as `measure` grows.

    The Bayesian network's prediction, or the deterministic one's for "det_entropy". The fading is
    scaled to log C for an entropy (its largest possible value) and to the plane's largest value for
    the mutual information (usually far smaller); that scale is returned. Dark grey lines: boundaries
    of single weight draws; black: the deterministic network's boundary.
    """
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {MEASURES}, got {measure!r}")
    values = getattr(maps, measure)
    n_classes = len(colours)
    scale = max(float(values.max()), 1e-6) if measure == "mutual_information" else math.log(n_classes)
    fade = np.clip(values / scale, 0, 1)[..., None] * 0.85  # keep a trace of colour even where most uncertain
    palette = np.stack([_rgb(c) for c in colours])
    predicted = maps.det_predicted if measure == "det_entropy" else maps.predicted
    image = palette[predicted % n_classes] * (1 - fade) + 255 * fade
    for sampled in maps.sampled:
        image[boundary_mask(sampled)] = (95, 95, 95)
    image[boundary_mask(maps.det_predicted)] = (0, 0, 0)
    return image.round().astype(np.uint8), scale


@dataclass(frozen=True)
class PixelReport:
    """The shipped pair measured on test digits and on out-of-distribution images.

    entropy_in / entropy_out: (N,) predictive entropy per image for each network; auc: ROC AUC of
    entropy as an out-of-distribution score (1: perfect, 0.5: chance); mi_auc for the Bayesian network's
    mutual information.
    """

    metrics: dict[str, ClassifierMetrics]
    reliability: dict[str, Reliability]
    entropy_in: dict[str, np.ndarray]
    entropy_out: dict[str, np.ndarray]
    auc: dict[str, float]
    mi_auc: float
    ood_name: str


def ood_images(n: int, shape: tuple[int, int, int], seed: int = 0) -> tuple[torch.Tensor, str]:
    """n out-of-distribution images: Fashion-MNIST's test clothes when on disk, else uniform noise; and their name
    (English, kept in cached reports: translate it where it is shown)."""
    if available_offline("fashion-mnist"):
        try:
            x = load_dataset("fashion-mnist", "test", download=False).x[:n]
            return resize_images(x, shape[1:]), "Fashion-MNIST"
        except DatasetUnavailable:
            pass
    return noise_images("uniform", n, shape, seed=seed), N_("uniform noise")  # a name: shown with _(...)


def evaluate_pixels(bayes: BayesianNetwork, det: nn.Module, test: Split, n: int = 10_000, n_samples: int = 10,
                    seed: int = 0) -> PixelReport:
    """Both networks on the first n test images and n out-of-distribution images."""
    x, y = test.x[:n], test.y[:n]
    x_out, ood_name = ood_images(len(x), test.image_shape, seed)
    metrics, rel, h_in, h_out, auc = {}, {}, {}, {}, {}
    mi = None
    for name, net in zip(NETWORKS, (bayes, det)):
        p_in = predictive(predict_samples(net, x, n_samples, seed))
        p_out = predictive(predict_samples(net, x_out, n_samples, seed))
        metrics[name] = classifier_metrics(net, x, y, n_samples, seed)
        rel[name] = reliability(p_in.probs, y)
        h_in[name], h_out[name] = p_in.entropy.numpy(), p_out.entropy.numpy()
        auc[name] = roc_auc(h_in[name], h_out[name])
        if name == "bayesian":
            mi = roc_auc(p_in.mutual_information.numpy(), p_out.mutual_information.numpy())
    return PixelReport(metrics, rel, h_in, h_out, auc, float(mi), ood_name)


@dataclass(frozen=True)
class DigitPrediction:
    """One image's class probabilities: mean, 5th and 95th percentile over weight draws; the deterministic net's."""

    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    det: np.ndarray
    entropy: float
    mutual_information: float
    det_entropy: float


def predict_digit(bayes: BayesianNetwork, det: nn.Module, x: torch.Tensor, n_samples: int = 100,
                  seed: int = 0) -> DigitPrediction:
    """x: (1, C, H, W) one image as the networks see it."""
    draws = predict_samples(bayes, x, n_samples, seed)[:, 0]  # (S, C)
    bayes_pred, det_pred = predictive(draws[:, None]), predictive(predict_samples(det, x))
    low, high = torch.quantile(draws, torch.tensor([0.05, 0.95]), dim=0)
    return DigitPrediction(
        mean=draws.mean(0).numpy(), low=low.numpy(), high=high.numpy(), det=det_pred.probs[0].numpy(),
        entropy=float(bayes_pred.entropy[0]), mutual_information=float(bayes_pred.mutual_information[0]),
        det_entropy=float(det_pred.entropy[0]),
    )
