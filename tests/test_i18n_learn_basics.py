"""The home page, the 2-D toy VAE and Likelihood & samples in 简体中文: no English sentence left.

The sidebar (model picker) and the Plotly figures drawn by explorer/figures.py are translated by
their own parts: `mine` leaves their text out and checks what these pages' own files show.
"""

from __future__ import annotations

import pytest
from i18n_check import assert_chinese, open_in_chinese

pytestmark = pytest.mark.slow


ok = assert_chinese  # every part is translated now: the whole page, sidebar and figures included


def test_home_in_chinese(monkeypatch, tmp_path):
    at = ok(open_in_chinese("pages/learn/home.py", monkeypatch, tmp_path))
    assert at.title[0].value == "VAE 隐空间探索器"
    assert {m.label for m in at.metric} == {"−ELBO", "重构", "KL（码率）"}
    assert any("张测试图像的落点" in c.value for c in at.caption)
    assert any(r"\text{重构（失真）}" in e.value for e in at.get("latex"))  # the words under the ELBO's terms


# each model shows a caption of its own: a plain autoencoder, a learned prior, a Gaussian decoder, a
# conditional model, a 16-D latent (its map on principal components)
@pytest.mark.parametrize("model, caption", [("mnist-ae-z2", "普通自编码器"), ("mnist-mog-z2", "学习自己的先验"),
                                            ("mnist-z2-gaussian", "高斯解码器的奈特数"), ("mnist-cvae-z2", "条件模型"),
                                            ("mnist-z16", "前两个主成分")])
def test_home_in_chinese_on_other_models(monkeypatch, tmp_path, model, caption):
    at = ok(open_in_chinese("", monkeypatch, tmp_path, model=model))
    assert any(caption in c.value for c in at.caption), [c.value for c in at.caption]
    if model == "mnist-ae-z2":
        assert [m.value for m in at.metric if m.label in ("−ELBO", "KL（码率）")] == ["不适用", "不适用"]


def test_toy_in_chinese_before_and_after_training(monkeypatch, tmp_path):
    at = ok(open_in_chinese("pages/learn/toy.py", monkeypatch, tmp_path))
    assert at.selectbox(key="toy_dataset").value == "blobs"  # the value stays English; its label is translated
    assert "高斯团（4 个簇）" in at.selectbox(key="toy_dataset").options
    at.select_slider(key="toy_epochs").set_value(10).run()
    at.button(key="toy_train").click().run()
    ok(at)
    assert len(at.metric) == 5
    at.radio(key="toy_latent").set_value(1).run()  # settings changed: the warning
    assert at.warning
    at.toggle(key="toy_show_samples").set_value(True).run()
    ok(at)


def test_likelihood_in_chinese_with_and_without_a_gaussian_model(monkeypatch, tmp_path):
    at = ok(open_in_chinese("pages/learn/likelihood.py", monkeypatch, tmp_path))
    assert [m.label for m in at.metric] == ["每张图像的奈特数", "每个像素的奈特数", "每个像素的 MSE"] * 2
    at.selectbox(key="lik_bernoulli").set_value("digits-z2").run()  # no Gaussian digits model: how to train one
    ok(at)
    assert at.code and any("高斯解码器" in i.value for i in at.info)
