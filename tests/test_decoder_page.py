"""AppTest coverage for the Decoder page on tiny models (8x8 digits, saved into a temporary user-models dir).

AppTest cannot run the live component's JavaScript (tests/e2e/test_decoder_browser.py does); here we
check what the page sends it, and drive the server-side sliders, start codes, reseed and tabs.
"""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

import vae
from apptest import select_model
from explorer.browser_decoder import decode_with_spec
from tests.data_root import require_shipped_model

pytestmark = pytest.mark.slow

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TINY = {
    "tiny-z2": dict(latent_dim=2),
    "tiny-z16": dict(latent_dim=16),
    "tiny-conv": dict(latent_dim=2, arch="conv", hidden_dims=(4, 8)),
    "tiny-z1": dict(latent_dim=1),
    "tiny-cvae": dict(latent_dim=2, n_classes=10),
}


@pytest.fixture(scope="module")
def user_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("user-models")
    for i, (name, kw) in enumerate(TINY.items()):
        cfg = vae.VAEConfig(input_shape=(1, 8, 8), **({"hidden_dims": (32,)} | kw))
        torch.manual_seed(i)
        model = vae.VAE(cfg)
        with torch.no_grad():  # livelier than the default init, so images differ visibly
            for p in model.decoder.parameters():
                p.mul_(4.0)
        vae.save_model(model, root / name, vae.ModelCard.new(cfg, "digits"))
    return root


