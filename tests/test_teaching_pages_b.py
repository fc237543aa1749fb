"""AppTest coverage for the teaching pages: β & rate–distortion (with active units), Likelihood &
samples, KL: exact vs sampled, and Log-likelihood (IWAE), on the shipped models and tiny ones."""

import json
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

import vae
from apptest import select_model as choose_model

pytestmark = pytest.mark.slow

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture
def app(user_dir):
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def ok(at):
    assert not at.exception, [e.value for e in at.exception]
    return at


def open_page(at, page):
    section = "learn" if page in ("home", "toy", "likelihood", "kl") else "explore"
    return ok(at.switch_page(f"pages/{section}/{page}.py").run())


def select_model(at, name):
    return ok(choose_model(at, name))


def tiny_digits_model(user_dir, name, beta=1.0, **config):
    """A small, briefly trained digits model saved with a full card into the user folder."""
    train, test = vae.load_dataset("digits", "train"), vae.load_dataset("digits", "test")
    cfg = vae.VAEConfig(input_shape=(1, 8, 8), latent_dim=2, hidden_dims=(32,), **config)
    tcfg = vae.TrainConfig(epochs=2, batch_size=64, beta=beta, device="cpu")
    torch.manual_seed(0)
    model = vae.VAE(cfg)
    labels = {"train_labels": train.y, "test_labels": test.y} if cfg.conditional else {}
    run = vae.run_training(model, train.x, None, tcfg, train_labels=labels.get("train_labels"))
    vae.save_run(model, user_dir / name, run, "digits", tcfg, len(train), test.x, test_labels=labels.get("test_labels"))


def chart_titles(at):
    return [json.loads(c.proto.spec)["layout"].get("title", {}).get("text", "") for c in at.get("plotly_chart")]


# --- β & rate–distortion --------------------------------------------------------------------------


def test_rate_distortion_page_plots_the_mnist_models_and_their_latent_usage(app):
    at = open_page(app, "rate_distortion")
    assert at.title[0].value == "β & rate–distortion"
    assert at.selectbox(key="rd_dataset").value == "mnist"
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    rd = specs[0]
    labels = [t for trace in rd["data"] for t in (trace.get("text") or [])]
    assert "mnist-z2 · β=1" in labels and "mnist-z16 · β=1" in labels
    assert any(tr.get("name") == "selected model" for tr in rd["data"])
    assert any("−ELBO" in a["text"] for a in rd["layout"]["annotations"])
    titles = chart_titles(at)
    assert "mnist-z2: 2 of 2 active" in titles  # the selected model, and a second mnist model beside it
    assert len(at.get("plotly_chart")) == 3 and at.selectbox(key="rd_compare").value != "mnist-z2"


def test_active_units_of_mnist_z16(app):
    from data_root import data_root

    data_root("mnist")  # the 11-of-16 count is measured on the full MNIST test split
    at = open_page(select_model(app, "mnist-z16"), "rate_distortion")
    assert "mnist-z16: 11 of 16 active" in chart_titles(at)


def start_sweep(at, betas, epochs):
    at.multiselect(key="rd_sweep_betas").set_value(betas)
    at.slider(key="rd_sweep_epochs").set_value(epochs)
    ok(at.button(key="rd_sweep_run").click().run())
    return at.session_state["rd_sweep_job"]


def sweep_labels(at):
    rd = json.loads(at.get("plotly_chart")[0].proto.spec)
    return next((tr["text"] for tr in rd["data"] if tr.get("name") == "β sweep"), [])


def test_beta_sweep_trains_in_the_background_and_adds_its_saved_models(app, user_dir):
    at = open_page(app, "rate_distortion")
    job = start_sweep(at, [4.0, 0.5], 10)
    # The page comes back at once: a progress bar and a Stop button while the job trains.
    assert at.button(key="rd_sweep_stop") and at.button(key="rd_sweep_run").disabled
    assert "Model 1 of 2 (β = 0.5)" in at.get("progress")[0].proto.text
    assert job.join(180), job.snapshot().message
    ok(at.run())  # AppTest does not run `run_every` fragments by itself: a full run sees the end
    assert at.session_state["rd_sweep_announced"] and not at.get("progress")
    assert at.selectbox(key="rd_dataset").value == "digits"  # the plot moved to the sweep's dataset
    assert sweep_labels(at) == ["digits-sweep-beta0.5 · β=0.5", "digits-sweep-beta4 · β=4"]
    (done,) = at.success
    assert "β sweep finished in" in done.value and "trained 2 models" in done.value
    assert all((user_dir / f"digits-sweep-beta{b}" / "card.json").exists() for b in ("0.5", "4"))
    picker = at.sidebar.selectbox(key="model_picker").options
    assert any(o.startswith("digits-sweep-beta4 ·") for o in picker)
    assert not at.button(key="rd_sweep_run").disabled  # ready for another sweep


def test_stop_ends_the_sweep_keeping_the_model_in_training_and_skipping_the_rest(app, user_dir):
    at = open_page(app, "rate_distortion")
    job = start_sweep(at, [0.5, 4.0], 100)
    while not job.snapshot().history:  # let one epoch finish so there is something to keep
        assert not job.join(0.1), job.snapshot().message
    ok(at.button(key="rd_sweep_stop").click().run())
    assert job.join(180)
    ok(at.run())
    (stopped,) = at.warning
    assert "saved 1 of 2 models (digits-sweep-beta0.5)" in stopped.value and "skipped digits-sweep-beta4" in stopped.value
    assert vae.load_card(user_dir / "digits-sweep-beta0.5").status == "stopped"
    assert not (user_dir / "digits-sweep-beta4").exists()
    assert sweep_labels(at) == ["digits-sweep-beta0.5 · β=0.5"]


