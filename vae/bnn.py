"""Bayesian neural network: a classifier with a Gaussian over every weight (Bayes by Backprop).

Blundell, Cornebise, Kavukcuoglu & Wierstra, "Weight Uncertainty in Neural Networks" (ICML 2015).
It is the VAE's ELBO with the weights w in the place of the code z:

    ELBO = sum_n E_q(w)[log p(y_n | x_n, w)] - KL(q(w) || p(w)).

q(w) is mean-field: every weight has its own mean mu and std sigma = softplus(rho). The prior is
N(0, s^2) for every weight, so the KL is in closed form (the Gaussian KL of Kingma & Welling 2014,
Appendix B, with prior variance s^2). The expectation is estimated with one reparameterised draw
w = mu + sigma * eps per minibatch; a minibatch of B out of N examples stands for all N, so the loss
per example is mean cross-entropy + KL / N (the negative ELBO divided by N).

Beside it `deterministic_network` builds the same layers with point weights, trained by
cross-entropy alone: the maximum-likelihood network a BNN is compared with. Predictions average the
softmax over S weight draws; the predictive entropy splits into the expected entropy (aleatoric)
plus the mutual information between prediction and weights (epistemic). Calibration, the
classifier's typed card and its checkpoint are here too: `vae-explorer train-bnn` writes
`models/mnist-bnn` (both networks in one folder, like a VAE's: weights and card.json).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from .card import CLASSIFIER_KIND, _count, _history_row, _number, _versions
from .checkpoint import CARD_FILE, WEIGHTS_FILE, CheckpointError, write_model_dir
from .data import DATASETS

NETWORKS = ("bayesian", "deterministic")


@dataclass(frozen=True)
class BNNConfig:
    """Layers of the classifier (the same for both networks) and the Bayesian one's prior.

    prior_std: s of the prior N(0, s^2) on every weight and bias.
    init_std: sigma of q(w) at the start (small, so training starts near a point estimate).
    """

    in_features: int = 784
    hidden_dims: tuple[int, ...] = (200, 200)
    n_classes: int = 10
    prior_std: float = 1.0
    init_std: float = 1e-3

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden_dims", tuple(int(v) for v in self.hidden_dims))
        for name in ("in_features", "n_classes"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if self.n_classes < 2:
            raise ValueError(f"a classifier needs at least 2 classes, got {self.n_classes}")
        if any(h < 1 for h in self.hidden_dims):
            raise ValueError(f"hidden_dims must be positive widths, got {self.hidden_dims}")
        for name in ("prior_std", "init_std"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 < value < math.inf):
                raise ValueError(f"{name} must be a positive number, got {value!r}")

    @property
    def sizes(self) -> list[int]:
        return [self.in_features, *self.hidden_dims, self.n_classes]

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "hidden_dims": list(self.hidden_dims)}

    @classmethod
    def from_dict(cls, data: Any) -> "BNNConfig":
        if not isinstance(data, dict):
            raise ValueError(f"the classifier config must be a JSON object, got {type(data).__name__}")
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"unknown BNNConfig field(s): {', '.join(unknown)}")
        return cls(**data)


def _inverse_softplus(y: float) -> float:
    return y + math.log(-math.expm1(-y))


def gaussian_kl(mu: torch.Tensor, std: torch.Tensor, prior_std: float) -> torch.Tensor:
    """KL(N(mu, std^2) || N(0, prior_std^2)) summed over all elements (Kingma & Welling 2014, App. B)."""
    ratio = std / prior_std
    return (-torch.log(ratio) + 0.5 * (ratio**2 + (mu / prior_std) ** 2) - 0.5).sum()


class BayesLinear(nn.Module):
    """A linear layer whose weight and bias are independent Gaussians N(mu, softplus(rho)^2)."""

    def __init__(self, n_in: int, n_out: int, init_std: float) -> None:
        super().__init__()
        reference = nn.Linear(n_in, n_out)  # the means start where a plain layer's weights would
        self.weight_mu = nn.Parameter(reference.weight.detach().clone())
        self.bias_mu = nn.Parameter(reference.bias.detach().clone())
        rho = _inverse_softplus(init_std)
        self.weight_rho = nn.Parameter(torch.full((n_out, n_in), rho))
        self.bias_rho = nn.Parameter(torch.full((n_out,), rho))

    def forward(self, x: torch.Tensor, sample: bool = True, generator: torch.Generator | None = None) -> torch.Tensor:
        if not sample:  # the mean weights: a point estimate, not the predictive
            return F.linear(x, self.weight_mu, self.bias_mu)
        w = self.weight_mu + F.softplus(self.weight_rho) * _noise(self.weight_mu, generator)
        b = self.bias_mu + F.softplus(self.bias_rho) * _noise(self.bias_mu, generator)
        return F.linear(x, w, b)

    def kl(self, prior_std: float) -> torch.Tensor:
        return (gaussian_kl(self.weight_mu, F.softplus(self.weight_rho), prior_std)
                + gaussian_kl(self.bias_mu, F.softplus(self.bias_rho), prior_std))


def _noise(like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.randn(like.shape, generator=generator, device=like.device, dtype=like.dtype)


class BayesianNetwork(nn.Module):
    """An MLP classifier of BayesLinear layers: forward(x) draws one set of weights for the whole batch."""

    def __init__(self, config: BNNConfig) -> None:
        super().__init__()
        self.config = config
        sizes = config.sizes
        self.layers = nn.ModuleList(BayesLinear(a, b, config.init_std) for a, b in zip(sizes[:-1], sizes[1:]))

    def forward(self, x: torch.Tensor, sample: bool = True, generator: torch.Generator | None = None) -> torch.Tensor:
        h = x.flatten(1)  # (B, in_features)
        for i, layer in enumerate(self.layers):
            h = layer(h, sample, generator)
            if i < len(self.layers) - 1:
                h = F.relu(h)
        return h  # (B, n_classes) logits

    def kl(self) -> torch.Tensor:
        """KL(q(w) || p(w)) over every weight and bias, in nats."""
        return sum(layer.kl(self.config.prior_std) for layer in self.layers)

    @torch.no_grad()
    def set_to_prior(self) -> "BayesianNetwork":
        """Make q(w) equal the prior (mean 0, std prior_std): the network before it has seen any data."""
        rho = _inverse_softplus(self.config.prior_std)
        for layer in self.layers:
            layer.weight_mu.zero_(), layer.bias_mu.zero_()
            layer.weight_rho.fill_(rho), layer.bias_rho.fill_(rho)
        return self


def deterministic_network(config: BNNConfig) -> nn.Sequential:
    """The same layers with point weights (ReLU between), for contrast with the Bayesian network."""
    layers: list[nn.Module] = [nn.Flatten()]
    sizes = config.sizes
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def build_networks(config: BNNConfig, seed: int = 0) -> tuple[BayesianNetwork, nn.Sequential]:
    """Both networks, seeded, the deterministic one initialised with the Bayesian one's means."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        bayes = BayesianNetwork(config)
    det = deterministic_network(config)
    with torch.no_grad():
        for layer, linear in zip(bayes.layers, (m for m in det if isinstance(m, nn.Linear))):
            linear.weight.copy_(layer.weight_mu), linear.bias.copy_(layer.bias_mu)
    return bayes, det


