"""Plotly figures for the app, built from NumPy arrays (testable without Streamlit).

plotly is imported lazily so the rest of the core does not need it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from explorer.i18n import N_, _, ngettext
from explorer.registry import class_labels
from explorer.maps import dimension_names, interleaved_chunks

# Ten distinguishable colours (Tableau 10), one per class label.
CLASS_COLOURS = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"]


POINT_SIZE, POINT_OPACITY = 4, 0.75  # the map's dots: small and a little translucent, so dense clusters mix
# Below the map, in rows: the map keeps the column's full width (one legend group per class: no gaps between them).
MAP_LEGEND = dict(orientation="h", yanchor="top", y=-0.1, x=0, itemsizing="constant", tracegroupgap=0)


def _equal_axes(fig) -> None:
    """One unit is as long on both axes; a narrow column shrinks the plot rather than stretching the y range,
    and the plot then sits at the top of its figure (right under the controls, not half a screen lower)."""
    fig.update_xaxes(constrain="domain")
    fig.update_yaxes(scaleanchor="x", scaleratio=1, constrain="domain", constraintoward="top")


def _pixel_box(points: np.ndarray, height: int, width_px: float = 400.0):
    """Data ranges (padded 5% as plotly does) and an estimate of their size in pixels on an equal-aspect map
    (the page's column decides the width: `width_px` errs narrow, so that labels rather keep too far apart)."""
    lo, hi = points.min(0), points.max(0)
    pad = 0.05 * np.maximum(hi - lo, 1e-9)
    x_range, y_range = (lo[0] - pad[0], hi[0] + pad[0]), (lo[1] - pad[1], hi[1] + pad[1])
    per_unit = min(width_px / (x_range[1] - x_range[0]), (height - 20) / (y_range[1] - y_range[0]))
    return x_range, y_range, (x_range[1] - x_range[0]) * per_unit, (y_range[1] - y_range[0]) * per_unit


def add_boxed_labels(fig, points: np.ndarray, texts: list[str], extent: np.ndarray, height: int,
                     colour: str = "#111111", radius: float = 10.0, size: int = 12):
    """Label `points` (N, 2) with `texts` in white boxes placed by `label_offsets`, clear of each other and of
    the markers (half-size `radius` px). Annotations draw above every trace, WebGL ones included.

    `extent` (M, 2): the points the plot's axes cover, to estimate pixels per data unit.
    """
    if not len(texts):
        return fig
    points = np.asarray(points, dtype=float).reshape(-1, 2)
    x_range, y_range, w, h = _pixel_box(np.vstack([np.asarray(extent, float).reshape(-1, 2), points]), height)
    offsets = label_offsets(points[:, 0], points[:, 1], texts, x_range, y_range, w, h, radii=[radius] * len(texts),
                            char_px=0.6 * size)
    for (x, y), text, offset in zip(points, texts, offsets):
        _label_annotation(fig, x, y, text, offset, radius, char_px=0.6 * size, line_colour=colour,
                          font=dict(size=size, color=colour),
                          bgcolor="rgba(255,255,255,0.88)", bordercolor=colour, borderwidth=1, borderpad=2)
    return fig


def latent_scatter(
    coords: np.ndarray,
    labels: np.ndarray,
    class_names: list[str],
    rows: np.ndarray | None = None,
    highlights: dict[str, np.ndarray] | None = None,
    ellipses: tuple[np.ndarray, np.ndarray] | None = None,
    axis_titles: tuple[str, str] = ("z₁", "z₂"),
    height: int = 640,
    selected_row: int | None = None,
):
    """WebGL scatter of 2-D codes coloured by label, the classes interleaved so that none hides another.

    The points go in chunks, one trace each, in the order of `maps.interleaved_chunks`; a class's
    chunks share one legend entry (`legendgroup`), which still shows and hides the whole class. Each
    point carries its dataset row in `customdata`, because selection events report point indices
    per trace; a click does not fade the other points. On top of the points, because the user asked
    for them: the 1σ `ellipses` (x, y outlines from `ellipse_points`), a ring round the point of
    `selected_row`, and `highlights` (name -> 2-D point) as stars with boxed labels clear of each
    other. They are WebGL like the points (WebGL traces always draw above SVG ones) and carry
    meta="top", so that `add_density_overlay` slips its layers in beneath them.
    """
    class_names = class_labels(class_names)  # Fashion-MNIST's names in the reader's language
    import plotly.graph_objects as go

    coords = np.asarray(coords)
    rows = np.arange(len(coords)) if rows is None else np.asarray(rows)
    fig = go.Figure()
    in_legend = set()
    for label, idx in interleaved_chunks(labels):
        name = class_names[label] if 0 <= label < len(class_names) else str(label)
        fig.add_trace(go.Scattergl(
            x=coords[idx, 0], y=coords[idx, 1], mode="markers", name=name, customdata=rows[idx], legendgroup=name,
            showlegend=label not in in_legend, legendrank=int(label),
            marker=dict(size=POINT_SIZE, opacity=POINT_OPACITY, color=CLASS_COLOURS[int(label) % len(CLASS_COLOURS)]),
            selected=dict(marker=dict(opacity=1.0)), unselected=dict(marker=dict(opacity=POINT_OPACITY)),
            hovertemplate=_("label {label}<br>row %{{customdata}}<br>(%{{x:.2f}}, %{{y:.2f}})<extra></extra>").format(
                label=name),
        ))
        in_legend.add(label)
    if ellipses is not None:
        fig.add_trace(go.Scattergl(x=ellipses[0], y=ellipses[1], mode="lines", line=dict(width=1.5, color="rgba(17,17,17,0.85)"),
                                   name=_("1σ posterior"), hoverinfo="skip", meta="top"))
    marked, names = [], []
    if selected_row is not None and np.any(rows == selected_row):
        point = coords[np.flatnonzero(rows == selected_row)[0]]
        for size, width, colour in ((22, 5, "#ffffff"), (20, 2.5, "#111111")):  # a black ring with a white halo
            fig.add_trace(go.Scattergl(x=[point[0]], y=[point[1]], mode="markers", name=_("selected image"), showlegend=False,
                                       marker=dict(size=size, color="rgba(0,0,0,0)", line=dict(width=width, color=colour)),
                                       hoverinfo="skip", meta="top"))
        marked.append(point)
        names.append(f"#{selected_row}")
    for name, point in (highlights or {}).items():
        fig.add_trace(go.Scattergl(
            x=[point[0]], y=[point[1]], mode="markers", name=name, showlegend=False, meta="top",
            marker=dict(symbol="star", size=22, color="#111111", line=dict(width=1.5, color="#ffffff")),
            hovertemplate=f"{name}<br>(%{{x:.2f}}, %{{y:.2f}})<extra></extra>",
        ))
        marked.append(np.asarray(point)[:2])
        names.append(f"★ {name}")
    if marked:
        add_boxed_labels(fig, np.array(marked), names, coords if len(coords) else np.array(marked), height, radius=11)
    fig.update_layout(
        height=height, margin=dict(l=10, r=10, t=10, b=10), xaxis_title=axis_titles[0], yaxis_title=axis_titles[1],
        legend=MAP_LEGEND | dict(title=_("label")), dragmode="pan", clickmode="event+select",
    )
    _equal_axes(fig)
    return fig


PRIOR_MASSES = (0.5, 0.9, 0.99)  # the prior's contours drawn: the regions holding these shares of its draws


def add_density_overlay(fig, grid, holes: np.ndarray | None = None, ratio: float = 0.1, height: int = 640):
    """Draw an `explorer.holes.DensityGrid` on a latent scatter: the holes shaded underneath the points, the
    prior's contours and the numbered hole markers on top of them.

    Holes (q(z) < ratio * p(z)) are shaded inside the prior's 99% region (where its draws land) by
    prior density, darkest where sampling the prior most often lands far from every code, but never
    fainter than a clear pink. The points keep their colours: a hole is where they are not. The
    prior is drawn as the contours holding 50%, 90% and 99% of its draws (said in the legend), WebGL
    lines like the points so that they show over them; they and the hole markers go beneath the
    traces `latent_scatter` marked meta="top" (ellipses, the ring, stars).
    """
    import plotly.graph_objects as go

    from explorer.holes import isoline

    prior = np.exp(grid.log_prior)
    shade = np.where(grid.hole_mask(ratio) & (prior >= grid.prior_level(PRIOR_MASSES[-1])), prior / prior.max(), np.nan)
    under = [
        go.Heatmap(x=grid.xs, y=grid.ys, z=shade, zmin=0, zmax=1, showscale=False, hoverinfo="skip", name=_("holes"),
                   colorscale=[[0, "rgba(220,50,55,0.45)"], [1, "rgba(180,20,30,0.8)"]]),
        go.Scatter(x=[None], y=[None], mode="markers", name=_("holes"), hoverinfo="skip",
                   marker=dict(symbol="square", size=12, color="rgba(210,45,50,0.6)")),  # the shading's legend entry
    ]
    over = []
    for i, mass in enumerate(PRIOR_MASSES):
        x, y = isoline(grid.xs, grid.ys, prior, grid.prior_level(mass))
        over.append(go.Scattergl(x=x, y=y, mode="lines", name=_("prior p(z)"), legendgroup="prior", showlegend=i == 0,
                                 line=dict(width=1.3, color="rgba(17,17,17,0.7)"), hoverinfo="skip", meta=f"{mass:.0%}"))
    over[0].name = _("prior p(z): {masses} of draws inside").format(masses=", ".join(f"{m:.0%}" for m in PRIOR_MASSES))
    if holes is not None and len(holes):
        over.append(go.Scattergl(
            x=holes[:, 0], y=holes[:, 1], mode="markers", name=_("hole centres"), text=[f"H{i + 1}" for i in range(len(holes))],
            hovertemplate=_("hole %{text}<br>(%{x:.2f}, %{y:.2f})<extra></extra>"),
            marker=dict(symbol="x", size=14, color="#b1262a", line=dict(width=1.5, color="#ffffff")),
        ))
        add_boxed_labels(fig, holes, [f"H{i + 1}" for i in range(len(holes))],
                         np.stack([grid.xs[[0, -1]], grid.ys[[0, -1]]], 1), height, colour="#b1262a", radius=8)
    top = next((i for i, t in enumerate(fig.data) if t.meta == "top"), len(fig.data))
    n = len(fig.data)
    fig.add_traces(under + over)
    new = fig.data[n:]
    fig.data = new[: len(under)] + fig.data[:top] + new[len(under):] + fig.data[top:n]
    return fig


def training_curves(history: list[dict[str, Any]], height: int = 300):
    """Three side-by-side panels per epoch: -ELBO, reconstruction, KL (train and test)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=3, subplot_titles=("−ELBO", _("Reconstruction"), _("KL (rate)")),
                        horizontal_spacing=0.07)
    epochs = [r["epoch"] for r in history]
    for col, term in enumerate(("neg_elbo", "recon", "kl"), start=1):
        for split, colour in ((N_("train"), "#4e79a7"), (N_("test"), "#e15759")):
            key = f"{split}_{term}"
            if any(key in r for r in history):
                fig.add_trace(go.Scatter(x=epochs, y=[r.get(key) for r in history], mode="lines+markers", name=_(split),
                                         line=dict(color=colour), marker=dict(size=4), showlegend=col == 1,
                                         legendgroup=split), row=1, col=col)
        fig.update_xaxes(title_text=_("epoch"), row=1, col=col)
    fig.update_yaxes(title_text=_("nats per image"), row=1, col=1)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.25))
    return fig


# --- Teaching diagnostics (rate-distortion, latent usage, KL estimators, IWAE) ----------------

_SOURCE_STYLE = {  # marker and colour per kind of model on the rate-distortion plane
    "shipped": ("circle", "#4e79a7", N_("shipped")),
    "yours": ("square", "#f28e2b", N_("yours")),
    "sweep": ("diamond", "#59a14f", N_("β sweep")),
}


_DIRECTIONS = ((1, 0), (1, 1), (1, -1), (-1, 0), (-1, 1), (-1, -1), (0, 1), (0, -1))  # right first, then round
LEADER_PX = 30  # how much further out a label goes, on a leader line, when every spot beside its point is taken


def label_offsets(xs, ys, texts, x_range, y_range, width_px: float = 560, height_px: float = 440,
                  radii: list[float] | None = None, obstacles: list[tuple[float, float, float, float]] = (),
                  char_px: float = 6.2, line_px: float = 16) -> list[tuple[float, float, bool]]:
    """Where to put each point's label: (dx, dy, leader), the offset in pixels (y up) of its box's centre
    from the point, and whether the box sits far out on a leader line.

    Greedy, in the order given: of eight spots beside the point (right first), and the same spots
    `LEADER_PX` further out (for a label on a leader line), the first that overlaps the fewest
    markers (half-sizes `radii` px, default 9), labels already placed and `obstacles` (boxes x0, x1,
    y0, y1 in data units, e.g. other annotations), and that stays inside the plot. A rough pixel
    scale: `char_px` per character, `line_px` per line, the plot `width_px` by `height_px`.
    """
    sx, sy = width_px / (x_range[1] - x_range[0]), height_px / (y_range[1] - y_range[0])
    px = [(x - x_range[0]) * sx for x in xs]
    py = [(y - y_range[0]) * sy for y in ys]
    radii = list(radii or [9.0] * len(px))
    markers = [(x - r, x + r, y - r, y + r) for x, y, r in zip(px, py, radii)]
    taken = markers + [((a - x_range[0]) * sx, (b - x_range[0]) * sx, (c - y_range[0]) * sy, (d - y_range[0]) * sy)
                       for a, b, c, d in obstacles]

    def cost(box):
        outside = box[0] < 0 or box[1] > width_px or box[2] < 0 or box[3] > height_px
        return 2 * outside + sum(box[0] < b[1] and b[0] < box[1] and box[2] < b[3] and b[2] < box[3] for b in taken)

    def crossed(x, y, dx, dy, own):  # other markers a leader line from (x, y) to (x + dx, y + dy) passes over
        steps = [(x + t * dx, y + t * dy) for t in np.linspace(0.15, 0.85, 8)]
        return sum(any(b[0] <= u <= b[1] and b[2] <= v <= b[3] for u, v in steps) for k, b in enumerate(markers) if k != own)

    out = []
    for i, (x, y, r, text) in enumerate(zip(px, py, radii, texts)):
        w, h = len(text) * char_px + 6, line_px
        best = None
        for far in (0, LEADER_PX):
            for ux, uy in _DIRECTIONS:
                dx = ux * (r + 3 + far + w / 2)
                dy = uy * (r + 1 + far + h / 2) if ux == 0 or far else uy * (h / 2 + 2)
                box = (x + dx - w / 2, x + dx + w / 2, y + dy - h / 2, y + dy + h / 2)
                score = cost(box) + (0.5 + crossed(x, y, dx, dy, i) if far else 0)  # a leader line only to escape
                if best is None or score < best[0]:
                    best = (score, (dx, dy, bool(far)), box)
        out.append(best[1])
        taken.append(best[2])
    return out


def _label_annotation(fig, x: float, y: float, text: str, offset: tuple[float, float, bool], radius: float,
                      char_px: float = 6.2, line_colour: str = "#888888", **style) -> None:
    """A label at a `label_offsets` offset from (x, y), on a leader line if it is far out. A label beside its
    point is anchored by its near edge, so the gap to the point holds however wide the text really is."""
    dx, dy, leader = offset
    half = (len(text) * char_px + 6) / 2
    side = "center" if abs(dx) < 1e-9 else "left" if dx > 0 else "right"
    tail = {"center": dx, "left": dx - half, "right": dx + half}[side]
    fig.add_annotation(x=x, y=y, text=text, ax=tail, ay=-dy, axref="pixel", ayref="pixel", showarrow=True, arrowhead=0,
                       arrowwidth=1, arrowcolor=line_colour if leader else "rgba(0,0,0,0)", standoff=radius,
                       xanchor=side, yanchor="middle", **style)


def rate_distortion_plot(points: list, selected: str | None = None, levels: list[float] | None = None,
                         height: int = 520):
    """Distortion against rate for `explorer.rate_distortion.RDPoint`s, with dashed iso-ELBO lines R + D = c.

    Each point is labelled with its model and beta, the labels kept clear of each other, of the
    markers and of the lines' own labels (`label_offsets`); the `selected` model's point is ringed.
    """
    import plotly.graph_objects as go

    fig = go.Figure()
    if not points:
        fig.update_layout(height=height, xaxis_title=_("rate  R = KL (nats)"), yaxis_title=_("distortion  D (nats)"))
        return fig
    rates = np.array([p.rate for p in points])
    dists = np.array([p.distortion for p in points])
    x_hi = float(rates.max()) * 1.25 + 1.0
    x_lo = -0.03 * x_hi  # a little room, so a collapsed model's marker at R = 0 is not cut in half
    pad = max(0.08 * float(dists.max() - dists.min()), 2.0)
    y_lo, y_hi = float(dists.min()) - pad, float(dists.max()) + pad
    width_px, height_px = 440, height - 80  # a guess at the plot area (the page's column decides), erring narrow
    sx, sy = width_px / (x_hi - x_lo), height_px / (y_hi - y_lo)
    iso_labels = []  # their boxes (x0, x1, y0, y1), which the points' labels keep clear of
    for c in levels or []:
        # The line R + D = c, clipped to the visible box (x in [0, x_hi], y in [y_lo, y_hi]).
        x0, x1 = max(0.0, c - y_hi), min(x_hi, c - y_lo)
        if x1 <= x0:
            continue
        fig.add_trace(go.Scatter(x=[x0, x1], y=[c - x0, c - x1], mode="lines", hoverinfo="skip", showlegend=False,
                                 line=dict(color="rgba(120,120,120,0.55)", width=1, dash="dash")))
        # Labelled where the line leaves the box: in the right margin, or just above the bottom edge.
        text, w = f"−ELBO = {c:g}", (len(f"−ELBO = {c:g}") * 6.2 + 6) / sx
        if x1 >= x_hi:
            fig.add_annotation(x=x1, y=c - x1, text=text, showarrow=False, xanchor="left", xshift=3,
                               font=dict(size=11, color="#888888"))
            iso_labels.append((x1, x1 + w + 3 / sx, c - x1 - 8 / sy, c - x1 + 8 / sy))
        else:
            fig.add_annotation(x=x1, y=c - x1, text=text, showarrow=False, xanchor="left",
                               yanchor="bottom", xshift=3, font=dict(size=11, color="#888888"))
            iso_labels.append((x1, x1 + w + 3 / sx, c - x1, c - x1 + 16 / sy))
    texts = [f"{p.name} · β={p.beta:g}" for p in points]
    radii = [12.0 if p.name == selected else 7.0 for p in points]  # the selected point wears a ring
    offsets = label_offsets(rates, dists, texts, (x_lo, x_hi), (y_lo, y_hi), width_px, height_px, radii=radii,
                            obstacles=iso_labels)
    for p, text, offset, radius in zip(points, texts, offsets, radii):
        _label_annotation(fig, p.rate, p.distortion, text, offset, radius, font=dict(size=11, color="#333333"),
                          bgcolor="rgba(255,255,255,0.75)", borderpad=1)
    for source, (symbol, colour, legend) in _SOURCE_STYLE.items():
        group = [p for p in points if p.source == source]
        if not group:
            continue
        fig.add_trace(go.Scatter(
            x=[p.rate for p in group], y=[p.distortion for p in group], mode="markers", name=_(legend),
            text=[f"{p.name} · β={p.beta:g}" for p in group],
            customdata=[[p.beta, p.neg_elbo, p.latent_dim] for p in group],
            marker=dict(symbol=symbol, size=11, color=colour, line=dict(width=1, color="#ffffff")),
            hovertemplate=_("%{text}<br>rate %{x:.2f} nats<br>distortion %{y:.2f} nats<br>−ELBO %{customdata[1]:.2f}"
                            "<br>z = %{customdata[2]}<extra></extra>"),
        ))
    chosen = [p for p in points if p.name == selected]
    if chosen:
        fig.add_trace(go.Scatter(x=[chosen[0].rate], y=[chosen[0].distortion], mode="markers", name=_("selected model"),
                                 marker=dict(size=19, color="rgba(0,0,0,0)", line=dict(width=2.5, color="#e15759")),
                                 hoverinfo="skip"))
    fig.update_layout(height=height, margin=dict(l=10, r=85, t=10, b=10), legend=dict(orientation="h", y=-0.15),
                      xaxis=dict(title=_("rate  R = KL(q(z|x) ‖ p(z))  (nats per image)"), range=[x_lo, x_hi]),
                      yaxis=dict(title=_("distortion  D = −log p(x|z)  (nats per image)"), range=[y_lo, y_hi]))
    return fig


def latent_usage_bars(usage, title: str = "", height: int = 320):
    """Bar per latent dimension: its mean KL (nats), coloured by whether it is an active unit."""
    import plotly.graph_objects as go

    dims = dimension_names(usage.latent_dim)  # z₁, z₂, ...: counted from 1 on every page
    colours = ["#4e79a7" if a else "#bab0ac" for a in usage.active]
    status = [_("active") if a else _("inactive (collapsed)") for a in usage.active]
    fig = go.Figure(go.Bar(
        x=dims, y=usage.kl, marker_color=colours, customdata=np.stack([usage.mu_variance, usage.kl], 1),
        hovertext=status, text=["" if a else _("off") for a in usage.active], textposition="outside",
        textfont=dict(size=10, color="#888888"), cliponaxis=False,  # a collapsed bar is invisible: say so
        hovertemplate=_("%{x}: KL %{y:.3f} nats<br>Var(μ) %{customdata[0]:.4f}<br>%{hovertext}<extra></extra>"),
    ))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10), title=title or None,
                      xaxis_title=_("latent dimension"), yaxis_title=_("mean KL to N(0, 1) (nats)"), bargap=0.25,
                      showlegend=False)
    return fig


def kl_estimates_histogram(estimates: np.ndarray, analytic: float | None, n_samples: int, height: int = 320):
    """Histogram of repeated n-sample KL estimates, with the closed form and their mean as lines."""
    import plotly.graph_objects as go

    fig = go.Figure(go.Histogram(x=estimates, nbinsx=40, marker_color="#76b7b2", name=_("MC estimates"),
                                 hovertemplate=_("%{x:.3f} nats: %{y} estimates<extra></extra>")))
    # Vertical lines as shapes; empty traces of the same style give them legend entries.
    lines = [(_("mean of the estimates"), float(np.mean(estimates)), dict(color="#4e79a7", width=2))]
    if analytic is not None:
        lines.append((_("closed form"), analytic, dict(color="#e15759", width=2, dash="dash")))
    for name, x, style in lines:
        fig.add_vline(x=x, line=style)
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", line=style, name=name))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), bargap=0.05,
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0),
                      xaxis_title=ngettext("KL estimate with n = {n} sample (nats)", "KL estimate with n = {n} samples (nats)",
                                           n_samples).format(n=n_samples),
                      yaxis_title=_("repeats"))
    return fig


def kl_error_loglog(curves: dict, height: int = 340):
    """Log-log plot of the MC estimate's RMS error against n, one line per `KLErrorCurve` in
    `curves` (name -> curve), each beside its theory line sigma_1 / sqrt(n)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for i, (name, curve) in enumerate(curves.items()):
        colour = ("#e15759", "#4e79a7", "#59a14f")[i % 3]
        fig.add_trace(go.Scatter(x=curve.n, y=curve.theory(), mode="lines", name=_("{name}: σ₁ / √n (theory)").format(name=name),
                                 line=dict(color=colour, width=1.5, dash="dash"), opacity=0.6))
        fig.add_trace(go.Scatter(x=curve.n, y=curve.rmse, mode="lines+markers", name=_("{name}: measured").format(name=name),
                                 line=dict(color=colour), marker=dict(size=7),
                                 hovertemplate=_("n = %{x}<br>RMS error %{y:.4f} nats<extra></extra>")))
    ns = sorted({int(n) for c in curves.values() for n in c.n})
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), legend=dict(orientation="h", y=-0.25),
                      xaxis=dict(type="log", title=_("samples n"), tickvals=ns),
                      yaxis=dict(type="log", title=_("RMS error (nats)"), dtick=1))
    return fig


