"""Every page opens without an exception on the shipped models that differ from a plain VAE.

The conditional model needs labels wherever it is called, the mixture prior has no closed-form
KL, the Gaussian decoder has other units, the plain autoencoder has no q(z|x) and no KL: a page
that forgets one of these must still say something sensible instead of crashing.
"""

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from apptest import select_model

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
PAGES = sorted(re.findall(r'st\.Page\("(pages/[a-z]+/[a-z_]+\.py)"', (ROOT / "app.py").read_text()))
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
