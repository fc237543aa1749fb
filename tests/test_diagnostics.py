"""explorer.estimators and explorer.rate_distortion against oracles: torch.distributions, numerical integration over the latent,
the model cards, and the laws the estimators must obey (unbiasedness, 1/n variance, monotone bounds)."""

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence

import vae

from explorer.figures import iwae_vs_k, kl_error_loglog, kl_estimates_histogram, latent_usage_bars, rate_distortion_plot
from explorer import estimators, jobs, rate_distortion, registry

pytestmark = pytest.mark.slow

MODELS = Path(__file__).resolve().parent.parent / "models"


def tiny(latent_dim=1, likelihood="bernoulli", seed=0, q_mu=None, q_std=None):
    """A random 2x2-pixel VAE; with q_mu/q_std its encoder ignores x and outputs that Gaussian."""
    torch.manual_seed(seed)
    model = vae.VAE(vae.VAEConfig(input_shape=(1, 2, 2), latent_dim=latent_dim, hidden_dims=(8,), likelihood=likelihood))
    if q_mu is not None:
        with torch.no_grad():
            model.to_moments.weight.zero_()
            model.to_moments.bias.copy_(torch.tensor([q_mu] * latent_dim + [2 * math.log(q_std)] * latent_dim))
    return model.eval()


def images(n=3, seed=1):
    return torch.rand(n, 1, 2, 2, generator=torch.Generator().manual_seed(seed))


