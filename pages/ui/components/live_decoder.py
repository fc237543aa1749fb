"""The live-decoder component: latent sliders and a 2-D pad decoded in the browser, no round trip.

A `st.components.v2` component (public API only). Its JavaScript is `decoder_math.js` (the pure
forward pass, also run by the tests under Node) followed by `live_decoder.js` (DOM, events,
drawing). The decoder's weights travel once per model and session: later runs send `spec=None`.
A browser that lacks them all the same (a run cut short before its message left) asks again with
the state value `missing`. The browser does not acknowledge the weights: an acknowledgement is a
widget change, a rerun of the Decoder's fragment, and one that arrived just after the reader had
left for another page blanked that page (Streamlit ran the stale fragment request after the new
page's run, found no fragment, and drew nothing). The browser reports z as the state value
`z` = {"z": [...], "token": t, "n": count} when a drag ends; `token` lets the page ignore
reports made before it reset z.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st

from explorer.i18n import _

HERE = Path(__file__).resolve().parent
COMPONENT_NAME = "vae_explorer_live_decoder"


def _renderer():
    # Registering again with identical content is a no-op, and Streamlit re-registers the
    # component on a fresh runtime (tests start several), so this runs on every call.
    js = (HERE / "decoder_math.js").read_text() + "\n" + (HERE / "live_decoder.js").read_text()
    return st.components.v2.component(COMPONENT_NAME, js=js, css=(HERE / "live_decoder.css").read_text())


def texts() -> dict[str, str]:
    """What the component writes on the page (headings, captions, aria-labels), in the reader's language.
    The JavaScript fills in {name} and {ms}, and falls back to its own English for a key that is absent."""
    return {
        "loading": _("Loading the decoder…"),
        "pad_heading": _("Latent plane: drag the marker"),
        "image_heading": _("Decoded image  x̂ = mean of p(x | z)"),
        "slider_heading": _("Latent code z: drag a slider"),
        "row_heading": _("The same style z, given each label y"),
        "inactive_tag": _(" · inactive"),
        "slider_aria": _("latent dimension {name}"),
        "slider_aria_inactive": _("latent dimension {name} (inactive)"),
        "caption": _("decoded in your browser · {ms} ms per frame"),
    }


def live_decoder(
    *,
    key: str,
    model_id: str,
    payload: Callable[[], dict[str, Any]],
    z: list[float],
    token: int,
    dims: list[int],
    axes: dict[str, Any],
    class_names: list[str],
    colours: list[str],
    pad: bool,
    on_z_change: Callable[[], None],
    label: int | None = None,
) -> dict[str, Any]:
    """Mount the live decoder; returns its state ({"z": ...}).

    payload() gives {"spec": browser_decoder.decoder_spec(...), "points": browser_decoder.points_payload(...)
    or None}; it is called only while the browser does not yet hold this model's weights.
    z is the code to show when `token` changes (or the model does); dims get sliders; axes
    (`explorer.decoder_axes.LatentAxes.payload()`) names every dimension (z₁, z₂, …), gives each
    slider's range and says which are inactive, and frames the pad; pad shows the latent plane of
    dimensions 0 and 1 (z₁, z₂) with the test codes, drawn in the order sent. label: a conditional model's
    digit (its spec carries every label's bias), which also shows the "same style" row.
    """
    sent = f"{key}__weights_sent"  # the model whose weights this session's browser was sent
    heavy = payload() if st.session_state.get(sent) != model_id else {"spec": None, "points": None}
    st.session_state[sent] = model_id
    data = {
        "model_id": model_id, **heavy, "z": [float(v) for v in z], "token": int(token), "dims": [int(d) for d in dims], "axes": axes,
        "class_names": list(class_names), "colours": list(colours), "pad": bool(pad), "pad_dims": [0, 1],
        "label": None if label is None else int(label), "texts": texts(),
    }
    result = _renderer()(key=key, data=data, on_z_change=on_z_change, on_missing_change=lambda: st.session_state.pop(sent, None))
    return dict(result)
