"""The Latent map page's Streamlit pieces that are long to lay out: the holes section."""

from __future__ import annotations

import streamlit as st

from explorer.holes import AE_KERNEL_STD, decode_holes

from .widgets import Selected, show_images


def holes_section_ui(sel: Selected, grid, holes, split, hole_ratio: float) -> None:
    """Where the prior expects codes but hardly any test image is encoded: the text and the decoded holes."""
    st.markdown("##### Holes: where the prior expects codes but hardly any test image is encoded")
    prior_name = "the learned mixture prior" if sel.config.prior == "mog" else "the prior N(0, I)"
    mass = grid.prior_mass_in_holes(hole_ratio)
    c_text, c_images = st.columns([1, 1.6], gap="large")
    width = max(grid.bandwidth, AE_KERNEL_STD)
    pull = ("the training pushes the **aggregate posterior** q(z), the mixture of every image's q(z|x), towards it but "
            f"never matches it exactly. Here q(z) is estimated from {grid.n_codes:,} test codes, each q(z|x) widened to "
            f"σ ≥ {width:.2f} (a kernel density estimate): narrower posteriors would leave q(z) empty between "
            "neighbouring codes." if sel.config.variational else f"here q(z) is a Gaussian of σ = {width:.2f} around "
            f"each of this plain autoencoder's {grid.n_codes:,} point codes, which nothing pulled towards it.")
    c_text.markdown(
        f"The black contours are {prior_name}, holding 50%, 90% and 99% of its draws; {pull} In the red regions "
        f"q(z) is below a tenth of p(z). A code drawn from the prior lands there with probability **{mass:.1%}**: "
        "hardly any test image is encoded near it, and most likely no training image either, so the decoder draws "
        "blends and smudges there rather than clear digits.")
    if len(holes):
        with c_images:
            show_images(decode_holes(sel.model, holes),
                        captions=[f"H{i + 1} ({p[0]:+.1f}, {p[1]:+.1f})" for i, p in enumerate(holes)], width=80, scale=4)
            classes = ", ".join(split.class_names[: min(3, sel.config.n_classes)])
            st.caption("Codes at the marked holes, decoded" + (f" (as {classes}, … in turn)" if sel.config.conditional else "")
                       + ".")
    else:
        c_images.success("No holes at this threshold: the aggregate posterior covers the prior everywhere it has mass.")
