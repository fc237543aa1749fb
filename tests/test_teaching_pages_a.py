"""AppTest coverage for the Anomalies, Clusters and 2-D toy VAE pages (and the uploaders and holes they share
with Reconstructions and the Latent map)."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

import vae
from data_root import data_root
from apptest import select_model

pytestmark = pytest.mark.slow

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture(scope="module")
def user_models(tmp_path_factory):
    """A tiny conditional VAE on the 8x8 digits (untrained: the pages only need to handle one)."""
    root = tmp_path_factory.mktemp("user-models")
    torch.manual_seed(0)
    cfg = vae.VAEConfig(input_shape=(1, 8, 8), latent_dim=2, hidden_dims=(16,), n_classes=10)
    vae.save_model(vae.VAE(cfg), root / "tiny-cvae", vae.ModelCard.new(cfg, "digits"))
    return root


def open_page(monkeypatch, user_models, page: str, model: str | None = None) -> AppTest:
    monkeypatch.setenv("VAE_USER_MODELS_DIR", str(user_models))
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    if model is not None:
        select_model(at, model)
        assert at.session_state["picked_model_name"] == model
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def percent(value: str) -> float:
    return float(value.rstrip("%")) / 100


# ------------------------------------------------------------------ anomalies

def test_anomalies_on_the_default_model_separate_digits_from_clothes_and_noise(monkeypatch, user_models):
    monkeypatch.setenv("VAE_DATA_DIR", str(data_root("fashion-mnist")))
    at = open_page(monkeypatch, user_models, "pages/explore/anomaly.py")
    assert at.title[0].value == "Anomalies"
    m = metrics(at)
    # the default threshold is the 95th percentile of the normal scores: about 5% false alarms
    assert percent(m["False alarms"]) == pytest.approx(0.05, abs=0.01)
    assert float(m["ROC AUC"]) > 0.9  # measured on mnist-z2: digits median 134 nats, Fashion-MNIST 825, noise > 1100
    assert 0.5 < percent(m["Recall"]) <= 1 and 0 < percent(m["Precision"]) <= 1
    assert len(at.get("plotly_chart")) == 1
    tables = at.table
    assert len(tables) == 2
    groups = list(tables[1].value["group"])
    assert groups[0].startswith("mnist test images") and any("fashion-mnist" in g for g in groups)
    auc = list(tables[1].value["ROC AUC vs normal"])
    assert auc[0] == "—" and auc[2:] == ["1.000", "1.000"]  # measured: every noise image scores above every test digit
    assert float(auc[1]) > 0.95  # clothes vs digits
    rows = at.get("image")  # most typical, least typical, examples of the anomalies: one row of images each
    assert [len(r.proto.imgs) for r in rows] == [8, 8, 9]

    # A higher threshold flags fewer images: fewer false alarms, recall no higher.
    slider = at.select_slider(key="anomaly_threshold")
    options = [float(o) for o in slider.options]  # AppTest lists them formatted; 3 significant figures, exact
    higher = options[int(len(options) * 0.8)]
    slider.set_value(higher).run()
    assert not at.exception
    m2 = metrics(at)
    assert float(m2["Threshold"]) == higher
    assert percent(m2["False alarms"]) <= percent(m["False alarms"])
    assert percent(m2["Recall"]) <= percent(m["Recall"])


def test_anomaly_score_choice_and_sizes(monkeypatch, user_models):
    at = open_page(monkeypatch, user_models, "pages/explore/anomaly.py", model="digits-z2")
    before = metrics(at)
    at.select_slider(key="anomaly_n").set_value(100).run()
    sizes = at.table[1].value["images"]
    assert list(sizes)[0] == "360" and all(s == "100" for s in list(sizes)[1:])
    at.radio(key="anomaly_method").set_value("samples").run()
    assert not at.exception, [e.value for e in at.exception]
    after = metrics(at)
    assert after["ROC AUC"] != before["ROC AUC"] or after["Threshold"] != before["Threshold"]
    assert float(after["ROC AUC"]) > 0.9


def test_anomalies_explain_normal_for_a_fashion_model(monkeypatch, user_models):
    monkeypatch.setenv("VAE_DATA_DIR", str(data_root("fashion-mnist")))
    at = open_page(monkeypatch, user_models, "pages/explore/anomaly.py", model="fashion-z2")
    text = " ".join(md.value for md in at.markdown)
    assert "not on digits" in text and "fashion-mnist test image" in text
    assert 0 <= float(metrics(at)["ROC AUC"]) <= 1
    auc = dict(zip(at.table[1].value["group"], at.table[1].value["ROC AUC vs normal"]))
    # Nalisnick et al. (2019): digits are nearly as "likely" as clothes under a Fashion-MNIST model (measured 0.599)
    digits = next(v for k, v in auc.items() if k.endswith("(not fashion-mnist)"))  # mnist, or its offline sample
    assert float(digits) < 0.7
    assert float(auc["uniform noise"]) > 0.99 and float(auc["Gaussian noise"]) > 0.99


def test_anomalies_marginalise_the_label_of_a_conditional_model(monkeypatch, user_models):
    at = open_page(monkeypatch, user_models, "pages/explore/anomaly.py", model="tiny-cvae")
    assert any("conditional model" in c.value for c in at.caption)
    assert 0 <= float(metrics(at)["ROC AUC"]) <= 1


def test_anomalies_say_that_a_mixture_prior_model_samples_its_kl(monkeypatch, user_models):
    at = open_page(monkeypatch, user_models, "pages/explore/anomaly.py", model="mnist-mog-z2")
    assert at.radio(key="anomaly_method").value == "mean"
    assert any("one-draw estimate" in c.value and "not a deterministic" in c.value for c in at.caption)
    assert 0.5 < float(metrics(at)["ROC AUC"]) <= 1
    at.radio(key="anomaly_method").set_value("samples").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not any("one-draw estimate" in c.value for c in at.caption)  # every term is sampled there anyway


def test_anomalies_and_reconstructions_accept_the_same_upload_types(monkeypatch, user_models):
    from explorer.uploads import UPLOAD_TYPES

    at = open_page(monkeypatch, user_models, "pages/explore/anomaly.py", model="digits-z2")
    (anomaly_uploader,) = at.get("file_uploader")
    accepted = set(anomaly_uploader.proto.type)
    assert {f".{t}" for t in UPLOAD_TYPES} <= accepted and {".svg", ".heic", ".pdf"} <= accepted
    at.switch_page("pages/explore/reconstruct.py").run()
    assert not at.exception, [e.value for e in at.exception]
    (recon_uploader,) = at.get("file_uploader")
    assert set(recon_uploader.proto.type) == accepted


def test_latent_map_decodes_holes_of_a_conditional_model_as_its_classes(monkeypatch, user_models):
    at = open_page(monkeypatch, user_models, "pages/explore/latent_map.py", model="mnist-cvae-z2")
    at.toggle(key="map_holes").set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("hardly any test image is encoded" in m.value for m in at.markdown)
    captions = [c.value for c in at.caption if c.value.startswith("Codes at the marked holes")]
    assert captions == ["Codes at the marked holes, decoded (as 0, 1, 2, … in turn)."]


# ------------------------------------------------------------------ clusters

def test_clusters_on_the_default_model(monkeypatch, user_models):
    at = open_page(monkeypatch, user_models, "pages/explore/clusters.py")
    assert at.title[0].value == "Clusters"
    m = metrics(at)
    purity, nmi, baseline = float(m["Purity"]), float(m["NMI"]), float(m["One big cluster"])
    assert baseline < purity <= 1 and 0 < nmi <= 1
    assert purity > 0.5  # the 2-D MNIST codes group by digit well above the 11% baseline
    assert len(at.get("plotly_chart")) == 2
    centres = at.get("image")[-1]
    assert len(centres.proto.imgs) == 10
    at.slider(key="clusters_k").set_value(4).run()
    assert not at.exception
    assert len(at.get("image")[-1].proto.imgs) == 4
    m4 = metrics(at)
    assert float(m4["Purity"]) < purity  # four clusters cannot hold ten digits apart
    at.radio(key="clusters_method").set_value("gmm").run()
    assert not at.exception, [e.value for e in at.exception]
    assert metrics(at)["Purity"] != m4["Purity"] or metrics(at)["NMI"] != m4["NMI"]


def test_clusters_of_a_16d_model_are_shown_through_pca(monkeypatch, user_models):
    at = open_page(monkeypatch, user_models, "pages/explore/clusters.py", model="mnist-z16")
    assert at.radio(key="clusters_view").value == "pca"
    assert float(metrics(at)["NMI"]) > 0.3
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert spec["layout"]["xaxis"]["title"]["text"] == "PC 1"
    centres = next(t for t in spec["data"] if t["name"] == "centres")
    assert centres["text"] == [str(i) for i in range(10)]  # the 16-D centres, projected by the same PCA


def test_clusters_page_stops_for_a_conditional_model(monkeypatch, user_models):
    at = open_page(monkeypatch, user_models, "pages/explore/clusters.py", model="tiny-cvae")
    assert any("conditional VAE" in i.value for i in at.info)
    assert not at.metric


# ------------------------------------------------------------------ 2-D toy VAE

@pytest.fixture
def one_thread():
    """Tiny models train faster on one torch thread when the machine is busy (see tests/test_toy.py)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_toy_page_trains_on_click_and_shows_the_result(monkeypatch, user_models, one_thread):
    at = open_page(monkeypatch, user_models, "pages/learn/toy.py")
    assert at.title[0].value == "2-D toy VAE"
    assert "toy_result" not in at.session_state and at.info  # nothing trained yet: a hint, and the data preview
    assert len(at.get("plotly_chart")) == 1
    at.select_slider(key="toy_epochs").set_value(50).run()
    at.selectbox(key="toy_dataset").set_value("ring").run()
    at.button(key="toy_train").click().run()
    assert not at.exception, [e.value for e in at.exception]
    r = at.session_state["toy_result"]["result"]
    assert len(r.history) == 50 and r.history[-1]["train_loss"] < r.history[0]["train_loss"]
    assert r.mu.shape == (1000, 2)
    m = metrics(at)
    assert float(m["RMS error"]) == pytest.approx(r.recon_error, abs=1e-3) and float(m["RMS error"]) < 0.2
    assert float(m["−ELBO"]) == pytest.approx(float(m["Reconstruction"]) + float(m["KL (rate)"]), abs=0.02)
    assert not at.warning
    at.radio(key="toy_latent").set_value(1).run()  # settings changed: the old result is kept, with a warning
    assert at.warning and at.session_state["toy_result"]["result"] is not None
    at.button(key="toy_train").click().run()
    assert at.session_state["toy_result"]["result"].mu.shape == (1000, 1) and not at.warning
    at.toggle(key="toy_show_samples").set_value(True).run()
    assert not at.exception


def test_toy_page_is_seeded(monkeypatch, user_models, one_thread):
    at = open_page(monkeypatch, user_models, "pages/learn/toy.py")
    at.select_slider(key="toy_epochs").set_value(10).run()
    at.button(key="toy_train").click().run()
    first = at.session_state["toy_result"]["result"].recon.copy()
    at.button(key="toy_train").click().run()
    np.testing.assert_array_equal(at.session_state["toy_result"]["result"].recon, first)
    at.number_input(key="toy_seed").set_value(1).run()
    at.button(key="toy_train").click().run()
    assert not np.array_equal(at.session_state["toy_result"]["result"].recon, first)
