"""What the "Bayesian neural network" page computes (explorer.bnn, explorer.bnn_figures), without Streamlit."""

import numpy as np
import pytest

from explorer import bnn
from explorer.bnn_figures import (
    digit_probabilities,
    entropy_histograms,
    plane_figure,
    reliability_diagram,
    uncertainty_heatmap,
)
from explorer.figures import CLASS_COLOURS
from vae.bnn import BNNConfig, build_networks, fit_classifier
from vae.data import load_dataset


def blobs(n: int = 450, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    g = np.random.default_rng(seed)
    y = np.arange(n) % 3
    centres = np.array([[-2.0, 0.0], [2.0, 0.0], [0.0, 2.5]])
    return (centres[y] + 0.5 * g.standard_normal((n, 2))).astype(np.float32), y


def test_split_codes_is_seeded_and_disjoint():
    train, held = bnn.split_codes(100, 30, seed=1)
    assert len(train) == 30 and len(held) == 70 and not set(train) & set(held)
    assert np.array_equal(train, bnn.split_codes(100, 30, seed=1)[0])
    with pytest.raises(ValueError):
        bnn.split_codes(100, 100)


def test_plane_extent_covers_the_codes_with_a_margin():
    mu = np.random.default_rng(0).standard_normal((5000, 2)) * 1.5
    extent = bnn.plane_extent(mu)
    assert extent % 0.5 == 0
    assert (np.abs(mu) < extent).mean() > 0.995 and extent < 1.5 * np.abs(mu).max() + 0.5


def test_boundary_mask_marks_where_the_class_changes():
    classes = np.zeros((4, 6), dtype=int)
    classes[:, 3:] = 1
    mask = bnn.boundary_mask(classes)
    assert mask[:, 2].all() and mask.sum() == 4


@pytest.fixture(scope="module")
def plane():
    mu, labels = blobs()
    classifiers = bnn.train_on_codes(mu, labels, 200, n_classes=3)
    return mu, classifiers, bnn.plane_maps(classifiers, extent=6.0, resolution=61)


def test_classifiers_on_codes_learn_the_classes(plane):
    _, classifiers, _ = plane
    assert classifiers.accuracy["bayesian"] > 0.95 and classifiers.accuracy["deterministic"] > 0.95


def test_the_bayesian_network_is_more_uncertain_away_from_the_codes(plane):
    mu, _, maps = plane
    zx, zy = np.meshgrid(maps.axis, maps.axis)
    distance = np.min(np.hypot(zx[..., None] - mu[None, None, :, 0], zy[..., None] - mu[None, None, :, 1]), axis=-1)
    far, near = distance > 2, distance < 0.3
    assert maps.mutual_information[far].mean() > 1.5 * maps.mutual_information[near].mean()
    # the deterministic network has no weight uncertainty: far away it is as sure of itself as ever
    assert maps.det_entropy[far].mean() < maps.entropy[far].mean()
    assert maps.sampled.shape == (4, 61, 61) and maps.predicted.shape == (61, 61)


def test_plane_image_colours_classes_and_draws_the_deterministic_boundary_in_black(plane):
    _, _, maps = plane
    colours = CLASS_COLOURS[:3]
    for measure in bnn.MEASURES:
        image, scale = bnn.plane_image(maps, measure, colours)
        assert image.shape == (61, 61, 3) and image.dtype == np.uint8 and scale > 0
    image, scale = bnn.plane_image(maps, "entropy", colours)
    assert scale == pytest.approx(np.log(3))
    assert (image[bnn.boundary_mask(maps.det_predicted)] == 0).all()
    # the four single draws of the weights: their boundaries in grey wherever the black one does not cover them,
    # and not all the same line (the draws disagree)
    grey = np.any([bnn.boundary_mask(s) for s in maps.sampled], axis=0) & ~bnn.boundary_mask(maps.det_predicted)
    assert grey.any() and (image[grey] == 95).all()
    assert any((a != b).any() for a, b in zip(maps.sampled, maps.sampled[1:]))
    with pytest.raises(ValueError):
        bnn.plane_image(maps, "variance", colours)


def test_pixel_report_and_one_digit_on_a_tiny_pair():
    test = load_dataset("digits", "test")
    train = load_dataset("digits", "train")
    config = BNNConfig(in_features=64, hidden_dims=(32,), n_classes=10, init_std=0.01)
    bayes, det = build_networks(config, seed=0)
    for net in (bayes, det):
        fit_classifier(net, train.x, train.y, epochs=15, lr=3e-3, seed=0)
    report = bnn.evaluate_pixels(bayes, det, test, n_samples=10)
    assert report.metrics["bayesian"].n_images == len(test)
    assert report.metrics["bayesian"].accuracy > 0.8 and report.metrics["deterministic"].accuracy > 0.8
    assert set(report.auc) == {"bayesian", "deterministic"} and all(0 <= a <= 1 for a in report.auc.values())
    assert report.ood_name in {"Fashion-MNIST", "uniform noise"}
    assert len(report.entropy_out["bayesian"]) == len(test)

    pred = bnn.predict_digit(bayes, det, test.x[:1], n_samples=50)
    assert pred.mean.sum() == pytest.approx(1.0, abs=1e-5) and pred.det.sum() == pytest.approx(1.0, abs=1e-5)
    assert (pred.low <= pred.mean + 1e-6).all() and (pred.mean <= pred.high + 1e-6).all()
    assert 0 <= pred.mutual_information <= pred.entropy + 1e-6

    for fig in (reliability_diagram(report), entropy_histograms(report, "digits"), digit_probabilities(pred, test.class_names)):
        assert fig.data
    assert "ECE" in reliability_diagram(report).data[1].name


def test_plane_figures_put_the_codes_over_the_image(plane):
    mu, _, maps = plane
    image, _ = bnn.plane_image(maps, "mutual_information", CLASS_COLOURS[:3])
    fig = plane_figure(image, 6.0, mu[:50], np.arange(50) % 3, ["a", "b", "c"])
    assert len(fig.layout.images) == 1 and fig.layout.images[0].layer == "below"
    assert [t.name for t in fig.data][:3] == ["a", "b", "c"]
    assert [a.text for a in fig.layout.annotations] == ["<b>a</b>", "<b>b</b>", "<b>c</b>"]  # at their codes' medians
    heat = uncertainty_heatmap(maps.axis, maps.mutual_information, "mutual_information", mu[:50])
    assert heat.data[0].type == "heatmap" and np.asarray(heat.data[0].z).shape == (61, 61)
