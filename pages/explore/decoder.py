"""Decoder: drag through latent space and watch p(x|z) morph, decoded live in the browser."""

import hashlib

import numpy as np
import streamlit as st
import torch

import vae
from pages.ui.cache import encoded, load_model, png, showable_split
from pages.ui.widgets import remember, require_model
from pages.ui.components.live_decoder import live_decoder
from explorer.browser_decoder import decoder_spec, points_payload, supports_live_decoding
from explorer.images import mark_cell, nearest_cell
from explorer.registry import model_zip
from vae.latent import decode_images, grid_values, interpolate, manifold_codes, prior_samples
from explorer.figures import CLASS_COLOURS
from explorer.images import png_bytes, tile, to_uint8, upscale

LIVE_KEY = "dec_live"
MAX_SLIDERS = 8
IMAGE_PX = 252  # the decoded image on screen, as in the live component

st.title("Decoder: from a code z to an image")
st.markdown("The decoder is the generative half of the VAE: it turns a latent code **z** into **p(x | z)**, shown here "
            "as its mean image. Drag the sliders or the marker on the latent plane and watch the image morph; "
            "regions of the plane with no test codes decode to blends.")
sel = require_model()
remember("dec_start", "dec_label", "dec_server", "dec_dims", "dec_man_x", "dec_man_y", "dec_from", "dec_to", "dec_steps")
model, d = sel.model, sel.config.latent_dim
_, h, w = sel.config.input_shape
live_ok = supports_live_decoding(model)
conditional = sel.config.conditional


# --- cached computations (models are cached resources: pass their key, never the model) -------------

@st.cache_data(show_spinner=False, max_entries=8)
def browser_payload(path: str, mtime: float, dataset: str, with_points: bool) -> dict:
    m, _ = load_model(path, mtime)
    points = None
    if with_points:
        test = test_codes(path, mtime, dataset)
        points = points_payload(test["mu"], test["labels"]) if test else {"n": 0, "xy": "", "labels": []}
    return {"spec": decoder_spec(m), "points": points}  # a conditional spec carries every label's bias


def test_codes(path: str, mtime: float, dataset: str) -> dict | None:
    """Test-set codes and images, or None when the dataset is not on this machine."""
    try:
        split, note = showable_split(dataset)
        return {**encoded(path, mtime, dataset), "x": split.x, "class_names": split.class_names, "note": note}
    except vae.DatasetUnavailable:
        return None


@st.cache_data(show_spinner=False, max_entries=64)
def decoded_grid(path: str, mtime: float, codes: np.ndarray, nrow: int, labels: int | tuple[int, ...] | None = None) -> np.ndarray:
    m, _ = load_model(path, mtime)
    return tile(decode_images(m, torch.from_numpy(codes), labels=None if labels is None else torch.tensor(labels)), nrow=nrow)


def show(where, image: np.ndarray, **kwargs) -> None:
    """st.image as (cached) PNG: JPEG would smear the crisp, upscaled pixels."""
    where.image(png(image), **kwargs)


def decode_one(z: list[float]) -> np.ndarray:
    return to_uint8(decode_images(model, torch.tensor([z]), labels=digit)[0])


# --- session state: the current code z, a token that says "the page moved z" -------------------------

test = test_codes(*sel.key, sel.dataset)
class_names = test["class_names"] if test else [str(i) for i in range(10)]
if conditional:
    st.session_state.setdefault("dec_label", 0)
    st.segmented_control("Digit (the label y this conditional model is given)", range(sel.config.n_classes),
                         key="dec_label", required=True, format_func=lambda k: class_names[k] if k < len(class_names) else str(k))
    st.caption("The sliders set the **style** code z; the label picks the digit. Every digit below is drawn with the "
               "same z: the same slant, thickness and width.")
digit = st.session_state["dec_label"] if conditional else None
model_id = hashlib.sha1(repr(sel.key).encode()).hexdigest()[:12]


def start_code() -> list[float]:
    if st.session_state.get("dec_start") == "A test image" and test is not None:
        return [float(v) for v in test["mu"][start_index()]]
    return [0.0] * d


def start_index() -> int:
    return int(np.random.default_rng(st.session_state.get("dec_pick", 0)).integers(len(test["mu"])))


def reset() -> None:
    st.session_state["dec_z"] = start_code()
    st.session_state["dec_token"] = st.session_state.get("dec_token", 0) + 1


def pick_another() -> None:
    st.session_state["dec_pick"] = st.session_state.get("dec_pick", 0) + 1
    reset()


def on_live_z() -> None:
    report = (st.session_state.get(LIVE_KEY) or {}).get("z")
    if isinstance(report, dict) and report.get("token") == st.session_state.get("dec_token") and len(report.get("z", [])) == d:
        st.session_state["dec_z"] = [float(v) for v in report["z"]]


