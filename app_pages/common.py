"""App-only glue shared by the pages: cached loaders, the sidebar model picker, small widgets.

Everything computed lives in `vae/`; this module only caches it and lays out widgets.
Models are cached with `st.cache_resource` and shared by every session, so they are never
mutated after loading (eval mode, no training on them).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st
import torch

import vae
from vae.viz import png_bytes, to_uint8, upscale

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_DIR = ROOT / "models"
DEFAULT_MODEL = "mnist-z2"


def user_models_dir() -> Path:
    """Where models trained in the app are saved (survives restarts): VAE_USER_MODELS_DIR or ~/.local/share."""
    env = os.environ.get("VAE_USER_MODELS_DIR")
    base = Path(env).expanduser() if env else Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "vae-explorer" / "models"
    return base


@dataclass
class ModelEntry:
    name: str
    path: Path
    card: dict[str, Any] | None
    error: str | None
    shipped: bool

    @property
    def label(self) -> str:
        if self.card is None:
            return f"⚠ {self.name} (broken)"
        c, m = self.card["config"], self.card.get("metrics", {})
        elbo = f" · −ELBO {m['neg_elbo']:.1f}" if "neg_elbo" in m else ""
        where = "" if self.shipped else " · yours"
        return f"{self.name} · {self.card['dataset']} · z={c['latent_dim']}{elbo}{where}"


def list_entries() -> list[ModelEntry]:
    """Shipped models first, then the user's; broken ones included with their reason."""
    entries = []
    for root, shipped in ((SHIPPED_DIR, True), (user_models_dir(), False)):
        for path, card, error in vae.list_models(root):
            entries.append(ModelEntry(path.name, path, card, error, shipped))
    return entries


@st.cache_resource(show_spinner="Loading model…", max_entries=16)
def load_model(path: str, mtime: float) -> tuple[vae.VAE, dict[str, Any]]:
    """Load once per (path, modification time), so a re-trained model is picked up."""
    model, card = vae.load_model(path, device="cpu")
    for p in model.parameters():
        p.requires_grad_(False)  # shared between sessions: read-only
    return model, card


@st.cache_resource(show_spinner="Loading dataset…", max_entries=8)
def showable_split(name: str, split: str = "test") -> tuple[vae.Split, str | None]:
    return vae.data.showable_split(name, split)


@st.cache_data(show_spinner="Encoding the test set…", max_entries=16)
def encoded(model_path: str, mtime: float, dataset: str) -> dict[str, np.ndarray]:
    """Posterior means/log-variances of the test split the app shows for this model."""
    model, _ = load_model(model_path, mtime)
    split, _ = showable_split(dataset)
    enc = vae.encode_dataset(model, split.x, split.y)
    return {"mu": enc.mu.numpy(), "logvar": enc.logvar.numpy(), "labels": enc.labels.numpy()}


@dataclass
class Selected:
    """The model chosen in the sidebar, loaded."""

    entry: ModelEntry
    model: vae.VAE
    card: dict[str, Any]
    mtime: float

    @property
    def config(self) -> vae.VAEConfig:
        return self.model.config

    @property
    def dataset(self) -> str:
        return self.card["dataset"]

    @property
    def key(self) -> tuple[str, float]:
        return str(self.entry.path), self.mtime


def _mtime(path: Path) -> float:
    try:
        return (path / vae.checkpoint.WEIGHTS_FILE).stat().st_mtime
    except OSError:
        return 0.0


