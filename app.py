"""VAE Latent Explorer: `streamlit run app.py`.

The entry point lays out navigation and the sidebar model picker shared by every page; the
pages in `app_pages/` are thin (not `pages/`: a folder of that name beside app.py switches Streamlit into its legacy multipage mode, which runs a deep-linked page without app.py): widgets, a call into `vae/`, and rendering.
"""

import os

# Must precede the first torch import. With OpenMP's default (active) waiting, idle torch
# threads spin on the CPU; with the app's training thread, several sessions and the server all
# sharing two cores, that spinning made a 6 s training run take over a minute and slowed every
# other page. Passive waiting hands the core back instead.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import streamlit as st  # noqa: E402

from app_pages.common import model_picker_ui  # noqa: E402

# An emoji favicon is drawn by the browser; a ":material/...:" one is fetched from fonts.gstatic.com,
# a network request from every page (failing offline, and a third party told who opens the app).
st.set_page_config(page_title="VAE Latent Explorer", page_icon="🌀", layout="wide")

navigation = st.navigation(
    {
        "Learn": [st.Page("app_pages/home.py", title="What is a VAE?", icon=":material/school:", default=True),
                  st.Page("app_pages/toy.py", title="2-D toy VAE", icon=":material/bubble_chart:"),
                  st.Page("app_pages/likelihood.py", title="Likelihood & samples", icon=":material/grain:"),
                  st.Page("app_pages/kl.py", title="KL: exact vs sampled", icon=":material/functions:")],
        "Explore": [
            st.Page("app_pages/reconstruct.py", title="Reconstructions", icon=":material/compare:"),
            st.Page("app_pages/latent_map.py", title="Latent map", icon=":material/scatter_plot:"),
            st.Page("app_pages/decoder.py", title="Decoder", icon=":material/tune:"),
            st.Page("app_pages/anomaly.py", title="Anomalies", icon=":material/crisis_alert:"),
            st.Page("app_pages/clusters.py", title="Clusters", icon=":material/workspaces:"),
            st.Page("app_pages/loglik.py", title="Log-likelihood (IWAE)", icon=":material/stacked_line_chart:"),
            st.Page("app_pages/rate_distortion.py", title="β & rate–distortion", icon=":material/balance:"),
        ],
        "Build": [st.Page("app_pages/train.py", title="Train a model", icon=":material/model_training:")],
    }
)
st.session_state["selected"] = model_picker_ui()
navigation.run()
