"""KL: exact vs sampled. The closed-form KL of a diagonal Gaussian to N(0, I) next to its
Monte-Carlo estimate, for one test image and for a batch: spread, bias and the 1/sqrt(n) law."""

from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from pages.ui.cache import load_model, showable_split
from pages.ui.widgets import dataset_or_stop, remember, require_model, require_variational, show_images

from explorer.figures import kl_error_loglog, kl_estimates_histogram
from explorer import estimators
from explorer.i18n import _, lazy

remember("kl_row", "kl_seed", "kl_n")

BATCH = 64  # test images in the batch view
REPEATS = 300  # independent estimates behind each histogram


def posterior_of(model, split, rows: list[int]):
    """q(z|x) of the test images `rows` (a conditional model is given their labels)."""
    y = split.y[rows] if model.config.conditional else None
    with torch.no_grad():
        return model.encode(split.x[rows], y)


@st.cache_data(show_spinner=lazy("Sampling…"), max_entries=64)
def estimates(path: str, mtime: float, dataset: str, rows: tuple[int, ...], n: int, seed: int) -> estimators.KLEstimates:
    model, _card = load_model(path, mtime)
    split, _note = showable_split(dataset)
    g = torch.Generator().manual_seed(seed)
    return estimators.kl_estimates(posterior_of(model, split, list(rows)), n, REPEATS, generator=g)


@st.cache_data(show_spinner=lazy("Measuring the error for n = 1 … 1000…"), max_entries=32)
def error_curve(path: str, mtime: float, dataset: str, rows: tuple[int, ...], seed: int) -> estimators.KLErrorCurve:
    model, _card = load_model(path, mtime)
    split, _note = showable_split(dataset)
    g = torch.Generator().manual_seed(seed)
    return estimators.kl_error_curve(posterior_of(model, split, list(rows)), ns=(1, 3, 10, 30, 100, 300, 1000),
                             n_repeats=100, generator=g)


st.title(_("KL: exact vs sampled"))
sel = require_model()
require_variational(sel, _("the KL term this page estimates is not defined (it is not in its loss)"))
if sel.config.prior != "standard":
    st.info(_("{model} has a learned mixture prior: its KL has no closed form (training estimates it by "
              "sampling), so there is nothing exact to compare with here. Pick a model with the standard-normal "
              "prior.").format(model=sel.entry.name))
    st.stop()

# equations at full width: in a column they are cut at the right edge of a 1024-pixel projector
st.markdown(_("For a Gaussian posterior and the standard-normal prior the KL term has a **closed form** "
              "(Kingma & Welling 2014, Appendix B), exact and free:"))
st.latex(r"\mathrm{KL}\big(q(z\mid x)\,\|\,\mathcal{N}(0,I)\big) = \tfrac12\sum_{j=1}^{D}"
         r"\left(\mu_j^2+\sigma_j^2-1-\log\sigma_j^2\right)")
st.markdown(_("Any other prior (a mixture, a flow) needs the **Monte-Carlo estimate**: draw $n$ codes from the "
              "posterior and average the log-ratio:"))
st.latex(r"\widehat{\mathrm{KL}}_n = \frac1n\sum_{s=1}^{n}\Big[\log q(z_s\mid x)-\log p(z_s)\Big],\qquad "
         r"z_s\sim q(z\mid x)")
st.markdown(_("It is unbiased, but noisy. Call $\\sigma_1$ the standard deviation of a single draw's log-ratio "
              "(the estimate with $n = 1$); the average of $n$ independent draws has a spread $\\sqrt{n}$ times "
              "smaller:"))
st.latex(r"\mathbb{E}\big[\widehat{\mathrm{KL}}_n\big]=\mathrm{KL},\qquad "
         r"\operatorname{sd}\big(\widehat{\mathrm{KL}}_n\big)=\frac{\sigma_1}{\sqrt n}")
split, _note = dataset_or_stop(sel.dataset)
c1, c2, c3, img = st.columns([1, 0.8, 1.6, 1.2], gap="medium")
row = int(c1.number_input(_("Test image (0 … {last})").format(last=len(split) - 1), 0, len(split) - 1, 0,
                          key="kl_row"))
