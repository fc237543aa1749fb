"""Bayesian neural network: the VAE's ELBO with a Gaussian over the weights (Bayes by Backprop), against a plain network."""

import streamlit as st

from explorer import bnn, registry
from explorer.bnn_figures import (
    MEASURE_NAMES,
    entropy_histograms,
    plane_figure,
    reliability_diagram,
    uncertainty_heatmap,
)
from explorer.figures import CLASS_COLOURS
from pages.ui.bnn_views import (
    digit_input_ui,
    digit_prediction_ui,
    latent_view,
    metrics_table,
    pixel_networks_or_stop,
    pixel_report,
)
from pages.ui.cache import encoded
from pages.ui.widgets import dataset_or_error, remember
from vae.data import CLASS_NAMES, image_shape

remember("bnn_n_train", "bnn_prior", "bnn_measure", "bnn_source", "bnn_example", "bnn_example_index")

st.title("Bayesian neural network")
st.markdown(
    "A VAE keeps a distribution over the **code** z of each image. A Bayesian neural network keeps one over its "
    "**weights** w: every weight is a Gaussian N(μ, σ²) instead of a number, fitted by the same ELBO. Predictions "
    "average many networks drawn from q(w); where the draws disagree, the network knows that it does not know.")
# two lines: one is cut at the right edge on a 1024-pixel projector with the sidebar open
st.latex(r"\begin{gathered}\mathrm{ELBO}(q) = \mathbb{E}_{q(w)}\big[\log p(\mathcal{D}\mid w)\big] - "
         r"\mathrm{KL}\big(q(w)\,\|\,p(w)\big) \\ w = \mu + \sigma \odot \varepsilon,\quad "
         r"\varepsilon \sim \mathcal{N}(0, I)\end{gathered}")
st.caption("Bayes by Backprop (Blundell, Cornebise, Kavukcuoglu & Wierstra, *Weight Uncertainty in Neural Networks*, "
           "ICML 2015): one reparameterised draw of w per minibatch, prior N(0, s²) on every weight, KL in closed form. "
           "Beside it, a deterministic network of the same layers trained by cross-entropy alone.")

tab_plane, tab_pixels, tab_digit = st.tabs(["On the latent plane", "On pixels: calibration and the unknown",
                                            "Your digit"])

with tab_plane:
    sel = st.session_state.get("selected")
    if sel is None:
        st.info("Pick a 2-D model in the sidebar to train the classifiers on its codes.")
    elif sel.config.latent_dim != 2:
        st.info(f"**{sel.entry.name}** has {sel.config.latent_dim} latent dimensions: this part draws the plane of a "
                "2-D model. Pick one in the sidebar (e.g. mnist-z2); the other two tabs work with any model.",
                icon=":material/info:")
    elif dataset_or_error(sel.dataset) is not None:  # the other two tabs still work without this model's images
        if sel.config.conditional:
            st.warning("This conditional VAE is *told* the digit, so its codes hold the style, not the class: "
                       "expect both classifiers to do poorly. mnist-z2 shows the idea best.", icon=":material/warning:")
        c1, c2, c3 = st.columns([2, 1.4, 2])
        sizes = [n for n in (30, 100, 300, 1000, 3000) if n < len(encoded(*sel.key, sel.dataset)["mu"])]
        n_train = c1.select_slider("Training codes", sizes, value=min(300, sizes[-1]), key="bnn_n_train",
                                   help="Fewer codes: the data constrain the weights less, and the uncertainty grows.")
        prior = c2.select_slider("Prior std s", [0.3, 1.0, 3.0], value=1.0, key="bnn_prior",
                                 help="p(w) = N(0, s²) on every weight of the Bayesian network.")
        measure = c3.radio("Uncertainty shown", bnn.MEASURES, format_func=MEASURE_NAMES.get, key="bnn_measure")
        view = latent_view(*sel.key, sel.dataset, n_train, prior)
        image, scale = bnn.plane_image(view.maps, measure, CLASS_COLOURS[: len(CLASS_NAMES[sel.dataset])])
        left, right = st.columns(2, gap="medium")
        with left:
            who = "deterministic" if measure == "det_entropy" else "Bayesian"
            st.markdown(f"**Predicted class** ({who}), faded to white where uncertain")
            st.plotly_chart(plane_figure(image, view.extent, view.codes, view.labels, CLASS_NAMES[sel.dataset]),
                            key="bnn_plane")
        with right:
            st.markdown(f"**{MEASURE_NAMES[measure]}**, in nats; blue dots: the training codes")
            st.plotly_chart(uncertainty_heatmap(view.maps.axis, getattr(view.maps, measure), measure, view.codes),
                            key="bnn_heatmap")
        a, b, c = st.columns(3)
        a.metric("Bayesian: held-out accuracy", f"{view.accuracy['bayesian']:.1%}")
        b.metric("Deterministic: held-out accuracy", f"{view.accuracy['deterministic']:.1%}")
        c.metric("Most uncertain point", f"{getattr(view.maps, measure).max():.2f} nats")
        white = "the plane's largest mutual information" if measure == "mutual_information" else "log C, the largest possible"
        st.caption(f"Trained on {n_train:,} codes of {sel.entry.name}'s test images, tested on the rest. White on the "
                   f"left means {scale:.2f} nats or more ({white}). Grey lines: the decision boundaries of four single "
                   "draws of the weights; black: the deterministic network's. Away from the codes the draws disagree "
                   "(mutual information), while the deterministic network stays sure of itself everywhere.")

with tab_pixels:
    bayes, det, card = pixel_networks_or_stop()
    mtime = registry.weights_mtime(bnn.PIXEL_MODEL)
    report = pixel_report(mtime, card.dataset)
    st.markdown(f"**models/mnist-bnn**: two {'-'.join(map(str, card.config.sizes))} networks on {card.dataset}'s "
                f"pixels, trained for {card.epochs} epochs each with `vae-explorer train-bnn`. Measured here on "
                f"{report.metrics['bayesian'].n_images:,} test digits (10 weight draws per prediction; the card's "
                f"used 30) and as many {report.ood_name} images, which neither network has seen.")
    st.dataframe(metrics_table(report, card), hide_index=True)
    left, right = st.columns(2, gap="medium")
    with left:
        st.markdown("**Reliability diagram**: is a 90 % prediction right 90 % of the time?")
        st.plotly_chart(reliability_diagram(report), key="bnn_reliability")
    with right:
        st.markdown(f"**Is it a digit at all?** Predictive entropy on digits and on {report.ood_name}")
        st.plotly_chart(entropy_histograms(report, "MNIST test digits"), key="bnn_ood")
    st.caption(f"ECE: the gap between confidence and accuracy, averaged over the bins. ROC AUC: how well the entropy "
               f"tells {report.ood_name} from digits (1 perfect, 0.5 chance); with the mutual information alone the "
               f"Bayesian network scores {report.mi_auc:.3f}.")

with tab_digit:
    bayes, det, card = pixel_networks_or_stop()
    st.markdown("Give both pixel networks one image: the Bayesian network's 100 weight draws each vote; the bars show "
                "their mean and the range of 90 % of them.")
    left, right = st.columns([1, 2], gap="medium")
    with left:
        x, name = digit_input_ui(image_shape(card.dataset))
    if x is not None:
        digit_prediction_ui(x, name, registry.weights_mtime(bnn.PIXEL_MODEL), CLASS_NAMES[card.dataset], left, right)
