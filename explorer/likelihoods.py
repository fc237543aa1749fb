"""Bernoulli versus Gaussian decoders, side by side: which models to compare and what p(x|z) draws.

The decoder outputs a distribution p(x|z), not an image: the usual "reconstruction" is its mean
E[x|z], and a real sample adds the likelihood's independent per-pixel noise (coin flips for the
Bernoulli, N(0, sigma^2) grain for the Gaussian). Their losses come from the core,
`vae.losses.reconstruction_nll`, through `explorer.estimators` (`reconstruction_stats`,
`gaussian_nll_split`). Also here: the command that trains the Gaussian twin of a shipped
Bernoulli model, for machines that have none.
"""

from __future__ import annotations

import torch

from vae.model import VAE

from .registry import ModelEntry

LIKELIHOODS = ("bernoulli", "gaussian")
DEFAULT_MODELS = {"bernoulli": "mnist-z2", "gaussian": "mnist-z2-gaussian"}


def decoder_choices(entries: list[ModelEntry], likelihood: str, dataset: str | None = None) -> list[ModelEntry]:
    """The usable unconditional models with a `likelihood` decoder (trained on `dataset`, when given),
    in the listing's order. A conditional model is left out: it needs a label for every image."""
    if likelihood not in LIKELIHOODS:
        raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
    return [e for e in entries if e.card is not None and e.card.config.likelihood == likelihood
            and not e.card.config.conditional and (dataset is None or e.card.dataset == dataset)]


def default_choice(names: list[str], likelihood: str) -> str:
    """The shipped model of this likelihood when it is among `names`, else the first name."""
    if not names:
        raise ValueError("there is no model to choose from")
    return DEFAULT_MODELS[likelihood] if DEFAULT_MODELS[likelihood] in names else names[0]


@torch.no_grad()
def mean_and_sample(model: VAE, x: torch.Tensor, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The decoder mean E[x|z] and one sample x ~ p(x|z), both at z = mu of images x (B, C, H, W):
    (B, C, H, W) each, in [0, 1], on CPU. The sample is seeded."""
    generator = torch.Generator(device=model.device).manual_seed(seed)
    x_params = model.decode(model.encode(x.to(model.device)).mu)
    return model.mean_image(x_params).cpu(), model.sample_x(x_params, generator).cpu()


def gaussian_twin_command(dataset: str | None) -> str:
    """The CLI command that trains the Gaussian-decoder twin of the shipped Bernoulli model for `dataset`
    (MNIST when None): the same architecture with sigma = 0.1."""
    if dataset in (None, "mnist"):
        return ("vae-explorer train --dataset mnist --latent-dim 2 --hidden-dims 512,256 --likelihood gaussian \\\n"
                "    --gaussian-std 0.1 --epochs 60 --iwae-k 1000 --out models/mnist-z2-gaussian")
    small = dataset == "digits"
    return (f"vae-explorer train --dataset {dataset} --latent-dim 2 --hidden-dims {'256,128' if small else '512,256'} "
            f"--likelihood gaussian \\\n    --gaussian-std 0.1 --epochs {200 if small else 60}"
            f"{' --batch-size 64' if small else ''} --iwae-k 1000 --out my-models/{dataset}-z2-gaussian")