def iwae_vs_k(ks: list[int], series: dict[str, np.ndarray], elbo: dict[str, float] | None = None,
              reference: float | None = None, reference_label: str = "", height: int = 360,
              y_title: str | None = None):
    """Importance-weighted bound against k (log axis), one line per series, the ELBO's as dotted lines.

    series: name -> (len(ks),) estimates in nats (the app plots -L_k, an upper bound on -log p(x)
    that falls with k); elbo: name -> the matching ELBO value; reference: an optional horizontal
    line (e.g. the model card's k = 1000 value); y_title: the y axis's title (default: −log p(x) in nats).
    """
    import plotly.graph_objects as go

    y_title = y_title if y_title is not None else _("−log p(x) estimate (nats per image)")

    fig = go.Figure()
    for i, (name, values) in enumerate(series.items()):
        colour = CLASS_COLOURS[i % len(CLASS_COLOURS)]
        fig.add_trace(go.Scatter(x=ks, y=values, mode="lines+markers", name=f"{name}: IWAE", marker=dict(size=8),
                                 line=dict(color=colour), hovertemplate=_("k = %{x}<br>%{y:.2f} nats<extra></extra>")))
        if elbo and name in elbo:
            fig.add_trace(go.Scatter(x=[ks[0], ks[-1]], y=[elbo[name]] * 2, mode="lines", name=f"{name}: ELBO",
                                     line=dict(color=colour, dash="dot"),
                                     hovertemplate=_("ELBO %{y:.2f} nats<extra></extra>")))
    if reference is not None:
        fig.add_hline(y=reference, line=dict(color="#9c755f", dash="dash", width=1),
                      annotation_text=reference_label, annotation_position="bottom right")
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), legend=dict(orientation="h", y=-0.25),
                      xaxis=dict(type="log", title=_("importance samples k"), tickvals=list(ks)),
                      yaxis_title=y_title)
    return fig


