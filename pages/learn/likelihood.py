"""Likelihood & samples: a Bernoulli decoder (binary cross-entropy) next to a Gaussian one (the
squared error many tutorials use), on the same test images: reconstructions, losses in nats with
their units explained, and the decoder mean next to a real sample from p(x|z)."""

from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from pages.ui.cache import load_model
from pages.ui.widgets import dataset_or_stop, metric_row, remember, show

from explorer.images import tile, upscale
from explorer import estimators, likelihoods, registry
from explorer.i18n import _

remember("lik_seed", "lik_bernoulli", "lik_gaussian")

N_IMAGES = 8


def model_choice_ui(kind: str, entries: list, dataset: str | None) -> registry.ModelEntry | None:
    """A picker for the `kind` decoder's models (of `dataset` when given); None when there are none."""
    options = likelihoods.decoder_choices(entries, kind, dataset)
    if not options:
        return None
    names = [e.name for e in options]
    key = f"lik_{kind}"
    if st.session_state.get(key) not in names:
        st.session_state[key] = likelihoods.default_choice(names, kind)
    label = _("Bernoulli decoder") if kind == "bernoulli" else _("Gaussian decoder")
    name = st.selectbox(label, names, key=key,
                        format_func=lambda n: f"{n} · {next(e for e in options if e.name == n).card.dataset}")
    return next(e for e in options if e.name == name)


def column_ui(entry, x: torch.Tensor, seed: int) -> None:
    """Reconstructions, samples and losses of one model on the test images x."""
    model, card = load_model(str(entry.path), registry.weights_mtime(entry.path))
    c = model.config
    mean, sample = likelihoods.mean_and_sample(model, x, seed)
    stats = estimators.reconstruction_stats(model, x, seed=seed, at_mean=True)  # the code of the pictured means
    title = (_("Bernoulli: binary cross-entropy") if c.likelihood == "bernoulli"
             else _("Gaussian, σ = {sigma:g}: squared error").format(sigma=c.gaussian_std))
    st.markdown(f"##### {title}")
    st.caption(_("**{model}** · z = {d} · trained {epochs} epochs").format(model=entry.name, d=c.latent_dim,
                                                                          epochs=len(card.history)))
    show(st, upscale(tile(torch.cat([x, mean, sample]), nrow=len(x), pad=2), 3), width="stretch",
         caption=_("rows: test input · decoder mean at z = μ (what tutorials show) · a sample x ~ p(x|z) at z = μ"))
    nll = float(stats.nll.mean())
    metric_row([(_("Nats per image"), f"{nll:.1f}", _("−log p(x|z) per image at z = μ (the decoder means pictured), "
                                                      "averaged over these images")),
                (_("Nats per pixel"), f"{float(stats.nll_per_pixel.mean()):.4f}",
                 _("the same, divided over the {n} pixels").format(n=c.n_pixels)),
                (_("MSE per pixel"), f"{float(stats.mse.mean()):.4f}", _("mean squared error of the decoder mean at z = μ "
                 "(the middle row): the one number here that compares across the two decoders"))])
    if c.likelihood == "gaussian":
        terms = estimators.gaussian_nll_split(c, stats)
        st.caption(_("= {p} × MSE / (2σ²) + {p} × (log σ + ½ log 2π) = {squared_error:.1f} + ({constant:.1f}) = "
                     "{total:.1f} nats. The constant is negative because σ = {sigma:g} < 1/√(2π).").format(
            p=c.n_pixels, squared_error=terms.squared_error, constant=terms.constant, total=terms.total,
            sigma=c.gaussian_std))
    else:
        st.caption(_("Even a perfect reconstruction costs nats here: a grey pixel (0 < x < 1) is a coin that cannot be "
                     "predicted exactly. Bits per pixel: {bits:.3f}.").format(
            bits=estimators.bits_per_dim(nll, c.n_pixels)))


st.title(_("Likelihood & samples"))
st.markdown(_("The decoder does not output an image: it outputs a **distribution** $p(x\\mid z)$ over images, and the "
              "reconstruction loss is its negative log-likelihood. Two common choices:"))
