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
from explorer.i18n import _
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

st.title(_("Bayesian neural network"))
st.markdown(_(
    "A VAE keeps a distribution over the **code** z of each image. A Bayesian neural network keeps one over its "
    "**weights** w: every weight is a Gaussian N(μ, σ²) instead of a number, fitted by the same ELBO. Predictions "
    "average many networks drawn from q(w); where the draws disagree, the network knows that it does not know."))
# two lines: one is cut at the right edge on a 1024-pixel projector with the sidebar open
st.latex(r"\begin{gathered}\mathrm{ELBO}(q) = \mathbb{E}_{q(w)}\big[\log p(\mathcal{D}\mid w)\big] - "
         r"\mathrm{KL}\big(q(w)\,\|\,p(w)\big) \\ w = \mu + \sigma \odot \varepsilon,\quad "
         r"\varepsilon \sim \mathcal{N}(0, I)\end{gathered}")
st.caption(_("Bayes by Backprop (Blundell, Cornebise, Kavukcuoglu & Wierstra, *Weight Uncertainty in Neural Networks*, "
             "ICML 2015): one reparameterised draw of w per minibatch, prior N(0, s²) on every weight, KL in closed "
             "form. Beside it, a deterministic network of the same layers trained by cross-entropy alone."))

# no key: the tabs are not kept in the session or the URL, so their labels are only shown
tab_plane, tab_pixels, tab_digit = st.tabs([_("On the latent plane"), _("On pixels: calibration and the unknown"),
                                            _("Your digit")])

with tab_plane:
    sel = st.session_state.get("selected")
    if sel is None:
        st.info(_("Pick a 2-D model in the sidebar to train the classifiers on its codes."))
    elif sel.config.latent_dim != 2:
        st.info(_("**{model}** has {dim} latent dimensions: this part draws the plane of a 2-D model. Pick one in the "
                  "sidebar (e.g. mnist-z2); the other two tabs work with any model.")
                .format(model=sel.entry.name, dim=sel.config.latent_dim), icon=":material/info:")
    elif dataset_or_error(sel.dataset) is not None:  # the other two tabs still work without this model's images
        if sel.config.conditional:
            st.warning(_("This conditional VAE is *told* the digit, so its codes hold the style, not the class: "
                         "expect both classifiers to do poorly. mnist-z2 shows the idea best."),
                       icon=":material/warning:")
        c1, c2, c3 = st.columns([2, 1.4, 2])
        sizes = [n for n in (30, 100, 300, 1000, 3000) if n < len(encoded(*sel.key, sel.dataset)["mu"])]
        n_train = c1.select_slider(
            _("Training codes"), sizes, value=min(300, sizes[-1]), key="bnn_n_train",
            help=_("Fewer codes: the data constrain the weights less, and the uncertainty grows."))
        prior = c2.select_slider(_("Prior std s"), [0.3, 1.0, 3.0], value=1.0, key="bnn_prior",
                                 help=_("p(w) = N(0, s²) on every weight of the Bayesian network."))
        measure = c3.radio(_("Uncertainty shown"), bnn.MEASURES, format_func=lambda m: _(MEASURE_NAMES[m]),
                           key="bnn_measure")
        view = latent_view(*sel.key, sel.dataset, n_train, prior)
        image, scale = bnn.plane_image(view.maps, measure, CLASS_COLOURS[: len(CLASS_NAMES[sel.dataset])])
        left, right = st.columns(2, gap="medium")
        with left:
            st.markdown(_("**Predicted class** (deterministic), faded to white where uncertain")
                        if measure == "det_entropy" else _("**Predicted class** (Bayesian), faded to white where uncertain"))
            st.plotly_chart(plane_figure(image, view.extent, view.codes, view.labels, CLASS_NAMES[sel.dataset]),
                            key="bnn_plane")
        with right:
            st.markdown(_("**{measure}**, in nats; blue dots: the training codes")
                        .format(measure=_(MEASURE_NAMES[measure])))
            st.plotly_chart(uncertainty_heatmap(view.maps.axis, getattr(view.maps, measure), measure, view.codes),
                            key="bnn_heatmap")
        a, b, c = st.columns(3)
        a.metric(_("Bayesian: held-out accuracy"), f"{view.accuracy['bayesian']:.1%}")
        b.metric(_("Deterministic: held-out accuracy"), f"{view.accuracy['deterministic']:.1%}")
        c.metric(_("Most uncertain point"), _("{value:.2f} nats").format(value=getattr(view.maps, measure).max()))
        white = (_("the plane's largest mutual information") if measure == "mutual_information"
                 else _("log C, the largest possible"))
        st.caption(_("Trained on {n:,} codes of {model}'s test images, tested on the rest. White on the left means "
                     "{scale:.2f} nats or more ({white}). Grey lines: the decision boundaries of four single draws of "
                     "the weights; black: the deterministic network's. Away from the codes the draws disagree (mutual "
                     "information), while the deterministic network stays sure of itself everywhere.")
                   .format(n=n_train, model=sel.entry.name, scale=scale, white=white))

with tab_pixels:
    bayes, det, card = pixel_networks_or_stop()
    mtime = registry.weights_mtime(bnn.PIXEL_MODEL)
    report = pixel_report(mtime, card.dataset)
    st.markdown(_("**models/mnist-bnn**: two {sizes} networks on {dataset}'s pixels, trained for {epochs} epochs each "
                  "with `vae-explorer train-bnn`. Measured here on {n:,} test digits (10 weight draws per prediction; "
                  "the card's used 30) and as many {ood} images, which neither network has seen.")
                .format(sizes="-".join(map(str, card.config.sizes)), dataset=card.dataset, epochs=card.epochs,
                        n=report.metrics["bayesian"].n_images, ood=_(report.ood_name)))
    st.dataframe(metrics_table(report, card), hide_index=True)
    left, right = st.columns(2, gap="medium")
    with left:
        # the share is a field: "90 % of" would read as a %-format placeholder to the catalogue's checks
        st.markdown(_("**Reliability diagram**: is a {share} prediction right {share} of the time?")
                    .format(share="90 %"))
        st.plotly_chart(reliability_diagram(report), key="bnn_reliability")
    with right:
        st.markdown(_("**Is it a digit at all?** Predictive entropy on digits and on {ood}")
                    .format(ood=_(report.ood_name)))
        st.plotly_chart(entropy_histograms(report, _("MNIST test digits")), key="bnn_ood")
    st.caption(_("ECE: the gap between confidence and accuracy, averaged over the bins. ROC AUC: how well the entropy "
                 "tells {ood} from digits (1 perfect, 0.5 chance); with the mutual information alone the Bayesian "
                 "network scores {auc:.3f}.").format(ood=_(report.ood_name), auc=report.mi_auc))

with tab_digit:
    bayes, det, card = pixel_networks_or_stop()
    st.markdown(_("Give both pixel networks one image: the Bayesian network's 100 weight draws each vote; the bars "
                  "show their mean and the range of {share} of them.").format(share="90 %"))
    left, right = st.columns([1, 2], gap="medium")
    with left:
        x, name = digit_input_ui(image_shape(card.dataset))
    if x is not None:
        digit_prediction_ui(x, name, registry.weights_mtime(bnn.PIXEL_MODEL), CLASS_NAMES[card.dataset], left, right)