# --- Anomalies, clusters and the 2-D toy VAE (explorer.anomaly, explorer.clusters, explorer.toy) -----------------------------

# Up to 20 clusters, in Kelly's (1965) colours of maximum contrast (without his white and black): unlike the
# digits' Tableau 10, so that nobody reads cluster 3 as "the 3s".
CLUSTER_COLOURS = ["#f3c300", "#875692", "#f38400", "#a1caf1", "#be0032", "#c2b280", "#848482", "#008856", "#e68fac",
                   "#0067a5", "#f99379", "#604e97", "#f6a600", "#b3446c", "#dcd300", "#882d17", "#8db600", "#654522",
                   "#e25822", "#2b3d26"]
GROUP_COLOURS = ["#4e79a7", "#e15759", "#f28e2b", "#b07aa1", "#59a14f", "#9c755f"]


def log_ticks(lo: float, hi: float) -> list[float]:
    """Tick values for a log axis from lo to hi (> 0): 1, 2 and 5 times the powers of ten, or every digit times
    them when that leaves fewer than three, or round numbers evenly apart on a narrow range. (Plotly's own
    labels write the digits between two powers as bare "2 3 4".)"""
    if not 0 < lo <= hi:
        raise ValueError(f"log_ticks needs 0 < lo <= hi, got {lo}, {hi}")
    if hi < lo * 1.0001:
        return [lo]
    powers = range(int(np.floor(np.log10(lo))), int(np.ceil(np.log10(hi))) + 1)
    for mantissas in ((1, 2, 5), range(1, 10)):
        ticks = [float(m * 10.0**p) for p in powers for m in mantissas if lo <= m * 10.0**p <= hi]
        if len(ticks) >= 3:
            return ticks
    # Less than a factor of 2 wide: evenly spaced round numbers, 1, 2 or 5 times a power of ten apart.
    rough = (hi - lo) / 4
    step = min((m * 10.0**np.floor(np.log10(rough)) for m in (1, 2, 5, 10)), key=lambda v: abs(np.log(v / rough)))
    digits = max(0, -int(np.floor(np.log10(step))))
    return [round(float(v), digits) for v in np.arange(np.ceil(lo / step) * step, hi + step * 1e-9, step)]


