"""The Bayesian neural network core (vae.bnn): KL, ELBO training, the prior's predictive, calibration, files, CLI."""

import copy
import json
import math
from pathlib import Path

import pytest
import torch
from data_root import data_root, require_shipped_model
from torch.distributions import Normal, kl_divergence

from vae import bnn, cli
from vae.checkpoint import CARD_FILE, CheckpointError, NotAVAE, list_models, load_card

ROOT = Path(__file__).resolve().parent.parent
TINY = bnn.BNNConfig(in_features=2, hidden_dims=(8,), n_classes=3, prior_std=0.7, init_std=0.05)


def blobs(n: int = 300, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Three well-separated Gaussian blobs in 2-D, labelled 0, 1, 2."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    centres = torch.tensor([[-2.0, 0.0], [2.0, 0.0], [0.0, 2.5]])
    return centres[y] + 0.5 * torch.randn(n, 2, generator=g), y


def test_gaussian_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mu, std = torch.randn(50, generator=g), torch.rand(50, generator=g) * 2 + 0.01
    for prior_std in (0.3, 1.0, 2.5):
        expected = kl_divergence(Normal(mu, std), Normal(torch.zeros(50), torch.full((50,), prior_std))).sum()
        assert torch.allclose(bnn.gaussian_kl(mu, std, prior_std), expected, rtol=1e-5, atol=1e-5)


def test_network_kl_is_the_sum_over_every_weight_and_bias():
    net, _ = bnn.build_networks(TINY, seed=1)
    expected = 0.0
    for layer in net.layers:
        for mu, rho in ((layer.weight_mu, layer.weight_rho), (layer.bias_mu, layer.bias_rho)):
            q = Normal(mu, torch.nn.functional.softplus(rho))
            expected += kl_divergence(q, Normal(torch.zeros_like(mu), torch.full_like(mu, TINY.prior_std))).sum()
    assert torch.allclose(net.kl(), expected, rtol=1e-5)


def test_the_weights_are_reparameterised_draws():
    net, _ = bnn.build_networks(TINY, seed=0)
    x = torch.randn(4, 2)
    a = net(x, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, net(x, generator=torch.Generator().manual_seed(5)))  # seeded: the same draw
    assert not torch.equal(a, net(x, generator=torch.Generator().manual_seed(6)))
    a.sum().backward()  # gradients reach sigma through w = mu + sigma * eps
    assert net.layers[0].weight_rho.grad.abs().sum() > 0


def test_the_deterministic_twin_starts_at_the_bayesian_means():
    bayes, det = bnn.build_networks(TINY, seed=3)
    x = torch.randn(5, 2)
    assert torch.allclose(bayes(x, sample=False), det(x))


def mean_neg_elbo(net, x, y, draws: int = 200) -> float:
    g = torch.Generator().manual_seed(123)
    with torch.no_grad():
        return sum(float(bnn.classifier_loss(net, x, y, len(x), g).loss) for _ in range(draws)) / draws


def test_training_improves_the_elbo():
    x, y = blobs()
    net, _ = bnn.build_networks(TINY, seed=0)
    before = mean_neg_elbo(net, x, y)
    history = bnn.fit_classifier(net, x, y, epochs=60, batch_size=64, lr=1e-2, seed=0)
    after = mean_neg_elbo(net, x, y)
    assert after < before - 0.5, (before, after)
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert bnn.classifier_metrics(net, x, y, n_samples=20).accuracy > 0.95


def test_with_no_data_the_predictive_is_the_priors():
    """With no data the ELBO is -KL(q || p): training makes q the prior, so it predicts like the prior."""
    net, _ = bnn.build_networks(TINY, seed=0)
    empty_x, empty_y = torch.zeros(0, 2), torch.zeros(0, dtype=torch.long)
    bnn.fit_classifier(net, empty_x, empty_y, epochs=1500, lr=0.03, seed=0)
    assert float(net.kl().detach()) < 0.05  # about 40 weights: each within a few thousandths of a nat of the prior
    prior = copy.deepcopy(net).set_to_prior()
    assert float(prior.kl().detach()) < 1e-9
    x = torch.tensor([[0.0, 0.0], [1.0, -2.0], [3.0, 3.0], [-5.0, 1.0]])
    fitted = bnn.predictive(bnn.predict_samples(net, x, n_samples=4000, seed=1)).probs
    exact = bnn.predictive(bnn.predict_samples(prior, x, n_samples=4000, seed=2)).probs
    # Monte-Carlo error of a mean of 4,000 probabilities: std <= 0.5 / sqrt(4000) = 0.008 each; two of them
    assert (fitted - exact).abs().max() < 0.03, (fitted, exact)


def test_predictive_splits_entropy_into_expected_entropy_and_mutual_information():
    draws = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])  # two draws that disagree completely
    p = bnn.predictive(draws)
    assert torch.allclose(p.entropy, torch.tensor([math.log(2)]))
    assert torch.allclose(p.expected_entropy, torch.zeros(1), atol=1e-6)
    assert torch.allclose(p.mutual_information, torch.tensor([math.log(2)]))
    agree = bnn.predictive(torch.tensor([[[0.5, 0.5]], [[0.5, 0.5]]]))  # both unsure: all aleatoric
    assert torch.allclose(agree.mutual_information, torch.zeros(1), atol=1e-6)
    _, det = bnn.build_networks(TINY)
    assert bnn.predict_samples(det, torch.randn(7, 2), n_samples=50).shape == (1, 7, 3)