def posterior(b=4, d=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return vae.DiagonalGaussian(torch.randn(b, d, generator=g), torch.randn(b, d, generator=g) - 1.0)


# --- rate and distortion ------------------------------------------------------------------------


def card(dataset="digits", recon=20.0, kl=3.0, beta=1.0, likelihood="bernoulli", n_classes=0, metrics=True):
    return vae.ModelCard(vae.VAEConfig(latent_dim=2, likelihood=likelihood, n_classes=n_classes), dataset,
                         train_config=vae.TrainConfig(beta=beta),
                         metrics=vae.Metrics(neg_elbo=recon + kl, recon=recon, kl=kl) if metrics else None)


def test_rate_distortion_points_keep_only_comparable_models():
    cards = [("a", card(beta=0.5), "shipped"), ("b", card(kl=1.0, beta=4), "yours"), ("other", card("mnist"), "shipped"),
             ("g", card(likelihood="gaussian"), "shipped"), ("c", card(n_classes=10), "shipped"),
             ("nometrics", card(metrics=False), "yours")]
    points, skipped = rate_distortion.rate_distortion_points(cards, "digits")
    assert [(p.name, p.beta, p.rate, p.distortion, p.source) for p in points] == [
        ("a", 0.5, 3.0, 20.0, "shipped"), ("b", 4.0, 1.0, 20.0, "yours")]
    assert points[0].neg_elbo == 23.0 and points[0].label == "a (β=0.5)"
    assert {n for n, _ in skipped} == {"g", "c", "nometrics"}  # "other" is another dataset: not mentioned
    gaussian, _ = rate_distortion.rate_distortion_points(cards, "digits", likelihood="gaussian")
    assert [p.name for p in gaussian] == ["g"]


def test_shipped_cards_give_their_own_metrics():
    cards = [(path.name, c, "shipped") for path, c, err in vae.list_models(MODELS) if c is not None]
    points, _ = rate_distortion.rate_distortion_points(cards, "mnist")
    by_name = {p.name: p for p in points}
    ref = vae.load_card(MODELS / "mnist-z2").metrics
    assert by_name["mnist-z2"].rate == ref.kl and by_name["mnist-z2"].distortion == ref.recon
    assert by_name["mnist-z2"].neg_elbo == pytest.approx(ref.neg_elbo)
    assert by_name["mnist-z16"].latent_dim == 16 and by_name["mnist-z16"].beta == 1.0


def test_iso_elbo_levels_are_round_and_span_the_points():
    points = [rate_distortion.RDPoint("a", "d", 1, 7.1, 130.7, 2, "bernoulli"), rate_distortion.RDPoint("b", "d", 1, 20.4, 76.1, 16, "bernoulli")]
    levels = rate_distortion.iso_elbo_levels(points, n=5)
    assert levels[0] <= 96.5 and levels[-1] >= 137.8
    steps = np.diff(levels)
    assert np.allclose(steps, steps[0]) and steps[0] in (10, 20, 25) and 4 <= len(levels) <= 7
    assert rate_distortion.iso_elbo_levels([]) == []
    one = rate_distortion.iso_elbo_levels(points[:1])
    assert one[0] <= 137.8 <= one[-1]


SWEEP_TINY = vae.VAEConfig(input_shape=(1, 8, 8), latent_dim=2, hidden_dims=(32,))


def entry(name, c, source="yours"):
    return registry.ModelEntry(name, Path("/models") / name, c, None, source)


def test_a_beta_sweep_job_in_its_process_trades_rate_for_distortion_and_saves_sweep_models(tmp_path):
    job = rate_distortion.sweep_job([8.0, 0.1], 3, tmp_path, config=SWEEP_TINY).start()  # a real child process
    assert job.join(180), job.snapshot().message
    snap = job.snapshot()
    assert snap.state == "done" and [o.beta for o in snap.outcomes] == [0.1, 8.0], snap.message
    low, high = (o.metrics for o in snap.outcomes)
    assert low.kl > high.kl and low.recon < high.recon
    entries = [entry(path.name, c) for path, c, _ in vae.list_models(tmp_path)]
    assert [e.name for e in entries] == ["digits-sweep-beta0.1", "digits-sweep-beta8"]
    for e, beta in zip(entries, (0.1, 8.0)):
        assert e.card.beta == beta and e.card.trained_in == "beta sweep" and e.card.train_config.epochs == 3
        assert e.card.train_config.device == "cpu" and e.card.config == SWEEP_TINY
    points, _ = rate_distortion.rate_distortion_points(rate_distortion.cards_of(entries), "digits")
    assert [(p.name, p.source, p.rate) for p in points] == [
        ("digits-sweep-beta0.1", "sweep", low.kl), ("digits-sweep-beta8", "sweep", high.kl)]
    assert rate_distortion.sweep_report(snap).startswith(
        f"β sweep finished in {snap.elapsed:.0f} s: trained 2 models; saved as digits-sweep-beta0.1, digits-sweep-beta8.")


def test_sweep_job_trains_each_beta_once_smallest_first_and_needs_one(tmp_path):
    job = rate_distortion.sweep_job([4, 0.5, 4.0], 20, tmp_path)
    assert [r.name for r in job.runs] == ["digits-sweep-beta0.5", "digits-sweep-beta4"]
    assert [r.train_config.beta for r in job.runs] == [0.5, 4.0] and job.trained_in == "beta sweep"
    assert {(r.train_config.epochs, r.train_config.seed) for r in job.runs} == {(20, 0)}
    assert job.config == rate_distortion.SWEEP_CONFIG and job.dataset == "digits"
    assert job.snapshot().state == "pending" and not (tmp_path / "digits-sweep-beta0.5").exists()  # not started
    with pytest.raises(ValueError, match="at least one beta"):
        rate_distortion.sweep_job([], 10, tmp_path)


def test_sweep_progress_text_names_the_model_the_epoch_and_the_finished_ones(tmp_path):
    start = rate_distortion.sweep_job([0.5, 4.0], 10, tmp_path).snapshot()
    assert rate_distortion.sweep_progress_text(start) == "Model 1 of 2 (β = 0.5): waiting to start…"
    done = jobs.RunOutcome("digits-sweep-beta0.5", 0.5, "done", "trained", tmp_path, 1.0, 10, None)
    mid = dataclasses.replace(start, run=1, beta=4.0, epoch=3, steps_per_epoch=23, elapsed=7.2, outcomes=(done,),
                              stop_requested=True)
    assert rate_distortion.sweep_progress_text(mid) == (
        "Model 2 of 2 (β = 4) · epoch 3 of 10 · 7 s · finished: β = 0.5 · stopping after this step…")


def test_where_a_model_comes_from_and_which_to_compare_with():
    sweep = vae.ModelCard(vae.VAEConfig(latent_dim=2), "digits", train_config=vae.TrainConfig(beta=4.0),
                          trained_in="beta sweep")
    assert rate_distortion.model_source(entry("s", sweep)) == "sweep"
    assert rate_distortion.model_source(entry("m", card(), "shipped")) == "shipped"
    assert rate_distortion.model_source(entry("m", card(), "folder")) == "yours"
    entries = [entry("a", card(beta=0.5)), entry("b", card(beta=8)), entry("sel", card(beta=2)),
               entry("m", card("mnist", beta=16)), entry("g", card(beta=2, likelihood="gaussian"))]
    assert [e.name for e in rate_distortion.compare_candidates(entries, "sel", "digits")] == ["b", "g", "a"]
    assert rate_distortion.datasets_of(entries) == ["digits", "mnist"]
    assert rate_distortion.likelihoods_of(entries, "digits") == ["bernoulli", "gaussian"]
    assert rate_distortion.preferred(["x", "y"], None, "z", "y", "x") == "y"
    assert rate_distortion.preferred(["x", "y"], "z") == "x" and rate_distortion.preferred([], "x") is None


def test_plot_note_and_table_of_the_points():
    points = [rate_distortion.RDPoint("a", "d", 1.0, 7.0, 130.0, 2, "bernoulli"),
              rate_distortion.RDPoint("b", "d", 4.0, 3.0, 120.0, 2, "bernoulli", source="sweep")]
    note = rate_distortion.plot_note(points, [("c", "conditional model")], "d", "bernoulli", selected="x")
    assert note.startswith("2 d models with a bernoulli decoder") and "selected model (x) is not on this plot" in note
    assert note.endswith("Left out: **c** (conditional model).")
    assert "not on this plot" not in rate_distortion.plot_note(points, [], "d", "bernoulli", selected="a")
    rows = rate_distortion.points_table(points)
    assert [(r["model"], r["−ELBO = D + R"], r["kind"]) for r in rows] == [("b", 123.0, "sweep"), ("a", 137.0, "shipped")]


# --- latent usage -------------------------------------------------------------------------------


def test_latent_usage_matches_torch_kl_and_the_active_unit_criterion():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(500, 3, generator=g) * torch.tensor([1.0, 0.05, 0.0])  # variances ~1, ~0.0025, 0
    logvar = torch.randn(500, 3, generator=g) * 0.1
    usage = rate_distortion.latent_usage(mu, logvar)
    ref = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).mean(0)
    assert np.allclose(usage.kl, ref.numpy(), atol=1e-5)
    assert usage.active.tolist() == [True, False, False] and usage.n_active == 1 and usage.latent_dim == 3
    assert np.allclose(usage.mu_variance, mu.var(0, unbiased=False).numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="mu and logvar"):
        rate_distortion.latent_usage(mu, logvar[:, :2])


