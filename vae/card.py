"""Model cards: the typed description stored beside a model's weights as `card.json`.

A card says everything needed to rebuild, understand and compare a model without loading its
weights: the architecture (`VAEConfig`), the dataset, how it was trained (`TrainConfig`), the
per-epoch history and the test metrics. `ModelCard.from_dict` validates a card read from disk
(a known dataset, a valid config, finite numbers, well-formed history rows) and raises
`ValueError` saying what is wrong, so a damaged or hand-edited card is refused in one place
instead of failing later in whichever page or command first reads the missing field.
"""

from __future__ import annotations

import datetime as _dt
import math
import platform
from dataclasses import dataclass, field, fields
from typing import Any

from .config import TrainConfig, VAEConfig
from .data import DATASETS

FORMAT_VERSION = 1
STATUSES = ("complete", "stopped", "diverged")
# card.json of the Bayesian classifier (vae.bnn) says so in its "kind"; a VAE's card has no kind.
CLASSIFIER_KIND = "bayesian-classifier"


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    return float(value)


def _count(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} must be a whole number >= 0, got {value!r}")
    return value


@dataclass(frozen=True)
class Metrics:
    """Test-set metrics in nats per image (one z sample per image for the ELBO terms).

    kl_per_dim: (D,) mean KL(q(z_d|x) || N(0, 1)) of each dimension. It splits the rate exactly
        for the standard-normal prior; for a learned mixture prior it is a diagnostic of how much
        each dimension is used, not a split of `kl` (a mixture's KL does not factorise by dimension).
    iwae_nll: -log p(x) by the importance-weighted bound with `iwae_k` samples, when measured.
    """

    neg_elbo: float
    recon: float
    kl: float
    kl_per_dim: tuple[float, ...] = ()
    active_units: int | None = None
    n_images: int | None = None
    iwae_nll: float | None = None
    iwae_k: int | None = None

    @classmethod
    def from_dict(cls, data: Any) -> "Metrics":
        if not isinstance(data, dict):
            raise ValueError(f"metrics must be a JSON object, got {type(data).__name__}")
        missing = [k for k in ("neg_elbo", "recon", "kl") if k not in data]
        if missing:
            raise ValueError(f"metrics lack {', '.join(missing)}")
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown metric(s): {', '.join(unknown)}")
        per_dim = data.get("kl_per_dim", [])
        if not isinstance(per_dim, list):
            raise ValueError("metrics.kl_per_dim must be a list of numbers")
        optional_int = {k: None if data.get(k) is None else _count(data[k], f"metrics.{k}")
                        for k in ("active_units", "n_images", "iwae_k")}
        return cls(
            neg_elbo=_number(data["neg_elbo"], "metrics.neg_elbo"), recon=_number(data["recon"], "metrics.recon"),
            kl=_number(data["kl"], "metrics.kl"),
            kl_per_dim=tuple(_number(v, "metrics.kl_per_dim[]") for v in per_dim),
            iwae_nll=None if data.get("iwae_nll") is None else _number(data["iwae_nll"], "metrics.iwae_nll"),
            **optional_int,
        )

    def to_dict(self) -> dict[str, Any]:
        out = {"neg_elbo": self.neg_elbo, "recon": self.recon, "kl": self.kl, "kl_per_dim": list(self.kl_per_dim)}
        out.update({k: getattr(self, k) for k in ("active_units", "n_images", "iwae_nll", "iwae_k")
                    if getattr(self, k) is not None})
        return out


def _history_row(row: Any, i: int) -> dict[str, float]:
    if not isinstance(row, dict) or "epoch" not in row:
        raise ValueError(f"history row {i + 1} must be a JSON object with an 'epoch'")
    out = {key: _number(value, f"history row {i + 1}: {key}") for key, value in row.items()}
    if out["epoch"] != i + 1:
        raise ValueError(f"history row {i + 1} says epoch {row['epoch']!r}")
    out["epoch"] = i + 1
    return out


def _with_defaults_of_old_cards(train_config: Any) -> Any:
    """A stored train_config with the values that older cards leave out: they were trained in
    float32 (`precision` came later and now defaults to "auto", which a card never says), in one
    process (`world_size`, whose default of 1 already says so)."""
    if isinstance(train_config, dict) and "precision" not in train_config:
        return {**train_config, "precision": "float32"}
    return train_config


