"""Home: what a VAE is, with the selected model's live numbers and reconstructions."""

import streamlit as st
import torch

import vae
from pages.ui.cache import encoded, live_metrics, projection
from pages.ui.widgets import dataset_or_stop, metric_row, require_model, show
from explorer.figures import latent_scatter
from explorer.i18n import _
from explorer.images import tile, upscale
from explorer.maps import AXIS_TITLES

st.title(_("VAE Latent Explorer"))
st.markdown("#### " + _("Squeeze an image into a few numbers, then rebuild it, and see what those numbers mean."))

sel = require_model()
c = sel.config
mog = c.prior == "mog"
st.markdown(_(
    "A **variational autoencoder** has two networks. The **encoder** reads an image $x$ and says where "
    "it lives in a small *latent space*: not one point but a Gaussian $q(z\\mid x)=\\mathcal{N}(\\mu, \\sigma^2)$. "
    "The **decoder** $p(x\\mid z)$ turns any latent code $z$ back into an image. Training maximises the "
    "*evidence lower bound* (ELBO):"
))
prior_tex = r"p(z)" if mog else r"\mathcal{N}(0, I)"
st.latex(r"\begin{aligned}\log p(x) \;\ge\; \mathrm{ELBO}(x) &= \underbrace{\mathbb{E}_{q(z\mid x)}\big[\log p(x\mid z)\big]}"
         r"_{-\,\text{" + _("reconstruction (distortion)") + r"}} \\ &\quad-\; \underbrace{\mathrm{KL}\big(q(z\mid x)\,\|\,"
         + prior_tex + r"\big)}_{\text{" + _("rate") + r"}}\end{aligned}")
st.markdown(_("The KL term pulls every code towards the prior; against the standard normal N(0, I) it has a "
              "closed form (Kingma & Welling 2014, Appendix B):"))
st.latex(r"\mathrm{KL} = \tfrac12 \sum_{j=1}^{D}\left(\mu_j^2 + \sigma_j^2 - 1 - \log\sigma_j^2\right)")
if mog:
    st.caption(_("**{model}** learns its prior p(z), a mixture of {k} Gaussians: a mixture has no closed-form KL, "
                 "so this model's KL is estimated by sampling z ~ q(z|x).").format(model=sel.entry.name,
                                                                                    k=c.prior_components))
st.markdown(_("Sampling is made differentiable by the **reparameterisation trick**, so gradients reach "
              "$\\mu$ and $\\sigma$:"))
st.latex(r"z = \mu + \sigma \odot \varepsilon,\qquad \varepsilon \sim \mathcal{N}(0, I)")

split, _note = dataset_or_stop(sel.dataset)  # before anything that measures on the test images
left, right = st.columns([1, 1.1], gap="large")
with left:
    m = live_metrics(*sel.key, sel.dataset)
    st.markdown("##### " + _("This model: **{model}**").format(model=sel.entry.name))
    decoder = _("Bernoulli decoder") if c.likelihood == "bernoulli" else _("Gaussian decoder")
    st.caption(_("{arch} encoder/decoder, {d}-D latent, {decoder}, measured just now on {n:,} {dataset} test images")
               .format(arch=c.arch.upper(), d=c.latent_dim, decoder=decoder, n=m["n_images"], dataset=m["dataset"]))
    if not c.variational:
        st.caption(_("A plain autoencoder: one code per image, trained without the KL term, so it has no ELBO."))
    not_defined = _("n/a")
    metric_row([("−ELBO", f"{m['neg_elbo']:.1f}" if c.variational else not_defined,
                 _("reconstruction + KL, nats per image; lower is better")),
                (_("Reconstruction"), f"{m['recon']:.1f}",
                 _("−log p(x|z): how many nats the decoder needs to describe the image")),
                (_("KL (rate)"), f"{m['kl']:.2f}" if c.variational else not_defined,
                 _("how much information the code carries about the image, in nats"))])
    if c.likelihood == "gaussian":
        st.caption(_("All numbers are nats per image: summed over the pixels, averaged over the test images. A Gaussian "
                     "decoder's nats are a density of continuous pixel values: they are not comparable with a Bernoulli "
                     "model's (they can even be negative)."))
    else:
        st.caption(_("All numbers are nats per image: summed over the pixels, averaged over the test images."))

    idx = torch.randperm(len(split), generator=torch.Generator().manual_seed(0))[:8]
    x = split.x[idx]
    r = vae.latent.reconstruct(sel.model, x, labels=split.y[idx])
    show(st, upscale(tile(torch.cat([x, r.x_hat]), nrow=8, pad=2), 3), width="stretch",
         caption=_("Test images (top row) and their reconstructions (bottom row)"))

with right:
    # A first look at the latent space. Also loads the browser's chart library while the
    # reader is on this page, so the Latent map page draws at once.
    d = c.latent_dim
    proj = projection(*sel.key, sel.dataset, "identity" if d == 2 else "pca")
    rows = proj["rows"][:2000]
    fig = latent_scatter(proj["coords"][:2000], encoded(*sel.key, sel.dataset)["labels"][rows], split.class_names,
                         rows=rows, axis_titles=AXIS_TITLES[proj["method"]], height=300)
    fig.update_layout(legend=dict(title=None, font=dict(size=11), orientation="v", x=1.02, xanchor="left", y=1,
                                  yanchor="top"), dragmode=False)  # beside this small map, not under it
    st.plotly_chart(fig, config={"displayModeBar": False, "scrollZoom": False}, key="home_map")
    if c.conditional:
        where = (_("Where {n:,} test images land: each dot is an image's code μ, coloured by its label. This "
                   "conditional model is given the label, so its codes hold only the style and the colours mix.")
                 if d == 2 else
                 _("Where {n:,} test images land: each dot is an image's code μ (its first two principal components), "
                   "coloured by its label. This conditional model is given the label, so its codes hold only the style "
                   "and the colours mix."))
    else:
        where = (_("Where {n:,} test images land: each dot is an image's code μ, coloured by a label the model never saw.")
                 if d == 2 else
                 _("Where {n:,} test images land: each dot is an image's code μ (its first two principal components), "
                   "coloured by a label the model never saw."))
    st.caption(where.format(n=len(rows)))

st.divider()
st.markdown("##### " + _("Where next"))
cols = st.columns(4)
cols[0].page_link("pages/explore/reconstruct.py", label=_("Reconstruct your own digit"), icon=":material/draw:")
cols[1].page_link("pages/explore/latent_map.py", label=_("See the latent map"), icon=":material/scatter_plot:")
cols[2].page_link("pages/explore/decoder.py", label=_("Drag through latent space"), icon=":material/tune:")
cols[3].page_link("pages/build/train.py", label=_("Train a model live"), icon=":material/model_training:")
