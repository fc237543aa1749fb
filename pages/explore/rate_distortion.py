"""β & rate–distortion: where each model sits between rate (KL) and distortion (reconstruction),
a live β sweep on digits, and which latent dimensions a model actually uses (active units)."""

from __future__ import annotations

import streamlit as st

import vae
from pages.ui.cache import encoded
from pages.ui.widgets import dataset_or_stop, remember

from explorer.figures import latent_usage_bars, rate_distortion_plot
from explorer import rate_distortion, registry

remember("rd_dataset", "rd_likelihood", "rd_sweep_betas", "rd_sweep_epochs", "rd_sweep_save", "rd_compare")

SWEEP_KEY = "rd_sweep_points"  # RDPoints of this session's unsaved β sweep
SWEEP_BETAS = [0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0]
# The shipped digits-z2's architecture, so its point (200 epochs) compares with the sweep's. Measured on the
# project's 2-core machine, unloaded: 3.3-3.5 s per model at 50 epochs (17 s for the five default βs).
SWEEP_CONFIG = vae.VAEConfig(input_shape=(1, 8, 8), latent_dim=2, hidden_dims=(256, 128))


def source_of(entry) -> str:
    if entry.card.trained_in == "beta sweep":
        return "sweep"
    return "shipped" if entry.shipped else "yours"


@st.cache_data(show_spinner="Measuring each latent dimension…", max_entries=16)
def usage_of(path: str, mtime: float, dataset: str) -> rate_distortion.LatentUsage:
    enc = encoded(path, mtime, dataset)
    return rate_distortion.latent_usage(enc["mu"], enc["logvar"])


def run_sweep_ui(betas: list[float], epochs: int, save: bool) -> None:
    """Train one digits model per β with a progress bar; keep the points (and maybe the models)."""
    train, test = vae.load_dataset("digits", "train"), vae.load_dataset("digits", "test")
    bar = st.progress(0.0, text="starting the sweep…")
    shown = {"value": -1.0}

    def on_progress(i: int, beta: float, fraction: float) -> None:
        if fraction - shown["value"] >= 0.01 or fraction >= 1.0:  # about 100 redraws in all
            shown["value"] = fraction
            bar.progress(min(fraction, 1.0), text=f"training model {i + 1} of {len(betas)} (β = {beta:g})…")

    tcfg = vae.TrainConfig(epochs=epochs, batch_size=64, lr=1e-3, device="cpu", seed=0)
    results = rate_distortion.beta_sweep(train.x, test.x, betas, SWEEP_CONFIG, tcfg, on_progress=on_progress,
                            save_dir=registry.user_models_dir() if save else None)
    bar.empty()
    points = [r.point(rate_distortion.sweep_name("digits-sweep", r.beta), "digits") for r in results]
    st.session_state[SWEEP_KEY] = [] if save else points
    st.session_state["_rd_dataset_pending"] = "digits"  # the selectbox exists already: set it next run
    st.session_state["_rd_sweep_message"] = (
        f"Trained {len(results)} models in {sum(r.seconds for r in results):.0f} s"
        + (f"; saved in {registry.user_models_dir()} (they are now in the sidebar picker too)." if save else "."))


st.title("β & rate–distortion")
left, right = st.columns([1.3, 1], gap="large")
with left:
    st.markdown(
        "The negative ELBO is the sum of two costs. The **distortion** $D$ is how many nats the decoder needs to "
        "describe the image given its code; the **rate** $R$ is how many nats of information the code carries "
        "about the image (the KL to the prior):")
    st.latex(r"-\mathrm{ELBO} = \underbrace{\mathbb{E}_{q(z\mid x)}\!\left[-\log p(x\mid z)\right]}_{D}"
             r" + \underbrace{\mathrm{KL}\!\left(q(z\mid x)\,\|\,p(z)\right)}_{R}")
with right:
    st.markdown("A **β-VAE** (Higgins et al. 2017) trains on a weighted sum instead:")
    st.latex(r"\mathcal{L}_\beta = D + \beta\, R")
    st.markdown(
        "β > 1 makes bits in the code expensive: lower rate, blurrier reconstructions. β < 1 makes them cheap: "
        "more rate, sharper reconstructions. The dashed lines join points of equal −ELBO = D + R: sliding along "
        "one trades rate for distortion at no cost to the bound (Alemi et al., *Fixing a Broken ELBO*, 2018).")

sel = st.session_state.get("selected")
entries = [e for e in registry.list_entries() if e.card is not None]
cards = [(e.name, e.card, source_of(e)) for e in entries]
saved_names = {e.name for e in entries}
sweep_points = [p for p in st.session_state.get(SWEEP_KEY, []) if p.name not in saved_names]
datasets = sorted({e.card.dataset for e in entries} | {p.dataset for p in sweep_points})

plot_col, side_col = st.columns([2.3, 1], gap="medium")
with side_col:
    if not datasets:
        st.info("No model has test metrics yet. Train one on the Train page or run the β sweep below.")
        dataset = "digits"
    else:
        default = sel.dataset if sel is not None and sel.dataset in datasets else datasets[0]
        pending = st.session_state.pop("_rd_dataset_pending", None)
        if pending in datasets:
            st.session_state["rd_dataset"] = pending
        elif st.session_state.get("rd_dataset") not in datasets:
            st.session_state["rd_dataset"] = default
        dataset = st.selectbox("Dataset", datasets, key="rd_dataset",
                               help="Rate and distortion only compare between models of the same dataset.")
    likelihoods = sorted({c.config.likelihood for _, c, _ in cards if c.dataset == dataset})
    likelihood = "bernoulli" if "bernoulli" in likelihoods or not likelihoods else likelihoods[0]
    if len(likelihoods) > 1:
        likelihood = st.radio("Decoder", likelihoods, horizontal=True, key="rd_likelihood",
                              help="A Gaussian decoder's distortion is in other units, so each decoder gets its own plot.")
    points, skipped = rate_distortion.rate_distortion_points(cards, dataset, likelihood)
    points += [p for p in sweep_points if p.dataset == dataset and p.likelihood == likelihood]

