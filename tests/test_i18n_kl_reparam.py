""""KL: exact vs sampled", "Why reparameterise?" and the Latent map's "What the KL buys" tab in 简体中文: no
English sentence left in their main states (another sample count, a model with a learned prior or without a
KL, the toy's other setting), the English tab value kept as it is."""

from pathlib import Path

import pytest
from data_root import require_shipped_model
from i18n_check import assert_chinese as chinese_only
from i18n_check import open_in_chinese

from explorer import i18n
from pages.ui import kl_views

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
KL_PAGE = "pages/learn/kl.py"
REPARAM_PAGE = "pages/learn/reparameterisation.py"
MAP_PAGE = "pages/explore/latent_map.py"


@pytest.fixture(autouse=True)
def shipped_models():
    for name in ("mnist-z2", "mnist-ae-z2", "mnist-mog-z2"):
        require_shipped_model(ROOT / "models" / name)


def test_the_kl_page_speaks_chinese(monkeypatch, tmp_path):
    at = chinese_only(open_in_chinese(KL_PAGE, monkeypatch, tmp_path))
    assert at.title[0].value == "KL：精确值与采样估计"
    assert {m.label for m in at.metric} == {"闭式解（奈特）", "估计值的均值", "单次估计的离散度"}
    assert sum("斜率为" in md.value for md in at.markdown) == 2
    at.select_slider(key="kl_n").set_value(3)
    at.number_input(key="kl_row").set_value(5)
    chinese_only(at.run())
    assert any("n = 3" in s.value for s in at.subheader)


def test_the_kl_page_refuses_a_learned_prior_and_an_autoencoder_in_chinese(monkeypatch, tmp_path):
    at = chinese_only(open_in_chinese(KL_PAGE, monkeypatch, tmp_path, model="mnist-mog-z2"))
    assert any("混合先验" in i.value for i in at.info)
    assert not at.get("plotly_chart")
    at = chinese_only(open_in_chinese(KL_PAGE, monkeypatch, tmp_path, model="mnist-ae-z2"))
    assert any("本页估计的 KL 项" in i.value for i in at.info)


def test_the_reparameterisation_page_speaks_chinese(monkeypatch, tmp_path):
    at = chinese_only(open_in_chinese(REPARAM_PAGE, monkeypatch, tmp_path))
    assert at.title[0].value == "为什么要重参数化？"
    assert any("倍的样本" in md.value for md in at.markdown)
    assert list(at.dataframe[0].value.index) == ["精确值", "得分函数估计", "路径估计"]
    at.selectbox(key="rp_component").set_value("log σ²₂")
    at.select_slider(key="rp_n").set_value(100)
    at.slider(key="rp_toy_c").set_value(-1.5)
    chinese_only(at.run())
    assert any("∂ELBO/∂log σ²₂ 的" in s.value for s in at.subheader)
    at = chinese_only(open_in_chinese(REPARAM_PAGE, monkeypatch, tmp_path, model="mnist-ae-z2"))
    assert any("需要穿过样本来估计的梯度" in i.value for i in at.info)


def test_the_kl_tab_of_the_latent_map_speaks_chinese(monkeypatch, tmp_path):
    assert kl_views.KL_TAB == "What the KL buys"  # the value in code and old links stays English
    with i18n.speaking("zh"):
        assert kl_views.kl_tab_label() == "KL 带来了什么"
    assert kl_views.kl_tab_label() == "What the KL buys"
    at = open_in_chinese(MAP_PAGE, monkeypatch, tmp_path)
    assert at.tabs[1].label == "KL 带来了什么"
    at.session_state["map_section"] = kl_views.KL_TAB  # named in English (an old link): the same tab opens
    chinese_only(at.run())
    assert "KL 带来了什么：VAE 与普通自编码器对比" in [h.value for h in at.header]
    assert [c.key for c in at.get("plotly_chart")] == ["kl_map_vae", "kl_map_ae"]
    assert any("只有 VAE 是生成模型" in md.value for md in at.markdown)
    at.toggle(key="kl_zoom").set_value(True)
    chinese_only(at.run())
