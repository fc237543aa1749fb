"""Widgets shared by the pages: the sidebar model picker, sticky widget state, rows of images."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st
import torch

import vae
from explorer import links, registry, uploads
from explorer.i18n import _
from explorer.images import to_uint8, upscale

from .cache import load_model, png, showable_split


@dataclass
class Selected:
    """The model chosen in the sidebar, loaded."""

    entry: registry.ModelEntry
    model: vae.VAE
    card: vae.ModelCard
    mtime: float

    @property
    def config(self) -> vae.VAEConfig:
        return self.model.config

    @property
    def dataset(self) -> str:
        return self.card.dataset

    @property
    def key(self) -> tuple[str, float]:
        return str(self.entry.path), self.mtime


def first_session_run_model(names: list[str]) -> str | None:
    """The model a link (or a reload) names, on the session's first run; a warning if it is not here."""
    if st.session_state.get("_model_from_link_read"):
        return None
    st.session_state["_model_from_link_read"] = True
    asked = st.query_params.get(links.MODEL)
    if asked is None:
        return None
    if links.parse_name(asked, names) is None:
        st.warning(_("The link asks for the model **{model}**, which is not on this machine: showing another.")
                   .format(model=asked), icon=":material/link_off:")
        return None
    return asked


def load_entry(entry: registry.ModelEntry) -> tuple[vae.VAE, vae.ModelCard]:
    """A listed model, loaded through the shared cache."""
    return load_model(str(entry.path), registry.weights_mtime(entry.path))


def model_picker_ui() -> Selected | None:
    """Sidebar picker shared by all pages; returns the loaded model or None (with a message shown)."""
    entries = registry.list_entries()
    usable = [e for e in entries if e.card is not None]
    broken = [e for e in entries if e.card is None]
    with st.sidebar:
        st.markdown("### " + _("Model"))
        selected = None
        if not usable:
            st.error(_("No usable model found. Train one on the Train page."))
        else:
            labels = {e.label: e for e in usable}
            by_name = {e.name: e.label for e in usable}
            names = [e.name for e in usable]
            # The selectbox is keyed, so its state is the source of truth. To choose for the user (a
            # model just trained, or the same model relabelled after re-training) set that state; on
            # a session's first run pass `index` instead, which the browser also displays (setting
            # the state there left the browser showing option 0 and sending it back on the next page).
            pending = st.session_state.pop("_pick_pending", None)
            linked = first_session_run_model(names)  # a link or a reload names the model: start on it
            if pending in by_name:
                st.session_state["model_picker"] = by_name[pending]
            elif "model_picker" in st.session_state and st.session_state["model_picker"] not in labels:
                name = st.session_state.get("picked_model_name")
                st.session_state["model_picker"] = by_name.get(name, by_name.get(registry.DEFAULT_MODEL, usable[0].label))
            start = linked or (registry.DEFAULT_MODEL if registry.DEFAULT_MODEL in names else names[0])
            first_run = {} if "model_picker" in st.session_state else {"index": names.index(start)}
            # bound to the address: it survives a reload and is kept across page switches without a history step
            label = st.selectbox(_("Model"), list(labels), key="model_picker", label_visibility="collapsed", **first_run,
                                 bind="query-params",
                                 help=_("Shipped models were trained with this project's CLI; yours are saved in "
                                        "{folder}").format(folder=registry.user_models_dir()))
            entry = labels[label]
            st.session_state["picked_model_name"] = entry.name
            try:
                mtime = registry.weights_mtime(entry.path)
                model, card = load_model(str(entry.path), mtime)
                selected = Selected(entry, model, card, mtime)
                st.caption(entry.summary)
            except vae.CheckpointError as e:
                st.error(_("This model cannot be loaded: {error}").format(error=e))
        if broken:
            with st.expander(_("⚠ Broken models: {n}").format(n=len(broken))):
                for e in broken:
                    st.caption(f"**{e.name}** ({e.path.parent}): {e.error}")
    return selected


def remember(*keys: str) -> None:
    """Keep these widgets' values while the user is on other pages.

    Streamlit forgets a widget's key at the end of every run that does not draw the widget, so a
    page that reads its widgets' state (or expects them where the user left them) would find them
    gone after a visit elsewhere. Call this at the top of the page, before its widgets: it copies
    each value to a key of our own and puts it back when Streamlit has dropped it.
    Only for widgets whose value may be set (not buttons, uploaders or components).
    """
    for key in keys:
        kept = f"_kept_{key}"
        if key in st.session_state:
            st.session_state[kept] = st.session_state[key]
        elif kept in st.session_state:
            st.session_state[key] = st.session_state[kept]


def pick_model(selected_name: str) -> None:
    """Make `selected_name` the picker's choice on the next run (e.g. after training)."""
    st.session_state["_pick_pending"] = selected_name


def require_model() -> Selected:
    """The current model, or stop the page with a message."""
    selected = st.session_state.get("selected")
    if selected is None:
        st.info(_("Pick a model in the sidebar (or train one on the Train page) to use this page."))
        st.stop()
    return selected


def require_variational(sel: Selected, what: str) -> None:
    """Stop the page, saying why, when the model is a plain autoencoder and `what` needs q(z|x) or a KL.

    `what` completes "..., so {what}", e.g. "the KL term this page splits is not defined".
    """
    if not sel.config.variational:
        st.info(_("**{model}** is a plain autoencoder: its encoder gives one code per image, not a distribution "
                  "q(z|x), and it was trained without the KL term, so {what}. Pick a VAE in the sidebar (e.g. mnist-z2, "
                  "the same network trained with the KL) to use this page.").format(model=sel.entry.name, what=what),
                icon=":material/block:")
        st.stop()


