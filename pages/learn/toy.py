"""2-D toy VAE: train a tiny VAE on points in the plane and see data, reconstructions and codes at once."""

import numpy as np
import streamlit as st

from pages.ui.widgets import remember
from explorer.figures import toy_panels, training_curves
from explorer.i18n import _
from explorer.toy import TOY_DATASETS, make_toy_data, train_toy

remember(
    "toy_dataset", "toy_latent", "toy_beta", "toy_epochs", "toy_sigma", "toy_points", "toy_noise", "toy_seed",
    "toy_show_samples", "toy_show_grid",
)

st.title(_("2-D toy VAE"))
st.markdown(_(
    "No images: each data point is just two numbers $(a, b)$, so the data, what the VAE makes of it and the "
    "codes it chooses all fit on screen. The model is the same VAE as on the other pages (an MLP encoder, "
    "$z = \\mu + \\sigma\\varepsilon$, an MLP decoder, the same loss and training loop), shrunk to a "
    "two-pixel image with a Gaussian decoder. Training takes a few seconds on a CPU."))

c1, c2, c3, c4 = st.columns([1.3, 1, 1.4, 1.4])
toy_labels = {name: _(label) for name, label in TOY_DATASETS.items()}  # translated now, not when a test asks later
dataset = c1.selectbox(_("Data"), list(TOY_DATASETS), format_func=toy_labels.get, key="toy_dataset")
latent_dim = c2.radio(_("Latent size"), [1, 2], index=1, horizontal=True, key="toy_latent",
                      help=_("1: the decoder can only draw a curve through the plane. 2: as many numbers as the data."))
beta = c3.select_slider(_("β (KL weight)"), [0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 10.0, 30.0], value=1.0, key="toy_beta",
                        help=_("β = 1 is the true ELBO. Larger β makes codes cheaper to keep vague: reconstructions blur "
                               "towards a curve or the mean (posterior collapse)."))
epochs = c4.select_slider(_("Epochs"), [10, 25, 50, 100, 200, 400], value=100, key="toy_epochs")
with st.expander(_("More settings")):
    m1, m2, m3, m4 = st.columns(4)
    sigma = m1.select_slider(_("Decoder σ"), [0.01, 0.02, 0.05, 0.1], value=0.02, key="toy_sigma",
                             help=_("Std of p(x|z) in the model's units (the data span 0.8 of them). Smaller σ "
                                    "demands more precise reconstructions, so codes must carry more information."))
    n_points = m2.select_slider(_("Points"), [250, 500, 1000, 2000], value=1000, key="toy_points")
    noise = m3.select_slider(_("Data noise"), [0.0, 0.03, 0.06, 0.1, 0.2], value=0.06, key="toy_noise")
    seed = int(m4.number_input(_("Seed"), min_value=0, value=0, step=1, key="toy_seed"))

settings = dict(dataset=dataset, latent_dim=latent_dim, beta=beta, epochs=epochs, sigma=sigma, n_points=n_points,
                noise=noise, seed=seed)
data = make_toy_data(dataset, n_points, noise=noise, seed=seed)

if st.button(_("Train"), type="primary", icon=":material/play_arrow:", key="toy_train"):
    bar = st.progress(0.0, text=_("Training…"))

    def on_epoch(record: dict) -> None:
        bar.progress(record["epoch"] / epochs, text=_("Epoch {epoch}/{epochs} · −ELBO {neg_elbo:.2f}").format(
            epoch=record["epoch"], epochs=epochs, neg_elbo=record["train_neg_elbo"]))

    result = train_toy(data, latent_dim=latent_dim, beta=beta, epochs=epochs, seed=seed, sigma=sigma, on_epoch=on_epoch)
    bar.empty()
    st.session_state["toy_result"] = {"settings": settings, "result": result}

stored = st.session_state.get("toy_result")
if stored is None:
    st.info(_("Press **Train** to fit a VAE to these points (about 2 seconds for 100 epochs)."))
    r = None
else:
    r = stored["result"]
    if stored["settings"] != settings:
        st.warning(_("The plots show the last model you trained; the settings have changed since. Press **Train** to "
                     "retrain."), icon=":material/history:")
    last = r.history[-1]
    m = st.columns(5)
    m[0].metric("−ELBO", f"{last['train_neg_elbo']:.2f}", help=_("nats per point, averaged over the last epoch"))
    m[1].metric(_("Reconstruction"), f"{last['train_recon']:.2f}",
                help=_("−log p(x|z), a density of continuous numbers: it goes below 0 when reconstructions are very "
                       "precise"))
    m[2].metric(_("KL (rate)"), f"{last['train_kl']:.2f}", help=_("nats of information each code carries about its point"))
    m[3].metric(_("RMS error"), f"{r.recon_error:.3f}",
                help=_("root-mean-square distance from a point to its reconstruction, in data units"))
    m[4].metric(_("Training time"), f"{r.seconds:.1f} s", help=_("{n} epochs on the CPU").format(n=len(r.history)))

show_samples = st.toggle(_("Show generated points (decoded z ~ N(0, I))"), value=False, key="toy_show_samples",
                         disabled=r is None)
show_grid = st.toggle(_("Show the decoded latent grid"), value=True, key="toy_show_grid", disabled=r is None)
if r is None:
    empty = np.full((len(data.points), 2), np.nan)
    fig = toy_panels(data.points, data.labels, empty, empty[:, :latent_dim], empty[:, :latent_dim] + 1)
else:
    fig = toy_panels(r.data.points, r.data.labels, r.recon, r.mu, r.std, samples=r.samples if show_samples else None,
                     grid_z=r.grid_z if show_grid else None, grid_x=r.grid_x if show_grid else None)
st.plotly_chart(fig, key="toy_panels", config={"scrollZoom": True, "displaylogo": False})
st.caption(_("Colours follow each point through the three panels (blob or moon, or the position along the ring or "
           "spiral). The data and reconstruction panels share their axes. Grid lines: codes with one coordinate "
           "fixed at −2, −1, 0, 1 or 2 (for a 1-D latent, the line of codes from −3 to 3) and, in the middle panel, "
           "where the decoder sends them."))

if r is not None:
    with st.expander(_("Training curve")):
        st.plotly_chart(training_curves(r.history, height=260), key="toy_curves")

st.markdown(_(
    "**Things to try.** *A ring with a 1-D latent*: a line cannot close into a circle without a jump, so "
    "somewhere the decoder's curve must cut across. *β = 10*: the KL is now expensive, codes stay near the "
    "prior and reconstructions slide towards a curve or the mean. *Latent size 2 on the blobs*: the four "
    "clusters land in four regions of the prior, and decoded prior samples fall between them too. *Decoder "
    "σ = 0.1*: the model can afford blurry reconstructions, and the KL drops."))