def _versions() -> dict[str, str]:
    import torch

    from . import __version__

    return {"vae_explorer": __version__, "torch": torch.__version__, "python": platform.python_version()}


@dataclass(frozen=True)
class ModelCard:
    """What `card.json` holds. Build new ones with `ModelCard.new`, read stored ones with `from_dict`.

    history: one record per finished epoch, as `vae.train.fit` writes them ("epoch", "beta",
        "lr", "seconds", "train_*", "test_*"), numbers only.
    status: how training ended ("complete", "stopped", "diverged"), None if unknown.
    trained_in: "cli", "app" or "beta sweep" when known.
    train_config: the run's TrainConfig as it ran: `vae.save_run` records the precision used
        ("float32" or "bfloat16", never "auto") and `world_size`, the number of processes.
    """

    config: VAEConfig
    dataset: str
    train_config: TrainConfig | None = None
    history: tuple[dict[str, float], ...] = ()
    metrics: Metrics | None = None
    name: str | None = None
    status: str | None = None
    trained_in: str | None = None
    train_seconds: float | None = None
    n_train: int | None = None
    n_test: int | None = None
    created_at: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r} (known: {', '.join(DATASETS)})")
        if self.status is not None and self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")

    @classmethod
    def new(cls, config: VAEConfig, dataset: str, **fields_: Any) -> "ModelCard":
        """A card for a model made now: creation time and library versions filled in."""
        now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        return cls(config=config, dataset=dataset, created_at=now, versions=_versions(), **fields_)

    @property
    def beta(self) -> float:
        """The KL weight the model was trained with (1, the true ELBO, when unknown)."""
        return self.train_config.beta if self.train_config is not None else 1.0

    @classmethod
    def from_dict(cls, data: Any) -> "ModelCard":
        """Validate a card read from JSON; ValueError names the first problem."""
        if not isinstance(data, dict):
            raise ValueError(f"a card must be a JSON object, got {type(data).__name__}")
        if data.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"card format {data.get('format_version')!r} is not supported (expected {FORMAT_VERSION})")
        for key in ("config", "dataset"):
            if key not in data:
                raise ValueError(f"the card has no {key!r}")
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown card field(s): {', '.join(unknown)}")
        if not isinstance(data["dataset"], str):
            raise ValueError(f"dataset must be a name, got {data['dataset']!r}")
        history = data.get("history") or []
        if not isinstance(history, list):
            raise ValueError("history must be a list of epoch records")
        metrics = data.get("metrics") or None
        optional_text = {}
        for key in ("name", "status", "trained_in", "created_at"):
            value = data.get(key)
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{key} must be text, got {value!r}")
            optional_text[key] = value
        versions = data.get("versions") or {}
        if not isinstance(versions, dict) or not all(isinstance(v, str) for v in versions.values()):
            raise ValueError("versions must map package names to version strings")
        try:
            config = VAEConfig.from_dict(data["config"])
            train_config = TrainConfig.from_dict(_with_defaults_of_old_cards(data["train_config"])) \
                if data.get("train_config") else None
        except TypeError as e:  # a value of the wrong type deep inside a config
            raise ValueError(f"invalid config: {e}") from None
        return cls(
            config=config, dataset=data["dataset"], train_config=train_config,
            history=tuple(_history_row(row, i) for i, row in enumerate(history)),
            metrics=None if metrics is None else Metrics.from_dict(metrics),
            name=optional_text["name"], status=optional_text["status"], trained_in=optional_text["trained_in"],
            train_seconds=None if data.get("train_seconds") is None else _number(data["train_seconds"], "train_seconds"),
            n_train=None if data.get("n_train") is None else _count(data["n_train"], "n_train"),
            n_test=None if data.get("n_test") is None else _count(data["n_test"], "n_test"),
            created_at=optional_text["created_at"] or "", versions=dict(versions),
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON object written to card.json (fields that are unknown are left out)."""
        out: dict[str, Any] = {
            "format_version": self.format_version, "config": self.config.to_dict(), "dataset": self.dataset,
            "train_config": self.train_config.to_dict() if self.train_config is not None else {},
            "history": [dict(row) for row in self.history],
            "metrics": self.metrics.to_dict() if self.metrics is not None else {},
            "created_at": self.created_at, "versions": dict(self.versions),
        }
        for key in ("name", "status", "trained_in", "train_seconds", "n_train", "n_test"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out
