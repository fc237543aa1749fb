"""Plotly figures of the "Bayesian neural network" page (explorer.bnn), built from arrays, testable without Streamlit."""

from __future__ import annotations

import numpy as np

from .bnn import NETWORKS, DigitPrediction, PixelReport
from .figures import CLASS_COLOURS
from .i18n import N_, _
from .registry import class_labels

NETWORK_COLOURS = {"bayesian": "#4e79a7", "deterministic": "#e15759"}
# shown with _(...): the keys are data, the names are translated where they are shown
NETWORK_NAMES = {"bayesian": N_("Bayesian"), "deterministic": N_("deterministic")}
MEASURE_NAMES = {"entropy": N_("Bayesian: predictive entropy"),
                 "mutual_information": N_("Bayesian: mutual information (epistemic)"),
                 "det_entropy": N_("deterministic: entropy")}


def _plane_layout(fig, extent: float, height: int) -> None:
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), dragmode="pan", plot_bgcolor="white",
                      uirevision="plane",
                      legend=dict(orientation="h", yanchor="bottom", y=1.01, x=0, itemsizing="constant", font=dict(size=12)))
    fig.update_xaxes(range=[-extent, extent], title="z₁", showgrid=False, zeroline=False, constrain="domain")
    fig.update_yaxes(range=[-extent, extent], title="z₂", showgrid=False, zeroline=False, scaleanchor="x", scaleratio=1,
                     constrain="domain")


def plane_figure(image: np.ndarray, extent: float, codes: np.ndarray, labels: np.ndarray, class_names: list[str],
                 height: int = 520):
    """The plane image (R, R, 3), rows bottom-up, with the training codes on top as small outlined dots."""
    class_names = class_labels(class_names)  # Fashion-MNIST's names in the reader's language
    import plotly.graph_objects as go
    from PIL import Image

    fig = go.Figure()
    fig.add_layout_image(source=Image.fromarray(np.ascontiguousarray(image[::-1])), xref="x", yref="y", x=-extent,
                         y=extent, sizex=2 * extent, sizey=2 * extent, sizing="stretch", layer="below")
    for label in np.unique(labels):
        mask = labels == label
        fig.add_trace(go.Scattergl(
            x=codes[mask, 0], y=codes[mask, 1], mode="markers", name=class_names[label], showlegend=False,
            marker=dict(size=6, color=CLASS_COLOURS[int(label) % len(CLASS_COLOURS)], line=dict(width=0.8, color="#222222")),
            hovertemplate=_("training code, label {label}").format(label=class_names[label])
            + "<br>(%{x:.2f}, %{y:.2f})<extra></extra>"))
    # each class named where its codes sit (a legend of ten colours would take the plot's room)
    present = np.unique(labels)
    centres = np.array([np.median(codes[labels == k], axis=0) for k in present])
    for k, (cx, cy) in zip(present, centres):
        fig.add_annotation(x=cx, y=cy, text=f"<b>{class_names[k]}</b>", showarrow=False, font=dict(size=15, color="black"),
                           bgcolor="rgba(255,255,255,0.8)", bordercolor=CLASS_COLOURS[int(k) % len(CLASS_COLOURS)],
                           borderwidth=2, borderpad=2)
    for name, style in ((_("single draws' boundaries"), dict(color="#5f5f5f", width=2)),
                        (_("deterministic boundary"), dict(color="black", width=3))):
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", line=style, name=name))
    _plane_layout(fig, extent, height)
    return fig


def uncertainty_heatmap(axis: np.ndarray, values: np.ndarray, measure: str, codes: np.ndarray | None = None,
                        height: int = 520):
    """One uncertainty measure (R, R) over the plane in nats, with the training codes as faint dots."""
    import plotly.graph_objects as go

    extent = float(axis[-1])
    fig = go.Figure(go.Heatmap(x=axis, y=axis, z=values, colorscale="Magma", reversescale=True, zmin=0,
                               colorbar=dict(title=_("nats"), thickness=12),
                               hovertemplate="z = (%{x:.2f}, %{y:.2f})<br>"
                               + _("{measure} {value} nats").format(measure=_(MEASURE_NAMES[measure]),
                                                                    value="%{z:.3f}")
                               + "<extra></extra>"))
    if codes is not None:
        fig.add_trace(go.Scattergl(x=codes[:, 0], y=codes[:, 1], mode="markers", name=_("training codes"), showlegend=False,
                                   marker=dict(size=3, color="rgba(30,200,255,0.8)"), hoverinfo="skip"))
    _plane_layout(fig, extent, height)
    return fig


