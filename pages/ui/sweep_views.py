"""The β sweep box of the rate–distortion page: start a sweep, watch it train, stop it, read how it went.

Layout only: the job (`explorer.jobs.SweepJob`, the Train page's machinery) and its texts come
from `explorer.rate_distortion`.
"""

from __future__ import annotations

import streamlit as st

from explorer import rate_distortion as rd, registry
from explorer.i18n import _
from explorer.jobs import SweepJob

# The job lives in st.session_state and survives reruns and reconnects, like the Train page's
# (see pages/ui/train_views.py).
JOB_KEY, ANNOUNCED_KEY = "rd_sweep_job", "rd_sweep_announced"
DATASET_PENDING_KEY = "_rd_dataset_pending"  # the page's dataset selectbox exists already: set it next run
REFRESH_SECONDS = 0.5


def announce_if_finished() -> None:
    """Once per sweep: show its dataset and rerun the whole app, so the picker and the plot list its models."""
    job: SweepJob | None = st.session_state.get(JOB_KEY)
    if job is not None and job.snapshot().finished and not st.session_state.get(ANNOUNCED_KEY):
        st.session_state[ANNOUNCED_KEY] = True
        st.session_state[DATASET_PENDING_KEY] = job.dataset
        st.rerun(scope="app")


def live_view() -> None:
    """Redrawn every REFRESH_SECONDS while the sweep runs: its progress and a Stop button."""
    announce_if_finished()
    job: SweepJob = st.session_state[JOB_KEY]
    if st.button(_("Stop"), key="rd_sweep_stop", icon=":material/stop:", disabled=job.snapshot().stop_requested,
                 help=_("Ends the model in training after this step (its last finished epoch is saved); skips the "
                        "rest.")):
        job.stop()
    snap = job.snapshot()
    st.progress(snap.progress, text=rd.sweep_progress_text(snap))


def sweep_box_ui() -> None:
    """Pick βs and epochs and start the sweep; then watch it (and stop it) or read how it went."""
    job: SweepJob | None = st.session_state.get(JOB_KEY)
    running = job is not None and job.snapshot().running
    st.markdown("##### " + _("β sweep on digits"))
    st.caption(_("Trains one small model (8×8 digits, z = 2, MLP 256-128) per β, same seed and data, a few seconds "
                 "each, in the background; each is saved in your models folder and its point joins the plot."))
    betas = st.multiselect(_("β values"), rd.SWEEP_BETAS, default=rd.SWEEP_DEFAULT_BETAS, key="rd_sweep_betas",
                           format_func=lambda b: f"{b:g}", placeholder=_("Choose options"))  # Streamlit's own, said here
    epochs = st.slider(_("Epochs per model"), 10, 100, 50, step=10, key="rd_sweep_epochs")
    if st.button(_("Run β sweep"), key="rd_sweep_run", type="primary", disabled=running or not betas,
                 icon=":material/play_arrow:",
                 help=_("Saves {prefix}-beta<β> in your models folder, replacing an earlier sweep's.").format(
                     prefix=rd.SWEEP_PREFIX)):
        try:
            st.session_state[JOB_KEY] = rd.sweep_job(betas, epochs, registry.user_models_dir()).start()
        except ValueError as e:  # another session is training into one of these names right now
            st.error(_("Not started: {problem}").format(problem=e), icon=":material/error:")
        else:
            st.session_state[ANNOUNCED_KEY] = False
            st.rerun()
    if running:
        st.fragment(live_view, run_every=REFRESH_SECONDS)()
    elif job is not None:
        snap = job.snapshot()
        (st.success if snap.state == "done" else st.warning)(rd.sweep_report(snap))
    elif not betas:
        st.caption(_("Pick at least one β."))
