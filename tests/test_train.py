"""Training loop: learning happens, callbacks can stop it, divergence keeps the last good epoch."""

import pytest
import torch

from vae.config import TrainConfig, VAEConfig
from vae.model import VAE
from vae.train import TrainingDiverged, evaluate, fit, model_metrics

pytestmark = pytest.mark.slow

CFG = VAEConfig(input_shape=(1, 8, 8), latent_dim=2, hidden_dims=(32,))


def _data(n=256, seed=0):
    """Blobby 8x8 images: two classes of bright squares in different corners, plus noise."""
    g = torch.Generator().manual_seed(seed)
    x = 0.1 * torch.rand(n, 1, 8, 8, generator=g)
    x[: n // 2, :, :4, :4] += 0.8
    x[n // 2 :, :, 4:, 4:] += 0.8
    return x.clamp(0, 1)


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_a_few_epochs_lower_the_test_loss_and_history_is_complete():
    torch.manual_seed(0)
    model = VAE(CFG)
    train, test = _data(), _data(64, seed=1)
    before = evaluate(model, test)["neg_elbo"]
    result = fit(model, train, test, TrainConfig(epochs=5, batch_size=32, lr=3e-3))
    after = evaluate(model, test)["neg_elbo"]
    assert after < before - 5
    assert [r["epoch"] for r in result.history] == [1, 2, 3, 4, 5] and not result.stopped_early
    for key in ("train_loss", "train_recon", "train_kl", "train_neg_elbo", "test_recon", "test_kl", "test_neg_elbo", "lr", "beta", "seconds"):
        assert key in result.history[0]
    assert result.history[-1]["test_neg_elbo"] == pytest.approx(after, rel=1e-5)
    assert result.history[-1]["lr"] < result.history[0]["lr"]  # cosine schedule decays


def test_training_is_reproducible_with_a_seed():
    outs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = VAE(CFG)
        outs.append(fit(model, _data(), None, TrainConfig(epochs=2, batch_size=64, seed=3)).history[-1]["train_loss"])
    assert outs[0] == outs[1]


def test_kl_warmup_weights_the_kl_term():
    torch.manual_seed(0)
    result = fit(VAE(CFG), _data(), None, TrainConfig(epochs=4, batch_size=64, beta=2.0, warmup_epochs=4))
    assert [r["beta"] for r in result.history] == [0.5, 1.0, 1.5, 2.0]
    first = result.history[0]
    assert first["train_loss"] == pytest.approx(first["train_recon"] + 0.5 * first["train_kl"], rel=1e-4)


def test_on_epoch_returning_true_stops_after_that_epoch():
    torch.manual_seed(0)
    result = fit(VAE(CFG), _data(), None, TrainConfig(epochs=10, batch_size=64), on_epoch=lambda r: r["epoch"] == 2)
    assert result.epochs_completed == 2 and result.stopped_early


def test_stop_mid_epoch_keeps_the_last_finished_epoch():
    torch.manual_seed(0)
    model = VAE(CFG)
    snapshots = []
    result = fit(model, _data(), None, TrainConfig(epochs=5, batch_size=32),
                 on_epoch=lambda r: snapshots.append(_state(model)),
                 on_step=lambda info: info.epoch == 2 and info.step == 3)
    assert result.stopped_early and result.epochs_completed == 2
    for k, v in model.state_dict().items():
        assert torch.equal(v, snapshots[-1][k]), k


def test_divergence_raises_a_clear_error_and_keeps_the_last_good_weights():
    torch.manual_seed(0)
    model = VAE(CFG)
    snapshots = []

    def poison(info):
        # Make the weights blow up during the second epoch, as a huge learning rate would.
        if info.epoch == 1 and info.step == 2:
            with torch.no_grad():
                for p in model.parameters():
                    p.fill_(float("inf"))

    with pytest.raises(TrainingDiverged, match="diverged in epoch 2") as err:
        fit(model, _data(), None, TrainConfig(epochs=3, batch_size=32), on_epoch=lambda r: snapshots.append(_state(model)),
            on_step=poison)
    assert len(err.value.history) == 1
    for k, v in model.state_dict().items():
        assert torch.equal(v, snapshots[0][k]), k


def test_huge_learning_rate_diverges_cleanly():
    torch.manual_seed(0)
    model = VAE(CFG)
    with pytest.raises(TrainingDiverged, match="learning rate"):
        fit(model, _data(), None, TrainConfig(epochs=20, batch_size=32, lr=1e25, schedule="constant", grad_clip=None))
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_model_metrics_with_iwae():
    torch.manual_seed(0)
    model = VAE(CFG)
    fit(model, _data(), None, TrainConfig(epochs=3, batch_size=32, lr=3e-3))
    m = model_metrics(model, _data(50, seed=2), iwae_k=20)
    assert set(m) >= {"neg_elbo", "recon", "kl", "kl_per_dim", "active_units", "n_images", "iwae_nll", "iwae_k"}
    assert m["n_images"] == 50 and m["iwae_k"] == 20 and 0 <= m["active_units"] <= 2
    assert m["iwae_nll"] < m["neg_elbo"] + 1.0  # the IWAE bound is (nearly always) tighter


def test_bfloat16_training_keeps_float32_weights_and_outputs_and_learns_as_well():
    train, test = _data(), _data(64, seed=1)
    losses = {}
    for precision in ("float32", "bfloat16"):
        torch.manual_seed(0)
        model = VAE(CFG)
        fit(model, train, None, TrainConfig(epochs=15, batch_size=32, lr=3e-3, schedule="constant", precision=precision))
        assert all(p.dtype == torch.float32 for p in model.parameters())
        losses[precision] = evaluate(model, test)["neg_elbo"]
    # Under autocast the layers run in bfloat16, but what the loss sees is float32.
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(test[:4])
    assert out.x_params.dtype == out.mu.dtype == out.logvar.dtype == out.z.dtype == torch.float32
    assert losses["bfloat16"] == pytest.approx(losses["float32"], rel=0.03), losses


def test_gradients_are_clipped_only_over_the_limit():
    from vae.train import _clip_gradients

    model = VAE(CFG)
    params = list(model.parameters())
    for p in params:
        p.grad = torch.full_like(p, 0.01)
    before = [p.grad.clone() for p in params]
    norm = torch.nn.utils.get_total_norm(before).item()
    _clip_gradients(params, norm * 2)  # under the limit: untouched
    assert all(torch.equal(p.grad, b) for p, b in zip(params, before))
    _clip_gradients(params, norm / 4)  # over: rescaled to the limit, direction kept
    assert torch.nn.utils.get_total_norm([p.grad for p in params]).item() == pytest.approx(norm / 4, rel=1e-5)
    torch.testing.assert_close(params[0].grad, before[0] / 4, rtol=1e-5, atol=0)


def test_binarize_trains_on_fresh_black_and_white_pixels_and_tests_on_grey_levels():
    model, seen = VAE(CFG), []
    forward = model.forward

    def spy(x, *args, **kwargs):
        seen.append(x.detach().clone())
        return forward(x, *args, **kwargs)

    model.forward = spy
    train, test = _data(128, seed=0), _data(64, seed=1)
    assert len(train.unique()) > 2  # grey levels
    result = fit(model, train, test, TrainConfig(epochs=2, batch_size=32, binarize=True))
    batches = [b for b in seen if len(b) == 32]  # training batches; the test set passes in one batch of 64
    tests = [b for b in seen if len(b) == 64]
    assert len(batches) == 8 and tests
    assert all(set(b.unique().tolist()) <= {0.0, 1.0} for b in batches)
    assert all(len(b.unique()) > 2 for b in tests)  # the test set is measured on its grey levels
    assert abs(torch.cat(batches[:4]).mean() - train.mean()) < 0.02  # white as often as the grey level says
    assert not torch.equal(torch.cat(batches[:4]).sum(0), torch.cat(batches[4:]).sum(0))  # drawn afresh each epoch
    assert result.history[-1]["test_neg_elbo"] > 0


def test_binarize_is_refused_for_a_gaussian_decoder_and_cards_without_it_read_as_false():
    gaussian = VAE(VAEConfig(input_shape=CFG.input_shape, latent_dim=2, hidden_dims=(16,), likelihood="gaussian"))
    with pytest.raises(ValueError, match="binarize draws black-and-white pixels for a Bernoulli decoder"):
        fit(gaussian, _data(), None, TrainConfig(epochs=1, batch_size=64, binarize=True))
    assert TrainConfig.from_dict({"epochs": 3}).binarize is False
    with pytest.raises(ValueError, match="binarize must be true or false"):
        TrainConfig(binarize="yes")


def test_fits_adam_steps_exactly_as_torch_optim_fused_adam_with_a_changing_learning_rate():
    """vae.train.Adam skips torch.optim's wrapper (whose import costs a command-line run ~0.9 s);
    the weights it produces must be torch.optim.Adam(fused=True)'s, bit for bit, including steps
    in which the decoder gets no gradient."""
    from vae.train import Adam

    torch.manual_seed(0)
    ours, theirs = VAE(CFG), VAE(CFG)
    theirs.load_state_dict(ours.state_dict())
    start = _state(ours)
    opt_ours = Adam(list(ours.parameters()), lr=3e-3)
    opt_theirs = torch.optim.Adam(list(theirs.parameters()), lr=3e-3, fused=True)
    x = _data(64)
    for step in range(6):
        lr = 3e-3 * (0.5 + 0.1 * step)
        opt_ours.lr = lr
        opt_theirs.param_groups[0]["lr"] = lr
        for model, opt in ((ours, opt_ours), (theirs, opt_theirs)):
            opt.zero_grad()
            if step % 3:
                loss = model(x, sample=False).x_params.sum()
            else:  # the encoder alone: the decoder's parameters have no gradient in this step
                loss = model.to_moments(model.encoder(x)).sum()
            loss.backward()
            opt.step()
    for (name, a), b in zip(ours.named_parameters(), theirs.parameters()):
        assert torch.equal(a, b), name
        assert not torch.equal(a, start[name]), f"{name} did not train"

