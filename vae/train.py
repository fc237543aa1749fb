"""Training and evaluation: `fit` runs Adam on the (beta-weighted) negative ELBO.

A plain function with callbacks, like minGPT's trainer: the CLI's progress bar and the app's
live curves both watch through `on_step` / `on_epoch`, and either can stop the run by returning
True; the core knows neither. Data lives in memory as one tensor; each epoch shuffles indices
with a seeded `torch.Generator`, so there is no per-item Python work in the hot loop.

Failure handling: a non-finite loss raises `TrainingDiverged` after restoring the weights of
the last finished epoch; a stop requested in the middle of an epoch also rolls back to the
last finished epoch, so the model always matches the last record in the history.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from .card import Metrics, ModelCard
from .config import TrainConfig
from .latent import active_units, encode_dataset
from .losses import elbo_terms, iwae_log_likelihood
from .model import VAE, resolve_device


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the model holds the last good epoch's weights."""

    def __init__(self, message: str, history: list[dict[str, Any]]):
        super().__init__(message)
        self.history = history


@dataclass
class StepInfo:
    epoch: int  # 0-based
    step: int  # 0-based within the epoch
    steps_per_epoch: int
    loss: float
    recon: float
    kl: float


@dataclass
class FitResult:
    history: list[dict[str, Any]] = field(default_factory=list)
    stopped_early: bool = False
    seconds: float = 0.0

    @property
    def epochs_completed(self) -> int:
        return len(self.history)


@torch.no_grad()
def evaluate(model: VAE, x: torch.Tensor, batch_size: int = 1000, seed: int = 0, sample: bool = True,
             labels: torch.Tensor | None = None) -> dict[str, Any]:
    """Mean ELBO terms over all of x (nats per image), with one seeded z sample per image.

    Returns {"recon", "kl", "neg_elbo", "kl_per_dim"}; floats, and a list for kl_per_dim.
    `labels` (N,) are needed by a conditional model and ignored by a plain one.
    """
    device = model.device
    generator = torch.Generator(device=device).manual_seed(seed)
    n = x.shape[0]
    recon = kl = 0.0
    kl_per_dim = torch.zeros(model.config.latent_dim, device=device)
    for start in range(0, n, batch_size):
        xb = x[start : start + batch_size].to(device)
        yb = None if labels is None else labels[start : start + batch_size].to(device)
        terms = elbo_terms(model(xb, yb, sample=sample, generator=generator), xb, model.config, generator=generator)
        recon += terms.recon.item() * len(xb)
        kl += terms.kl.item() * len(xb)
        kl_per_dim += terms.kl_per_dim * len(xb)
    return {"recon": recon / n, "kl": kl / n, "neg_elbo": (recon + kl) / n, "kl_per_dim": (kl_per_dim / n).tolist()}


