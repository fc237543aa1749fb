"""Log-likelihood (IWAE): the importance-weighted estimate of log p(x) for k samples next to the
ELBO, for one test image and for a subset of the test set; the gap shows how loose q(z|x) is."""

from __future__ import annotations

import numpy as np
import streamlit as st

from pages.ui.cache import load_model, showable_split
from pages.ui.widgets import dataset_or_stop, remember, require_model, require_variational, show_images

from explorer.figures import iwae_vs_k
from explorer import estimators
from explorer.i18n import _, lazy

remember("ll_ks", "ll_row", "ll_subset")

KS = [1, 10, 100, 1000]


@st.cache_data(show_spinner=lazy("Importance sampling…"), max_entries=32)
def report(path: str, mtime: float, dataset: str, rows: tuple[int, ...], ks: tuple[int, ...],
           seed: int) -> estimators.LogLikelihoodReport:
    model = load_model(path, mtime)[0]
    split = showable_split(dataset)[0]
    idx = list(rows)
    y = split.y[idx] if model.config.conditional else None
    return estimators.log_likelihood_report(model, split.x[idx], ks, seed=seed, y=y)


st.title(_("Log-likelihood (IWAE)"))
# equations at full width: in a column they are cut at the right edge of a 1024-pixel projector
st.markdown(_(
    "The ELBO is only a lower bound on the log-likelihood $\\log p(x)$. Burda, Grosse & Salakhutdinov (2016) "
    "tighten it by drawing $k$ codes from the encoder and **averaging the importance weights** before the log:"))
st.latex(r"\log p(x)\;\ge\;\mathcal{L}_k=\mathbb{E}\Big[\log\frac1k\sum_{i=1}^{k}"
         r"\frac{p(x\mid z_i)\,p(z_i)}{q(z_i\mid x)}\Big]")
st.markdown(_("with $z_1, \\dots, z_k$ drawn from $q(z\\mid x)$. $\\mathcal{L}_1$ is the ELBO; $\\mathcal{L}_k$ never "
              "decreases with $k$ and reaches $\\log p(x)$ as $k\\to\\infty$. What the ELBO misses is exactly how far "
              "the encoder's Gaussian is from the true posterior:"))
st.latex(r"\log p(x)-\mathrm{ELBO}(x)=\mathrm{KL}\big(q(z\mid x)\,\|\,p(z\mid x)\big)\;\ge\;0")
left, right = st.columns([1.25, 1], gap="large")
with left:
    st.markdown(_("The plots show **negative** log-likelihoods in nats per image, like the rest of the app: lower is "
                  "better, and each estimate $-\\mathcal{L}_k$ is an upper bound on $-\\log p(x)$ that falls as $k$ "
                  "grows."))
    st.caption(_("Each image gets as many draws as the largest $k$ chosen; every $\\mathcal{L}_k$ averages them in "
                 "groups of $k$, so the small-$k$ points are precise. $k = 1$ is the ELBO."))
with right:
    ks = st.multiselect(_("k (importance samples)"), KS, default=KS, key="ll_ks")

sel = require_model()
require_variational(sel, _("there is no q(z|x) to draw importance samples from, and no bound on log p(x)"))
split, note = dataset_or_stop(sel.dataset)
if not ks:
    st.info(_("Pick at least one k."))
    st.stop()
ks = sorted(ks)
seed = 0

st.subheader(_("One test image"))
a, b, c = st.columns([0.8, 2.2, 1.1], gap="large")
with a:
    row = int(st.number_input(_("Test image (0 … {last})").format(last=len(split) - 1), 0, len(split) - 1, 0,
                              key="ll_row"))
    show_images(split.x[row : row + 1], [f"#{row} · {_(split.class_names[int(split.y[row])])}"], width=130, scale=4)
one = report(*sel.key, sel.dataset, (row,), tuple(ks), seed)
with b:
    image = _("image #{row}").format(row=row)
    st.plotly_chart(iwae_vs_k(ks, {image: -one.iwae[:, 0]}, {image: -float(one.elbo[0])}),
                    key="ll_one_chart", config={"displaylogo": False})
with c:
    st.metric(_("−ELBO (nats)"), f"{-one.elbo[0]:.2f}")
    st.metric(f"−log p(x), IWAE k={ks[-1]}", f"{-one.iwae[-1, 0]:.2f}",
              _("{gap:+.2f} vs the ELBO").format(gap=-one.gap[0]), delta_color="inverse", help=_("nats per image"))
    st.metric(_("Effective sample size (of {k})").format(k=ks[-1]), f"{one.ess[0]:.0f}",
              help=_("(Σw)² / Σw² of the importance weights: k if q(z|x) were the true posterior, near 1 if one draw "
                     "dominates"))
    st.caption(_("The gap is a lower bound on KL(q(z|x) ‖ p(z|x)): how loose this image's posterior is."))

st.subheader(_("Test set"))
max_n = min(1000, len(split))
n = st.slider(_("Images (a random subset of the test split)"), min(10, max_n), max_n,
              min(100, max_n), step=10 if max_n >= 20 else 1, key="ll_subset")
rows = tuple(sorted(np.random.default_rng(seed).choice(len(split), size=n, replace=False).tolist()))
rep = report(*sel.key, sel.dataset, rows, tuple(ks), seed)
stored = sel.card.metrics
reference, ref_label = None, ""
if stored is not None and stored.iwae_nll is not None and note is None:
    reference = stored.iwae_nll
    if stored.n_images:
        ref_label = _("model card: k={k}, all {n} test images").format(k=stored.iwae_k, n=stored.n_images)
    else:
        ref_label = _("model card: k={k}, all test images").format(k=stored.iwae_k)
a, b = st.columns([2.2, 1], gap="large")
with a:
    mean = _("mean of {n} images").format(n=n)
    st.plotly_chart(iwae_vs_k(ks, {mean: -rep.iwae.mean(1)}, {mean: -float(rep.elbo.mean())},
                              reference=reference, reference_label=ref_label),
                    key="ll_set_chart", config={"displaylogo": False})
with b:
    nll, better = _("−L_k (nats)"), _("better than ELBO by")
    st.dataframe([{"k": k, nll: round(float(-rep.iwae[i].mean()), 2),
                   better: round(float(rep.iwae[i].mean() - rep.elbo.mean()), 2)}
                  for i, k in enumerate(ks)], hide_index=True, width="stretch")
    st.markdown(_("Mean gap at k = {k}: **{gap:.2f} nats** per image (largest: {largest:.2f}); median effective sample "
                  "size {ess:.0f} of {k}.").format(k=ks[-1], gap=rep.gap.mean(), largest=rep.gap.max(),
                                                   ess=np.median(rep.ess)))
    if reference is not None:
        st.caption(_("The model card's value was measured once on the whole test split; a subset lands near it."))
