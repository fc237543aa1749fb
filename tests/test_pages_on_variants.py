"""Every page opens without an exception on the shipped models that differ from a plain VAE.

The conditional model needs labels wherever it is called, the mixture prior has no closed-form
KL, the Gaussian decoder has other units, the plain autoencoder has no q(z|x) and no KL: a page
that forgets one of these must still say something sensible instead of crashing.
"""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from apptest import PAGE_FILES, select_model

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
PAGES = sorted(PAGE_FILES)
VARIANTS = ["mnist-cvae-z2", "mnist-mog-z2", "mnist-z2-gaussian", "mnist-ae-z2"]


def test_the_navigation_lists_every_page_file():
    sections = [d for d in (ROOT / "pages").iterdir() if d.is_dir() and d.name != "ui"]
    files = {str(p.relative_to(ROOT)) for d in sections for p in d.glob("*.py")}
    assert set(PAGES) == files
    assert not list((ROOT / "pages").glob("*.py")), "a .py file directly in pages/ turns on Streamlit's legacy multipage mode"


@pytest.mark.parametrize("model", VARIANTS)
def test_every_page_opens_on_the_model(model, tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_USER_MODELS_DIR", str(tmp_path / "user-models"))
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    select_model(at, model)
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception, (page, [e.value for e in at.exception])
        assert at.session_state["selected"].entry.name == model, page


def test_every_page_opens_on_a_model_whose_images_are_missing(tmp_path, monkeypatch):
    """A newcomer without fashion-mnist picks fashion-z2: each page says where the images go, or works without them."""
    import streamlit as st

    monkeypatch.setenv("VAE_DATA_DIR", str(tmp_path / "no-data"))
    monkeypatch.setenv("VAE_USER_MODELS_DIR", str(tmp_path / "user-models"))
    st.cache_data.clear()  # other tests may have cached fashion-mnist's test split from the real data
    st.cache_resource.clear()
    try:
        at = AppTest.from_file(APP, default_timeout=300)
        at.run()
        select_model(at, "fashion-z2")
        told = []
        for page in PAGES:
            at.switch_page(page).run()
            assert not at.exception, (page, [e.value for e in at.exception])
            told += [page for e in at.error if "fashion-mnist is not available" in e.value]
        assert "pages/learn/home.py" in told and "pages/explore/latent_map.py" in told, told
    finally:
        st.cache_data.clear()
        st.cache_resource.clear()


def test_the_lecture_pages_open_on_every_shipped_model(tmp_path, monkeypatch):
    """Issue 12's pages on the models the variant walk above leaves out (conv, β, digits, fashion, z16)."""
    monkeypatch.setenv("VAE_USER_MODELS_DIR", str(tmp_path / "user-models"))
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    options = at.sidebar.selectbox(key="model_picker").options
    others = [o.split(" ·")[0] for o in options if o.split(" ·")[0] not in VARIANTS]
    assert {"mnist-conv-z2", "mnist-conv-z16", "mnist-z2-beta4", "digits-z2"} <= set(others), others
    for model in others:
        select_model(at, model)
        for page in ("pages/learn/inference.py", "pages/learn/reparameterisation.py", "pages/learn/bnn.py"):
            at.switch_page(page).run()
            assert not at.exception, (model, page, [e.value for e in at.exception])
            assert at.session_state["selected"].entry.name == model, page