def model_picker_ui() -> Selected | None:
    """Sidebar picker shared by all pages; returns the loaded model or None (with a message shown)."""
    entries = list_entries()

    usable = [e for e in entries if e.card is not None]
    broken = [e for e in entries if e.card is None]
    with st.sidebar:
        st.markdown("### Model")
        if not usable:
            st.error("No usable model found. Train one on the Train page.")
            selected = None
        else:
            labels = {e.label: e for e in usable}
            by_name = {e.name: e.label for e in usable}
            names = [e.name for e in usable]
            # The selectbox is keyed, so its state is the source of truth. To choose for the user (a
            # model just trained, or the same model relabelled after re-training) set that state; on
            # a session's first run pass `index` instead, which the browser also displays (setting
            # the state there left the browser showing option 0 and sending it back on the next page).
            pending = st.session_state.pop("_pick_pending", None)
            if pending in by_name:
                st.session_state["model_picker"] = by_name[pending]
            elif "model_picker" in st.session_state and st.session_state["model_picker"] not in labels:
                name = st.session_state.get("picked_model_name")
                st.session_state["model_picker"] = by_name.get(name, by_name.get(DEFAULT_MODEL, usable[0].label))
            first_run = {} if "model_picker" in st.session_state else {
                "index": names.index(DEFAULT_MODEL) if DEFAULT_MODEL in names else 0}
            label = st.selectbox("Model", list(labels), key="model_picker", label_visibility="collapsed", **first_run,
                                 help="Shipped models were trained with this project's CLI; yours are saved in " + str(user_models_dir()))
            entry = labels[label]
            st.session_state["picked_model_name"] = entry.name
            selected = None
            try:
                mtime = _mtime(entry.path)
                model, card = load_model(str(entry.path), mtime)
                selected = Selected(entry, model, card, mtime)
                c = card["config"]
                st.caption(f"{c['arch'].upper()} {'-'.join(map(str, c['hidden_dims']))} · latent {c['latent_dim']} · "
                           f"{c['likelihood']} decoder · trained on **{card['dataset']}**")
            except vae.CheckpointError as e:
                st.error(f"This model cannot be loaded: {e}")
        if broken:
            with st.expander(f"⚠ {len(broken)} broken model(s)"):
                for e in broken:
                    st.caption(f"**{e.name}** ({e.path.parent}): {e.error}")
    return selected


def remember(*keys: str) -> None:
    """Keep these widgets' values while the user is on other pages.

    Streamlit forgets a widget's key at the end of every run that does not draw the widget, so a
    page that reads its widgets' state (or expects them where the user left them) would find them
    gone after a visit elsewhere. Call this at the top of the page, before its widgets: it copies
    each value to a key of our own and puts it back when Streamlit has dropped it.
    Only for widgets whose value may be set (not buttons, uploaders or components).
    """
    for key in keys:
        kept = f"_kept_{key}"
        if key in st.session_state:
            st.session_state[kept] = st.session_state[key]
        elif kept in st.session_state:
            st.session_state[key] = st.session_state[kept]


def pick_model(selected_name: str) -> None:
    """Make `selected_name` the picker's choice on the next run (e.g. after training)."""
    st.session_state["_pick_pending"] = selected_name


def require_model() -> Selected:
    """The current model, or stop the page with a message."""
    selected = st.session_state.get("selected")
    if selected is None:
        st.info("Pick a model in the sidebar (or train one on the Train page) to use this page.")
        st.stop()
    return selected


@st.cache_data(show_spinner=False, max_entries=512)
def png(image: np.ndarray) -> bytes:
    """PNG bytes of a uint8 image, cached: st.image would otherwise encode the same pixels on every
    rerun (most of a Decoder rerun's server time). st.image passes PNG bytes through unchanged as
    long as they are no wider than the width asked for."""
    return png_bytes(image)


def show_images(images: torch.Tensor, captions: list[str] | None = None, width: int = 84, scale: int = 4) -> None:
    """A row of small images, crisp (nearest-neighbour) at up to `scale` times their size.

    The enlargement stops at `width`: anything wider would be shrunk again, blurrily, by st.image.
    """
    arrs = to_uint8(images)
    factor = max(1, min(scale, width // arrs.shape[-1]))
    st.image([png(upscale(a, factor)) for a in arrs], caption=captions, width=width)


@st.cache_data(show_spinner="Measuring the model on the test set…", max_entries=16)
def live_metrics(model_path: str, mtime: float, dataset: str) -> dict[str, Any]:
    """Test-set ELBO terms of the model, measured now (nats per image, one z sample per image)."""
    model, _ = load_model(model_path, mtime)
    split, note = showable_split(dataset)
    metrics = vae.evaluate(model, split.x, labels=split.y)
    return {**metrics, "n_images": len(split), "dataset": split.name, "note": note}


def dataset_or_stop(dataset: str) -> tuple[vae.Split, str | None]:
    """The test split to show for `dataset`, or stop the page with a clear message."""
    try:
        split, note = showable_split(dataset)
    except vae.DatasetUnavailable as e:
        st.error(f"The test images for this model are not on this machine. {e}")
        st.stop()
    if note:
        st.caption(f":material/info: {note}")
    return split, note


@st.cache_data(show_spinner="Projecting the codes to 2-D…", max_entries=16)
def projection(model_path: str, mtime: float, dataset: str, method: str, max_points: int = 3000) -> dict[str, Any]:
    """2-D coordinates of the test codes (identity for 2-D models, PCA, or t-SNE on a subsample)."""
    enc = encoded(model_path, mtime, dataset)
    p = vae.project_2d(enc["mu"], method=method, max_points=max_points)
    return {"coords": p.coords, "rows": p.indices, "method": p.method, "pca": p.pca}
