"""Model and objective: checked against torch.distributions and autograd where possible."""

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from vae.config import TrainConfig, VAEConfig
from vae.losses import bernoulli_nll, elbo_terms, iwae_log_likelihood, kl_monte_carlo, neg_elbo_per_image, reconstruction_nll
from vae.model import VAE, DiagonalGaussian

TINY = dict(input_shape=(1, 8, 8), latent_dim=3, hidden_dims=(16,))


def _batch(n=5, shape=(1, 8, 8), seed=0):
    return torch.rand(n, *shape, generator=torch.Generator().manual_seed(seed))


def test_kl_closed_form_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(7, 4, generator=g), torch.randn(7, 4, generator=g)
    q = DiagonalGaussian(mu, logvar)
    oracle = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0))
    torch.testing.assert_close(q.kl_per_dim(), oracle)
    torch.testing.assert_close(q.kl(), oracle.sum(-1))


def test_log_prob_matches_torch_distributions():
    q = DiagonalGaussian(torch.tensor([[0.5, -1.0]]), torch.tensor([[0.2, -0.7]]))
    z = torch.tensor([[0.1, 0.3]])
    oracle = Normal(q.mu, q.std).log_prob(z).sum(-1)
    torch.testing.assert_close(q.log_prob(z), oracle)


def test_monte_carlo_kl_converges_to_analytic():
    q = DiagonalGaussian(torch.tensor([[1.0, -0.5, 0.0]]), torch.tensor([[-1.0, 0.5, 0.0]]))
    g = torch.Generator().manual_seed(0)
    estimate = kl_monte_carlo(q, n_samples=20000, generator=g)
    assert estimate.item() == pytest.approx(q.kl().item(), abs=0.05)


def test_sample_is_reparameterised_gradients_reach_mu_and_logvar():
    mu = torch.zeros(4, 2, requires_grad=True)
    logvar = torch.zeros(4, 2, requires_grad=True)
    z = DiagonalGaussian(mu, logvar).sample(torch.Generator().manual_seed(0))
    (z**2).sum().backward()
    assert mu.grad is not None and mu.grad.abs().sum() > 0
    assert logvar.grad is not None and logvar.grad.abs().sum() > 0


def test_sample_flag_is_explicit_not_train_eval_mode():
    model = VAE(VAEConfig(**TINY))
    x = _batch()
    model.eval()
    a = model(x, sample=True, generator=torch.Generator().manual_seed(1)).z
    b = model(x, sample=True, generator=torch.Generator().manual_seed(2)).z
    assert not torch.allclose(a, b)  # eval mode does not switch sampling off
    model.train()
    out = model(x, sample=False)
    torch.testing.assert_close(out.z, out.mu)


@pytest.mark.parametrize("arch,shape,hidden", [("mlp", (1, 8, 8), (16, 8)), ("conv", (1, 28, 28), (8, 16)),
                                                ("conv", (1, 28, 28), (8, 16, 24))])
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_forward_shapes_and_ranges(arch, shape, hidden, likelihood):
    cfg = VAEConfig(input_shape=shape, latent_dim=3, arch=arch, hidden_dims=hidden, likelihood=likelihood)
    model = VAE(cfg)
    x = _batch(4, shape)
    out = model(x)
    assert out.mu.shape == out.logvar.shape == out.z.shape == (4, 3)
    assert out.x_params.shape == out.x_hat.shape == x.shape
    assert out.x_hat.min() >= 0 and out.x_hat.max() <= 1
    assert model.generate(torch.zeros(2, 3)).shape == (2, *shape)
    x_sample = model.sample_x(out.x_params, torch.Generator().manual_seed(0))
    assert x_sample.shape == x.shape and x_sample.min() >= 0 and x_sample.max() <= 1
    if likelihood == "bernoulli":
        assert set(x_sample.unique().tolist()) <= {0.0, 1.0}
    else:
        assert not torch.equal(x_sample, out.x_hat)  # noise was added around the mean


def test_bernoulli_reconstruction_is_bce_summed_over_pixels():
    cfg = VAEConfig(**TINY)
    x = _batch(3)
    logits = torch.randn_like(x)
    expected = torch.nn.functional.binary_cross_entropy(torch.sigmoid(logits), x, reduction="none").sum((1, 2, 3))
    torch.testing.assert_close(reconstruction_nll(logits, x, cfg), expected, rtol=1e-4, atol=1e-4)


def test_bernoulli_nll_matches_torch_in_value_and_gradient_even_at_extreme_logits():
    g = torch.Generator().manual_seed(0)
    logits = torch.cat([torch.randn(4, 1, 8, 8, generator=g) * 6, torch.full((1, 1, 8, 8), 90.0),
                        torch.full((1, 1, 8, 8), -90.0)]).requires_grad_()
    x = torch.rand(6, 1, 8, 8, generator=g)
    ours = bernoulli_nll(logits, x)
    ours.sum().backward()
    grad = logits.grad.clone()
    logits.grad = None
    ref = torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none")
    ref.sum().backward()
    torch.testing.assert_close(ours, ref, rtol=1e-6, atol=2e-6)  # ~1 float32 ulp of values up to 90
    torch.testing.assert_close(grad, logits.grad)
    # Exact in double precision, for both inputs (x may carry a gradient too).
    small = (logits[:2, :, :3, :3].detach().double().requires_grad_(), x[:2, :, :3, :3].double().requires_grad_())
    assert torch.autograd.gradcheck(bernoulli_nll, small)


