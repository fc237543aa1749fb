"""Clusters in latent space: k-means and a Gaussian mixture on the posterior means.

k-means (Lloyd 1982, k-means++ seeding) and a Gaussian mixture (EM) on the posterior means,
scored against the true labels by purity (Manning, Raghavan & Schütze, "Introduction to
Information Retrieval", 2008, Sec. 16.3) and normalised mutual information (Strehl & Ghosh
2002). The labels are never seen by the VAE or the clustering.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from explorer.i18n import N_
from vae.model import VAE

# method -> its name, shown translated (`_(CLUSTER_METHODS[method])`)
CLUSTER_METHODS = {"kmeans": N_("k-means"), "gmm": N_("Gaussian mixture")}


@dataclass
class Clustering:
    """Clusters of N codes: `assignments` (N,) in 0..k-1 and `centres` (k, D) in latent space.

    For k-means the centres are the centroids; for the Gaussian mixture, the component means.
    """

    method: str
    k: int
    assignments: np.ndarray
    centres: np.ndarray


def cluster_codes(mu: np.ndarray | torch.Tensor, k: int, method: str = "kmeans", seed: int = 0) -> Clustering:
    """Cluster codes mu (N, D) into k groups with k-means or a full-covariance Gaussian mixture (seeded)."""
    mu = np.asarray(mu, dtype=np.float64)
    if method not in CLUSTER_METHODS:
        raise ValueError(f"method must be one of {list(CLUSTER_METHODS)}, got {method!r}")
    if not isinstance(k, (int, np.integer)) or not 1 <= k <= len(mu):
        raise ValueError(f"k must be an integer from 1 to the number of codes ({len(mu)}), got {k!r}")
    if method == "kmeans":
        from sklearn.cluster import KMeans

        km = KMeans(n_clusters=int(k), n_init=4, random_state=seed).fit(mu)
        return Clustering(method, int(k), km.labels_.astype(np.int64), km.cluster_centers_)
    from sklearn.mixture import GaussianMixture

    gmm = GaussianMixture(n_components=int(k), covariance_type="full", n_init=1, reg_covar=1e-5, random_state=seed).fit(mu)
    return Clustering(method, int(k), gmm.predict(mu).astype(np.int64), gmm.means_)


def contingency(labels: np.ndarray, assignments: np.ndarray, k: int | None = None, n_classes: int | None = None) -> np.ndarray:
    """Counts (k, C): how many images of each true class fall in each cluster."""
    labels, assignments = np.asarray(labels, dtype=np.int64), np.asarray(assignments, dtype=np.int64)
    if labels.shape != assignments.shape:
        raise ValueError(f"labels and assignments differ in shape: {labels.shape} vs {assignments.shape}")
    k = int(assignments.max()) + 1 if k is None else k
    n_classes = int(labels.max()) + 1 if n_classes is None else n_classes
    table = np.zeros((k, n_classes), dtype=np.int64)
    np.add.at(table, (assignments, labels), 1)
    return table


def dominant_labels(table: np.ndarray) -> list[tuple[int, float] | None]:
    """Each cluster's most common label and its share of the cluster, from a contingency table
    (k, C); None for an empty cluster. Ties go to the lower label."""
    table = np.asarray(table)
    return [(int(row.argmax()), float(row.max() / row.sum())) if row.sum() else None for row in table]


def purity(labels: np.ndarray, assignments: np.ndarray) -> float:
    """Share of images whose cluster's majority label is their own label (1 = every cluster pure)."""
    labels = np.asarray(labels)
    if len(labels) == 0:
        raise ValueError("purity of an empty assignment is undefined")
    _, lab = np.unique(labels, return_inverse=True)
    _, ass = np.unique(np.asarray(assignments), return_inverse=True)
    return float(contingency(lab, ass).max(axis=1).sum() / len(labels))


def nmi(labels: np.ndarray, assignments: np.ndarray) -> float:
    """Normalised mutual information between clusters and labels (arithmetic mean normalisation), in [0, 1]."""
    from sklearn.metrics import normalized_mutual_info_score

    return float(normalized_mutual_info_score(np.asarray(labels), np.asarray(assignments)))


@torch.no_grad()
def centre_images(model: VAE, centres: np.ndarray | torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    """Decoded cluster centres: mean images (k, C, H, W) in [0, 1] on CPU; y (k,) for a conditional model."""
    z = torch.as_tensor(np.asarray(centres), dtype=torch.float32, device=model.device)
    yy = None if y is None else torch.as_tensor(y).to(model.device)
    return model.generate(z, yy).cpu()