def score_histogram(groups: dict[str, np.ndarray], threshold: float | None = None,
                    markers: dict[str, float] | None = None, log_x: bool = True, bins: int = 60, height: int = 380):
    """Overlaid histograms of anomaly scores, one outline per group, each normalised to its own size.

    Bins are shared (log-spaced when `log_x`, since noise can score 20 times a normal image), drawn as
    filled step lines so they work on a log axis. `threshold` is a dashed vertical line; `markers`
    map a name (an uploaded image) to a score drawn as a labelled vertical line.
    """
    import plotly.graph_objects as go

    values = [np.asarray(v, dtype=np.float64) for v in groups.values() if len(v)]
    every = np.concatenate(values + [np.asarray(list((markers or {}).values()), dtype=np.float64)])
    lo, hi = float(every.min()), float(every.max())
    log_x = log_x and lo > 0
    hi = hi if hi > lo else lo + 1.0
    edges = np.geomspace(lo, hi * 1.0001, bins + 1) if log_x else np.linspace(lo, hi + 1e-9, bins + 1)
    fig = go.Figure()
    for i, (name, scores) in enumerate(groups.items()):
        scores = np.asarray(scores, dtype=np.float64)
        if not len(scores):
            continue
        counts, _edges = np.histogram(scores, edges)
        share = counts / len(scores)
        colour = GROUP_COLOURS[i % len(GROUP_COLOURS)]
        fig.add_trace(go.Scatter(
            x=np.r_[edges[0], edges], y=np.r_[0.0, share, 0.0], mode="lines", line=dict(shape="hv", color=colour, width=1.5),
            fill="tozeroy", opacity=0.5, name=f"{name} ({len(scores):,})",
            hovertemplate=_("{name}<br>score ≥ %{{x:.1f}} nats<br>%{{y:.1%}} of the group<extra></extra>").format(name=name),
        ))
    # Vertical lines as traces, not layout shapes: shapes on a log axis take log10 coordinates.
    top = 1.08 * max((float(t.y.max()) for t in fig.data), default=1.0)
    lines = ([(_("threshold"), threshold, dict(color="#111111", dash="dash", width=2))] if threshold is not None else [])
    lines += [(f"★ {name}", score, dict(color="#2e7d32", width=3)) for name, score in (markers or {}).items()]
    for name, x, line in lines:
        fig.add_trace(go.Scatter(x=[x, x], y=[0.0, top], mode="lines+text", text=["", name], textposition="top center",
                                 textfont=dict(color=line["color"]), line=line, name=name, showlegend=False,
                                 hovertemplate=_("{name}: %{{x:.1f}} nats<extra></extra>").format(name=name)))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h", y=-0.22),
                      xaxis=dict(type="log" if log_x else "linear",
                                 title=_("anomaly score: −ELBO in nats (higher = less typical)")),
                      yaxis=dict(title=_("share of the group"), tickformat=".0%"))
    if log_x:  # every tick a whole number of nats
        ticks = log_ticks(float(edges[0]), float(edges[-1]))
        fig.update_xaxes(tickvals=ticks, ticktext=[f"{t:,g}" if t < 1e6 else f"{t:.0e}" for t in ticks])
    return fig