def test_gaussian_reconstruction_is_exact_negative_log_density():
    cfg = VAEConfig(**TINY, likelihood="gaussian", gaussian_std=0.3)
    x, mean = _batch(3), _batch(3, seed=1)
    expected = -Normal(mean, 0.3).log_prob(x).sum((1, 2, 3))
    torch.testing.assert_close(reconstruction_nll(mean, x, cfg), expected)


def test_elbo_terms_add_up_and_beta_only_weights_the_loss():
    model = VAE(VAEConfig(**TINY))
    x = _batch(6)
    out = model(x, sample=False)
    terms = elbo_terms(out, x, model.config, beta=4.0)
    torch.testing.assert_close(terms.neg_elbo, terms.recon + terms.kl)
    torch.testing.assert_close(terms.loss, terms.recon + 4.0 * terms.kl)
    torch.testing.assert_close(terms.kl_per_dim.sum(), terms.kl)
    torch.testing.assert_close(terms.neg_elbo, neg_elbo_per_image(model, x, sample=False).mean())
    assert terms.recon > 0 and terms.kl >= 0


def test_iwae_bound_is_at_least_the_elbo_and_equals_it_in_expectation_at_k1():
    torch.manual_seed(0)
    model = VAE(VAEConfig(**TINY))
    x = _batch(8)
    g = torch.Generator().manual_seed(0)
    # ELBO estimated with many samples (the expectation), per image.
    elbo = -torch.stack([neg_elbo_per_image(model, x, generator=g) for _ in range(2000)]).mean(0)
    k1 = torch.stack([iwae_log_likelihood(model, x, k=1, generator=g) for _ in range(2000)]).mean(0)
    k200 = iwae_log_likelihood(model, x, k=200, chunk=64, generator=g)
    torch.testing.assert_close(k1, elbo, atol=0.1, rtol=0)
    assert (k200 >= elbo - 0.05).all()
    assert k200.mean() > elbo.mean()


def test_iwae_chunking_gives_the_same_estimate():
    model = VAE(VAEConfig(**TINY))
    x = _batch(4)
    a = iwae_log_likelihood(model, x, k=50, chunk=7, generator=torch.Generator().manual_seed(3))
    b = iwae_log_likelihood(model, x, k=50, chunk=50, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(a, b)


def test_config_json_round_trip_and_validation():
    cfg = VAEConfig(input_shape=(1, 28, 28), latent_dim=16, arch="conv", hidden_dims=(32, 64), likelihood="gaussian")
    assert VAEConfig.from_dict(cfg.to_dict()) == cfg
    tcfg = TrainConfig(epochs=3, warmup_epochs=2, beta=2.0)
    assert TrainConfig.from_dict(tcfg.to_dict()) == tcfg
    assert [tcfg.kl_weight(e) for e in range(3)] == [1.0, 2.0, 2.0]
    for bad in [dict(latent_dim=0), dict(arch="rnn"), dict(likelihood="poisson"), dict(hidden_dims=()),
                dict(arch="conv", input_shape=(1, 30, 30), hidden_dims=(8, 8)), dict(gaussian_std=0.0)]:
        with pytest.raises(ValueError):
            VAEConfig(**bad)
    for bad in [dict(epochs=0), dict(lr=-1.0), dict(lr=math.nan), dict(beta=-1.0), dict(device="tpu"), dict(schedule="step"),
                dict(precision="float16")]:
        with pytest.raises(ValueError):
            TrainConfig(**bad)
    with pytest.raises(ValueError, match="unknown VAEConfig field"):
        VAEConfig.from_dict({"latent_dims": 2})


def test_a_conv_model_takes_its_fully_connected_width_from_a_third_hidden_size():
    two = VAE(VAEConfig(input_shape=(1, 28, 28), arch="conv", hidden_dims=(8, 16)))
    three = VAE(VAEConfig(input_shape=(1, 28, 28), arch="conv", hidden_dims=(8, 16, 40)))
    assert two.to_moments.in_features == 256 and two.decoder[0].out_features == 256  # the default: shipped shapes
    assert three.to_moments.in_features == 40 and three.decoder[0].out_features == 40
    assert three.decoder[2].in_features == 40 and three.decoder[2].out_features == 16 * 7 * 7
    with pytest.raises(ValueError, match="arch 'conv' takes two hidden_dims"):
        VAEConfig(input_shape=(1, 28, 28), arch="conv", hidden_dims=(8, 16, 40, 80))
