"""The Decoder page in 简体中文: no English left in what it shows, in its main states, on tiny models
(8x8 digits, saved into the test's user-models folder): the live decoder (and the texts its JavaScript
writes), a test image's start code, the server-side sliders; a 16-D latent with inactive dimensions and
the "every dimension" tab; a conditional model; a 1-D latent; a plain autoencoder; a decoder the browser
cannot run."""

from __future__ import annotations

import json

import pytest
import torch
from apptest import select_model

import vae
from tests.i18n_check import assert_chinese, english_sentences, image_captions, open_in_chinese

pytestmark = pytest.mark.slow

PAGE = "pages/explore/decoder.py"
TINY = {
    "tiny-z2": {"latent_dim": 2},
    "tiny-z16": {"latent_dim": 16},
    "tiny-cvae": {"latent_dim": 2, "n_classes": 10},
    "tiny-z1": {"latent_dim": 1},
    "tiny-ae": {"latent_dim": 2, "variational": False},
}
INACTIVE = (2, 9)  # tiny-z16's card says these dimensions carry about 0 nats


def save_tiny_models(root) -> None:
    for i, (name, kw) in enumerate(TINY.items()):
        cfg = vae.VAEConfig(input_shape=(1, 8, 8), hidden_dims=(32,), **kw)
        torch.manual_seed(i)
        metrics = None
        if cfg.latent_dim == 16:
            kl = tuple(0.001 if k in INACTIVE else 1.0 + k / 10 for k in range(16))
            metrics = vae.Metrics(neg_elbo=30.0, recon=25.0, kl=sum(kl), kl_per_dim=kl)
        vae.save_model(vae.VAE(cfg), root / name, vae.ModelCard.new(cfg, "digits", metrics=metrics))


def open_decoder(monkeypatch, tmp_path, model: str):
    save_tiny_models(tmp_path / "user-models")
    at = open_in_chinese(PAGE, monkeypatch, tmp_path, model)
    assert not at.exception, [e.value for e in at.exception]
    return at


def live_texts(at) -> dict | None:
    found = [el for el in at.get("bidi_component") if el.proto.component_name == "vae_explorer_live_decoder"]
    return json.loads(found[0].proto.json)["texts"] if found else None


def test_the_decoder_of_a_2_d_model_in_chinese(monkeypatch, tmp_path):
    at = open_decoder(monkeypatch, tmp_path, "tiny-z2")
    assert_chinese(at)
    texts = live_texts(at)  # what the live component's JavaScript writes
    assert texts["loading"] == "正在加载解码器…" and "{ms}" in texts["caption"]
    assert not [t for t in texts.values() if english_sentences(t)], texts
    assert at.segmented_control(key="dec_start").options == ["原点", "一张测试图像"]
    # The label, as the browser sends it (AppTest formats a value outside the page's run: in English).
    at.segmented_control(key="dec_start").set_value("一张测试图像").run()
    assert at.session_state["dec_start"] == "A test image"  # the value stays English
    assert any(c.value.startswith("从测试图像 #") for c in at.caption)
    at.toggle(key="dec_server").set_value(True).run()
    assert_chinese(at)
    assert "在服务器上解码（松开滑块时更新）" in image_captions(at)


def test_the_decoder_of_other_models_in_chinese(monkeypatch, tmp_path):
    at = open_decoder(monkeypatch, tmp_path, "tiny-z16")
    assert_chinese(at)
    assert "z₃ · 不活跃" in at.multiselect(key="dec_dims").options
    at.toggle(key="dec_server").set_value(True).run()
    assert_chinese(at)  # the sliders, with the inactive ones' help
    for model in ("tiny-cvae", "tiny-z1", "tiny-ae"):
        select_model(at, model)
        assert_chinese(at)
        if model == "tiny-cvae":  # the server draws the "same style" row, with its caption
            assert any(c.startswith("同一风格 z = [") for c in image_captions(at)), image_captions(at)
    monkeypatch.setattr("explorer.browser_decoder.supports_live_decoding", lambda model: False)
    select_model(at, "tiny-z2")
    assert at.toggle(key="dec_server_only").disabled
    assert_chinese(at)
