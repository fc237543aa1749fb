"""Anomalies: score every test image in nats (reconstruction plus KL) and see whether non-digits and noise stand out."""

import numpy as np
import streamlit as st
import torch

from pages.ui.cache import load_model, showable_split
from pages.ui.widgets import dataset_or_stop, remember, require_model, show_images
from explorer.anomaly import (SCORE_HELP, SCORE_METHODS, SCORE_SAMPLES, anomaly_groups, anomaly_scores, default_threshold,
                              detect, extremes, group_label, other_dataset, roc_auc, score_groups, score_method_text,
                              score_notes, score_thresholds, share_below, summarise_groups)
from explorer.figures import score_histogram
from explorer import i18n, uploads
from explorer.i18n import _, lazy

remember("anomaly_method", "anomaly_n", "anomaly_threshold")

DIGIT_SETS = {"mnist", "mnist-sample", "digits"}
N_SHOWN = 8


@st.cache_data(show_spinner=lazy("Scoring the test images…"), max_entries=16)
def normal_scores(model_path: str, mtime: float, dataset: str, method: str) -> np.ndarray:
    model = load_model(model_path, mtime)[0]
    split = showable_split(dataset)[0]
    return anomaly_scores(model, split.x, method=method).numpy()


@st.cache_data(show_spinner=lazy("Making and scoring the anomalies…"), max_entries=16)
def anomalies(model_path: str, mtime: float, dataset: str, method: str, n: int, lang: str) -> dict:
    """Scores and a few images of each anomaly group: the other dataset (if on disk) and two kinds of noise.

    The groups are keyed by their English names (`group_label` shows them); the note is in `lang`."""
    model = load_model(model_path, mtime)[0]
    normal = showable_split(dataset)[0]
    with i18n.speaking(lang):
        groups = anomaly_groups(normal.x, dataset, model.config.input_shape, n, load_split=showable_split)
    return {"scores": score_groups(model, groups.images, method),
            "examples": {k: x[:4] for k, x in groups.images.items()}, "note": groups.note}


st.title(_("Anomalies"))
sel = require_model()
split = dataset_or_stop(sel.dataset)[0]
h, w = sel.config.input_shape[1:]
st.markdown(_(
    "A VAE that has learned its data gives every image a price in nats: what it costs to rebuild the image from "
    "its code, plus the KL, what the code costs. Averaged over codes drawn from $q(z\\mid x)$ that price is the "
    "**−ELBO**, an upper bound on $-\\log p(x)$. Typical images are cheap; an image unlike anything seen in training "
    "should be expensive. That makes a detector: *score > threshold ⇒ anomaly* (An & Cho 2015)."))
other = other_dataset(sel.dataset)
if sel.dataset in DIGIT_SETS:
    st.markdown(_("This model was trained on handwritten digits (**{dataset}**), so here **normal** means a test digit "
                  "and the **anomalies** are {other} clothes and random noise, resized to the model's {h}x{w} input.")
                .format(dataset=sel.dataset, other=other, h=h, w=w))
else:
    st.markdown(_("This model was trained on **{dataset}**, not on digits, so here **normal** means a {dataset} test "
                  "image, and the **anomalies** are images from {other} and random noise: whatever the model was not "
                  "trained on.").format(dataset=sel.dataset, other=other))

c1, c2, c3 = st.columns([2.2, 1.2, 1.6])
method = c1.radio(_("Score"), list(SCORE_METHODS), format_func=score_method_text, key="anomaly_method", help=_(SCORE_HELP))
n_anomalies = c2.select_slider(_("Anomalies per kind"), [100, 250, 500, 1000], value=500, key="anomaly_n",
                               help=_("Precision depends on how many anomalies there are among the normal images."))
files = c3.file_uploader(_("Score your own image"), type=uploads.UPLOAD_TYPES, accept_multiple_files=True,
                         key="anomaly_uploads",
                         help=_("Any picture: a digit you wrote or anything else. It is made MNIST-style ({h}x{w}, light "
                                "on dark).").format(h=h, w=w))

normal = normal_scores(*sel.key, sel.dataset, method)
bad = anomalies(*sel.key, sel.dataset, method, n_anomalies, i18n.language())
# the note is the loader's (an English constant, translated here) or anomaly_groups' own (already in this language)
for note in score_notes(sel.model, method) + ([_(bad["note"])] if bad["note"] else []):
    st.caption(f":material/info: {note}")
anomalous = np.concatenate(list(bad["scores"].values()))

user = {}
for f in files or []:
    upload = uploads.read_upload(f.getvalue(), h, preview=False)
    if upload.problem:
        st.error(_("**{name}**: {problem}").format(name=f.name, problem=upload.problem), icon=":material/error:")
    else:
        user[f.name] = (upload.x, float(anomaly_scores(sel.model, upload.x[None], method=method)[0]))

options = score_thresholds(np.concatenate([normal, anomalous]))
if st.session_state.get("anomaly_threshold") not in options:  # new model or score: start at the 95th percentile
    st.session_state["anomaly_threshold"] = default_threshold(options, normal)
threshold = st.select_slider(_("Threshold (nats): images scoring above it are flagged as anomalies"), options,
                             key="anomaly_threshold", format_func=lambda v: f"{v:g}")

