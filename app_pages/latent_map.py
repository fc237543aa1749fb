"""Latent map: where the encoder puts every test image, coloured by its label."""

import numpy as np
import streamlit as st
import torch

import vae
from app_pages.common import dataset_or_stop, encoded, projection, require_model, show_images
from vae.latent import ellipse_points
from vae.plots import latent_scatter

st.title("Latent map")
st.markdown("Each dot is one test image, placed at its code μ = the centre of q(z|x). The model was never told the "
            "labels, yet similar images land together. Click a dot to see that image.")
sel = require_model()
split, note = dataset_or_stop(sel.dataset)
enc = encoded(*sel.key, sel.dataset)
d = sel.config.latent_dim

controls = st.columns([2, 1, 1])
if d == 2:
    method = "identity"
    controls[0].caption("2-D latent: the map shows the codes themselves.")
else:
    method = controls[0].radio(
        f"Projection of the {d}-D codes", ["pca", "tsne"], horizontal=True, key="map_method",
        format_func={"pca": "PCA (instant, linear)", "tsne": "t-SNE (about 20 s, a 3,000-image subsample)"}.get)
show_ellipses = controls[1].toggle("1σ ellipses (300 images)", key="map_ellipses", disabled=d != 2,
                                   help="Each code is really a Gaussian: its ellipse spans one standard deviation.")
proj = projection(*sel.key, sel.dataset, method)
coords, rows = proj["coords"], proj["rows"]

highlights = {}
user_codes = st.session_state.get("user_codes", {}).get(str(sel.entry.path), {})
if user_codes and method in ("identity", "pca"):
    pts = np.array(list(user_codes.values()))
    pts2 = pts[:, :2] if method == "identity" else proj["pca"].transform(pts)
    highlights = dict(zip(user_codes, pts2))
elif user_codes:
    controls[2].caption("Your digits are shown on PCA maps (t-SNE cannot place new points).")
else:
    controls[2].caption("Upload or draw digits on the Reconstructions page to see them here as ★.")

ellipses = None
if show_ellipses and d == 2:
    pick = np.random.default_rng(0).choice(len(rows), size=min(300, len(rows)), replace=False)
    ellipses = ellipse_points(enc["mu"][rows[pick]], np.exp(0.5 * enc["logvar"][rows[pick]]))

axis = {"identity": ("z₁", "z₂"), "pca": ("PC 1", "PC 2"), "tsne": ("t-SNE 1", "t-SNE 2")}[proj["method"]]
fig = latent_scatter(coords, enc["labels"][rows], split.class_names, rows=rows, highlights=highlights, ellipses=ellipses,
                     axis_titles=axis)
left, right = st.columns([2.2, 1], gap="medium")
with left:
    event = st.plotly_chart(fig, on_select="rerun", selection_mode="points", key="latent_scatter",
                            config={"scrollZoom": True, "displaylogo": False})
    st.caption(f"{len(rows):,} {split.name} test images" + (" (t-SNE subsample)" if proj["method"] == "tsne" else "")
               + ". Scroll to zoom, drag to pan, double-click to reset.")

with right:
    points = [p for p in (event.selection.points if event else []) if "customdata" in p]
    if not points:
        st.info("Click a dot to see its image, its reconstruction and its code.")
    else:
        row = int(points[-1]["customdata"] if np.isscalar(points[-1]["customdata"]) else points[-1]["customdata"][0])
        x = split.x[row : row + 1]
        r = vae.latent.reconstruct(sel.model, x)
        st.markdown(f"**Test image #{row}** · label **{split.class_names[int(split.y[row])]}**")
        show_images(torch.cat([x, r.x_hat]), captions=["input", "reconstruction"], width=140, scale=5)
        mu = ", ".join(f"{v:+.2f}" for v in r.mu[0].tolist()[:8])
        sd = ", ".join(f"{v:.2f}" for v in r.std[0].tolist()[:8])
        st.markdown(f"μ = ({mu}{' …' if d > 8 else ''})  \nσ = ({sd}{' …' if d > 8 else ''})  \n−ELBO {r.neg_elbo.item():.1f} nats")