@dataclass(frozen=True)
class ClassifierLoss:
    """One minibatch's loss per example: nll (cross-entropy) + kl (KL / N; 0 for a deterministic network)."""

    loss: torch.Tensor
    nll: torch.Tensor
    kl: torch.Tensor


def classifier_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, n_data: int,
                    generator: torch.Generator | None = None) -> ClassifierLoss:
    """The negative ELBO per training example for a BayesianNetwork, cross-entropy for a plain one.

    With no data at all (an empty batch, n_data 0) the ELBO is -KL: training then pulls q(w) onto the prior.
    """
    bayesian = isinstance(model, BayesianNetwork)
    if len(x):
        logits = model(x, sample=True, generator=generator) if bayesian else model(x)
        nll = F.cross_entropy(logits, y)
    else:
        nll = torch.zeros(())
    kl = model.kl() / max(n_data, 1) if bayesian else torch.zeros(())
    return ClassifierLoss(nll + kl, nll, kl)


def fit_classifier(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, epochs: int, batch_size: int = 128,
                   lr: float = 1e-3, seed: int = 0, test: tuple[torch.Tensor, torch.Tensor] | None = None,
                   n_samples: int = 10, on_epoch: Callable[[dict[str, float]], bool | None] | None = None
                   ) -> list[dict[str, float]]:
    """Train with Adam; returns one record per epoch (train_loss, train_nll, train_kl per example, seconds,
    and test_accuracy / test_nll of the predictive when `test` is given). on_epoch returning True stops."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    n = len(x)
    steps = max(1, math.ceil(n / batch_size))
    history: list[dict[str, float]] = []
    for epoch in range(1, epochs + 1):
        start, totals = time.perf_counter(), torch.zeros(3)
        order = torch.randperm(n, generator=g)
        model.train()
        for i in range(steps):
            idx = order[i * batch_size : (i + 1) * batch_size]
            out = classifier_loss(model, x[idx], y[idx], n, generator=g)
            opt.zero_grad(set_to_none=True)
            out.loss.backward()
            opt.step()
            totals += torch.stack([out.loss, out.nll, out.kl]).detach()
        record = {"epoch": epoch, **dict(zip(("train_loss", "train_nll", "train_kl"), (totals / steps).tolist()))}
        if not math.isfinite(record["train_loss"]):
            raise RuntimeError(f"training diverged in epoch {epoch} (loss {record['train_loss']}): try a lower learning rate")
        if test is not None:
            m = classifier_metrics(model, *test, n_samples=n_samples, seed=seed)
            record.update(test_accuracy=m.accuracy, test_nll=m.nll)
        record["seconds"] = time.perf_counter() - start
        history.append(record)
        if on_epoch is not None and on_epoch(record):
            break
    return history


@torch.no_grad()
def predict_samples(model: nn.Module, x: torch.Tensor, n_samples: int = 30, seed: int = 0,
                    batch_size: int = 4096) -> torch.Tensor:
    """Class probabilities (S, N, C) under S weight draws (S = 1 for a deterministic network)."""
    model.eval()
    if not isinstance(model, BayesianNetwork):
        return torch.cat([F.softmax(model(x[i : i + batch_size]), -1) for i in range(0, len(x), batch_size)])[None]
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n_samples):  # one weight draw for the whole set: each draw is one network
        state = g.get_state()
        rows = []
        for i in range(0, len(x), batch_size):
            g.set_state(state)  # the same draw for every chunk
            rows.append(F.softmax(model(x[i : i + batch_size], sample=True, generator=g), -1))
        out.append(torch.cat(rows))
    return torch.stack(out)


@dataclass(frozen=True)
class Predictive:
    """The predictive distribution from weight draws, and its uncertainty split (nats).

    probs: (N, C) mean over draws; entropy: (N,) H[mean] (total); expected_entropy: (N,) mean of H[draw]
    (aleatoric); mutual_information = entropy - expected_entropy (epistemic: disagreement between draws).
    """

    probs: torch.Tensor
    entropy: torch.Tensor
    expected_entropy: torch.Tensor

    @property
    def mutual_information(self) -> torch.Tensor:
        return (self.entropy - self.expected_entropy).clamp_min(0)


def _entropy(p: torch.Tensor) -> torch.Tensor:
    return -(p * torch.log(p.clamp_min(1e-12))).sum(-1)


def predictive(samples: torch.Tensor) -> Predictive:
    """Summarise draws (S, N, C) of class probabilities."""
    probs = samples.mean(0)
    return Predictive(probs, _entropy(probs), _entropy(samples).mean(0))


@dataclass(frozen=True)
class Reliability:
    """Reliability diagram: predictions binned by confidence (max probability), 0-1 in `n` equal bins.

    confidence, accuracy: (n,) means per bin (NaN where a bin is empty); counts: (n,).
    """

    edges: torch.Tensor
    confidence: torch.Tensor
    accuracy: torch.Tensor
    counts: torch.Tensor

    @property
    def ece(self) -> float:
        """Expected calibration error: sum over bins of (share of predictions) * |accuracy - confidence|."""
        used = self.counts > 0
        weights = self.counts[used] / self.counts.sum()
        return float((weights * (self.accuracy[used] - self.confidence[used]).abs()).sum())


def reliability(probs: torch.Tensor, labels: torch.Tensor, n_bins: int = 15) -> Reliability:
    """Bin (N, C) predicted probabilities by their confidence against the true labels (N,)."""
    confidence, predicted = probs.max(-1)
    correct = (predicted == labels).double()
    edges = torch.linspace(0, 1, n_bins + 1, dtype=torch.float64)
    which = torch.bucketize(confidence.double(), edges[1:-1], right=True)  # (N,) in 0..n_bins-1
    counts = torch.bincount(which, minlength=n_bins).double()
    conf = torch.bincount(which, confidence.double(), minlength=n_bins) / counts  # NaN where a bin is empty
    acc = torch.bincount(which, correct, minlength=n_bins) / counts
    return Reliability(edges, conf, acc, counts)


@dataclass(frozen=True)
class ClassifierMetrics:
    """Test metrics of one network's predictive: accuracy, nll (nats per image), ece; over n_images, n_samples draws."""

    accuracy: float
    nll: float
    ece: float
    n_images: int
    n_samples: int

    @classmethod
    def from_dict(cls, data: Any) -> "ClassifierMetrics":
        if not isinstance(data, dict) or set(data) != {f.name for f in dataclasses.fields(cls)}:
            raise ValueError(f"classifier metrics must give exactly {', '.join(f.name for f in dataclasses.fields(cls))}")
        return cls(**{k: _number(data[k], f"metrics.{k}") for k in ("accuracy", "nll", "ece")},
                   **{k: _count(data[k], f"metrics.{k}") for k in ("n_images", "n_samples")})


