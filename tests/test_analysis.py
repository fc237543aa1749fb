"""explorer.anomaly and explorer.clusters: anomaly scores and the threshold detector, clustering and its scores, against oracles."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import confusion_matrix, normalized_mutual_info_score, precision_score, recall_score
from sklearn.metrics.cluster import contingency_matrix

import vae
from explorer.anomaly import (
    SCORE_METHODS, anomaly_groups, anomaly_scores, default_threshold, detect, extremes, noise_images, other_dataset,
    resize_images, roc_auc, score_groups, score_is_deterministic, score_notes, score_thresholds, share_below,
    summarise_groups,
)
from explorer.clusters import centre_images, cluster_codes, contingency, dominant_labels, nmi, purity
from explorer.figures import cluster_scatter, contingency_heatmap, score_histogram

MODELS = Path(__file__).resolve().parent.parent / "models"


def tiny(n_classes: int = 0, prior: str = "standard") -> vae.VAE:
    torch.manual_seed(0)
    return vae.VAE(vae.VAEConfig(input_shape=(1, 8, 8), latent_dim=2, hidden_dims=(16,), n_classes=n_classes, prior=prior,
                                 prior_components=3)).eval()


def images(n: int = 12, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(seed))


# ------------------------------------------------------------------ purity, NMI, contingency

def test_purity_and_nmi_of_a_perfect_assignment_are_one():
    labels = np.array([0, 0, 1, 1, 2, 2, 2])
    assert purity(labels, labels) == 1.0
    assert nmi(labels, labels) == pytest.approx(1.0)


def test_purity_and_nmi_ignore_how_clusters_are_numbered():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, 200)
    clusters = rng.integers(0, 7, 200)
    relabelled = rng.permutation(7)[clusters] + 10  # any names, not even starting at 0
    assert purity(labels, relabelled) == pytest.approx(purity(labels, clusters))
    assert nmi(labels, relabelled) == pytest.approx(nmi(labels, clusters))
    assert purity(labels, 3 - labels) == 1.0  # a perfect clustering under other names


def test_purity_of_one_cluster_is_the_majority_share():
    labels = np.array([3, 3, 3, 1, 1, 0, 3, 3])
    assert purity(labels, np.zeros_like(labels)) == pytest.approx(5 / 8)
    assert nmi(labels, np.zeros_like(labels)) == pytest.approx(0.0)


def test_purity_by_hand_and_nmi_against_sklearn():
    labels = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    clusters = np.array([0, 0, 1, 1, 1, 1, 2, 0])
    # cluster 0 holds labels {0, 0, 2}: 2 right; cluster 1 {0, 1, 1, 1}: 3; cluster 2 {2}: 1.
    assert purity(labels, clusters) == pytest.approx(6 / 8)
    assert nmi(labels, clusters) == pytest.approx(normalized_mutual_info_score(labels, clusters))
    with pytest.raises(ValueError, match="empty"):
        purity(np.array([], dtype=int), np.array([], dtype=int))


def test_dominant_labels_of_each_cluster():
    labels = np.array([0, 0, 2, 0, 1, 1, 1, 2, 2, 2])
    clusters = np.array([0, 0, 0, 1, 1, 1, 1, 3, 3, 3])  # cluster 2 is empty
    table = contingency(labels, clusters, k=4, n_classes=3)
    assert dominant_labels(table) == [(0, pytest.approx(2 / 3)), (1, 0.75), None, (2, 1.0)]
    assert dominant_labels(np.array([[2, 2, 1]])) == [(0, 0.4)]  # a tie goes to the lower label
    # the share of images in a cluster with its dominant label, summed over clusters, is the purity
    counts = table.sum(1)
    assert sum(s * n for (_, s), n in zip([d or (0, 0.0) for d in dominant_labels(table)], counts)) / len(labels) == \
        pytest.approx(purity(labels, clusters))


def test_contingency_matches_sklearn():
    rng = np.random.default_rng(1)
    labels, clusters = rng.integers(0, 4, 100), rng.integers(0, 3, 100)
    np.testing.assert_array_equal(contingency(labels, clusters), contingency_matrix(clusters, labels))
    assert contingency(labels, clusters, k=5, n_classes=6).shape == (5, 6)
    with pytest.raises(ValueError, match="shape"):
        contingency(labels, clusters[:-1])


# ------------------------------------------------------------------ clustering codes

def blobs(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.array([[-5.0, 0.0, 1.0], [5.0, 0.0, -1.0], [0.0, 6.0, 0.0]])
    labels = rng.integers(0, 3, 300)
    return centres[labels] + rng.normal(scale=0.3, size=(300, 3)), labels, centres


@pytest.mark.parametrize("method", ["kmeans", "gmm"])
def test_clustering_recovers_well_separated_blobs(method):
    mu, labels, centres = blobs()
    c = cluster_codes(mu, 3, method=method, seed=0)
    assert c.assignments.shape == (300,) and c.centres.shape == (3, 3) and c.k == 3
    assert purity(labels, c.assignments) == 1.0 and nmi(labels, c.assignments) == pytest.approx(1.0)
    # each found centre sits on a true centre
    dist = np.linalg.norm(c.centres[:, None] - centres[None], axis=-1).min(1)
    assert dist.max() < 0.15
    again = cluster_codes(mu, 3, method=method, seed=0)
    np.testing.assert_array_equal(again.assignments, c.assignments)


def test_cluster_codes_rejects_bad_arguments():
    mu, _, _ = blobs()
    with pytest.raises(ValueError, match="method"):
        cluster_codes(mu, 3, method="dbscan")
    with pytest.raises(ValueError, match="k must be"):
        cluster_codes(mu, 0)
    with pytest.raises(ValueError, match="k must be"):
        cluster_codes(mu[:2], 3)


def test_centre_images_decode_the_centres():
    model = tiny()
    centres = np.array([[0.0, 0.0], [1.0, -1.0]])
    out = centre_images(model, centres)
    assert out.shape == (2, 1, 8, 8)
    torch.testing.assert_close(out, model.generate(torch.tensor(centres, dtype=torch.float32)))
    cond = tiny(n_classes=3)
    assert centre_images(cond, centres, y=torch.tensor([0, 2])).shape == (2, 1, 8, 8)


# ------------------------------------------------------------------ anomaly scores

def test_mean_scores_are_the_deterministic_neg_elbo_in_any_batch_size():
    model, x = tiny(), images(12)
    expected = vae.neg_elbo_per_image(model, x, sample=False)
    torch.testing.assert_close(anomaly_scores(model, x, method="mean", batch_size=5), expected)
    torch.testing.assert_close(anomaly_scores(model, x, method="mean", batch_size=100), expected)


def test_sampled_scores_average_draws_and_are_seeded():
    model, x = tiny(), images(6)
    a = anomaly_scores(model, x, method="samples", seed=3)
    torch.testing.assert_close(anomaly_scores(model, x, method="samples", seed=3), a)
    assert not torch.equal(anomaly_scores(model, x, method="samples", seed=4), a)
    g = torch.Generator().manual_seed(3)
    by_hand = torch.stack([vae.neg_elbo_per_image(model, x, sample=True, generator=g) for _ in range(4)]).mean(0)
    torch.testing.assert_close(a, by_hand)
    # the ELBO's expectation is >= its value at the mean for most images, and close to it
    assert (a - anomaly_scores(model, x)).abs().max() < 0.2 * a.abs().max()
    with pytest.raises(ValueError, match="method"):
        anomaly_scores(model, x, method="iwae")


def test_conditional_scores_pass_labels_or_marginalise_them():
    model, x = tiny(n_classes=3), images(5)
    y = torch.tensor([0, 1, 2, 0, 1])
    torch.testing.assert_close(anomaly_scores(model, x, y=y), vae.neg_elbo_per_image(model, x, sample=False, y=y))
    per_label = torch.stack([vae.neg_elbo_per_image(model, x, sample=False, y=torch.full((5,), k)) for k in range(3)])
    marginal = anomaly_scores(model, x)
    torch.testing.assert_close(marginal, -(torch.logsumexp(-per_label, 0) - math.log(3)))
    # the marginal bound lies between the best label's score and that plus log K
    best = per_label.min(0).values
    assert (marginal >= best - 1e-5).all() and (marginal <= best + math.log(3) + 1e-5).all()


def test_mixture_prior_models_are_scored_too():
    scores = anomaly_scores(tiny(prior="mog"), images(4), method="samples")
    assert scores.shape == (4,) and torch.isfinite(scores).all()


def test_noise_images_and_resizing():
    u = noise_images("uniform", 50, (1, 8, 8), seed=0)
    g = noise_images("gaussian", 400, (1, 8, 8), mean=0.3, std=0.1, seed=0)
    assert u.shape == (50, 1, 8, 8) and 0 <= u.min() and u.max() <= 1
    assert g.mean().item() == pytest.approx(0.3, abs=0.01) and g.std().item() == pytest.approx(0.1, abs=0.01)
    torch.testing.assert_close(noise_images("uniform", 50, (1, 8, 8), seed=0), u)
    with pytest.raises(ValueError, match="kind"):
        noise_images("salt", 3, (1, 8, 8))
    big = torch.full((2, 1, 28, 28), 0.25)
    big[1, :, :14] = 1.0  # top half white
    small = resize_images(big, (8, 8))
    assert small.shape == (2, 1, 8, 8)
    torch.testing.assert_close(small[0], torch.full((1, 8, 8), 0.25))
    assert small[1, 0, 0].min() == 1.0 and small[1, 0, -1].max() == 0.25
    assert resize_images(big, (28, 28)) is big


def test_other_dataset():
    assert other_dataset("mnist") == "fashion-mnist" and other_dataset("digits") == "fashion-mnist"
    assert other_dataset("fashion-mnist") == "mnist"


def test_only_the_mean_score_of_a_standard_prior_model_is_deterministic():
    standard, mixture, x = tiny(), tiny(prior="mog"), images(6)
    assert score_is_deterministic(standard, "mean") and not score_is_deterministic(standard, "samples")
    assert not score_is_deterministic(mixture, "mean")
    torch.testing.assert_close(anomaly_scores(standard, x, seed=0), anomaly_scores(standard, x, seed=1))
    # the mixture's KL at z = mu is still a one-draw estimate: another seed, another score
    assert not torch.equal(anomaly_scores(mixture, x, seed=0), anomaly_scores(mixture, x, seed=1))
    torch.testing.assert_close(anomaly_scores(mixture, x, seed=0), anomaly_scores(mixture, x, seed=0))
    with pytest.raises(ValueError, match="method"):
        score_is_deterministic(standard, "iwae")


def test_score_texts_are_honest_about_bounds_and_sampling():
    assert "z = μ" in SCORE_METHODS["mean"] and "upper bound" not in SCORE_METHODS["mean"]
    assert "upper bound on −log p(x)" in SCORE_METHODS["samples"]
    assert score_notes(tiny(), "mean") == [] and score_notes(tiny(prior="mog"), "samples") == []
    (mixture,) = score_notes(tiny(prior="mog"), "mean")
    assert "one-draw estimate" in mixture and "not a deterministic" in mixture
    (conditional,) = score_notes(tiny(n_classes=3), "mean")
    assert "conditional model" in conditional and "K = 3" in conditional


def _split(name: str, n: int, size: int, value: float) -> vae.Split:
    return vae.Split(torch.full((n, 1, size, size), value), torch.zeros(n, dtype=torch.long), name, "test")


def test_anomaly_groups_resize_the_other_dataset_and_match_the_noise_to_the_data():
    normal = torch.rand(200, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 0.5
    asked = []

    def load(name):
        asked.append(name)
        return _split(name, 40, 28, 0.75), "a note from the loader"

    groups = anomaly_groups(normal, "digits", (1, 8, 8), 25, load_split=load)
    assert asked == ["fashion-mnist"] and groups.note == "a note from the loader"
    assert list(groups.images) == ["fashion-mnist (not digits)", "uniform noise", "Gaussian noise"]
    assert all(x.shape == (25, 1, 8, 8) for x in groups.images.values())
    torch.testing.assert_close(groups.images["fashion-mnist (not digits)"], torch.full((25, 1, 8, 8), 0.75))
    torch.testing.assert_close(groups.images["uniform noise"], noise_images("uniform", 25, (1, 8, 8), seed=1))
    torch.testing.assert_close(groups.images["Gaussian noise"], noise_images(
        "gaussian", 25, (1, 8, 8), mean=normal.mean().item(), std=normal.std().item(), seed=2))
    again = anomaly_groups(normal, "digits", (1, 8, 8), 25, load_split=load)
    assert all(torch.equal(again.images[k], groups.images[k]) for k in groups.images)  # seeded
    # fewer images on disk than asked for: all of them
    assert len(anomaly_groups(normal, "digits", (1, 8, 8), 100, load_split=load).images["fashion-mnist (not digits)"]) == 40


def test_anomaly_groups_without_the_other_dataset_or_for_colour_models_are_noise_only():
    def missing(name):
        raise vae.DatasetUnavailable(f"{name} is not here")

    groups = anomaly_groups(torch.rand(10, 1, 8, 8), "fashion-mnist", (1, 8, 8), 5, load_split=missing)
    assert list(groups.images) == ["uniform noise", "Gaussian noise"]
    assert "mnist is not on this machine" in groups.note and "VAE_DATA_DIR" in groups.note

    def never(name):
        raise AssertionError("a colour model is not shown a greyscale dataset")

    colour = anomaly_groups(torch.rand(10, 3, 8, 8), "mnist", (3, 8, 8), 5, load_split=never)
    assert list(colour.images) == ["uniform noise", "Gaussian noise"] and colour.note is None
    assert colour.images["uniform noise"].shape == (5, 3, 8, 8)


def test_anomaly_groups_of_the_real_digits_against_fashion_mnist():
    split = vae.load_dataset("digits", "test")
    groups = anomaly_groups(split.x, "digits", (1, 8, 8), 20)  # the app's loader: Fashion-MNIST when on disk
    if groups.note is None:
        assert list(groups.images)[0] == "fashion-mnist (not digits)"
        clothes = groups.images["fashion-mnist (not digits)"]
        assert clothes.shape == (20, 1, 8, 8) and 0 <= clothes.min() and clothes.max() <= 1
    else:
        assert "fashion-mnist is not on this machine" in groups.note and len(groups.images) == 2
    model = tiny()
    scores = score_groups(model, groups.images, method="mean")
    assert list(scores) == list(groups.images)
    for name, x in groups.images.items():
        np.testing.assert_allclose(scores[name], anomaly_scores(model, x).numpy())


# ------------------------------------------------------------------ the threshold detector

def test_detection_counts_precision_recall_match_sklearn():
    rng = np.random.default_rng(0)
    normal, anomalous = rng.normal(100, 20, 500), rng.normal(150, 40, 80)
    truth = np.r_[np.zeros(500), np.ones(80)]
    for threshold in (90.0, 130.0, 170.0):
        d = detect(normal, anomalous, threshold)
        pred = np.r_[normal, anomalous] > threshold
        tn, fp, fn, tp = confusion_matrix(truth, pred).ravel()
        assert (d.tp, d.fp, d.fn, d.tn) == (tp, fp, fn, tn)
        assert d.precision == pytest.approx(precision_score(truth, pred))
        assert d.recall == pytest.approx(recall_score(truth, pred))
        assert d.false_alarm_rate == pytest.approx(fp / 500)


def test_detection_edge_cases():
    nothing_flagged = detect([1.0, 2.0], [3.0], threshold=10.0)
    assert (nothing_flagged.tp, nothing_flagged.fp) == (0, 0) and math.isnan(nothing_flagged.precision)
    assert nothing_flagged.recall == 0.0
    assert math.isnan(detect([1.0], [], 0.5).recall)
    assert detect([1.0, 2.0], [2.0], threshold=2.0).tp == 0  # strictly greater than the threshold


def test_roc_auc_is_the_pairwise_win_rate():
    rng = np.random.default_rng(2)
    normal, anomalous = rng.normal(0, 1, 60), rng.normal(1, 1, 40)
    wins = (anomalous[:, None] > normal[None]).mean()
    assert roc_auc(normal, anomalous) == pytest.approx(wins)
    assert roc_auc([1.0, 2.0], [3.0, 4.0]) == 1.0 and roc_auc([3.0, 4.0], [1.0, 2.0]) == 0.0
    assert math.isnan(roc_auc([1.0], []))


def test_default_threshold_and_share_below():
    normal = np.arange(1.0, 101.0)  # 95th percentile: 95.05
    assert default_threshold([10.0, 90.0, 96.0, 200.0], normal) == 96.0
    assert default_threshold([40.0, 60.0], normal, percentile=50) == 60.0  # the median is 50.5
    d = detect(normal, [], default_threshold(list(np.arange(1.0, 101.0)), normal))
    assert d.false_alarm_rate == pytest.approx(0.05)
    assert share_below(normal, 50.5) == 0.5 and share_below(normal, 1.0) == 0.0 and share_below(normal, 1e9) == 1.0


def test_group_summaries_match_the_detector_and_roc_auc():
    rng = np.random.default_rng(3)
    normal = rng.normal(100, 10, 300)
    groups = {"noise": rng.normal(300, 30, 50), "near": rng.normal(105, 10, 80)}
    rows = summarise_groups("digits (normal)", normal, groups, threshold=120.0)
    assert [r.name for r in rows] == ["digits (normal)", "noise", "near"]
    assert [r.n for r in rows] == [300, 50, 80]
    assert rows[0].flagged == pytest.approx(detect(normal, [], 120.0).false_alarm_rate)
    for row, scores in zip(rows[1:], groups.values()):
        assert row.flagged == pytest.approx(detect(normal, scores, 120.0).recall)
        assert row.auc == pytest.approx(roc_auc(normal, scores))
        assert row.median == pytest.approx(np.median(scores))
    assert math.isnan(rows[0].auc) and rows[1].auc == 1.0


def test_extremes_and_thresholds():
    scores = np.array([5.0, 1.0, 9.0, 3.0, 7.0])
    low, high = extremes(scores, 2)
    assert list(low) == [1, 3] and list(high) == [2, 4]
    assert len(extremes(scores, 10)[0]) == 5
    grid = score_thresholds(np.array([20.0, 50.0, 3000.0]))
    assert grid == sorted(grid) and grid[0] == 20.0 and grid[-1] == 3000.0
    ratios = np.diff(np.log(grid))
    assert ratios.max() < 2.5 * np.median(ratios)  # evenly spaced on a log scale, up to rounding
    assert score_thresholds(np.array([-5.0, 5.0]))[0] == -5.0  # non-positive scores: a linear grid
    with pytest.raises(ValueError, match="finite"):
        score_thresholds(np.array([1.0, np.inf]))


def test_a_shipped_model_tells_its_digits_from_noise():
    """digits-z2 ships with the project: its 360 test digits against 200 noise images."""
    model, card = vae.load_model(MODELS / "digits-z2", device="cpu")
    split = vae.load_dataset("digits", "test")
    normal = anomaly_scores(model, split.x)
    noise = torch.cat([noise_images("uniform", 100, (1, 8, 8), seed=0),
                       noise_images("gaussian", 100, (1, 8, 8), split.x.mean().item(), split.x.std().item(), seed=1)])
    anomalous = anomaly_scores(model, noise)
    assert normal.median() < 40 < anomalous.min()  # measured: digits 14-36 nats, noise 64-163
    assert roc_auc(normal, anomalous) == 1.0
    d = detect(normal, anomalous, float(np.percentile(normal, 95)))
    assert d.recall == 1.0 and d.false_alarm_rate == pytest.approx(0.05, abs=0.01)


# ------------------------------------------------------------------ figures

def test_score_histogram_normalises_each_group():
    rng = np.random.default_rng(0)
    fig = score_histogram({"digits": rng.uniform(50, 200, 1000), "noise": rng.uniform(1000, 3000, 50)}, threshold=250.0,
                          markers={"mine.png": 120.0})
    assert [t.name for t in fig.data] == ["digits (1,000)", "noise (50)", "threshold", "★ mine.png"]
    for trace in fig.data[:2]:
        assert sum(trace.y) == pytest.approx(1.0)
    assert fig.layout.xaxis.type == "log"
    assert [tuple(t.x) for t in fig.data[2:]] == [(250.0, 250.0), (120.0, 120.0)]  # vertical lines in data units
    linear = score_histogram({"a": np.array([-3.0, 1.0, 2.0])})  # non-positive scores cannot go on a log axis
    assert linear.layout.xaxis.type == "linear"


def test_cluster_scatter_and_heatmap():
    coords = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]])
    fig = cluster_scatter(coords, np.array([1, 0, 1]), centres=np.array([[1.0, 1.0], [1.0, 1.0]]), labels=np.array([3, 4, 5]),
                          class_names=[str(i) for i in range(10)], rows=np.array([7, 8, 9]))
    ones = [t for t in fig.data if t.name == "cluster 1"]  # drawn in chunks, interleaved with cluster 0's
    rows_text = sorted((int(r), s) for t in ones for r, s in zip(t.customdata, t.text))
    assert rows_text == [(7, "3"), (9, "5")]
    assert list(fig.data[-1].text) == ["0", "1"] and fig.data[-1].name == "centres"  # on top of the points
    table = np.array([[3, 1], [0, 4]])
    heat = contingency_heatmap(table, ["a", "b"])
    np.testing.assert_allclose(heat.data[0].z, [[0.75, 0.25], [0.0, 1.0]])