def cluster_scatter(coords: np.ndarray, clusters: np.ndarray, centres: np.ndarray | None = None,
                    labels: np.ndarray | None = None, class_names: list[str] | None = None, rows: np.ndarray | None = None,
                    axis_titles: tuple[str, str] = ("z₁", "z₂"), height: int = 560):
    """WebGL scatter of 2-D codes coloured by cluster (`CLUSTER_COLOURS`, not the digits' colours), with each
    cluster's centre as a numbered ✕ on top.

    The clusters interleave like the classes of `latent_scatter`; `labels`/`class_names` only add
    the true label to the hover text; `rows` go to customdata.
    """
    class_names = class_labels(class_names) if class_names is not None else None
    import plotly.graph_objects as go

    coords = np.asarray(coords)
    rows = np.arange(len(coords)) if rows is None else np.asarray(rows)
    fig = go.Figure()
    in_legend = set()
    for c, idx in interleaved_chunks(clusters):
        colour = CLUSTER_COLOURS[int(c) % len(CLUSTER_COLOURS)]
        if labels is not None and class_names is not None:
            text = [class_names[int(v)] for v in labels[idx]]
            hover = _("cluster {c}<br>label %{{text}}<br>row %{{customdata}}<extra></extra>").format(c=c)
        else:
            text, hover = None, _("cluster {c}<br>row %{{customdata}}<extra></extra>").format(c=c)
        fig.add_trace(go.Scattergl(x=coords[idx, 0], y=coords[idx, 1], mode="markers", name=_("cluster {c}").format(c=c),
                                   legendgroup=f"cluster {c}", showlegend=c not in in_legend, legendrank=int(c),
                                   customdata=rows[idx], text=text, hovertemplate=hover,
                                   marker=dict(size=POINT_SIZE, opacity=POINT_OPACITY, color=colour)))
        in_legend.add(c)
    if centres is not None:
        fig.add_trace(go.Scattergl(  # WebGL, so the markers draw over the points
            x=centres[:, 0], y=centres[:, 1], mode="markers", text=[str(i) for i in range(len(centres))], name=_("centres"),
            marker=dict(symbol="x", size=14, color="#111111", line=dict(width=1.5, color="#ffffff")),
            hovertemplate=_("centre of cluster %{text}<extra></extra>"),
        ))
        add_boxed_labels(fig, centres, [str(i) for i in range(len(centres))], coords if len(coords) else centres,
                         height, radius=9)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), xaxis_title=axis_titles[0],
                      yaxis_title=axis_titles[1], dragmode="pan", legend=MAP_LEGEND | dict(title=_("cluster")))
    _equal_axes(fig)
    return fig


