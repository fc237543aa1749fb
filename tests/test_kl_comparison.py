"""What the KL buys (explorer.kl_comparison) and the app logic that treats a plain autoencoder apart."""

from pathlib import Path

import numpy as np
import pytest
import torch

import vae
from explorer import kl_comparison as kc
from explorer.anomaly import score_notes
from explorer.holes import aggregate_logvar, density_grid
from explorer.rate_distortion import compare_candidates, rate_distortion_points
from explorer.registry import ModelEntry

TINY = dict(input_shape=(1, 8, 8), latent_dim=2, hidden_dims=(32,))


def entry(name: str, dataset: str = "digits", beta: float = 1.0, **config) -> ModelEntry:
    card = vae.ModelCard.new(vae.VAEConfig(**(TINY | config)), dataset, train_config=vae.TrainConfig(beta=beta),
                             metrics=vae.Metrics(neg_elbo=50.0, recon=40.0, kl=10.0 if config.get("variational", True) else 0.0))
    return ModelEntry(name, Path(name), card, None, "user")


def test_code_spread_counts_codes_inside_2_sigma_and_the_prior_draws_near_each_class():
    codes = np.array([[0.0, 0.0], [1.0, 1.0], [3.0, 0.0], [0.0, -10.0]])
    labels = np.array([0, 1, 1, 2])
    prior = np.array([[0.1, 0.0], [1.0, 1.2], [-2.0, -2.0], [5.0, 5.0]])
    s = kc.code_spread(codes, labels, 3, prior, far=0.25)
    assert s.inside_2sigma == pytest.approx(0.5)  # |(0,0)| and |(1,1)| < 2
    assert s.prior_far == pytest.approx(0.5)  # (-2,-2) and (5,5) have no code within 0.25
    assert s.radius_99 == pytest.approx(np.quantile([0, np.sqrt(2), 3, 10], 0.99))
    # nearest codes: (0,0) -> 0, (1,1) -> 1, (0,0) -> 0, (3,0) -> 1; the test mix is 1/4, 1/2, 1/4
    assert s.class_share == pytest.approx((0.5, 0.5, 0.0)) and s.rarest_class == 2
    assert s.class_tv == pytest.approx(0.5 * (0.25 + 0.0 + 0.25))
    with pytest.raises(ValueError, match="2-D codes"):
        kc.code_spread(np.zeros((5, 3)), np.zeros(5), 1)


def test_nearest_code_matches_brute_force():
    g = np.random.default_rng(0)
    points, codes = g.normal(size=(37, 2)), g.normal(size=(501, 2))
    pairwise = np.sqrt(((points[:, None] - codes[None]) ** 2).sum(-1))
    distance, row = kc.nearest_code(points, codes, chunk=10)
    np.testing.assert_allclose(distance, pairwise.min(1), rtol=1e-5, atol=1e-6)
    assert np.array_equal(row, pairwise.argmin(1))


def test_prior_codes_are_seeded_standard_normal_draws():
    z = kc.prior_codes(4000, seed=3)
    assert np.array_equal(z, kc.prior_codes(4000, seed=3)) and not np.array_equal(z, kc.prior_codes(4000, seed=4))
    assert abs(z.mean()) < 0.05 and z.std() == pytest.approx(1.0, abs=0.05)


def test_a_prior_shaped_cloud_fills_the_prior_and_a_spread_one_leaves_it_empty():
    prior = kc.prior_codes(1000, seed=1)
    codes = kc.prior_codes(10_000, seed=2)
    labels = (codes[:, 0] > 0).astype(int)  # two classes, left and right half
    filled = kc.code_spread(codes, labels, 2, prior)
    # the same codes pushed out 20 times as far, the right class further still
    spread = kc.code_spread(20 * codes + 100 * labels[:, None] * np.array([1.0, 0.0]), labels, 2, prior)
    assert filled.inside_2sigma > 0.8 and filled.prior_far < 0.05 and filled.class_tv < 0.05
    assert spread.inside_2sigma < 0.05 and spread.prior_far > 0.5 and spread.radius_99 > 10 * filled.radius_99
    assert spread.rarest_class == 1 and spread.class_tv > 0.4
    text = kc.summary(("v", "a"), (filled, spread), (130.0, 128.0), ["left", "right"])
    for number in (f"{filled.inside_2sigma:.0%}", f"{spread.prior_far:.0%}", f"{spread.radius_99:.1f}",
                   f"{spread.class_tv:.2f}", "the rights by", "128.0 nats against the VAE's 130.0"):
        assert number in text, number