def forget_manifold_axes() -> None:
    for k in ("dec_man_x", "dec_man_y"):
        st.session_state.pop(k, None)


def on_dims_change() -> None:
    """Dimensions without a slider go back to the start code; the manifold's axes follow the new sliders."""
    chosen, start = set(st.session_state.get("dec_dims") or []), start_code()
    st.session_state["dec_z"] = [v if k in chosen else start[k] for k, v in enumerate(st.session_state["dec_z"])]
    st.session_state["dec_token"] += 1
    forget_manifold_axes()


if st.session_state.get("dec_model") != sel.key:
    st.session_state["dec_model"] = sel.key
    st.session_state["dec_start"] = "Origin"
    st.session_state.pop("dec_dims", None)
    forget_manifold_axes()
    reset()

# --- controls -------------------------------------------------------------------------------------------

from_test = st.session_state["dec_start"] == "A test image" and test is not None
c_start, c_pick, c_reset, c_mode = st.columns([1.4, 1.3, 0.8, 1.4], vertical_alignment="bottom")
c_start.segmented_control("Start from", ["Origin", "A test image"], key="dec_start", on_change=reset, required=True,
                          disabled=test is None, help=None if test else "The test images are not on this machine.")
c_pick.button("Another test image", icon=":material/casino:", on_click=pick_another, key="dec_pick_btn",
              disabled=not from_test)
c_reset.button("Reset", icon=":material/restart_alt:", on_click=reset, key="dec_reset", help="Back to the start code.")
if live_ok:
    server = c_mode.toggle("Server-side sliders", key="dec_server", on_change=reset,
                           help="Decode on the server with Streamlit sliders (updates on release).")
else:
    server = c_mode.toggle("Server-side sliders", value=True, disabled=True, key="dec_server_only",
                           help="This model's convolutional decoder runs on the server only.")
dims = list(range(d))
if d > MAX_SLIDERS:
    dims = st.multiselect("Dimensions with a slider (the others stay at the start code)", dims,
                          default=dims[:MAX_SLIDERS], key="dec_dims", format_func=lambda k: f"z{k}", max_selections=16,
                          on_change=on_dims_change)
dims = sorted(dims) or list(range(min(d, MAX_SLIDERS)))


# --- everything that depends on z: one fragment, so a slider release redraws only this part --------------