def contingency_heatmap(table: np.ndarray, class_names: list[str], height: int = 380):
    """Counts of true labels (columns) per cluster (rows), with each cell's count written in it."""
    class_names = class_labels(class_names)  # Fashion-MNIST's names in the reader's language
    import plotly.graph_objects as go

    k, n_classes = table.shape
    share = table / np.maximum(table.sum(1, keepdims=True), 1)
    fig = go.Figure(go.Heatmap(
        z=share, x=[str(c) for c in class_names[:n_classes]], y=[_("cluster {c}").format(c=i) for i in range(k)],
        text=table, texttemplate="%{text}", colorscale="Blues", zmin=0, zmax=1,
        colorbar=dict(title=_("share"), tickformat=".0%"),
        hovertemplate=_("%{y}, label %{x}: %{text} images (%{z:.0%} of the cluster)<extra></extra>"),
    ))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10),
                      xaxis=dict(title=_("true label"), type="category"), yaxis=dict(autorange="reversed", type="category"))
    return fig


def toy_panels(points: np.ndarray, labels: np.ndarray, recon: np.ndarray, mu: np.ndarray, std: np.ndarray,
               samples: np.ndarray | None = None, grid_z: np.ndarray | None = None, grid_x: np.ndarray | None = None,
               height: int = 430):
    """Three panels for a 2-D toy VAE: the data, its reconstructions, and the codes μ.

    Points share their colour (`labels`) across panels. For a 1-D latent the code panel plots μ
    against the posterior std σ. `samples` (decoded prior draws) join the reconstruction panel
    in grey; `grid_z` (L, P, D) lines in latent space and their decoded images `grid_x` (L, P, 2)
    are drawn in the code and reconstruction panels.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    d = mu.shape[1]
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.06, subplot_titles=(
        _("Data x"), _("Reconstructions<br>(decoder mean at z = μ)"),
        _("Codes μ of q(z|x)") if d == 2 else _("Codes: μ and σ<br>of q(z|x)")))
    colours = [CLASS_COLOURS[int(v) % len(CLASS_COLOURS)] for v in labels]
    idx = np.arange(len(points))
    if samples is not None:
        fig.add_trace(go.Scattergl(x=samples[:, 0], y=samples[:, 1], mode="markers", name=_("generated: decoded z ~ N(0, I)"),
                                   marker=dict(size=4, color="rgba(120,120,120,0.45)"), hoverinfo="skip"), row=1, col=2)
    if grid_x is not None:
        for i, line in enumerate(grid_x):
            fig.add_trace(go.Scatter(x=line[:, 0], y=line[:, 1], mode="lines", line=dict(color="rgba(40,40,40,0.55)", width=1.2),
                                     name=_("decoded latent grid"), legendgroup="grid", showlegend=i == 0, hoverinfo="skip"),
                          row=1, col=2)
    hover = _("point %{customdata}<br>(%{x:.2f}, %{y:.2f})<extra></extra>")
    fig.add_trace(go.Scattergl(x=points[:, 0], y=points[:, 1], mode="markers", marker=dict(size=5, color=colours, opacity=0.8),
                               customdata=idx, hovertemplate=hover, showlegend=False), row=1, col=1)
    fig.add_trace(go.Scattergl(x=recon[:, 0], y=recon[:, 1], mode="markers", marker=dict(size=5, color=colours, opacity=0.8),
                               customdata=idx, hovertemplate=hover, showlegend=False), row=1, col=2)
    if d == 2:
        if grid_z is not None:
            for line in grid_z:
                fig.add_trace(go.Scatter(x=line[:, 0], y=line[:, 1], mode="lines", line=dict(color="rgba(40,40,40,0.35)", width=1),
                                         legendgroup="grid", showlegend=False, hoverinfo="skip"), row=1, col=3)
        fig.add_trace(go.Scattergl(x=mu[:, 0], y=mu[:, 1], mode="markers", marker=dict(size=5, color=colours, opacity=0.8),
                                   customdata=idx, hovertemplate=_("point %{customdata}<br>μ = (%{x:.2f}, %{y:.2f})<extra></extra>"),
                                   showlegend=False), row=1, col=3)
        fig.update_xaxes(title_text="μ₁", range=[-3.2, 3.2], row=1, col=3)
        fig.update_yaxes(title_text="μ₂", range=[-3.2, 3.2], scaleanchor="x3", scaleratio=1, row=1, col=3)
    else:
        fig.add_trace(go.Scattergl(x=mu[:, 0], y=std[:, 0], mode="markers", marker=dict(size=5, color=colours, opacity=0.8),
                                   customdata=idx, hovertemplate=_("point %{customdata}<br>μ = %{x:.2f}, σ = %{y:.3f}<extra></extra>"),
                                   showlegend=False), row=1, col=3)
        fig.update_xaxes(title_text="μ", range=[-3.2, 3.2], row=1, col=3)
        fig.update_yaxes(title_text=_("σ (1 = as vague as the prior)"), type="log", row=1, col=3)
    # The data and reconstruction panels share their axes, so a point and its reconstruction line up.
    fig.update_xaxes(matches="x", row=1, col=2)
    fig.update_yaxes(matches="y", row=1, col=2)
    fig.update_yaxes(scaleanchor="x", scaleratio=1, row=1, col=1)
    # two-line titles fit a third of a 1024-pixel projector; the top margin keeps them clear of the toolbar
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=70, b=10), legend=dict(orientation="h", y=-0.15),
                      dragmode="pan")
    return fig


def ellipse_points(mu: np.ndarray, std: np.ndarray, n: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Outline of each 1-sigma posterior ellipse in 2-D: x, y arrays with NaN between ellipses (for one plot trace)."""
    t = np.linspace(0, 2 * np.pi, n)
    xs = mu[:, :1] + std[:, :1] * np.cos(t)  # (N, n)
    ys = mu[:, 1:2] + std[:, 1:2] * np.sin(t)
    gap = np.full((len(mu), 1), np.nan)
    return np.hstack([xs, gap]).ravel(), np.hstack([ys, gap]).ravel()