def show(where, image, **kwargs) -> None:
    """st.image of a uint8 image (H, W) or (H, W, 3) in `where` (st or a column), as cached PNG bytes sent as PNG.

    With its default output_format "auto", st.image re-encodes any image without alpha as a quality-90
    JPEG on every rerun, our cached PNG bytes included: server time, and smeared upscaled pixels.
    """
    where.image(png(image), output_format="PNG", **kwargs)


def show_images(images: torch.Tensor, captions: list[str] | None = None, width: int = 84, scale: int = 4) -> None:
    """A row of small images, crisp (nearest-neighbour) at up to `scale` times their size.

    The enlargement stops at `width`: anything wider would be shrunk again, blurrily, by st.image.
    """
    arrs = to_uint8(images)
    factor = max(1, min(scale, width // arrs.shape[-1]))
    st.image([png(upscale(a, factor)) for a in arrs], caption=captions, width=width, output_format="PNG")


def dataset_or_error(dataset: str) -> tuple[vae.Split, str | None] | None:
    """The test split to show for `dataset`, or None after a clear message that it is not on this machine."""
    try:
        split, note = showable_split(dataset)
    except vae.DatasetUnavailable as e:
        st.error(_("The test images for this model are not on this machine. {details}").format(details=e))
        return None
    if note:
        st.caption(f":material/info: {_(note)}")
    return split, note


def dataset_or_stop(dataset: str) -> tuple[vae.Split, str | None]:
    """The test split to show for `dataset`, or stop the page with a clear message."""
    if (shown := dataset_or_error(dataset)) is None:
        st.stop()
    return shown


def drawing_pad_ui(key: str, size: int = 280):
    """A pad to draw a digit on; returns its RGBA pixels (size, size, 4), or None while it is empty or unavailable."""
    st.write("")  # room for the pad's floating toolbar
    try:
        from streamlit_drawable_canvas import st_canvas
    except Exception as e:  # the canvas component could not register: say so, keep the page working
        st.warning(_("The drawing pad is not available here ({error}). Upload an image instead.")
                   .format(error=type(e).__name__))
        return None
    canvas = st_canvas(stroke_width=22 * size // 280, stroke_color="#000000", background_color="#FFFFFF", height=size,
                       width=size, drawing_mode="freedraw", return_image_data=True, key=key)
    image = canvas.image_data if canvas is not None else None
    if image is None or (image[..., :3] > 250).all():
        return None
    return image


def metric_row(items: list[tuple[str, str, str | None]]) -> None:
    """Metrics (label, value, help) side by side, each as wide as its text, wrapping onto a new line
    when the row is too narrow (st.columns would cut the values to "1…" on a projector's 1024 pixels)."""
    with st.container(horizontal=True, wrap=True, gap="medium"):
        for label, value, help_text in items:
            st.metric(label, value, help=help_text, width="content")


def drawn_digit_ui(key: str, size: int, image_size: int) -> tuple[torch.Tensor, np.ndarray] | None:
    """A drawing pad `size` pixels square: the drawn digit as model input (1, image_size, image_size) and the
    pad's RGBA pixels, or None after saying why not (an empty pad, or a drawing that cannot be read)."""
    pixels = drawing_pad_ui(key, size=size)
    if pixels is None:
        st.info(_("The pad is empty: draw a digit."))
        return None
    try:
        return uploads.preprocess_image(pixels, size=image_size), pixels
    except ValueError as e:
        st.error(_("Your drawing: {problem}").format(problem=e), icon=":material/error:")
        return None


def image_pairs(top: torch.Tensor, bottom: torch.Tensor, top_captions: list[str], bottom_captions: list[str],
                per_row: int = 8, scale: int = 4) -> None:
    """Images over their counterparts (inputs over reconstructions), one column each, `per_row` to a row.

    Columns shrink with the window, so every input stays above its own reconstruction on a
    projector's 1024 pixels too (a row of fixed-width images wrapped there, six over two).
    """
    tops, bottoms = to_uint8(top), to_uint8(bottom)
    for start in range(0, len(tops), per_row):
        for i, col in zip(range(start, min(start + per_row, len(tops))), st.columns(per_row, gap="small")):
            show(col, upscale(tops[i], scale), caption=top_captions[i], width="stretch")
            show(col, upscale(bottoms[i], scale), caption=bottom_captions[i], width="stretch")


LARGE_TEXT_CSS = """<style>
html { font-size: 21px; }
.stMarkdown p, .stMarkdown li, .stCaption, [data-testid='stMetricValue'] { line-height: 1.45; }
.katex-display > .katex { font-size: 1.1em; }
.katex-display { overflow-x: auto; overflow-y: hidden; }
</style>"""


def large_text_ui() -> None:
    """A sidebar switch that enlarges the app's text for the back row of a lecture hall (kept in the link)."""
    with st.sidebar:
        if st.toggle(_("Large text"), key="large_text", bind="query-params",
                     help=_("Bigger text and equations, for a projector seen from the back of the room. "
                            "Collapse this sidebar («) to give the page the whole width.")):
            st.html(LARGE_TEXT_CSS)
