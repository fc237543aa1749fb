"""Decoder: drag through latent space and watch p(x|z) morph, decoded live in the browser.

The code z and the token that tells the browser the page moved it: `explorer.decoder_state`.
The sliders' names (z₁, z₂, …), ranges and inactive dimensions: `explorer.decoder_axes`.
The grids' codes and captions: `explorer.decoder_grids`.
"""

from functools import partial

import numpy as np
import streamlit as st
import torch

from pages.ui.components.live_decoder import live_decoder
from pages.ui.decoder_views import (browser_payload, decoded_grid, interpolation_tab, label_ui, latent_axes,
                                    manifold_tab, model_tab, open_link, prior_tab, publish_view, row_scale,
                                    test_codes, traversal_tab)
from pages.ui.links import BIND, link_ui
from pages.ui.widgets import remember, require_model, show
from explorer.browser_decoder import supports_live_decoding
from explorer.decoder_grids import code_text, same_style, same_style_caption
from explorer.decoder_state import (LIVE_KEY, MAX_SLIDERS, START_OPTIONS, StartCodes, accept_report, change_dims,
                                    follow_model, live_model_id, pick_another, reset, slider_dims, slider_key)
from explorer.figures import CLASS_COLOURS
from explorer.registry import class_labels
from explorer.i18n import _
from explorer.images import png_bytes, to_uint8, upscale
from vae.latent import decode_images

IMAGE_PX = 252  # the decoded image on screen, as in the live component

st.title(_("Decoder: from a code z to an image"))
st.markdown(_("The decoder is the generative half of the VAE: it turns a latent code **z** into **p(x | z)**, shown "
              "here as its mean image. Drag the sliders or the marker on the latent plane and watch the image morph; "
              "regions of the plane with no test codes decode to blends."))
sel = require_model()
remember("dec_start", "dec_label", "dec_server", "dec_dims", "dec_man_x", "dec_man_y", "dec_from", "dec_to", "dec_steps")
model, d = sel.model, sel.config.latent_dim
_channels, h, w = sel.config.input_shape
live_ok = supports_live_decoding(model)
conditional = sel.config.conditional
state = st.session_state


def decode_one(z: list[float]) -> np.ndarray:
    return to_uint8(decode_images(model, torch.tensor([z]), labels=digit)[0])


# --- session state: the current code z, a token that says "the page moved z" -------------------------

test = test_codes(*sel.key, sel.dataset)
class_names = test["class_names"] if test else [str(i) for i in range(10)]
digit = label_ui(sel, class_names)  # None unless the model is conditional
start = StartCodes(d, None if test is None else test["mu"])
axes = latent_axes(sel, test)
follow_model(state, sel.key, start)  # a new model starts at the origin
open_link(state, start, axes)  # ... or where a link (or a reload) says

# --- the controls and everything that depends on z: one fragment, so a release redraws only this part ---

