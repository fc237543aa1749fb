"""The Latent map page's Streamlit pieces that are long to lay out: the holes section, and the page's tabs in
either language."""

from __future__ import annotations

from collections.abc import Mapping

import streamlit as st

from explorer import i18n
from explorer.holes import AE_KERNEL_STD, decode_holes
from explorer.registry import class_labels
from explorer.i18n import _

from .widgets import Selected, show_images


def sentences(*texts: str) -> str:
    """Whole sentences (each one message) side by side: a space after an English full stop, none after a Chinese one."""
    return " ".join(t for t in texts if t).replace("。 ", "。")


def follow_tab(key: str, tabs: Mapping[str, str]) -> None:
    """Call right before `st.tabs(list(tabs.values()), key=key, bind="query-params")`, whose state and link hold
    the label shown. If the tab named by the session (its label from before a switch of language) or, before the
    tabs are first drawn, by the link is the label of a tab in another language, name that tab by its label in
    this language, so the same tab opens.

    Streamlit drops a link's label it does not know from the address, so on the next run the label is set
    once more, which writes it back there (a reload keeps the tab). `tabs`: each tab's English label -> its
    label in this language, in tab order.
    """
    state = st.session_state
    moved = f"_{key}_moved"  # set when a label was moved here, on the run before
    named = state.get(key) if key in state else st.query_params.get(key)
    if state.pop(moved, False) and named in tabs.values():
        state[key] = named
        return
    if not named or named in tabs.values():
        return
    for english, shown in tabs.items():
        if named in {english} | {i18n.translations(lang).gettext(english) for lang in i18n.LANGUAGES}:
            state[key] = shown
            state[moved] = True
            return


def holes_section_ui(sel: Selected, grid, holes, split, hole_ratio: float) -> None:
    """Where the prior expects codes but hardly any test image is encoded: the text and the decoded holes."""
    st.markdown("##### " + _("Holes: where the prior expects codes but hardly any test image is encoded"))
    prior_name = _("the learned mixture prior") if sel.config.prior == "mog" else _("the prior N(0, I)")
    mass = grid.prior_mass_in_holes(hole_ratio)
    c_text, c_images = st.columns([1, 1.6], gap="large")
    width = max(grid.bandwidth, AE_KERNEL_STD)
    if sel.config.variational:
        contours = _("The black contours are {prior}, holding 50%, 90% and 99% of its draws; the training pushes the "
                     "**aggregate posterior** q(z), the mixture of every image's q(z|x), towards it but never matches it "
                     "exactly. Here q(z) is estimated from {n:,} test codes, each q(z|x) widened to σ ≥ {width:.2f} (a "
                     "kernel density estimate): narrower posteriors would leave q(z) empty between neighbouring codes.")
    else:
        contours = _("The black contours are {prior}, holding 50%, 90% and 99% of its draws; here q(z) is a Gaussian of "
                     "σ = {width:.2f} around each of this plain autoencoder's {n:,} point codes, which nothing pulled "
                     "towards it.")
    holes_text = _("In the red regions q(z) is below a tenth of p(z). A code drawn from the prior lands there with "
                   "probability **{mass:.1%}**: hardly any test image is encoded near it, and most likely no training "
                   "image either, so the decoder draws blends and smudges there rather than clear digits.")
    c_text.markdown(sentences(contours.format(prior=prior_name, n=grid.n_codes, width=width), holes_text.format(mass=mass)))
    if len(holes):
        with c_images:
            show_images(decode_holes(sel.model, holes),
                        captions=[f"H{i + 1} ({p[0]:+.1f}, {p[1]:+.1f})" for i, p in enumerate(holes)], width=80, scale=4)
            classes = _(", ").join(class_labels(split.class_names[: min(3, sel.config.n_classes)]))
            st.caption(_("Codes at the marked holes, decoded (as {classes}, … in turn).").format(classes=classes)
                       if sel.config.conditional else _("Codes at the marked holes, decoded."))
    else:
        c_images.success(_("No holes at this threshold: the aggregate posterior covers the prior everywhere it has mass."))
