"""The Latent map and Clusters pages, and every figure of explorer/figures.py, in 简体中文: no English left in
what they show, in their main states. The pages run on 8x8 digits (the shipped digits-z2, and tiny models
saved into the test's user-models folder: a 16-D latent, a conditional model, a plain autoencoder and a
mixture prior). The Latent map's two tabs are bound to the link by their label: a link that names a tab in
either language opens that tab, and a switch of language keeps it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

import vae
from apptest import APP, select_model
from explorer import i18n
from tests.i18n_check import assert_chinese, english_sentences, image_captions, open_in_chinese

pytestmark = pytest.mark.slow

MAP, CLUSTERS = "pages/explore/latent_map.py", "pages/explore/clusters.py"
TINY = {
    "tiny-z16": dict(latent_dim=16),
    "tiny-cvae": dict(latent_dim=2, n_classes=10),
    "tiny-ae": dict(latent_dim=2, variational=False),
    "tiny-mog": dict(latent_dim=2, prior="mog"),
}
KL_TAB_ZH = "KL 带来了什么"


def save_tiny_models(root) -> None:
    for i, (name, kw) in enumerate(TINY.items()):
        cfg = vae.VAEConfig(input_shape=(1, 8, 8), hidden_dims=(32,), **kw)
        torch.manual_seed(i)
        vae.save_model(vae.VAE(cfg), root / name, vae.ModelCard.new(cfg, "digits"))


def charts(at) -> list[str]:
    return [c.key for c in at.get("plotly_chart")]


def test_the_latent_map_in_chinese(monkeypatch, tmp_path):
    at = open_in_chinese(MAP, monkeypatch, tmp_path, "digits-z2")
    assert_chinese(at)
    assert [t.label for t in at.tabs] == ["分布图", KL_TAB_ZH] and charts(at) == ["latent_scatter"]
    # AppTest formats a radio's value outside the page's run: in the page's language, so that it finds the option
    with i18n.speaking("zh"):
        at.toggle(key="map_ellipses").set_value(True).run()
        at.toggle(key="map_holes").set_value(True).run()
        assert_chinese(at)
        assert any("1σ 椭圆" in c.value for c in at.caption) and any("空洞" in m.value for m in at.markdown)
        at.session_state["map_selected"] = (str(at.session_state["selected"].entry.path), 5)
        at.run()
        assert_chinese(at)
        assert any("测试图像 #5" in m.value for m in at.markdown) and image_captions(at)[:2] == ["输入", "重构"]
        at.session_state["map_section"] = KL_TAB_ZH  # the second tab, as a click on it sets it
        at.run()
        assert_chinese(at)
        assert charts(at) == ["kl_map_vae", "kl_map_ae"]


def test_a_link_opens_the_same_tab_in_either_language(monkeypatch, tmp_path):
    monkeypatch.setenv("VAE_USER_MODELS_DIR", str(tmp_path / "user-models"))

    def opened(params: dict) -> AppTest:
        at = AppTest.from_file(str(APP), default_timeout=300)
        for k, v in params.items():
            at.query_params[k] = v
        at.switch_page(MAP).run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    at = opened({"model": "digits-z2", "lang": "zh", "map_section": "What the KL buys"})  # an English link, read in Chinese
    assert at.session_state["map_section"] == KL_TAB_ZH and charts(at) == ["kl_map_vae", "kl_map_ae"]
    at.run()  # Streamlit dropped the label it did not know from the address: it is written back in Chinese
    assert at.query_params["map_section"] == KL_TAB_ZH and charts(at) == ["kl_map_vae", "kl_map_ae"]
    at = opened({"model": "digits-z2", "map_section": KL_TAB_ZH})  # a Chinese link, read in English
    assert at.session_state["map_section"] == "What the KL buys" and charts(at) == ["kl_map_vae", "kl_map_ae"]
    at.sidebar.segmented_control(key="lang").set_value("zh").run()  # a switch of language keeps the tab open
    assert at.session_state["map_section"] == KL_TAB_ZH and charts(at) == ["kl_map_vae", "kl_map_ae"]
    assert_chinese(at)


def test_the_latent_map_of_other_models_in_chinese(monkeypatch, tmp_path):
    save_tiny_models(tmp_path / "user-models")
    at = open_in_chinese(MAP, monkeypatch, tmp_path, "tiny-z16")
    assert_chinese(at)
    assert at.radio(key="map_method").options == ["PCA（即时，线性）", "t-SNE（首次需数秒，子样本 3,000 张图像）"]
    with i18n.speaking("zh"):
        at.session_state["map_selected"] = (str(at.session_state["selected"].entry.path), 3)
        at.run()
        assert_chinese(at)
        assert any("σ = (" in m.value and "…" in m.value for m in at.markdown)  # 16 numbers shown as 8 and "…"
        for name in ("tiny-cvae", "tiny-ae", "tiny-mog"):
            select_model(at, name)
            at.toggle(key="map_holes").set_value(True).run()
            at.session_state["map_selected"] = (str(at.session_state["selected"].entry.path), 3)
            at.run()
            assert_chinese(at)
            assert any("黑色等高线表示" in m.value for m in at.markdown), name
            if name == "tiny-ae":  # a code, not a distribution
                assert any("z = (" in m.value and "重构" in m.value for m in at.markdown)


def test_clusters_in_chinese(monkeypatch, tmp_path):
    save_tiny_models(tmp_path / "user-models")
    at = open_in_chinese(CLUSTERS, monkeypatch, tmp_path, "digits-z2")
    assert_chinese(at)
    assert [m.label for m in at.metric] == ["纯度", "NMI", "单个大簇", "参与聚类的编码"]
    with i18n.speaking("zh"):
        at.radio(key="clusters_method").set_value("gmm").run()
        assert_chinese(at)
        assert at.radio(key="clusters_method").options == ["k-means", "高斯混合模型"]
        select_model(at, "tiny-z16")
        assert_chinese(at)
        assert at.radio(key="clusters_view").options == ["PCA", "t-SNE（首次需数秒）"]
        select_model(at, "tiny-cvae")  # conditional: the page says why it stops
        assert_chinese(at)
        assert at.info and not charts(at)


def figure_texts(fig) -> list[str]:
    """The text a figure shows: titles, axis and colour-bar titles, trace names, annotations, hover templates."""
    out: list[str] = []

    def walk(node, key=None):
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, k)
        elif isinstance(node, (list, tuple)):
            for v in node:
                walk(v, key)
        elif isinstance(node, str) and key in ("text", "name", "hovertemplate", "title", "hovertext"):
            out.append(node)

    walk(json.loads(fig.to_json()))
    return out


def test_every_figure_speaks_chinese():
    from explorer import figures as f
    from explorer.estimators import KLErrorCurve
    from explorer.gradients import GradientSpread
    from explorer.holes import density_grid
    from explorer.rate_distortion import LatentUsage, RDPoint
    from vae.model import StandardNormalPrior

    rng = np.random.default_rng(0)
    mu = rng.normal(size=(200, 2))
    labels = rng.integers(0, 3, 200)
    grid = density_grid(StandardNormalPrior(2), mu, np.full_like(mu, np.log(0.1**2)), n=31)
    n = np.array([1, 10, 100])
    spread = GradientSpread(n, np.array([100, 100, 100]), *(np.ones((3, 2)),) * 4, np.ones(2), np.ones(2), np.zeros(2))
    curve = KLErrorCurve(n, 1 / np.sqrt(n), 1 / np.sqrt(n), np.zeros(3), 1.0, 0.5)
    usage = LatentUsage(np.array([1.0, 0.0]), np.array([1.0, 0.0]), np.array([True, False]), 0.01)
    points = [RDPoint("a", "d", 1.0, 7.0, 130.0, 2, "bernoulli"), RDPoint("b", "d", 4.0, 3.0, 140.0, 2, "bernoulli", source="yours"),
              RDPoint("s", "d", 0.5, 9.0, 128.0, 2, "bernoulli", source="sweep")]
    history = [{"epoch": e, "train_neg_elbo": 3.0, "test_neg_elbo": 3.1, "train_recon": 2.0, "test_recon": 2.1,
                "train_kl": 1.0, "test_kl": 1.0} for e in (1, 2)]
    toy = dict(points=mu, labels=labels, recon=mu, mu=mu, std=np.ones_like(mu))
    with i18n.speaking("zh"):
        scatter = f.latent_scatter(mu, labels, ["0", "1", "2"], highlights={"mine.png": np.zeros(2)}, selected_row=3,
                                   ellipses=f.ellipse_points(mu[:5], np.ones((5, 2))))
        built = {
            "latent_scatter": f.add_density_overlay(scatter, grid, grid.holes(k=3)),
            "prior circles": f.add_prior_circles(f.latent_scatter(mu, labels, ["0", "1", "2"]), (-4.0, 4.0)),
            "training_curves": f.training_curves(history),
            "rate_distortion_plot": f.rate_distortion_plot(points, selected="b", levels=[140.0]),
            "empty rate_distortion_plot": f.rate_distortion_plot([]),
            "latent_usage_bars": f.latent_usage_bars(usage),
            "kl_estimates_histogram": f.kl_estimates_histogram(rng.normal(size=50), 1.0, 10),
            "kl_error_loglog": f.kl_error_loglog({"一张图像": curve}),
            "iwae_vs_k": f.iwae_vs_k([1, 10], {"图像 #3": np.array([100.0, 98.0])}, {"图像 #3": 100.0}, reference=97.0,
                                     reference_label="模型卡"),
            "score_histogram": f.score_histogram({"数字": rng.uniform(80, 120, 50), "噪声": rng.uniform(500, 900, 20)},
                                                 threshold=150.0, markers={"mine.png": 300.0}),
            "cluster_scatter": f.cluster_scatter(mu, labels, centres=mu[:3], labels=labels, class_names=["0", "1", "2"]),
            "contingency_heatmap": f.contingency_heatmap(np.array([[3, 1], [0, 4]]), ["0", "1"]),
            "toy_panels 2-D": f.toy_panels(**toy, samples=mu, grid_z=mu[None, :5], grid_x=mu[None, :5]),
            "toy_panels 1-D": f.toy_panels(**toy | dict(mu=mu[:, :1], std=np.ones((200, 1)))),
            "gradient_spread_loglog": f.gradient_spread_loglog(spread, 0, "μ"),
            "gradient_estimates_histogram": f.gradient_estimates_histogram(rng.normal(size=50), rng.normal(size=50), 0.0,
                                                                           "精确值", 1, "μ"),
        }
    left = {name: [t for t in figure_texts(fig) if english_sentences(t)] for name, fig in built.items()}
    assert not any(left.values()), {k: v for k, v in left.items() if v}
    assert "先验 p(z)：圈住 50%, 90%, 99% 的样本" in figure_texts(built["latent_scatter"])
