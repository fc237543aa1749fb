"""The Reconstructions, Anomalies and Log-likelihood (IWAE) pages in 简体中文: no English left in what they
show, in their main states, on tiny models (8x8 digits, saved into the test's user-models folder): a VAE,
a plain autoencoder, a conditional VAE, a Gaussian decoder and a mixture prior; a drawing on the
Reconstructions page (the pad stubbed: AppTest cannot draw), a blank one, the anomaly score choice; and the
messages about unusable uploads, which the pages show as they are."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import vae
from explorer import i18n
from explorer.anomaly import SCORE_METHODS, anomaly_groups, group_label, score_method_text, score_notes
from explorer.uploads import read_upload
from tests.i18n_check import assert_chinese, english_sentences, open_in_chinese

pytestmark = pytest.mark.slow

TINY = {
    "tiny-z2": dict(latent_dim=2),
    "tiny-ae": dict(latent_dim=2, variational=False),
    "tiny-cvae": dict(latent_dim=2, n_classes=10),
    "tiny-gauss": dict(latent_dim=2, likelihood="gaussian"),
    "tiny-mog": dict(latent_dim=2, prior="mog"),
}
# A paper title stays in its language (locales/GLOSSARY.md); tests/i18n_check.py's ALLOWED lacks this one.
TITLES = ("Do Deep Generative Models Know What They Don't Know",)


def save_tiny_models(root) -> None:
    for i, (name, kw) in enumerate(TINY.items()):
        cfg = vae.VAEConfig(input_shape=(1, 8, 8), hidden_dims=(32,), **kw)
        torch.manual_seed(i)
        metrics = vae.Metrics(neg_elbo=30.0, recon=25.0, kl=5.0, n_images=360, iwae_nll=29.0, iwae_k=1000)
        vae.save_model(vae.VAE(cfg), root / name, vae.ModelCard.new(cfg, "digits", metrics=metrics))


def open_page(page: str, monkeypatch, tmp_path, model: str):
    save_tiny_models(tmp_path / "user-models")
    at = open_in_chinese(page, monkeypatch, tmp_path, model)
    assert not at.exception, [e.value for e in at.exception]
    return at


def rerun(at) -> None:
    """Run the page again. AppTest formats each radio's value with the page's format_func outside the page's
    run, where the language is English: the value would not be among the (Chinese) options."""
    with i18n.speaking("zh"):
        at.run()


def drawing(blank: bool = False) -> np.ndarray:
    """RGBA pixels as the drawing pad gives them: a black stroke (a "1") on white."""
    pixels = np.full((280, 280, 4), 255, dtype=np.uint8)
    if not blank:
        pixels[60:220, 125:155, :3] = 0
    return pixels


# ------------------------------------------------------------------ Reconstructions

@pytest.mark.parametrize("model", ["tiny-z2", "tiny-ae", "tiny-gauss"])
def test_reconstructions_in_chinese_with_a_drawing(model, monkeypatch, tmp_path):
    import pages.ui.widgets

    monkeypatch.setattr(pages.ui.widgets, "drawing_pad_ui", lambda key, size=280: drawing())
    at = open_page("pages/explore/reconstruct.py", monkeypatch, tmp_path, model)
    assert_chinese(at)
    assert [t.label for t in at.tabs] == ["测试图像", "上传你的数字", "手绘数字"]
    assert at.radio(key="recon_mode").options[0] == "z = μ 处的解码器均值（通常所说的“重构”）"
    shown = " ".join(m.value for m in at.markdown)
    assert "**你的手绘**" in shown and ("−ELBO **" if model != "tiny-ae" else "重构 **") in shown
    assert "user_codes" in at.session_state and "your drawing" in next(iter(at.session_state["user_codes"].values()))
    if model == "tiny-gauss":
        assert any("高斯解码器的奈特数" in c.value for c in at.caption)
    at.session_state["recon_mode"] = "x-sample"
    rerun(at)
    assert_chinese(at)


def test_reconstructions_of_a_conditional_model_and_a_blank_drawing_in_chinese(monkeypatch, tmp_path):
    import pages.ui.widgets

    monkeypatch.setattr(pages.ui.widgets, "drawing_pad_ui", lambda key, size=280: drawing(blank=True))
    at = open_page("pages/explore/reconstruct.py", monkeypatch, tmp_path, "tiny-cvae")
    assert_chinese(at)
    assert at.selectbox(key="recon_user_label").label.startswith("你的数字是")
    assert [e.value for e in at.error] == ["**你的手绘**：没有找到笔迹：图像看起来是空白的"]


# ------------------------------------------------------------------ Anomalies

def test_anomalies_in_chinese(monkeypatch, tmp_path):
    at = open_page("pages/explore/anomaly.py", monkeypatch, tmp_path, "tiny-z2")
    assert_chinese(at)
    assert [m.label for m in at.metric] == ["精确率", "召回率", "误报率", "ROC AUC", "阈值"]
    assert at.radio(key="anomaly_method").value == "mean"  # the value stays the key; its label is translated
    assert list(at.table[1].value.columns) == ["组", "图像数", "分数中位数", "被标记比例", "相对正常组的 ROC AUC"]
    groups = list(at.table[1].value["组"])
    assert groups[0] == "digits 测试图像（正常）" and groups[-2:] == ["均匀噪声", "高斯噪声"]
    at.session_state["anomaly_method"] = "samples"
    rerun(at)
    assert_chinese(at)
    assert any("对 4 次抽取的 z 取平均的 −ELBO" in m.value for m in at.markdown)


@pytest.mark.parametrize("model, note", [("tiny-ae", "普通自编码器"), ("tiny-cvae", "条件模型"), ("tiny-mog", "混合先验")])
def test_anomalies_notes_in_chinese(model, note, monkeypatch, tmp_path):
    at = open_page("pages/explore/anomaly.py", monkeypatch, tmp_path, model)
    assert_chinese(at)
    assert any(note in c.value for c in at.caption)


def test_anomaly_texts_follow_the_language():
    assert SCORE_METHODS["samples"].startswith("−ELBO averaged over 4 draws")  # English: the data
    assert score_method_text("samples") == SCORE_METHODS["samples"] and group_label("uniform noise") == "uniform noise"

    def missing(name):
        raise vae.DatasetUnavailable(f"{name} is not here")

    with i18n.speaking("zh"):
        assert score_method_text("samples").startswith("对 4 次抽取")
        assert group_label("fashion-mnist (not digits)") == "fashion-mnist（非 digits）"
        assert group_label("fashion-mnist (not digits)", short=True) == "fashion-mnist"
        assert group_label("Gaussian noise") == "高斯噪声"
        groups = anomaly_groups(torch.rand(10, 1, 8, 8), "fashion-mnist", (1, 8, 8), 5, load_split=missing)
        assert list(groups.images) == ["uniform noise", "Gaussian noise"]  # the keys stay English
        assert groups.note.startswith("这台机器上没有 mnist")
        model = vae.VAE(vae.VAEConfig(input_shape=(1, 8, 8), hidden_dims=(8,), latent_dim=2, n_classes=3))
        assert score_notes(model, "mean")[0].startswith("条件模型需要标签") and "K = 3" in score_notes(model, "mean")[0]


# ------------------------------------------------------------------ Log-likelihood (IWAE)

def test_log_likelihood_in_chinese(monkeypatch, tmp_path):
    at = open_page("pages/explore/loglik.py", monkeypatch, tmp_path, "tiny-z2")
    assert_chinese(at)
    assert at.metric[1].delta.endswith("（相对 ELBO）")
    at.number_input(key="ll_row").set_value(3).run()
    at.slider(key="ll_subset").set_value(20).run()
    assert_chinese(at)
    at.multiselect(key="ll_ks").set_value([]).run()
    assert_chinese(at)
    assert [i.value for i in at.info] == ["请至少选择一个 k。"]


def test_log_likelihood_says_why_not_for_an_autoencoder_in_chinese(monkeypatch, tmp_path):
    at = open_page("pages/explore/loglik.py", monkeypatch, tmp_path, "tiny-ae")
    assert_chinese(at)
    assert any("没有可供抽取重要性样本的 q(z|x)" in i.value for i in at.info)


# ------------------------------------------------------------------ unusable uploads

@pytest.mark.parametrize("data, chinese", [
    (b"", "文件是空的"),
    (b"hello", "不是 PIL 能读取的图像（支持的格式："),
    (b'<svg xmlns="http://www.w3.org/2000/svg"><text>7</text></svg>', "SVG 是矢量图"),
    (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(100), "这里无法读取 HEIC/HEIF 照片"),
    (b"%PDF-1.7\n1 0 obj", "这是 PDF 文档"),
])
def test_upload_problems_follow_the_language(data, chinese):
    english = read_upload(data, 28).problem
    with i18n.speaking("zh"):
        problem = read_upload(data, 28).problem
    assert problem.startswith(chinese) and not english_sentences(problem.replace("PNG, JPEG, BMP, GIF, WebP, TIFF", ""))
    assert english != problem and english_sentences(english)