# one under the other: side by side, each equation is cut at the right edge of a 1024-pixel projector
st.markdown(_("**Bernoulli** (each pixel a biased coin with probability $\\hat x_i$; the loss is binary cross-entropy):"))
st.latex(r"-\log p(x\mid z) = -\sum_{i=1}^{P}\big[x_i\log\hat x_i + (1-x_i)\log(1-\hat x_i)\big]")
st.markdown(_("**Gaussian** with a fixed standard deviation σ (the mean squared error of many tutorials), with "
              "$\\mathrm{MSE}=\\tfrac1P\\lVert x-\\hat x\\rVert^2$ over the $P$ pixels:"))
st.latex(r"-\log \mathcal{N}(x;\hat x,\sigma^2 I) = \frac{P\cdot\mathrm{MSE}}{2\sigma^2} + P\log\!\big(\sigma\sqrt{2\pi}\big)")

entries = [e for e in registry.list_entries() if e.card is not None]
pick_b, pick_g, pick_s = st.columns([1, 1, 0.6])
with pick_b:
    bern = model_choice_ui("bernoulli", entries, None)
dataset = bern.card.dataset if bern is not None else None
with pick_g:
    gauss = model_choice_ui("gaussian", entries, dataset)
with pick_s:
    seed = int(st.number_input(_("Images (seed)"), 0, 10_000, 0, key="lik_seed",
                               help=_("Change it to draw other test images and other samples.")))
if bern is None and gauss is None:
    st.info(_("No model to show: train one on the Train page."))
    st.stop()
shown = [e for e in (bern, gauss) if e is not None]
split, _note = dataset_or_stop(shown[0].card.dataset)
rows = np.random.default_rng(seed).choice(len(split), size=N_IMAGES, replace=False)
x = split.x[torch.as_tensor(rows)]

cols = st.columns(2, gap="large")
for col, entry in zip(cols, (bern, gauss)):
    with col:
        if entry is not None:
            column_ui(entry, x, seed)
        elif col is cols[1]:
            st.markdown("##### " + _("Gaussian decoder"))
            if dataset in (None, "mnist"):
                st.info(_("No Gaussian-decoder {dataset} model is installed. Train one with the command line (about 6 "
                          "minutes on 2 CPU cores), then reload this page:").format(dataset=dataset or "mnist"))
            else:
                st.info(_("No Gaussian-decoder {dataset} model is installed. Train one with the command line (minutes "
                          "or less), then reload this page:").format(dataset=dataset))
            st.code(likelihoods.gaussian_twin_command(dataset), language="bash", wrap_lines=True)
        else:
            st.info(_("No Bernoulli-decoder model is installed: train one on the Train page."))

st.divider()
left, right = st.columns(2, gap="large")
with left:
    st.markdown("##### " + _("Why the Gaussian's nats can be negative"))
    st.markdown(_(
        "A Bernoulli likelihood is a probability, at most 1, so its negative log is never below 0. A Gaussian "
        "likelihood is a **density**, and a density can exceed 1: with σ = 0.1 the peak is "
        "$1/(\\sigma\\sqrt{2\\pi}) \\approx 4$, so a pixel reconstructed almost exactly costs about "
        "$\\log\\sigma + \\tfrac12\\log 2\\pi \\approx -1.38$ nats. Over 784 pixels that constant alone is "
        "about −1,085 nats. **Nats from the two decoders are not comparable**: compare the MSE, or the images."))
    st.markdown("##### " + _("What the fixed σ does"))
    st.markdown(_(
        "σ sets the exchange rate between squared error and KL: the loss is $\\mathrm{SSE}/(2\\sigma^2) + \\mathrm{KL}$ "
        "plus a constant, which is the same as plain squared error with a KL weight β = 2σ² (here 0.02). A small σ "
        "asks for sharp reconstructions and lets the code carry more information; a large σ blurs them and pulls "
        "codes towards the prior. So an 'MSE + KL' loss silently picks σ = 1/√2 (β = 1 on the sum of squares)."))
with right:
    st.markdown("##### " + _("Why samples look noisy"))
    st.markdown(_(
        "What almost every VAE demo shows is the **decoder mean** $\\mathbb{E}[x\\mid z]$, a smooth image. A real "
        "sample from $p(x\\mid z)$ adds the likelihood's own noise, independently in every pixel: the Bernoulli "
        "decoder flips a coin per pixel (black or white speckle), the Gaussian adds $\\mathcal{N}(0, \\sigma^2)$ "
        "grain. The model never learned correlations between pixels given $z$; all the structure lives in the "
        "mean. That is why the mean, not a sample, is the usual 'reconstruction'."))
    st.caption(_("Third row of each panel above: a sample at z = μ, with the seed chosen above."))
