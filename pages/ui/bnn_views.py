"""Cached computations and widgets of the "Bayesian neural network" page (pages/learn/bnn.py)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import streamlit as st
import torch

import vae
from explorer import bnn, i18n, registry, uploads
from explorer.anomaly import noise_images
from explorer.bnn_figures import NETWORK_NAMES, digit_probabilities
from explorer.i18n import N_, _, lazy
from vae.bnn import load_classifier

from .cache import encoded, showable_split
from .widgets import drawn_digit_ui, show_images

# option values (kept in the session and compared below), shown with _(...)
DIGIT_SOURCES = (N_("Upload"), N_("Draw"), N_("Examples"))
EXAMPLES = (N_("a test digit"), N_("a Fashion-MNIST item"), N_("uniform noise"))


@dataclass(frozen=True)
class LatentView:
    maps: bnn.PlaneMaps
    codes: np.ndarray
    labels: np.ndarray
    accuracy: dict[str, float]
    extent: float


@st.cache_data(show_spinner=lazy("Training both classifiers on the codes…"), max_entries=32)
def latent_view(path: str, mtime: float, dataset: str, n_train: int, prior_std: float) -> LatentView:
    enc = encoded(path, mtime, dataset)
    mu, labels = enc["mu"], enc["labels"]
    n_classes = len(vae.data.CLASS_NAMES[dataset])
    classifiers = bnn.train_on_codes(mu, labels, n_train, n_classes=n_classes, prior_std=prior_std)
    extent = bnn.plane_extent(mu)
    train, _held = bnn.split_codes(len(mu), n_train)
    return LatentView(bnn.plane_maps(classifiers, extent), mu[train], labels[train], classifiers.accuracy, extent)


@st.cache_resource(show_spinner=lazy("Loading the Bayesian network…"), max_entries=2)
def pixel_networks(mtime: float):
    bayes, det, card = load_classifier(bnn.PIXEL_MODEL)
    for net in (bayes, det):
        net.requires_grad_(False)  # shared between sessions: read-only
    return bayes, det, card


def pixel_networks_or_stop():
    """The shipped pair, or stop with a clear message when its folder is missing or damaged."""
    try:
        return pixel_networks(registry.weights_mtime(bnn.PIXEL_MODEL))
    except vae.CheckpointError as e:
        st.error(_("The pixel classifier cannot be loaded: {error}. Re-create it with "
                   "`vae-explorer train-bnn --out models/mnist-bnn --force`.").format(error=e), icon=":material/error:")
        st.stop()


@st.cache_data(show_spinner=lazy("Measuring both networks on test digits and out-of-distribution images…"),
               max_entries=2)
def pixel_report(mtime: float, dataset: str) -> bnn.PixelReport:
    bayes, det, _card = pixel_networks(mtime)
    split, _note = showable_split(dataset)
    return bnn.evaluate_pixels(bayes, det, split)


def metrics_table(report: bnn.PixelReport, card) -> list[dict]:
    """The table's rows, headed in the reader's language."""
    rows = []
    for name in bnn.NETWORKS:
        m, stored = report.metrics[name], card.metrics[name]
        rows.append({_("network"): _(NETWORK_NAMES[name]), _("accuracy"): f"{m.accuracy:.2%}",
                     _("NLL (nats)"): f"{m.nll:.4f}", "ECE": f"{m.ece:.4f}",
                     _("OOD ROC AUC (entropy, {ood})").format(ood=_(report.ood_name)): f"{report.auc[name]:.3f}",
                     _("card ({n:,} digits)").format(n=stored.n_images):
                         f"{stored.accuracy:.2%}, ECE {stored.ece:.4f}"})
    return rows


def _example(kind: str, index: int, shape: tuple[int, int, int]) -> tuple[torch.Tensor | None, str]:
    if kind == EXAMPLES[0]:
        split, _note = showable_split("mnist")
        i = index % len(split)
        return split.x[i], _("test digit #{index} ({label})").format(index=i, label=int(split.y[i]))
    if kind == EXAMPLES[1]:
        x, name = bnn.ood_images(index + 1, shape)
        return x[index], f"{_(name)} #{index}"
    return noise_images("uniform", 1, shape, seed=index)[0], _("noise (seed {seed})").format(seed=index)


def digit_input_ui(shape: tuple[int, int, int]) -> tuple[torch.Tensor | None, str]:
    """One image (C, H, W) to classify, uploaded, drawn or chosen from the examples, and its name."""
    source = st.radio(_("Image"), DIGIT_SOURCES, format_func=_, horizontal=True, key="bnn_source",
                      label_visibility="collapsed")
    if source == "Upload":
        f = st.file_uploader(_("Your digit"), type=uploads.UPLOAD_TYPES, key="bnn_upload")
        if f is None:
            st.info(_("Upload a photo or scan of a digit (dark ink on light paper), or draw one."))
            return None, ""
        upload = _read(f.getvalue(), shape[1], i18n.language())
        if upload.problem:
            st.error(f"**{f.name}**: {upload.problem}", icon=":material/error:")
            return None, ""
        return upload.x, f.name
    if source == "Draw":
        drawn = drawn_digit_ui("bnn_canvas", 224, shape[1])
        return (None, "") if drawn is None else (drawn[0], _("your drawing"))
    a, b = st.columns([3, 2])
    kind = a.selectbox(_("Example"), EXAMPLES, format_func=_, key="bnn_example")
    index = int(b.number_input(_("Which one"), 0, 999, key="bnn_example_index"))
    x, name = _example(kind, index, shape)
    return x, name


@st.cache_data(show_spinner=lazy("Reading your image…"), max_entries=32)
def _read(data: bytes, size: int, lang: str) -> uploads.Upload:
    """The upload, read once per file and size; its `problem` is in `lang`."""
    with i18n.speaking(lang):
        return uploads.read_upload(data, size)


@st.cache_data(show_spinner=False, max_entries=64)
def _prediction(mtime: float, digest: str, _x: torch.Tensor) -> bnn.DigitPrediction:
    bayes, det, _card = pixel_networks(mtime)
    return bnn.predict_digit(bayes, det, _x[None])


def digit_prediction_ui(x: torch.Tensor, name: str, mtime: float, class_names: list[str], left, right) -> None:
    """The image and its uncertainty in `left`, the class probabilities of both networks in `right`."""
    digest = hashlib.sha1(x.numpy().tobytes()).hexdigest()
    pred = _prediction(mtime, digest, x)
    with left:
        show_images(x[None], [_("{name} as the networks see it").format(name=name)], width=140, scale=5)
        a, b = st.columns(2)
        a.metric(_("Bayesian entropy"), f"{pred.entropy:.3f}", help=_("Predictive entropy in nats: total uncertainty"))
        b.metric(_("of which epistemic"), f"{pred.mutual_information:.3f}",
                 help=_("Mutual information between the prediction and the weights, nats: how much the draws disagree"))
        a.metric(_("Deterministic entropy"), f"{pred.det_entropy:.3f}",
                 help=_("Entropy of the deterministic network, nats"))
    with right:
        st.plotly_chart(digit_probabilities(pred, class_names), key="bnn_probs")
        top, det_top = int(pred.mean.argmax()), int(pred.det.argmax())
        st.caption(_("The Bayesian network says **{label}** with {mean:.0%} on average over 100 weight draws ({range} "
                     "of draws: {low:.0%}–{high:.0%}); the deterministic network says **{det_label}** with "
                     "{det:.0%}. Long whiskers: the draws disagree, so the network knows it does not know.")
                   .format(label=_(class_names[top]), mean=pred.mean[top], range="5–95 %", low=pred.low[top],
                           high=pred.high[top], det_label=_(class_names[det_top]), det=pred.det[det_top]))