def test_latent_usage_of_mnist_z16_agrees_with_its_card():
    from data_root import data_root

    test = vae.load_dataset("mnist", "test", root=data_root("mnist"), download=False)
    model, card = vae.load_model(MODELS / "mnist-z16")
    enc = vae.encode_dataset(model, test.x)
    usage = rate_distortion.latent_usage(enc.mu, enc.logvar)
    assert usage.n_active == card.metrics.active_units == 11
    assert usage.kl.sum() == pytest.approx(card.metrics.kl, rel=1e-3)  # the card's KL is analytic too
    assert usage.kl[~usage.active].max() < 0.05 < usage.kl[usage.active].min()  # collapsed dims cost ~nothing


# --- KL estimators ------------------------------------------------------------------------------


def test_closed_form_equals_torch_and_the_mc_mean_converges_to_it():
    q = posterior()
    torch_kl = kl_divergence(Normal(q.mu, q.std), Normal(0.0, 1.0)).sum(-1).mean().item()
    est = estimators.kl_estimates(q, n_samples=1000, n_repeats=200, generator=torch.Generator().manual_seed(0))
    assert est.analytic == pytest.approx(torch_kl, rel=1e-5)
    assert abs(est.mean - est.analytic) < 4 * est.standard_error
    assert est.estimates.shape == (200,) and est.n_samples == 1000
    single = estimators.kl_estimates(vae.DiagonalGaussian(q.mu[:1], q.logvar[:1]), 1000, 200, torch.Generator().manual_seed(1))
    assert abs(single.mean - q.kl()[0].item()) < 4 * single.standard_error


