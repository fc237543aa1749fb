"""Latent map: where the encoder puts every test image, coloured by its label."""

import numpy as np
import streamlit as st
import torch

import vae
from pages.ui.cache import encoded, load_model, projection
from explorer.images import tile, upscale
from pages.ui.kl_views import KL_TAB, kl_tab_label, twins, vae_vs_autoencoder_ui
from pages.ui.links import BIND, from_link, link_ui, publish
from pages.ui.map_views import follow_tab, holes_section_ui, sentences
from pages.ui.widgets import dataset_or_stop, remember, require_model, show, show_images
from explorer.figures import add_density_overlay, ellipse_points, latent_scatter
from explorer.holes import aggregate_logvar, density_grid
from explorer.i18n import N_, _, lazy
from explorer import links
from explorer.maps import AXIS_TITLES, clicked_row, ellipse_rows, place_codes, posterior_draws

remember("map_method", "map_ellipses", "map_holes", "kl_zoom")

HOLE_RATIO = 0.1  # a hole: the aggregate posterior below a tenth of the prior
MAP_TAB = N_("The map")  # the first tab (the second: KL_TAB)
# the map's projection of codes of more than two dimensions -> its name
PROJECTIONS = {"pca": N_("PCA (instant, linear)"), "tsne": N_("t-SNE (seconds the first time, a 3,000-image subsample)")}


@st.cache_data(show_spinner=lazy("Estimating the prior and aggregate-posterior densities…"), max_entries=8)
def densities(path: str, mtime: float, dataset: str):
    model, _card = load_model(path, mtime)
    enc = encoded(path, mtime, dataset)
    logvar = aggregate_logvar(enc["logvar"], model.config.variational)  # a kernel around an autoencoder's point codes
    return density_grid(model.prior, enc["mu"], logvar, max_codes=len(enc["mu"]), ratio=HOLE_RATIO)


st.title(_("Latent map"))
st.markdown(_("Each dot is one test image, placed at its code μ = the centre of q(z|x). The model was never told the "
              "labels, yet similar images land together. Click a dot to see that image."))
sel = require_model()
split, note = dataset_or_stop(sel.dataset)
enc = encoded(*sel.key, sel.dataset)
d = sel.config.latent_dim
if sel.config.conditional:
    st.info(_("This is a **conditional** VAE: the encoder is told the label, so the code only has to carry the *style* "
              "(slant, thickness, width). That is why the colours mix here instead of forming clusters."),
            icon=":material/label:")


def keep_click() -> None:
    """The chart forgets its selection whenever its figure changes (an overlay toggled): keep the clicked row."""
    row = clicked_row(st.session_state["latent_scatter"]["selection"]["points"])
    if row is not None:
        st.session_state["map_selected"] = (str(sel.entry.path), row)


def detail_ui(row: int) -> None:
    x = split.x[row : row + 1]
    r = vae.latent.reconstruct(sel.model, x, labels=split.y[row : row + 1])
    st.markdown(_("**Test image #{row}** · label **{label}**").format(row=row, label=_(split.class_names[int(split.y[row])])))
    show_images(torch.cat([x, r.x_hat]), captions=[_("input"), _("reconstruction")], width=140, scale=5)
    more = " …" if d > 8 else ""
    mu = ", ".join(f"{v:+.2f}" for v in r.mu[0].tolist()[:8]) + more
    sd = ", ".join(f"{v:.2f}" for v in r.std[0].tolist()[:8]) + more
    st.markdown(_("μ = ({mu})  \nσ = ({sigma})  \n−ELBO {elbo:.1f} nats").format(mu=mu, sigma=sd, elbo=r.neg_elbo.item())
                if sel.config.variational else
                _("z = ({z})  \nreconstruction {recon:.1f} nats").format(z=mu, recon=r.recon.item()))
    if sel.config.variational:
        y = split.y[row : row + 1] if sel.config.conditional else None
        _codes, draws = posterior_draws(sel.model, x, y, n=8, seed=row)
        show(st, upscale(tile(draws, nrow=8, pad=1), 2), width="stretch")  # one row at any width
        spread = float(r.std.max())
        st.caption(_("Eight codes drawn from q(z|x), decoded: the encoder gives a *distribution* of codes, and these are "
                     "images it considers plausible for this input. With σ this small ({sigma:.2f}) they barely differ.")
                   .format(sigma=spread) if spread < 0.1 else
                   _("Eight codes drawn from q(z|x), decoded: the encoder gives a *distribution* of codes, and these are "
                     "images it considers plausible for this input."))
    st.button(_("Clear the selection"), key="map_clear", on_click=lambda: st.session_state.pop("map_selected", None))


def map_caption(n: int, dataset: str, subsample: bool, sigma: np.ndarray | None, coords: np.ndarray) -> str:
    """Under the map: what it shows, how to move it and, with the ellipses, how large they are."""
    shown = (_("{n:,} {dataset} test images (t-SNE subsample).") if subsample
             else _("{n:,} {dataset} test images.")).format(n=n, dataset=dataset)
    outlines = ""
    if sigma is not None:
        median = float(np.median(sigma))
        outlines = (_("Black outlines: the 1σ ellipses of {n} images, median σ = {sigma:.2g}: next to the spread of the "
                      "codes most are dots, so zoom in to see them.") if median < 0.01 * np.ptp(coords)
                    else _("Black outlines: the 1σ ellipses of {n} images, median σ = {sigma:.2g}.")
                    ).format(n=len(sigma), sigma=median)
    return sentences(shown, _("Scroll to zoom, drag to pan, double-click to reset."), outlines)


