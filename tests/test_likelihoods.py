"""explorer.likelihoods and the Gaussian NLL split of explorer.estimators, without Streamlit."""

import math
import shlex
from pathlib import Path

import numpy as np
import pytest
import torch

import vae
from explorer import estimators, likelihoods
from explorer.registry import ModelEntry
from vae.cli import build_parser

MODELS = Path(__file__).resolve().parent.parent / "models"


def tiny(likelihood: str = "bernoulli", gaussian_std: float = 0.1) -> vae.VAE:
    torch.manual_seed(0)
    return vae.VAE(vae.VAEConfig(input_shape=(1, 8, 8), latent_dim=2, hidden_dims=(16,), likelihood=likelihood,
                                 gaussian_std=gaussian_std)).eval()


def images(n: int = 6) -> torch.Tensor:
    return torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(1))


# --- the Gaussian NLL as squared error plus a constant, from the core ----------------------------


@pytest.mark.parametrize("sigma", [0.1, 0.5])
def test_gaussian_split_adds_up_to_the_core_loss_and_matches_the_closed_form(sigma):
    model, x = tiny("gaussian", sigma), images()
    stats = estimators.reconstruction_stats(model, x, seed=2)
    split = estimators.gaussian_nll_split(model.config, stats)
    assert split.total == pytest.approx(float(stats.nll.mean()), rel=1e-6)
    # the closed forms, written out here as the oracle
    assert split.constant == pytest.approx(64 * (math.log(sigma) + 0.5 * math.log(2 * math.pi)), rel=1e-6)
    assert split.squared_error == pytest.approx(64 * float(stats.mse.mean()) / (2 * sigma**2), rel=1e-4)
    assert split.constant == pytest.approx(estimators.gaussian_nll_from_mse(0.0, sigma, 64), rel=1e-6)
    assert (split.constant < 0) == (sigma < 1 / math.sqrt(2 * math.pi))


def test_gaussian_constant_is_the_loss_of_a_perfect_reconstruction():
    config = tiny("gaussian").config
    x = images(3)
    perfect = vae.reconstruction_nll(x, x, config)  # the decoder mean equal to the image
    np.testing.assert_allclose(perfect.numpy(), estimators.gaussian_nll_constant(config), rtol=1e-6)
    with pytest.raises(ValueError, match="bernoulli"):
        estimators.gaussian_nll_constant(tiny("bernoulli").config)


# --- the decoder's mean and a sample at z = mu ---------------------------------------------------


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_mean_and_sample_at_the_posterior_mean(likelihood):
    model, x = tiny(likelihood), images()
    mean, sample = likelihoods.mean_and_sample(model, x, seed=5)
    with torch.no_grad():
        torch.testing.assert_close(mean, model.generate(model.encode(x).mu))
    assert mean.shape == sample.shape == x.shape
    assert 0 <= sample.min() and sample.max() <= 1
    torch.testing.assert_close(likelihoods.mean_and_sample(model, x, seed=5)[1], sample)  # seeded
    assert not torch.equal(likelihoods.mean_and_sample(model, x, seed=6)[1], sample)
    if likelihood == "bernoulli":
        assert set(sample.unique().tolist()) <= {0.0, 1.0}  # a coin per pixel
    else:
        # mean + N(0, sigma^2) grain, clipped: away from the clip the noise has the decoder's sigma
        inside = (sample > 0) & (sample < 1)
        assert (sample - mean)[inside].std().item() == pytest.approx(0.1, rel=0.25)


# --- which models to compare ---------------------------------------------------------------------


def entry(name: str, dataset: str = "mnist", likelihood: str = "bernoulli", n_classes: int = 0) -> ModelEntry:
    cfg = vae.VAEConfig(input_shape=(1, 28, 28), latent_dim=2, hidden_dims=(16,), likelihood=likelihood,
                        n_classes=n_classes)
    return ModelEntry(name, Path(name), vae.ModelCard.new(cfg, dataset), None, "shipped")


def test_decoder_choices_keep_unconditional_models_of_the_likelihood_and_dataset():
    entries = [entry("a"), entry("g", likelihood="gaussian"), entry("c", n_classes=10), entry("d", "digits"),
               ModelEntry("broken", Path("broken"), None, "bad card", "yours"), entry("g2", "digits", "gaussian")]
    names = lambda es: [e.name for e in es]  # noqa: E731
    assert names(likelihoods.decoder_choices(entries, "bernoulli")) == ["a", "d"]
    assert names(likelihoods.decoder_choices(entries, "gaussian")) == ["g", "g2"]
    assert names(likelihoods.decoder_choices(entries, "gaussian", "digits")) == ["g2"]
    assert likelihoods.decoder_choices(entries, "gaussian", "fashion-mnist") == []
    with pytest.raises(ValueError, match="likelihood"):
        likelihoods.decoder_choices(entries, "laplace")


def test_default_choice_prefers_the_shipped_pair():
    assert likelihoods.default_choice(["x", "mnist-z2", "y"], "bernoulli") == "mnist-z2"
    assert likelihoods.default_choice(["x", "mnist-z2-gaussian"], "gaussian") == "mnist-z2-gaussian"
    assert likelihoods.default_choice(["x", "y"], "gaussian") == "x"
    with pytest.raises(ValueError):
        likelihoods.default_choice([], "bernoulli")


# --- the command that trains the Gaussian twin ---------------------------------------------------


@pytest.mark.parametrize("shipped", ["mnist-z2", "digits-z2", "fashion-z2"])
def test_gaussian_twin_command_parses_and_copies_the_shipped_bernoulli_model(shipped):
    card = vae.load_card(MODELS / shipped)
    command = likelihoods.gaussian_twin_command(card.dataset)
    argv = shlex.split(command.replace("\\\n", " "))
    assert argv[0] == "vae-explorer"
    args = build_parser().parse_args(argv[1:])
    assert args.command == "train"
    assert args.likelihood == "gaussian" and args.gaussian_std == 0.1 and args.dataset == card.dataset
    assert tuple(args.hidden_dims) == tuple(card.config.hidden_dims) and args.latent_dim == card.config.latent_dim
    assert args.epochs == card.train_config.epochs and args.batch_size == card.train_config.batch_size
    assert args.out.name == f"{card.dataset}-z2-gaussian"


def test_gaussian_twin_command_defaults_to_mnist_and_the_shipped_folder():
    assert likelihoods.gaussian_twin_command(None) == likelihoods.gaussian_twin_command("mnist")
    assert likelihoods.gaussian_twin_command(None).endswith("--out models/mnist-z2-gaussian")
