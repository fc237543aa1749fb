"""The Train page's pieces: the settings, the bar that holds Start, Stop, the progress and every message
(kept on screen while the page scrolls), the live and finished views of a run, and how a stored model
trained.

Layout only: the checks come from `explorer.train_form`; the texts, figures and reconstructions from
`explorer.train_progress`; the jobs (and the server-wide registry that finds them again) from
`explorer.jobs`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import streamlit as st

import vae
from explorer import jobs, registry, train_progress
from explorer.i18n import _
from explorer.jobs import SweepJob, TrainingJob
from explorer.train_form import (ARCH_NAMES, LEARNING_RATES, LIKELIHOOD_NAMES, MEASURED_SECONDS, PRIOR_NAMES, QUICK_RECIPE,
                                 QUICK_SECONDS, TrainForm, dataset_label, shown_name)

from .links import from_link, publish
from .widgets import Selected, pick_model

# The job lives in st.session_state, not st.cache_resource(scope="session"): a job is made per
# click of Start (not a pure function of arguments), and a session-scoped cache is emptied on
# every websocket disconnect (a flaky classroom Wi-Fi, a laptop lid) while session_state
# survives the reconnect, so the live view picks up the running job again. A reload is a new
# session: the URL's ?run=<name> and `explorer.jobs.find_job` bring the job back to it.
JOB_KEY, ANNOUNCED_KEY = "train_job", "train_job_announced"
RUN_PARAM = "run"
BAR_KEY = "train_bar"
PROGRESS_SECONDS = 0.25  # how often the bar redraws the progress (a light fragment: text, a bar, Stop)
RESULTS_SECONDS = 1.0  # how often the curves, the reconstructions and the latent map redraw
MAX_OTHER_RUNS = 5  # other sessions' runs listed in the bar
MAP_PX, RECON_PX = 440, 400  # widths of the latent map and of the reconstructions beside it
# The bar sticks under Streamlit's header (3.75rem) on the page's background, so Start, Stop, the
# progress and the messages stay on screen however far the user scrolls. Streamlit wraps a keyed
# container in a layout wrapper of its own size, and a sticky element cannot leave its parent: the
# wrapper is what sticks.
BAR_CSS = """<style>
[data-testid="stLayoutWrapper"]:has(> .st-key-train_bar) { position: sticky; top: 3.75rem; z-index: 100; }
.st-key-train_bar { background-color: BACKGROUND; }
</style>"""


def follow(job: TrainingJob) -> None:
    """Show `job` on this session's Train page from now on (its own, or one found after a reload)."""
    st.session_state[JOB_KEY] = job
    st.session_state[ANNOUNCED_KEY] = job.snapshot().finished  # an end seen elsewhere is not announced again


def session_job(user_dir: Path) -> TrainingJob | None:
    """This session's job; on a reload (a new session) the one the URL names, if this server still has it.
    Keeps ?run=<name> in the URL while there is one."""
    job: TrainingJob | None = st.session_state.get(JOB_KEY)
    if job is None:
        name = from_link(RUN_PARAM)
        found = jobs.find_job(user_dir / name) if name and "/" not in name else None
        if found is not None and not isinstance(found, SweepJob):
            follow(found)
            job = found
    publish(RUN_PARAM, None if job is None else job.name)
    return job


def announce_if_finished(job: TrainingJob) -> None:
    """Once per job: select the new model in the sidebar and rerun the whole app so the picker lists it."""
    snap = job.snapshot()
    if snap.finished and not st.session_state.get(ANNOUNCED_KEY):
        st.session_state[ANNOUNCED_KEY] = True
        if snap.saved_path is not None:
            pick_model(snap.name)
        st.rerun(scope="app")


# --- the settings ----------------------------------------------------------------------------------

