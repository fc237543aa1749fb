"""VAE Latent Explorer core: a compact PyTorch variational autoencoder.

Pure PyTorch / NumPy: no Streamlit, no Plotly, no UI text. Modules, in reading order:
config (dataclasses), model (the VAE, its diagonal Gaussian, the autoencoder's point mass, and priors), losses (the ELBO as
distortion + rate, the IWAE bound), data (datasets by name), train (fit, evaluate), card (typed
model cards), checkpoint (safe, atomic model folders), latent (encoding, decoding, grids, paths,
projections), inference (a Gaussian fitted to one image's posterior, the true posterior on a
grid, the inference gaps), bnn (a Bayesian neural network classifier, Bayes by Backprop: the same ELBO over
weights; imported as `vae.bnn`), cli (the `vae-explorer` command). The app's own logic lives in `explorer/`.
"""

__version__ = "0.1.0"

from .card import Metrics, ModelCard
from .checkpoint import CheckpointError, list_models, load_card, load_model, save_model, validate_name
from .config import TrainConfig, VAEConfig
from .data import DATASETS, DatasetUnavailable, Split, available_offline, data_dir, load_dataset
from .latent import (
    EncodedDataset, Projection, active_units, decode_images, encode_dataset, interpolate, manifold_codes,
    prior_samples, project_2d, reconstruct, traverse,
)
from .losses import (
    ELBOTerms, elbo_terms, iwae_log_likelihood, kl_monte_carlo, log_importance_weights, neg_elbo_per_image,
    reconstruction_nll,
)
from .model import (
    VAE, DiagonalGaussian, MixturePrior, PointMass, StandardNormalPrior, VAEOutput, build_model, resolve_device,
)
from .train import FitResult, StepInfo, TrainingDiverged, TrainingRun, evaluate, fit, model_metrics, run_training, save_run

__all__ = [name for name in dir() if not name.startswith("_")]
