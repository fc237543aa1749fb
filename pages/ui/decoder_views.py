"""The Decoder page's Streamlit pieces: cached decoding of code grids, and the tabs under the explorer.

Layout only: the codes and captions come from `explorer.decoder_grids`, the sliders' names, ranges
and inactive dimensions from `explorer.decoder_axes`. Models are cached resources, so the caches
here take a model's key (path, modification time), never the model.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import streamlit as st
import torch

import vae
from explorer import links
from explorer.browser_decoder import decoder_spec, points_payload
from explorer.decoder_axes import LatentAxes, dim_name
from explorer.decoder_grids import interpolations, manifold, prior_grid, traversal
from explorer.decoder_state import TEST_IMAGE, StartCodes, reset
from explorer.i18n import _
from explorer.images import png_bytes, tile, upscale
from explorer.registry import model_zip
from vae.latent import decode_images

from .cache import encoded, load_model, showable_split
from .links import BIND, from_link, publish
from .widgets import Selected, show

PICK = "pick"  # the link's parameter: which test image the code started from (a press count of "Another")
DRAW_SEED = 0  # the order the pad draws the test codes in: every class spread from first to last


def test_codes(path: str, mtime: float, dataset: str) -> dict[str, Any] | None:
    """Test-set codes and images, or None when the dataset is not on this machine."""
    try:
        split, note = showable_split(dataset)
        return {**encoded(path, mtime, dataset), "x": split.x, "class_names": split.class_names, "note": note}
    except vae.DatasetUnavailable:
        return None


@st.cache_data(show_spinner=False, max_entries=8)
def browser_payload(path: str, mtime: float, dataset: str, with_points: bool) -> dict[str, Any]:
    """What the live decoder needs once per model: the decoder spec, and the test codes for its pad."""
    m, _card = load_model(path, mtime)
    points = None
    if with_points:
        test = test_codes(path, mtime, dataset)
        points = (points_payload(test["mu"], test["labels"], seed=DRAW_SEED) if test
                  else {"n": 0, "xy": "", "labels": []})
    return {"spec": decoder_spec(m), "points": points}  # a conditional spec carries every label's bias


@st.cache_data(show_spinner=False, max_entries=64)
def decoded_grid(path: str, mtime: float, codes: np.ndarray, nrow: int,
                 labels: int | tuple[int, ...] | None = None) -> np.ndarray:
    """Codes (N, D) decoded and tiled `nrow` to a row (uint8)."""
    m, _card = load_model(path, mtime)
    return tile(decode_images(m, torch.from_numpy(codes), labels=None if labels is None else torch.tensor(labels)),
                nrow=nrow)


def row_scale(sel: Selected) -> int:
    """How much to enlarge a row of images: 3 for 28x28, 8 for 8x8."""
    return 3 if sel.config.input_shape[1] > 8 else 8


def label_ui(sel: Selected, class_names: list[str]) -> int | None:
    """A conditional model's label picker; returns the label, or None for a plain VAE."""
    if not sel.config.conditional:
        return None
    label = st.segmented_control(_("Digit (the label y this conditional model is given)"), range(sel.config.n_classes),
                                 key="dec_label", required=True, default=0, bind=BIND,
                                 format_func=lambda k: _(class_names[k]) if k < len(class_names) else str(k))
    st.caption(_("The sliders set the **style** code z; the label picks the digit. Every digit below is drawn with "
                 "the same z: the same slant, thickness and width."))
    return int(label)


def open_link(state, start: StartCodes, axes: LatentAxes) -> None:
    """On the page's first run in a session, the view a link (or a reload) names: the start image and the code z."""
    pick = links.parse_index(from_link(PICK), 10**9)
    if pick is not None and start.test_mu is not None:
        state["dec_start"], state["dec_pick"] = TEST_IMAGE, pick
        reset(state, start)
    z = links.parse_code(from_link(links.CODE), start.latent_dim, axes.reach)
    if z is not None:
        state["dec_z"] = z
        state["dec_token"] = state.get("dec_token", 0) + 1  # the browser jumps to it


def publish_view(state, start: StartCodes) -> None:
    """The view in the URL: the code z and, when it started from a test image, which one.

    Only what differs from where the page starts: every change of the address is a step in the browser's
    history, so writing the untouched start code made Back from the Decoder land on the Decoder again.
    """
    publish(PICK, str(state.get("dec_pick", 0)) if start.from_test(state) else None)
    z = links.format_code(state["dec_z"])
    publish(links.CODE, None if z == links.format_code(start.code(state)) else z)


def latent_axes(sel: Selected, test: dict[str, Any] | None) -> LatentAxes:
    """The sliders' names, ranges (from the test codes) and inactive dimensions (from the card's KL per dimension)."""
    d, metrics = sel.config.latent_dim, sel.card.metrics
    return LatentAxes.of(d, None if test is None else test["mu"], metrics.kl_per_dim if metrics else (),
                         sel.config.variational, pad_dims=(0, 1) if d == 2 else None)


