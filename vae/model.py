"""The variational autoencoder: a diagonal-Gaussian posterior, an encoder, a decoder.

Follows Kingma & Welling, "Auto-Encoding Variational Bayes" (2014): the encoder q(z|x) outputs
the mean `mu` and log-variance `logvar` of a diagonal Gaussian, z is drawn with the
reparameterisation trick z = mu + sigma * eps, eps ~ N(0, I), so gradients reach mu and logvar,
and the decoder p(x|z) outputs Bernoulli logits or a Gaussian mean for every pixel.

Whether `forward` samples z or uses the posterior mean is an explicit argument, never a side
effect of `model.eval()`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .config import VAEConfig

# Clamp range for log-variances: exp(-30) .. exp(20) keeps sigma and its square finite in
# float32 even when a diverging run pushes the encoder far out (as diffusers does).
LOGVAR_MIN, LOGVAR_MAX = -30.0, 20.0


class DiagonalGaussian:
    """N(mu, diag(exp(logvar))) over codes of shape (B, D)."""

    def __init__(self, mu: torch.Tensor, logvar: torch.Tensor):
        self.mu = mu
        self.logvar = logvar.clamp(LOGVAR_MIN, LOGVAR_MAX)
        self.std = torch.exp(0.5 * self.logvar)

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """Reparameterised draw z = mu + std * eps; differentiable in mu and logvar."""
        eps = torch.randn(self.mu.shape, generator=generator, device=self.mu.device, dtype=self.mu.dtype)
        return self.mu + self.std * eps

    def mode(self) -> torch.Tensor:
        return self.mu

    def kl_per_dim(self) -> torch.Tensor:
        """KL(q || N(0, I)) per latent dimension, (B, D), in nats.

        Closed form from Kingma & Welling (2014), Appendix B:
        -KL = 1/2 * sum_j (1 + log sigma_j^2 - mu_j^2 - sigma_j^2).
        """
        return 0.5 * (self.mu.pow(2) + self.logvar.exp() - 1.0 - self.logvar)

    def kl(self) -> torch.Tensor:
        """KL(q || N(0, I)) summed over dimensions, (B,)."""
        return self.kl_per_dim().sum(dim=-1)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log q(z), summed over dimensions; z is (..., B, D), result (..., B)."""
        return (-0.5 * ((z - self.mu) ** 2 / self.logvar.exp() + self.logvar + math.log(2 * math.pi))).sum(-1)


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) summed over the last dimension."""
    return (-0.5 * (z**2 + math.log(2 * math.pi))).sum(-1)


@dataclass
class VAEOutput:
    """Result of `VAE.forward` for a batch of B images of shape (C, H, W) and latent size D.

    posterior: q(z|x) with mu, logvar of shape (B, D).
    z: (B, D) the code that was decoded (a sample, or mu when sample=False).
    x_params: (B, C, H, W) decoder output: Bernoulli logits or the Gaussian mean.
    x_hat: (B, C, H, W) the reconstruction as pixel intensities in [0, 1] (the decoder mean).
    """

    posterior: DiagonalGaussian
    z: torch.Tensor
    x_params: torch.Tensor
    x_hat: torch.Tensor

    @property
    def mu(self) -> torch.Tensor:
        return self.posterior.mu

    @property
    def logvar(self) -> torch.Tensor:
        return self.posterior.logvar


def _mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class VAE(nn.Module):
    def __init__(self, config: VAEConfig):
        super().__init__()
        self.config = config
        c, h, w = config.input_shape
        d = config.latent_dim
        if config.arch == "mlp":
            hidden = list(config.hidden_dims)
            self.encoder = nn.Sequential(nn.Flatten(), _mlp([c * h * w, *hidden]), nn.ReLU())
            self.to_moments = nn.Linear(hidden[-1], 2 * d)
            self.decoder = nn.Sequential(_mlp([d, *reversed(hidden), c * h * w]), nn.Unflatten(1, (c, h, w)))
        else:
            c1, c2 = config.hidden_dims
            flat = c2 * (h // 4) * (w // 4)
            self.encoder = nn.Sequential(
                nn.Conv2d(c, c1, 3, stride=2, padding=1), nn.ReLU(),  # (B, c1, H/2, W/2)
                nn.Conv2d(c1, c2, 3, stride=2, padding=1), nn.ReLU(),  # (B, c2, H/4, W/4)
                nn.Flatten(), nn.Linear(flat, 256), nn.ReLU(),
            )
            self.to_moments = nn.Linear(256, 2 * d)
            self.decoder = nn.Sequential(
                nn.Linear(d, 256), nn.ReLU(), nn.Linear(256, flat), nn.ReLU(),
                nn.Unflatten(1, (c2, h // 4, w // 4)),
                nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1), nn.ReLU(),  # (B, c1, H/2, W/2)
                nn.ConvTranspose2d(c1, c, 4, stride=2, padding=1),  # (B, C, H, W)
            )

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def encode(self, x: torch.Tensor) -> DiagonalGaussian:
        """q(z|x) for x of shape (B, C, H, W) in [0, 1]."""
        mu, logvar = self.to_moments(self.encoder(x)).chunk(2, dim=-1)  # (B, D) each
        return DiagonalGaussian(mu, logvar)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Decoder output for z of shape (B, D): Bernoulli logits, or the Gaussian mean in [0, 1]."""
        out = self.decoder(z)
        return torch.sigmoid(out) if self.config.likelihood == "gaussian" else out

    def mean_image(self, x_params: torch.Tensor) -> torch.Tensor:
        """Pixel intensities in [0, 1] (the mean of p(x|z)) from the decoder output."""
        return torch.sigmoid(x_params) if self.config.likelihood == "bernoulli" else x_params

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """Decode codes (B, D) straight to mean images (B, C, H, W) in [0, 1]."""
        return self.mean_image(self.decode(z))

    def sample_x(self, x_params: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """A draw from p(x|z): binary pixels for Bernoulli, mean + noise (clipped) for Gaussian."""
        if self.config.likelihood == "bernoulli":
            return torch.bernoulli(torch.sigmoid(x_params), generator=generator)
        noise = torch.randn(x_params.shape, generator=generator, device=x_params.device, dtype=x_params.dtype)
        return (x_params + self.config.gaussian_std * noise).clamp(0, 1)

    def forward(self, x: torch.Tensor, sample: bool = True, generator: torch.Generator | None = None) -> VAEOutput:
        """Encode, draw z (or take mu when sample=False), decode."""
        posterior = self.encode(x)
        z = posterior.sample(generator) if sample else posterior.mode()
        x_params = self.decode(z)
        return VAEOutput(posterior=posterior, z=z, x_params=x_params, x_hat=self.mean_image(x_params))


def resolve_device(device: str = "auto") -> torch.device:
    """"auto" -> cuda if available, else mps, else cpu; anything else is passed to torch.device."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(device)