def reliability_diagram(report: PixelReport, height: int = 380):
    """Accuracy against confidence per bin for both networks, with the diagonal of perfect calibration."""
    import plotly.graph_objects as go

    fig = go.Figure(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name=_("perfectly calibrated"),
                               line=dict(color="#999999", dash="dash")))
    for name in NETWORKS:
        rel = report.reliability[name]
        used = (rel.counts > 0).numpy()
        fig.add_trace(go.Scatter(
            x=rel.confidence.numpy()[used], y=rel.accuracy.numpy()[used], mode="lines+markers",
            name=_("{network} (ECE {ece:.4f})").format(network=_(NETWORK_NAMES[name]), ece=rel.ece),
            line=dict(color=NETWORK_COLOURS[name]),
            marker=dict(size=np.clip(4 + 3 * np.log10(rel.counts.numpy()[used]), 4, 16)),
            customdata=rel.counts.numpy()[used],
            hovertemplate=_("confidence %{x:.3f}<br>accuracy %{y:.3f}<br>%{customdata:.0f} images")
            + "<extra></extra>"))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), legend=dict(orientation="h", y=-0.25),
                      xaxis=dict(title=_("confidence (largest predicted probability)"), range=[0, 1.02]),
                      yaxis=dict(title=_("accuracy"), range=[0, 1.02]))
    return fig


def entropy_histograms(report: PixelReport, dataset_name: str, height: int = 380):
    """Predictive entropy of test digits and of out-of-distribution images, one panel per network."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.06,
                        subplot_titles=[_("{network}: ROC AUC {auc:.3f}").format(network=_(NETWORK_NAMES[n]),
                                                                                  auc=report.auc[n]) for n in NETWORKS])
    top = max(float(np.log(10)), *(float(v.max()) for v in (*report.entropy_in.values(), *report.entropy_out.values())))
    bins = dict(start=0, end=top, size=top / 40)
    for col, name in enumerate(NETWORKS, start=1):
        for group, values, colour in ((dataset_name, report.entropy_in[name], "#4e79a7"),
                                      (_(report.ood_name), report.entropy_out[name], "#f28e2b")):
            fig.add_trace(go.Histogram(x=values, xbins=bins, name=group, legendgroup=group, showlegend=col == 1,
                                       marker_color=colour, opacity=0.65), row=1, col=col)
        fig.update_xaxes(title_text=_("predictive entropy (nats)"), row=1, col=col)
    fig.update_yaxes(type="log", dtick=1, row=1, col=1)
    fig.update_yaxes(type="log", dtick=1, row=1, col=2)
    fig.update_yaxes(title_text=_("images (log scale)"), row=1, col=1)
    fig.update_layout(height=height, barmode="overlay", margin=dict(l=10, r=10, t=40, b=10),
                      legend=dict(orientation="h", y=-0.28))
    return fig


def digit_probabilities(pred: DigitPrediction, class_names: list[str], height: int = 320):
    """Class probabilities of one image: the Bayesian mean with its 5-95 % range over weight draws, and the deterministic net's."""
    class_names = class_labels(class_names)  # Fashion-MNIST's names in the reader's language
    import plotly.graph_objects as go

    fig = go.Figure([
        go.Bar(x=class_names, y=pred.mean, name=_("Bayesian: mean over weight draws"), marker_color=NETWORK_COLOURS["bayesian"],
               error_y=dict(type="data", symmetric=False, array=pred.high - pred.mean, arrayminus=pred.mean - pred.low,
                            color="#222222", thickness=1.5, width=4),
               customdata=np.stack([pred.low, pred.high], 1),
               hovertemplate="%{x}: %{y:.3f} (5–95 %: %{customdata[0]:.3f}–%{customdata[1]:.3f})<extra></extra>"),
        go.Bar(x=class_names, y=pred.det, name=_(NETWORK_NAMES["deterministic"]), marker_color=NETWORK_COLOURS["deterministic"],
               hovertemplate="%{x}: %{y:.3f}<extra></extra>"),
    ])
    fig.update_layout(height=height, barmode="group", margin=dict(l=10, r=10, t=10, b=10),
                      legend=dict(orientation="h", y=-0.2), yaxis=dict(title=_("probability"), range=[0, 1.05]),
                      xaxis=dict(type="category"))
    return fig
