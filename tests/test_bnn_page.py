"""AppTest of the "Bayesian neural network" page: the latent plane on 2-D models, its refusal on mnist-z16,
the pixel pair's calibration and out-of-distribution tab, and one example image's probabilities."""

import os
from pathlib import Path

import pytest
from apptest import select_model
from data_root import require_shipped_model
from streamlit.testing.v1 import AppTest

from vae.data import available_offline

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
PAGE = "pages/learn/bnn.py"


def ok(at):
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture
def app(user_dir):
    require_shipped_model(ROOT / "models" / "mnist-bnn")
    return ok(AppTest.from_file(APP, default_timeout=600).run())


def metrics(at):
    return {m.label: m.value for m in at.metric}


def chart_keys(at):
    return [c.proto.id for c in at.get("plotly_chart")]


def test_the_page_on_mnist_z2_trains_on_codes_and_measures_the_pixel_pair(app):
    at = ok(app.switch_page(PAGE).run())
    m = metrics(at)
    for label in ("Bayesian: held-out accuracy", "Deterministic: held-out accuracy"):
        assert 0.5 < float(m[label].rstrip("%")) / 100 <= 1, m
    keys = chart_keys(at)
    assert any("bnn_plane" in k for k in keys) and any("bnn_heatmap" in k for k in keys)
    assert any("bnn_reliability" in k for k in keys) and any("bnn_ood" in k for k in keys)
    table = at.dataframe[0].value
    assert list(table["network"]) == ["Bayesian", "deterministic"]
    auc = next(c for c in table.columns if c.startswith("OOD ROC AUC"))
    assert (table[auc].astype(float) > 0.7).all(), table[auc]  # both tell the unseen images from digits, better than chance
    assert not any("mnist-bnn" in o for o in at.sidebar.selectbox(key="model_picker").options)

    # fewer codes and the mutual information: a new plane, nothing breaks
    at.select_slider(key="bnn_n_train").set_value(100).run()
    at.radio(key="bnn_measure").set_value("mutual_information").run()
    ok(at)
    assert "mutual information" in " ".join(md.value for md in at.markdown)


def test_an_example_image_gets_probabilities_with_their_spread(app):
    at = ok(app.switch_page(PAGE).run())
    at.radio(key="bnn_source").set_value("Examples").run()
    at.selectbox(key="bnn_example").set_value("uniform noise").run()
    ok(at)
    assert any("bnn_probs" in k for k in chart_keys(at))
    m = metrics(at)
    assert float(m["Bayesian entropy"]) >= float(m["of which epistemic"]) >= 0
    assert any("weight draws" in c.value for c in at.caption)


def test_a_model_without_a_plane_says_why_and_keeps_the_other_tabs(app):
    at = ok(select_model(app, "mnist-z16"))
    at = ok(at.switch_page(PAGE).run())
    assert any("2-D model" in i.value for i in at.info)
    assert any("bnn_reliability" in k for k in chart_keys(at))


@pytest.mark.parametrize("model", ["digits-z2", "fashion-z2", "mnist-ae-z2"])
def test_the_plane_works_on_other_2d_models(app, model):
    at = ok(select_model(app, model))
    at = ok(at.switch_page(PAGE).run())
    if model == "fashion-z2" and not available_offline("fashion-mnist", os.environ.get("VAE_DATA_DIR")):
        # a newcomer without the data: the plane says where the images go, and the pixel tabs still work
        assert any("not on this machine" in e.value for e in at.error), [e.value for e in at.error]
        assert any("bnn_reliability" in k for k in chart_keys(at))
        return
    assert "Bayesian: held-out accuracy" in metrics(at)