def manifold_tab(sel: Selected, z: list[float], dims: list[int], digit: int | None, axes: LatentAxes) -> None:
    d, h = sel.config.latent_dim, sel.config.input_shape[1]
    if d == 1:
        st.info(_("A one-dimensional latent space has no plane to map: every code lies on the line of the {name} "
                  "slider.").format(name=dim_name(0)))
        return
    if d == 2:
        dx, dy = 0, 1
    else:
        ca, cb, _rest = st.columns([1, 1, 3])
        dx = ca.selectbox(_("x axis"), range(d), index=dims[0], format_func=axes.label, key="dec_man_x")
        dy = cb.selectbox(_("y axis"), range(d), index=dims[1] if len(dims) > 1 else 1, format_func=axes.label,
                          key="dec_man_y")
        if dx == dy:
            st.warning(_("Pick two different dimensions."))
            return
    m = manifold(z, (dx, dy), h)
    grid = upscale(decoded_grid(*sel.key, m.codes, m.n, digit), m.scale)
    pic, text = st.columns([1.6, 1], gap="large")
    show(pic, m.mark(grid))  # its own width: never resampled
    text.markdown(m.text())
    if m.cell is not None:
        text.markdown(m.box_text())
    else:  # z is off the grid: a box on the nearest (corner) cell would point at the wrong images
        text.caption(m.box_text())
    text.download_button(_("Manifold grid (PNG)"), lambda: png_bytes(grid), file_name=f"{sel.entry.name}-manifold.png",
                         mime="image/png", on_click="ignore", icon=":material/download:", key="dec_dl_manifold")


def interpolation_tab(sel: Selected, test: dict[str, Any] | None, class_names: list[str], digit: int | None) -> None:
    if test is None:
        st.info(_("The test images for this model are not on this machine, so there is nothing to interpolate "
                  "between."))
        return
    n_test = len(test["mu"])
    ca, cb, cc = st.columns([1, 1, 2])
    a = ca.number_input(_("From test image #"), 0, n_test - 1, 0, key="dec_from")
    b = cb.number_input(_("to test image #"), 0, n_test - 1, min(1, n_test - 1), key="dec_to")
    steps = cc.slider(_("Steps"), 3, 16, 10, key="dec_steps")
    big = row_scale(sel)
    ends, rows = st.columns([1, 5], gap="medium")
    show(ends, upscale(tile(test["x"][[a, b]], nrow=1), big),
         caption=_("#{a} ({label_a}) over #{b} ({label_b})").format(
             a=a, b=b, label_a=_(class_names[int(test["labels"][a])]), label_b=_(class_names[int(test["labels"][b])])))
    for label, codes in interpolations(test["mu"][a], test["mu"][b], steps):
        rows.markdown(_(label))
        show(rows, upscale(decoded_grid(*sel.key, codes, steps, digit), big))


def prior_tab(sel: Selected) -> None:
    seed = st.session_state.setdefault("dec_prior_seed", 0)
    c_btn, c_txt = st.columns([1, 4], vertical_alignment="center")
    if c_btn.button(_("Reseed"), icon=":material/casino:", key="dec_reseed"):
        st.session_state["dec_prior_seed"] = seed = seed + 1
    cfg = sel.config
    grid = prior_grid(cfg.latent_dim, seed, sel.model.prior, cfg.n_classes, mixture=cfg.prior == "mog")
    c_txt.caption(grid.caption + ("" if cfg.variational else _(
        " This plain autoencoder was never trained to put its codes where N(0, I) draws land: see the Latent map "
        "page's tab \"What the KL buys\".")))
    show(st, upscale(decoded_grid(*sel.key, grid.codes, grid.nrow, grid.labels), 2 if cfg.input_shape[1] > 8 else 6))


def traversal_tab(sel: Selected, z: list[float], axes: LatentAxes, digit: int | None) -> None:
    """Every dimension swept on its own from the current code, one row each, the most used on top."""
    kl = sel.card.metrics.kl_per_dim if sel.card.metrics is not None else ()
    t = traversal(z, axes.reach, kl, steps=9)
    labels = None if digit is None else (digit,) * len(t.codes)
    grid = decoded_grid(*sel.key, t.codes, 9, labels)
    names = [axes.label(k) + ("" if t.kl[i] is None else f" (KL {t.kl[i]:.2f})") for i, k in enumerate(t.dims)]
    left, right = st.columns([3, 1.2], gap="medium")
    show(left, upscale(grid, 2), width="stretch")
    right.markdown(_("Rows, top to bottom:") + "  \n" + "  \n".join(names))
    right.caption(_("Each row sweeps one dimension from −reach to +reach with the others held at the current code; "
                    "the rows are ordered by how many nats the dimension carries (its KL to the prior, from the model "
                    "card), so the active dimensions come first and the collapsed ones, which change nothing, last."))


def model_tab(sel: Selected) -> None:
    st.markdown(_("**{name}**: the weights (`model.safetensors`, no pickled code) and `card.json` with its "
                  "configuration, training history and metrics. Load it with `vae.load_model(path)`.")
                .format(name=sel.entry.name))
    st.download_button(_("Model (.zip)"), lambda: model_zip(sel.entry.path), file_name=f"{sel.entry.name}.zip",
                       mime="application/zip", on_click="ignore", icon=":material/download:", key="dec_dl_model")
