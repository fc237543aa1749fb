"""What the KL buys: a VAE beside its plain-autoencoder twin (the Latent map page's last section)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from explorer import kl_comparison as kc, registry
from explorer.figures import add_prior_circles, latent_scatter
from explorer.images import tile, upscale

from .cache import encoded, live_metrics, load_model, showable_split
from .widgets import show

N_SHOWN = 3000  # codes drawn per map


@st.cache_data(show_spinner="Comparing the VAE with the plain autoencoder…", max_entries=4)
def comparison(paths: tuple[str, str], mtimes: tuple[float, float], dataset: str) -> dict[str, Any]:
    """Codes, measured spreads, decodes of the same N(0, I) draws and one interpolation row per model."""
    split, _ = showable_split(dataset)
    a, b = kc.interpolation_ends(split.y.numpy())
    prior = kc.prior_codes()
    out: dict[str, Any] = {"ends": (a, b)}
    for which, path, mtime in zip(("vae", "ae"), paths, mtimes):
        model, _ = load_model(path, mtime)
        enc = encoded(path, mtime, dataset)
        _, images = kc.interpolation_row(model, split.x[a : a + 1], split.x[b : b + 1])
        out[which] = {"mu": enc["mu"], "spread": kc.code_spread(enc["mu"], enc["labels"], len(split.class_names), prior),
                      "recon": live_metrics(path, mtime, dataset)["recon"],
                      "samples": kc.prior_decodes(model, prior[:16]), "path": images}
    out["range"] = kc.shared_range(out["vae"]["mu"], out["ae"]["mu"])
    return out


KL_TAB = "What the KL buys"  # the Latent map page's second tab


def twins(selected: str | None) -> tuple | None:
    """(the VAE entry, its plain-autoencoder twin) for the selected model when both are installed, else None."""
    return kc.find_pair(registry.list_entries(), selected)


def vae_vs_autoencoder_ui(pair: tuple) -> None:
    """The side-by-side comparison of a VAE and its autoencoder twin (`twins`)."""
    vae_entry, ae_entry = pair
    dataset = vae_entry.card.dataset
    split, _ = showable_split(dataset)
    mtimes = tuple(registry.weights_mtime(e.path) for e in pair)
    c = comparison((str(vae_entry.path), str(ae_entry.path)), mtimes, dataset)
    labels = encoded(str(vae_entry.path), mtimes[0], dataset)["labels"]
    st.header("What the KL buys: VAE vs plain autoencoder")
    st.markdown(f"**{ae_entry.name}** is **{vae_entry.name}**'s network trained without the KL term and without "
                "sampling: each image gets one code, z = μ. Same axes for both, colours by label as on the map tab; solid "
                "and dotted: the prior's 1σ and 2σ circles.")
    zoom = st.toggle("Zoom in on the prior's region (both maps)", key="kl_zoom",
                     help="The same axes for both either way: the full range of both models' codes, or ±4.")
    axis_range = (-4.0, 4.0) if zoom else c["range"]
    st.markdown(kc.summary((vae_entry.name, ae_entry.name), (c["vae"]["spread"], c["ae"]["spread"]),
                           (c["vae"]["recon"], c["ae"]["recon"]), split.class_names))
    a, b = c["ends"]
    scale = 2 if vae_entry.card.config.input_shape[1] > 8 else 6
    for col, entry, which in zip(st.columns(2, gap="large"), pair, ("vae", "ae")):
        m, s = c[which], c[which]["spread"]
        with col:
            st.markdown(f"##### {entry.name} · {'VAE' if which == 'vae' else 'plain autoencoder'}")
            fig = latent_scatter(m["mu"][:N_SHOWN], labels[:N_SHOWN], split.class_names, height=380)
            fig.update_layout(showlegend=False, dragmode=False)  # no legend: both plots keep the same size
            st.plotly_chart(add_prior_circles(fig, axis_range), key=f"kl_map_{which}",
                            config={"displayModeBar": False, "scrollZoom": False})
            st.caption(f"{s.inside_2sigma:.0%} of the test codes inside 2σ · 99% within radius {s.radius_99:.1f} · "
                       f"{s.prior_far:.0%} of N(0, I) draws farther than {s.far:g} from every code · their digits' "
                       f"distance from the test mix {s.class_tv:.2f}")
            show(st, upscale(tile(m["samples"], nrow=8, pad=2), scale), width="stretch",
                 caption="16 codes z ~ N(0, I), the same draws for both models, decoded")
            show(st, upscale(tile(m["path"], nrow=len(m["path"]), pad=2), scale), width="stretch",
                 caption=f"the straight path between the codes of the first test {split.class_names[int(split.y[a])]} "
                         f"(row {a}) and the first test {split.class_names[int(split.y[b])]} (row {b}), decoded")