seed = int(c2.number_input(_("Random seed"), 0, 10_000, 0, key="kl_seed"))
n = c3.select_slider(_("Samples n per estimate"), [1, 2, 3, 5, 10, 20, 30, 50, 100, 200, 300, 500, 1000], value=10,
                     key="kl_n")
x = split.x[row : row + 1]
q = posterior_of(sel.model, split, [row])
d = sel.config.latent_dim
with img:  # the code under the thumbnail: beside it, the text ran over the image at 1024 pixels
    show_images(x, [f"#{row} · {_(split.class_names[int(split.y[row])])}"], width=84, scale=3)
    st.caption(f"μ = ({', '.join(f'{v:+.2f}' for v in q.mu[0, :6].tolist())}{' …' if d > 6 else ''})  \n"
               f"σ = ({', '.join(f'{v:.3f}' for v in q.std[0, :6].tolist())}{' …' if d > 6 else ''})")

st.subheader(_("One image: {repeats} estimates with n = {n}").format(repeats=REPEATS, n=n))
one = estimates(*sel.key, sel.dataset, (row,), n, seed)
a, b = st.columns([1, 2.2], gap="large")
with a:
    st.metric(_("Closed form (nats)"), f"{one.analytic:.3f}")
    st.metric(_("Mean of the estimates"), f"{one.mean:.3f}",
              f"{one.mean - one.analytic:+.3f} (± {one.standard_error:.3f})", delta_color="off",
              help=_("nats; the difference from the closed form, ± the standard error of the mean"))
    st.metric(_("Spread of one estimate"), f"±{one.std:.3f}", help=_("nats: the standard deviation over the repeats"))
with b:
    st.plotly_chart(kl_estimates_histogram(one.estimates, one.analytic, n), key="kl_hist_one",
                    config={"displaylogo": False})

rows = tuple(np.random.default_rng(seed).choice(len(split), size=min(BATCH, len(split)), replace=False).tolist())
st.subheader(_("A batch of {n} test images (the KL averaged over the batch, as training sees it)").format(n=len(rows)))
batch = estimates(*sel.key, sel.dataset, rows, n, seed)
a, b = st.columns([1, 2.2], gap="large")
with a:
    st.metric(_("Closed form (nats)"), f"{batch.analytic:.3f}")
    st.metric(_("Mean of the estimates"), f"{batch.mean:.3f}",
              f"{batch.mean - batch.analytic:+.3f} (± {batch.standard_error:.3f})", delta_color="off", help=_("nats"))
    st.metric(_("Spread of one estimate"), f"±{batch.std:.3f}", help=_("nats: the standard deviation over the repeats"))
    st.caption(_("Averaging over {n} images already divides the spread by about √{n}: "
                 "a batch is a mini Monte-Carlo sample.").format(n=len(rows)))
with b:
    st.plotly_chart(kl_estimates_histogram(batch.estimates, batch.analytic, n), key="kl_hist_batch",
                    config={"displaylogo": False})

st.subheader(_("The error falls like 1/√n"))
curves = {_("this image"): error_curve(*sel.key, sel.dataset, (row,), seed),  # keys: the curves' shown names
          _("batch of {n}").format(n=len(rows)): error_curve(*sel.key, sel.dataset, rows, seed)}
a, b = st.columns([2.2, 1], gap="large")
with a:
    st.plotly_chart(kl_error_loglog(curves), key="kl_loglog", config={"displaylogo": False})
with b:
    for name, curve in curves.items():
        st.markdown(_("**{name}**: slope **{slope:.2f}** on log-log axes (theory −0.5); "
                      "one-sample spread σ₁ = {sigma_1:.3f} nats.").format(name=name, slope=curve.slope,
                                                                           sigma_1=curve.sigma_1))
    st.caption(_("RMS error of the n-sample estimate against the closed form, over 100 repeats per n. "
                 "A straight line of slope −½ means: 100× more samples for 10× less error. That is why the "
                 "closed form is used whenever it exists."))