@st.fragment
def explorer() -> None:
    left, right = st.columns([2.6, 1], gap="medium")
    with left:
        if live_ok and not server:
            live_decoder(
                key=LIVE_KEY, model_id=model_id, payload=lambda: browser_payload(*sel.key, sel.dataset, d == 2),
                z=st.session_state["dec_z"], token=st.session_state["dec_token"], dims=dims, class_names=class_names,
                colours=CLASS_COLOURS, pad=d == 2, on_z_change=on_live_z, label=digit)
        else:
            server_sliders()
    z = st.session_state["dec_z"]
    if conditional and (server or not live_ok):  # the live component draws this row itself
        same_style_row(z)
    with right:
        st.markdown("**Current code**")
        st.code("z = [" + ", ".join(f"{v:+.2f}" for v in z) + "]", language=None, wrap_lines=True)
        image = decode_one(z)
        st.download_button("Decoded image (PNG)", lambda: png_bytes(upscale(image, max(1, IMAGE_PX // w))),
                           file_name=f"{sel.entry.name}-decoded.png", mime="image/png", on_click="ignore",
                           icon=":material/download:", key="dec_dl_image")
        if from_test:
            i = start_index()
            thumb, text = st.columns([1, 2.5], vertical_alignment="center")
            show(thumb, upscale(to_uint8(test["x"][i]), 3), width=64)
            text.caption(f"Started from the code of test image #{i} (label {class_names[int(test['labels'][i])]}).")
        if live_ok and not server:
            st.caption("Every frame is decoded in your browser from the model's weights: no round trip to the "
                       "server. The code above updates when you let go.")
    tab_manifold, tab_path, tab_prior, tab_model = st.tabs(
        ["Learned manifold", "Interpolation", "Samples from the prior", "Download the model"])
    with tab_manifold:
        manifold(z)
    with tab_path:
        interpolation()
    with tab_prior:
        prior_grid()
    with tab_model:
        st.markdown(f"**{sel.entry.name}**: the weights (`model.safetensors`, no pickled code) and `card.json` "
                    "with its configuration, training history and metrics. Load it with `vae.load_model(path)`.")
        st.download_button("Model (.zip)", lambda: model_zip(sel.entry.path), file_name=f"{sel.entry.name}.zip",
                           mime="application/zip", on_click="ignore", icon=":material/download:", key="dec_dl_model")


def same_style_row(z: list[float]) -> None:
    k = sel.config.n_classes
    row = decoded_grid(*sel.key, np.array([z] * k, dtype=np.float32), k, tuple(range(k)))
    show(st, upscale(row, 3 if h > 8 else 8), caption=f"The same style z = [{', '.join(f'{v:+.2f}' for v in z)}] "
         "given each label: the conditional model separates *what* digit from *how* it is written.")


def server_sliders() -> None:
    z = list(st.session_state["dec_z"])
    img_col, slider_col = st.columns([1, 1.2], gap="medium")
    with slider_col:
        for k in dims:
            z[k] = st.slider(f"z{k}", -3.0, 3.0, float(np.clip(z[k], -3, 3)), 0.01,
                             key=f"dec_srv_{st.session_state['dec_token']}_{k}")
    st.session_state["dec_z"] = z
    show(img_col, upscale(decode_one(z), max(1, IMAGE_PX // w)), width=IMAGE_PX,
         caption="decoded on the server (updates when you release a slider)")


def manifold(z: list[float]) -> None:
    if d == 2:
        dx, dy = 0, 1
    else:
        ca, cb, _ = st.columns([1, 1, 3])
        dx = ca.selectbox("x axis", range(d), index=dims[0], format_func=lambda k: f"z{k}", key="dec_man_x")
        dy = cb.selectbox("y axis", range(d), index=dims[1] if len(dims) > 1 else 1, format_func=lambda k: f"z{k}",
                          key="dec_man_y")
        if dx == dy:
            st.warning("Pick two different dimensions.")
            return
    n = 15 if h > 8 else 10
    codes = manifold_codes(d, n=n, dims=(dx, dy), base=torch.tensor(z)).numpy()
    scale = 2 if h > 8 else 5
    grid = upscale(decoded_grid(*sel.key, codes, n, digit), scale)
    row, col = nearest_cell(grid_values(n), (z[dx], z[dy]))
    pic, text = st.columns([1.6, 1], gap="large")
    show(pic, mark_cell(grid, row, col, cell=h, pad=2, scale=scale, inset=int(h > 8)))  # its own width: never resampled
    text.markdown(f"Each cell decodes a code on a {n} × {n} grid of standard-normal quantiles (5 % to 95 %): "
                  f"z{dx} grows left to right, z{dy} bottom to top"
                  + ("" if d == 2 else ", the other dimensions stay at the current code") + ".")
    text.markdown("The :red[**red box**] is the cell nearest to your current code.")
    text.download_button("Manifold grid (PNG)", lambda: png_bytes(grid), file_name=f"{sel.entry.name}-manifold.png",
                         mime="image/png", on_click="ignore", icon=":material/download:", key="dec_dl_manifold")


def interpolation() -> None:
    if test is None:
        st.info("The test images for this model are not on this machine, so there is nothing to interpolate between.")
        return
    n_test = len(test["mu"])
    ca, cb, cc = st.columns([1, 1, 2])
    a = ca.number_input("From test image #", 0, n_test - 1, 0, key="dec_from")
    b = cb.number_input("to test image #", 0, n_test - 1, min(1, n_test - 1), key="dec_to")
    steps = cc.slider("Steps", 3, 16, 10, key="dec_steps")
    mu = torch.from_numpy(test["mu"])
    big = 3 if h > 8 else 8
    ends, rows = st.columns([1, 5], gap="medium")
    show(ends, upscale(tile(test["x"][[a, b]], nrow=1), big),
         caption=f"#{a} ({class_names[int(test['labels'][a])]}) over #{b} ({class_names[int(test['labels'][b])]})")
    for method, label in (("lerp", "**Linear (lerp)**: the straight line between the two codes"),
                          ("slerp", "**Spherical (slerp)**: follows the sphere, keeping the norm the prior expects")):
        rows.markdown(label)
        show(rows, upscale(decoded_grid(*sel.key, interpolate(mu[a], mu[b], steps, method).numpy(), steps, digit), big))


def prior_grid() -> None:
    seed = st.session_state.setdefault("dec_prior_seed", 0)
    c_btn, c_txt = st.columns([1, 4], vertical_alignment="center")
    if c_btn.button("Reseed", icon=":material/casino:", key="dec_reseed"):
        st.session_state["dec_prior_seed"] = seed = seed + 1
    prior = "its learned mixture prior" if sel.config.prior == "mog" else "the prior z ~ N(0, I)"
    c_txt.caption(f"64 codes drawn from {prior} (seed {seed}), decoded: what the model generates from scratch"
                  + (", one column per digit." if conditional else "."))
    n, nrow = (6 * sel.config.n_classes, sel.config.n_classes) if conditional else (64, 16)  # a column per digit
    codes = prior_samples(d, n, torch.Generator().manual_seed(seed), prior=model.prior).numpy()
    labels = tuple(i % nrow for i in range(n)) if conditional else None
    show(st, upscale(decoded_grid(*sel.key, codes, nrow, labels), 2 if h > 8 else 6))


explorer()
