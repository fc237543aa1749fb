"""The learned mixture-of-Gaussians prior: its density, samples, KL by sampling and training."""

import math

import pytest
import torch
from torch import distributions as D

import vae
from vae.losses import elbo_terms, iwae_log_likelihood, kl_monte_carlo, neg_elbo_per_image
from vae.model import MixturePrior


def mog_model(k=3, d=2):
    torch.manual_seed(0)
    return vae.VAE(vae.VAEConfig(input_shape=(1, 8, 8), latent_dim=d, hidden_dims=(32,), prior="mog",
                                 prior_components=k))


def test_mixture_log_prob_matches_torch_distributions():
    prior = MixturePrior(3, 4)
    with torch.no_grad():
        prior.logits.copy_(torch.tensor([0.5, -1.0, 0.0, 2.0]))
        prior.logvars.copy_(torch.randn(4, 3, generator=torch.Generator().manual_seed(2)) * 0.3)
    ref = D.MixtureSameFamily(D.Categorical(logits=prior.logits),
                              D.Independent(D.Normal(prior.means, torch.exp(0.5 * prior.logvars)), 1))
    z = torch.randn(7, 5, 3)
    torch.testing.assert_close(prior.log_prob(z), ref.log_prob(z))


def test_mixture_samples_follow_the_weights_and_means():
    prior = MixturePrior(2, 2)
    with torch.no_grad():
        prior.means.copy_(torch.tensor([[-4.0, 0.0], [4.0, 0.0]]))
        prior.logits.copy_(torch.tensor([math.log(0.25), math.log(0.75)]))
    z = prior.sample(20000, torch.Generator().manual_seed(0))
    assert z.shape == (20000, 2)
    assert (z[:, 0] > 0).float().mean().item() == pytest.approx(0.75, abs=0.015)
    assert z[:, 0].mean().item() == pytest.approx(0.25 * -4 + 0.75 * 4, abs=0.05)


def test_a_one_component_standard_mixture_gives_the_analytic_kl_in_expectation():
    model = mog_model(k=1)
    with torch.no_grad():
        model.prior.means.zero_()
        model.prior.logvars.zero_()
    posterior = vae.DiagonalGaussian(torch.tensor([[0.5, -1.0]]), torch.tensor([[-0.5, 0.3]]))
    estimate = kl_monte_carlo(posterior, 40000, torch.Generator().manual_seed(0), prior=model.prior)
    torch.testing.assert_close(estimate, posterior.kl(), atol=0.02, rtol=0)


def test_elbo_uses_the_reconstruction_sample_for_the_kl():
    model = mog_model()
    x = torch.rand(5, 1, 8, 8)
    out = model(x, sample=True, generator=torch.Generator().manual_seed(0))
    terms = elbo_terms(out, x, model.config)
    expected = (out.posterior.log_prob(out.z) - model.prior.log_prob(out.z)).mean()
    torch.testing.assert_close(terms.kl, expected)
    per_image = neg_elbo_per_image(model, x, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(per_image.mean(), terms.neg_elbo)


def test_iwae_with_a_mixture_prior_tightens_the_elbo():
    model = mog_model()
    x = torch.rand(20, 1, 8, 8)
    g = torch.Generator().manual_seed(0)
    elbo = -torch.stack([neg_elbo_per_image(model, x, generator=g) for _ in range(200)]).mean(0)
    iwae = iwae_log_likelihood(model, x, k=200, generator=g)
    assert (iwae >= elbo - 0.05).all()


def test_training_moves_the_prior_and_lowers_the_loss():
    train = vae.load_dataset("digits", "train")
    test = vae.load_dataset("digits", "test")
    model = mog_model(k=5)
    means0 = model.prior.means.detach().clone()
    before = vae.evaluate(model, test.x)["neg_elbo"]
    result = vae.fit(model, train.x, test.x, vae.TrainConfig(epochs=5, lr=3e-3, device="cpu"))
    assert result.history[-1]["test_neg_elbo"] < before - 1
    assert not torch.allclose(model.prior.means, means0)
    assert all(math.isfinite(r["test_kl"]) and r["test_kl"] > -1 for r in result.history)


def test_prior_samples_come_from_the_model_prior():
    model = mog_model()
    z = vae.prior_samples(2, 5000, torch.Generator().manual_seed(0), prior=model.prior)
    centre = (model.prior.weights.unsqueeze(1) * model.prior.means).sum(0)
    torch.testing.assert_close(z.mean(0), centre.detach(), atol=0.1, rtol=0)


def test_config_validates_and_round_trips_the_new_fields():
    with pytest.raises(ValueError, match="prior must be one of"):
        vae.VAEConfig(prior="vamp")
    with pytest.raises(ValueError, match="n_classes must be"):
        vae.VAEConfig(n_classes=-1)
    with pytest.raises(ValueError, match="prior_components"):
        vae.VAEConfig(prior="mog", prior_components=0)
    cfg = vae.VAEConfig(n_classes=10, prior="mog", prior_components=4)
    assert vae.VAEConfig.from_dict(cfg.to_dict()) == cfg and cfg.conditional
    old_card_config = {k: v for k, v in cfg.to_dict().items() if k not in ("n_classes", "prior", "prior_components")}
    assert vae.VAEConfig.from_dict(old_card_config) == vae.VAEConfig()  # cards written before these fields