with plot_col:
    selected_name = sel.entry.name if sel is not None else None
    st.plotly_chart(rate_distortion_plot(points, selected_name, rate_distortion.iso_elbo_levels(points)), key="rd_plot",
                    config={"displaylogo": False})
    note = (f"{len(points)} {dataset} models with a {likelihood} decoder; test-set means in nats per image, from each "
            "model's card.")
    if selected_name and selected_name not in {p.name for p in points}:
        note += f" The selected model ({selected_name}) is not on this plot."
    st.caption(note)
    if skipped:
        st.caption("Left out: " + "; ".join(f"**{n}** ({why})" for n, why in skipped))

with side_col:
    with st.container(border=True):
        st.markdown("##### β sweep on digits")
        st.caption("Trains one small model (8×8 digits, z = 2, MLP 256-128) per β, same seed and data, a few "
                   "seconds each, and adds the points to the plot.")
        betas = st.multiselect("β values", SWEEP_BETAS, default=[0.25, 0.5, 1.0, 2.0, 4.0], key="rd_sweep_betas",
                               format_func=lambda b: f"{b:g}")
        epochs = st.slider("Epochs per model", 10, 100, 50, step=10, key="rd_sweep_epochs")
        save = st.toggle("Save the models as mine", key="rd_sweep_save",
                         help="Saved as digits-sweep-beta<β> in your models folder (replacing an earlier sweep's).")
        if st.button("Run β sweep", key="rd_sweep_run", type="primary", disabled=not betas, icon=":material/play_arrow:"):
            run_sweep_ui(sorted(betas), epochs, save)
            st.rerun()
        if not betas:
            st.caption("Pick at least one β.")
        message = st.session_state.get("_rd_sweep_message")
        if message:
            st.success(message)

if points:
    with st.expander("The numbers"):
        st.dataframe(
            [{"model": p.name, "β": p.beta, "z": p.latent_dim, "rate R (KL)": round(p.rate, 2),
              "distortion D": round(p.distortion, 2), "−ELBO = D + R": round(p.neg_elbo, 2), "kind": p.source}
             for p in sorted(points, key=lambda p: p.neg_elbo)], hide_index=True, width="stretch")

st.divider()
st.header("Active units: which latent dimensions carry information?")
st.markdown(
    "The KL of each latent dimension, averaged over the test images, is what that dimension costs in rate. A "
    "dimension whose posterior mean $\\mu_d$ hardly moves from image to image carries no information: its "
    "$q(z_d\\mid x)$ has collapsed onto the prior (**posterior collapse**). Burda et al. (2016) call a dimension "
    "*active* when $\\mathrm{Cov}_x\\big(\\mathbb{E}_{q(z\\mid x)}[z_d]\\big) > 0.01$; grey bars are inactive.")
if sel is None:
    st.info("Pick a model in the sidebar to see its latent dimensions.")
    st.stop()

same_dataset = [e for e in entries if e.card.dataset == sel.dataset and e.name != sel.entry.name]
if sel.config.prior != "standard":
    st.caption(":material/info: This model has a learned prior: the bars show each dimension's KL to N(0, 1), "
               "a diagnostic (its real KL does not split by dimension).")
dataset_or_stop(sel.dataset)
a, b = st.columns(2, gap="large")
with a:
    usage = usage_of(*sel.key, sel.dataset)
    st.plotly_chart(latent_usage_bars(usage, f"{sel.entry.name}: {usage.n_active} of {usage.latent_dim} active"),
                    key="rd_usage_selected", config={"displaylogo": False})
    st.caption(f"β = {sel.card.beta:g} · total KL {usage.kl.sum():.2f} nats")
with b:
    if not same_dataset:
        st.info(f"No other {sel.dataset} model to compare with. Train one with a larger β "
                "(Train page, or `vae-explorer train --beta 4 ...`) to watch dimensions collapse.")
    else:
        # Default to the strongest β: the model most likely to show collapsed dimensions.
        same_dataset.sort(key=lambda e: -e.card.beta)
        names = [e.name for e in same_dataset]
        if st.session_state.get("rd_compare") not in names:
            st.session_state["rd_compare"] = names[0]
        other_name = st.selectbox("Compare with", names, key="rd_compare", format_func=lambda n: (
            f"{n} (β = {next(e for e in same_dataset if e.name == n).card.beta:g})"))
        other = next(e for e in same_dataset if e.name == other_name)
        try:
            other_usage = usage_of(str(other.path), registry.weights_mtime(other.path), other.card.dataset)
        except (vae.CheckpointError, vae.DatasetUnavailable) as e:
            st.error(f"{other.name} cannot be shown: {e}")
        else:
            st.plotly_chart(latent_usage_bars(other_usage, f"{other.name}: {other_usage.n_active} of "
                                                           f"{other_usage.latent_dim} active"),
                            key="rd_usage_other", config={"displaylogo": False})
            st.caption(f"β = {other.card.beta:g} · total KL "
                       f"{other_usage.kl.sum():.2f} nats")