# The form's fields and the widgets that show them (what a recipe fills in).
RECIPE_KEYS = {"dataset": "train_dataset", "latent_dim": "train_latent", "arch": "train_arch", "hidden": "train_hidden",
               "likelihood": "train_likelihood", "prior": "train_prior", "conditional": "train_conditional",
               "epochs": "train_epochs", "batch_size": "train_batch", "lr": "train_lr", "beta": "train_beta",
               "warmup": "train_warmup", "seed": "train_seed"}


def use_recipe(form: TrainForm) -> None:
    """Set the settings' widgets to a recipe's values (a button's callback: before they are drawn)."""
    for field, key in RECIPE_KEYS.items():
        st.session_state[key] = getattr(form, field)


def settings_ui(offline: dict[str, bool]) -> TrainForm:
    """The run's settings as they stand; offline: dataset -> on this machine.

    Each field has a fixed width and a row wraps when the page is narrow (a projector's 1024 pixels
    with the sidebar open), so every label stays on one line instead of breaking letter by letter.
    """
    with st.container(border=True, key="train_settings"):
        with st.container(horizontal=True, wrap=True, vertical_alignment="center", gap="small"):
            st.markdown(_("**Settings** · used when you press **Start training**"), width="content")
            st.button(_("Quick recipe: a 2-D MNIST model in under a minute"), key="train_quick", icon=":material/bolt:",
                      on_click=use_recipe, args=(QUICK_RECIPE,), type="tertiary",
                      help=_("Fills in the settings below: MNIST, 2 latent dimensions, a high learning rate decaying over "
                             "{epochs} epochs. It reached a test −ELBO of 145 nats or less in about {seconds} s on an idle "
                             "2-core machine (measured), then trains on to its last epoch.").format(
                                 epochs=QUICK_RECIPE.epochs, seconds=QUICK_SECONDS))
        with st.container(horizontal=True, wrap=True, gap="medium"):
            dataset = st.selectbox(_("Dataset"), vae.DATASETS, index=vae.DATASETS.index("digits"), key="train_dataset",
                                   format_func=lambda n: dataset_label(n, offline[n]), width=330)
            latent_dim = st.number_input(_("Latent dimensions"), min_value=1, max_value=64, value=2, step=1, width=170,
                                         key="train_latent", help=_("2 gives a map you can see, redrawn every epoch "
                                                                    "while it trains; more gives sharper reconstructions."))
            # The options are the values the config takes (kept in session_state); format_func shows their names.
            arch = st.radio(_("Architecture"), list(ARCH_NAMES), horizontal=True, key="train_arch", width=170,
                            format_func=lambda a: shown_name(ARCH_NAMES, a),
                            help=_("mlp: fully connected, any image size. conv: two stride-2 convolutions, 28×28 images "
                                   "only (not digits); hidden sizes: two channel counts, e.g. 32,64, and optionally the "
                                   "fully connected width (default 256), e.g. 32,128,512."))
            hidden = st.text_input(_("Hidden sizes"), value="256,128", key="train_hidden", width=170,
                                   help=_("Encoder widths, comma-separated; the decoder mirrors them."))
            likelihood = st.selectbox(_("Decoder likelihood"), list(LIKELIHOOD_NAMES), key="train_likelihood",
                                      format_func=lambda v: shown_name(LIKELIHOOD_NAMES, v), width=170,
                                      help=_("bernoulli: binary cross-entropy per pixel; gaussian: scaled squared error."))
            prior = st.selectbox(_("Prior p(z)"), list(PRIOR_NAMES), key="train_prior",
                                 format_func=lambda p: shown_name(PRIOR_NAMES, p), width=280,
                                 help=_("The mixture's KL has no closed form: it is estimated from the sampled z."))
            conditional = st.toggle(_("Conditional VAE (give it the label)"), key="train_conditional",
                                    help=_("Encoder and decoder also get the one-hot label, so z only has to hold the "
                                           "style."))
        with st.container(horizontal=True, wrap=True, gap="medium"):
            epochs = st.number_input(_("Epochs"), min_value=1, max_value=1000, value=50, step=10, key="train_epochs",
                                     width=150)
            batch_size = st.number_input(_("Batch size"), min_value=1, max_value=4096, value=64, step=32,
                                         key="train_batch", width=150)
            lr = st.select_slider(_("Learning rate"), LEARNING_RATES, value=1e-3, format_func=lambda v: f"{v:g}",
                                  key="train_lr", width=280)
            beta = st.number_input("β", min_value=0.0, max_value=50.0, value=1.0, step=0.5, key="train_beta",
                                   width=150, help=_("Weight of the KL term: 1 is the true ELBO; more pushes codes to "
                                                     "the prior (β-VAE)."))
            warmup = st.number_input(_("KL warm-up"), min_value=0, max_value=500, value=0, step=1, key="train_warmup",
                                     width=150, help=_("Epochs over which the KL weight rises linearly to β "
                                                       "(β/warm-up in the first epoch)."))
            seed = st.number_input(_("Seed"), min_value=0, max_value=2**31 - 1, value=0, step=1, key="train_seed",
                                   width=150)
        with st.container(horizontal=True, wrap=True, gap="medium", vertical_alignment="bottom"):
            name = st.text_input(_("Model name"), key="train_name",
                                 placeholder=_("blank: automatic, like digits-z2-hhmmss"), width=330,
                                 help=_("Letters, digits, '-', '_' or '.'; saved in {folder}").format(
                                     folder=registry.user_models_dir()))
            overwrite = st.checkbox(_("Replace my model if this name exists"), key="train_overwrite")
            download = False
            if not all(offline.values()):
                download = st.checkbox(_("Download a missing dataset (needs internet)"), key="train_download",
                                       help=_("Files go to {folder}").format(folder=vae.data_dir()))
    return TrainForm(dataset=dataset, latent_dim=int(latent_dim), arch=arch, hidden=hidden, likelihood=likelihood,
                     epochs=int(epochs), batch_size=int(batch_size), lr=float(lr), beta=float(beta), warmup=int(warmup),
                     seed=int(seed), conditional=bool(conditional), prior=prior, name=name.strip(),
                     overwrite=overwrite, download=download)


