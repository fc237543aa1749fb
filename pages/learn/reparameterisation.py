"""Why reparameterise? The ELBO's gradient in the posterior's μ and log σ², estimated from the same draws by the
score function and by the pathwise (reparameterised) estimator: spread against n, the repeated estimates, the
variance ratio, and a 1-D toy whose gradient is known exactly (explorer/gradients.py computes)."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st
import torch

from explorer import gradients
from explorer.figures import gradient_estimates_histogram, gradient_spread_loglog
from explorer.i18n import _, lazy
from pages.ui.cache import load_model, showable_split
from pages.ui.widgets import dataset_or_stop, remember, require_model, require_variational, show_images

remember("rp_row", "rp_seed", "rp_component", "rp_n", "rp_toy_c")

DRAWS = 20_000  # per-draw gradients per image: 200 repeats up to n = 100, 20 at n = 1000
TOY_MU, TOY_SIGMA = 0.0, 0.5
CHART = {"displaylogo": False}


@st.cache_data(show_spinner=lazy("Differentiating the ELBO at 20,000 draws…"), max_entries=32)
def draws(path: str, mtime: float, dataset: str, row: int, seed: int) -> gradients.GradientDraws:
    model, _card = load_model(path, mtime)
    split, _note = showable_split(dataset)
    y = split.y[row : row + 1] if model.config.conditional else None  # a conditional model is given the label
    return gradients.elbo_gradient_draws(model, split.x[row : row + 1], y, DRAWS, torch.Generator().manual_seed(seed))


@st.cache_data(show_spinner=False, max_entries=32)
def toy_draws(c: float, seed: int) -> gradients.GradientDraws:
    return gradients.quadratic_toy_draws(TOY_MU, TOY_SIGMA, c, DRAWS, torch.Generator().manual_seed(seed))


def times(v: float) -> str:
    return f"{v:,.0f}" if v >= 10 else f"{v:.1f}"


def mean_spread(estimates) -> list[str]:
    """'mean ± spread' of repeated estimates (R, P), per component."""
    return [f"{m:+.3f} ± {sd:.3f}" for m, sd in zip(estimates.mean(0), estimates.std(0, ddof=1))]


st.title(_("Why reparameterise?"))
sel = require_model()
require_variational(sel, _("nothing is sampled during its training and there is no gradient through a sample to "
                           "estimate"))
split, _note = dataset_or_stop(sel.dataset)

left, right = st.columns([1.3, 1], gap="large")
with left:
    st.markdown(_("Training follows the gradient of the ELBO with respect to the encoder's outputs "
                  "$\\phi = (\\mu, \\log\\sigma^2)$. But the ELBO is an expectation over codes drawn from $q_\\phi$ "
                  "itself: **the parameters sit inside the sampling.**"))
    st.latex(r"\nabla_\phi\,\mathbb{E}_{z\sim q_\phi(z\mid x)}\big[f_\phi(z)\big]")
    st.markdown(_("with $f_\\phi(z)=\\log p(x\\mid z)+\\log p(z)-\\log q_\\phi(z\\mid x)$. Two unbiased estimators "
                  "from the same $n$ draws $z_s=\\mu+\\sigma\\,\\varepsilon_s$, $\\varepsilon_s\\sim\\mathcal N(0,I)$: "
                  "the **score function** (REINFORCE)"))
    st.latex(r"\frac1n\sum_{s=1}^{n} f(z_s)\,\nabla_\phi\log q_\phi(z_s)")
    st.markdown(_("and the **pathwise** (reparameterised) estimator, through the sample"))
    st.latex(r"\frac1n\sum_{s=1}^{n}\nabla_z f(z_s)\,\frac{\partial z_s}{\partial\phi}")
    st.caption(_("∂z/∂μ = 1 and ∂z/∂log σ² = σε/2. Both also add f's explicit dependence on φ at fixed z (the −log q "
                 "term), which the score function's expectation cancels."))
with right:
    c1, c2 = st.columns(2)
    row = int(c1.number_input(_("Test image (0 … {last})").format(last=len(split) - 1), 0, len(split) - 1, 0,
                              key="rp_row"))
    seed = int(c2.number_input(_("Random seed"), 0, 10_000, 0, key="rp_seed"))
    names = gradients.component_names(sel.config.latent_dim)
    c1, c2 = st.columns(2)
    name = c1.selectbox(_("Component of ∂ELBO/∂φ"), names, key="rp_component")
    n = c2.select_slider(_("Samples n per estimate"), list(gradients.NS), value=10, key="rp_n")
    img, code = st.columns([1, 1.6])
    with img:
        show_images(split.x[row : row + 1], [f"#{row} · {_(split.class_names[int(split.y[row])])}"], width=84, scale=3)
    d = draws(*sel.key, sel.dataset, row, seed)
    code.markdown(_("∂ELBO/∂{name} = **{value:+.4g}**  \n(pathwise, all {draws:,} draws; ± {se:.2g})").format(
        name=name, value=d.reference[names.index(name)], draws=DRAWS, se=d.reference_se[names.index(name)]))

spread = gradients.gradient_spread(d)
j, k = names.index(name), list(spread.n).index(n)
ratio, total = spread.variance_ratio[k, j], spread.total_variance_ratio[k]

st.subheader(_("Both spreads fall like 1/√n, from very different heights"))
a, b = st.columns([1.8, 1], gap="large")
a.plotly_chart(gradient_spread_loglog(spread, j, name), key="rp_loglog", config=CHART)
with b:
    st.metric(_("Score function spread, n = {n}").format(n=n), f"± {spread.score_std[k, j]:.3g}")
    st.metric(_("Pathwise spread, n = {n}").format(n=n), f"± {spread.pathwise_std[k, j]:.3g}")
    st.markdown(_("At **n = {n}** the score-function estimator's spread is about **×{spread}** the "
                  "reparameterised one's: it would need about **{samples} times more samples** for the same "
                  "precision (spread falls like 1/√n, so samples go with the variance ratio).").format(
                      n=n, spread=times(math.sqrt(ratio)), samples=times(ratio)) if ratio >= 1 else
                _("At **n = {n}** this component is the exception: the pathwise spread is ×{spread} "
                  "the score function's.").format(n=n, spread=times(1 / math.sqrt(ratio))))
    st.caption(_("Spread: std of ∂ELBO/∂{name} over {repeats} independent n-sample estimates (disjoint "
                 "groups of {draws:,} draws). All {components} components together: variance ratio "
                 "{total:,.0f}.").format(name=name, repeats=spread.repeats[k], draws=DRAWS, components=len(names),
                                         total=total))

score, pathwise = d.estimates(n)
st.subheader(_("{count} estimates of ∂ELBO/∂{name}, each from n = {n} draws").format(count=len(score), name=name,
                                                                                      n=n))
st.plotly_chart(gradient_estimates_histogram(score[:, j], pathwise[:, j], float(d.reference[j]),
                                             _("all {draws:,} draws (pathwise)").format(draws=DRAWS), n, name),
                key="rp_hist", config=CHART)
a, b = st.columns(2, gap="large")
with a:
    st.markdown(_("**Why the difference?** The pathwise estimator differentiates $\\log p(x\\mid z)$ *through* $z$: "
                  "each draw says which way moving the code would explain the image better. The score function "
                  "only sees the *value* $f(z_s)$, a large number (around the ELBO, in nats), multiplied by a "
                  "noisy score $\\nabla_\\phi\\log q = (\\varepsilon/\\sigma,\\,(\\varepsilon^2-1)/2)$ of mean zero: "
                  "the gradient is a small correlation buried in that noise."))
with b:
    st.markdown(_("**Why the VAE needs the trick.** Backpropagation cannot pass through a random draw. Writing "
                  "$z=\\mu+\\sigma\\varepsilon$ moves the randomness into $\\varepsilon$, which does not depend on the "
                  "encoder, so the encoder's weights get ordinary chain-rule gradients with little noise from one "
                  "sample per image (Kingma & Welling 2014)."))

st.subheader(_("A 1-D check with an exact answer"))
a, b = st.columns([1, 1.6], gap="large")
with a:
    st.markdown(_("Take $q=\\mathcal N(\\mu,\\sigma^2)$ with $\\mu={mu:g}$, $\\sigma={sigma:g}$, and "
                  "$f(z)=(z-c)^2$. Then $\\mathbb E_q[f]=(\\mu-c)^2+\\sigma^2$, so the gradient is known "
                  "exactly:").format(mu=TOY_MU, sigma=TOY_SIGMA))
    st.latex(r"\frac{\partial\,\mathbb E_q[f]}{\partial\mu}=2(\mu-c)")
    st.latex(r"\frac{\partial\,\mathbb E_q[f]}{\partial\log\sigma^2}=\sigma^2")
    c = st.slider(_("Where f is lowest, c"), -3.0, 3.0, 2.0, 0.5, key="rp_toy_c",
                  help=_("The further c from μ, the larger f's values and the noisier the score function"))
toy = toy_draws(c, seed)
exact = gradients.quadratic_toy_gradient(TOY_MU, TOY_SIGMA, c)
toy_score, toy_path = toy.estimates(n)
with b:
    st.plotly_chart(gradient_estimates_histogram(toy_score[:, 0], toy_path[:, 0], float(exact[0]),
                                                 _("exact 2(μ − c)"), n, "μ", height=380),
                    key="rp_toy_hist", config=CHART)
    st.dataframe(pd.DataFrame([[f"{v:+.3f}" for v in exact], mean_spread(toy_score), mean_spread(toy_path)],
                              index=[_("exact"), _("score function"), _("pathwise")],  # shown: translated
                              columns=["∂/∂μ", "∂/∂log σ²"]),
                 key="rp_toy_table")
    st.caption(_("Mean ± spread of {count} estimates with n = {n}: both estimators are unbiased, "
                 "so both means sit on the exact value, up to their spread / √repeats.").format(count=len(toy_score),
                                                                                                n=n))
