"""VAE Latent Explorer core: a compact PyTorch variational autoencoder and its tools.

Pure PyTorch / NumPy: nothing here imports Streamlit. Modules, in reading order:
config (dataclasses), model (the VAE), losses (ELBO, IWAE), data (datasets, image
preprocessing), train (fit, evaluate), checkpoint (safe I/O), latent (grids, paths,
projections), analysis (anomaly scores, clusters), toy (a VAE on 2-D points),
diagnostics (rate-distortion, active units, KL estimators, IWAE bounds), cli (the `vae-explorer` command).
"""

__version__ = "0.1.0"

from .analysis import (
    Clustering, Detection, anomaly_scores, centre_images, cluster_codes, contingency, detect, noise_images, nmi,
    purity, roc_auc,
)
from .checkpoint import CheckpointError, list_models, load_card, load_model, make_card, save_model, validate_name
from .config import TrainConfig, VAEConfig
from .data import DATASETS, DatasetUnavailable, Split, available_offline, data_dir, load_dataset, preprocess_image
from .diagnostics import (
    KLErrorCurve, KLEstimates, LatentUsage, LogLikelihoodReport, RDPoint, ReconstructionStats, SweepResult, beta_sweep,
    bits_per_dim, effective_sample_size, gaussian_nll_from_mse, iso_elbo_levels, iwae_bounds, kl_error_curve,
    kl_estimates, latent_usage, log_importance_weights, log_likelihood_report, log_marginal_grid, nats_per_pixel,
    rate_distortion_points, rd_point, reconstruction_stats, sweep_name,
)
from .latent import (
    DensityGrid, EncodedDataset, Projection, active_units, decode, density_grid, encode_dataset, interpolate,
    manifold_codes, prior_samples, project_2d, traverse,
)
from .losses import ELBOTerms, elbo_terms, iwae_log_likelihood, kl_monte_carlo, neg_elbo_per_image, reconstruction_nll
from .model import VAE, DiagonalGaussian, MixturePrior, StandardNormalPrior, VAEOutput, resolve_device
from .toy import TOY_DATASETS, ToyData, ToyResult, make_toy_data, train_toy
from .train import FitResult, StepInfo, TrainingDiverged, TrainingRun, evaluate, fit, model_metrics, run_training, save_run

__all__ = [name for name in dir() if not name.startswith("_")]
