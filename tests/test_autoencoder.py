"""The plain autoencoder (VAEConfig.variational False): same layers, z = mu, no sampling, no KL."""

import json

import pytest
import torch

from vae.card import ModelCard
from vae.checkpoint import load_card, load_model, save_model
from vae.cli import main
from vae.config import TrainConfig, VAEConfig
from vae.losses import elbo_terms, iwae_log_likelihood, reconstruction_nll
from vae.model import DiagonalGaussian, PointMass, build_model
from vae.train import fit, model_metrics

AE = VAEConfig(input_shape=(1, 8, 8), latent_dim=2, hidden_dims=(32,), variational=False)
VAE_CFG = VAEConfig(input_shape=(1, 8, 8), latent_dim=2, hidden_dims=(32,))


def _batch(n=16, seed=0):
    return torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(seed))


def test_the_autoencoder_has_the_vae_s_layers_and_weights():
    ae, vae_model = build_model(AE, seed=3), build_model(VAE_CFG, seed=3)
    shapes = {k: v.shape for k, v in ae.state_dict().items()}
    assert shapes == {k: v.shape for k, v in vae_model.state_dict().items()}
    vae_model.load_state_dict(ae.state_dict())  # interchangeable weights
    x = _batch()
    torch.testing.assert_close(ae.encode(x).mu, vae_model.encode(x).mu)


def test_the_autoencoder_ignores_sampling_and_draws_no_random_numbers():
    model = build_model(AE)
    x = _batch()
    g = torch.Generator().manual_seed(1)
    sampled = model(x, sample=True, generator=g)
    assert isinstance(sampled.posterior, PointMass)
    torch.testing.assert_close(sampled.z, model(x, sample=False).z)
    torch.testing.assert_close(sampled.z, sampled.mu)
    torch.testing.assert_close(sampled.x_params, model(x, sample=False).x_params)
    assert torch.equal(g.get_state(), torch.Generator().manual_seed(1).get_state())
    assert torch.equal(sampled.posterior.kl(), torch.zeros(len(x)))
    with pytest.raises(ValueError, match="not a distribution"):
        sampled.posterior.log_prob(sampled.z)


def test_the_autoencoder_s_loss_is_its_reconstruction_term():
    model = build_model(AE)
    x = _batch()
    out = model(x, sample=True, generator=torch.Generator().manual_seed(0))
    terms = elbo_terms(out, x, AE, beta=4.0)
    assert terms.kl.item() == 0.0 and torch.equal(terms.kl_per_dim, torch.zeros(2))
    torch.testing.assert_close(terms.loss, reconstruction_nll(out.x_params, x, AE).mean())
    torch.testing.assert_close(terms.loss, terms.neg_elbo)
    with pytest.raises(ValueError, match="plain autoencoder"):
        iwae_log_likelihood(model, x, k=5)


def test_a_vae_still_samples_and_pays_its_kl():
    model = build_model(VAE_CFG)
    x = _batch()
    out = model(x, sample=True, generator=torch.Generator().manual_seed(0))
    assert type(out.posterior) is DiagonalGaussian and not torch.allclose(out.z, out.mu)
    terms = elbo_terms(out, x, VAE_CFG)
    assert terms.kl.item() > 0
    torch.testing.assert_close(terms.loss, terms.recon + terms.kl)


def test_the_config_round_trips_and_old_cards_load_as_variational():
    assert VAEConfig.from_dict(AE.to_dict()) == AE and not AE.variational
    old = VAE_CFG.to_dict()
    del old["variational"]
    assert VAEConfig.from_dict(old).variational
    with pytest.raises(ValueError, match="true or false"):
        VAEConfig(variational="no")
    with pytest.raises(ValueError, match="no prior to learn"):
        VAEConfig(variational=False, prior="mog")


def test_the_autoencoder_trains_saves_loads_and_its_card_round_trips(tmp_path):
    g = torch.Generator().manual_seed(0)
    x = 0.1 * torch.rand(256, 1, 8, 8, generator=g)
    x[:128, :, :4, :4] += 0.8
    x[128:, :, 4:, 4:] += 0.8
    x = x.clamp(0, 1)
    model = build_model(AE)
    cfg = TrainConfig(epochs=5, batch_size=32, lr=3e-3, device="cpu")
    result = fit(model, x[:192], x[192:], cfg)
    first, last = result.history[0], result.history[-1]
    assert last["test_recon"] < first["test_recon"]
    assert all(r["train_kl"] == 0.0 and r["test_kl"] == 0.0 for r in result.history)
    assert last["train_loss"] == pytest.approx(last["train_recon"])

    metrics = model_metrics(model, x[192:], iwae_k=10)  # no IWAE for an autoencoder: skipped, not an error
    assert metrics["kl"] == 0.0 and metrics["neg_elbo"] == metrics["recon"] and "iwae_nll" not in metrics
    card = ModelCard.new(AE, "digits", train_config=cfg, history=tuple(result.history))
    save_model(model, tmp_path / "ae", card)
    assert ModelCard.from_dict(json.loads((tmp_path / "ae" / "card.json").read_text())) == load_card(tmp_path / "ae")
    loaded, loaded_card = load_model(tmp_path / "ae")
    assert not loaded_card.config.variational and not loaded.config.variational
    torch.testing.assert_close(loaded(x[:8]).z, model(x[:8], sample=False).z)


@pytest.mark.slow
def test_cli_trains_an_autoencoder_and_reports_no_elbo(tmp_path, capsys):
    out = tmp_path / "ae"
    argv = ["train", "--dataset", "digits", "--latent-dim", "2", "--hidden-dims", "32", "--epochs", "2",
            "--batch-size", "64", "--quiet", "--autoencoder", "--iwae-k", "5", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr()
    assert "reconstruction" in printed.out and "n/a" in printed.out and "-ELBO  " not in printed.out
    card = load_card(out)
    assert not card.config.variational and card.metrics.kl == 0.0 and card.metrics.iwae_nll is None
    assert main(["info", str(out)]) == 0
    assert "plain autoencoder" in capsys.readouterr().out
    assert main(["evaluate", str(out), "--n-images", "40", "--json"]) == 0  # the default --iwae-k is skipped
    result = json.loads(capsys.readouterr().out)
    assert result["iwae_nll"] is None and result["kl"] == 0.0
    assert main(["train", "--dataset", "digits", "--autoencoder", "--prior", "mog", "--out", str(tmp_path / "x")]) == 2
    assert "no prior to learn" in capsys.readouterr().err