def test_mc_variance_falls_like_one_over_n():
    q = posterior(b=1)
    g = torch.Generator().manual_seed(0)
    v10 = estimators.kl_estimates(q, 10, 400, g).std ** 2
    v1000 = estimators.kl_estimates(q, 1000, 400, g).std ** 2
    assert 60 < v10 / v1000 < 160  # 100 expected; the variance of a variance over 400 repeats is ~7 %
    curve = estimators.kl_error_curve(q, ns=(1, 10, 100, 1000), n_repeats=300, generator=g)
    assert -0.6 < curve.slope < -0.4
    assert np.all(np.abs(curve.bias) < 4 * curve.std / math.sqrt(300))  # unbiased at every n
    assert np.allclose(curve.rmse, curve.theory(), rtol=0.25)


def test_the_mc_estimate_uses_the_given_prior():
    q = posterior(b=2)
    prior = vae.MixturePrior(3, 1)
    with torch.no_grad():  # one component at N(0, I): the same distribution as the standard prior
        prior.means.zero_()
        prior.logvars.zero_()
    est = estimators.kl_estimates(q, 500, 200, torch.Generator().manual_seed(0), prior=prior)
    assert est.analytic is None  # a learned prior has no closed form
    assert abs(est.mean - q.kl().mean().item()) < 4 * est.standard_error
    shifted = vae.MixturePrior(3, 1)
    with torch.no_grad():
        shifted.means.fill_(2.0)
        shifted.logvars.zero_()
    far = estimators.kl_estimates(q, 500, 50, torch.Generator().manual_seed(0), prior=shifted)
    ref = kl_divergence(Normal(q.mu, q.std), Normal(2.0, 1.0)).sum(-1).mean().item()
    assert abs(far.mean - ref) < 4 * far.standard_error


def test_kl_estimator_arguments_are_checked():
    with pytest.raises(ValueError):
        estimators.kl_estimates(posterior(), 0)
    with pytest.raises(ValueError):
        estimators.kl_error_curve(posterior(), ns=(0, 10))


# --- log-likelihood -----------------------------------------------------------------------------


def test_log_weights_reproduce_iwae_log_likelihood_exactly():
    model, x = tiny(latent_dim=2), images()
    ref = vae.iwae_log_likelihood(model, x, k=250, generator=torch.Generator().manual_seed(3))
    log_w = vae.log_importance_weights(model, x, 250, generator=torch.Generator().manual_seed(3))
    assert log_w.shape == (250, 3)
    assert torch.allclose(torch.logsumexp(log_w, 0) - math.log(250), ref, atol=1e-5)
    assert torch.allclose(estimators.iwae_bounds(log_w, [250])[250], ref, atol=1e-5)


def test_iwae_bounds_average_disjoint_groups():
    log_w = torch.log(torch.tensor([[1.0], [3.0], [2.0], [6.0], [5.0]]))  # (K=5, B=1)
    b = estimators.iwae_bounds(log_w, [1, 2, 5])
    assert b[1].item() == pytest.approx(log_w.mean().item())
    assert b[2].item() == pytest.approx((math.log(2.0) + math.log(4.0)) / 2)  # groups {1,3}, {2,6}; 5 left over
    assert b[5].item() == pytest.approx(math.log(17 / 5))
    with pytest.raises(ValueError, match="between 1 and"):
        estimators.iwae_bounds(log_w, [6])
    assert estimators.effective_sample_size(torch.zeros(8, 1)).item() == pytest.approx(8.0)
    assert estimators.effective_sample_size(torch.tensor([[0.0], [-50.0], [-50.0]])).item() == pytest.approx(1.0, abs=1e-6)


