"""The Decoder's 'Every dimension' tab (issue 13 item 11): models with more than two latent dimensions
get one row per dimension, the most used first; 2-D models keep their manifold and no such tab."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from apptest import select_model

pytestmark = pytest.mark.slow

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def decoder_on(model: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    select_model(at, model)
    at.switch_page("pages/explore/decoder.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_a_16_d_model_shows_every_dimension_active_first(user_dir):
    at = decoder_on("mnist-z16")
    assert "Every dimension" in [t.label for t in at.tabs]
    rows = next(m.value for m in at.markdown if m.value.startswith("Rows, top to bottom"))
    names = rows.split("\n")[1:]
    assert len(names) == 16
    kls = [float(n.split("KL ")[1].rstrip(") ")) for n in names]
    assert kls == sorted(kls, reverse=True)  # the most informative dimension first
    assert "inactive" in names[-1]  # collapsed dimensions last, and named as such


def test_a_2_d_model_has_no_such_tab(user_dir):
    assert "Every dimension" not in [t.label for t in decoder_on("mnist-z2").tabs]
