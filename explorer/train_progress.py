"""What the Train page shows of a run: its progress line, curves sized for a projector, the row of
reconstructions, the latent map of a 2-D model as it organises epoch by epoch, how it ended, and
how a stored model trained.

Everything here reads a `jobs.JobSnapshot` or a `vae.ModelCard` and returns text, a figure or
HTML; the page only places them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vae.card import ModelCard
from vae.data import CLASS_NAMES

import numpy as np

from .figures import CLASS_COLOURS, MAP_LEGEND, training_curves
from .i18n import N_, _
from .registry import class_labels
from .images import png_data_url, tile, upscale
from .jobs import JobSnapshot, shown

RECON_ROW_HEIGHT = 84  # screen pixels of one reconstructed image
MAP_HEIGHT = 460  # screen pixels of the latent map's figure
MIN_MAP_REACH = 3.0  # the latent map shows at least ±3 on both axes (the prior's 3σ)
_EPOCH_TICKS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
# A stored model's card.status, as the run's summary says it.
STATUS_NAMES = {"complete": N_("complete"), "stopped": N_("stopped"), "diverged": N_("diverged")}
SCHEDULE_NAMES = {"constant": N_("constant"), "cosine": N_("cosine")}  # vae.config.SCHEDULES: the learning rate's


def status_name(status: str) -> str:
    """A card's status in the reader's language; an unknown one as it is."""
    return _(STATUS_NAMES[status]) if status in STATUS_NAMES else status


def schedule_name(schedule: str) -> str:
    """A learning-rate schedule's name in the reader's language; an unknown one as it is."""
    return _(SCHEDULE_NAMES[schedule]) if schedule in SCHEDULE_NAMES else schedule


def progress_text(snap: JobSnapshot) -> str:
    """The progress bar's line: epoch and step once training runs, else what the job is doing."""
    if snap.steps_per_epoch:
        text = _("Epoch {epoch} of {epochs} · step {step} of {steps} · {seconds:.0f} s").format(
            epoch=snap.epoch, epochs=snap.epochs, step=snap.step, steps=snap.steps_per_epoch, seconds=snap.elapsed)
    else:
        text = f"{shown(snap.message)}…"
    return text + (_(" · stopping after this step…") if snap.stop_requested else "")


def last_epoch_text(history: Sequence[dict[str, Any]]) -> str:
    """Markdown: the latest epoch's train (and test) −ELBO."""
    last = history[-1]
    if "test_neg_elbo" in last:
        return _("Epoch {epoch}: train −ELBO **{train:.1f}** · test −ELBO **{test:.1f}** nats per image").format(
            epoch=last["epoch"], train=last["train_neg_elbo"], test=last["test_neg_elbo"])
    return _("Epoch {epoch}: train −ELBO **{train:.1f}** nats per image").format(
        epoch=last["epoch"], train=last["train_neg_elbo"])


def curves_figure(history: Sequence[dict[str, Any]]):
    """Train and test −ELBO, reconstruction and KL per epoch, with large type for a projector."""
    fig = training_curves(list(history), height=360)
    step = next((s for s in _EPOCH_TICKS if s >= len(history) / 8), _EPOCH_TICKS[-1])  # whole epochs only
    fig.update_xaxes(tick0=0, dtick=step, title_font_size=16)
    fig.update_yaxes(title_text=_("nats per image"), title_font_size=16)
    fig.update_annotations(font_size=18)  # the panel titles
    fig.update_layout(font=dict(size=15), margin=dict(l=10, r=10, t=40, b=10),
                      legend=dict(orientation="h", x=0.5, xanchor="center", y=-0.25, yanchor="top", font_size=16))
    return fig


def recon_html(snap: JobSnapshot) -> str:
    """Inputs above, reconstructions below, as one crisp tiled image with its caption.

    Inline (a data URL): the live view redraws twice a second, and an image served by URL could
    be gone from the server by the time a busy browser asks for it.
    """
    n, h, w = snap.recon.shape[1:]  # (2, N, H, W): inputs, reconstructions
    grid = tile(snap.recon.reshape(-1, 1, h, w) / 255.0, nrow=n, pad=1, pad_value=90)
    caption = _("Top: test images · bottom: their reconstructions (z = μ) after epoch {epoch}").format(
        epoch=len(snap.history))
    return (f'<figure style="margin:0"><img src="{png_data_url(upscale(grid, max(1, round(RECON_ROW_HEIGHT / h))))}" '
            f'alt="{caption}" style="width:100%;image-rendering:pixelated;border-radius:4px">'
            f'<figcaption style="text-align:center;font-size:14px;opacity:0.6;margin-top:4px">{caption}'
            '</figcaption></figure>')


@dataclass(frozen=True)
class Outcome:
    """How a finished job ended, for an alert: kind "success", "warning" or "error", with its icon."""

    kind: str
    icon: str
    text: str


