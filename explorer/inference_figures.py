"""Plotly figures of the "Inference for one image" page (explorer.inference), built from NumPy arrays.

- `latent_plane`: for a 2-D model, the optimiser's path over the test codes (left) and a close-up of
  the true posterior p(z|x) with the encoder's and the optimised Gaussian's 1-sigma ellipses (right),
  both at one step of the run;
- `elbo_curve`: the optimised Gaussian's ELBO against the step, with the encoder's ELBO and log p(x);
- `gap_bars`: each model's mean approximation and amortisation gaps, stacked.

plotly is imported lazily, as in explorer.figures.
"""

from __future__ import annotations

import numpy as np

from .figures import ellipse_points
from .i18n import _
from .inference import START_NAMES, Amortised, GapRow, GridPosterior, Run, hpd_mass

ENCODER = "#f28e2b"  # the amortised q(z|x)
OPTIMISED = "#4e79a7"  # the per-image Gaussian
POSTERIOR = "Greys"  # the true posterior's filled contours
HPD_LEVELS = dict(start=0.1, end=0.9, size=0.2)  # 10 %, 30 %, ..., 90 % highest-density regions


def _ellipse(mu: np.ndarray, std: np.ndarray, k: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    return ellipse_points(mu[None, :2], k * std[None, :2], n=80)


def _box(points: list[np.ndarray], pad: float = 0.08) -> tuple[list[float], list[float]]:
    """Equal-aspect-friendly x and y ranges holding every (N, 2) array in `points`, padded."""
    p = np.concatenate([np.asarray(a, dtype=float).reshape(-1, 2) for a in points])
    p = p[np.isfinite(p).all(1)]
    lo, hi = p.min(0), p.max(0)
    span = max(float((hi - lo).max()), 1e-3) * (1 + 2 * pad)
    mid = (lo + hi) / 2
    return [mid[0] - span / 2, mid[0] + span / 2], [mid[1] - span / 2, mid[1] + span / 2]


def latent_plane(enc: Amortised, run: Run | None, grid: GridPosterior, step: int,
                 background: np.ndarray | None = None, height: int = 520):
    """Two panels of the latent plane at `step` of `run` (None: before any run)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.08,
                        subplot_titles=(_("The optimiser's path"), _("Close-up: p(z|x) and the Gaussians")))
    i = None if run is None else run.index(step)

    # Left: the test codes for orientation, the path so far, the close-up's window.
    if background is not None and len(background):
        fig.add_trace(go.Scattergl(x=background[:, 0], y=background[:, 1], mode="markers", name=_("test codes (encoder μ)"),
                                   marker=dict(size=3, color="rgba(120,120,120,0.25)"), hoverinfo="skip"), 1, 1)
    left = [enc.mu[None, :2], np.array([[grid.axis1[0], grid.axis2[0]], [grid.axis1[-1], grid.axis2[-1]]])]
    mass = hpd_mass(grid.log_density)
    z1, z2 = np.meshgrid(grid.axis1, grid.axis2, indexing="ij")
    inner = mass <= 0.999  # the close-up frames the posterior's 99.9 % region and both Gaussians' 2-sigma ellipses
    right = [np.column_stack([z1[inner], z2[inner]]), np.column_stack(_ellipse(enc.mu, enc.std, 2.0))]
    for col in (1, 2):
        ex, ey = _ellipse(enc.mu, enc.std)
        fig.add_trace(go.Scatter(x=ex, y=ey, mode="lines", line=dict(color=ENCODER, width=2.5),
                                 name=_("encoder q(z|x), 1σ"),
                                 legendgroup="enc", showlegend=col == 2, hoverinfo="skip"), 1, col)
        fig.add_trace(go.Scatter(x=[enc.mu[0]], y=[enc.mu[1]], mode="markers", legendgroup="enc", showlegend=False,
                                 marker=dict(symbol="x", size=11, color=ENCODER),
                                 hovertemplate=_("encoder μ (%{x:.3f}, %{y:.3f})") + "<extra></extra>"), 1, col)
    # Right: the true posterior as highest-density regions.
    fig.add_trace(go.Contour(x=grid.axis1, y=grid.axis2, z=mass.T, contours=HPD_LEVELS,
                             colorscale=POSTERIOR, reversescale=True, showscale=False, opacity=0.7,
                             line=dict(width=1), name=_("p(z|x): {levels} regions").format(levels="10–90 %"), showlegend=True,
                             hovertemplate=_("(%{x:.3f}, %{y:.3f})<br>inside the %{z:.0%} region") + "<extra></extra>"),
                  1, 2)
    if run is not None:
        path = run.mu[: i + 1, :2]
        start = _(START_NAMES[run.start])
        at_step = int(run.steps[i])
        for col in (1, 2):
            fig.add_trace(go.Scatter(x=run.mu[:, 0], y=run.mu[:, 1], mode="lines", showlegend=False, hoverinfo="skip",
                                     line=dict(color=OPTIMISED, width=1, dash="dot")), 1, col)
            fig.add_trace(go.Scatter(x=path[:, 0], y=path[:, 1], mode="lines",
                                     name=_("μ path (from {start})").format(start=start),
                                     line=dict(color=OPTIMISED, width=2), legendgroup="path", showlegend=col == 2,
                                     hoverinfo="skip"), 1, col)
            ox, oy = _ellipse(run.mu[i], run.std[i])
            fig.add_trace(go.Scatter(x=ox, y=oy, mode="lines", line=dict(color=OPTIMISED, width=2.5),
                                     name=_("optimised q at step {step}, 1σ").format(step=at_step), legendgroup="opt",
                                     showlegend=col == 2, hoverinfo="skip"), 1, col)
            marker = dict(size=10, color=OPTIMISED, line=dict(width=1.5, color="white"))
            fig.add_trace(go.Scatter(x=[run.mu[i, 0]], y=[run.mu[i, 1]], mode="markers", legendgroup="opt",
                                     showlegend=False, marker=marker,
                                     hovertemplate=_("step {step}: μ (%{{x:.3f}}, %{{y:.3f}})").format(step=at_step)
                                     + "<extra></extra>"),
                          1, col)
        left += [run.mu[:, :2]]
        right += [np.column_stack(_ellipse(run.mu[-1], run.std[-1], 2.0))]
    xr, yr = _box(left, pad=0.15)
    fig.update_xaxes(range=xr, title_text="z₁", row=1, col=1)
    fig.update_yaxes(range=yr, title_text="z₂", scaleanchor="x", scaleratio=1, row=1, col=1)
    xr, yr = _box(right, pad=0.05)
    fig.add_shape(type="rect", x0=xr[0], y0=yr[0], x1=xr[1], y1=yr[1], line=dict(color="#222", width=1, dash="dot"),
                  row=1, col=1)
    fig.update_xaxes(range=xr, title_text="z₁", row=1, col=2)
    fig.update_yaxes(range=yr, scaleanchor="x2", scaleratio=1, row=1, col=2)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=10), dragmode="pan",
                      legend=dict(orientation="h", yanchor="top", y=-0.12, x=0), uirevision="plane")
    return fig


def elbo_curve(run: Run, encoder_elbo: float, log_px: float | None, step: int | None = None, height: int = 340):
    """The run's ELBO (same eps at every step) against the step, beside the encoder's ELBO and log p(x).

    The y-axis starts near the encoder's ELBO (the first steps from the prior can be thousands of
    nats lower); double-click the plot for the whole curve.
    """
    import plotly.graph_objects as go

    fig = go.Figure(go.Scatter(x=run.steps, y=run.elbo, mode="lines",
                               name=_("optimised q (from {start})").format(start=_(START_NAMES[run.start])),
                               line=dict(color=OPTIMISED, width=2.5),
                               hovertemplate=_("step %{x}<br>ELBO %{y:.2f} nats") + "<extra></extra>"))
    lines = [(_("encoder q(z|x)"), encoder_elbo, dict(color=ENCODER, width=2, dash="dash"))]
    if log_px is not None:
        lines.append(("log p(x)", log_px, dict(color="#222", width=1.5, dash="dot")))
    for name, y, style in lines:
        fig.add_trace(go.Scatter(x=[run.steps[0], run.steps[-1]], y=[y, y], mode="lines", name=f"{name}: {y:.2f}",
                                 line=style, hovertemplate=_("{name} %{{y:.2f}} nats").format(name=name)
                                 + "<extra></extra>"))
    if step is not None:
        fig.add_vline(x=step, line=dict(color="#888", width=1))
    top = max([float(run.elbo.max()), encoder_elbo] + ([log_px] if log_px is not None else []))
    bottom = min(encoder_elbo, float(run.elbo[-1]))
    span = max(top - bottom, 2.0)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), legend=dict(orientation="h", y=-0.22),
                      xaxis_title=_("optimiser step"), yaxis_title=_("ELBO (nats)"), uirevision="curve",
                      yaxis=dict(range=[bottom - 1.5 * span, top + 0.4 * span]))
    return fig


def gap_bars(rows: list[GapRow], height: int | None = None):
    """One bar per model, the total gap log p(x) - ELBO(encoder) split into its approximation and amortisation
    parts, as shares of the total (the models' totals differ a hundredfold); the nats are on the bars and labels."""
    import plotly.graph_objects as go

    names = [_("{model} ({gap:.2f} nats)").format(model=r.model, gap=r.total_gap) for r in rows]
    totals = [max(r.total_gap, 1e-9) for r in rows]
    fig = go.Figure()
    for name, values, colour in ((_("approximation gap"), [r.approximation_gap for r in rows], "#76b7b2"),
                                 (_("amortisation gap"), [r.amortisation_gap for r in rows], ENCODER)):
        fig.add_trace(go.Bar(y=names, x=[100 * v / t for v, t in zip(values, totals)], orientation="h", name=name,
                             marker_color=colour, text=[f"{v:.2f}" if v > 0.07 * t else "" for v, t in zip(values, totals)],
                             textposition="inside", textangle=0, insidetextanchor="middle", customdata=values,
                             hovertemplate="%{y}<br>" + _("{name} %{{customdata:.2f}} nats (%{{x:.0f}} %)").format(name=name)
                             + "<extra></extra>"))
    fig.update_layout(barmode="relative", height=height or 110 + 34 * len(rows), margin=dict(l=10, r=10, t=10, b=10),
                      xaxis=dict(title=_("share of log p(x) − ELBO(encoder), % (nats on the bars)"), range=[0, 100]),
                      yaxis=dict(autorange="reversed"), legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0),
                      font=dict(size=14))
    return fig