def open_decoder(user_models, monkeypatch, name: str) -> AppTest:
    monkeypatch.setenv("VAE_USER_MODELS_DIR", str(user_models))
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    select_model(at, name)
    at.switch_page("pages/explore/decoder.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["selected"].entry.name == name and at.sidebar.selectbox(key="model_picker")
    return at


def component_data(at: AppTest) -> dict | None:
    found = [el for el in at.get("bidi_component") if el.proto.component_name == "vae_explorer_live_decoder"]
    return json.loads(found[0].proto.json) if found else None


# Media URLs are content hashes of the image bytes: a new URL means new pixels.
def image_urls(at: AppTest) -> list[str]:
    return [img.url for el in at.get("image") for img in el.proto.imgs]


def server_image_url(at: AppTest) -> str:
    return next(img.url for el in at.get("image") for img in el.proto.imgs if img.caption.startswith("decoded on the server"))


def test_live_decoder_gets_weights_points_and_the_code(user_models, monkeypatch):
    at = open_decoder(user_models, monkeypatch, "tiny-z2")
    data = component_data(at)
    assert data is not None and data["pad"] is True and data["dims"] == [0, 1]
    assert data["z"] == [0.0, 0.0] and len(data["colours"]) == 10 and data["class_names"][3] == "3"
    assert data["points"]["n"] == 360  # the digits test split
    model, _ = vae.load_model(user_models / "tiny-z2")
    z = torch.tensor([[0.5, -1.0]])
    np.testing.assert_allclose(decode_with_spec(data["spec"], z), model.generate(z).detach().numpy(), atol=1e-5)
    assert not at.toggle(key="dec_server").value and not at.toggle(key="dec_server").disabled
    assert at.session_state["dec_z"] == [0.0, 0.0]


def test_server_side_slider_redraws_the_image(user_models, monkeypatch):
    at = open_decoder(user_models, monkeypatch, "tiny-z2")
    at.toggle(key="dec_server").set_value(True).run()
    assert component_data(at) is None
    sliders = [s for s in at.slider if s.key and s.key.startswith("dec_srv_")]
    assert [s.label for s in sliders] == ["z₁", "z₂"]  # 1-based, as in the rest of the app
    before = server_image_url(at)
    sliders[0].set_value(2.5).run()
    assert not at.exception
    assert at.session_state["dec_z"] == [2.5, 0.0]
    assert server_image_url(at) != before
    assert "+2.50" in at.code[0].value


def test_conv_model_is_decoded_live_in_the_browser_too(user_models, monkeypatch):
    at = open_decoder(user_models, monkeypatch, "tiny-conv")
    data = component_data(at)
    assert data is not None and data["pad"] is True and data["dims"] == [0, 1]
    assert [layer["type"] for layer in data["spec"]["layers"]] == ["linear", "linear", "conv_transpose2d", "conv_transpose2d"]
    model, _ = vae.load_model(user_models / "tiny-conv")
    z = torch.tensor([[0.5, -1.0], [-2.0, 1.5]])
    np.testing.assert_allclose(decode_with_spec(data["spec"], z), model.generate(z).detach().numpy(), atol=1e-5)
    assert not at.toggle(key="dec_server").disabled


def test_a_decoder_the_browser_cannot_run_falls_back_to_server_sliders(user_models, monkeypatch):
    monkeypatch.setattr("explorer.browser_decoder.supports_live_decoding", lambda model: False)
    at = open_decoder(user_models, monkeypatch, "tiny-conv")
    assert component_data(at) is None
    toggle = at.toggle(key="dec_server_only")
    assert toggle.value and toggle.disabled
    before = server_image_url(at)
    next(s for s in at.slider if s.key and s.key.startswith("dec_srv_") and s.label == "z₂").set_value(-2.0).run()
    assert at.session_state["dec_z"] == [0.0, -2.0] and server_image_url(at) != before


def test_start_from_a_test_image_pick_another_and_reset(user_models, monkeypatch):
    at = open_decoder(user_models, monkeypatch, "tiny-z2")
    token = at.session_state["dec_token"]
    at.segmented_control(key="dec_start").set_value("A test image").run()
    first = at.session_state["dec_z"]
    assert first != [0.0, 0.0] and component_data(at)["z"] == first
    assert component_data(at)["token"] > token  # tells the browser to jump to the new code
    at.button(key="dec_pick_btn").click().run()
    second = at.session_state["dec_z"]
    assert at.session_state["dec_pick"] == 1 and second != first
    at.toggle(key="dec_server").set_value(True).run()
    next(s for s in at.slider if s.key and s.key.startswith("dec_srv_")).set_value(-3.0).run()
    assert at.session_state["dec_z"][0] == -3.0
    at.button(key="dec_reset").click().run()
    assert at.session_state["dec_z"] == second  # back to the picked test image's code
    assert not at.exception


def test_reseed_changes_the_prior_samples(user_models, monkeypatch):
    at = open_decoder(user_models, monkeypatch, "tiny-z2")
    before = set(image_urls(at))
    at.button(key="dec_reseed").click().run()
    assert at.session_state["dec_prior_seed"] == 1
    after = set(image_urls(at))
    assert len(after - before) == 1  # only the prior grid changed
    assert not at.exception


def test_large_latent_gets_eight_sliders_and_a_dims_choice(user_models, monkeypatch):
    at = open_decoder(user_models, monkeypatch, "tiny-z16")
    assert at.multiselect(key="dec_dims").value == list(range(8))
    data = component_data(at)
    assert data["dims"] == list(range(8)) and data["pad"] is False and data["points"] is None
    at.multiselect(key="dec_dims").set_value([3, 12]).run()
    assert component_data(at)["dims"] == [3, 12]
    assert at.selectbox(key="dec_man_x").value == 3 and at.selectbox(key="dec_man_y").value == 12
    at.toggle(key="dec_server").set_value(True).run()
    assert [s.label for s in at.slider if s.key and s.key.startswith("dec_srv_")] == ["z₄", "z₁₃"]
    at.segmented_control(key="dec_start").set_value("A test image").run()
    start = at.session_state["dec_z"]
    next(s for s in at.slider if s.key and s.key.startswith("dec_srv_") and s.label == "z₄").set_value(2.5).run()
    assert at.session_state["dec_z"][3] == 2.5
    at.multiselect(key="dec_dims").set_value([0, 1]).run()  # z₄ loses its slider: back to the start code
    assert at.session_state["dec_z"] == start
    assert [s.label for s in at.slider if s.key and s.key.startswith("dec_srv_")] == ["z₁", "z₂"]
    assert not at.exception


def test_coming_back_to_the_decoder_keeps_its_settings(user_models, monkeypatch):
    """Leaving the Decoder drops its widgets' keys; coming back must neither crash nor forget them."""
    at = open_decoder(user_models, monkeypatch, "tiny-z2")
    at.segmented_control(key="dec_start").set_value("A test image").run()
    z_before = list(at.session_state["dec_z"])
    for other in ("pages/explore/latent_map.py", "pages/learn/home.py"):
        at.switch_page(other).run()
        assert not at.exception, [e.value for e in at.exception]
        at.switch_page("pages/explore/decoder.py").run()
        assert not at.exception, [e.value for e in at.exception]
        assert at.segmented_control(key="dec_start").value == "A test image"
        assert at.session_state["dec_z"] == z_before


def test_the_prior_tab_says_how_many_codes_it_decodes(user_models, monkeypatch):
    at = open_decoder(user_models, monkeypatch, "tiny-z2")
    assert any(c.value.startswith("64 codes drawn from the prior") for c in at.caption)
    at = open_decoder(user_models, monkeypatch, "tiny-cvae")
    captions = [c.value for c in at.caption if "codes drawn from" in c.value]
    assert len(captions) == 1 and captions[0].startswith("60 codes drawn from the prior")  # 6 rows of 10 digits
    assert "one column of 6 per digit" in captions[0]


def test_a_one_dimensional_latent_gets_one_slider_and_no_manifold(user_models, monkeypatch):
    at = open_decoder(user_models, monkeypatch, "tiny-z1")
    assert component_data(at)["dims"] == [0] and at.session_state["dec_z"] == [0.0]
    assert any("one-dimensional" in i.value for i in at.info)
    at.toggle(key="dec_server").set_value(True).run()
    (slider,) = [s for s in at.slider if s.key and s.key.startswith("dec_srv_")]
    slider.set_value(1.25).run()
    assert not at.exception and at.session_state["dec_z"] == [1.25]


# --- issue 13: one numbering, a reach sized to the codes, inactive dimensions, the manifold's box ---------

SHIPPED = ["mnist-z2", "mnist-z16", "fashion-z2", "digits-z2", "mnist-z2-beta0.5", "mnist-z2-beta4",
           "mnist-z2-gaussian", "mnist-cvae-z2", "mnist-mog-z2", "mnist-ae-z2", "mnist-conv-z2", "mnist-conv-z16"]
MODELS = Path(__file__).resolve().parent.parent / "models"


def server_sliders(at: AppTest) -> list:
    return [s for s in at.slider if s.key and s.key.startswith("dec_srv_")]


def test_dimensions_are_numbered_from_one_and_every_class_is_drawn_to_the_end(user_models, monkeypatch):
    at = open_decoder(user_models, monkeypatch, "tiny-z2")
    data = component_data(at)
    axes = data["axes"]
    assert axes["names"] == ["z₁", "z₂"] and axes["inactive"] == [False, False]
    assert axes["reach"][0] == axes["reach"][1] >= 3 and axes["pad_extent"] > axes["reach"][0]
    labels = data["points"]["labels"]
    assert set(labels[-len(labels) // 10:]) == set(range(10))  # the last dots drawn include every digit
    assert any(c.value.startswith(f"The sliders reach ±{axes['reach'][0]:g}") for c in at.caption)
    assert any("z₁ grows left to right, z₂ bottom to top" in m.value for m in at.markdown)


def test_a_mixture_prior_model_s_sliders_reach_its_far_codes_and_the_manifold_says_when_z_is_off_it(
        user_models, monkeypatch):
    require_shipped_model(MODELS / "mnist-mog-z2")
    at = open_decoder(user_models, monkeypatch, "mnist-mog-z2")
    axes = component_data(at)["axes"]
    reach = axes["reach"][0]
    assert reach > 3 and axes["reach"] == [reach, reach]  # a quarter of its test codes lie beyond ±3
    at.toggle(key="dec_server").set_value(True).run()
    sliders = server_sliders(at)
    assert [(s.label, s.min, s.max) for s in sliders] == [("z₁", -reach, reach), ("z₂", -reach, reach)]
    assert any("red box" in m.value for m in at.markdown)
    sliders[0].set_value(reach - 1).run()
    assert at.session_state["dec_z"][0] == reach - 1
    assert not any("red box" in m.value for m in at.markdown)  # no box on a corner cell z is nowhere near
    (note,) = [c.value for c in at.caption if c.value.startswith("z is outside the grid shown")]
    assert f"(±1.64): z₁ = +{reach - 1:.2f}, so no cell is marked" in note
    server_sliders(at)[0].set_value(0.5).run()
    assert any("red box" in m.value for m in at.markdown)
    assert not any(c.value.startswith("z is outside") for c in at.caption)


def test_mnist_z16_marks_its_inactive_dimensions_on_every_slider_and_picker(user_models, monkeypatch):
    require_shipped_model(MODELS / "mnist-z16")
    at = open_decoder(user_models, monkeypatch, "mnist-z16")
    inactive = [k for k, off in enumerate(component_data(at)["axes"]["inactive"]) if off]
    assert inactive == [2, 9, 13, 14, 15]  # KL about 0 nats on the card
    picker = at.multiselect(key="dec_dims")
    assert picker.options[:4] == ["z₁", "z₂", "z₃ · inactive", "z₄"] and "z₁₀ · inactive" in picker.options
    assert "z₁₀ · inactive" in at.selectbox(key="dec_man_x").options
    at.toggle(key="dec_server").set_value(True).run()
    sliders = server_sliders(at)
    assert [s.label for s in sliders] == ["z₁", "z₂", "z₃ · inactive", "z₄", "z₅", "z₆", "z₇", "z₈"]
    assert "KL" in sliders[2].help and not sliders[0].help
    assert all(s.max == 3.0 for s in sliders)  # its codes stay within the prior's ±3


@pytest.mark.parametrize("name", SHIPPED)
def test_the_decoder_opens_and_decodes_on_every_shipped_model(name, user_models, monkeypatch):
    require_shipped_model(MODELS / name)
    at = open_decoder(user_models, monkeypatch, name)
    d = at.session_state["selected"].config.latent_dim
    data = component_data(at)
    assert data is not None and len(data["axes"]["names"]) == d and min(data["axes"]["reach"]) >= 3
    assert (data["points"] is not None) == (d == 2)
    at.toggle(key="dec_server").set_value(True).run()
    first = server_sliders(at)[0]
    assert first.label.startswith("z₁")
    before = server_image_url(at)
    first.set_value(first.max / 2).run()
    assert not at.exception, [e.value for e in at.exception]
    assert server_image_url(at) != before and at.session_state["dec_z"][0] == pytest.approx(first.max / 2)