def model_metrics(model, x: torch.Tensor, iwae_k: int = 0, seed: int = 0, batch_size: int = 500,
                  labels: torch.Tensor | None = None,
                  on_progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Test-set metrics in nats per image: ELBO terms, active units and (optionally) IWAE NLL.

    A plain autoencoder has no IWAE bound (no q(z|x) to sample): iwae_k is ignored for it.

    on_progress(done, total) counts images of x measured: after the ELBO pass (done = 0 when the
    IWAE passes, which take nearly all the time, follow; else total) and after each IWAE batch.
    """
    n = int(x.shape[0])
    iwae_k = iwae_k if model.config.variational else 0
    metrics = evaluate(model, x, seed=seed, labels=labels)
    mu = encode_dataset(model, x, labels).mu
    metrics["active_units"] = int(active_units(mu).sum())
    metrics["n_images"] = n
    if on_progress is not None:
        on_progress(0 if iwae_k > 0 else n, n)
    if iwae_k > 0:
        generator = torch.Generator(device=model.device).manual_seed(seed)
        # Fewer images per batch as k grows keeps each decode near 100k images.
        per_batch = max(1, min(batch_size, 100_000 // min(iwae_k, 100_000)))
        ll = []
        for s in range(0, n, per_batch):
            ll.append(iwae_log_likelihood(model, x[s : s + per_batch].to(model.device), iwae_k, generator=generator,
                                          y=None if labels is None else labels[s : s + per_batch]))
            if on_progress is not None:
                on_progress(min(s + per_batch, n), n)
        metrics["iwae_nll"] = -torch.cat(ll).mean().item()
        metrics["iwae_k"] = iwae_k
    return metrics


def _lr_factor(cfg: TrainConfig, step: int, total_steps: int) -> float:
    if cfg.schedule == "constant":
        return 1.0
    return 0.5 * (1.0 + math.cos(math.pi * step / total_steps))  # cosine decay to 0


def _clip_gradients(params: list[torch.nn.Parameter], max_norm: float) -> None:
    """`clip_grad_norm_`, except that on the CPU the gradients are rescaled only when their norm is
    over the limit: there the comparison costs nothing, while the unconditional rescale was ~2 %
    of a step. On an accelerator the comparison would wait for the device, so the branch-free
    version runs."""
    if params[0].device.type != "cpu":
        torch.nn.utils.clip_grad_norm_(params, max_norm)
        return
    norm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
    if norm > max_norm:  # False for a NaN norm as well: the finite-loss check stops that run
        torch.nn.utils.clip_grads_with_norm_(params, max_norm, norm)


def fit(
    model: VAE,
    train: torch.Tensor,
    test: torch.Tensor | None,
    cfg: TrainConfig,
    on_epoch: Callable[[dict[str, Any]], bool | None] | None = None,
    on_step: Callable[[StepInfo], bool | None] | None = None,
    train_labels: torch.Tensor | None = None,
    test_labels: torch.Tensor | None = None,
) -> FitResult:
    """Train `model` in place on images `train` (N, C, H, W) in [0, 1].

    A conditional model also needs the integer labels of both sets (`train_labels`, `test_labels`).

    After every epoch the record {"epoch", "beta", "lr", "seconds", "train_loss", "train_recon",
    "train_kl", "train_neg_elbo", and "test_recon", "test_kl", "test_neg_elbo" when `test` is
    given} is appended to the history and passed to `on_epoch`. Either callback returning True
    stops the run; a stop inside an epoch rolls the weights back to the last finished epoch.
    """
    device = resolve_device(cfg.device)
    model.to(device).train()
    train = train.to(device)
    train_labels = None if train_labels is None else train_labels.to(device)
    n = train.shape[0]
    if n == 0:
        raise ValueError("the training set is empty")
    steps_per_epoch = math.ceil(n / cfg.batch_size)
    total_steps = cfg.epochs * steps_per_epoch
    # fused: one kernel per parameter instead of a dozen small ops (benchmarks/RESULTS.md, benchmark 1).
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=cfg.lr, fused=device.type in ("cpu", "cuda"))
    scheduler = None if cfg.schedule == "constant" else \
        torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: _lr_factor(cfg, s, total_steps))
    # cache_enabled=False: the cast weights must be redone after every optimiser step.
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bfloat16", cache_enabled=False)
    shuffle_gen = torch.Generator().manual_seed(cfg.seed)
    noise_gen = torch.Generator(device=device).manual_seed(cfg.seed + 1)

    result = FitResult()
    last_good = copy.deepcopy(model.state_dict())
    t_start = time.perf_counter()
    for epoch in range(cfg.epochs):
        t_epoch = time.perf_counter()
        beta = cfg.kl_weight(epoch)
        lr = optimizer.param_groups[0]["lr"]
        sums = [0.0, 0.0, 0.0]  # running (loss, recon, kl) * batch size
        perm = torch.randperm(n, generator=shuffle_gen).to(device)
        stop = False
        for step in range(steps_per_epoch):
            idx = perm[step * cfg.batch_size : (step + 1) * cfg.batch_size]
            xb = train.index_select(0, idx)  # ~2x faster than train[idx] on the CPU
            yb = None if train_labels is None else train_labels[idx]
            with autocast:
                out = model(xb, yb, sample=True, generator=noise_gen)
            terms = elbo_terms(out, xb, model.config, beta=beta)
            # One read of the three numbers per step (a single device sync on an accelerator).
            values = torch.stack([terms.loss.detach(), terms.recon.detach(), terms.kl.detach()]).tolist()
            if not math.isfinite(values[0]):
                model.load_state_dict(last_good)
                raise TrainingDiverged(
                    f"training diverged in epoch {epoch + 1}, step {step + 1}: the loss became "
                    f"{values[0]} (learning rate {lr:g} is probably too high); the model keeps "
                    f"the weights of the last finished epoch ({len(result.history)})",
                    result.history,
                )
            optimizer.zero_grad(set_to_none=True)
            terms.loss.backward()
            if cfg.grad_clip is not None:
                _clip_gradients(params, cfg.grad_clip)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            sums = [total + v * len(xb) for total, v in zip(sums, values)]
            if on_step is not None and on_step(StepInfo(epoch, step, steps_per_epoch, *values)):
                stop = True
                break
        if stop:
            model.load_state_dict(last_good)
            result.stopped_early = True
            break

        loss, recon, kl = (total / n for total in sums)
        record: dict[str, Any] = {
            "epoch": epoch + 1, "beta": beta, "lr": lr,
            "train_loss": loss, "train_recon": recon, "train_kl": kl, "train_neg_elbo": recon + kl,
        }
        if test is not None:
            metrics = evaluate(model, test, cfg.eval_batch_size, seed=cfg.seed, labels=test_labels)
            record.update(test_recon=metrics["recon"], test_kl=metrics["kl"], test_neg_elbo=metrics["neg_elbo"])
            model.train()
        record["seconds"] = time.perf_counter() - t_epoch
        result.history.append(record)
        last_good = copy.deepcopy(model.state_dict())
        if on_epoch is not None and on_epoch(record):
            result.stopped_early = epoch + 1 < cfg.epochs
            break
    result.seconds = time.perf_counter() - t_start
    return result


@dataclass
class TrainingRun:
    """How a `run_training` call ended: status "complete", "stopped" or "diverged"."""

    history: list[dict[str, Any]]
    status: str
    error: str | None
    seconds: float


def run_training(
    model: VAE,
    train: torch.Tensor,
    test: torch.Tensor | None,
    cfg: TrainConfig,
    on_epoch: Callable[[dict[str, Any]], bool | None] | None = None,
    on_step: Callable[[StepInfo], bool | None] | None = None,
    train_labels: torch.Tensor | None = None,
    test_labels: torch.Tensor | None = None,
) -> TrainingRun:
    """`fit`, with a stop or a divergence reported as a status instead of an exception.

    Either way the model holds the weights of the last finished epoch (if any).
    """
    t0 = time.perf_counter()
    try:
        result = fit(model, train, test, cfg, on_epoch=on_epoch, on_step=on_step,
                     train_labels=train_labels, test_labels=test_labels)
        history, status, error = result.history, "stopped" if result.stopped_early else "complete", None
    except TrainingDiverged as e:
        history, status, error = e.history, "diverged", str(e)
    return TrainingRun(history, status, error, time.perf_counter() - t0)


def save_run(model: VAE, path, run: TrainingRun, dataset: str, cfg: TrainConfig, n_train: int, test: torch.Tensor,
             iwae_k: int = 0, test_labels: torch.Tensor | None = None, trained_in: str | None = None) -> Metrics:
    """Measure the trained model on `test` and save it with a full card (atomically); returns the metrics."""
    from .checkpoint import save_model

    model.eval()
    metrics = Metrics.from_dict(model_metrics(model, test, iwae_k=iwae_k, seed=cfg.seed, labels=test_labels))
    card = ModelCard.new(model.config, dataset, train_config=cfg, history=tuple(run.history), metrics=metrics,
                         name=Path(path).name, status=run.status, trained_in=trained_in,
                         train_seconds=round(run.seconds, 1), n_train=n_train, n_test=len(test))
    save_model(model, path, card)
    return metrics
