"""Clusters: k-means and a Gaussian mixture on the test codes, scored against the labels the VAE never saw."""

import numpy as np
import streamlit as st

from pages.ui.cache import encoded, projection
from pages.ui.widgets import dataset_or_stop, remember, require_model, show_images
from explorer.clusters import CLUSTER_METHODS, centre_images, cluster_codes, contingency, dominant_labels, nmi, purity
from explorer.figures import cluster_scatter, contingency_heatmap
from explorer.i18n import N_, _, lazy
from explorer.maps import AXIS_TITLES, place_codes

remember("clusters_k", "clusters_method", "clusters_view")

VIEWS = {"pca": "PCA", "tsne": N_("t-SNE (seconds the first time)")}  # the map's projection -> its name


@st.cache_data(show_spinner=lazy("Clustering the codes…"), max_entries=32)
def clusters(model_path: str, mtime: float, dataset: str, k: int, method: str) -> dict:
    c = cluster_codes(encoded(model_path, mtime, dataset)["mu"], k, method=method, seed=0)
    return {"assignments": c.assignments, "centres": c.centres}


st.title(_("Clusters"))
st.markdown(_(
    "The VAE was never told which digit is which. If its codes still group by class, an algorithm that sees only "
    "the codes should find those groups. Here **k-means** and a **Gaussian mixture** cluster the posterior means μ "
    "of the test images, and two scores compare the clusters with the true labels."))
sel = require_model()
if sel.config.conditional:
    st.info(_("This is a conditional VAE: it is given the label, so its codes are trained to hold only the *style* that "
              "the label does not say, and clustering them by class has nothing to find. Pick an unconditional model "
              "in the sidebar to use this page."), icon=":material/info:")
    st.stop()
split, _note = dataset_or_stop(sel.dataset)
enc = encoded(*sel.key, sel.dataset)
d = sel.config.latent_dim
labels = enc["labels"]

c1, c2, c3 = st.columns([1.4, 1.2, 1.6])
k = c1.slider(_("Number of clusters k"), 2, 20, 10, key="clusters_k",
              help=_("{n} true classes").format(n=len(split.class_names)))
method = c2.radio(_("Algorithm"), list(CLUSTER_METHODS), format_func=lambda m: _(CLUSTER_METHODS[m]), key="clusters_method",
                  help=_("k-means: nearest centre, round clusters of equal size. Gaussian mixture: each cluster its own "
                         "mean and covariance (elongated, tilted clusters allowed), fitted by EM."))
if d == 2:
    view = "identity"
    c3.caption(_("2-D latent: the map shows the codes themselves."))
else:
    view = c3.radio(_("Map of the {d}-D codes").format(d=d), list(VIEWS), horizontal=True, key="clusters_view",
                    format_func=lambda v: _(VIEWS[v]),
                    help=_("Clustering always runs in the full {d}-D latent space; only the picture is projected.")
                    .format(d=d))

result = clusters(*sel.key, sel.dataset, k, method)
assign, centres = result["assignments"], result["centres"]
table = contingency(labels, assign, k=k, n_classes=len(split.class_names))

m = st.columns(4)
m[0].metric(_("Purity"), f"{purity(labels, assign):.3f}",
            help=_("share of images whose cluster's most common label is their own; 1 = every cluster pure. "
                   "It rises with k by itself (one image per cluster scores 1)."))
m[1].metric("NMI", f"{nmi(labels, assign):.3f}",
            help=_("normalised mutual information between clusters and labels: 0 = unrelated, 1 = the same partition up "
                   "to renaming. Unlike purity it penalises splitting a class into many clusters."))
m[2].metric(_("One big cluster"), f"{purity(labels, np.zeros_like(labels)):.3f}",
            help=_("purity when every image is in a single cluster: the baseline"))
m[3].metric(_("Codes clustered"), f"{len(labels):,}",
            help=_("{dataset} test images, each as its {d}-D posterior mean").format(dataset=split.name, d=d))

proj = projection(*sel.key, sel.dataset, view)
coords, rows = proj["coords"], proj["rows"]
centres_2d = place_codes(centres, proj["method"], proj["pca"])
left, right = st.columns([1.5, 1], gap="medium")
with left:
    fig = cluster_scatter(coords, assign[rows], centres=centres_2d, labels=labels[rows], class_names=split.class_names,
                          rows=rows, axis_titles=AXIS_TITLES[proj["method"]])
    st.plotly_chart(fig, key="clusters_map", config={"scrollZoom": True, "displaylogo": False})
    st.caption(_("Colour = cluster; ✕ = each cluster's centre. Hover a dot for its true label.") if centres_2d is not None
               else _("Colour = cluster; ✕ = each cluster's centre (not shown on t-SNE, which cannot place new points). "
                      "Hover a dot for its true label."))
with right:
    st.markdown("##### " + _("Which labels each cluster holds"))
    st.plotly_chart(contingency_heatmap(table, split.class_names, height=max(300, 28 * k + 80)), key="clusters_table",
                    config={"displaylogo": False})
    st.caption(_("Counts of test images; colour = share of the cluster. A pure cluster is one dark cell in its row."))

st.markdown("##### " + _("Each cluster's centre, decoded"))
images = centre_images(sel.model, centres)
captions = [_("{i}: '{label}' {share:.0%}").format(i=i, label=_(split.class_names[top[0]]), share=top[1]) if top
            else _("{i}: empty").format(i=i) for i, top in enumerate(dominant_labels(table))]
w = sel.config.input_shape[2]
show_images(images, captions=captions, width=84, scale=max(1, 84 // w))
st.caption(_("The k-means centroid of each cluster put through the decoder (`model.generate`), with the cluster's most "
             "common label and its share. A centre between two groups decodes to a blend of them.") if method == "kmeans"
           else _("The Gaussian mixture mean of each cluster put through the decoder (`model.generate`), with the "
                  "cluster's most common label and its share. A centre between two groups decodes to a blend of them."))