d = detect(normal, anomalous, threshold)
m = st.columns(5)
m[0].metric(_("Precision"), "—" if np.isnan(d.precision) else f"{d.precision:.1%}",
            help=_("of the images flagged, the share that really are anomalies: TP / (TP + FP)"))
m[1].metric(_("Recall"), f"{d.recall:.1%}", help=_("of the anomalies, the share flagged: TP / (TP + FN)"))
m[2].metric(_("False alarms"), f"{d.false_alarm_rate:.1%}",
            help=_("share of the {n:,} normal test images flagged: FP / (FP + TN)").format(n=len(normal)))
m[3].metric("ROC AUC", f"{roc_auc(normal, anomalous):.3f}",
            help=_("threshold-free: the chance that a random anomaly scores above a random normal image (1 = perfect, "
                   "0.5 = a coin)"))
m[4].metric(_("Threshold"), f"{threshold:g}",
            help=_("{share:.1%} of the normal test images score at or below it").format(share=1 - d.false_alarm_rate))

# the groups as shown (their names in the reader's language), the normal test images first
shown_scores = {group_label(k): v for k, v in bad["scores"].items()}
groups = {_("{dataset} test images (normal)").format(dataset=split.name): normal, **shown_scores}
fig = score_histogram(groups, threshold=threshold, markers={name: s for name, (_x, s) in user.items()})
st.plotly_chart(fig, key="anomaly_hist", config={"displaylogo": False})
st.caption(_("Each group's histogram is scaled to its own size (bars sum to 100% per group), so small groups stay "
             "visible; the log axis fits noise, which can cost many times more nats than a normal image."))

left, right = st.columns([1, 1.3], gap="large")
with left:
    st.markdown("##### " + _("Confusion counts"))
    st.table({"": [_("actually anomalous"), _("actually normal")],
              _("flagged (score > threshold)"): [f"TP {d.tp:,}", f"FP {d.fp:,}"],
              _("passed"): [f"FN {d.fn:,}", f"TN {d.tn:,}"]})
with right:
    st.markdown("##### " + _("Per group"))
    rows = summarise_groups(next(iter(groups)), normal, shown_scores, threshold)
    st.table({_("group"): [r.name for r in rows], _("images"): [f"{r.n:,}" for r in rows],
              _("median score"): [f"{r.median:.1f}" for r in rows], _("flagged"): [f"{r.flagged:.1%}" for r in rows],
              _("ROC AUC vs normal"): ["—" if np.isnan(r.auc) else f"{r.auc:.3f}" for r in rows]})

if user:
    st.markdown("##### " + _("Your images"))
    for name, (x, score) in user.items():
        cols = st.columns([1, 4])
        with cols[0]:
            show_images(x[None], captions=[_("model input")], width=112, scale=max(1, 112 // w))
        if score > threshold:
            verdict = _("**{name}** scores **{score:.1f}** nats: more atypical than {share:.1%} of the {dataset} test "
                        "images. At this threshold it is **flagged as an anomaly**. Its line is the green ★ on the "
                        "histogram.")
        else:
            verdict = _("**{name}** scores **{score:.1f}** nats: more atypical than {share:.1%} of the {dataset} test "
                        "images. At this threshold it **passes as normal**. Its line is the green ★ on the histogram.")
        cols[1].markdown(verdict.format(name=name, score=score, share=share_below(normal, score), dataset=split.name))

st.markdown("##### " + _("The most and least typical test images"))
low, high = extremes(normal, N_SHOWN)
for rows, text in ((low, _("Lowest scores: the images the model finds most ordinary (label · nats).")),
                   (high, _("Highest scores: real test images the model finds strange; the false alarms of a low "
                            "threshold."))):
    show_images(split.x[rows], captions=[f"{_(split.class_names[int(split.y[i])])} · {normal[i]:.0f}" for i in rows],
                width=84, scale=max(1, 84 // w))
    st.caption(text)
st.markdown("##### " + _("What the anomalies look like"))
shown = [(k, x) for k, xs in bad["examples"].items() for x in xs[:3]]
show_images(torch.stack([x for _k, x in shown]), captions=[group_label(k, short=True) for k, _x in shown], width=84,
            scale=max(1, 84 // w))

with st.expander(_("Why this can fail")):
    if method == "samples":
        score_text = _("the −ELBO averaged over {n} draws of z").format(n=SCORE_SAMPLES)
    else:
        score_text = _("the reconstruction at z = μ plus the KL")
    st.markdown(_(
        "A likelihood measures how *easy to describe* an image is, not how *familiar* it is. Simple images with a lot "
        "of black background can cost fewer nats than the model's own data: Nalisnick et al. (*Do Deep Generative "
        "Models Know What They Don't Know?*, ICLR 2019) found that models trained on Fashion-MNIST give MNIST digits "
        "*higher* likelihood than clothes. Pick the `fashion-z2` model to see how well this detector separates digits "
        "from clothes here. The score is {score}; the threshold and the counts are on this page's test images, not on "
        "held-out data, so treat them as a demonstration rather than a validated detector.").format(score=score_text))
