"""Plotly figures for the app, built from NumPy arrays (testable without Streamlit).

plotly is imported lazily so the rest of the core does not need it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# Ten distinguishable colours (Tableau 10), one per class label.
CLASS_COLOURS = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"]


def latent_scatter(
    coords: np.ndarray,
    labels: np.ndarray,
    class_names: list[str],
    rows: np.ndarray | None = None,
    highlights: dict[str, np.ndarray] | None = None,
    ellipses: tuple[np.ndarray, np.ndarray] | None = None,
    axis_titles: tuple[str, str] = ("z₁", "z₂"),
    height: int = 640,
):
    """WebGL scatter of 2-D codes coloured by label, one trace per class.

    Each point carries its dataset row in `customdata`, because selection events report point
    indices per trace. `highlights` maps a name to a 2-D point drawn as a large star.
    """
    import plotly.graph_objects as go

    rows = np.arange(len(coords)) if rows is None else rows
    fig = go.Figure()
    if ellipses is not None:
        fig.add_trace(go.Scatter(x=ellipses[0], y=ellipses[1], mode="lines", line=dict(width=0.8, color="rgba(80,80,80,0.35)"),
                                 name="1σ posterior", hoverinfo="skip"))
    for label in np.unique(labels):
        mask = labels == label
        name = class_names[label] if 0 <= label < len(class_names) else str(label)
        fig.add_trace(go.Scattergl(
            x=coords[mask, 0], y=coords[mask, 1], mode="markers", name=name, customdata=rows[mask],
            marker=dict(size=4, opacity=0.7, color=CLASS_COLOURS[int(label) % len(CLASS_COLOURS)]),
            hovertemplate=f"label {name}<br>row %{{customdata}}<br>(%{{x:.2f}}, %{{y:.2f}})<extra></extra>",
        ))
    for i, (name, point) in enumerate((highlights or {}).items()):
        fig.add_trace(go.Scatter(
            x=[point[0]], y=[point[1]], mode="markers+text", text=[name], textposition="top center", name=name,
            marker=dict(symbol="star", size=20, color="#111111", line=dict(width=2, color="#ffffff")),
            hovertemplate=f"{name}<br>(%{{x:.2f}}, %{{y:.2f}})<extra></extra>", showlegend=False,
        ))
    fig.update_layout(
        height=height, margin=dict(l=10, r=10, t=10, b=10), legend=dict(itemsizing="constant", title="label"),
        xaxis_title=axis_titles[0], yaxis_title=axis_titles[1], dragmode="pan", clickmode="event+select",
    )
    fig.update_yaxes(scaleanchor="x", scaleratio=1)
    return fig


def add_density_overlay(fig, grid, holes: np.ndarray | None = None, ratio: float = 0.1):
    """Draw a `vae.latent.DensityGrid` under a latent scatter: shaded holes, prior contours, hole markers.

    Holes (q(z) < ratio * p(z)) are shaded by prior density, so the shading is darkest where
    sampling the prior most often lands on a code no image was encoded near.
    """
    import plotly.graph_objects as go

    n_before = len(fig.data)
    prior = np.exp(grid.log_prior)
    shade = np.where(grid.hole_mask(ratio), prior / prior.max(), np.nan)
    fig.add_trace(go.Heatmap(x=grid.xs, y=grid.ys, z=shade, zmin=0, zmax=1, showscale=False, hoverinfo="skip",
                             colorscale=[[0, "rgba(225,87,89,0.05)"], [1, "rgba(225,87,89,0.45)"]],
                             name="holes"))
    fig.add_trace(go.Contour(x=grid.xs, y=grid.ys, z=prior / prior.max(), showscale=False, hoverinfo="skip",
                             contours=dict(coloring="lines", start=0.05, end=0.85, size=0.2, showlabels=False),
                             line=dict(width=1.2, color="rgba(60,60,60,0.55)", dash="dot"), name="prior p(z)",
                             showlegend=True))
    if holes is not None and len(holes):
        fig.add_trace(go.Scatter(
            x=holes[:, 0], y=holes[:, 1], mode="markers+text", text=[f"H{i + 1}" for i in range(len(holes))],
            textposition="top center", name="holes decoded below", showlegend=True,
            marker=dict(symbol="x-thin", size=16, line=dict(width=3, color="#b1262a")),
            textfont=dict(color="#b1262a", size=13), hovertemplate="hole %{text}<br>(%{x:.2f}, %{y:.2f})<extra></extra>",
        ))
    fig.data = fig.data[n_before:] + fig.data[:n_before]  # overlay underneath: the data points stay on top
    return fig


def training_curves(history: list[dict[str, Any]], height: int = 300):
    """Three side-by-side panels per epoch: -ELBO, reconstruction, KL (train and test)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=3, subplot_titles=("−ELBO", "Reconstruction", "KL (rate)"), horizontal_spacing=0.07)
    epochs = [r["epoch"] for r in history]
    for col, term in enumerate(("neg_elbo", "recon", "kl"), start=1):
        for split, colour in (("train", "#4e79a7"), ("test", "#e15759")):
            key = f"{split}_{term}"
            if any(key in r for r in history):
                fig.add_trace(go.Scatter(x=epochs, y=[r.get(key) for r in history], mode="lines+markers", name=split,
                                         line=dict(color=colour), marker=dict(size=4), showlegend=col == 1,
                                         legendgroup=split), row=1, col=col)
        fig.update_xaxes(title_text="epoch", row=1, col=col)
    fig.update_yaxes(title_text="nats per image", row=1, col=1)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.25))
    return fig