def classifier_metrics(model: nn.Module, x: torch.Tensor, y: torch.Tensor, n_samples: int = 30,
                       seed: int = 0) -> ClassifierMetrics:
    draws = predict_samples(model, x, n_samples, seed)
    probs = draws.mean(0)
    nll = -torch.log(probs.gather(1, y[:, None]).clamp_min(1e-12)).mean()
    accuracy = (probs.argmax(-1) == y).double().mean()
    return ClassifierMetrics(float(accuracy), float(nll), reliability(probs, y).ece, len(x), draws.shape[0])


@dataclass(frozen=True)
class ClassifierCard:
    """card.json of a saved classifier pair: both networks' config, training and test metrics.

    history and metrics are keyed by network ("bayesian", "deterministic").
    """

    config: BNNConfig
    dataset: str
    epochs: int
    batch_size: int
    lr: float
    seed: int
    n_train: int
    n_test: int
    history: dict[str, tuple[dict[str, float], ...]]
    metrics: dict[str, ClassifierMetrics]
    train_seconds: float
    name: str | None = None
    created_at: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    kind: str = CLASSIFIER_KIND
    format_version: int = 1

    @classmethod
    def new(cls, **fields_: Any) -> "ClassifierCard":
        now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        return cls(created_at=now, versions=_versions(), **fields_)

    @classmethod
    def from_dict(cls, data: Any) -> "ClassifierCard":
        if not isinstance(data, dict) or data.get("kind") != CLASSIFIER_KIND:
            raise ValueError(f"not a classifier card (its kind must be {CLASSIFIER_KIND!r})")
        if data.get("format_version") != 1:
            raise ValueError(f"classifier card format {data.get('format_version')!r} is not supported (expected 1)")
        names = {f.name for f in dataclasses.fields(cls)}
        missing = sorted(names - set(data) - {"name", "created_at", "versions"})
        if missing:
            raise ValueError(f"the card lacks {', '.join(missing)}")
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown card field(s): {', '.join(unknown)}")
        if data["dataset"] not in DATASETS:
            raise ValueError(f"unknown dataset {data['dataset']!r}")
        for key in ("history", "metrics"):
            if not isinstance(data[key], dict) or set(data[key]) != set(NETWORKS):
                raise ValueError(f"{key} must have one entry per network ({', '.join(NETWORKS)})")
            if key == "history" and not all(isinstance(rows, list) for rows in data[key].values()):
                raise ValueError("history must list epoch records")
        return cls(
            config=BNNConfig.from_dict(data["config"]), dataset=data["dataset"],
            **{k: _count(data[k], k) for k in ("epochs", "batch_size", "seed", "n_train", "n_test")},
            lr=_number(data["lr"], "lr"), train_seconds=_number(data["train_seconds"], "train_seconds"),
            history={k: tuple(_history_row(row, i) for i, row in enumerate(rows)) for k, rows in data["history"].items()},
            metrics={k: ClassifierMetrics.from_dict(v) for k, v in data["metrics"].items()},
            name=data.get("name"), created_at=str(data.get("created_at") or ""), versions=dict(data.get("versions") or {}),
        )

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["config"] = self.config.to_dict()
        out["history"] = {k: [dict(r) for r in rows] for k, rows in self.history.items()}
        return {k: v for k, v in out.items() if v is not None}


