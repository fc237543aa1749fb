"""AppTest coverage for the home, reconstructions and latent-map pages, on the shipped models."""

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from explorer.registry import showable_split
from apptest import select_model as choose_model

pytestmark = pytest.mark.slow

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture
def app(tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_USER_MODELS_DIR", str(tmp_path / "user-models"))
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def select_model(at, name):
    choose_model(at, name)
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["picked_model_name"] == name


def _array(value):
    """A Plotly JSON array: a list, or plotly's typed-array form {"dtype", "bdata" (base64)}."""
    if isinstance(value, dict):
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
    return np.asarray(value)


def _images(at):
    """Every st.image element currently shown."""
    return at.get("image")


def test_home_opens_on_the_shipped_model_with_live_numbers(app):
    picker = app.sidebar.selectbox(key="model_picker")
    assert picker.value == "mnist-z2 · z=2"
    assert any(o.startswith("digits-z2") for o in picker.options)
    labels = {m.label: m.value for m in app.metric}
    assert set(labels) == {"−ELBO", "Reconstruction", "KL (rate)"}
    neg_elbo, recon, kl = (float(labels[k]) for k in ("−ELBO", "Reconstruction", "KL (rate)"))
    assert neg_elbo == pytest.approx(recon + kl, abs=0.15)
    assert 100 < neg_elbo < 200
    assert len(app.latex) == 3 and len(_images(app)) == 1
    assert not app.error
    # The numbers are measured on the test split the app shows: full MNIST when VAE_DATA_DIR holds
    # it, else the bundled 1,000-image sample test split (the caption says which).
    split, _ = showable_split("mnist", "test")
    assert any(f"measured just now on {len(split):,} {split.name} test images" in c.value for c in app.caption)
    # The small latent map: up to 2,000 test codes, one WebGL trace per digit, on the model's own axes.
    (chart,) = app.get("plotly_chart")
    spec = json.loads(chart.proto.spec)
    traces = [t for t in spec["data"] if t["type"] == "scattergl"]
    assert sorted(t["name"] for t in traces if t.get("showlegend", True)) == [str(i) for i in range(10)]
    last = [t["name"] for t in traces[-10:]]  # the classes interleave: the last traces drawn hold every digit
    assert sorted(last) == [str(i) for i in range(10)]
    n_points = min(2000, len(split))
    assert sum(len(_array(t["customdata"])) for t in traces) == n_points and spec["layout"]["xaxis"]["title"]["text"] == "z₁"
    assert any(f"Where {n_points:,} test images land" in c.value for c in app.caption)


def test_home_map_of_a_16_d_model_shows_principal_components(app):
    select_model(app, "mnist-z16")
    spec = json.loads(app.get("plotly_chart")[0].proto.spec)
    assert spec["layout"]["xaxis"]["title"]["text"] == "PC 1" and any("principal components" in c.value for c in app.caption)


def test_picking_another_model_changes_the_numbers(app):
    before = [m.value for m in app.metric]
    select_model(app, "digits-z2")
    after = [m.value for m in app.metric]
    assert after != before and float(after[0]) < 60  # 8x8 digits cost far fewer nats
    assert app.sidebar.selectbox(key="model_picker").value.startswith("digits-z2")


def test_reconstructions_page_reshuffle_and_modes(app):
    app.switch_page("pages/explore/reconstruct.py").run()
    assert not app.exception, [e.value for e in app.exception]
    first = app.session_state["recon_grid"].clone()
    assert first.shape == (16, 1, 28, 28)
    app.button(key="recon_shuffle").click().run()
    assert app.number_input(key="recon_seed").value == 1
    assert not np.allclose(app.session_state["recon_grid"].numpy(), first.numpy())
    app.radio(key="recon_mode").set_value("x-sample").run()
    grid = app.session_state["recon_grid"]
    assert set(grid.unique().tolist()) <= {0.0, 1.0}
    assert not app.exception


def test_latent_map_page_renders_the_scatter(app):
    app.switch_page("pages/explore/latent_map.py").run()
    assert not app.exception, [e.value for e in app.exception]
    # mnist-z2 and mnist-ae-z2 are both shipped: the map and the VAE-vs-autoencoder comparison are lazy tabs, and
    # only the open one runs (the comparison's two WebGL maps doubled the time to switch to this page).
    assert [c.key for c in app.get("plotly_chart")] == ["latent_scatter"]
    app.session_state["map_section"] = "What the KL buys"
    app.run()
    assert [c.key for c in app.get("plotly_chart")] == ["kl_map_vae", "kl_map_ae"]
    app.session_state["map_section"] = "The map"
    app.run()
    app.toggle(key="map_ellipses").set_value(True).run()
    assert not app.exception


def test_latent_map_keeps_the_clicked_image_across_overlay_toggles(app):
    from explorer.registry import SHIPPED_DIR

    app.switch_page("pages/explore/latent_map.py").run()
    assert any("Click a dot" in i.value for i in app.info)
    # A click's row, as the chart's selection callback stores it (AppTest cannot click a plotly chart).
    app.session_state["map_selected"] = (str(SHIPPED_DIR / "mnist-z2"), 42)
    app.run()

    def ringed():
        spec = json.loads(app.get("plotly_chart")[0].proto.spec)
        ring = [t for t in spec["data"] if t.get("name") == "selected image"]
        return ring and spec["data"][-1].get("name") == "selected image"  # on top of everything else

    assert any("Test image #42" in m.value for m in app.markdown) and ringed()
    for key in ("map_holes", "map_ellipses", "map_holes", "map_ellipses"):  # a new figure each time
        app.toggle(key=key).set_value(not app.toggle(key=key).value).run()
        assert not app.exception, [e.value for e in app.exception]
        assert any("Test image #42" in m.value for m in app.markdown), key
    assert ringed()
    app.button(key="map_clear").click().run()
    assert any("Click a dot" in i.value for i in app.info) and not ringed()
    app.session_state["map_selected"] = (str(SHIPPED_DIR / "mnist-z2"), 42)
    select_model(app, "digits-z2")  # another model's map: mnist-z2's row is not carried over
    assert any("Click a dot" in i.value for i in app.info) and not ringed()


def test_latent_map_projection_for_a_16d_model(app):
    select_model(app, "mnist-z16")
    app.switch_page("pages/explore/latent_map.py").run()
    assert not app.exception, [e.value for e in app.exception]
    assert app.radio(key="map_method").value == "pca"
    assert [c.key for c in app.get("plotly_chart")].count("latent_scatter") == 1


def test_latent_dimensions_are_numbered_from_one_on_the_maps_clusters_and_active_units(app):
    from explorer.maps import dimension_names

    def shown(at):
        """The page's text and its charts' words (not their base64 data, where "z0" can turn up by chance)."""
        text = [e.value for kind in ("markdown", "caption", "info") for e in at.get(kind)]
        for c in at.get("plotly_chart"):
            spec = json.loads(c.proto.spec)
            text += [str(t.get(k, "")) for t in spec["data"] for k in ("name", "text", "hovertemplate")]
            text += [str(t["x"]) for t in spec["data"] if t["type"] == "bar"]
            text += [json.dumps(spec["layout"].get(k, ""), ensure_ascii=False)
                     for k in ("xaxis", "yaxis", "annotations", "title")]
        return " ".join(text)

    for page in ("pages/explore/latent_map.py", "pages/explore/clusters.py"):
        app.switch_page(page).run()
        assert not app.exception, [e.value for e in app.exception]
        spec = json.loads(app.get("plotly_chart")[0].proto.spec)
        assert (spec["layout"]["xaxis"]["title"]["text"], spec["layout"]["yaxis"]["title"]["text"]) == ("z₁", "z₂")
        assert "z₀" not in shown(app) and "z0" not in shown(app)
    select_model(app, "mnist-z16")
    app.switch_page("pages/explore/rate_distortion.py").run()
    assert not app.exception, [e.value for e in app.exception]
    charts = {c.key: json.loads(c.proto.spec) for c in app.get("plotly_chart")}
    assert list(charts["rd_usage_selected"]["data"][0]["x"]) == dimension_names(16)  # z₁ ... z₁₆
    assert "z₀" not in shown(app) and "z0" not in shown(app)
