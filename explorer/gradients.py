"""Why the reparameterisation trick: two Monte-Carlo estimators of the ELBO's gradient, compared.

For one image x the posterior q_phi(z|x) = N(mu, diag exp(logvar)) has parameters phi = (mu, logvar),
the encoder's outputs (its weights reach the ELBO only through them, so these gradients are what
backpropagation hands on to the encoder). The objective is the ELBO itself,

    ELBO(phi) = E_{z ~ q_phi}[f_phi(z)],    f_phi(z) = log p(x|z) + log p(z) - log q_phi(z),

with log p(z) from `model.prior` (N(0, I) or the learned mixture) and the model's own likelihood
(`vae.losses.reconstruction_nll`). The gradient is taken with respect to mu and logvar (= log sigma^2,
the spelling the encoder outputs), and both estimators average n independent draws z_s ~ q:

- score function (REINFORCE, likelihood ratio; Williams 1992):
      grad ~= 1/n sum_s [ f(z_s) grad_phi log q_phi(z_s) + d_phi f_phi(z_s) ]
  It only needs the *values* f(z_s), each multiplied by a noisy score (epsilon / sigma for mu).
  The second term is f's explicit dependence on phi (here -grad_phi log q, of mean zero).
- pathwise (reparameterised; Kingma & Welling 2014, Section 2.4): write z = mu + sigma * eps,
  eps ~ N(0, I), and differentiate through the sample,
      grad ~= 1/n sum_s [ df/dz(z_s) dz/dphi + d_phi f_phi(z_s) ],  dz/dmu = 1, dz/dlogvar = sigma eps / 2.
  It uses the derivative of log p(x|z) along z, which the score function never sees.

Both are unbiased; both spreads fall like 1/sqrt(n), the score function's from far higher. The
per-draw gradients are computed once for a pool of draws (one shared draw feeds both estimators);
the n-sample estimates are means of disjoint groups of n draws, as `estimators.iwae_bounds` does.
A one-dimensional toy with a closed-form gradient, E[(z - c)^2] = (mu - c)^2 + sigma^2, checks both.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from vae.losses import reconstruction_nll
from vae.model import VAE, DiagonalGaussian

NS = (1, 3, 10, 30, 100, 300, 1000)  # the sample counts the page and the tests use
_SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")

# f(z, q) -> (N,): the integrand at codes z (N, D) under the posterior q (whose parameters it may use).
Integrand = Callable[[torch.Tensor, DiagonalGaussian], torch.Tensor]


def component_names(latent_dim: int) -> list[str]:
    """Names of the 2D gradient components, in the column order used here: mu_1..mu_D, then logvar_1..logvar_D."""
    return ([f"μ{str(j + 1).translate(_SUBSCRIPTS)}" for j in range(latent_dim)]
            + [f"log σ²{str(j + 1).translate(_SUBSCRIPTS)}" for j in range(latent_dim)])


# ---------------------------------------------------------------------------------------------
# Per-draw gradients of both estimators
# ---------------------------------------------------------------------------------------------


@dataclass
class GradientDraws:
    """One-draw gradient estimates of E_q[f] with respect to (mu, logvar), from N draws z_s ~ q.

    score, pathwise: (N, P) float64, P = 2D columns (mu_1..mu_D, logvar_1..logvar_D); row s is each
        estimator's estimate from the single draw z_s (the same draw for both).
    An n-sample estimate is the mean of n rows.
    """

    score: np.ndarray
    pathwise: np.ndarray

    @property
    def n_draws(self) -> int:
        return len(self.score)

    @property
    def latent_dim(self) -> int:
        return self.score.shape[1] // 2

    @property
    def reference(self) -> np.ndarray:
        """(P,) the pathwise estimate from all N draws: the 'large-n' gradient (no closed form for a VAE)."""
        return self.pathwise.mean(0)

    @property
    def reference_se(self) -> np.ndarray:
        """(P,) standard error of `reference`."""
        return self.pathwise.std(0, ddof=1) / math.sqrt(self.n_draws)

    def estimates(self, n: int, max_repeats: int = 200) -> tuple[np.ndarray, np.ndarray]:
        """Repeated n-sample estimates (score, pathwise), each (R, P): means of R = min(max_repeats, N // n)
        disjoint groups of n draws, so each is an honest, independent n-sample estimate."""
        repeats = min(max_repeats, self.n_draws // n)
        if n < 1 or repeats < 2:
            raise ValueError(f"{self.n_draws} draws make fewer than 2 groups of n = {n}")
        cut = repeats * n
        return (self.score[:cut].reshape(repeats, n, -1).mean(1),  # (R, P)
                self.pathwise[:cut].reshape(repeats, n, -1).mean(1))


def gradient_draws(f: Integrand, mu: torch.Tensor, logvar: torch.Tensor, n_draws: int,
                   generator: torch.Generator | None = None, chunk: int = 4096) -> GradientDraws:
    """Per-draw score-function and pathwise gradients of E_{q}[f(z, q)], q = N(mu, diag exp(logvar)).

    mu, logvar: (D,) or (1, D), one posterior. Each chunk repeats the parameters once per draw, so
    autograd returns one gradient per draw (each draw's f depends on its own copy only). One
    backward pass gives df/dz and f's explicit partials in phi; the trick's chain rule
    dz/dphi = (1, sigma eps / 2) is then applied by hand, as the module docstring writes it.
    """
    mu, logvar = mu.detach().reshape(1, -1), logvar.detach().reshape(1, -1)
    if n_draws < 1:
        raise ValueError(f"n_draws must be >= 1, got {n_draws}")
    score, pathwise = [], []
    with torch.enable_grad():
        for start in range(0, n_draws, chunk):
            m = min(chunk, n_draws - start)
            mu_s = mu.expand(m, -1).clone().requires_grad_(True)  # (m, D): one copy per draw
            logvar_s = logvar.expand(m, -1).clone().requires_grad_(True)
            q = DiagonalGaussian(mu_s, logvar_s)
            eps = torch.randn(mu_s.shape, generator=generator, device=mu.device, dtype=mu.dtype)
            z = (q.mu + q.std * eps).detach().requires_grad_(True)  # (m, D) the draws, as a leaf
            values = f(z, q)  # (m,)
            df_dz, df_dmu, df_dlogvar = torch.autograd.grad(values.sum(), [z, mu_s, logvar_s], materialize_grads=True)
            explicit = torch.cat([df_dmu, df_dlogvar], 1)  # (m, 2D) f's own dependence on phi, z held fixed
            # Pathwise: through z = mu + sigma * eps.
            chain = torch.cat([df_dz, df_dz * q.std.detach() * eps / 2], 1)
            # Score function: f(z) times grad_phi log q(z), z held fixed.
            log_q = DiagonalGaussian(mu_s, logvar_s).log_prob(z.detach())  # its own graph: f's is spent
            s_mu, s_logvar = torch.autograd.grad(log_q.sum(), [mu_s, logvar_s])
            value_times_score = values.detach().unsqueeze(1) * torch.cat([s_mu, s_logvar], 1)
            # detach: torch 2.6's autograd.grad(materialize_grads=True) can return tensors that require grad
            pathwise.append((chain + explicit).detach().double().cpu())
            score.append((value_times_score + explicit).detach().double().cpu())
    return GradientDraws(torch.cat(score).numpy(), torch.cat(pathwise).numpy())


def elbo_integrand(model: VAE, x: torch.Tensor, y: torch.Tensor | None = None) -> Integrand:
    """f(z, q) = log p(x|z) + log p(z) - log q(z) for one image x (1, C, H, W) (label y (1,) for a
    conditional model): the model's own likelihood and prior, differentiable in z."""
    x = x.to(model.device)
    y = None if y is None else torch.as_tensor(y, device=model.device).reshape(1)

    def f(z: torch.Tensor, q: DiagonalGaussian) -> torch.Tensor:
        labels = None if y is None else y.expand(len(z))
        log_px_z = -reconstruction_nll(model.decode(z, labels), x, model.config)  # (N,)
        return log_px_z + model.prior.log_prob(z) - q.log_prob(z)

    return f


def elbo_gradient_draws(model: VAE, x: torch.Tensor, y: torch.Tensor | None = None, n_draws: int = 20_000,
                        generator: torch.Generator | None = None) -> GradientDraws:
    """Per-draw gradients of the ELBO of one image x (1, C, H, W) in its posterior's (mu, logvar).

    The model is only read (its weights need no gradients). 20,000 draws give 200 repeats up to
    n = 100, 66 at n = 300 and 20 at n = 1000 (the cap on the work for large n).
    """
    x = x.to(model.device)
    y = None if y is None else torch.as_tensor(y, device=model.device).reshape(1)
    with torch.no_grad():
        q = model.encode(x, y)
    return gradient_draws(elbo_integrand(model, x, y), q.mu, q.logvar, n_draws, generator)


# ---------------------------------------------------------------------------------------------
# Spread against n
# ---------------------------------------------------------------------------------------------


@dataclass
class GradientSpread:
    """How each estimator's n-sample gradient estimate spreads, for each n.

    n, repeats: (K,) sample counts and the number of independent estimates behind each row;
    score_mean, score_std, pathwise_mean, pathwise_std: (K, P) mean and standard deviation over
        those repeats of each gradient component (columns as in `component_names`);
    score_sigma_1, pathwise_sigma_1: (P,) spread of a one-draw estimate over all N draws, so
        sigma_1 / sqrt(n) is each estimator's theory line;
    reference: (P,) the gradient from all N pathwise draws (`GradientDraws.reference`).
    """

    n: np.ndarray
    repeats: np.ndarray
    score_mean: np.ndarray
    score_std: np.ndarray
    pathwise_mean: np.ndarray
    pathwise_std: np.ndarray
    score_sigma_1: np.ndarray
    pathwise_sigma_1: np.ndarray
    reference: np.ndarray

    @property
    def variance_ratio(self) -> np.ndarray:
        """(K, P) score-function variance over pathwise variance, per component: how many times
        more samples the score function needs for the same spread."""
        return self.score_std**2 / self.pathwise_std**2

    @property
    def total_variance_ratio(self) -> np.ndarray:
        """(K,) the same for the whole gradient vector (variances summed over the components)."""
        return (self.score_std**2).sum(1) / (self.pathwise_std**2).sum(1)


def gradient_spread(draws: GradientDraws, ns: Sequence[int] = NS, max_repeats: int = 200) -> GradientSpread:
    """Mean and spread of both estimators at each n in `ns`, from disjoint groups of the draws."""
    ns = sorted({int(n) for n in ns})
    if not ns or ns[0] < 1:
        raise ValueError("ns must hold sample counts >= 1")
    score, pathwise = zip(*(draws.estimates(n, max_repeats) for n in ns))  # K arrays (R_n, P) each
    return GradientSpread(
        n=np.array(ns), repeats=np.array([len(s) for s in score]),
        score_mean=np.stack([s.mean(0) for s in score]), score_std=np.stack([s.std(0, ddof=1) for s in score]),
        pathwise_mean=np.stack([p.mean(0) for p in pathwise]), pathwise_std=np.stack([p.std(0, ddof=1) for p in pathwise]),
        score_sigma_1=draws.score.std(0, ddof=1), pathwise_sigma_1=draws.pathwise.std(0, ddof=1),
        reference=draws.reference)


def elbo_gradient_spread(model: VAE, x: torch.Tensor, y: torch.Tensor | None = None, seed: int = 0,
                         ns: Sequence[int] = NS, n_draws: int = 20_000, max_repeats: int = 200) -> GradientSpread:
    """Both estimators' spread for one image, seeded: the same seed gives the same numbers."""
    generator = torch.Generator(device=model.device).manual_seed(seed)
    return gradient_spread(elbo_gradient_draws(model, x, y, n_draws, generator), ns, max_repeats)


# ---------------------------------------------------------------------------------------------
# A one-dimensional toy with an exact gradient
# ---------------------------------------------------------------------------------------------


def quadratic_toy_gradient(mu: float, sigma: float, c: float) -> np.ndarray:
    """Exact (d/dmu, d/dlogvar) of E_{z ~ N(mu, sigma^2)}[(z - c)^2] = (mu - c)^2 + sigma^2:
    (2 (mu - c), sigma^2), since d sigma^2 / d logvar = sigma^2."""
    return np.array([2 * (mu - c), sigma**2])


def quadratic_toy_draws(mu: float, sigma: float, c: float, n_draws: int = 20_000,
                        generator: torch.Generator | None = None) -> GradientDraws:
    """Per-draw gradients of both estimators for f(z) = (z - c)^2 under q = N(mu, sigma^2)."""
    def f(z: torch.Tensor, q: DiagonalGaussian) -> torch.Tensor:
        return ((z - c) ** 2).sum(-1)

    mu_t = torch.tensor([mu], dtype=torch.float64)
    logvar_t = torch.tensor([2 * math.log(sigma)], dtype=torch.float64)
    return gradient_draws(f, mu_t, logvar_t, n_draws, generator)
