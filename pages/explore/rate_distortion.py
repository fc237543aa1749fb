"""β & rate–distortion: where each model sits between rate (KL) and distortion (reconstruction),
a β sweep on digits trained in the background, and which latent dimensions a model actually uses."""

from __future__ import annotations

import streamlit as st

import vae
from pages.ui.cache import encoded
from pages.ui.sweep_views import DATASET_PENDING_KEY, announce_if_finished, sweep_box_ui
from pages.ui.widgets import dataset_or_stop, remember, require_variational

from explorer.figures import latent_usage_bars, rate_distortion_plot
from explorer import rate_distortion as rd, registry
from explorer.i18n import _, lazy
from explorer.train_form import LIKELIHOOD_NAMES, shown_name

remember("rd_dataset", "rd_likelihood", "rd_sweep_betas", "rd_sweep_epochs", "rd_compare")


@st.cache_data(show_spinner=lazy("Measuring each latent dimension…"), max_entries=16)
def usage_of(path: str, mtime: float, dataset: str) -> rd.LatentUsage:
    enc = encoded(path, mtime, dataset)
    return rd.latent_usage(enc["mu"], enc["logvar"])


def usage_ui(entry: registry.ModelEntry, key: str) -> None:
    """A model's KL per latent dimension (inactive ones grey) and its total."""
    usage = usage_of(str(entry.path), registry.weights_mtime(entry.path), entry.card.dataset)
    title = _("{model}: {active} of {dims} active").format(model=entry.name, active=usage.n_active,
                                                             dims=usage.latent_dim)
    st.plotly_chart(latent_usage_bars(usage, title), key=key, config={"displaylogo": False})
    if entry.card.config.prior == "standard":
        st.caption(_("β = {beta:g} · total KL {kl:.2f} nats").format(beta=entry.card.beta, kl=usage.kl.sum()))
    else:  # a mixture's KL does not split by dimension: the bars measure each dimension against N(0, 1)
        st.caption(_("β = {beta:g} · bars: KL of each dimension to N(0, 1), a measure of use; the model's own KL is to "
                     "its learned mixture prior and does not split by dimension").format(beta=entry.card.beta))


st.title(_("β & rate–distortion"))
st.markdown(_(
    "The negative ELBO is the sum of two costs. The **distortion** $D$ is how many nats the decoder needs to "
    "describe the image given its code; the **rate** $R$ is how many nats of information the code carries "
    "about the image (the KL to the prior):"))
st.latex(r"-\mathrm{ELBO} = \underbrace{\mathbb{E}_{q(z\mid x)}\!\left[-\log p(x\mid z)\right]}_{D}"
         r" + \underbrace{\mathrm{KL}\!\left(q(z\mid x)\,\|\,p(z)\right)}_{R}")
left, right = st.columns([1, 2.2], gap="large")
with left:
    st.markdown(_("A **β-VAE** (Higgins et al. 2017) trains on a weighted sum instead:"))
    st.latex(r"\mathcal{L}_\beta = D + \beta\, R")
with right:
    st.markdown(_(
        "β > 1 makes bits in the code expensive: lower rate, blurrier reconstructions. β < 1 makes them cheap: "
        "more rate, sharper reconstructions. The dashed lines join points of equal −ELBO = D + R: sliding along "
        "one trades rate for distortion at no cost to the bound (Alemi et al., *Fixing a Broken ELBO*, 2018)."))

announce_if_finished()  # a full rerun can be the first to see the sweep's end
sel = st.session_state.get("selected")
entries = [e for e in registry.list_entries() if e.card is not None]
datasets = rd.datasets_of(entries)

plot_col, side_col = st.columns([2.3, 1], gap="medium")
with side_col:
    dataset = "digits"
    if not datasets:
        st.info(_("No model has test metrics yet. Train one on the Train page or run the β sweep below."))
    else:
        st.session_state["rd_dataset"] = rd.preferred(datasets, st.session_state.pop(DATASET_PENDING_KEY, None),
                                                      st.session_state.get("rd_dataset"), sel and sel.dataset)
        dataset = st.selectbox(_("Dataset"), datasets, key="rd_dataset",
                               help=_("Rate and distortion only compare between models of the same dataset."))
    likelihoods = rd.likelihoods_of(entries, dataset)
    likelihood = rd.preferred(likelihoods, st.session_state.get("rd_likelihood"), "bernoulli") or "bernoulli"
    if len(likelihoods) > 1:
        st.session_state["rd_likelihood"] = likelihood
        likelihood = st.radio(_("Decoder"), likelihoods, horizontal=True, key="rd_likelihood",
                              format_func=lambda v: shown_name(LIKELIHOOD_NAMES, v),
                              help=_("A Gaussian decoder's distortion is in other units, so each decoder gets its own "
                                     "plot."))
    points, skipped = rd.rate_distortion_points(rd.cards_of(entries), dataset, likelihood)

with plot_col:
    selected_name = sel.entry.name if sel is not None else None
    st.plotly_chart(rate_distortion_plot(points, selected_name, rd.iso_elbo_levels(points)), key="rd_plot",
                    config={"displaylogo": False})
    st.caption(rd.plot_note(points, skipped, dataset, likelihood, selected_name))

with side_col, st.container(border=True):
    sweep_box_ui()

if points:
    with st.expander(_("The numbers")):
        st.dataframe(rd.points_table(points), hide_index=True, width="stretch")

st.divider()
st.header(_("Active units: which latent dimensions carry information?"))
st.markdown(_(
    "The KL of each latent dimension, averaged over the test images, is what that dimension costs in rate. A "
    "dimension whose posterior mean $\\mu_d$ hardly moves from image to image carries no information: its "
    "$q(z_d\\mid x)$ has collapsed onto the prior (**posterior collapse**). Burda et al. (2016) call a dimension "
    "*active* when $\\mathrm{Cov}_x\\big(\\mathbb{E}_{q(z\\mid x)}[z_d]\\big) > 0.01$; grey bars are inactive."))
if sel is None:
    st.info(_("Pick a model in the sidebar to see its latent dimensions."))
    st.stop()

require_variational(sel, _("it has no KL per latent dimension to show"))
others = {e.name: e for e in rd.compare_candidates(entries, sel.entry.name, sel.dataset)}  # strongest β first
if sel.config.prior != "standard":
    st.caption(_(":material/info: This model has a learned prior: the bars show each dimension's KL to N(0, 1), "
                 "a diagnostic (its real KL does not split by dimension)."))
dataset_or_stop(sel.dataset)
a, b = st.columns(2, gap="large")
with a:
    usage_ui(sel.entry, "rd_usage_selected")
with b:
    if not others:
        st.info(_("No other {dataset} model to compare with. Train one with a larger β "
                  "(Train page, or `vae-explorer train --beta 4 ...`) to watch dimensions collapse.").format(
                      dataset=sel.dataset))
    else:
        st.session_state["rd_compare"] = rd.preferred(list(others), st.session_state.get("rd_compare"))
        other = others[st.selectbox(_("Compare with"), list(others), key="rd_compare",
                                    format_func=lambda n: f"{n} (β = {others[n].card.beta:g})")]
        try:
            usage_ui(other, "rd_usage_other")
        except (vae.CheckpointError, vae.DatasetUnavailable) as e:
            st.error(_("{model} cannot be shown: {error}").format(model=other.name, error=e))
