"""explorer.toy: seeded 2-D data, the scaler into the decoder's range, and training the toy VAE."""

import numpy as np
import pytest
import torch

from explorer.figures import toy_panels
from explorer.toy import MARGIN, TOY_DATASETS, Scaler, latent_grid_lines, make_toy_data, toy_config, train_toy


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread while these tiny models train: with OpenMP's default spin-waiting, two threads on a
    busy 2-core machine made a 1-second run take 20 (the app sets OMP_WAIT_POLICY=PASSIVE instead)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("name", list(TOY_DATASETS))
def test_toy_data_is_seeded(name):
    a, b, c = make_toy_data(name, 200, seed=0), make_toy_data(name, 200, seed=0), make_toy_data(name, 200, seed=1)
    assert a.points.shape == (200, 2) and a.points.dtype == np.float32 and a.labels.shape == (200,)
    np.testing.assert_array_equal(a.points, b.points)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert not np.array_equal(a.points, c.points)
    assert a.labels.min() >= 0 and a.labels.max() < 8


def test_toy_data_shapes_are_what_they_say():
    ring = make_toy_data("ring", 2000, noise=0.0)
    np.testing.assert_allclose(np.linalg.norm(ring.points, axis=1), 1.0, atol=1e-5)
    moons = make_toy_data("moons", 500, noise=0.0)
    assert set(np.unique(moons.labels)) == {0, 1}
    blobs = make_toy_data("blobs", 2000, noise=0.05)
    for k in range(4):  # each blob is tight around its own centre
        assert blobs.points[blobs.labels == k].std(0).max() < 0.25
    with pytest.raises(ValueError, match="unknown toy dataset"):
        make_toy_data("swiss-roll")
    with pytest.raises(ValueError, match="n must be"):
        make_toy_data("ring", 1)


def test_scaler_keeps_the_shape_and_the_sigmoid_range():
    points = np.array([[-3.0, 10.0], [1.0, 12.0], [-1.0, 11.0]], dtype=np.float32)
    s = Scaler.fit(points)
    unit = s.to_unit(points)
    assert unit.min() == pytest.approx(MARGIN) and unit.max() == pytest.approx(1 - MARGIN)
    # one scale for both axes: distances shrink by the same factor
    d_data = np.linalg.norm(points[0] - points[1])
    assert np.linalg.norm(unit[0] - unit[1]) == pytest.approx(d_data * s.unit_per_data, rel=1e-5)
    np.testing.assert_allclose(s.from_unit(unit), points, rtol=1e-5, atol=1e-5)


def test_toy_model_is_the_project_vae_with_a_gaussian_decoder():
    cfg = toy_config(latent_dim=1, sigma=0.05)
    assert cfg.input_shape == (1, 1, 2) and cfg.likelihood == "gaussian" and cfg.gaussian_std == 0.05
    assert latent_grid_lines(1).shape == (1, 61, 1) and latent_grid_lines(2).shape == (10, 61, 2)
    with pytest.raises(ValueError, match="latent size of 1 or 2"):
        train_toy(make_toy_data("ring", 10), latent_dim=3)


def test_training_reduces_the_loss_and_reconstructions_approach_the_data():
    data = make_toy_data("ring", 400, seed=1)
    r = train_toy(data, latent_dim=2, epochs=60, batch_size=50, seed=0)
    first, last = r.history[0]["train_loss"], r.history[-1]["train_loss"]
    assert len(r.history) == 60 and last < first - 50  # measured: 156 -> about 0 nats per point
    spread = np.sqrt(((data.points - data.points.mean(0)) ** 2).sum(1).mean())  # error of reconstructing every point as the mean
    assert r.recon_error < 0.1 * spread  # measured: 0.036 against 1.0
    assert r.recon.shape == (400, 2) and r.mu.shape == (400, 2) and r.std.shape == (400, 2)
    assert r.samples.shape == (500, 2) and r.grid_x.shape == (10, 61, 2)
    assert np.isfinite(r.samples).all()


def test_training_is_seeded_and_leaves_the_global_rng_alone():
    data = make_toy_data("moons", 200, seed=0)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a = train_toy(data, latent_dim=1, epochs=5, batch_size=50, seed=7)
    assert torch.equal(torch.get_rng_state(), state)
    b = train_toy(data, latent_dim=1, epochs=5, batch_size=50, seed=7)
    c = train_toy(data, latent_dim=1, epochs=5, batch_size=50, seed=8)
    np.testing.assert_array_equal(a.recon, b.recon)
    assert [h["train_loss"] for h in a.history] == [h["train_loss"] for h in b.history]
    assert not np.array_equal(a.recon, c.recon)
    assert a.mu.shape == (200, 1) and a.grid_x.shape == (1, 61, 2)


def test_on_epoch_can_stop_training():
    seen = []
    r = train_toy(make_toy_data("blobs", 100), epochs=50, batch_size=50, on_epoch=lambda rec: seen.append(rec["epoch"]) or len(seen) == 3)
    assert seen == [1, 2, 3] and len(r.history) == 3


def test_toy_panels():
    data = make_toy_data("moons", 50)
    r = train_toy(data, latent_dim=2, epochs=1, batch_size=50)
    fig = toy_panels(data.points, data.labels, r.recon, r.mu, r.std, samples=r.samples, grid_z=r.grid_z, grid_x=r.grid_x)
    titles = [a.text for a in fig.layout.annotations]
    assert titles[0] == "Data x" and "Reconstructions" in titles[1] and "μ" in titles[2]
    # data, reconstructions and codes appear once each with 50 points; 10 decoded grid lines and 10 latent ones
    assert sum(len(t.x) == 50 for t in fig.data) == 3
    assert sum(t.name == "decoded latent grid" or t.legendgroup == "grid" for t in fig.data) == 20
    one = train_toy(data, latent_dim=1, epochs=1, batch_size=50)
    fig1 = toy_panels(data.points, data.labels, one.recon, one.mu, one.std)
    assert fig1.layout.yaxis3.type == "log"  # the posterior std of the 1-D code