def test_iwae_with_k1_is_the_elbo_in_expectation():
    """The exact ELBO comes from quadrature over a 1-D latent: E_q[log p(x|z) + log p(z) - log q(z|x)]."""
    model, x = tiny(q_mu=0.8, q_std=1.5), images()
    q = model.encode(x)
    z = torch.linspace(-12, 12, 20001).reshape(-1, 1, 1)  # (G, 1, 1), broadcasts over the batch
    with torch.no_grad():
        params = model.decode(z.reshape(-1, 1)).unsqueeze(1).expand(-1, len(x), -1, -1, -1)  # (G, B, C, H, W)
        log_joint = -vae.reconstruction_nll(params, x, model.config)  # (G, B): log p(x|z)
        log_q = q.log_prob(z)  # (G, B)
        w = torch.exp(log_q) * (z[1, 0, 0] - z[0, 0, 0])
        elbo = (w * (log_joint + model.prior.log_prob(z) - log_q)).sum(0)
    draws = torch.stack([vae.iwae_log_likelihood(model, x, k=1, generator=torch.Generator().manual_seed(s))
                         for s in range(2000)])  # (S, B)
    se = draws.std(0) / math.sqrt(len(draws))
    assert torch.all((draws.mean(0) - elbo).abs() < 4 * se)
    report = estimators.log_likelihood_report(model, x, ks=(1, 1000), seed=0)  # its ELBO: the mean of 1,000 draws
    assert np.all(np.abs(report.elbo - elbo.numpy()) < 4 * draws.std(0).numpy() / math.sqrt(1000))