def test_rate_distortion_leaves_out_conditional_models_and_compares_the_strongest_beta(app, user_dir):
    tiny_digits_model(user_dir, "tiny-cvae", n_classes=10)
    tiny_digits_model(user_dir, "tiny-beta3", beta=3.0)
    at = open_page(select_model(app, "digits-z2"), "rate_distortion")
    assert at.selectbox(key="rd_dataset").value == "digits"
    assert any("tiny-cvae" in c.value and "conditional" in c.value for c in at.caption)
    assert at.selectbox(key="rd_compare").value == "tiny-beta3"
    assert any(t.startswith("tiny-beta3:") for t in chart_titles(at))


# --- Likelihood & samples ------------------------------------------------------------------------


def test_likelihood_page_without_a_gaussian_model_says_how_to_train_one(app):
    at = open_page(app, "likelihood")
    assert at.title[0].value == "Likelihood & samples"
    assert len(at.latex) == 2
    at.selectbox(key="lik_bernoulli").set_value("digits-z2")
    ok(at.run())
    assert not any(s.key == "lik_gaussian" for s in at.selectbox)  # no Gaussian digits model to pick
    code = [c.value for c in at.code]
    assert any("--likelihood gaussian" in c and "--dataset digits" in c for c in code)
    labels = [m.label for m in at.metric]
    assert labels == ["Nats per image", "Nats per pixel", "MSE per pixel"]  # the Bernoulli column alone


def test_likelihood_page_compares_bernoulli_and_gaussian_decoders(app, user_dir):
    tiny_digits_model(user_dir, "tiny-gauss", likelihood="gaussian")
    at = ok(app.run())
    at = open_page(at, "likelihood")
    at.selectbox(key="lik_bernoulli").set_value("digits-z2")
    ok(at.run())
    assert at.selectbox(key="lik_gaussian").value == "tiny-gauss"
    metrics = [(m.label, m.value) for m in at.metric]
    assert [label for label, _ in metrics] == ["Nats per image", "Nats per pixel", "MSE per pixel"] * 2
    gauss_nats = float(metrics[3][1].split()[0])
    assert float(metrics[4][1].split()[0]) == pytest.approx(gauss_nats / 64, abs=1e-3)
    assert any("1/√(2π)" in c.value for c in at.caption)  # the Gaussian's constant, spelled out
    assert len(at.get("image")) == 2  # one panel (inputs, means, samples) per decoder
    assert not at.code  # nothing to train
    before = at.get("image")[0].proto
    at.number_input(key="lik_seed").set_value(3)
    ok(at.run())
    assert at.get("image")[0].proto != before


# --- KL: exact vs sampled --------------------------------------------------------------------------


def test_kl_page_estimates_converge_to_the_closed_form(app):
    at = open_page(select_model(app, "digits-z2"), "kl")
    assert at.title[0].value == "KL: exact vs sampled"
    at.select_slider(key="kl_n").set_value(1000)
    at.number_input(key="kl_row").set_value(5)
    ok(at.run())
    metrics = {}
    for m in at.metric:  # values are bare numbers (the unit is in the label or its help): "7.106", "±0.337"
        metrics.setdefault(m.label, []).append(float(m.value.lstrip("±")))
    exact, mean, spread = (metrics["Closed form (nats)"][0], metrics["Mean of the estimates"][0],
                           metrics["Spread of one estimate"][0])
    assert abs(mean - exact) < 4 * spread / 300**0.5 + 1e-3
    assert spread < 0.2  # 1,000 samples: a tight estimate
    assert len(at.get("plotly_chart")) == 3
    assert sum("slope" in md.value for md in at.markdown) == 2


def test_kl_page_refuses_a_learned_prior(app, user_dir):
    tiny_digits_model(user_dir, "tiny-mog", prior="mog", prior_components=3)
    at = open_page(select_model(ok(app.run()), "tiny-mog"), "kl")
    assert any("learned mixture prior" in i.value for i in at.info)
    assert not at.get("plotly_chart")


# --- Log-likelihood (IWAE) -------------------------------------------------------------------------


def test_loglik_page_shows_bounds_tightening_with_k(app):
    at = open_page(select_model(app, "digits-z2"), "loglik")
    assert at.title[0].value == "Log-likelihood (IWAE)"
    metrics = {m.label: m.value for m in at.metric}
    neg_elbo = float(metrics["−ELBO (nats)"])
    nll = float(metrics["−log p(x), IWAE k=1000"])
    assert nll <= neg_elbo + 0.05 and 5 < nll < 60
    table = at.dataframe[0].value
    assert list(table["k"]) == [1, 10, 100, 1000]
    assert (table["−L_k (nats)"].diff().dropna() <= 0.05).all()  # non-increasing -L_k, up to sampling noise
    at.multiselect(key="ll_ks").set_value([1, 10])
    at.slider(key="ll_subset").set_value(30)
    ok(at.run())
    assert list(at.dataframe[0].value["k"]) == [1, 10]
    at.multiselect(key="ll_ks").set_value([])
    ok(at.run())
    assert any("at least one k" in i.value for i in at.info)


def test_loglik_page_works_for_a_conditional_model(app, user_dir):
    tiny_digits_model(user_dir, "tiny-cvae", n_classes=10)
    at = open_page(select_model(ok(app.run()), "tiny-cvae"), "loglik")
    assert "−log p(x), IWAE k=1000" in {m.label for m in at.metric}
