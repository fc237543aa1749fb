"""The conditional VAE (Sohn et al. 2015): labels reach encoder and decoder, everywhere the model is used."""

import numpy as np
import pytest
import torch

import vae
from explorer.browser_decoder import decode_with_spec, decoder_spec
from vae.latent import decode_images, encode_dataset, reconstruct


def tiny(arch="mlp", **kw):
    shape = (1, 8, 8)
    hidden = (8, 8) if arch == "conv" else (32, 16)
    torch.manual_seed(0)
    return vae.VAE(vae.VAEConfig(input_shape=shape, latent_dim=2, arch=arch, hidden_dims=hidden, n_classes=10, **kw))


@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_the_label_changes_the_decoded_image_and_the_code(arch):
    model = tiny(arch)
    z = torch.zeros(10, 2)
    images = model.generate(z, torch.arange(10))
    assert images.shape == (10, 1, 8, 8)
    assert all(not torch.allclose(images[0], images[k]) for k in range(1, 10))
    x = torch.rand(2, 1, 8, 8)
    q3, q7 = model.encode(x, torch.tensor([3, 3])), model.encode(x, torch.tensor([7, 7]))
    assert not torch.allclose(q3.mu, q7.mu)


def test_a_conditional_model_refuses_missing_or_bad_labels_clearly():
    model = tiny()
    x = torch.rand(2, 1, 8, 8)
    with pytest.raises(ValueError, match="conditional VAE: pass the labels"):
        model(x)
    with pytest.raises(ValueError, match=r"labels must be integers in 0\.\.9"):
        model(x, torch.tensor([1, 10]))
    with pytest.raises(ValueError, match="2 labels for 3 inputs"):
        model.decode(torch.zeros(3, 2), torch.tensor([1, 2]))


def test_a_plain_model_ignores_labels():
    plain = vae.VAE(vae.VAEConfig(input_shape=(1, 8, 8), hidden_dims=(16,)))
    z = torch.randn(4, 2)
    torch.testing.assert_close(plain.generate(z, torch.arange(4)), plain.generate(z))


def test_browser_spec_with_the_label_folded_into_the_first_bias_matches_pytorch():
    model = tiny()
    z = torch.randn(5, 2, generator=torch.Generator().manual_seed(1))
    for label in (0, 4, 9):
        expected = model.generate(z, torch.full((5,), label)).detach().numpy()
        got = decode_with_spec(decoder_spec(model, label=label), z)
        np.testing.assert_allclose(got, expected, atol=1e-5)
    with pytest.raises(ValueError, match="needs a label"):
        decoder_spec(model, label=10)


def test_latent_helpers_pass_labels_through():
    model = tiny()
    x, y = torch.rand(6, 1, 8, 8), torch.tensor([0, 1, 2, 3, 4, 5])
    enc = encode_dataset(model, x, y, batch_size=4)
    torch.testing.assert_close(enc.mu, model.encode(x, y).mu)
    one_label = decode_images(model, enc.mu, labels=3)
    torch.testing.assert_close(one_label, model.generate(enc.mu, torch.full((6,), 3)))
    rec = reconstruct(model, x, labels=y)
    torch.testing.assert_close(rec.mu, model.encode(x, y).mu)


def test_fit_evaluate_and_save_round_trip_with_labels(tmp_path):
    digits = vae.load_dataset("digits", "train")
    test = vae.load_dataset("digits", "test")
    model = tiny()
    cfg = vae.TrainConfig(epochs=4, batch_size=64, lr=3e-3, device="cpu", seed=0)
    before = vae.evaluate(model, test.x, labels=test.y)["neg_elbo"]
    run = vae.run_training(model, digits.x, test.x, cfg, train_labels=digits.y, test_labels=test.y)
    assert run.status == "complete"
    after = run.history[-1]["test_neg_elbo"]
    assert after < before - 1
    metrics = vae.save_run(model, tmp_path / "cvae", run, "digits", cfg, len(digits), test.x, iwae_k=5,
                           test_labels=test.y)
    loaded, card = vae.load_model(tmp_path / "cvae")
    assert loaded.config.n_classes == 10 and card.config.n_classes == 10
    assert metrics.iwae_nll <= metrics.neg_elbo + 0.5
    x, y = test.x[:4], test.y[:4]
    torch.testing.assert_close(loaded.generate(loaded.encode(x, y).mu, y), model.generate(model.encode(x, y).mu, y))


def test_training_a_conditional_model_without_labels_fails_clearly():
    model = tiny()
    with pytest.raises(ValueError, match="pass the labels"):
        vae.fit(model, torch.rand(16, 1, 8, 8), None, vae.TrainConfig(epochs=1, device="cpu"))