def outcome(snap: JobSnapshot) -> Outcome:
    kind = {"done": "success", "stopped": "warning"}.get(snap.state, "error")
    icon = {"done": ":material/check_circle:", "stopped": ":material/pause_circle:"}.get(snap.state, ":material/error:")
    message = shown(snap.message).rstrip(".。")
    if snap.saved_path:
        text = _("**{name}**: {message}. It is selected in the sidebar: explore it on the other pages.")
    else:
        text = _("**{name}**: {message}.")
    return Outcome(kind, icon, text.format(name=snap.name, message=message))


def run_summary(card: ModelCard) -> str:
    """One line on how a stored model trained: epochs, time, status, dataset and the run's settings."""
    status = status_name(card.status or "complete")
    if card.train_seconds is None:
        text = _("{epochs} epochs ({status}) on {dataset}").format(epochs=len(card.history), status=status,
                                                                  dataset=card.dataset)
    else:
        text = _("{epochs} epochs in {seconds:.0f} s ({status}) on {dataset}").format(
            epochs=len(card.history), seconds=card.train_seconds, status=status, dataset=card.dataset)
    tc = card.train_config
    if tc is not None:
        text += _(" · batch {batch} · learning rate {lr:g} ({schedule}) · β {beta:g} · warm-up {warmup} · seed {seed}"
                  ).format(batch=tc.batch_size, lr=tc.lr, schedule=schedule_name(tc.schedule), beta=tc.beta,
                           warmup=tc.warmup_epochs, seed=tc.seed)
    return text


def map_reach(frames: Sequence[tuple[int, np.ndarray]]) -> float:
    """Half the width of the latent map's square window: the same for every epoch of a run, so scrubbing
    through the epochs shows the codes move, not the axes. At least MIN_MAP_REACH, else the 99.5th
    percentile of |z| over all the epochs, rounded up to a half."""
    if not frames:
        return MIN_MAP_REACH
    spread = float(np.percentile(np.abs(np.concatenate([codes for _, codes in frames]).astype(np.float32)), 99.5))
    return max(MIN_MAP_REACH, float(np.ceil(spread * 2) / 2)) if np.isfinite(spread) else MIN_MAP_REACH


def map_caption(epoch: int, n_codes: int) -> str:
    return _("Means of q(z|x) for {n:,} test images after epoch {epoch}, coloured by label · rings: the prior's 1σ "
             "and 2σ").format(n=n_codes, epoch=epoch)


def latent_map_figure(codes: np.ndarray, labels: np.ndarray, class_names: Sequence[str], reach: float,
                      height: int = MAP_HEIGHT):
    """The codes (N, 2) as dots coloured by their labels (N,), on fixed square axes ±`reach` with the
    prior's 1σ and 2σ rings: one frame of the map as it organises. SVG (not WebGL): a few hundred to
    a thousand dots, redrawn every second while training, without spending a browser's WebGL contexts."""
    class_names = class_labels(class_names)  # Fashion-MNIST's names in the reader's language
    import plotly.graph_objects as go

    codes = np.asarray(codes, dtype=np.float32)
    fig = go.Figure()
    for label in np.unique(labels):
        idx = labels == label
        name = class_names[label] if 0 <= label < len(class_names) else str(label)
        colour = CLASS_COLOURS[int(label) % len(CLASS_COLOURS)]
        fig.add_trace(go.Scatter(x=codes[idx, 0], y=codes[idx, 1], mode="markers", name=name,
                                 marker=dict(size=5, opacity=0.75, color=colour),
                                 hovertemplate=_("label {label}").format(label=name)
                                 + "<br>(%{x:.2f}, %{y:.2f})<extra></extra>"))
    for r, dash in ((1.0, "solid"), (2.0, "dot")):
        fig.add_shape(type="circle", x0=-r, y0=-r, x1=r, y1=r, line=dict(color="#111111", width=1.2, dash=dash))
    fig.update_xaxes(range=[-reach, reach], title_text="z₁", constrain="domain", zeroline=False)
    fig.update_yaxes(range=[-reach, reach], title_text="z₂", scaleanchor="x", scaleratio=1, constrain="domain",
                     constraintoward="top", zeroline=False)
    # uirevision: a zoom or a hidden class stays as the user left it while the frames change.
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), font=dict(size=14), uirevision="map",
                      legend=MAP_LEGEND | dict(font_size=14, itemsizing="constant"))
    return fig


def map_figure(snap: JobSnapshot, epoch: int):
    """The latent map of `snap`'s model after `epoch` (one of its `map_frames`), on the run's fixed axes."""
    frames = dict(snap.map_frames)
    return latent_map_figure(frames[epoch], snap.map_labels, CLASS_NAMES.get(snap.dataset, []),
                             map_reach(snap.map_frames))
