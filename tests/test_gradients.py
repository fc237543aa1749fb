"""The score-function and pathwise gradient estimators (explorer/gradients.py): unbiased against an exact
gradient, the per-draw chain rule against autograd through z = mu + sigma * eps, the pathwise estimator's
lower variance on the shipped mnist-z2, seeded determinism, and the figures built from them."""

from pathlib import Path

import numpy as np
import pytest
import torch
from data_root import held_out_split, require_shipped_model

import vae
from explorer import gradients
from explorer.figures import gradient_estimates_histogram, gradient_spread_loglog
from vae.model import DiagonalGaussian

MODELS = Path(__file__).resolve().parent.parent / "models"


@pytest.fixture(scope="module")
def mnist_z2():
    model, _ = vae.load_model(require_shipped_model(MODELS / "mnist-z2"), device="cpu")
    for p in model.parameters():
        p.requires_grad_(False)
    return model


@pytest.mark.parametrize("mu, sigma, c", [(0.0, 0.5, 2.0), (1.0, 1.5, -0.5)])
def test_both_estimators_are_unbiased_for_the_quadratic_toy(mu, sigma, c):
    draws = gradients.quadratic_toy_draws(mu, sigma, c, 100_000, torch.Generator().manual_seed(1))
    exact = gradients.quadratic_toy_gradient(mu, sigma, c)
    for per_draw in (draws.score, draws.pathwise):
        standard_error = per_draw.std(0, ddof=1) / np.sqrt(len(per_draw))
        assert np.all(np.abs(per_draw.mean(0) - exact) < 4 * standard_error)
    # The pathwise draws are 2 (z - c) * (1, sigma eps / 2): for this f they have a closed-form spread too.
    assert draws.pathwise.std(0)[0] == pytest.approx(2 * sigma, rel=0.02)


def test_exact_toy_gradient_matches_autograd_of_the_closed_form_expectation():
    mu, logvar = torch.tensor(0.3, dtype=torch.float64, requires_grad=True), torch.tensor(-0.7, dtype=torch.float64, requires_grad=True)
    expectation = (mu - 1.2) ** 2 + logvar.exp()  # E[(z - c)^2] under N(mu, exp(logvar))
    expectation.backward()
    exact = gradients.quadratic_toy_gradient(0.3, float(np.exp(-0.35)), 1.2)
    np.testing.assert_allclose(exact, [mu.grad.item(), logvar.grad.item()], rtol=1e-12)


def test_per_draw_gradients_match_autograd_through_the_sample():
    """The chain rule written by hand (dz/dmu = 1, dz/dlogvar = sigma eps / 2) against autograd through
    z = mu + sigma * eps, and the score against its closed form (eps / sigma, (eps^2 - 1) / 2)."""
    mu, logvar = torch.tensor([0.4, -1.0]), torch.tensor([-1.5, 0.3])

    def f(z, q):
        return torch.sin(3 * z).sum(-1) - q.log_prob(z)  # an explicit dependence on q, like the ELBO's

    draws = gradients.gradient_draws(f, mu, logvar, 64, torch.Generator().manual_seed(3), chunk=16)
    g = torch.Generator().manual_seed(3)
    eps = torch.cat([torch.randn((16, 2), generator=g) for _ in range(4)])  # the same draws, chunk by chunk
    mu_s = mu.expand(64, 2).clone().requires_grad_(True)
    logvar_s = logvar.expand(64, 2).clone().requires_grad_(True)
    q = DiagonalGaussian(mu_s, logvar_s)
    values = f(q.mu + q.std * eps, q)
    g_mu, g_logvar = torch.autograd.grad(values.sum(), [mu_s, logvar_s])
    np.testing.assert_allclose(draws.pathwise, torch.cat([g_mu, g_logvar], 1).double().numpy(), rtol=1e-4, atol=1e-5)
    std = torch.exp(0.5 * logvar)
    score = torch.cat([eps / std, (eps**2 - 1) / 2], 1)
    explicit = -score  # d/dphi of -log q(z) at fixed z
    expected = values.detach().unsqueeze(1) * score + explicit
    np.testing.assert_allclose(draws.score, expected.double().numpy(), rtol=1e-4, atol=1e-4)


