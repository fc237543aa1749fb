"""Caches and layout helpers of the "Inference for one image" page (the maths is in explorer.inference)."""

from __future__ import annotations

import hashlib

import numpy as np
import streamlit as st
import torch

import vae
from explorer import i18n, inference, registry, uploads
from explorer.i18n import N_, _
from explorer.inference_figures import gap_bars

from .cache import load_model, showable_split
from .widgets import Selected, drawn_digit_ui, show_images

SOURCES = (N_("a test image"), N_("your own image"), N_("a drawing"))  # values kept in English (state, links)


def _x(x: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(x, dtype=torch.float32)


@st.cache_data(show_spinner=False, max_entries=256)
def encoder_view(path: str, mtime: float, x: np.ndarray, label: int | None) -> inference.Amortised:
    model, _unused = load_model(path, mtime)
    return inference.amortised(model, _x(x), label)


# The spinners' text is said in the reader's language around each call: a cache's show_spinner text is fixed when
# the module is imported. st.spinner waits half a second before it shows, so a cache hit shows none, as before.
@st.cache_data(show_spinner=False, max_entries=64)
def _run_view(path: str, mtime: float, x: np.ndarray, label: int | None, start: str) -> inference.Run:
    model, _unused = load_model(path, mtime)
    return inference.optimise(model, _x(x), label, start=start)


def run_view(path: str, mtime: float, x: np.ndarray, label: int | None, start: str) -> inference.Run:
    with st.spinner(_("Optimising a Gaussian for this one image…")):
        return _run_view(path, mtime, x, label, start)


@st.cache_data(show_spinner=False, max_entries=64)
def _grid_view(path: str, mtime: float, x: np.ndarray, label: int | None) -> inference.GridPosterior:
    model, _unused = load_model(path, mtime)
    return inference.grid_posterior(model, _x(x), None if label is None else torch.tensor([label]))


def grid_view(path: str, mtime: float, x: np.ndarray, label: int | None) -> inference.GridPosterior:
    with st.spinner(_("Integrating the true posterior on a grid…")):
        return _grid_view(path, mtime, x, label)


@st.cache_data(show_spinner=False, max_entries=64)
def _gaps_view(path: str, mtime: float, x: np.ndarray, label: int | None) -> inference.InferenceGaps:
    model, _unused = load_model(path, mtime)
    return inference.image_gaps(model, _x(x), label)


def gaps_view(path: str, mtime: float, x: np.ndarray, label: int | None) -> inference.InferenceGaps:
    with st.spinner(_("Measuring this image's gaps (a fit from the encoder's guess, and log p(x))…")):
        return _gaps_view(path, mtime, x, label)


@st.cache_data(show_spinner=False, max_entries=64)
def model_gap_row(path: str, mtime: float, name: str, dataset: str, n: int) -> inference.GapRow:
    model, _unused = load_model(path, mtime)
    split, _note = showable_split(dataset)
    return inference.gap_row(name, model.config.latent_dim, inference.subset_gaps(model, split.x, split.y, n))


@st.cache_data(show_spinner=False, max_entries=64)
def _read_upload(data: bytes, size: int, lang: str) -> uploads.Upload:
    return uploads.read_upload(data, size)  # `lang`: the problem, if any, is a sentence in the reader's language


def read_upload(data: bytes, size: int) -> uploads.Upload:
    with st.spinner(_("Reading your image…")):
        return _read_upload(data, size, i18n.language())


def image_ui(sel: Selected, split) -> tuple[np.ndarray, int | None, str]:
    """The chosen image (1, C, H, W) as an array, its label (conditional models only) and a key naming it."""
    source = st.radio(_("Image"), SOURCES, horizontal=True, key="inf_source", label_visibility="collapsed",
                      format_func=_)
    conditional = sel.config.conditional
    if source == SOURCES[0]:
        row = int(st.number_input(_("Test image (0 … {last})").format(last=len(split) - 1), 0, len(split) - 1,
                                  key="inf_row"))

        def another() -> None:
            st.session_state["inf_row"] = int(np.random.default_rng().integers(len(split)))

        st.button(_("Another"), icon=":material/shuffle:", key="inf_another", on_click=another)
        label = int(split.y[row])
        show_images(split.x[row : row + 1], [f"#{row} · {_(split.class_names[label])}"], width=112, scale=4)
        return split.x[row : row + 1].numpy(), label if conditional else None, f"{split.name}#{row}"
    h = sel.config.input_shape[1]
    if source == SOURCES[1]:
        f = st.file_uploader(_("Your image"), type=uploads.UPLOAD_TYPES, key="inf_upload")
        if f is None:
            st.info(_("Upload a photo or scan of a digit (dark ink on light paper), or switch to a test image."))
            st.stop()
        upload = read_upload(f.getvalue(), h)
        if upload.problem:
            st.error(f"**{f.name}**: {upload.problem}", icon=":material/error:")
            st.stop()
        x, name = upload.x, _("{file} as the model sees it").format(file=f.name)
        key = "upload:" + hashlib.sha1(f.getvalue()).hexdigest()[:12]
    else:
        if (drawn := drawn_digit_ui("inf_canvas", 196, h)) is None:
            st.stop()
        x, pixels = drawn
        name, key = _("your drawing as the model sees it"), "drawing:" + hashlib.sha1(pixels.tobytes()).hexdigest()[:12]
    label = st.selectbox(_("Its label (this conditional model is told it)"), range(sel.config.n_classes),
                         key="inf_label") if conditional else None
    show_images(x[None], [name], width=112, scale=4)
    return x[None].numpy(), label, key


def gap_metrics_ui(gaps: inference.InferenceGaps) -> None:
    """This image's numbers: log p(x), the two ELBOs and the two gaps between them."""
    cols = st.columns(3)
    method = _("grid integration") if gaps.method == "grid" else gaps.method.replace("iwae", "IWAE")
    cols[0].metric("log p(x)", f"{gaps.log_px[0]:.2f}", help=_("nats, by {method}").format(method=method))
    cols[1].metric(_("ELBO, best Gaussian q*"), f"{gaps.elbo_optimised[0]:.2f}",
                   help=_("fitted from the encoder's guess"))
    cols[2].metric(_("ELBO, encoder"), f"{gaps.elbo_encoder[0]:.2f}")
    cols[0].metric(_("Approximation gap"), f"{gaps.approximation_gap[0]:.2f}", help=_("log p(x) − ELBO(q*), nats"))
    cols[1].metric(_("Amortisation gap"), f"{gaps.amortisation_gap[0]:.2f}", help=_("ELBO(q*) − ELBO(encoder), nats"))
    cols[2].metric(_("Total gap"), f"{gaps.total_gap[0]:.2f}", help=_("log p(x) − ELBO(encoder), nats"))


def subset_gaps_ui(n: int) -> list[inference.GapRow]:
    """Every shipped model's mean gaps over the first n test images of its dataset, with a progress bar."""
    shipped = [e for e in registry.list_entries() if e.shipped and e.card is not None]
    entries = [e for e in shipped if e.card.config.variational]
    # a plain autoencoder has no q(z|x) to optimise and no ELBO: its "gaps" would mean nothing
    missing = [_("{model} (a plain autoencoder: no ELBO)").format(model=e.name)
               for e in shipped if not e.card.config.variational]
    bar = st.progress(0.0, text=_("Measuring…"))
    rows = []
    for i, e in enumerate(entries):
        bar.progress(i / len(entries), text=_("{model} ({i} of {n})…").format(model=e.name, i=i + 1, n=len(entries)))
        try:
            rows.append(model_gap_row(str(e.path), registry.weights_mtime(e.path), e.name, e.card.dataset, n))
        except vae.DatasetUnavailable:  # its test images are not on this machine: leave it out, say so
            missing.append(_("{model} ({dataset} is not on this machine)").format(model=e.name, dataset=e.card.dataset))
    bar.empty()
    if missing:
        st.caption(_("Not measured: {models}").format(models=_("; ").join(missing)))
    return rows


def gap_table_ui(rows: list[inference.GapRow]) -> None:
    share = _("amortisation share")
    table = {_("model"): [r.model for r in rows], "z": [r.latent_dim for r in rows],
             "log p(x)": [r.log_px for r in rows], _("ELBO best q"): [r.elbo_optimised for r in rows],
             _("ELBO encoder"): [r.elbo_encoder for r in rows], _("approximation"): [r.approximation_gap for r in rows],
             _("amortisation"): [r.amortisation_gap for r in rows],
             share: [r.amortisation_share for r in rows],
             _("log p(x) by"): [_("grid") if r.method == "grid" else r.method for r in rows]}
    st.dataframe(table, hide_index=True, width="stretch", column_config={
        k: st.column_config.NumberColumn(format="%.2f") for k in list(table)[2:7]} | {
        share: st.column_config.NumberColumn(format="percent")})
    st.plotly_chart(gap_bars(rows), key="inf_gap_bars", config={"displaylogo": False})
    st.markdown(inference.gaps_reading(rows))