@st.fragment
def explorer() -> None:
    # The controls live in the fragment too: what they change (z, the start image) redraws with them in one
    # run. Outside it, a click answered by a fragment run left them stale (a disabled "Another test image"
    # beside a test image's code).
    from_test, z_args = start.from_test(state), (state, start)  # the arguments of every callback that moves z
    # as wide as their labels, wrapping when the window is narrow: in fixed columns they were cut at 1024 pixels
    controls = st.container(horizontal=True, wrap=True, vertical_alignment="bottom", gap="medium")
    c_start = c_pick = c_reset = c_mode = controls
    # the options are the values kept in session state (English); shown translated
    c_start.segmented_control(_("Start from"), START_OPTIONS, key="dec_start", on_change=reset, args=z_args,
                              required=True, format_func=_, disabled=test is None,
                              help=None if test else _("The test images are not on this machine."))
    c_pick.button(_("Another test image"), icon=":material/casino:", on_click=pick_another, args=z_args,
                  key="dec_pick_btn", disabled=not from_test)
    c_reset.button(_("Reset"), icon=":material/restart_alt:", on_click=reset, args=z_args, key="dec_reset",
                   help=_("Back to the start code."))
    if live_ok:
        server = c_mode.toggle(_("Server-side sliders"), key="dec_server", on_change=reset, args=z_args, bind=BIND,
                               help=_("Decode on the server with Streamlit sliders (updates on release)."))
    else:
        server = c_mode.toggle(_("Server-side sliders"), value=True, disabled=True, key="dec_server_only",
                               help=_("This model's decoder has layers the browser cannot run: it is decoded on the "
                                      "server only."))
    chosen = None
    if d > MAX_SLIDERS:
        chosen = st.multiselect(_("Dimensions with a slider (the others stay at the start code)"), list(range(d)),
                                default=list(range(MAX_SLIDERS)), key="dec_dims", format_func=axes.label,
                                max_selections=16, on_change=change_dims, args=z_args)
    dims = slider_dims(d, chosen)
    left, right = st.columns([2.6, 1], gap="medium")
    with left:
        if live_ok and not server:
            live_decoder(
                key=LIVE_KEY, model_id=live_model_id(sel.key), payload=lambda: browser_payload(*sel.key, sel.dataset, d == 2),
                z=state["dec_z"], token=state["dec_token"], dims=dims, axes=axes.payload(), class_names=class_labels(class_names),
                colours=CLASS_COLOURS, pad=d == 2, on_z_change=partial(accept_report, state, start), label=digit)
        else:
            server_sliders(dims)
    z = state["dec_z"]
    if conditional and (server or not live_ok):  # the live component draws this row itself
        codes, labels = same_style(z, sel.config.n_classes)
        show(st, upscale(decoded_grid(*sel.key, codes, len(labels), labels), row_scale(sel)), caption=same_style_caption(z))
    with right:
        st.markdown(_("**Current code**"))
        st.code(code_text(z), language=None, wrap_lines=True)
        image = decode_one(z)
        st.download_button(_("Image (PNG)"), lambda: png_bytes(upscale(image, max(1, IMAGE_PX // w))),
                           file_name=f"{sel.entry.name}-decoded.png", mime="image/png", on_click="ignore",
                           icon=":material/download:", key="dec_dl_image")
        if from_test:
            i = start.index(state)
            thumb, text = st.columns([1, 2.5], vertical_alignment="center")
            show(thumb, upscale(to_uint8(test["x"][i]), 3), width=64)
            text.caption(_("Started from the code of test image #{i} (label {label}).")
                         .format(i=i, label=_(class_names[int(test["labels"][i])])))
        st.caption(axes.reach_text())
        if live_ok and not server:
            st.caption(_("Every frame is decoded in your browser from the model's weights: no round trip to the "
                         "server. The code above updates when you let go."))
        publish_view(state, start)
        link_ui("dec_link")
    # no key: the tabs' labels are neither kept in session state nor in the URL, so they are translated as they are
    names = [_("Learned manifold"), _("Interpolation"), _("Samples from the prior"), _("Download the model")]
    tabs = st.tabs(names[:1] + ([_("Every dimension")] if d > 2 else []) + names[1:])
    tab_manifold, tab_path, tab_prior, tab_model = tabs[:1] + tabs[-3:]
    if d > 2:
        with tabs[1]:
            traversal_tab(sel, z, axes, digit)
    with tab_manifold:
        manifold_tab(sel, z, dims, digit, axes)
    with tab_path:
        interpolation_tab(sel, test, class_names, digit)
    with tab_prior:
        prior_tab(sel)
    with tab_model:
        model_tab(sel)


def server_sliders(dims: list[int]) -> None:
    z = list(state["dec_z"])
    img_col, slider_col = st.columns([1, 1.2], gap="medium")
    with slider_col:
        for k in dims:
            z[k] = st.slider(axes.label(k), -axes.reach[k], axes.reach[k], axes.clip(k, z[k]), 0.01,
                             key=slider_key(state, k), help=axes.help(k))
    state["dec_z"] = z
    show(img_col, upscale(decode_one(z), max(1, IMAGE_PX // w)), width=IMAGE_PX,
         caption=_("decoded on the server (updates when you release a slider)"))


explorer()
