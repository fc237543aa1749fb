"""Inference for one image: a Gaussian optimised for one image against the encoder's amortised guess,
the true posterior of a 2-D model, and the approximation and amortisation gaps (Cremer et al. 2018)."""

import streamlit as st

from explorer.i18n import N_, _
from explorer.inference import START_NAMES, STARTS, STEPS
from explorer.inference_figures import elbo_curve, latent_plane
from pages.ui.cache import encoded
from pages.ui.inference_views import (
    encoder_view, gap_metrics_ui, gap_table_ui, gaps_view, grid_view, image_ui, run_view, subset_gaps_ui,
)
from pages.ui.widgets import dataset_or_stop, remember, require_model, require_variational

# how the start radio names each start (its values, STARTS, stay in the session and the link)
START_LABELS = {"prior": N_("the prior N(0, I)"), "encoder": N_("the encoder's guess")}

remember("inf_source", "inf_row", "inf_start", "inf_step", "inf_subset_n", "inf_label")

st.title(_("Inference for one image"))
st.markdown(_(
    "The encoder is a shortcut. **Variational inference** proper fits a Gaussian q(z) = N(μ, σ²) to *one* image "
    "by gradient steps on that image's ELBO; the VAE's encoder instead **amortises** the work: one network outputs "
    "μ and σ for every image in a single forward pass. How much does the shortcut cost?"))
# two lines: one line is cut at the right edge on a 1024-pixel projector with the sidebar open
st.latex(r"\begin{aligned}\log p(x) - \mathrm{ELBO}(q_{\text{enc}}) &= \underbrace{\log p(x) - \mathrm{ELBO}(q^{*})}"
         r"_{\text{" + _("approximation gap") + r"}} \\ &+ \underbrace{\mathrm{ELBO}(q^{*}) - \mathrm{ELBO}(q_{\text{enc}})}"
         r"_{\text{" + _("amortisation gap") + r"}}\end{aligned}")
st.caption(_("q* is the best diagonal Gaussian for this image (Cremer, Li & Duvenaud, *Inference Suboptimality in "
             "Variational Autoencoders*, ICML 2018). All numbers in nats; every ELBO from the same 1,000 draws of z."))

sel = require_model()
require_variational(sel, _("there is no encoder Gaussian to compare with an optimised one, and no gaps to split"))
split, _note = dataset_or_stop(sel.dataset)
two_d = sel.config.latent_dim == 2

left, right = st.columns([1.5, 2], gap="large")  # room for the 196-pixel drawing pad on a projector
with left:
    x, label, image_key = image_ui(sel, split)
enc = encoder_view(*sel.key, x, label)
with right:
    st.subheader(_("Amortised: the encoder's q(z|x)"))
    d = sel.config.latent_dim
    more = " …" if d > 6 else ""
    st.markdown(_("One forward pass gives μ = ({mu}) and σ = ({std}).").format(
        mu=", ".join(f"{v:+.3f}" for v in enc.mu[:6]) + more, std=", ".join(f"{v:.3f}" for v in enc.std[:6]) + more))
    st.metric(_("ELBO of the encoder's Gaussian"), _("{elbo:.2f} nats").format(elbo=enc.elbo))
    st.subheader(_("Per image: optimise a Gaussian for this image alone"))
    start = st.radio(_("Start from"), STARTS, horizontal=True, key="inf_start",
                     format_func=lambda s: _(START_LABELS[s]))
    if st.button(_("Optimise ({steps} Adam steps)").format(steps=STEPS), type="primary", icon=":material/play_arrow:",
                 key="inf_run"):
        st.session_state["inf_request"] = (sel.key, image_key, start)
        st.session_state["inf_step"] = STEPS

request = st.session_state.get("inf_request")
run = None
if request is not None and request[:2] == (sel.key, image_key):
    run = run_view(*sel.key, x, label, request[2])
grid = grid_view(*sel.key, x, label) if two_d else None

if run is not None:
    gaps = gaps_view(*sel.key, x, label)
    st.subheader(_("This image's gaps"))
    gap_metrics_ui(gaps)
    better = run.final_elbo - gaps.elbo_optimised[0]
    if better > 0.1:
        st.caption(_("Your run from {start} ended {better:.2f} nats *above* the fit from the encoder's guess: "
                     "it found a better Gaussian (often another mode of p(z|x)).").format(
            start=_(START_NAMES[run.start]), better=better))
    elif better < -0.5:
        st.caption(_("Your run from {start} ended {below:.2f} nats below the best Gaussian: the ELBO has local "
                     "optima, and a start far from the posterior can get stuck in one. The encoder's guess is a good "
                     "start.").format(start=_(START_NAMES[run.start]), below=-better))


@st.fragment
def run_views() -> None:
    """The step slider redraws only the curve and the plane."""
    if run is not None:
        every = int(run.steps[1] - run.steps[0]) if len(run.steps) > 1 else 1
        step = st.slider(_("Step of the optimiser"), 0, int(run.steps[-1]), step=every, key="inf_step",
                         help=_("Scrub through the run: the curve's marker and the plane follow."))
        i = run.index(step)
        st.markdown(_("Step **{step}**: μ = ({mu}), σ = ({std}), ELBO **{elbo:.2f}** nats (final: {final:.2f}).").format(
            step=int(run.steps[i]), mu=", ".join(f"{v:+.3f}" for v in run.mu[i, :6]),
            std=", ".join(f"{v:.3f}" for v in run.std[i, :6]), elbo=run.elbo[i], final=run.final_elbo))
    else:
        step = 0
    if two_d:
        background = encoded(*sel.key, sel.dataset)["mu"][:2000]
        st.plotly_chart(latent_plane(enc, run, grid, step, background), key="inf_plane", config={"displaylogo": False})
        st.caption(_("Grey regions: the true posterior p(z|x) ∝ p(x|z) p(z) on a grid, the smallest regions holding "
                     "{levels} of it; log p(x) = {log_px:.2f} nats by integrating over the grid. Ellipses: one "
                     "standard deviation of each Gaussian. The dotted box on the left is the close-up.").format(
            levels=_("10 %, 30 %, 50 %, 70 % and 90 %"), log_px=grid.log_px))
    if run is not None:
        log_px = float(grid.log_px) if grid is not None else None
        st.plotly_chart(elbo_curve(run, enc.elbo, log_px, step), key="inf_curve", config={"displaylogo": False})
        st.caption(_("The ELBO every few steps, all with the same 64 draws of ε (so the curve is smooth and "
                     "comparable). Double-click the plot to see the whole run."))
    else:
        st.info(_("Press **Optimise** to fit a Gaussian to this image and compare it with the encoder's."))


run_views()
if not two_d:
    st.caption(_("This model has {d} latent dimensions: no plane to draw, and log p(x) is estimated by importance "
                 "sampling with k = 5,000 draws (a lower bound).").format(d=sel.config.latent_dim))

st.divider()
st.subheader(_("Average gaps over test images, every shipped model"))
c1, c2 = st.columns([1, 2], vertical_alignment="bottom")
n = c1.select_slider(_("Test images per model"), [5, 10, 20, 50], value=10, key="inf_subset_n")
if c2.button(_("Measure the gaps (about 5 s per model and 10 images)"), icon=":material/calculate:",
             key="inf_measure"):
    st.session_state["inf_measured"] = True
if st.session_state.get("inf_measured"):
    gap_table_ui(subset_gaps_ui(n))
else:
    st.caption(_("Each model: a Gaussian fitted to each of the first test images (500 steps from the encoder's "
                 "guess), log p(x) on a grid (2-D) or by IWAE with k = 5,000, averaged. Computed on demand, then kept."))
