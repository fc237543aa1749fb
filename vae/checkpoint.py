"""Checkpoints: a model is a directory holding `model.safetensors` and `card.json`.

The weights are stored with safetensors (plain tensors, no pickled code: loading a checkpoint
can never execute anything). The card describes the model completely: its `VAEConfig`, the
dataset it was trained on, the `TrainConfig`, the per-epoch history, test metrics, creation
time and library versions, so `info` and the app can show it without loading weights.

Writes are atomic: the directory is written under a temporary name beside the target and
renamed into place, so a killed process leaves either the old model or the new one, never a
half-written mix. Loading validates every tensor's name and shape against the config and
raises `CheckpointError` (a `ValueError`) with a readable reason.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .config import VAEConfig
from .model import VAE

WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "card.json"
FORMAT_VERSION = 1
# Model names become directory names: letters, digits, '-', '_', '.', not starting with '.'.
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class CheckpointError(ValueError):
    """A model directory is missing, unreadable, or does not match its own description."""


def validate_name(name: str) -> str:
    """Check a user-typed model name is a safe single directory name; return it unchanged."""
    if not isinstance(name, str) or not _NAME_RE.match(name) or name in {".", ".."}:
        raise ValueError(
            f"invalid model name {name!r}: use 1-64 letters, digits, '-', '_' or '.', starting with a letter or digit"
        )
    return name


def _versions() -> dict[str, str]:
    from . import __version__

    return {"vae_explorer": __version__, "torch": torch.__version__, "python": platform.python_version()}


def make_card(
    config: VAEConfig,
    dataset: str,
    train_config: dict[str, Any] | None = None,
    history: list[dict[str, Any]] | None = None,
    metrics: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The JSON description stored beside the weights."""
    return {
        "format_version": FORMAT_VERSION,
        "config": config.to_dict(),
        "dataset": dataset,
        "train_config": train_config or {},
        "history": history or [],
        "metrics": metrics or {},
        "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": _versions(),
        **extra,
    }


def save_model(model: VAE, path: str | Path, card: dict[str, Any]) -> Path:
    """Write `model` and `card` to directory `path` atomically; returns the path."""
    path = Path(path)
    if card.get("config") != model.config.to_dict():
        raise ValueError("the card's config does not describe this model")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(tmp / WEIGHTS_FILE), metadata={"format": "pt"})
        (tmp / CARD_FILE).write_text(json.dumps(card, indent=2, allow_nan=False) + "\n")
        for f in (WEIGHTS_FILE, CARD_FILE):  # reach the disk before the rename makes it visible
            with open(tmp / f, "rb") as fh:
                os.fsync(fh.fileno())
        if path.exists():
            # Swap: move the old model aside, move the new one in, then delete the old one.
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
            os.replace(path, old / "model")
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def load_card(path: str | Path) -> dict[str, Any]:
    """Read and check a model's card.json (no weights are read)."""
    path = Path(path)
    card_path = path / CARD_FILE
    if not path.is_dir():
        raise CheckpointError(f"{path} is not a model directory")
    if not card_path.is_file():
        raise CheckpointError(f"{path.name}: {CARD_FILE} is missing")
    try:
        card = json.loads(card_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path.name}: {CARD_FILE} is corrupted or truncated ({e})") from None
    if not isinstance(card, dict) or "config" not in card:
        raise CheckpointError(f"{path.name}: {CARD_FILE} has no model config")
    if card.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path.name}: card format {card.get('format_version')!r} is not supported (expected {FORMAT_VERSION})")
    try:
        VAEConfig.from_dict(card["config"])
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path.name}: invalid model config in {CARD_FILE}: {e}") from None
    return card


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[VAE, dict[str, Any]]:
    """Load a model directory; returns (model in eval mode, card). Never executes stored code."""
    path = Path(path)
    card = load_card(path)
    config = VAEConfig.from_dict(card["config"])
    weights = path / WEIGHTS_FILE
    if not weights.is_file():
        raise CheckpointError(f"{path.name}: {WEIGHTS_FILE} is missing")
    try:
        state = load_file(str(weights), device="cpu")
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path.name}: {WEIGHTS_FILE} is corrupted or truncated ({e})") from None
    model = VAE(config)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in state.items()}
    if set(expected) != set(got):
        missing, unexpected = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
        raise CheckpointError(
            f"{path.name}: the weights do not belong to a {config.arch} VAE as the card describes "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    wrong = [f"{k} {got[k]} != {expected[k]}" for k in expected if got[k] != expected[k]]
    if wrong:
        raise CheckpointError(f"{path.name}: weight shapes do not match the card's config: {'; '.join(wrong[:3])}")
    bad = [k for k, v in state.items() if not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f"{path.name}: weights contain NaN or infinity ({', '.join(bad[:3])})")
    model.load_state_dict(state)
    return model.to(device).eval(), card


def list_models(*roots: str | Path) -> list[tuple[Path, dict[str, Any] | None, str | None]]:
    """Every model directory under the given roots: (path, card or None, error or None).

    Broken models are listed with their reason instead of raising, so a picker can show them.
    Only the card is read here; weights are checked when a model is loaded.
    """
    found = []
    for root in roots:
        root = Path(root)
        if not root.is_dir():
            continue
        for path in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            try:
                found.append((path, load_card(path), None))
            except CheckpointError as e:
                found.append((path, None, str(e)))
    return found