@st.fragment
def map_view() -> None:
    """Controls, map, the clicked image and the holes: a click or a toggle reruns only this, not the
    comparison with the plain autoencoder below (two more maps the browser would redraw)."""
    # controls as wide as their labels, wrapping onto a new line when the window is narrow (a projector)
    row_top = st.container(horizontal=True, wrap=True, vertical_alignment="center", gap="medium")
    controls = [row_top, row_top, st.container()]
    if d == 2:
        method = "identity"
        controls[0].caption(_("2-D latent: the map shows the codes themselves."), width="content")
    else:
        method = controls[0].radio(
            _("Projection of the {d}-D codes").format(d=d), list(PROJECTIONS), horizontal=True, key="map_method",
            bind=BIND, format_func=lambda m: _(PROJECTIONS[m]))
    show_ellipses = controls[1].toggle(_("1σ ellipses (300 images)"), key="map_ellipses", bind=BIND, width="content",
                                       disabled=d != 2 or not sel.config.variational,
                                       help=_("Each code is really a Gaussian: its ellipse spans one standard deviation."))
    show_holes = controls[1].toggle(_("Prior & holes"), key="map_holes", disabled=d != 2, bind=BIND, width="content",
                                    help=_("Black contours: the prior p(z). Red: where the prior has mass but hardly any "
                                           "image is encoded."))
    proj = projection(*sel.key, sel.dataset, method)
    coords, rows = proj["coords"], proj["rows"]

    highlights = {}
    user_codes = st.session_state.get("user_codes", {}).get(str(sel.entry.path), {})
    placed = place_codes(np.array(list(user_codes.values())), proj["method"], proj["pca"]) if user_codes else None
    if placed is not None:
        highlights = dict(zip(user_codes, placed))
    elif user_codes:
        controls[2].caption(_("Your digits are shown on PCA maps (t-SNE cannot place new points)."))
    else:
        controls[2].caption(_("Upload or draw digits on the Reconstructions page to see them here as ★."))

    ellipses = None
    if show_ellipses and d == 2:
        shown = ellipse_rows(rows)
        sigma = np.exp(0.5 * enc["logvar"][shown])
        ellipses = ellipse_points(enc["mu"][shown], sigma)
    link_slot = row_top.container(width="content")  # the Link, once the clicked image is in the URL too

    linked = links.parse_index(from_link(links.ROW), len(split))  # a link (or a reload) names the test image
    if linked is not None:
        st.session_state["map_selected"] = (str(sel.entry.path), linked)
    grid = holes = None
    if show_holes and d == 2:
        grid = densities(*sel.key, sel.dataset)
        holes = grid.holes(k=6, ratio=HOLE_RATIO)

    picked = st.session_state.get("map_selected")
    row = picked[1] if picked and picked[0] == str(sel.entry.path) else None
    publish(links.ROW, None if row is None else str(row))
    fig = latent_scatter(coords, enc["labels"][rows], split.class_names, rows=rows, highlights=highlights,
                         ellipses=ellipses, axis_titles=AXIS_TITLES[proj["method"]], selected_row=row)
    if grid is not None:
        add_density_overlay(fig, grid, holes, ratio=HOLE_RATIO)
    left, right = st.columns([2.2, 1], gap="medium")
    with left:
        st.plotly_chart(fig, on_select=keep_click, selection_mode="points", key="latent_scatter",
                        config={"scrollZoom": True, "displaylogo": False})
        st.caption(map_caption(len(rows), split.name, proj["method"] == "tsne",
                               None if ellipses is None else sigma, coords))
    with link_slot:
        link_ui("map_link")  # after every parameter of the view is in the URL
    with right:
        if row is None:
            st.info(_("Click a dot to see its image, its reconstruction and its code."))
        else:
            detail_ui(row)
    if grid is not None:
        holes_section_ui(sel, grid, holes, split, HOLE_RATIO)


pair = twins(sel.entry.name)
if pair is None:
    map_view()
else:
    # Lazy tabs: only the open one runs and reaches the browser. The comparison's two WebGL maps drawn
    # under the page's own made a switch to this page take twice as long (1.1-1.4 s against 0.5-0.6 s).
    # The tabs' state and link hold the label shown, so in Chinese the Chinese one: a link or a session that
    # names a tab in the other language is moved to this language's label first.
    tabs = {MAP_TAB: _(MAP_TAB), KL_TAB: kl_tab_label()}
    follow_tab("map_section", tabs)
    tab_map, tab_kl = st.tabs(list(tabs.values()), key="map_section", on_change="rerun", bind=BIND)
    if tab_map.open:
        with tab_map:
            map_view()
    if tab_kl.open:
        with tab_kl:
            vae_vs_autoencoder_ui(pair)