def test_estimates_are_disjoint_groups_and_spread_falls_like_one_over_root_n():
    draws = gradients.quadratic_toy_draws(0.0, 0.5, 2.0, 20_000, torch.Generator().manual_seed(0))
    score, pathwise = draws.estimates(10)
    assert score.shape == pathwise.shape == (200, 2)
    np.testing.assert_allclose(pathwise[3], draws.pathwise[30:40].mean(0))
    spread = gradients.gradient_spread(draws)
    assert list(spread.n) == list(gradients.NS) and list(spread.repeats) == [200] * 5 + [66, 20]
    slope = np.polyfit(np.log(spread.n), np.log(spread.pathwise_std[:, 0]), 1)[0]
    assert slope == pytest.approx(-0.5, abs=0.1)
    with pytest.raises(ValueError, match="fewer than 2 groups"):
        draws.estimates(15_000)


def test_pathwise_variance_is_lower_for_every_n_on_mnist_z2(mnist_z2):
    x = held_out_split("mnist").x[:1]
    spread = gradients.elbo_gradient_spread(mnist_z2, x, seed=0, n_draws=6_000)  # 6 repeats at n = 1000
    assert np.all(spread.total_variance_ratio > 10)
    assert np.all(spread.variance_ratio > 1)  # every component, every n
    # Both estimate the same gradient: at n = 1000 the score function's mean is within its error of the reference.
    k = -1
    se = spread.score_std[k] / np.sqrt(spread.repeats[k])
    assert np.all(np.abs(spread.score_mean[k] - spread.reference) < 5 * se)


def test_results_are_deterministic_under_a_seed(mnist_z2):
    x = torch.rand(1, 1, 28, 28, generator=torch.Generator().manual_seed(0))  # any image will do here
    a = gradients.elbo_gradient_spread(mnist_z2, x, seed=7, n_draws=2_000)
    b = gradients.elbo_gradient_spread(mnist_z2, x, seed=7, n_draws=2_000)
    c = gradients.elbo_gradient_spread(mnist_z2, x, seed=8, n_draws=2_000)
    np.testing.assert_array_equal(a.score_std, b.score_std)
    np.testing.assert_array_equal(a.pathwise_mean, b.pathwise_mean)
    assert not np.array_equal(a.score_std, c.score_std)


def test_conditional_and_mixture_prior_models_use_their_label_and_prior():
    model, _ = vae.load_model(require_shipped_model(MODELS / "mnist-cvae-z2"), device="cpu")
    x = torch.rand(1, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    as_3, as_5 = (gradients.elbo_gradient_draws(model, x, torch.tensor([y]), 500, torch.Generator().manual_seed(0))
                  for y in (3, 5))
    assert not np.allclose(as_3.reference, as_5.reference)  # the label changes q and p(x|z)
    with pytest.raises(ValueError, match="conditional"):
        gradients.elbo_gradient_draws(model, x, None, 10)
    mog, _ = vae.load_model(require_shipped_model(MODELS / "mnist-mog-z2"), device="cpu")
    with torch.no_grad():
        q = mog.encode(x)
    # f at the posterior mean, through the integrand the estimators differentiate: the mixture's log p(z).
    f = gradients.elbo_integrand(mog, x)
    value = f(q.mu, q).item()
    expected = (-vae.reconstruction_nll(mog.decode(q.mu), x, mog.config) + mog.prior.log_prob(q.mu) - q.log_prob(q.mu)).item()
    assert value == pytest.approx(expected, rel=1e-6)


def test_component_names_and_figures():
    assert gradients.component_names(2) == ["μ₁", "μ₂", "log σ²₁", "log σ²₂"]
    assert gradients.component_names(16)[15] == "μ₁₆"
    draws = gradients.quadratic_toy_draws(0.0, 0.5, 2.0, 5_000, torch.Generator().manual_seed(0))
    spread = gradients.gradient_spread(draws, ns=(1, 10, 100))
    fig = gradient_spread_loglog(spread, 0, "μ")
    measured = [t for t in fig.data if t.mode == "lines+markers"]
    assert [t.name for t in measured] == ["score function", "pathwise (reparameterised)"]
    np.testing.assert_allclose(measured[1].y, spread.pathwise_std[:, 0])
    score, pathwise = draws.estimates(10)
    hist = gradient_estimates_histogram(score[:, 0], pathwise[:, 0], -4.0, "exact", 10, "μ")
    assert len([t for t in hist.data if t.type == "histogram"]) == 3
    assert hist.layout.shapes[0].x0 == -4.0
