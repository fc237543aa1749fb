"""The "Bayesian neural network" page in 简体中文: no English sentence left in its three tabs, in each state
(the Bayesian and the deterministic measure on the plane, the example, upload and drawing inputs), nor where
the plane is refused (a 16-D model)."""

from pathlib import Path

import pytest
from data_root import require_shipped_model
from i18n_check import assert_chinese as chinese_only
from i18n_check import open_in_chinese
from i18n_check import set_in_chinese as choose

from explorer import i18n

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
PAGE = "pages/learn/bnn.py"
@pytest.fixture(autouse=True)
def shipped_pair():
    require_shipped_model(ROOT / "models" / "mnist-bnn")


def test_the_page_speaks_chinese_in_every_state(monkeypatch, tmp_path):
    at = chinese_only(open_in_chinese(PAGE, monkeypatch, tmp_path))
    assert at.title[0].value == "贝叶斯神经网络"
    assert "贝叶斯网络：留出集准确率" in [m.label for m in at.metric]
    assert [t.label for t in at.tabs] == ["在隐空间平面上", "在像素上：校准与未知输入", "你的数字"]
    assert list(at.dataframe[0].value["网络"]) == ["贝叶斯网络", "确定性网络"]

    # the deterministic network's entropy: the other sentence over the plane; the option values stay English
    choose(at.radio(key="bnn_measure"), "det_entropy")
    chinese_only(at)
    assert any("（确定性网络）" in md.value for md in at.markdown)

    choose(at.radio(key="bnn_source"), "Examples")
    choose(at.selectbox(key="bnn_example"), "uniform noise")
    chinese_only(at)
    assert at.selectbox(key="bnn_example").value == "uniform noise"  # the value stays English: only its name is shown
    assert any("贝叶斯网络判为" in c.value for c in at.caption)

    for source in ("Upload", "Draw"):
        choose(at.radio(key="bnn_source"), source)
        chinese_only(at)


def test_a_16d_model_is_refused_in_chinese(monkeypatch, tmp_path):
    at = chinese_only(open_in_chinese(PAGE, monkeypatch, tmp_path, model="mnist-z16"))
    assert any("二维模型" in i.value for i in at.info)