def test_reliability_bins_and_ece_by_hand():
    # four predictions at confidence 0.9 (three right) and four at 0.6 (two right)
    probs = torch.tensor([[0.9, 0.1]] * 4 + [[0.6, 0.4]] * 4)
    labels = torch.tensor([0, 0, 0, 1, 0, 0, 1, 1])
    rel = bnn.reliability(probs, labels, n_bins=10)
    used = rel.counts > 0
    assert rel.counts[used].tolist() == [4, 4]
    assert torch.allclose(rel.accuracy[used], torch.tensor([0.5, 0.75], dtype=torch.float64))
    assert torch.allclose(rel.confidence[used], torch.tensor([0.6, 0.9], dtype=torch.float64))
    assert rel.ece == pytest.approx(0.5 * 0.1 + 0.5 * 0.15)


def test_save_and_load_round_trip_and_the_folder_is_not_offered_as_a_vae(tmp_path):
    x, y = blobs(60)
    bayes, det = bnn.build_networks(TINY, seed=0)
    history = {name: tuple(bnn.fit_classifier(net, x, y, epochs=2, batch_size=32, seed=0)) for name, net in
               zip(bnn.NETWORKS, (bayes, det))}
    metrics = {name: bnn.classifier_metrics(net, x, y, 5) for name, net in zip(bnn.NETWORKS, (bayes, det))}
    card = bnn.ClassifierCard.new(config=TINY, dataset="digits", epochs=2, batch_size=32, lr=1e-3, seed=0, n_train=60,
                                  n_test=60, history=history, metrics=metrics, train_seconds=0.5, name="pair")
    bnn.save_classifier(tmp_path / "pair", bayes, det, card)
    bayes2, det2, card2 = bnn.load_classifier(tmp_path / "pair")
    assert card2 == card
    assert torch.equal(bayes2(x, sample=False), bayes(x, sample=False)) and torch.equal(det2(x), det(x))
    with pytest.raises(NotAVAE, match="not a VAE"):
        load_card(tmp_path / "pair")
    assert list_models(tmp_path) == []  # neither a usable VAE nor a broken one: not listed at all

    data = json.loads((tmp_path / "pair" / CARD_FILE).read_text())
    data["metrics"].pop("deterministic")
    (tmp_path / "pair" / CARD_FILE).write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match="one entry per network"):
        bnn.load_classifier(tmp_path / "pair")


def test_the_shipped_pair_is_hidden_from_the_vae_picker():
    from explorer import registry

    require_shipped_model(ROOT / "models" / "mnist-bnn")
    names = [e.name for e in registry.list_entries()]
    assert "mnist-bnn" not in names and "mnist-z2" in names


def test_cli_train_bnn_info_and_refusals(tmp_path, capsys):
    out = tmp_path / "digits-bnn"
    args = ["train-bnn", "--dataset", "digits", "--hidden-dims", "16", "--epochs", "2", "--samples", "3", "--out", str(out)]
    assert cli.main(args) == 0
    assert "bayesian" in capsys.readouterr().out
    _, _, card = bnn.load_classifier(out)
    assert card.dataset == "digits" and card.config.sizes == [64, 16, 10] and len(card.history["bayesian"]) == 2
    assert cli.main(["info", str(out)]) == 0
    assert "Bayesian neural network classifier" in capsys.readouterr().out
    assert cli.main(args) == 2  # already there, no --force
    assert "--force" in capsys.readouterr().err
    assert cli.main(["evaluate", str(out)]) == 2
    assert "not a VAE" in capsys.readouterr().err


def test_the_shipped_pixel_model_is_more_uncertain_on_fashion_than_on_digits():
    path = require_shipped_model(ROOT / "models" / "mnist-bnn")
    from vae.data import load_dataset

    digits = load_dataset("mnist", "test", root=data_root("mnist"), download=False)
    fashion = load_dataset("fashion-mnist", "test", root=data_root("fashion-mnist"), download=False)
    bayes, det, card = bnn.load_classifier(path)
    assert card.metrics["bayesian"].accuracy > 0.97 and card.metrics["deterministic"].accuracy > 0.97
    h_digits = bnn.predictive(bnn.predict_samples(bayes, digits.x[:2000], 20)).entropy.mean()
    h_fashion = bnn.predictive(bnn.predict_samples(bayes, fashion.x[:2000], 20)).entropy.mean()
    assert h_fashion > h_digits + 0.3, (float(h_digits), float(h_fashion))


def test_readme_quotes_the_shipped_pairs_card():
    _, _, card = bnn.load_classifier(require_shipped_model(ROOT / "models" / "mnist-bnn"))
    readme = (ROOT / "README.md").read_text()
    for name, row in (("bayesian", "| Bayesian"), ("deterministic", "| deterministic |")):
        m = card.metrics[name]
        line = next(line for line in readme.splitlines() if line.startswith(row))
        assert f"{m.accuracy:.2%}".replace("%", " %") in line and f"{m.nll:.4f}" in line and f"{m.ece:.4f}" in line, line
