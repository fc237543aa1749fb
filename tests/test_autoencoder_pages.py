"""Every page on a plain autoencoder (tiny 8x8 models in a temporary user-models folder): it opens,
or says why it does not apply; and the Latent map's VAE-vs-autoencoder comparison."""

from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

import vae
from explorer import kl_comparison as kc
from apptest import PAGE_FILES, select_model

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
PAGES = sorted(PAGE_FILES)
NOT_FOR_AN_AUTOENCODER = {"pages/learn/kl.py", "pages/explore/loglik.py", "pages/learn/inference.py",
                          "pages/learn/reparameterisation.py", "pages/explore/rate_distortion.py"}
SAYS_WHY = "is a plain autoencoder"


@pytest.fixture(scope="module")
def user_models(tmp_path_factory):
    """A tiny VAE and its autoencoder twin (same layers, no KL), trained a little on random 8x8 images."""
    root = tmp_path_factory.mktemp("user-models")
    x = torch.rand(256, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    for name, variational in (("tiny-vae", True), ("tiny-ae", False)):
        cfg = vae.VAEConfig(input_shape=(1, 8, 8), latent_dim=2, hidden_dims=(32,), variational=variational)
        model = vae.build_model(cfg, seed=1)
        tcfg = vae.TrainConfig(epochs=2, batch_size=64, device="cpu")
        history = vae.fit(model, x, None, tcfg).history
        vae.save_model(model.eval(), root / name, vae.ModelCard.new(cfg, "digits", train_config=tcfg, history=tuple(history)))
    return root


def open_app(user_models, monkeypatch, name: str) -> AppTest:
    monkeypatch.setenv("VAE_USER_MODELS_DIR", str(user_models))
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    select_model(at, name)
    return at


def test_every_page_opens_on_an_autoencoder_or_says_why_it_does_not_apply(user_models, monkeypatch):
    at = open_app(user_models, monkeypatch, "tiny-ae")
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception, (page, [e.value for e in at.exception])
        assert at.session_state["selected"].entry.name == "tiny-ae", page
        says_why = [i.value for i in at.info if SAYS_WHY in i.value]
        assert bool(says_why) == (page in NOT_FOR_AN_AUTOENCODER), (page, says_why)
    at.switch_page("pages/learn/home.py").run()
    assert [m.value for m in at.metric if m.label in ("−ELBO", "KL (rate)")] == ["n/a", "n/a"]
    at.switch_page("pages/explore/anomaly.py").run()
    assert any("plain autoencoder" in c.value for c in at.caption)


def test_the_same_pages_still_work_on_the_vae_twin(user_models, monkeypatch):
    at = open_app(user_models, monkeypatch, "tiny-vae")
    for page in sorted(NOT_FOR_AN_AUTOENCODER):
        at.switch_page(page).run()
        assert not at.exception, (page, [e.value for e in at.exception])
        assert not [i.value for i in at.info if SAYS_WHY in i.value], page


def test_the_latent_map_compares_the_vae_with_its_autoencoder_twin(user_models, monkeypatch):
    at = open_app(user_models, monkeypatch, "tiny-ae")
    at.switch_page("pages/explore/latent_map.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert [c.key for c in at.get("plotly_chart")] == ["latent_scatter"]  # lazy tabs: the map tab alone runs
    at.session_state["map_section"] = "What the KL buys"  # the second tab, as a click on it sets it
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert "What the KL buys: VAE vs plain autoencoder" in [h.value for h in at.header]
    assert [c.key for c in at.get("plotly_chart")] == ["kl_map_vae", "kl_map_ae"]  # the two compared, not the map
    # The numbers quoted are the ones measured on the two models' test codes, not typed in.
    split = vae.load_dataset("digits", "test")
    spreads, recon = {}, {}
    for name in ("tiny-vae", "tiny-ae"):
        model, _ = vae.load_model(user_models / name)
        spreads[name] = kc.code_spread(vae.encode_dataset(model, split.x).mu.numpy(), split.y.numpy(), 10)
        recon[name] = vae.evaluate(model, split.x)["recon"]
    text = " ".join(m.value for m in at.markdown)
    assert kc.summary(("tiny-vae", "tiny-ae"), (spreads["tiny-vae"], spreads["tiny-ae"]),
                      (recon["tiny-vae"], recon["tiny-ae"]), split.class_names) in text
    captions = [c.value for c in at.caption]
    for s in spreads.values():
        assert any(c.startswith(f"{s.inside_2sigma:.0%} of the test codes inside 2σ · 99% within radius "
                                f"{s.radius_99:.1f} · {s.prior_far:.0%} of N(0, I) draws") for c in captions)

    at.session_state["map_section"] = "The map"
    at.run()
    at.toggle(key="map_holes").set_value(True).run()  # prior & holes on the autoencoder's point codes
    assert not at.exception, [e.value for e in at.exception]
    assert any("point codes" in m.value for m in at.markdown)
    assert at.toggle(key="map_ellipses").disabled  # no posterior ellipses to draw


def test_the_decoder_s_prior_samples_point_an_autoencoder_to_the_comparison(user_models, monkeypatch):
    at = open_app(user_models, monkeypatch, "tiny-ae")
    at.switch_page("pages/explore/decoder.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("never trained to put its codes" in c.value for c in at.caption)