def test_shared_range_holds_both_models_codes_and_the_prior_circle():
    lo, hi = kc.shared_range(np.zeros((10, 2)), np.full((10, 2), 7.0))
    assert lo == -hi and hi == pytest.approx(7.5)
    assert kc.shared_range(np.zeros((10, 2))) == (-2.5, 2.5)


def test_find_pair_matches_twins_that_differ_only_by_the_kl():
    v, a = entry("v"), entry("a", variational=False)
    others = [entry("wide", hidden_dims=(64,)), entry("beta4", beta=4.0), entry("fashion", dataset="fashion-mnist"),
              entry("cvae", n_classes=10), entry("ae16", latent_dim=16, variational=False)]
    assert kc.find_pair([v, *others, a]) == (v, a)
    assert kc.find_pair([*others, a]) is None
    assert kc.find_pair([v, *others]) is None
    shipped = (entry(kc.VAE_MODEL), entry(kc.AE_MODEL, variational=False))
    assert kc.find_pair([v, a, *shipped]) == shipped  # the shipped pair first...
    assert kc.find_pair([v, a, *shipped], selected="a") == (v, a)  # ...unless the selected model has its own


def test_interpolation_row_runs_between_the_two_codes():
    model = vae.build_model(vae.VAEConfig(**TINY, variational=False))
    x = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    z, images = kc.interpolation_row(model, x[:1], x[1:], steps=5)
    mu = model.encode(x).mu.detach().numpy()
    np.testing.assert_allclose(z[[0, -1]], mu, atol=1e-6)
    np.testing.assert_allclose(z[2], mu.mean(0), atol=1e-6)
    assert images.shape == (5, 1, 8, 8) and 0 <= images.min() and images.max() <= 1
    assert kc.interpolation_ends(np.array([3, 1, 0, 1, 0])) == (2, 1)
    with pytest.raises(ValueError, match="no image labelled 1"):
        kc.interpolation_ends(np.array([0, 2]))


def test_an_autoencoder_s_aggregate_density_is_a_kernel_around_its_codes():
    logvar = np.full((3, 2), -30.0, dtype=np.float32)
    assert np.array_equal(aggregate_logvar(logvar, variational=True), logvar)
    kernel = aggregate_logvar(logvar, variational=False, kernel_std=0.5)
    np.testing.assert_allclose(np.exp(0.5 * kernel), 0.5)
    # bandwidth 0: the kernel alone (three codes would otherwise be widened to a smoothing bandwidth of about 4)
    grid = density_grid(vae.VAE(vae.VAEConfig(**TINY)).prior, np.zeros((3, 2)), kernel, n=41, extent=(-2, 2, -2, 2),
                        bandwidth=0.0)
    centre = grid.log_aggregate[20, 20]
    assert centre == pytest.approx(-np.log(2 * np.pi * 0.25), abs=1e-4)  # N(0; 0, 0.5^2 I)
    assert grid.hole_mask()[0, 0] and not grid.hole_mask()[20, 20]


def test_the_rate_distortion_plot_and_usage_comparison_leave_autoencoders_out():
    v, a = entry("v"), entry("a", variational=False)
    points, skipped = rate_distortion_points([(e.name, e.card, "user") for e in (v, a)], "digits")
    assert [p.name for p in points] == ["v"] and skipped[0][0] == "a" and "plain autoencoder" in skipped[0][1]
    assert [e.name for e in compare_candidates([v, a, entry("w", beta=4.0)], "v", "digits")] == ["w"]


def test_the_anomaly_page_says_an_autoencoder_s_score_is_its_reconstruction():
    ae = vae.VAE(vae.VAEConfig(**TINY, variational=False))
    assert any("plain autoencoder" in n for n in score_notes(ae, "mean"))
    assert not any("plain autoencoder" in n for n in score_notes(vae.VAE(vae.VAEConfig(**TINY)), "mean"))
