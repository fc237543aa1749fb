"""Configuration dataclasses: `VAEConfig` (the architecture) and `TrainConfig` (one run).

Both round-trip through plain JSON-able dicts (`to_dict` / `from_dict`) so that a checkpoint's
`card.json` fully describes how to rebuild and retrain its model, and both validate in
`__post_init__` with a clear `ValueError` rather than silently fixing a bad value (the
nanoGPT `GPTConfig` / diffusers convention).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, ClassVar

ARCHITECTURES = ("mlp", "conv")
LIKELIHOODS = ("bernoulli", "gaussian")
PRIORS = ("standard", "mog")
SCHEDULES = ("constant", "cosine")


def _from_dict(cls, data: dict[str, Any]):
    """Build a config dataclass from a dict, refusing unknown keys (a typo must not be ignored)."""
    if not isinstance(data, dict):
        raise ValueError(f"{cls.__name__} must be built from a JSON object, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s): {', '.join(unknown)}")
    return cls(**data)


@dataclass(frozen=True)
class VAEConfig:
    """Architecture of a VAE.

    input_shape: (C, H, W) of one image, pixels in [0, 1].
    latent_dim: size D of the latent code z.
    arch: "mlp" (fully connected, any input size) or "conv" (H and W divisible by 4).
    hidden_dims: widths of the encoder's hidden layers; the decoder mirrors them. For "conv"
        these are the channel counts of the two stride-2 convolutions, optionally followed by the
        width of the fully connected layer between them and the code (default 256).
    likelihood: "bernoulli" (decoder outputs logits; the loss is binary cross-entropy on
        grey-level pixels) or "gaussian" (decoder outputs a mean in [0, 1] with fixed std
        `gaussian_std`; the loss is a scaled squared error plus the Gaussian normaliser).
    n_classes: 0 for a plain VAE; K > 0 makes a conditional VAE (Sohn et al. 2015) whose
        encoder and decoder also receive the one-hot label y in 0..K-1.
    prior: "standard" (N(0, I), KL in closed form) or "mog", a learned mixture of
        `prior_components` diagonal Gaussians (Tomczak & Welling 2018 in spirit; KL by sampling).
    variational: True for a VAE. False makes a plain deterministic autoencoder with the same
        layers (so the weights have the same shapes): z = mu, nothing is sampled, and the loss is
        the reconstruction term alone (its KL is reported as 0). Cards written before this field
        existed load as variational.
    """

    input_shape: tuple[int, int, int] = (1, 28, 28)
    latent_dim: int = 2
    arch: str = "mlp"
    hidden_dims: tuple[int, ...] = (512, 256)
    likelihood: str = "bernoulli"
    gaussian_std: float = 0.1
    n_classes: int = 0
    prior: str = "standard"
    prior_components: int = 10
    variational: bool = True

    def __post_init__(self) -> None:
        # JSON gives lists; keep tuples so the config stays hashable and comparable.
        object.__setattr__(self, "input_shape", tuple(int(v) for v in self.input_shape))
        object.__setattr__(self, "hidden_dims", tuple(int(v) for v in self.hidden_dims))
        if len(self.input_shape) != 3 or min(self.input_shape) < 1:
            raise ValueError(f"input_shape must be (C, H, W) with positive sizes, got {self.input_shape}")
        if not isinstance(self.latent_dim, int) or self.latent_dim < 1:
            raise ValueError(f"latent_dim must be an integer >= 1, got {self.latent_dim!r}")
        if self.arch not in ARCHITECTURES:
            raise ValueError(f"arch must be one of {ARCHITECTURES}, got {self.arch!r}")
        if self.likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {self.likelihood!r}")
        if not self.hidden_dims or min(self.hidden_dims) < 1:
            raise ValueError(f"hidden_dims must be one or more positive widths, got {self.hidden_dims}")
        if not (self.gaussian_std > 0 and math.isfinite(self.gaussian_std)):
            raise ValueError(f"gaussian_std must be a positive number, got {self.gaussian_std!r}")
        if not isinstance(self.n_classes, int) or self.n_classes < 0:
            raise ValueError(f"n_classes must be an integer >= 0 (0: not conditional), got {self.n_classes!r}")
        if self.prior not in PRIORS:
            raise ValueError(f"prior must be one of {PRIORS}, got {self.prior!r}")
        if not isinstance(self.prior_components, int) or self.prior_components < 1:
            raise ValueError(f"prior_components must be an integer >= 1, got {self.prior_components!r}")
        if not isinstance(self.variational, bool):
            raise ValueError(f"variational must be true or false, got {self.variational!r}")
        if not self.variational and self.prior != "standard":
            raise ValueError("a plain autoencoder (variational false) has no KL term, so no prior to learn: use prior 'standard'")
        if self.arch == "conv":
            _, h, w = self.input_shape
            if h % 4 or w % 4:
                raise ValueError(f"arch 'conv' needs height and width divisible by 4, got {h}x{w}")
            if len(self.hidden_dims) not in (2, 3):
                raise ValueError("arch 'conv' takes two hidden_dims (channels of its two conv layers) "
                                 "or three (and the width of its fully connected layer)")

    @property
    def conditional(self) -> bool:
        return self.n_classes > 0

    @property
    def n_pixels(self) -> int:
        c, h, w = self.input_shape
        return c * h * w

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "input_shape": list(self.input_shape), "hidden_dims": list(self.hidden_dims)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "VAEConfig":
        return _from_dict(cls, data)


@dataclass(frozen=True)
class TrainConfig:
    """One training run: Adam with an optional cosine learning-rate decay and KL warm-up.

    beta: weight of the KL term (beta-VAE, Higgins et al. 2017); 1 is the true ELBO.
    warmup_epochs: the KL weight rises linearly from beta / warmup_epochs in epoch 1 to `beta`
        in epoch `warmup_epochs` (counting from 1), then stays at `beta` (Bowman et al. 2016,
        Sønderby et al. 2016): a light KL early on helps avoid posterior collapse. 0: `beta`
        from the start.
    device: "auto" picks cuda, then mps, then cpu.
    precision: "bfloat16" runs the matrix products of the forward and backward passes in
        bfloat16 while weights, optimiser state and the loss stay float32 (torch.autocast; an MLP
        on the CPU instead keeps float32 tensors and oneDNN rounds each product's inputs to
        bfloat16 inside the kernel, which spares autocast's copies of the weights);
        "float32" runs everything in float32; "auto" (the default) is resolved once, when training
        starts, to bfloat16 where the device has it natively (a CPU with AVX512-BF16 or AMX-BF16,
        a GPU that `torch.cuda.is_bf16_supported` without emulation) and float32 elsewhere
        (`vae.train.resolve_precision`). A card records the resolved value, never "auto"; cards
        written before this field existed were trained in float32 and load as such.
    world_size: the number of processes that trained the model together (torchrun with
        DistributedDataParallel, `vae.distributed`); `batch_size` is the global batch, split
        between them. 1 for a plain run and for cards written before the field existed.
    binarize: dynamic binarisation (a Bernoulli decoder only): every training batch is drawn
        afresh as black-and-white pixels, each white with its grey level as probability, for the
        encoder's input and the target alike. In expectation the target term is the grey-level
        loss; the fresh noise each epoch keeps a small-code model from memorising its training
        images. The train columns of the history are then measured on the drawn pixels; the test
        metrics stay on the grey levels. False for cards written before the field existed.
    """

    epochs: int = 30
    batch_size: int = 128
    lr: float = 1e-3
    beta: float = 1.0
    warmup_epochs: int = 0
    seed: int = 0
    device: str = "auto"
    schedule: str = "cosine"
    eval_batch_size: int = 1000
    grad_clip: float | None = 100.0
    precision: str = "auto"
    world_size: int = 1
    binarize: bool = False

    DEVICES: ClassVar[tuple[str, ...]] = ("auto", "cpu", "cuda", "mps")
    PRECISIONS: ClassVar[tuple[str, ...]] = ("auto", "float32", "bfloat16")

    def __post_init__(self) -> None:
        checks = [
            (isinstance(self.epochs, int) and self.epochs >= 1, f"epochs must be an integer >= 1, got {self.epochs!r}"),
            (isinstance(self.batch_size, int) and self.batch_size >= 1, f"batch_size must be an integer >= 1, got {self.batch_size!r}"),
            (self.lr > 0 and math.isfinite(self.lr), f"lr must be a positive number, got {self.lr!r}"),
            (self.beta >= 0 and math.isfinite(self.beta), f"beta must be a number >= 0, got {self.beta!r}"),
            (isinstance(self.warmup_epochs, int) and self.warmup_epochs >= 0, f"warmup_epochs must be an integer >= 0, got {self.warmup_epochs!r}"),
            (isinstance(self.seed, int), f"seed must be an integer, got {self.seed!r}"),
            (self.device.split(":")[0] in self.DEVICES, f"device must be one of {self.DEVICES}, got {self.device!r}"),
            (self.schedule in SCHEDULES, f"schedule must be one of {SCHEDULES}, got {self.schedule!r}"),
            (isinstance(self.eval_batch_size, int) and self.eval_batch_size >= 1, f"eval_batch_size must be an integer >= 1, got {self.eval_batch_size!r}"),
            (self.grad_clip is None or self.grad_clip > 0, f"grad_clip must be positive or None, got {self.grad_clip!r}"),
            (self.precision in self.PRECISIONS, f"precision must be one of {self.PRECISIONS}, got {self.precision!r}"),
            (isinstance(self.world_size, int) and not isinstance(self.world_size, bool) and self.world_size >= 1,
             f"world_size must be an integer >= 1, got {self.world_size!r}"),
            (isinstance(self.binarize, bool), f"binarize must be true or false, got {self.binarize!r}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    def kl_weight(self, epoch: int) -> float:
        """KL weight during 0-based `epoch`: beta * min(1, (epoch + 1) / warmup_epochs), so
        beta / warmup_epochs in the first epoch, `beta` from epoch warmup_epochs - 1 (0-based) on."""
        if self.warmup_epochs == 0:
            return self.beta
        return self.beta * min(1.0, (epoch + 1) / self.warmup_epochs)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        return _from_dict(cls, data)
