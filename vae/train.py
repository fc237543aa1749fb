"""Training and evaluation: `fit` runs Adam on the (beta-weighted) negative ELBO.

A plain function with callbacks, like minGPT's trainer: the CLI's progress bar and the app's
live curves both watch through `on_step` / `on_epoch`, and either can stop the run by returning
True; the core knows neither. Data lives in memory as one tensor; each epoch shuffles indices
with a seeded `torch.Generator`, so there is no per-item Python work in the hot loop.

Precision is chosen once per run (`resolve_precision`): "auto" becomes bfloat16 where the device
multiplies bfloat16 natively and float32 elsewhere, and the card records which. bfloat16 runs
under autocast, except an MLP on the CPU: there oneDNN rounds the float32 inputs of each matrix
product to bfloat16 inside its kernel (`_onednn_bfloat16`), without autocast's weight copies.

Under torchrun the same `fit` runs in every process (`vae.distributed`): the model is wrapped in
DistributedDataParallel, each process takes its slice of every global batch, and the numbers
that steer the run are summed across processes, so they all stop, diverge or finish together.

Failure handling: a non-finite loss raises `TrainingDiverged` after restoring the weights of
the last finished epoch; a stop requested in the middle of an epoch also rolls back to the
last finished epoch, so the model always matches the last record in the history.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from . import distributed
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
    """history: one record per finished epoch; precision: what "auto" (or the explicit value) ran as."""

    history: list[dict[str, Any]] = field(default_factory=list)
    stopped_early: bool = False
    seconds: float = 0.0
    precision: str = "float32"

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


def native_bfloat16(device: torch.device) -> bool:
    """Whether `device` multiplies bfloat16 matrices in hardware (where bfloat16 autocast is a gain).

    CUDA: `torch.cuda.is_bf16_supported` without emulation (Ampere and later, recent ROCm GPUs).
    CPU: the AVX512-BF16 or AMX-BF16 instructions; without them oneDNN emulates bfloat16, which
    is slower than float32. MPS and others: False (not measured here).
    """
    if device.type == "cuda":
        with torch.cuda.device(device):
            try:
                return bool(torch.cuda.is_bf16_supported(including_emulation=False))
            except TypeError:  # a torch without the argument: it never counted emulation
                return bool(torch.cuda.is_bf16_supported())
    return device.type == "cpu" and _cpu_has_native_bfloat16()


@functools.cache
def _cpu_has_native_bfloat16() -> bool:
    try:  # Linux: the kernel's names for the instructions
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    # Elsewhere ask torch's cpuinfo (private helpers: absent from some builds, then no bfloat16).
    checks = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(check() for check in checks if check is not None)


def flush_denormals() -> bool:
    """Flush subnormal floats to zero (FTZ/DAZ) in this thread and every thread it starts later.

    Training drives some values below float32's normal range (~1e-38: sigmoids of very negative
    logits, their gradients), and arithmetic on them is far slower on some CPUs: on a
    2-core Intel Xeon MNIST epochs slowed from 1.45 s to 1.8 s after the first (benchmarks/
    RESULTS.md, benchmark 1, "subnormal floats"); flushed, they stay at 1.45 s, same test -ELBO.
    The setting lives in each thread's floating-point state, and torch's worker threads copy it
    when they start, so call this before the first parallel operation: at a process's start, as
    the `vae-explorer` command and the app's training processes do. Returns False where the CPU
    cannot (then nothing changes).
    """
    return torch.set_flush_denormal(True)


def resolve_precision(precision: str, device: torch.device) -> str:
    """"auto" -> "bfloat16" where `device` has native bfloat16 (`native_bfloat16`), else "float32";
    "float32" and "bfloat16" are returned unchanged (bfloat16 is honoured even where it is emulated)."""
    if precision != "auto":
        return precision
    return "bfloat16" if native_bfloat16(device) else "float32"


def resolve_config(cfg: TrainConfig) -> TrainConfig:
    """`cfg` as it runs in this process: precision "auto" resolved for the device `cfg.device` names."""
    device = distributed.local_device(resolve_device(cfg.device))
    return dataclasses.replace(cfg, precision=resolve_precision(cfg.precision, device))


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
    # foreach: one pass over all the gradients instead of a norm per tensor (the gain was within
    # this machine's noise: 1.39-1.42 s against 1.42-1.44 s per MNIST epoch)
    norm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None], foreach=True)
    if norm > max_norm:  # False for a NaN norm as well: the finite-loss check stops that run
        torch.nn.utils.clip_grads_with_norm_(params, max_norm, norm)


class Adam:
    """Adam (no weight decay) for `fit`: PyTorch's fused kernel, stepped directly on the CPU and CUDA.

    torch.optim.Adam(fused=True) runs the same kernel (`torch._fused_adam_`; tests/test_train.py
    compares the two step by step), but building any torch.optim optimiser imports torch._dynamo:
    about 0.9 s of a 13 s command-line run on 2 cores. Other devices get torch.optim.Adam itself.
    `lr` may be changed between steps (the schedule sets it).
    """

    def __init__(self, params: list[torch.nn.Parameter], lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8):
        self.params, self.lr, self.betas, self.eps = list(params), lr, betas, eps
        self._fallback = None
        if self.params[0].device.type not in ("cpu", "cuda"):
            self._fallback = torch.optim.Adam(self.params, lr=lr, betas=betas, eps=eps)
            return
        self._exp_avgs = [torch.zeros_like(p) for p in self.params]
        self._exp_avg_sqs = [torch.zeros_like(p) for p in self.params]
        self._steps = [torch.zeros((), dtype=torch.float32, device=p.device) for p in self.params]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        if self._fallback is not None:
            self._fallback.param_groups[0]["lr"] = self.lr
            self._fallback.step()
            return
        live = [i for i, p in enumerate(self.params) if p.grad is not None]  # as torch.optim: no gradient, no step
        if not live:
            return
        steps = [self._steps[i] for i in live]
        torch._foreach_add_(steps, 1)
        torch._fused_adam_(
            [self.params[i] for i in live], [self.params[i].grad for i in live],
            [self._exp_avgs[i] for i in live], [self._exp_avg_sqs[i] for i in live], [], steps,
            lr=self.lr, beta1=self.betas[0], beta2=self.betas[1], weight_decay=0.0, eps=self.eps,
            amsgrad=False, maximize=False,
        )


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

    Under torchrun (`cfg.world_size` processes, `vae.distributed.start` called first) every process
    calls `fit` with the same arguments and the callbacks see the same numbers in each; a stop
    asked by any process is honoured by all at the next step.
    """
    group = distributed.current()
    if cfg.world_size != group.world_size:
        raise ValueError(f"the training config is for {cfg.world_size} process(es) but {group.world_size} "
                         f"{'is' if group.world_size == 1 else 'are'} running: set world_size to match")
    device = distributed.local_device(resolve_device(cfg.device))
    precision = resolve_precision(cfg.precision, device)
    model.to(device).train()
    train = train.to(device)
    train_labels = None if train_labels is None else train_labels.to(device)
    n = train.shape[0]
    if n == 0:
        raise ValueError("the training set is empty")
    if cfg.binarize and model.config.likelihood != "bernoulli":
        raise ValueError("binarize draws black-and-white pixels for a Bernoulli decoder; this model's is "
                         f"{model.config.likelihood}")
    if cfg.batch_size < group.world_size:
        raise ValueError(f"batch_size {cfg.batch_size} cannot be split between {group.world_size} processes")
    steps_per_epoch = math.ceil(n / cfg.batch_size)
    if 0 < n % cfg.batch_size < group.world_size:
        steps_per_epoch -= 1  # a last batch too small to give every process an image is left out
    if steps_per_epoch == 0:
        raise ValueError(f"{n} training images cannot be split between {group.world_size} processes")
    n_used = min(n, steps_per_epoch * cfg.batch_size)
    total_steps = cfg.epochs * steps_per_epoch
    net = distributed.wrap(model, device)  # DistributedDataParallel under torchrun, else the model
    # fused: one kernel per parameter instead of a dozen small ops (benchmarks/RESULTS.md, benchmark 1).
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = Adam(params, lr=cfg.lr)
    # bfloat16: an MLP on the CPU keeps float32 tensors and oneDNN rounds the inputs of each matrix
    # product to bfloat16 inside its kernel (`_onednn_bfloat16`); everything else runs under autocast.
    # That setting is one for the whole process: only a fit on the main thread (the command, the
    # app's training process) changes it; on another thread (tests, the app without POSIX pipes)
    # it would change the products of the threads beside it, so autocast, which is per thread.
    onednn = (precision == "bfloat16" and device.type == "cpu" and model.config.arch == "mlp"
              and threading.current_thread() is threading.main_thread())
    # cache_enabled=False: the cast weights must be redone after every optimiser step.
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bfloat16" and not onednn,
                              cache_enabled=False)
    shuffle_gen = torch.Generator().manual_seed(cfg.seed)  # the same permutation in every process
    # Each process draws its own noise (its images differ); one process draws as it always did.
    noise_gen = torch.Generator(device=device).manual_seed(cfg.seed + 1 + 1_000_003 * group.rank)

    result = FitResult(precision=precision)
    last_good = copy.deepcopy(model.state_dict())
    stop_asked = False  # a process's on_step asked to stop; shared with the others at the next step
    t_start = time.perf_counter()
    for epoch in range(cfg.epochs):
        t_epoch = time.perf_counter()
        beta = cfg.kl_weight(epoch)
        lr = optimizer.lr
        sums = [0.0, 0.0, 0.0]  # running (loss, recon, kl) * batch size
        perm = torch.randperm(n, generator=shuffle_gen).to(device)
        stop = False
        with _onednn_bfloat16(onednn):  # the test pass below stays in float32
            for step in range(steps_per_epoch):
                idx = perm[step * cfg.batch_size : (step + 1) * cfg.batch_size]
                n_batch = len(idx)  # the global batch; this process trains on its shard of it
                idx = distributed.shard(idx, group)
                xb = train.index_select(0, idx)  # ~2x faster than train[idx] on the CPU
                if cfg.binarize:
                    xb = torch.bernoulli(xb, generator=noise_gen)
                yb = None if train_labels is None else train_labels[idx]
                with autocast:
                    out = net(xb, yb, sample=True, generator=noise_gen)
                terms = elbo_terms(out, xb, model.config, beta=beta)
                # One read of the three numbers per step (a single device sync on an accelerator).
                values = torch.stack([terms.loss.detach(), terms.recon.detach(), terms.kl.detach()]).tolist()
                loss = terms.loss
                if group.distributed:
                    # Means over the global batch, and whether any process asked to stop, in one all-reduce.
                    summed = distributed.all_sum(torch.tensor([v * len(xb) for v in values] + [float(stop_asked)],
                                                              dtype=torch.float64, device=device)).tolist()
                    values = [v / n_batch for v in summed[:3]]
                    if summed[3] > 0:
                        stop = True
                        break
                    # DDP averages the processes' gradients: weighting each by its share of the batch
                    # makes that average the gradient of the global batch's mean loss.
                    loss = loss * (len(xb) * group.world_size / n_batch)
                if not math.isfinite(values[0]):
                    model.load_state_dict(last_good)
                    raise TrainingDiverged(
                        f"training diverged in epoch {epoch + 1}, step {step + 1}: the loss became "
                        f"{values[0]} (learning rate {lr:g} is probably too high); the model keeps "
                        f"the weights of the last finished epoch ({len(result.history)})",
                        result.history,
                    )
                optimizer.zero_grad()
                if group.distributed:
                    with distributed.collective():  # DDP's gradient all-reduce: a dead peer surfaces here
                        loss.backward()
                else:
                    loss.backward()
                if cfg.grad_clip is not None:
                    _clip_gradients(params, cfg.grad_clip)
                optimizer.step()
                optimizer.lr = cfg.lr * _lr_factor(cfg, epoch * steps_per_epoch + step + 1, total_steps)  # after that many steps
                sums = [total + v * n_batch for total, v in zip(sums, values)]
                if on_step is not None and on_step(StepInfo(epoch, step, steps_per_epoch, *values)):
                    if not group.distributed:
                        stop = True
                        break
                    stop_asked = True
        if stop:
            model.load_state_dict(last_good)
            result.stopped_early = True
            break

        loss, recon, kl = (total / n_used for total in sums)
        record: dict[str, Any] = {
            "epoch": epoch + 1, "beta": beta, "lr": lr,
            "train_loss": loss, "train_recon": recon, "train_kl": kl, "train_neg_elbo": recon + kl,
        }
        if test is not None:
            recon, kl = _test_terms(model, test, test_labels, cfg, group, device)
            record.update(test_recon=recon, test_kl=kl, test_neg_elbo=recon + kl)
            model.train()
        record["seconds"] = time.perf_counter() - t_epoch
        result.history.append(record)
        last_good = copy.deepcopy(model.state_dict())
        if distributed.any_true(bool(on_epoch is not None and on_epoch(record)), device):
            result.stopped_early = epoch + 1 < cfg.epochs
            break
    result.seconds = time.perf_counter() - t_start
    return result


