"""The variational autoencoder: a diagonal-Gaussian posterior, an encoder, a decoder.

Follows Kingma & Welling, "Auto-Encoding Variational Bayes" (2014): the encoder q(z|x) outputs
the mean `mu` and log-variance `logvar` of a diagonal Gaussian, z is drawn with the
reparameterisation trick z = mu + sigma * eps, eps ~ N(0, I), so gradients reach mu and logvar,
and the decoder p(x|z) outputs Bernoulli logits or a Gaussian mean for every pixel.

Whether `forward` samples z or uses the posterior mean is an explicit argument, never a side
effect of `model.eval()`.

Two optional extensions, both off by default so a plain VAE is exactly the paper's:
- a conditional VAE (Sohn, Lee & Yan, "Learning Structured Output Representation using Deep
  Conditional Generative Models", 2015): the one-hot label y is concatenated to the encoder's
  features and to z before decoding, so z is left to carry the "style" that y does not;
- a learned mixture-of-Gaussians prior p(z) = sum_k pi_k N(z; m_k, diag s_k^2) instead of
  N(0, I). Its KL to q(z|x) has no closed form, so it is estimated by sampling,
  KL ~= log q(z|x) - log p(z) with the z already drawn for the reconstruction.
"""

from __future__ import annotations

import functools
import math
import threading
from dataclasses import dataclass

import torch
from torch import nn

from .config import VAEConfig

CONV_FC = 256  # width of the conv architecture's fully connected layer unless hidden_dims names a third width

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


class PointMass(DiagonalGaussian):
    """What a plain autoencoder's encoder gives (`VAEConfig.variational` False): all mass at mu.

    `sample` and `mode` both return mu, so the code is deterministic and no random numbers are
    drawn; the KL is reported as zeros because the autoencoder's loss has no such term (to N(0, I)
    it would be infinite). logvar is held at LOGVAR_MIN, a finite stand-in for zero width. A point
    mass has no density, so `log_prob` refuses: importance sampling is not defined for it.
    """

    def __init__(self, mu: torch.Tensor):
        super().__init__(mu, torch.full_like(mu, LOGVAR_MIN))

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.mu

    def kl_per_dim(self) -> torch.Tensor:
        return torch.zeros_like(self.mu)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        raise ValueError("a plain autoencoder's code is a point, not a distribution: log q(z|x) is not defined")


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) summed over the last dimension."""
    return (-0.5 * (z**2 + math.log(2 * math.pi))).sum(-1)


class StandardNormalPrior(nn.Module):
    """p(z) = N(0, I); the KL from a diagonal Gaussian has a closed form."""

    analytic_kl = True

    def __init__(self, latent_dim: int):
        super().__init__()
        self.latent_dim = latent_dim

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return standard_normal_log_prob(z)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(n, self.latent_dim, generator=generator)


class MixturePrior(nn.Module):
    """A learned mixture of K diagonal Gaussians, p(z) = sum_k pi_k N(z; m_k, diag exp(logvar_k)).

    The means start spread out (a fixed-seed N(0, I) draw) so the components do not all sit at
    the origin; weights start equal. All parameters are trained with the rest of the ELBO.
    """

    analytic_kl = False

    def __init__(self, latent_dim: int, n_components: int):
        super().__init__()
        self.latent_dim = latent_dim
        init = torch.randn(n_components, latent_dim, generator=torch.Generator().manual_seed(0))
        self.means = nn.Parameter(init)  # (K, D)
        self.logvars = nn.Parameter(torch.full((n_components, latent_dim), -1.0))  # (K, D)
        self.logits = nn.Parameter(torch.zeros(n_components))  # (K,)

    @property
    def weights(self) -> torch.Tensor:
        return torch.softmax(self.logits, dim=0)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) for z of shape (..., D); result (...)."""
        logvars = self.logvars.clamp(LOGVAR_MIN, LOGVAR_MAX)
        diff = z.unsqueeze(-2) - self.means  # (..., K, D)
        log_n = -0.5 * (diff**2 / logvars.exp() + logvars + math.log(2 * math.pi)).sum(-1)  # (..., K)
        return torch.logsumexp(torch.log_softmax(self.logits, 0) + log_n, dim=-1)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        k = torch.multinomial(self.weights.cpu(), n, replacement=True, generator=generator)
        eps = torch.randn(n, self.latent_dim, generator=generator)
        std = torch.exp(0.5 * self.logvars.clamp(LOGVAR_MIN, LOGVAR_MAX)).cpu()
        return self.means.detach().cpu()[k] + std[k] * eps