# --- the bar: Start or Stop, the progress and the messages -----------------------------------------

def bar_css() -> None:
    st.html(BAR_CSS.replace("BACKGROUND", st.get_option("theme.backgroundColor") or "#ffffff"))


def start_ui(job: TrainingJob | None, start: Callable[[], str | None]) -> None:
    """Start, and beside it what the user must see now: why a press did not start a run (`start` returns
    why), how the last run ended, or how long a run takes."""
    with st.container(horizontal=True, wrap=False, vertical_alignment="center", gap="medium"):
        problem = None
        if st.button(_("Start training"), type="primary", icon=":material/play_arrow:", key="train_start"):
            problem = start()
        if problem:
            st.error(_("Not started: {problem}").format(problem=problem), icon=":material/error:")
        elif job is not None:
            end = train_progress.outcome(job.snapshot())
            getattr(st, end.kind)(end.text, icon=end.icon)  # st.success, st.warning or st.error
        else:
            st.caption(_(":material/timer: With the default settings a run takes about {seconds} s on 2 CPU cores "
                         "(measured; longer while the machine is busy); watch it learn epoch by epoch here.").format(
                             seconds=MEASURED_SECONDS))


def other_runs_ui(job: TrainingJob | None) -> None:
    """The runs other sessions (or this browser before a reload) are training, each with Watch."""
    others = [j for j in jobs.running_jobs() if j is not job and not isinstance(j, SweepJob)][:MAX_OTHER_RUNS]
    for other in others:
        snap = other.snapshot()
        with st.container(horizontal=True, wrap=False, vertical_alignment="center", gap="small"):
            st.button(_("Watch"), key=f"train_watch_{snap.name}", on_click=follow, args=(other,),
                      icon=":material/visibility:", type="tertiary",
                      help=_("Show its progress, curves and Stop here (e.g. your own run, after a reload)."))
            st.markdown(_("**{name}** is training on this server now (epoch {epoch} of {epochs}, {dataset})").format(
                name=snap.name, epoch=snap.epoch, epochs=snap.epochs, dataset=snap.dataset))


