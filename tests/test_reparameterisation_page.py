"""AppTest coverage for "Why reparameterise?": it opens on the shipped models, plots both estimators'
spread, states the variance ratio the core computes, and its 1-D toy shows the exact gradient."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

import vae
from explorer import gradients
from explorer.registry import showable_split
from apptest import select_model

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
PAGE = "pages/learn/reparameterisation.py"


def ok(at):
    assert not at.exception, [e.value for e in at.exception]
    return at


def open_page(user_dir, model="mnist-z2"):
    at = ok(AppTest.from_file(str(ROOT / "app.py"), default_timeout=300).run())
    if model != "mnist-z2":
        ok(select_model(at, model))
    return ok(at.switch_page(PAGE).run())


def ratio_text(at) -> str:
    return next(md.value for md in at.markdown if "times more samples" in md.value)


def test_page_states_the_ratio_the_core_computes_on_mnist_z2(user_dir):
    at = open_page(user_dir)
    assert at.title[0].value == "Why reparameterise?"
    loglog = json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]
    assert loglog["xaxis"]["type"] == loglog["yaxis"]["type"] == "log"
    at.number_input(key="rp_row").set_value(3)
    at.select_slider(key="rp_n").set_value(30)
    ok(at.run())
    # The same numbers straight from the core, on the split the page shows.
    model, card = vae.load_model(ROOT / "models" / "mnist-z2", device="cpu")
    split, _ = showable_split(card.dataset)
    draws = gradients.elbo_gradient_draws(model, split.x[3:4], None, 20_000, torch.Generator().manual_seed(0))
    spread = gradients.gradient_spread(draws)
    k = list(spread.n).index(30)
    ratio = spread.variance_ratio[k, 0]
    text = ratio_text(at)
    assert "n = 30" in text and f"{ratio:,.0f} times more samples" in text and ratio > 10
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Score function spread, n = 30"] == f"± {spread.score_std[k, 0]:.3g}"
    assert metrics["Pathwise spread, n = 30"] == f"± {spread.pathwise_std[k, 0]:.3g}"
    # The histogram shows the 200 estimates at n = 30 of the chosen component.
    at.selectbox(key="rp_component").set_value("log σ²₂")
    ok(at.run())
    hist = json.loads(at.get("plotly_chart")[1].proto.spec)
    assert hist["layout"]["shapes"][0]["x0"] == pytest.approx(draws.reference[3])
    assert "∂/∂log σ²₂" in hist["layout"]["xaxis2"]["title"]["text"]


def test_toy_table_shows_the_exact_gradient_and_unbiased_means(user_dir):
    at = open_page(user_dir)
    at.slider(key="rp_toy_c").set_value(-1.5)
    at.select_slider(key="rp_n").set_value(100)
    ok(at.run())
    table = at.dataframe[0].value
    assert list(table.index) == ["exact", "score function", "pathwise"]
    assert float(table.loc["exact", "∂/∂μ"]) == pytest.approx(3.0)  # 2 (mu - c) with mu = 0
    assert float(table.loc["exact", "∂/∂log σ²"]) == pytest.approx(0.25)  # sigma^2
    for row in ("score function", "pathwise"):
        mean, spread = (float(v) for v in re.split(r" ± ", table.loc[row, "∂/∂μ"]))
        assert abs(mean - 3.0) < 4 * spread / np.sqrt(200)


@pytest.mark.parametrize("model, components", [("mnist-cvae-z2", 4), ("mnist-z16", 32), ("mnist-mog-z2", 4),
                                               ("mnist-z2-gaussian", 4)])
def test_page_opens_on_other_shipped_models(user_dir, model, components):
    at = open_page(user_dir, model)
    assert len(at.selectbox(key="rp_component").options) == components
    assert len(at.get("plotly_chart")) == 3
    assert "times more samples" in ratio_text(at)
