"""AppTest coverage for what the conditional VAE and the prior bring to the pages.

A tiny conditional model (8x8 digits) lives in a temporary user-models dir; the latent map's
prior/holes overlay runs on the shipped mnist-z2 (MNIST or its offline sample).
"""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

import vae
from explorer.browser_decoder import decode_with_spec
from explorer import browser_decoder
from apptest import select_model

pytestmark = pytest.mark.slow

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture(scope="module")
def user_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("user-models")
    cfg = vae.VAEConfig(input_shape=(1, 8, 8), latent_dim=2, hidden_dims=(32,), n_classes=10)
    torch.manual_seed(0)
    model = vae.VAE(cfg)
    with torch.no_grad():
        for p in model.decoder.parameters():
            p.mul_(4.0)  # livelier than the default init, so the ten digits differ visibly
    vae.save_model(model, root / "tiny-cvae", vae.ModelCard.new(cfg, "digits"))
    return root


def open_page(monkeypatch, user_models, page: str, model: str) -> AppTest:
    monkeypatch.setenv("VAE_USER_MODELS_DIR", str(user_models))
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    select_model(at, model)
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def image_urls(at):
    return [img.url for el in at.get("image") for img in el.proto.imgs]


def live_spec(at):
    found = [el for el in at.get("bidi_component") if el.proto.component_name == "vae_explorer_live_decoder"]
    return json.loads(found[0].proto.json) if found else None


def test_decoder_page_of_a_conditional_model_picks_the_digit_and_shows_one_style_for_all(monkeypatch, user_models):
    at = open_page(monkeypatch, user_models, "pages/explore/decoder.py", "tiny-cvae")
    digit = at.get("button_group")[0]
    assert "Digit" in digit.proto.label and len(digit.proto.options) == 10
    assert live_spec(at)["label"] == 0 and live_spec(at)["spec"]["label_biases"]["n"] == 10
    model = at.session_state["selected"].model
    before = image_urls(at)
    at.session_state["dec_label"] = 7
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert image_urls(at) != before  # the manifold grid is drawn as a 7 now
    assert live_spec(at)["label"] == 7
    # The server-side decode of the chosen digit matches the model given that label.
    at.toggle(key="dec_server").set_value(True).run()
    assert any("same style" in str(el.proto).lower() for el in at.get("image"))  # the server draws the row
    at.slider(key=[s.key for s in at.slider if s.key.startswith("dec_srv_")][0]).set_value(1.5).run()
    assert not at.exception
    z = at.session_state["dec_z"]
    assert z[0] == pytest.approx(1.5)
    spec = browser_decoder.decoder_spec(model, label=7)
    expected = model.generate(torch.tensor([z]), torch.tensor([7]))[0, 0].numpy()
    np.testing.assert_allclose(decode_with_spec(spec, np.array([z]))[0, 0], expected, atol=1e-5)


def test_reconstructions_and_latent_map_accept_a_conditional_model(monkeypatch, user_models):
    at = open_page(monkeypatch, user_models, "pages/explore/reconstruct.py", "tiny-cvae")
    assert at.selectbox(key="recon_user_label") is not None
    assert len(image_urls(at)) >= 16
    at.switch_page("pages/explore/latent_map.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("conditional" in i.value for i in at.info)


def test_latent_map_overlays_the_prior_and_decodes_its_holes(monkeypatch, user_models):
    at = open_page(monkeypatch, user_models, "pages/explore/latent_map.py", "mnist-z2")
    n_before = len(image_urls(at))
    at.toggle(key="map_holes").set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    text = " ".join(m.value for m in at.markdown)
    assert "Holes" in text and "probability" in text
    mass = float(text.split("probability **")[1].split("%")[0])
    assert 0 < mass < 100
    fig = json.loads(at.get("plotly_chart")[0].proto.spec)
    names = [t.get("name") for t in fig["data"]]
    assert "prior p(z)" in names and "holes" in names
    assert fig["data"][0]["type"] == "heatmap" and names[0] == "holes"  # the shading beneath the points...
    last_point = max(i for i, t in enumerate(fig["data"]) if "customdata" in t)
    assert names.index("prior p(z)") > last_point  # ...the prior's contours (WebGL lines) over them
    points = [t for t in fig["data"] if "customdata" in t]
    assert {t["name"] for t in points} == {str(i) for i in range(10)}
    assert all(t["marker"]["opacity"] >= 0.6 for t in points)  # the points keep readable colours
    assert len(image_urls(at)) > n_before  # the decoded holes
