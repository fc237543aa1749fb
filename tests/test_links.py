"""Links that open a view (explorer.links) and the pages that read them (AppTest): model, code z, test image."""

from pathlib import Path

import pytest
from apptest import PAGE_FILES
from streamlit.testing.v1 import AppTest

from explorer import links

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def test_codes_round_trip_and_bad_ones_are_refused():
    assert links.format_code([1.234, -0.5, -0.001]) == "1.23,-0.50,0.00"
    assert links.parse_code("1.23,-0.50", 2) == [1.23, -0.5]
    assert links.parse_code("9,-9", 2, reach=(3.0, 4.0)) == [3.0, -4.0]  # clipped to the sliders' reach
    for bad in (None, "", "1,2,3", "a,b", "nan,0", "inf,1", "1"):
        assert links.parse_code(bad, 2) is None, bad


def test_indices_and_names():
    assert links.parse_index("7", 10) == 7
    for bad in (None, "", "-1", "10", "3.5", "x"):
        assert links.parse_index(bad, 10) is None, bad
    assert links.parse_name("mnist-z2", ["mnist-z2"]) == "mnist-z2"
    assert links.parse_name("../etc", ["mnist-z2"]) is None


def test_share_url_keeps_the_page_and_sorts_the_parameters():
    url = links.share_url("http://127.0.0.1:8501/decoder", "decoder", {"z": "0.50,-1.00", "model": "mnist-z2"})
    assert url == "http://127.0.0.1:8501/decoder?model=mnist-z2&z=0.50,-1.00"
    assert links.share_url("http://h:1", "latent_map", {"row": "3"}) == "http://h:1/latent_map?row=3"
    assert links.share_url("http://h:1/", "", {}) == "http://h:1"
    assert links.share_url(None, "decoder", {"a": "b c"}) == "/decoder?a=b+c"


def opened(params: dict, page: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300)
    for k, v in params.items():
        at.query_params[k] = v
    if page:
        at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.slow
def test_a_link_names_the_model_and_an_unknown_one_is_said_so(user_dir):
    at = opened({"model": "mnist-z16"})
    assert at.session_state["selected"].entry.name == "mnist-z16"
    at.run()  # read once: later runs follow the picker, which is bound to the address (a reload keeps it)
    assert at.session_state["selected"].entry.name == "mnist-z16"
    at = opened({"model": "not-a-model"})
    assert at.session_state["selected"].entry.name == "mnist-z2"
    assert any("not-a-model" in w.value for w in at.sidebar.warning)


@pytest.mark.slow
def test_decoder_opens_at_the_linked_code_and_ignores_a_broken_one(user_dir):
    at = opened({"model": "mnist-z2", "z": "1.25,-0.50"}, "pages/explore/decoder.py")
    assert at.session_state["dec_z"] == [1.25, -0.5]
    assert at.query_params["z"] == "1.25,-0.50"
    at = opened({"model": "mnist-z2", "z": "oops"}, "pages/explore/decoder.py")
    assert at.session_state["dec_z"] == [0.0, 0.0]


@pytest.mark.slow
def test_latent_map_opens_on_the_linked_test_image(user_dir):
    at = opened({"model": "mnist-z2", "row": "42"}, "pages/explore/latent_map.py")
    assert any("Test image #42" in m.value for m in at.markdown)
    at = opened({"model": "mnist-z2", "row": "99999999"}, "pages/explore/latent_map.py")
    assert not any("Test image #" in m.value for m in at.markdown)


@pytest.mark.slow
def test_every_page_opened_first_in_a_fresh_session_runs_the_whole_app(user_dir):
    """What a deep link gives (a new tab on any page): app.py runs, so the picker and navigation are there."""
    assert len(PAGE_FILES) >= 15
    for page in PAGE_FILES:
        at = opened({}, page)
        assert at.session_state["selected"].entry.name == "mnist-z2", page
        assert at.sidebar.selectbox(key="model_picker").value.startswith("mnist-z2 ·"), page
        assert at.get("title") or at.get("heading"), page  # the page itself drew
