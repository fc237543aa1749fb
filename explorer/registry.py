"""The models the app offers: shipped ones, the user's own, and any folders the user names.

Every folder is scanned with `vae.list_models`, so a broken model (a bad card, weights that do
not match it) is listed with its reason instead of breaking the picker. Also here: where the
user's models are saved, a model as zip bytes for download, and the test images the app shows
for a model when its full dataset is not on this machine.
"""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

from explorer.i18n import N_, _
from vae.checkpoint import CARD_FILE, WEIGHTS_FILE, ModelCard, list_models, load_card
from vae.data import Split, available_offline, load_dataset

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_DIR = ROOT / "models"
DEFAULT_MODEL = "mnist-z2"
SOURCES = ("shipped", "yours", "folder")


# Fashion-MNIST's classes as vae/data.py names them, marked for translation (the digits' names are digits).
FASHION_CLASSES = (N_("T-shirt/top"), N_("Trouser"), N_("Pullover"), N_("Dress"), N_("Coat"), N_("Sandal"), N_("Shirt"),
                   N_("Sneaker"), N_("Bag"), N_("Ankle boot"))


def class_labels(class_names) -> list[str]:
    """A dataset's class names as the reader sees them: translated where the catalogue has them."""
    return [_(str(name)) for name in class_names]


def user_models_dir() -> Path:
    """Where models trained in the app are saved (survives restarts): VAE_USER_MODELS_DIR or ~/.local/share."""
    env = os.environ.get("VAE_USER_MODELS_DIR")
    if env:
        return Path(env).expanduser()
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "vae-explorer" / "models"


def extra_model_dirs() -> list[Path]:
    """Folders of models the user names in VAE_MODELS_PATH (separated like PATH), e.g. the CLI's --out parent."""
    return [Path(p).expanduser() for p in os.environ.get("VAE_MODELS_PATH", "").split(os.pathsep) if p.strip()]


@dataclass(frozen=True)
class ModelEntry:
    """One model folder: its card when it is usable, else the reason it is not."""

    name: str
    path: Path
    card: ModelCard | None
    error: str | None
    source: str  # one of SOURCES

    @property
    def shipped(self) -> bool:
        return self.source == "shipped"

    @property
    def label(self) -> str:
        if self.card is None:
            return f"⚠ {self.name} (broken)"
        # short enough for the sidebar (a longer label was cut to "· -"); the caption under the picker says the rest
        where = {"shipped": "", "yours": " · yours", "folder": f" · {self.path.parent.name}/"}[self.source]
        return f"{self.name} · z={self.card.config.latent_dim}{where}"

    @property
    def summary(self) -> str:
        """One line on a usable model: its network, data and test score (and whether scores compare)."""
        c, m = self.card.config, self.card.metrics
        decoder = _("Bernoulli decoder") if c.likelihood == "bernoulli" else _("Gaussian decoder")
        text = _("{arch} {widths} · latent {d} · {decoder} · trained on **{dataset}**").format(
            arch=c.arch.upper(), widths="-".join(map(str, c.hidden_dims)), d=c.latent_dim, decoder=decoder,
            dataset=self.card.dataset)
        if m is not None:
            if c.variational:
                text += " · " + _("test −ELBO {nats:.1f} nats").format(nats=m.neg_elbo)
            else:
                text += " · " + _("test reconstruction {nats:.1f} nats").format(nats=m.recon)
            if c.likelihood == "gaussian":
                text += " " + _("(a Gaussian decoder's nats: not comparable with a Bernoulli model's)")
        return text


def list_entries() -> list[ModelEntry]:
    """Shipped models first, then the user's, then those of VAE_MODELS_PATH; broken ones with their reason."""
    entries, seen = [], set()
    roots = [(SHIPPED_DIR, "shipped"), (user_models_dir(), "yours"), *((d, "folder") for d in extra_model_dirs())]
    for root, source in roots:
        try:
            key = root.resolve()
        except OSError:
            continue
        if key in seen:  # the same folder named twice
            continue
        seen.add(key)
        for path, card, error in list_models(root):
            entries.append(ModelEntry(path.name, path, card, error, source))
    return entries


def weights_mtime(path: Path) -> float:
    """When a model's weights last changed (0 if unreadable): part of every cache key, so re-training shows."""
    try:
        return (Path(path) / WEIGHTS_FILE).stat().st_mtime
    except OSError:
        return 0.0


def model_zip(path: str | Path) -> bytes:
    """A model directory as zip bytes: `<name>/model.safetensors` and `<name>/card.json`.

    The card is checked first (a broken model is not packed); entries carry a fixed timestamp so
    the same model always gives the same bytes.
    """
    path = Path(path)
    load_card(path)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in (CARD_FILE, WEIGHTS_FILE):
            info = zipfile.ZipInfo(f"{path.name}/{name}", date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, (path / name).read_bytes())
    return buf.getvalue()


def showable_split(name: str, split: str = "test") -> tuple[Split, str | None]:
    """The split the app shows for a model trained on `name`, without any download.

    Returns (split, note): the dataset itself when its files are on disk; for MNIST without
    its files, the 5,000-digit offline sample with a note saying so. Raises DatasetUnavailable
    when neither is on disk.
    """
    if available_offline(name):
        return load_dataset(name, split, download=False), None
    if name == "mnist" and available_offline("mnist-sample"):
        note = N_("full MNIST is not on this machine: showing the 5,000-digit offline sample (mnist-sample) instead")
        return load_dataset("mnist-sample", split), note
    return load_dataset(name, split, download=False), None  # raises DatasetUnavailable with where to put files