@pytest.mark.parametrize("latent_dim", [1, 2])
def test_iwae_grows_with_k_towards_the_exact_log_likelihood(latent_dim):
    """log p(x) by integrating p(x|z) p(z) over a grid; a poor q (off-centre, wide) leaves a clear ELBO gap."""
    model, x = tiny(latent_dim, q_mu=0.8, q_std=1.5), images()
    log_px = estimators.log_marginal_grid(model, x, limit=8.0, n=2001 if latent_dim == 1 else 321)
    total = 50_000
    log_w = vae.log_importance_weights(model, x, total, chunk=5000, generator=torch.Generator().manual_seed(0))
    ks = [1, 10, 100, 1000]
    bounds = estimators.iwae_bounds(log_w, ks)
    for k in ks:  # standard error of each bound from the spread of its disjoint groups
        groups = torch.logsumexp(log_w[: total // k * k].reshape(total // k, k, -1), 1) - math.log(k)
        se = groups.std(0) / math.sqrt(groups.shape[0])
        assert torch.all(bounds[k] <= log_px + 4 * se + 1e-3), k  # a lower bound on log p(x)
        bounds[k] = (bounds[k], se)
    for small, big in zip(ks, ks[1:]):  # non-decreasing in k
        assert torch.all(bounds[small][0] <= bounds[big][0] + 4 * (bounds[small][1] + bounds[big][1]))
    gap_1 = log_px - bounds[1][0]
    gap_big = log_px - (torch.logsumexp(log_w, 0) - math.log(total))
    assert torch.all(gap_1 > 0.2)  # the ELBO is clearly loose here...
    assert torch.all(gap_big.abs() < 0.02)  # ...and 50,000 importance samples close the gap


def test_log_marginal_grid_refuses_large_latents():
    with pytest.raises(ValueError, match="1-D or 2-D"):
        estimators.log_marginal_grid(tiny(latent_dim=3), images())


def test_log_likelihood_report_shapes_and_order():
    model, x = tiny(latent_dim=2), images(5)
    rep = estimators.log_likelihood_report(model, x, ks=(100, 1, 10), seed=0, batch_size=2)
    assert rep.ks == [1, 10, 100] and rep.iwae.shape == (3, 5) and rep.elbo.shape == (5,) and rep.ess.shape == (5,)
    assert np.allclose(rep.iwae[0], rep.elbo, atol=1e-5)  # L_1 is the ELBO
    assert np.all(rep.gap >= -0.05) and np.all((rep.ess >= 1) & (rep.ess <= 100))


# --- units --------------------------------------------------------------------------------------


def test_gaussian_nll_is_a_scaled_mse_plus_a_constant():
    model, x = tiny(latent_dim=2, likelihood="gaussian"), images(4)
    stats = estimators.reconstruction_stats(model, x, seed=0)
    expected = estimators.gaussian_nll_from_mse(stats.mse, model.config.gaussian_std, model.config.n_pixels)
    assert np.allclose(stats.nll, expected, rtol=1e-5)
    # the same z as reconstruction_nll sees with the same seed
    g = torch.Generator().manual_seed(0)
    ref = vae.reconstruction_nll(model.decode(model.encode(x).sample(g)), x, model.config)
    assert np.allclose(stats.nll, ref.detach().numpy(), rtol=1e-5)
    assert estimators.gaussian_nll_from_mse(0.0, 0.1, 784) == pytest.approx(784 * (math.log(0.1) + 0.5 * math.log(2 * math.pi)))
    assert estimators.gaussian_nll_from_mse(0.0, 0.1, 784) < 0 < estimators.gaussian_nll_from_mse(0.0, 1.0, 784)


def test_unit_conversions():
    assert estimators.nats_per_pixel(784.0, 784) == 1.0
    assert estimators.bits_per_dim(64 * math.log(2), 64) == pytest.approx(1.0)
    model, x = tiny(), images()
    stats = estimators.reconstruction_stats(model, x)
    assert np.allclose(stats.nll_per_pixel * 4, stats.nll) and np.all(stats.nll > 0)


# --- figures ------------------------------------------------------------------------------------


def test_rate_distortion_plot_draws_points_iso_lines_and_the_selection():
    points = [rate_distortion.RDPoint("a", "d", 1.0, 7.0, 130.0, 2, "bernoulli"),
              rate_distortion.RDPoint("b", "d", 4.0, 3.0, 140.0, 2, "bernoulli", source="yours"),
              rate_distortion.RDPoint("s", "d", 0.5, 9.0, 128.0, 2, "bernoulli", source="sweep")]
    levels = rate_distortion.iso_elbo_levels(points)
    fig = rate_distortion_plot(points, selected="b", levels=levels)
    named = {t.name: t for t in fig.data if t.name}
    assert set(named) == {"shipped", "yours", "β sweep", "selected model"}
    assert list(named["yours"].text) == ["b · β=4"] and list(named["selected model"].x) == [3.0]
    iso = [t for t in fig.data if not t.name]
    assert len(iso) >= 2 and all(np.allclose(np.add(t.x, t.y), t.x[0] + t.y[0]) for t in iso)  # R + D constant
    assert any("−ELBO" in a.text for a in fig.layout.annotations)
    assert len(rate_distortion_plot([]).data) == 0


def test_rate_distortion_labels_of_close_points_do_not_collide():
    from explorer.figures import label_offsets

    def box(x, y, text, offset, sx, sy):
        cx, cy = x * sx + offset[0], y * sy + offset[1]
        w = len(text) * 6.2 + 6
        return cx - w / 2, cx + w / 2, cy - 8, cy + 8

    # three models almost on top of each other (like mnist-z2, its mixture-prior and beta-0.5 twins) and one far away
    xs, ys = [7.1, 7.15, 7.9, 20.4], [130.7, 130.6, 130.9, 76.1]
    texts = ["mnist-z2 · β=1", "mnist-mog-z2 · β=1", "mnist-z2-beta0.5 · β=0.5", "z16"]
    offsets = label_offsets(xs, ys, texts, (0, 27), (70, 137), 440, 440)
    sx, sy = 440 / 27, 440 / 67
    boxes = [box(x - 0, y - 70, t, o, sx, sy) for x, y, t, o in zip(xs, ys, texts, offsets)]
    assert not any(a[0] < b[1] and b[0] < a[1] and a[2] < b[3] and b[2] < a[3]
                   for i, a in enumerate(boxes) for b in boxes[i + 1:])
    assert offsets[3][0] > 0 and offsets[3][1] == 0 and not offsets[3][2]  # a point on its own: just to its right
    assert label_offsets([26.0], [100.0], ["near the right edge"], (0, 27), (70, 137))[0][0] < 0  # turns left
    # an obstacle (an iso-ELBO label) where the first label would go moves it
    free = label_offsets([10.0], [100.0], ["m"], (0, 27), (70, 137))[0]
    moved = label_offsets([10.0], [100.0], ["m"], (0, 27), (70, 137), obstacles=[(10.2, 12.0, 99.0, 101.0)])[0]
    assert free[0] > 0 and moved != free


def test_rate_distortion_plot_keeps_point_labels_off_the_iso_elbo_labels():
    points = [rate_distortion.RDPoint(f"m{i}", "d", 1.0, r, d, 2, "bernoulli")
              for i, (r, d) in enumerate([(20.0, 76.0), (19.5, 78.0), (7.1, 130.7), (7.9, 130.9)])]
    fig = rate_distortion_plot(points, selected="m0", levels=rate_distortion.iso_elbo_levels(points))
    iso = [a for a in fig.layout.annotations if a.text.startswith("−ELBO")]
    labels = [a for a in fig.layout.annotations if not a.text.startswith("−ELBO")]
    assert len(labels) == 4 and len(iso) >= 2
    x_lo, x_hi = fig.layout.xaxis.range
    y_lo, y_hi = fig.layout.yaxis.range
    sx, sy = 440 / (x_hi - x_lo), 440 / (y_hi - y_lo)

    def box(a):
        if a.showarrow:  # a point's label: (ax, -ay) pixels from its point, anchored there by an edge or its centre
            w = len(a.text) * 6.2 + 6
            cx = (a.x - x_lo) * sx + a.ax + {"left": w / 2, "right": -w / 2}.get(a.xanchor, 0)
            cy = (a.y - y_lo) * sy - a.ay
            return cx - w / 2, cx + w / 2, cy - 8, cy + 8
        x0 = (a.x - x_lo) * sx + 3  # an iso-ELBO label: left-anchored just right of where its line leaves
        y0 = (a.y - y_lo) * sy - (0 if a.yanchor == "bottom" else 8)
        return x0, x0 + len(a.text) * 6.2 + 6, y0, y0 + 16

    boxes = [box(a) for a in labels + iso]
    assert not any(a[0] < b[1] and b[0] < a[1] and a[2] < b[3] and b[2] < a[3]
                   for i, a in enumerate(boxes) for b in boxes[i + 1:])


def test_diagnostic_figures_build():
    usage = rate_distortion.latent_usage(torch.tensor([[0.0, 1.0], [0.0, -1.0]]), torch.zeros(2, 2))
    bars = latent_usage_bars(usage, "t")
    assert list(bars.data[0].x) == ["z₁", "z₂"]  # counted from 1, like the maps' axes
    assert list(bars.data[0].marker.color) == ["#bab0ac", "#4e79a7"]  # inactive grey, active blue
    est = estimators.kl_estimates(posterior(), 10, 50, torch.Generator().manual_seed(0))
    hist = kl_estimates_histogram(est.estimates, est.analytic, 10)
    assert [t.name for t in hist.data] == ["MC estimates", "mean of the estimates", "closed form"]
    assert len(hist.layout.shapes) == 2 and hist.layout.shapes[1].x0 == est.analytic
    curve = estimators.kl_error_curve(posterior(), ns=(1, 10), n_repeats=20, generator=torch.Generator().manual_seed(0))
    fig = kl_error_loglog({"one": curve})
    assert fig.layout.xaxis.type == "log" and len(fig.data) == 2
    fig = iwae_vs_k([1, 10], {"m": np.array([100.0, 98.0])}, {"m": 100.0}, reference=97.0, reference_label="card")
    assert [t.name for t in fig.data] == ["m: IWAE", "m: ELBO"]