def live_bar() -> None:
    """The running job's name, Stop and progress (a fragment: it redraws every PROGRESS_SECONDS)."""
    job: TrainingJob = st.session_state[JOB_KEY]
    announce_if_finished(job)
    snap = job.snapshot()
    with st.container(horizontal=True, wrap=False, vertical_alignment="center", gap="medium"):
        # on_click: the stop is asked before anything else of the rerun runs.
        st.button(_("Stop"), icon=":material/stop:", key="train_stop", on_click=job.stop, disabled=snap.stop_requested,
                  help=_("Ends the run at the next training step; the last finished epoch is saved."))
        st.progress(snap.progress, text=_("**{name}** on {dataset} · {progress}").format(
            name=snap.name, dataset=snap.dataset, progress=train_progress.progress_text(snap)))


# --- the run's curves, reconstructions and latent map ----------------------------------------------

def curves(history: Sequence[dict[str, Any]], key: str) -> None:
    st.plotly_chart(train_progress.curves_figure(history), key=key, config={"displayModeBar": False})


def map_and_recon_ui(snap: jobs.JobSnapshot, live: bool, scrub_key: str | None = None) -> None:
    """The latent map (a 2-D model) beside the reconstructions; each has its own width and the row wraps,
    so on a narrow page (1024 pixels with the sidebar) the map keeps its size above the images."""
    with st.container(horizontal=True, wrap=True, gap="large"):
        if snap.map_frames:
            with st.container(width=MAP_PX):
                epochs = [e for e, _ in snap.map_frames]
                epoch = epochs[-1]
                if not live:
                    st.markdown(_("**How {name}'s latent space organised** · drag through the epochs").format(
                        name=snap.name))
                    if len(epochs) > 1:
                        epoch = st.select_slider(_("Epoch"), epochs, value=epochs[-1], key=scrub_key)
                st.plotly_chart(train_progress.map_figure(snap, epoch), key="train_live_map" if live else "train_map",
                                config={"displayModeBar": False})
                st.caption(train_progress.map_caption(epoch, len(snap.map_labels)))
        if snap.recon is not None:
            with st.container(width=RECON_PX if snap.map_frames else "stretch"):
                st.html(train_progress.recon_html(snap))


def live_results() -> None:
    """Curves, reconstructions and the 2-D map of the running job (a fragment: every RESULTS_SECONDS)."""
    snap = st.session_state[JOB_KEY].snapshot()
    if not snap.history:
        st.caption(_("The curves, reconstructions and latent map appear when the first epoch finishes."))
        return
    st.markdown(train_progress.last_epoch_text(snap.history))
    curves(snap.history, key="train_live_curves")
    map_and_recon_ui(snap, live=True)


def finished_results(job: TrainingJob) -> None:
    """After the run: its map, scrubbable over the epochs, and its last reconstructions."""
    snap = job.snapshot()
    if snap.saved_path is not None:
        map_and_recon_ui(snap, live=False, scrub_key=f"train_map_epoch_{id(job)}")


def stored_curves(selected: Selected | None) -> None:
    if selected is None:
        st.info(_("Pick a model in the sidebar to see how it trained, or train one with the settings above."))
        return
    st.subheader(_("How {name} trained").format(name=selected.entry.name))
    if not selected.card.history:
        st.caption(_("This model's card has no per-epoch history."))
        return
    st.caption(train_progress.run_summary(selected.card))
    curves(selected.card.history, key="train_stored_curves")
