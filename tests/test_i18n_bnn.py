"""The "Bayesian neural network" page in 简体中文: no English sentence left in its three tabs, in each state
(the Bayesian and the deterministic measure on the plane, the example, upload and drawing inputs), nor where
the plane is refused (a 16-D model)."""

from pathlib import Path

import pytest
from data_root import require_shipped_model
from i18n_check import english_sentences, open_in_chinese, page_texts

from explorer import i18n

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
PAGE = "pages/learn/bnn.py"
# the method and the paper it comes from, cited in their language as the glossary says
CITED = ("Bayes by Backprop", "Blundell, Cornebise, Kavukcuoglu & Wierstra", "Weight Uncertainty in Neural Networks")


def untranslated(at):
    """i18n_check.untranslated, with this page's citation allowed."""
    texts = page_texts(at)
    for name in CITED:
        texts = [t.replace(name, " ") for t in texts]
    return [f"{s!r} in {t[:120]!r}" for t in texts for s in english_sentences(t)]


def choose(widget, value):
    """Set a widget whose options are shown translated and rerun: AppTest matches the value through the
    widget's format_func, called in the test's thread, which speaks English unless told otherwise."""
    with i18n.speaking("zh"):
        return widget.set_value(value).run()


def chinese_only(at):
    assert not at.exception, [e.value for e in at.exception]
    left = untranslated(at)
    assert not left, "\n".join(left)
    return at


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
