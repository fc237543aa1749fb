"""Train a model: choose a dataset and a few knobs, watch the VAE learn live, then explore it.

The run happens in a child process that a `jobs.TrainingJob` starts and watches; this page only
reads the job's snapshots, from a fragment that redraws twice a second, so training never blocks
this or any other session. The form's checks: `explorer.train_form`; what a run shows:
`explorer.train_progress`.
"""

from __future__ import annotations

import streamlit as st

import vae
from pages.ui.train_views import ANNOUNCED_KEY, JOB_KEY, announce_if_finished, finished_view, live_view, stored_curves
from pages.ui.widgets import remember
from explorer import registry
from explorer.jobs import TrainingJob
from explorer.train_form import LEARNING_RATES, MEASURED_SECONDS, PRIOR_NAMES, TrainForm, dataset_label, make_job

remember(
    "train_dataset", "train_download", "train_latent", "train_arch", "train_hidden", "train_likelihood",
    "train_epochs", "train_batch", "train_lr", "train_beta", "train_warmup", "train_seed",
    "train_conditional", "train_prior", "train_name", "train_overwrite",
)

REFRESH_SECONDS = 0.5  # how often the live view redraws


def form_ui(running: bool, offline: dict[str, bool]) -> TrainForm | None:
    """The training form; returns its values when submitted, else None. offline: dataset -> on this machine."""
    with st.form("train_form", border=True):
        dataset = st.selectbox("Dataset", vae.DATASETS, index=vae.DATASETS.index("digits"), key="train_dataset",
                               format_func=lambda n: dataset_label(n, offline[n]))
        download = False
        if not all(offline.values()):
            download = st.checkbox("Download a missing dataset (needs internet)", key="train_download",
                                   help=f"Files go to {vae.data_dir()}")
        c1, c2 = st.columns(2)
        latent_dim = c1.number_input("Latent dimensions", min_value=1, max_value=64, value=2, step=1, key="train_latent",
                                     help="2 gives a map you can see; more gives sharper reconstructions.")
        arch = c2.radio("Architecture", ["mlp", "conv"], horizontal=True, key="train_arch",
                        help="mlp: fully connected, any image size. conv: two stride-2 convolutions, "
                             "28×28 images only (not digits); takes exactly two channel counts, e.g. 32,64.")
        hidden = c1.text_input("Hidden sizes", value="256,128", key="train_hidden",
                               help="Encoder widths, comma-separated; the decoder mirrors them.")
        likelihood = c2.selectbox("Decoder likelihood", ["bernoulli", "gaussian"], key="train_likelihood",
                                  help="bernoulli: binary cross-entropy per pixel; gaussian: scaled squared error.")
        epochs = c1.number_input("Epochs", min_value=1, max_value=1000, value=50, step=10, key="train_epochs")
        batch_size = c2.number_input("Batch size", min_value=1, max_value=4096, value=64, step=32, key="train_batch")
        lr = st.select_slider("Learning rate", LEARNING_RATES, value=1e-3, format_func=lambda v: f"{v:g}", key="train_lr")
        c1, c2, c3 = st.columns(3)
        beta = c1.number_input("β", min_value=0.0, max_value=50.0, value=1.0, step=0.5, key="train_beta",
                               help="Weight of the KL term: 1 is the true ELBO; more pushes codes to the prior (β-VAE).")
        warmup = c2.number_input("KL warm-up", min_value=0, max_value=500, value=0, step=1, key="train_warmup",
                                 help="Epochs over which the KL weight rises linearly to β (β/warm-up in the first epoch).")
        seed = c3.number_input("Seed", min_value=0, max_value=2**31 - 1, value=0, step=1, key="train_seed")
        c1, c2 = st.columns(2)
        conditional = c1.toggle("Conditional VAE (give it the label)", key="train_conditional",
                                help="Encoder and decoder also get the one-hot label, so z only has to hold the style.")
        prior = c2.selectbox("Prior p(z)", list(PRIOR_NAMES), key="train_prior", format_func=PRIOR_NAMES.get,
                             help="The mixture's KL has no closed form: it is estimated from the sampled z.")
        name = st.text_input("Model name", key="train_name", placeholder="blank: automatic, like digits-z2-hhmmss",
                             help="Letters, digits, '-', '_' or '.'; saved in " + str(registry.user_models_dir()))
        overwrite = st.checkbox("Replace my model if this name exists", key="train_overwrite")
        submitted = st.form_submit_button("Start training", type="primary", icon=":material/play_arrow:", key="train_start",
                                          disabled=running, width="stretch")
    st.caption(f":material/timer: With these defaults a run takes about {MEASURED_SECONDS} s on 2 CPU cores (measured; "
               "longer while the machine is busy); watch it learn epoch by epoch on the right.")
    if not submitted:
        return None
    return TrainForm(dataset=dataset, latent_dim=int(latent_dim), arch=arch, hidden=hidden, likelihood=likelihood,
                     epochs=int(epochs), batch_size=int(batch_size), lr=float(lr), beta=float(beta), warmup=int(warmup),
                     seed=int(seed), conditional=bool(conditional), prior=prior, name=name.strip(),
                     overwrite=overwrite, download=download)


st.title("Train a model")
st.markdown("Choose a dataset and a few knobs, press **Start training**, and watch the loss fall and the "
            "reconstructions sharpen epoch by epoch.")

job: TrainingJob | None = st.session_state.get(JOB_KEY)
if job is not None:
    announce_if_finished(job)  # a full rerun can be the first to see the end
running = job is not None and job.snapshot().running

left, right = st.columns([1, 2.1], gap="large")
problem = None
with left:
    offline = {name: vae.available_offline(name) for name in vae.DATASETS}
    form = form_ui(running, offline)
    if form is not None:
        try:  # start() refuses a name another session is training into
            new_job = make_job(form, offline[form.dataset], registry.user_models_dir(), registry.SHIPPED_DIR).start()
        except ValueError as e:
            problem = str(e)
        else:
            st.session_state[JOB_KEY] = new_job
            st.session_state[ANNOUNCED_KEY] = False
            st.rerun()

with right:
    if problem:  # at the top of the main area, where eyes go after pressing Start
        st.error(f"Not started: {problem}", icon=":material/error:")
    if running:
        st.fragment(live_view, run_every=REFRESH_SECONDS)()
    else:
        if job is not None:
            finished_view(job)
        stored_curves(st.session_state.get("selected"))
