"""What the KL buys: a VAE beside its plain-autoencoder twin (the Latent map page's last section)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from explorer import kl_comparison as kc, registry
from explorer.figures import add_prior_circles, latent_scatter
from explorer.i18n import N_, _, lazy
from explorer.images import tile, upscale

from .cache import encoded, live_metrics, load_model, showable_split
from .widgets import show

N_SHOWN = 3000  # codes drawn per map


@st.cache_data(show_spinner=lazy("Comparing the VAE with the plain autoencoder…"), max_entries=4)
def comparison(paths: tuple[str, str], mtimes: tuple[float, float], dataset: str) -> dict[str, Any]:
    """Codes, measured spreads, decodes of the same N(0, I) draws and one interpolation row per model."""
    split, _note = showable_split(dataset)
    a, b = kc.interpolation_ends(split.y.numpy())
    prior = kc.prior_codes()
    out: dict[str, Any] = {"ends": (a, b)}
    for which, path, mtime in zip(("vae", "ae"), paths, mtimes):
        model, _card = load_model(path, mtime)
        enc = encoded(path, mtime, dataset)
        _codes, images = kc.interpolation_row(model, split.x[a : a + 1], split.x[b : b + 1])
        out[which] = {"mu": enc["mu"], "spread": kc.code_spread(enc["mu"], enc["labels"], len(split.class_names), prior),
                      "recon": live_metrics(path, mtime, dataset)["recon"],
                      "samples": kc.prior_decodes(model, prior[:16]), "path": images}
    out["range"] = kc.shared_range(out["vae"]["mu"], out["ae"]["mu"])
    return out


KL_TAB = N_("What the KL buys")  # the Latent map page's second tab, in English; shown as `kl_tab_label()`


def kl_tab_label() -> str:
    """The label of the Latent map page's second tab in the reader's language (`KL_TAB`, translated)."""
    return _(KL_TAB)


def twins(selected: str | None) -> tuple | None:
    """(the VAE entry, its plain-autoencoder twin) for the selected model when both are installed, else None."""
    return kc.find_pair(registry.list_entries(), selected)


def vae_vs_autoencoder_ui(pair: tuple) -> None:
    """The side-by-side comparison of a VAE and its autoencoder twin (`twins`)."""
    vae_entry, ae_entry = pair
    dataset = vae_entry.card.dataset
    split, _note = showable_split(dataset)
    mtimes = tuple(registry.weights_mtime(e.path) for e in pair)
    c = comparison((str(vae_entry.path), str(ae_entry.path)), mtimes, dataset)
    labels = encoded(str(vae_entry.path), mtimes[0], dataset)["labels"]
    st.header(_("What the KL buys: VAE vs plain autoencoder"))
    st.markdown(_("**{ae}** is **{vae}**'s network trained without the KL term and without sampling: each image gets "
                  "one code, z = μ. Same axes for both, colours by label as on the map tab; solid and dotted: the "
                  "prior's 1σ and 2σ circles.").format(ae=ae_entry.name, vae=vae_entry.name))
    zoom = st.toggle(_("Zoom in on the prior's region (both maps)"), key="kl_zoom",
                     help=_("The same axes for both either way: the full range of both models' codes, or ±4."))
    axis_range = (-4.0, 4.0) if zoom else c["range"]
    st.markdown(kc.summary((vae_entry.name, ae_entry.name), (c["vae"]["spread"], c["ae"]["spread"]),
                           (c["vae"]["recon"], c["ae"]["recon"]), split.class_names))
    a, b = c["ends"]
    scale = 2 if vae_entry.card.config.input_shape[1] > 8 else 6
    for col, entry, which in zip(st.columns(2, gap="large"), pair, ("vae", "ae")):
        m, s = c[which], c[which]["spread"]
        with col:
            st.markdown("##### {name} · {kind}".format(name=entry.name,
                                                       kind="VAE" if which == "vae" else _("plain autoencoder")))
            fig = latent_scatter(m["mu"][:N_SHOWN], labels[:N_SHOWN], split.class_names, height=380)
            fig.update_layout(showlegend=False, dragmode=False)  # no legend: both plots keep the same size
            st.plotly_chart(add_prior_circles(fig, axis_range), key=f"kl_map_{which}",
                            config={"displayModeBar": False, "scrollZoom": False})
            st.caption(_("{inside:.0%} of the test codes inside 2σ · 99% within radius {radius:.1f} · "
                         "{far_share:.0%} of N(0, I) draws farther than {far:g} from every code · their digits' "
                         "distance from the test mix {tv:.2f}").format(inside=s.inside_2sigma, radius=s.radius_99,
                                                                      far_share=s.prior_far, far=s.far,
                                                                      tv=s.class_tv))
            show(st, upscale(tile(m["samples"], nrow=8, pad=2), scale), width="stretch",
                 caption=_("16 codes z ~ N(0, I), the same draws for both models, decoded"))
            show(st, upscale(tile(m["path"], nrow=len(m["path"]), pad=2), scale), width="stretch",
                 caption=_("the straight path between the codes of the first test {first} (row {a}) and the "
                           "first test {second} (row {b}), decoded").format(
                               first=_(split.class_names[int(split.y[a])]), a=a,
                               second=_(split.class_names[int(split.y[b])]), b=b))
