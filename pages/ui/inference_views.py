"""Caches and layout helpers of the "Inference for one image" page (the maths is in explorer.inference)."""

from __future__ import annotations

import hashlib

import numpy as np
import streamlit as st
import torch

import vae
from explorer import inference, registry, uploads
from explorer.inference_figures import gap_bars

from .cache import load_model, showable_split
from .widgets import Selected, drawn_digit_ui, show_images

SOURCES = ("a test image", "your own image", "a drawing")


def _x(x: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(x, dtype=torch.float32)


@st.cache_data(show_spinner=False, max_entries=256)
def encoder_view(path: str, mtime: float, x: np.ndarray, label: int | None) -> inference.Amortised:
    model, _ = load_model(path, mtime)
    return inference.amortised(model, _x(x), label)


@st.cache_data(show_spinner="Optimising a Gaussian for this one image…", max_entries=64)
def run_view(path: str, mtime: float, x: np.ndarray, label: int | None, start: str) -> inference.Run:
    model, _ = load_model(path, mtime)
    return inference.optimise(model, _x(x), label, start=start)


@st.cache_data(show_spinner="Integrating the true posterior on a grid…", max_entries=64)
def grid_view(path: str, mtime: float, x: np.ndarray, label: int | None) -> inference.GridPosterior:
    model, _ = load_model(path, mtime)
    return inference.grid_posterior(model, _x(x), None if label is None else torch.tensor([label]))


@st.cache_data(show_spinner="Measuring this image's gaps (a fit from the encoder's guess, and log p(x))…", max_entries=64)
def gaps_view(path: str, mtime: float, x: np.ndarray, label: int | None) -> inference.InferenceGaps:
    model, _ = load_model(path, mtime)
    return inference.image_gaps(model, _x(x), label)


@st.cache_data(show_spinner=False, max_entries=64)
def model_gap_row(path: str, mtime: float, name: str, dataset: str, n: int) -> inference.GapRow:
    model, _ = load_model(path, mtime)
    split, _ = showable_split(dataset)
    return inference.gap_row(name, model.config.latent_dim, inference.subset_gaps(model, split.x, split.y, n))


@st.cache_data(show_spinner="Reading your image…", max_entries=64)
def read_upload(data: bytes, size: int) -> uploads.Upload:
    return uploads.read_upload(data, size)


def image_ui(sel: Selected, split) -> tuple[np.ndarray, int | None, str]:
    """The chosen image (1, C, H, W) as an array, its label (conditional models only) and a key naming it."""
    source = st.radio("Image", SOURCES, horizontal=True, key="inf_source", label_visibility="collapsed")
    conditional = sel.config.conditional
    if source == SOURCES[0]:
        row = int(st.number_input(f"Test image (0 … {len(split) - 1})", 0, len(split) - 1, key="inf_row"))

        def another() -> None:
            st.session_state["inf_row"] = int(np.random.default_rng().integers(len(split)))

        st.button("Another", icon=":material/shuffle:", key="inf_another", on_click=another)
        label = int(split.y[row])
        show_images(split.x[row : row + 1], [f"#{row} · {split.class_names[label]}"], width=112, scale=4)
        return split.x[row : row + 1].numpy(), label if conditional else None, f"{split.name}#{row}"
    h = sel.config.input_shape[1]
    if source == SOURCES[1]:
        f = st.file_uploader("Your image", type=uploads.UPLOAD_TYPES, key="inf_upload")
        if f is None:
            st.info("Upload a photo or scan of a digit (dark ink on light paper), or switch to a test image.")
            st.stop()
        upload = read_upload(f.getvalue(), h)
        if upload.problem:
            st.error(f"**{f.name}**: {upload.problem}", icon=":material/error:")
            st.stop()
        x, name, key = upload.x, f"{f.name} as the model sees it", "upload:" + hashlib.sha1(f.getvalue()).hexdigest()[:12]
    else:
        if (drawn := drawn_digit_ui("inf_canvas", 196, h)) is None:
            st.stop()
        x, pixels = drawn
        name, key = "your drawing as the model sees it", "drawing:" + hashlib.sha1(pixels.tobytes()).hexdigest()[:12]
    label = st.selectbox("Its label (this conditional model is told it)", range(sel.config.n_classes),
                         key="inf_label") if conditional else None
    show_images(x[None], [name], width=112, scale=4)
    return x[None].numpy(), label, key


def gap_metrics_ui(gaps: inference.InferenceGaps) -> None:
    """This image's numbers: log p(x), the two ELBOs and the two gaps between them."""
    cols = st.columns(3)
    method = "grid integration" if gaps.method == "grid" else gaps.method.replace("iwae", "IWAE")
    cols[0].metric("log p(x)", f"{gaps.log_px[0]:.2f}", help=f"nats, by {method}")
    cols[1].metric("ELBO, best Gaussian q*", f"{gaps.elbo_optimised[0]:.2f}", help="fitted from the encoder's guess")
    cols[2].metric("ELBO, encoder", f"{gaps.elbo_encoder[0]:.2f}")
    cols[0].metric("Approximation gap", f"{gaps.approximation_gap[0]:.2f}", help="log p(x) − ELBO(q*), nats")
    cols[1].metric("Amortisation gap", f"{gaps.amortisation_gap[0]:.2f}", help="ELBO(q*) − ELBO(encoder), nats")
    cols[2].metric("Total gap", f"{gaps.total_gap[0]:.2f}", help="log p(x) − ELBO(encoder), nats")


def subset_gaps_ui(n: int) -> list[inference.GapRow]:
    """Every shipped model's mean gaps over the first n test images of its dataset, with a progress bar."""
    shipped = [e for e in registry.list_entries() if e.shipped and e.card is not None]
    entries = [e for e in shipped if e.card.config.variational]
    # a plain autoencoder has no q(z|x) to optimise and no ELBO: its "gaps" would mean nothing
    missing = [f"{e.name} (a plain autoencoder: no ELBO)" for e in shipped if not e.card.config.variational]
    bar = st.progress(0.0, text="Measuring…")
    rows = []
    for i, e in enumerate(entries):
        bar.progress(i / len(entries), text=f"{e.name} ({i + 1} of {len(entries)})…")
        try:
            rows.append(model_gap_row(str(e.path), registry.weights_mtime(e.path), e.name, e.card.dataset, n))
        except vae.DatasetUnavailable:  # its test images are not on this machine: leave it out, say so
            missing.append(f"{e.name} ({e.card.dataset} is not on this machine)")
    bar.empty()
    if missing:
        st.caption("Not measured: " + "; ".join(missing))
    return rows


def gap_table_ui(rows: list[inference.GapRow]) -> None:
    table = {"model": [r.model for r in rows], "z": [r.latent_dim for r in rows],
             "log p(x)": [r.log_px for r in rows], "ELBO best q": [r.elbo_optimised for r in rows],
             "ELBO encoder": [r.elbo_encoder for r in rows], "approximation": [r.approximation_gap for r in rows],
             "amortisation": [r.amortisation_gap for r in rows],
             "amortisation share": [r.amortisation_share for r in rows], "log p(x) by": [r.method for r in rows]}
    st.dataframe(table, hide_index=True, width="stretch", column_config={
        k: st.column_config.NumberColumn(format="%.2f") for k in list(table)[2:7]} | {
        "amortisation share": st.column_config.NumberColumn(format="percent")})
    st.plotly_chart(gap_bars(rows), key="inf_gap_bars", config={"displaylogo": False})
    st.markdown(inference.gaps_reading(rows))
