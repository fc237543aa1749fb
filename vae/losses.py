"""The objective: the ELBO split into distortion and rate, and the IWAE log-likelihood bound.

Every quantity is in **nats per image**: summed over the pixels (and latent dimensions) of one
image, averaged over the batch. That is the unit papers report and what pytorch/examples' VAE
prints, so numbers here compare directly with theirs.

    -ELBO(x) = E_q[-log p(x|z)]  +  KL(q(z|x) || p(z))
               reconstruction       rate
               ("distortion")

For the Bernoulli decoder the reconstruction term is binary cross-entropy with logits on
grey-level pixels in [0, 1] (not binarised MNIST); strictly this is a cross-entropy rather than
a log-likelihood, the convention of pytorch/examples and the Keras VAE example. For the
Gaussian decoder it is the exact negative log-density with a fixed standard deviation.

The log-likelihood estimate follows Burda, Grosse & Salakhutdinov, "Importance Weighted
Autoencoders" (2016): log p(x) >= log 1/k sum_i p(x, z_i) / q(z_i|x), z_i ~ q(z|x), which
equals the ELBO at k = 1 and tightens as k grows.

With a learned mixture prior (`VAEConfig.prior == "mog"`) the KL has no closed form and is the
one-sample estimate log q(z|x) - log p(z) at the z decoded for the reconstruction; conditional
models take their labels `y` wherever the model is called. A plain autoencoder
(`VAEConfig.variational` False) is trained on the reconstruction term alone: its KL is 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .config import VAEConfig
from .model import VAE, DiagonalGaussian, VAEOutput, standard_normal_log_prob


def reconstruction_nll(x_params: torch.Tensor, x: torch.Tensor, config: VAEConfig) -> torch.Tensor:
    """-log p(x|z) per image, (B,), summed over pixels.

    x_params and x are (..., C, H, W); leading dimensions are kept.
    """
    if config.likelihood == "bernoulli":
        nll = bernoulli_nll(x_params, x.expand_as(x_params))
    else:
        sigma = config.gaussian_std
        nll = 0.5 * ((x - x_params) / sigma) ** 2 + math.log(sigma) + 0.5 * math.log(2 * math.pi)
    return nll.flatten(start_dim=-3).sum(-1)


class _BernoulliNLL(torch.autograd.Function):
    """Elementwise binary cross-entropy with logits, softplus(l) - x*l, and its gradient sigmoid(l) - x.

    The same numbers as `F.binary_cross_entropy_with_logits(reduction="none")`, computed as
    max(l, 0) - x*l - log(sigmoid(|l|)): on the CPU, torch's log1p/log_sigmoid kernels take
    ~0.5 ms for one 128-image MNIST batch, against ~0.13 ms for sigmoid and log, and the
    reconstruction term was the largest cost of a training step after the matrix products
    (benchmarks/RESULTS.md, benchmark 1). log(sigmoid(|l|)) loses no more than one float ulp
    of 1.0 (~6e-8 nats) per pixel against log1p(exp(-|l|)).
    """

    @staticmethod
    def forward(ctx, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(logits, x)
        out = torch.sigmoid(logits.abs()).log_().neg_()  # log(1 + exp(-|l|)), in (0, log 2]
        out += logits.clamp(min=0)
        return out.addcmul_(x, logits, value=-1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        logits, x = ctx.saved_tensors
        grad_logits = torch.sigmoid(logits).sub_(x).mul_(grad) if ctx.needs_input_grad[0] else None
        grad_x = -logits * grad if ctx.needs_input_grad[1] else None
        return grad_logits, grad_x


def bernoulli_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log p(x | logits) per element for targets x in [0, 1] (the cross-entropy), same shapes."""
    return _BernoulliNLL.apply(logits, x)


def kl_monte_carlo(posterior: DiagonalGaussian, n_samples: int = 1, generator: torch.Generator | None = None,
                   prior: torch.nn.Module | None = None) -> torch.Tensor:
    """Monte-Carlo estimate of KL(q || p) per image, (B,): mean of log q(z) - log p(z), z ~ q.

    p is `prior` (anything with `log_prob`), N(0, I) by default, where the estimate is unbiased
    for the closed form `posterior.kl()` and its variance falls as 1/n_samples.
    """
    log_p = standard_normal_log_prob if prior is None else prior.log_prob
    z = torch.stack([posterior.sample(generator) for _ in range(n_samples)])  # (S, B, D)
    return (posterior.log_prob(z) - log_p(z)).mean(0)