@contextlib.contextmanager
def _onednn_bfloat16(enabled: bool):
    """While active (if `enabled`), oneDNN computes float32 matrix products from bfloat16-rounded inputs
    with float32 accumulation: what autocast computes, without autocast's copies of every weight to
    bfloat16 and of its gradient back (0.6 ms of a 3 ms MNIST step on a 2-core Xeon with AMX;
    benchmarks/RESULTS.md, benchmark 1). Matrix products only: convolutions keep autocast, faster here."""
    if not enabled:
        yield
        return
    matmul = torch.backends.mkldnn.matmul
    previous = matmul.fp32_precision
    matmul.fp32_precision = "bf16"
    try:
        yield
    finally:
        matmul.fp32_precision = previous


def _test_terms(model: VAE, test: torch.Tensor, labels: torch.Tensor | None, cfg: TrainConfig,
                group: distributed.Group, device: torch.device) -> tuple[float, float]:
    """Test (recon, kl) means; each process of a multi-process run measures its share and they sum."""
    if not group.distributed:
        m = evaluate(model, test, cfg.eval_batch_size, seed=cfg.seed, labels=labels)
        return m["recon"], m["kl"]
    part = torch.arange(len(test)).tensor_split(group.world_size)[group.rank]
    sums = [0.0, 0.0]
    if len(part):
        lo, hi = int(part[0]), int(part[-1]) + 1
        m = evaluate(model, test[lo:hi], cfg.eval_batch_size, seed=cfg.seed,
                     labels=None if labels is None else labels[lo:hi])
        sums = [m["recon"] * (hi - lo), m["kl"] * (hi - lo)]
    recon, kl = (distributed.all_sum(torch.tensor(sums, dtype=torch.float64, device=device)) / len(test)).tolist()
    return recon, kl


