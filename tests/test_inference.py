"""Inference for one image (vae.inference, explorer.inference), against oracles: the closed-form
posterior of a linear-Gaussian model, brute-force grid integration, IWAE with large k, and the
ordering log p(x) >= ELBO(best Gaussian) >= ELBO(encoder) the gap decomposition rests on."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

import vae
from data_root import held_out_split, require_shipped_model
from explorer import estimators, inference
from explorer.inference_figures import elbo_curve, gap_bars, latent_plane
from vae.inference import (
    comparison_eps, fit_gaussian, gaussian_elbo, grid_posterior, inference_gaps, iwae_log_px, model_log_joint,
)

MODELS = Path(__file__).resolve().parent.parent / "models"


def shipped(name: str) -> vae.VAE:
    model, _ = vae.load_model(require_shipped_model(MODELS / name))
    for p in model.parameters():
        p.requires_grad_(False)
    return model


# --- the linear-Gaussian model: z ~ N(0, I), x = W z + b + N(0, s^2 I) -----------------------------


def linear_gaussian(w: torch.Tensor, b: torch.Tensor, s: float, x: torch.Tensor):
    """log p(x, z) as a LogJoint for one x, the exact posterior (mean, covariance) and log p(x)."""
    w, b, x = w.double(), b.double(), x.double()

    def log_joint(z):  # (N, 1, D) -> (N, 1)
        z = z.double()
        resid = x - z @ w.T - b  # (N, 1, P)
        log_lik = -0.5 * (resid**2).sum(-1) / s**2 - x.numel() * (math.log(s) + 0.5 * math.log(2 * math.pi))
        return (log_lik - 0.5 * (z**2).sum(-1) - z.shape[-1] * 0.5 * math.log(2 * math.pi)).float()

    precision = torch.eye(w.shape[1], dtype=torch.float64) + w.T @ w / s**2
    cov = torch.linalg.inv(precision)
    mean = cov @ w.T @ (x - b) / s**2
    marginal = torch.distributions.MultivariateNormal(b, w @ w.T + s**2 * torch.eye(w.shape[0], dtype=torch.float64))
    return log_joint, mean, cov, precision, float(marginal.log_prob(x))


def test_the_optimiser_recovers_the_exact_posterior_of_a_linear_gaussian_model():
    # Orthogonal columns: the posterior covariance (I + W^T W / s^2)^-1 is diagonal, so a diagonal Gaussian is exact.
    w = torch.tensor([[2.0, 0.0], [0.0, 1.0], [0.0, 0.0], [1.0, 0.0]])
    b, s = torch.tensor([0.5, -1.0, 0.2, 0.0]), 0.5
    x = torch.tensor([1.9, -0.3, 0.1, 1.2])
    log_joint, mean, cov, _, log_px = linear_gaussian(w, b, s, x)
    fit = fit_gaussian(log_joint, torch.zeros(1, 2), torch.zeros(1, 2), steps=800, lr=0.05, seed=0)
    assert fit.mu[-1, 0].double() == pytest.approx(mean, abs=0.01)
    assert fit.logvar[-1, 0].exp().double() == pytest.approx(torch.diagonal(cov), rel=0.05)
    # The exact posterior in the family: the ELBO reaches log p(x) (the approximation gap is 0).
    elbo = gaussian_elbo(log_joint, fit.mu[-1], fit.logvar[-1], comparison_eps(20_000, 1, 2))
    assert float(elbo[0]) == pytest.approx(log_px, abs=0.01)
    assert fit.steps[0] == 0 and fit.steps[-1] == 800 and fit.elbo.shape == (len(fit.steps), 1)


def test_on_a_correlated_posterior_the_best_diagonal_gaussian_is_mean_field():
    """With correlated coordinates the best diagonal q (KL(q||p)) has the exact mean and variances 1 / Lambda_ii,
    and its approximation gap is the closed-form KL(q* || p(z|x)) > 0 (Bishop 2006, Sec. 10.1.2)."""
    w = torch.tensor([[1.0, 1.0], [1.0, 0.5], [0.0, 1.0]])
    b, s = torch.zeros(3), 0.6
    x = torch.tensor([1.0, 0.4, -0.5])
    log_joint, mean, cov, precision, log_px = linear_gaussian(w, b, s, x)
    fit = fit_gaussian(log_joint, torch.zeros(1, 2), torch.zeros(1, 2), steps=800, lr=0.05, seed=1)
    var = 1 / torch.diagonal(precision)
    assert fit.mu[-1, 0].double() == pytest.approx(mean, abs=0.02)
    assert fit.logvar[-1, 0].exp().double() == pytest.approx(var, rel=0.05)
    q = torch.distributions.MultivariateNormal(mean, torch.diag(var))
    kl = float(torch.distributions.kl_divergence(q, torch.distributions.MultivariateNormal(mean, cov)))
    elbo = float(gaussian_elbo(log_joint, fit.mu[-1], fit.logvar[-1], comparison_eps(20_000, 1, 2))[0])
    assert log_px - elbo == pytest.approx(kl, abs=0.02) and kl > 0.1


def test_several_images_are_fitted_at_once_each_with_its_own_gaussian():
    model = shipped("digits-z2")
    x = vae.load_dataset("digits", "test").x[:3]
    q = model.encode(x)
    together = fit_gaussian(model_log_joint(model, x), q.mu, q.logvar, steps=30, seed=0)
    assert together.mu.shape == (len(together.steps), 3, 2)
    assert (together.elbo[-1] >= together.elbo[0] - 0.05).all()


# --- the grid, IWAE and the gaps on shipped 2-D models -------------------------------------------------


def test_grid_log_px_matches_brute_force_integration_and_iwae_with_large_k():
    model = shipped("digits-z2")
    x = vae.load_dataset("digits", "test").x[:4]
    grid = [grid_posterior(model, x[i : i + 1]) for i in range(4)]
    ours = np.array([g.log_px for g in grid])
    brute = estimators.log_marginal_grid(model, x, limit=6.0, n=401).numpy()  # the existing oracle, 160k points
    assert ours == pytest.approx(brute, abs=0.02)
    assert all(g.window_mass > 0.999 for g in grid)
    assert all(math.isclose(np.exp(g.log_density).sum() * np.diff(g.axis1)[0] * np.diff(g.axis2)[0], g.window_mass,
                            rel_tol=1e-3) for g in grid)
    log_joint = model_log_joint(model, x)
    q = model.encode(x)
    fit = fit_gaussian(log_joint, q.mu, q.logvar, steps=200, seed=0)
    iwae = iwae_log_px(log_joint, fit.final, k=20_000, seed=0).numpy()
    assert iwae == pytest.approx(ours, abs=0.2)


def test_gaps_are_ordered_and_non_negative_on_average():
    model = shipped("digits-z2")
    x = vae.load_dataset("digits", "test").x[:6]
    gaps = inference_gaps(model, x, steps=300, seed=0)
    assert gaps.method == "grid"
    # Monte-Carlo noise of a 1,000-draw ELBO is ~0.05 nats here; allow a few standard errors per image.
    assert (gaps.elbo_optimised >= gaps.elbo_encoder - 0.1).all()
    assert (gaps.elbo_optimised <= gaps.log_px + 0.1).all()
    assert gaps.approximation_gap.mean() >= 0 and gaps.amortisation_gap.mean() >= 0
    assert gaps.total_gap == pytest.approx(gaps.approximation_gap + gaps.amortisation_gap)


@pytest.mark.parametrize("name", ["mnist-cvae-z2", "mnist-mog-z2"])
def test_gaps_of_a_conditional_and_a_mixture_prior_model(name):
    model = shipped(name)
    test = held_out_split("mnist")
    x, y = test.x[:3], test.y[:3]
    gaps = inference.subset_gaps(model, x, y, n=3, steps=200)
    assert (gaps.elbo_optimised >= gaps.elbo_encoder - 0.1).all()
    assert gaps.approximation_gap.mean() >= -0.1 and gaps.amortisation_gap.mean() >= 0
    if name == "mnist-cvae-z2":  # the label matters: a wrong one gives a worse fit
        wrong = inference.subset_gaps(model, x, (y + 1) % 10, n=3, steps=200)
        assert wrong.log_px.mean() < gaps.log_px.mean()
    else:  # log p(z) is the mixture's: a standard normal prior would give other numbers
        grid = grid_posterior(model, x[:1])
        z = torch.cartesian_prod(torch.tensor(grid.axis1), torch.tensor(grid.axis2))
        assert not torch.allclose(model.prior.log_prob(z), vae.model.standard_normal_log_prob(z))


def test_iwae_is_used_beyond_two_dimensions():
    model = shipped("mnist-z16")
    x = held_out_split("mnist").x[:2]
    gaps = inference.image_gaps(model, x, steps=100)
    assert gaps.method == f"iwae k={inference.IWAE_K}"
    assert (gaps.log_px >= gaps.elbo_optimised - 0.1).all() and (gaps.elbo_optimised >= gaps.elbo_encoder - 0.1).all()
    with pytest.raises(ValueError, match="2-D latent"):
        grid_posterior(model, x[:1])


# --- explorer.inference: one image as the page shows it ----------------------------------------------


def test_one_image_from_the_prior_and_from_the_encoder():
    model = shipped("digits-z2")
    x = vae.load_dataset("digits", "test").x[5:6]
    enc = inference.amortised(model, x)
    ref = inference.image_gaps(model, x, steps=200)
    assert enc.elbo == pytest.approx(float(ref.elbo_encoder[0]), abs=1e-4)  # the same 1,000 draws
    for start in inference.STARTS:
        run = inference.optimise(model, x, start=start, steps=200)
        assert run.mu.shape == (len(run.steps), 2) and run.start == start
        assert run.final_elbo == pytest.approx(run.elbo[-1], abs=0.3)  # 64 vs 1,000 draws of the same Gaussian
        assert run.index(run.steps[-1]) == len(run.steps) - 1 and run.index(run.steps[1] - 1) == 0
    assert np.allclose(inference.optimise(model, x, start="encoder", steps=0).mu[0], enc.mu)
    with pytest.raises(ValueError, match="start must be"):
        inference.optimise(model, x, start="nowhere")


def test_hpd_mass_of_a_gaussian_on_a_grid():
    """For N(0, I) in 2-D the region of density above that at radius r holds 1 - exp(-r^2 / 2)."""
    axis = np.linspace(-6, 6, 401)
    z1, z2 = np.meshgrid(axis, axis, indexing="ij")
    mass = inference.hpd_mass(-0.5 * (z1**2 + z2**2))
    for r in (0.5, 1.0, 2.0):
        i = np.argmin(np.abs(axis - r))
        assert mass[i, 200] == pytest.approx(1 - math.exp(-axis[i] ** 2 / 2), abs=0.01)


def test_gap_rows_reading_and_figures():
    model = shipped("digits-z2")
    x = vae.load_dataset("digits", "test").x[:2]
    rows = [inference.gap_row("digits-z2", 2, inference_gaps(model, x, steps=50)),
            inference.GapRow("wide", 16, 2, "iwae k=5000", -90.0, -95.0, -91.0, 1.0, 4.0)]
    assert rows[1].amortisation_share == pytest.approx(0.8)
    text = inference.gaps_reading(rows)
    assert "of 2" in text and "wide's (4.00 nats" in text
    bars = gap_bars(rows)
    assert [t.name for t in bars.data] == ["approximation gap", "amortisation gap"]
    enc = inference.amortised(model, x[:1])
    run = inference.optimise(model, x[:1], steps=40)
    grid = grid_posterior(model, x[:1])
    plane = latent_plane(enc, run, grid, step=20, background=np.zeros((5, 2)))
    names = {t.name for t in plane.data}
    assert "encoder q(z|x), 1σ" in names and f"optimised q at step {run.steps[run.index(20)]}, 1σ" in names
    assert any(t.type == "contour" for t in plane.data)
    assert len(latent_plane(enc, None, grid, step=0).data) < len(plane.data)
    curve = elbo_curve(run, enc.elbo, grid.log_px, step=20)
    assert list(curve.data[0].y) == pytest.approx(run.elbo.tolist())