def _mean_image(x_params: torch.Tensor, likelihood: str) -> torch.Tensor:
    return torch.sigmoid(x_params) if likelihood == "bernoulli" else x_params


@dataclass
class VAEOutput:
    """Result of `VAE.forward` for a batch of B images of shape (C, H, W) and latent size D.

    posterior: q(z|x) with mu, logvar of shape (B, D).
    z: (B, D) the code that was decoded (a sample, or mu when sample=False).
    x_params: (B, C, H, W) decoder output: Bernoulli logits or the Gaussian mean.
    x_hat: (B, C, H, W) the reconstruction as pixel intensities in [0, 1] (the decoder mean),
        computed on first use (training never needs it).
    prior: the model's p(z), for the KL term.
    sampled: whether z was drawn from the posterior (False: z is its mean).
    likelihood: "bernoulli" or "gaussian", how x_params map to pixels.
    """

    posterior: DiagonalGaussian
    z: torch.Tensor
    x_params: torch.Tensor
    prior: nn.Module
    sampled: bool
    likelihood: str = "bernoulli"

    @functools.cached_property
    def x_hat(self) -> torch.Tensor:
        return _mean_image(self.x_params, self.likelihood)

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
        d, k = config.latent_dim, config.n_classes  # k = 0: no label input
        if config.arch == "mlp":
            hidden = list(config.hidden_dims)
            self.encoder = nn.Sequential(nn.Flatten(), _mlp([c * h * w + k, *hidden]), nn.ReLU())
            self.to_moments = nn.Linear(hidden[-1], 2 * d)
            self.decoder = nn.Sequential(_mlp([d + k, *reversed(hidden), c * h * w]), nn.Unflatten(1, (c, h, w)))
            self._label_at = 1  # the one-hot label joins the flattened image
        else:
            c1, c2, fc = (*config.hidden_dims, CONV_FC)[:3]
            flat = c2 * (h // 4) * (w // 4)
            self.encoder = nn.Sequential(
                nn.Conv2d(c, c1, 3, stride=2, padding=1), nn.ReLU(),  # (B, c1, H/2, W/2)
                nn.Conv2d(c1, c2, 3, stride=2, padding=1), nn.ReLU(),  # (B, c2, H/4, W/4)
                nn.Flatten(), nn.Linear(flat + k, fc), nn.ReLU(),
            )
            self._label_at = 5  # the one-hot label joins the flattened conv features
            self.to_moments = nn.Linear(fc, 2 * d)
            self.decoder = nn.Sequential(
                nn.Linear(d + k, fc), nn.ReLU(), nn.Linear(fc, flat), nn.ReLU(),
                nn.Unflatten(1, (c2, h // 4, w // 4)),
                nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1), nn.ReLU(),  # (B, c1, H/2, W/2)
                nn.ConvTranspose2d(c1, c, 4, stride=2, padding=1),  # (B, C, H, W)
            )
        self.prior = StandardNormalPrior(d) if config.prior == "standard" else MixturePrior(d, config.prior_components)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def one_hot(self, y: torch.Tensor | None, batch: int) -> torch.Tensor | None:
        """(B, K) one-hot labels for a conditional model, None for a plain one (which ignores y)."""
        k = self.config.n_classes
        if k == 0:
            return None
        if y is None:
            raise ValueError(f"this is a conditional VAE: pass the labels y (integers 0..{k - 1})")
        y = torch.as_tensor(y, device=self.device).long().reshape(-1)
        if y.shape[0] != batch:
            raise ValueError(f"got {y.shape[0]} labels for {batch} inputs")
        if y.numel() and (y.min() < 0 or y.max() >= k):
            raise ValueError(f"labels must be integers in 0..{k - 1}")
        return nn.functional.one_hot(y, k).to(self.to_moments.weight.dtype)

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> DiagonalGaussian:
        """q(z|x) (or q(z|x, y) for a conditional model) for x of shape (B, C, H, W) in [0, 1].

        A plain autoencoder (config.variational False) returns a `PointMass` at mu instead.
        """
        onehot = self.one_hot(y, x.shape[0])
        if onehot is None:
            h = self.encoder(x)
        else:
            h = self.encoder[: self._label_at](x)  # (B, F) flattened image or conv features
            h = self.encoder[self._label_at :](torch.cat([h, onehot], dim=1))
        # float32 whatever autocast ran the layers in: the loss and sampling need the precision.
        mu, logvar = self.to_moments(h).float().chunk(2, dim=-1)  # (B, D) each
        # A plain autoencoder keeps the same layers (same weight shapes) and ignores logvar.
        return DiagonalGaussian(mu, logvar) if self.config.variational else PointMass(mu)

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Decoder output for z of shape (B, D): Bernoulli logits, or the Gaussian mean in [0, 1].

        A conditional model needs the labels y (B,); a plain one ignores them.
        """
        onehot = self.one_hot(y, z.shape[0])
        out = self.decoder(z if onehot is None else torch.cat([z, onehot], dim=1)).float()
        return torch.sigmoid(out) if self.config.likelihood == "gaussian" else out

    def kl(self, posterior: DiagonalGaussian, z: torch.Tensor | None = None,
           generator: torch.Generator | None = None) -> torch.Tensor:
        """KL(q(z|x) || p(z)) per image, (B,): closed form for N(0, I), else log q(z) - log p(z).

        For the mixture prior the estimate uses `z` (a draw from the posterior: pass the one used
        for the reconstruction), or a fresh draw when z is None.
        """
        if self.prior.analytic_kl:
            return posterior.kl()
        z = posterior.sample(generator) if z is None else z
        return posterior.log_prob(z) - self.prior.log_prob(z)

    def mean_image(self, x_params: torch.Tensor) -> torch.Tensor:
        """Pixel intensities in [0, 1] (the mean of p(x|z)) from the decoder output."""
        return _mean_image(x_params, self.config.likelihood)

    def generate(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Decode codes (B, D) straight to mean images (B, C, H, W) in [0, 1]."""
        return self.mean_image(self.decode(z, y))

    def sample_x(self, x_params: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """A draw from p(x|z): binary pixels for Bernoulli, mean + noise (clipped) for Gaussian."""
        if self.config.likelihood == "bernoulli":
            return torch.bernoulli(torch.sigmoid(x_params), generator=generator)
        noise = torch.randn(x_params.shape, generator=generator, device=x_params.device, dtype=x_params.dtype)
        return (x_params + self.config.gaussian_std * noise).clamp(0, 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None, sample: bool = True,
                generator: torch.Generator | None = None) -> VAEOutput:
        """Encode, draw z (or take mu when sample=False), decode. y: labels, for a conditional model."""
        posterior = self.encode(x, y)
        z = posterior.sample(generator) if sample else posterior.mode()
        x_params = self.decode(z, y)
        return VAEOutput(posterior=posterior, z=z, x_params=x_params, prior=self.prior, sampled=sample,
                         likelihood=self.config.likelihood)


_BUILD_LOCK = threading.Lock()


def build_model(config: VAEConfig, seed: int = 0) -> VAE:
    """A fresh VAE whose initial weights depend on (config, seed) alone.

    The one way this project makes a model to train. Seeding is process-wide in torch, so the
    global generator is forked (the caller's random state is untouched) and the lock keeps two
    threads from interleaving their seeding and construction.
    """
    with _BUILD_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return VAE(config)


def resolve_device(device: str = "auto") -> torch.device:
    """"auto" -> cuda if available, else mps, else cpu; anything else is passed to torch.device."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(device)
