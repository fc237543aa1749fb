"""AppTest of the "Inference for one image" page: mnist-z2 (optimise, scrub, the gaps of every shipped
model), mnist-z16 (no plane, IWAE) and the conditional mnist-cvae-z2."""

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from explorer import inference
from apptest import select_model

pytestmark = pytest.mark.slow

APP = str(Path(__file__).resolve().parent.parent / "app.py")
PAGE = "pages/learn/inference.py"


def ok(at):
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture
def app(user_dir):
    at = AppTest.from_file(APP, default_timeout=600)
    return ok(at.run())


def open_on(at, name):
    ok(select_model(at, name))
    return ok(at.switch_page(PAGE).run())


def metrics(at):
    return {m.label: m.value for m in at.metric}


def chart(at, key):
    return json.loads(at.get("plotly_chart")[[c.proto.id for c in at.get("plotly_chart")].index(
        next(c.proto.id for c in at.get("plotly_chart") if key in c.proto.id))].proto.spec)


def test_mnist_z2_optimises_one_image_and_shows_its_gaps(app):
    at = open_on(app, "mnist-z2")
    assert at.title[0].value == "Inference for one image"
    assert "ELBO of the encoder's Gaussian" in metrics(at)
    assert any("Press **Optimise**" in i.value for i in at.info)
    ok(at.button(key="inf_run").click().run())
    m = metrics(at)
    assert {"log p(x)", "ELBO, best Gaussian q*", "ELBO, encoder", "Approximation gap", "Amortisation gap"} <= set(m)
    assert float(m["Approximation gap"]) >= -0.1 and float(m["Amortisation gap"]) >= -0.1
    assert at.slider(key="inf_step").value == 500
    plane = chart(at, "inf_plane")
    assert any(t["type"] == "contour" for t in plane["data"])
    assert any(t.get("name") == "optimised q at step 500, 1σ" for t in plane["data"])
    ok(at.slider(key="inf_step").set_value(100).run())
    assert any("Step **100**" in md.value for md in at.markdown)
    assert any(t.get("name") == "optimised q at step 100, 1σ" for t in chart(at, "inf_plane")["data"])
    ok(at.radio(key="inf_start").set_value("encoder").run())  # the run shown stays until the next press
    assert any(t.get("name") == "μ path (from the prior)" for t in chart(at, "inf_plane")["data"])
    ok(at.button(key="inf_run").click().run())
    assert any(t.get("name") == "μ path (from the encoder)" for t in chart(at, "inf_plane")["data"])


def test_the_average_gaps_of_every_shipped_model(app, monkeypatch):
    # The table and the bars over every shipped model; the estimates' accuracy is tests/test_inference.py's.
    # smaller estimates than the page's (the suite's time): the table's parts are what is tested here
    monkeypatch.setattr(inference, "IWAE_K", 500)
    monkeypatch.setattr(inference, "ELBO_SAMPLES", 200)
    full = inference.subset_gaps
    monkeypatch.setattr(inference, "subset_gaps", lambda *a, **k: full(*a, **{**k, "steps": 150}))
    at = open_on(app, "mnist-z2")
    ok(at.select_slider(key="inf_subset_n").set_value(5).run())
    ok(at.button(key="inf_measure").click().run())
    table = at.dataframe[0].value
    assert {"mnist-z2", "mnist-z16", "digits-z2", "mnist-cvae-z2", "mnist-mog-z2"} <= set(table["model"])
    assert "mnist-ae-z2" not in set(table["model"])  # no ELBO: left out, and the page says why
    assert any("mnist-ae-z2 (a plain autoencoder" in c.value for c in at.caption)
    assert (table["approximation"] + table["amortisation"]).gt(-0.2).all()
    assert any("Cremer et al. found" in md.value for md in at.markdown)
    bars = chart(at, "inf_gap_bars")
    assert [t["name"] for t in bars["data"]] == ["approximation gap", "amortisation gap"]


@pytest.mark.parametrize("name", ["mnist-z16", "mnist-cvae-z2"])
def test_other_models_open_and_optimise(app, name):
    at = open_on(app, name)
    ok(at.button(key="inf_run").click().run())
    assert "Amortisation gap" in metrics(at)
    keys = [c.proto.id for c in at.get("plotly_chart")]
    if name == "mnist-z16":
        assert not any("inf_plane" in k for k in keys)
        assert any("k = 5,000" in c.value for c in at.caption)
    else:
        assert any("inf_plane" in k for k in keys)


def test_a_drawing_starts_with_an_empty_pad(app):
    at = open_on(app, "mnist-z2")
    ok(at.radio(key="inf_source").set_value("a drawing").run())
    assert any("The pad is empty" in i.value for i in at.info)


def test_your_own_image_asks_for_a_file(app):
    at = open_on(app, "mnist-z2")
    ok(at.radio(key="inf_source").set_value("your own image").run())
    assert any("Upload a photo" in i.value for i in at.info)
