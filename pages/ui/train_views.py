"""The Train page's views of a run: live while it trains, its outcome, and how a stored model trained.

Layout only: the texts, the figure and the reconstructions come from `explorer.train_progress`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import streamlit as st

from explorer import train_progress
from explorer.jobs import TrainingJob

from .widgets import Selected, pick_model

# The job lives in st.session_state, not st.cache_resource(scope="session"): a job is made per
# click of Start (not a pure function of arguments), and a session-scoped cache is emptied on
# every websocket disconnect (a flaky classroom Wi-Fi, a laptop lid) while session_state
# survives the reconnect, so the live view picks up the running job again.
JOB_KEY, ANNOUNCED_KEY = "train_job", "train_job_announced"


def announce_if_finished(job: TrainingJob) -> None:
    """Once per job: select the new model in the sidebar and rerun the whole app so the picker lists it."""
    snap = job.snapshot()
    if snap.finished and not st.session_state.get(ANNOUNCED_KEY):
        st.session_state[ANNOUNCED_KEY] = True
        if snap.saved_path is not None:
            pick_model(snap.name)
        st.rerun(scope="app")


def curves(history: Sequence[dict[str, Any]], key: str) -> None:
    st.plotly_chart(train_progress.curves_figure(history), key=key, config={"displayModeBar": False})


def live_view() -> None:
    """The running job: progress, Stop, and once an epoch has finished its curves and reconstructions."""
    job: TrainingJob = st.session_state[JOB_KEY]
    announce_if_finished(job)
    snap = job.snapshot()
    with st.container(border=True):
        top, stop = st.columns([5, 1], vertical_alignment="center")
        top.markdown(f"#### :material/model_training: Training **{snap.name}** on {snap.dataset}")
        if stop.button("Stop", icon=":material/stop:", key="train_stop", disabled=snap.stop_requested, width="stretch",
                       help="Ends the run after the current step; the last finished epoch is saved."):
            job.stop()
            snap = job.snapshot()
        st.progress(snap.progress, text=train_progress.progress_text(snap))
        if snap.history:
            st.markdown(train_progress.last_epoch_text(snap.history))
            curves(snap.history, key="train_live_curves")
            st.html(train_progress.recon_html(snap))
        else:
            st.caption("The curves and reconstructions appear when the first epoch finishes.")


def finished_view(job: TrainingJob) -> None:
    snap = job.snapshot()
    end = train_progress.outcome(snap)
    getattr(st, end.kind)(end.text, icon=end.icon)  # st.success, st.warning or st.error
    if snap.recon is not None and snap.saved_path is not None:
        st.html(train_progress.recon_html(snap))


def stored_curves(selected: Selected | None) -> None:
    if selected is None:
        st.info("Pick a model in the sidebar to see how it trained, or train one with the form.")
        return
    st.subheader(f"How {selected.entry.name} trained")
    if not selected.card.history:
        st.caption("This model's card has no per-epoch history.")
        return
    st.caption(train_progress.run_summary(selected.card))
    curves(selected.card.history, key="train_stored_curves")