# Score function in red, pathwise (reparameterised) in blue, on the gradient-estimator figures.
ESTIMATOR_COLOURS = {N_("score function"): "#e15759", N_("pathwise (reparameterised)"): "#4e79a7"}


def gradient_spread_loglog(spread, component: int, name: str, height: int = 380):
    """Log-log plot of each gradient estimator's spread (std over repeats) against the samples n, for
    the gradient component `component` (called `name`) of a `gradients.GradientSpread`, beside the
    theory lines sigma_1 / sqrt(n)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    rows = {"score function": (spread.score_std, spread.score_sigma_1),
            "pathwise (reparameterised)": (spread.pathwise_std, spread.pathwise_sigma_1)}
    for label, (std, sigma_1) in rows.items():
        colour = ESTIMATOR_COLOURS[label]
        fig.add_trace(go.Scatter(x=spread.n, y=sigma_1[component] / np.sqrt(spread.n), mode="lines",
                                 line=dict(color=colour, width=1.5, dash="dash"), opacity=0.6, showlegend=False,
                                 hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=spread.n, y=std[:, component], mode="lines+markers", name=_(label),
                                 line=dict(color=colour, width=3), marker=dict(size=9), customdata=spread.repeats,
                                 hovertemplate=_("{estimator}<br>n = %{{x}}<br>spread %{{y:.4g}}"
                                                 "<br>(over %{{customdata}} repeats)<extra></extra>").format(estimator=_(label))))
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", line=dict(color="grey", dash="dash"),
                             name=_("σ₁ / √n (theory)")))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), font=dict(size=15),
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0),
                      xaxis=dict(type="log", title=_("samples n per estimate"), tickvals=list(spread.n)),
                      yaxis=dict(type="log", title=_("spread of ∂ELBO/∂{name} (std)").format(name=name), dtick=1))
    return fig


def gradient_estimates_histogram(score: np.ndarray, pathwise: np.ndarray, reference: float, reference_label: str,
                                 n_samples: int, name: str, height: int = 420):
    """Histograms of repeated n-sample estimates of one gradient component by both estimators, with the
    reference value (exact, or from many draws) dashed. Top: both on the same bins, so the scales compare
    (the pathwise estimates may all fall in one bar); bottom: the pathwise ones zoomed in, on their own bins."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=2, cols=1, row_heights=[0.62, 0.38], vertical_spacing=0.2, subplot_titles=(
        _("both estimators, same bins"), _("pathwise alone, zoomed in")))
    pathwise_label = "pathwise (reparameterised)"
    for label, values in (("score function", score), (pathwise_label, pathwise)):
        fig.add_trace(go.Histogram(x=values, nbinsx=40, name=_(label), marker_color=ESTIMATOR_COLOURS[label], opacity=0.75,
                                   bingroup="same", hovertemplate=_("{estimator}<br>%{{x:.4g}}: %{{y}} estimates<extra></extra>")
                                   .format(estimator=_(label))),
                      row=1, col=1)
    fig.add_trace(go.Histogram(x=pathwise, nbinsx=30, marker_color=ESTIMATOR_COLOURS[pathwise_label], opacity=0.75,
                               showlegend=False, hovertemplate=_("%{x:.4g}: %{y} estimates<extra></extra>")), row=2, col=1)
    style = dict(color="#222", width=2, dash="dash")
    for row in (1, 2):
        fig.add_vline(x=reference, line=style, row=row, col=1)
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", line=style, name=reference_label))
    fig.update_annotations(font_size=14)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=50, b=10), barmode="overlay", font=dict(size=15),
                      legend=dict(orientation="h", yanchor="bottom", y=1.08, x=0))
    fig.update_xaxes(title_text=ngettext("estimate of ∂/∂{name} with n = {n} sample", "estimate of ∂/∂{name} with n = {n} samples",
                                         n_samples).format(name=name, n=n_samples), row=2, col=1)
    fig.update_yaxes(title_text=_("repeats"), row=1, col=1)
    return fig


def add_prior_circles(fig, axis_range: tuple[float, float], radii: tuple[float, ...] = (1.0, 2.0)):
    """Solid (1σ) and dotted (2σ) circles of the prior N(0, I)'s contours on a 2-D latent scatter, and both axes
    fixed to `axis_range`, so maps of different models compare at a glance."""
    import plotly.graph_objects as go

    t = np.linspace(0, 2 * np.pi, 121)
    for r in radii:
        # WebGL like the codes, so the circles draw on top of them rather than under.
        fig.add_trace(go.Scattergl(x=r * np.cos(t), y=r * np.sin(t), mode="lines", name=_("prior {r:g}σ").format(r=r),
                                 line=dict(color="#111111", width=1.5, dash="solid" if r == 1 else "dot"),
                                 hoverinfo="skip", showlegend=False))
    # constrain="domain": keep exactly these ranges and shrink the plot area to hold the aspect ratio.
    fig.update_xaxes(range=list(axis_range), constrain="domain")
    fig.update_yaxes(range=list(axis_range), constrain="domain")
    return fig
