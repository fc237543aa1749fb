"""VAE Latent Explorer: `streamlit run app.py`.

The entry point lays out navigation and the sidebar model picker shared by every page. The pages
live in `pages/<section>/`, one folder per navigation section, and only lay out widgets around
calls into `explorer/` (the app's logic) and `vae/` (the model). No `.py` file sits directly in
`pages/`: Streamlit would take those for a legacy multipage app and run a deep link without this
file (no sidebar picker, no navigation).
"""

import os

# Must precede the first torch import. With OpenMP's default (active) waiting, idle torch
# threads spin on the CPU; with the app's training thread, several sessions and the server all
# sharing two cores, that spinning made a 6 s training run take over a minute and slowed every
# other page. Passive waiting hands the core back instead.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# Imported whole before any page runs. Plotly's array checks look pandas up in sys.modules without
# importing it; while another thread (a session's previous run, Streamlit itself) is halfway
# through importing pandas they find a half-made module and fail ("partially initialized module
# 'pandas' has no attribute 'Series'": a Latent map page crashed so in the browser tests). An
# import statement instead waits for the import under way to finish.
import pandas  # noqa: E402, F401

import streamlit as st  # noqa: E402

from explorer.i18n import _  # noqa: E402
from pages.ui.i18n import language_ui  # noqa: E402
from pages.ui.links import set_page_path  # noqa: E402
from pages.ui.widgets import large_text_ui, model_picker_ui  # noqa: E402

# An emoji favicon is drawn by the browser; a ":material/...:" one is fetched from fonts.gstatic.com,
# a network request from every page (failing offline, and a third party told who opens the app).
st.set_page_config(page_title=_("VAE Latent Explorer"), page_icon="🌀", layout="wide")
language_ui()  # first: every text below is drawn in the language it says

navigation = st.navigation(
    {
        _("Learn"): [st.Page("pages/learn/home.py", title=_("What is a VAE?"), icon=":material/school:", default=True),
                  st.Page("pages/learn/toy.py", title=_("2-D toy VAE"), icon=":material/bubble_chart:"),
                  st.Page("pages/learn/likelihood.py", title=_("Likelihood & samples"), icon=":material/grain:"),
                  st.Page("pages/learn/kl.py", title=_("KL: exact vs sampled"), icon=":material/functions:"),
                  st.Page("pages/learn/reparameterisation.py", title=_("Why reparameterise?"), icon=":material/call_split:"),
                  st.Page("pages/learn/inference.py", title=_("Inference for one image"), icon=":material/target:"),
                  st.Page("pages/learn/bnn.py", title=_("Bayesian neural network"), icon=":material/hub:")],
        _("Explore"): [
            st.Page("pages/explore/reconstruct.py", title=_("Reconstructions"), icon=":material/compare:"),
            st.Page("pages/explore/latent_map.py", title=_("Latent map"), icon=":material/scatter_plot:"),
            st.Page("pages/explore/decoder.py", title=_("Decoder"), icon=":material/tune:"),
            st.Page("pages/explore/anomaly.py", title=_("Anomalies"), icon=":material/crisis_alert:"),
            st.Page("pages/explore/clusters.py", title=_("Clusters"), icon=":material/workspaces:"),
            st.Page("pages/explore/loglik.py", title=_("Log-likelihood (IWAE)"), icon=":material/stacked_line_chart:"),
            st.Page("pages/explore/rate_distortion.py", title=_("β & rate–distortion"), icon=":material/balance:"),
        ],
        _("Build"): [st.Page("pages/build/train.py", title=_("Train a model"), icon=":material/model_training:")],
    },
    expanded=True,  # every page listed: a lecturer should not have to find "View more"
)
set_page_path(navigation.url_path)
st.session_state["selected"] = model_picker_ui()
large_text_ui()
navigation.run()