def save_classifier(path: str | Path, bayes: BayesianNetwork, det: nn.Sequential, card: ClassifierCard) -> Path:
    """Both networks (tensors prefixed 'bayesian.' and 'deterministic.') and the card, written atomically."""
    if card.config != bayes.config:
        raise ValueError("the card's config does not describe this network")
    state = {f"bayesian.{k}": v for k, v in bayes.state_dict().items()}
    state.update({f"deterministic.{k}": v for k, v in det.state_dict().items()})
    return write_model_dir(path, state, card.to_dict())


def load_classifier(path: str | Path) -> tuple[BayesianNetwork, nn.Sequential, ClassifierCard]:
    """Read a folder written by save_classifier (no stored code runs); CheckpointError says what is wrong."""
    path = Path(path)
    try:
        card = ClassifierCard.from_dict(json.loads((path / CARD_FILE).read_text()))
        state = load_file(str(path / WEIGHTS_FILE), device="cpu")
    except FileNotFoundError as e:
        raise CheckpointError(f"{path.name}: {Path(e.filename or path).name} is missing") from None
    except (ValueError, TypeError, OSError, SafetensorError) as e:
        raise CheckpointError(f"{path.name}: not a readable classifier ({e})") from None
    bayes, det = BayesianNetwork(card.config), deterministic_network(card.config)
    for prefix, net in (("bayesian.", bayes), ("deterministic.", det)):
        part = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        if not all(torch.isfinite(v).all() for v in part.values()):
            raise CheckpointError(f"{path.name}: the {prefix[:-1]} network's weights contain NaN or infinity")
        try:
            net.load_state_dict(part)
        except RuntimeError as e:
            raise CheckpointError(f"{path.name}: weights do not match the card ({str(e).splitlines()[0]})") from None
    return bayes.eval(), det.eval(), card
