"""VAE Latent Explorer core: a compact PyTorch variational autoencoder and its tools.

Pure PyTorch / NumPy: nothing here imports Streamlit. Modules, in reading order:
config (dataclasses), model (the VAE), losses (ELBO, IWAE), data (datasets, image
preprocessing), train (fit, evaluate), checkpoint (safe I/O), latent (grids, paths,
projections), cli (the `vae-explorer` command).
"""

__version__ = "0.1.0"

from .checkpoint import CheckpointError, list_models, load_card, load_model, make_card, save_model, validate_name
from .config import TrainConfig, VAEConfig
from .data import DATASETS, DatasetUnavailable, Split, available_offline, data_dir, load_dataset, preprocess_image
from .latent import (
    DensityGrid, EncodedDataset, Projection, active_units, decode, density_grid, encode_dataset, interpolate,
    manifold_codes, prior_samples, project_2d, traverse,
)
from .losses import ELBOTerms, elbo_terms, iwae_log_likelihood, kl_monte_carlo, neg_elbo_per_image, reconstruction_nll
from .model import VAE, DiagonalGaussian, MixturePrior, StandardNormalPrior, VAEOutput, resolve_device
from .train import FitResult, StepInfo, TrainingDiverged, TrainingRun, evaluate, fit, model_metrics, run_training, save_run

__all__ = [name for name in dir() if not name.startswith("_")]
