"""The "Inference for one image" page in 简体中文: no English sentence left in its main states (an image
optimised, the step slider moved, the other start, the average gaps of every shipped model, a 16-D model, the
upload and drawing sources, a plain autoencoder). The optimiser runs few steps here: the wording is tested, not
the estimates (tests/test_inference_page.py tests the page in English with the real settings)."""

import pytest
from i18n_check import assert_chinese, open_in_chinese

from explorer import i18n, inference
from pages.ui import inference_views

pytestmark = pytest.mark.slow

PAGE = "pages/learn/inference.py"


@pytest.fixture(autouse=True)
def quick_and_isolated(monkeypatch):
    """A short optimiser and small estimates; this test's cached runs cleared before and after; and the test's
    own thread speaks Chinese, as AppTest formats the radios' values there (their labels are shown in Chinese)."""
    monkeypatch.setattr(inference, "ELBO_SAMPLES", 100)
    monkeypatch.setattr(inference, "IWAE_K", 200)
    monkeypatch.setattr(inference, "STEPS", 40)  # the page's button label and slider
    optimise, image_gaps = inference.optimise, inference.image_gaps
    monkeypatch.setattr(inference, "optimise", lambda *a, **k: optimise(*a, **{**k, "steps": 40}))
    monkeypatch.setattr(inference, "image_gaps", lambda *a, **k: image_gaps(*a, **{**k, "steps": 40}))
    cached = (inference_views._run_view, inference_views._gaps_view, inference_views._grid_view)
    for f in cached:
        f.clear()
    with i18n.speaking("zh"):
        yield
    for f in cached:
        f.clear()


clean = assert_chinese


def test_one_image_optimised_then_the_gaps_of_every_model(monkeypatch, tmp_path):
    def gap_row(path, mtime, name, dataset, n):  # canned rows: every sentence of the reading, in no time
        wide = "z16" in name
        return inference.GapRow(name, 16 if wide else 2, n, "iwae k=5000" if wide else "grid", -100.0, -104.0,
                                -101.0, 1.0 if wide else 0.2, 3.0 if wide else 0.5)

    monkeypatch.setattr(inference_views, "model_gap_row", gap_row)
    at = clean(open_in_chinese(PAGE, monkeypatch, tmp_path, model="mnist-z2"))
    assert at.title[0].value != "Inference for one image"
    at = clean(at.button(key="inf_run").click().run())
    assert "摊销差距" in {m.label for m in at.metric}
    at = clean(at.slider(key="inf_step").set_value(10).run())
    at = clean(at.radio(key="inf_start").set_value("encoder").run())
    at = clean(at.button(key="inf_run").click().run())
    at = clean(at.button(key="inf_measure").click().run())
    assert "模型" in at.dataframe[0].value.columns
    assert any("普通自编码器" in c.value for c in at.caption)


def test_a_16_d_model(monkeypatch, tmp_path):
    at = clean(open_in_chinese(PAGE, monkeypatch, tmp_path, model="mnist-z16"))
    at = clean(at.button(key="inf_run").click().run())
    assert any("16 个隐变量维度" in c.value for c in at.caption)


def test_the_other_sources_and_a_plain_autoencoder(monkeypatch, tmp_path):
    at = open_in_chinese(PAGE, monkeypatch, tmp_path, model="mnist-z2")
    for source in ("your own image", "a drawing"):
        at = clean(at.radio(key="inf_source").set_value(source).run())
    at = clean(open_in_chinese(PAGE, monkeypatch, tmp_path, model="mnist-ae-z2"))
    assert any("普通自编码器" in i.value for i in at.info)