@dataclass
class ELBOTerms:
    """Batch means, in nats per image.

    recon: E_q[-log p(x|z)] (one sample of z, or the mean if the output was not sampled).
    kl: KL(q(z|x) || p(z)), analytic unless a Monte-Carlo estimate was asked for (or the prior
        is a mixture, whose KL is always estimated by sampling).
    kl_per_dim: (D,) the analytic KL of each latent dimension to N(0, I), averaged over the
        batch (for a mixture prior only a diagnostic: its KL does not split by dimension).
    beta: weight of kl in `loss`.
    loss: recon + beta * kl, the quantity training minimises.
    """

    recon: torch.Tensor
    kl: torch.Tensor
    kl_per_dim: torch.Tensor
    beta: float
    loss: torch.Tensor

    @property
    def neg_elbo(self) -> torch.Tensor:
        """-ELBO = recon + kl, whatever beta was used for training."""
        return self.recon + self.kl


def elbo_terms(
    out: VAEOutput,
    x: torch.Tensor,
    config: VAEConfig,
    beta: float = 1.0,
    kl_estimator: str = "analytic",
    generator: torch.Generator | None = None,
) -> ELBOTerms:
    """ELBO terms of a forward pass `out = model(x)`."""
    recon = reconstruction_nll(out.x_params, x, config)  # (B,)
    kl_per_dim = out.posterior.kl_per_dim()  # (B, D)
    if kl_estimator not in ("analytic", "mc"):
        raise ValueError(f"kl_estimator must be 'analytic' or 'mc', got {kl_estimator!r}")
    if not config.variational:
        kl = kl_per_dim.sum(-1)  # zeros: a plain autoencoder's loss is the reconstruction alone
    elif not out.prior.analytic_kl:
        # Reuse the reconstruction's z when it was sampled: one draw serves both terms.
        z = out.z if out.sampled else out.posterior.sample(generator)
        kl = out.posterior.log_prob(z) - out.prior.log_prob(z)
    elif kl_estimator == "analytic":
        kl = kl_per_dim.sum(-1)
    else:
        kl = kl_monte_carlo(out.posterior, 1, generator)
    recon, kl = recon.mean(), kl.mean()
    return ELBOTerms(recon=recon, kl=kl, kl_per_dim=kl_per_dim.mean(0), beta=beta, loss=recon + beta * kl)


def neg_elbo_per_image(model: VAE, x: torch.Tensor, sample: bool = True, generator: torch.Generator | None = None,
                       y: torch.Tensor | None = None) -> torch.Tensor:
    """-ELBO of each image, (B,), one z sample (or the mean), in nats. y: labels for a conditional model."""
    out = model(x, y, sample=sample, generator=generator)
    kl = model.kl(out.posterior, out.z if sample else None, generator)
    return reconstruction_nll(out.x_params, x, model.config) + kl


@torch.no_grad()
def log_importance_weights(model: VAE, x: torch.Tensor, k: int, chunk: int = 100,
                           generator: torch.Generator | None = None, y: torch.Tensor | None = None) -> torch.Tensor:
    """(k, B) log w_i = log p(x|z_i) + log p(z_i) - log q(z_i|x), z_i ~ q(z|x), for images x (B, C, H, W).

    The k samples are drawn `chunk` at a time to bound memory; p(z) is `model.prior`.
    y: labels of a conditional model (then p(x|z, y) and q(z|x, y)).
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if not model.config.variational:
        raise ValueError("a plain autoencoder has no q(z|x) to sample from: its log p(x) bound is not defined")
    posterior = model.encode(x, y)
    log_w = []
    for start in range(0, k, chunk):
        n = min(chunk, k - start)
        z = torch.stack([posterior.sample(generator) for _ in range(n)])  # (n, B, D)
        y_rep = None if y is None else torch.as_tensor(y).reshape(1, -1).expand(n, -1).reshape(-1)  # (n*B,)
        x_params = model.decode(z.flatten(0, 1), y_rep).unflatten(0, (n, x.shape[0]))  # (n, B, C, H, W)
        log_px_z = -reconstruction_nll(x_params, x, model.config)  # (n, B)
        log_w.append(log_px_z + model.prior.log_prob(z) - posterior.log_prob(z))
    return torch.cat(log_w)


@torch.no_grad()
def iwae_log_likelihood(
    model: VAE, x: torch.Tensor, k: int = 1000, chunk: int = 100, generator: torch.Generator | None = None,
    y: torch.Tensor | None = None,
) -> torch.Tensor:
    """Importance-sampled estimate of log p(x) (log p(x|y) if conditional) per image, (B,), k samples from q.

    Combines all k log-weights (`log_importance_weights`) with a single logsumexp, so the
    estimate is exact and numerically stable however they were chunked.
    """
    return torch.logsumexp(log_importance_weights(model, x, k, chunk, generator, y), dim=0) - math.log(k)
