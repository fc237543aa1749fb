"""AppTest coverage for the Train page: it opens, trains a tiny model, and refuses bad input."""

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import vae

pytestmark = pytest.mark.slow

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def _open_train_page(query_params: dict | None = None):
    """A new session on the Train page; query_params: its URL's (a reload of a page that had them)."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update(query_params or {})
    at.run()  # run once so st.navigation registers the pages
    at.switch_page("pages/build/train.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture
def page(user_dir):
    return _open_train_page()


def _fill(at, name, **values):
    at.text_input(key="train_hidden").set_value(values.get("hidden", "32"))
    at.number_input(key="train_epochs").set_value(values.get("epochs", 2))
    at.text_input(key="train_name").set_value(name)
    for key, value in values.get("extra", {}).items():
        getattr(at, value[0])(key=key).set_value(value[1])
    at.button(key="train_start").click().run()
    assert not at.exception, [e.value for e in at.exception]


def test_the_page_opens_with_the_form(page):
    assert page.title[0].value == "Train a model"
    assert page.selectbox(key="train_dataset").value == "digits"
    assert page.number_input(key="train_latent").value == 2
    assert not page.main.error  # the sidebar may say no model is shipped yet


def test_the_quick_recipe_fills_in_the_settings_and_they_describe_its_run(page):
    from explorer.train_form import QUICK_RECIPE, configs

    page.button(key="train_quick").click().run()
    assert not page.exception, [e.value for e in page.exception]
    assert page.selectbox(key="train_dataset").value == "mnist" and page.number_input(key="train_latent").value == 2
    assert page.text_input(key="train_hidden").value == QUICK_RECIPE.hidden
    assert page.number_input(key="train_epochs").value == QUICK_RECIPE.epochs
    assert page.number_input(key="train_batch").value == QUICK_RECIPE.batch_size
    assert page.select_slider(key="train_lr").value == QUICK_RECIPE.lr
    config, run = configs(QUICK_RECIPE)  # a valid MNIST z=2 run, the one benchmarks/quick_recipe.py times
    assert config.latent_dim == 2 and config.input_shape == (1, 28, 28) and run.epochs == QUICK_RECIPE.epochs


def test_a_tiny_run_saves_a_model_and_selects_it_in_the_sidebar(page, user_dir):
    _fill(page, "tiny-app")
    deadline = time.monotonic() + 120
    while not (user_dir / "tiny-app" / "card.json").exists() or page.session_state["train_job"].snapshot().running:
        assert time.monotonic() < deadline, "training did not finish"
        time.sleep(0.3)
        page.run()  # AppTest does not run `run_every` fragments by itself
        assert not page.exception, [e.value for e in page.exception]
    page.run()
    assert page.session_state["train_job_announced"]
    picker = page.sidebar.selectbox(key="model_picker")
    assert any(o.startswith("tiny-app · ") for o in picker.options)  # "name · z=2 · yours"
    assert picker.value.startswith("tiny-app")  # the new model is the one selected
    assert any("tiny-app" in s.value and "trained 2 epochs" in s.value for s in page.success)
    assert not page.main.error  # the sidebar may say no model is shipped yet
    # the stored curves now describe the new model
    assert any("How tiny-app trained" in h.value for h in page.subheader)
    assert len(page.get("plotly_chart")) == 2  # its latent map (a 2-D model) and its stored curves
    # The final reconstructions, inline (no media file that could vanish before the browser asks).
    (row,) = [h for h in page.get("html") if "their reconstructions" in h.proto.body]
    assert 'src="data:image/png;base64,' in row.proto.body and "after epoch 2" in row.proto.body


def test_an_invalid_name_shows_an_error_not_a_traceback(page, user_dir):
    _fill(page, "../x")
    assert any("invalid model name" in e.value for e in page.error)
    assert "train_job" not in page.session_state
    assert not user_dir.exists() or not any(user_dir.iterdir())


def test_conv_on_8x8_digits_is_refused(page):
    _fill(page, "conv-digits", hidden="32,64", extra={"train_arch": ("radio", "conv")})
    assert any("conv architecture needs 28×28" in e.value for e in page.error)


def test_an_existing_name_asks_for_confirmation(page, user_dir):
    (user_dir / "mine").mkdir(parents=True)
    _fill(page, "mine")
    assert any("Replace my model" in e.value for e in page.error)


def test_the_live_view_shows_progress_and_stop_ends_the_run(page, user_dir):
    _fill(page, "long-run", epochs=500)
    job = page.session_state["train_job"]
    while not job.snapshot().history:  # let one epoch finish so there is something to save
        assert job.join(0.1) is False, job.snapshot().message
    page.run()
    assert len(page.get("progress")) == 1 and "Epoch" in page.get("progress")[0].proto.text
    page.button(key="train_stop").click().run()
    assert job.join(120)
    page.run()
    assert any("stopped after" in w.value and "long-run" in w.value for w in page.warning)
    assert page.sidebar.selectbox(key="model_picker").value.startswith("long-run")
    assert (user_dir / "long-run" / "card.json").exists()


def test_a_blank_name_gets_an_automatic_one(page, user_dir):
    _fill(page, "", epochs=1)
    job = page.session_state["train_job"]
    assert job.name.startswith("digits-z2-")
    assert job.join(120)
    page.run()
    assert (user_dir / job.name / "card.json").exists()
    assert page.sidebar.selectbox(key="model_picker").value.startswith(job.name)


def test_a_dataset_not_on_this_machine_is_refused_with_how_to_get_it(user_dir, tmp_path, monkeypatch):
    empty = tmp_path / "no-data"
    empty.mkdir()
    monkeypatch.setenv("VAE_DATA_DIR", str(empty))
    at = _open_train_page()
    picker = at.selectbox(key="train_dataset")
    assert any(o.startswith("kmnist") and o.endswith("(not on this machine)") for o in picker.options)
    picker.select("kmnist")
    at.button(key="train_start").click().run()
    assert not at.exception
    message = " ".join(e.value for e in at.main.error)
    assert "kmnist is not on this machine" in message and "VAE_DATA_DIR" in message and "Download" in message
    assert "train_job" not in at.session_state


def test_a_conditional_run_with_a_mixture_prior_trains_and_saves_that_model(page, user_dir):
    _fill(page, "cvae-mog", epochs=1, extra={"train_conditional": ("toggle", True), "train_prior": ("selectbox", "mog")})
    job = page.session_state["train_job"]
    assert job.join(120)
    snap = job.snapshot()
    assert snap.state == "done", snap.message
    model, card = vae.load_model(user_dir / "cvae-mog")
    assert model.config.n_classes == 10 and model.config.prior == "mog"
    assert snap.recon is not None and card.metrics.neg_elbo > 0


def _running(at, name, epochs=500):
    """Start a run named `name` from `at` and wait for its first finished epoch; returns the job."""
    _fill(at, name, epochs=epochs)
    job = at.session_state["train_job"]
    while not job.snapshot().history:
        assert job.join(0.1) is False, job.snapshot().message
    return job


def _bar_text(at) -> str:
    return " ".join(p.proto.text for p in at.get("progress")).replace("**", "")


def test_a_reloaded_page_finds_its_run_again_with_progress_map_and_stop(page, user_dir):
    job = _running(page, "reload-run")
    page.run()
    assert page.query_params["run"] == "reload-run"  # the URL names the run: a reload keeps it
    assert any("Means of q(z|x)" in c.value for c in page.caption)  # the latent map, live
    reloaded = _open_train_page(dict(page.query_params))  # a reload is a new session with the same URL
    try:
        assert reloaded.session_state["train_job"] is job
        assert "reload-run on digits" in _bar_text(reloaded) and "Epoch" in _bar_text(reloaded)
        reloaded.button(key="train_stop").click().run()
        assert job.snapshot().stop_requested
    finally:
        job.stop()
    assert job.join(120)
    reloaded.run()
    assert any("stopped after" in w.value and "reload-run" in w.value for w in reloaded.warning)


def test_another_session_sees_the_run_and_may_not_start_one_of_the_same_name(page, user_dir):
    job = _running(page, "shared-name")
    other = _open_train_page()
    try:
        assert "train_job" not in other.session_state  # not its run, but listed with a way to watch it
        assert any("**shared-name** is training on this server now" in m.value for m in other.markdown)
        _fill(other, "shared-name", epochs=5)
        assert any("Not started" in e.value and "being trained right now" in e.value for e in other.error)
        other.button(key="train_watch_shared-name").click().run()
        assert other.session_state["train_job"] is job and "shared-name on digits" in _bar_text(other)
    finally:
        job.stop()
    assert job.join(120)


def test_after_a_2d_run_its_map_can_be_scrubbed_through_the_epochs(page, user_dir):
    _fill(page, "scrub", epochs=3)
    job = page.session_state["train_job"]
    assert job.join(120)
    page.run()
    (scrub,) = [s for s in page.select_slider if s.label == "Epoch"]
    assert list(scrub.options) == ["1", "2", "3"] and scrub.value == 3
    assert any("after epoch 3, coloured by label" in c.value for c in page.caption)
    scrub.set_value(1).run()
    assert any("after epoch 1, coloured by label" in c.value for c in page.caption)
    assert not page.exception