@dataclass
class TrainingRun:
    """How a `run_training` call ended: status "complete", "stopped" or "diverged".

    config: the TrainConfig as it ran, precision resolved ("auto" never appears), for the card.
    """

    history: list[dict[str, Any]]
    status: str
    error: str | None
    seconds: float
    config: TrainConfig | None = None


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
    cfg = resolve_config(cfg)  # precision chosen once, here, and kept for the card
    t0 = time.perf_counter()
    try:
        result = fit(model, train, test, cfg, on_epoch=on_epoch, on_step=on_step,
                     train_labels=train_labels, test_labels=test_labels)
        history, status, error = result.history, "stopped" if result.stopped_early else "complete", None
    except TrainingDiverged as e:
        history, status, error = e.history, "diverged", str(e)
    return TrainingRun(history, status, error, time.perf_counter() - t0, config=cfg)


def save_run(model: VAE, path, run: TrainingRun, dataset: str, cfg: TrainConfig, n_train: int, test: torch.Tensor,
             iwae_k: int = 0, test_labels: torch.Tensor | None = None, trained_in: str | None = None) -> Metrics:
    """Measure the trained model on `test` and save it with a full card (atomically); returns the metrics.

    The card's TrainConfig is `cfg` with the precision the run used (`run.config`), never "auto".
    In a multi-process run only rank 0 may call this.
    """
    from .checkpoint import save_model

    if not distributed.current().is_main:
        raise RuntimeError("only rank 0 of a multi-process run writes the model")
    ran = run.config if run.config is not None else resolve_config(cfg)
    cfg = dataclasses.replace(cfg, precision=ran.precision)
    model.eval()
    metrics = Metrics.from_dict(model_metrics(model, test, iwae_k=iwae_k, seed=cfg.seed, labels=test_labels))
    card = ModelCard.new(model.config, dataset, train_config=cfg, history=tuple(run.history), metrics=metrics,
                         name=Path(path).name, status=run.status, trained_in=trained_in,
                         train_seconds=round(run.seconds, 1), n_train=n_train, n_test=len(test))
    save_model(model, path, card)
    return metrics
