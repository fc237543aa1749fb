"""Train a model: choose a dataset and a few knobs, watch the VAE learn live, then explore it.

The run happens in a child process that a `jobs.TrainingJob` starts and watches; this page only
reads the job's snapshots, from fragments that redraw a few times a second, so training never
blocks this or any other session. Start, Stop, the progress and every message sit in one bar at the
top that stays on screen; the settings are below the run's curves, reconstructions and latent map.
The settings' checks: `explorer.train_form`; what a run shows: `explorer.train_progress`.
"""

from __future__ import annotations

import streamlit as st

import vae
from pages.ui.train_views import (BAR_KEY, PROGRESS_SECONDS, RESULTS_SECONDS, announce_if_finished, bar_css,
                                  finished_results, follow, live_bar, live_results, other_runs_ui, session_job,
                                  settings_ui, start_ui, stored_curves)
from pages.ui.widgets import remember
from explorer import registry
from explorer.i18n import _
from explorer.train_form import make_job

remember(
    "train_dataset", "train_download", "train_latent", "train_arch", "train_hidden", "train_likelihood",
    "train_epochs", "train_batch", "train_lr", "train_beta", "train_warmup", "train_seed",
    "train_conditional", "train_prior", "train_name", "train_overwrite",
)

st.title(_("Train a model"))
st.markdown(_("Choose the settings, press **Start training**, and watch the loss fall, the reconstructions "
              "sharpen and (with 2 latent dimensions) the latent space organise, epoch by epoch."))

user_dir = registry.user_models_dir()
job = session_job(user_dir)  # this session's run, or the one a reloaded page's link names
if job is not None:
    announce_if_finished(job)  # a full rerun can be the first to see the end
running = job is not None and job.snapshot().running

bar = st.container(border=True, key=BAR_KEY)  # filled below, once the settings are read
results = st.container()
offline = {name: vae.available_offline(name) for name in vae.DATASETS}
form = settings_ui(offline)


def start() -> str | None:
    """Start a run with the settings and follow it; else why not, for the bar to show beside Start."""
    try:  # start() refuses a name another session is training into
        new_job = make_job(form, offline[form.dataset], user_dir, registry.SHIPPED_DIR).start()
    except ValueError as e:
        return str(e)
    follow(new_job)
    st.rerun()  # the bar turns into the progress and Stop


with bar:
    bar_css()
    if running:
        st.fragment(live_bar, run_every=PROGRESS_SECONDS)()
    else:
        start_ui(job, start)

with results:
    if running:
        st.fragment(live_results, run_every=RESULTS_SECONDS)()
    else:
        other_runs_ui(job)
        if job is not None:
            finished_results(job)
if not running:
    stored_curves(st.session_state.get("selected"))
