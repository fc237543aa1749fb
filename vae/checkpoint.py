"""Checkpoints: a model is a directory holding `model.safetensors` and `card.json`.

The weights are stored with safetensors (plain tensors, no pickled code: loading a checkpoint
can never execute anything). The card (`vae.card.ModelCard`, validated on load) describes
the model completely: its `VAEConfig`, the dataset it was trained on, the `TrainConfig`, the
per-epoch history, test metrics, creation time and library versions, so `info` and the app can
show it without loading weights.

Writes are atomic: the directory is written under a temporary name beside the target and
renamed into place, so a killed process leaves either the old model or the new one, never a
half-written mix. Replacing an existing model swaps the two directories in one step (Linux
`renameat2(RENAME_EXCHANGE)`); where that is unavailable the old model is moved aside first,
and if a process dies between the two renames the next `list_models`, `load_card` or
`save_model` puts it back. Loading validates every tensor's name and shape against the config and
raises `CheckpointError` (a `ValueError`) with a readable reason.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import glob
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from .card import CLASSIFIER_KIND, ModelCard
from .config import VAEConfig
from .model import VAE

WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "card.json"
# Model names become directory names: letters, digits, '-', '_', '.', not starting with '.'.
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class CheckpointError(ValueError):
    """A model directory is missing, unreadable, or does not match its own description."""


class NotAVAE(CheckpointError):
    """A sound model directory that holds another kind of model (the Bayesian classifier of `vae.bnn`)."""


def validate_name(name: str) -> str:
    """Check a user-typed model name is a safe single directory name; return it unchanged."""
    # fullmatch, not match: "$" also matches before a final "\n", which would let "name\n" through.
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name) or name in {".", ".."}:
        raise ValueError(
            f"invalid model name {name!r}: use 1-64 letters, digits, '-', '_' or '.', starting with a letter or digit"
        )
    return name


def save_model(model: VAE, path: str | Path, card: ModelCard) -> Path:
    """Write `model` and `card` to directory `path` atomically; returns the path."""
    if card.config != model.config:
        raise ValueError("the card's config does not describe this model")
    return write_model_dir(path, model.state_dict(), card.to_dict())


def write_model_dir(path: str | Path, state: dict[str, torch.Tensor], card: dict) -> Path:
    """Write tensors (as model.safetensors) and a card (as card.json) to directory `path` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _tidy(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        state = {k: v.detach().to("cpu").contiguous() for k, v in state.items()}
        save_file(state, str(tmp / WEIGHTS_FILE), metadata={"format": "pt"})
        (tmp / CARD_FILE).write_text(json.dumps(card, indent=2, allow_nan=False) + "\n")
        # mkdtemp makes a private folder and safetensors a private file: give the model the
        # permissions of any file its owner creates (the umask's), so that another account (a
        # service running the app) can read what a lecturer trained.
        umask = _umask()
        tmp.chmod(0o777 & ~umask)
        for f in (WEIGHTS_FILE, CARD_FILE):  # reach the disk before the rename makes it visible
            (tmp / f).chmod(0o666 & ~umask)
            with open(tmp / f, "rb") as fh:
                os.fsync(fh.fileno())
        if not path.exists():
            os.replace(tmp, path)
        elif _exchange(tmp, path):
            shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the old model
        else:
            # No atomic swap here: move the old model aside, move the new one in, then delete the
            # old one. A kill between the two renames leaves it in .NAME.old-*/model; _tidy restores it.
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
            os.replace(path, old / "model")
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        _fsync_dir(path.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _umask() -> int:
    """The process's umask: read from /proc on Linux, else set and put straight back (os.umask is the
    only portable reader, and another thread creating a file in between would get 022)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_AT_FDCWD, _RENAME_EXCHANGE = -100, 2
# A save takes seconds at most: temporaries older than this belong to a process that died.
_SETTLE_SECONDS = 60


def _exchange(a: Path, b: Path) -> bool:
    """Swap two directories in one atomic step (Linux renameat2); False where that is unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # a libc without renameat2 (glibc < 2.28, musl < 1.2)
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):  # the kernel or filesystem cannot exchange
        return False
    raise OSError(err, os.strerror(err), str(b))


def _fsync_dir(path: Path) -> None:
    """Make a rename durable (best effort: not every platform can open a directory)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _tidy(path: Path) -> None:
    """Clean up after a save to `path` that was killed: restore a model it left aside, drop its temporaries.

    Only leftovers older than _SETTLE_SECONDS are touched, so a save still running is left alone.
    """
    now = time.time()

    def stale(p: Path) -> bool:
        try:
            return now - p.stat().st_mtime > _SETTLE_SECONDS
        except OSError:
            return False

    if not path.parent.is_dir():
        return
    for old in sorted(path.parent.glob(f".{glob.escape(path.name)}.old-*")):
        if not stale(old):
            continue
        moved = old / "model"
        try:
            if not path.exists() and (moved / CARD_FILE).is_file() and (moved / WEIGHTS_FILE).is_file():
                os.replace(moved, path)  # killed between the two renames: the old model comes back
        except OSError:
            continue
        if path.exists():
            shutil.rmtree(old, ignore_errors=True)
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.tmp-*"):
        if stale(tmp):
            shutil.rmtree(tmp, ignore_errors=True)


def load_card(path: str | Path) -> ModelCard:
    """Read and validate a model's card.json (no weights are read); CheckpointError says what is wrong."""
    path = Path(path)
    card_path = path / CARD_FILE
    if not path.is_dir():
        _tidy(path)  # a save killed mid-swap may have left this model aside
    if not path.is_dir():
        raise CheckpointError(f"{path} is not a model directory")
    if not card_path.is_file():
        raise CheckpointError(f"{path.name}: {CARD_FILE} is missing")
    try:
        data = json.loads(card_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path.name}: {CARD_FILE} is corrupted or truncated ({e})") from None
    except OSError as e:
        raise CheckpointError(f"{path.name}: {CARD_FILE} cannot be read ({e.strerror or e})") from None
    if isinstance(data, dict) and data.get("kind") == CLASSIFIER_KIND:
        raise NotAVAE(f"{path.name} is a Bayesian neural network classifier, not a VAE "
                      "(the app shows it on its 'Bayesian neural network' page)")
    try:
        return ModelCard.from_dict(data)
    except ValueError as e:
        raise CheckpointError(f"{path.name}: invalid {CARD_FILE}: {e}") from None


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[VAE, ModelCard]:
    """Load a model directory; returns (model in eval mode, card). Never executes stored code."""
    path = Path(path)
    card = load_card(path)
    config = card.config
    weights = path / WEIGHTS_FILE
    if not weights.is_file():
        raise CheckpointError(f"{path.name}: {WEIGHTS_FILE} is missing")
    try:
        state = load_file(str(weights), device="cpu")
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path.name}: {WEIGHTS_FILE} is corrupted or truncated ({e})") from None
    model = VAE(config)
    _check_shapes(path.name, config, {k: tuple(v.shape) for k, v in model.state_dict().items()},
                  {k: tuple(v.shape) for k, v in state.items()})
    bad = [k for k, v in state.items() if not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f"{path.name}: weights contain NaN or infinity ({', '.join(bad[:3])})")
    model.load_state_dict(state)
    return model.to(device).eval(), card


def _check_shapes(name: str, config: VAEConfig, expected: dict[str, tuple], got: dict[str, tuple]) -> None:
    if set(expected) != set(got):
        missing, unexpected = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
        raise CheckpointError(
            f"{name}: the weights do not belong to a {config.arch} VAE as the card describes "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    wrong = [f"{k} {got[k]} != {expected[k]}" for k in expected if got[k] != expected[k]]
    if wrong:
        raise CheckpointError(f"{name}: weight shapes do not match the card's config: {'; '.join(wrong[:3])}")


def check_weights(path: str | Path, card: ModelCard) -> None:
    """Check a model's weights file against its card from the file's header alone (no tensor is read).

    Finds a missing, truncated or corrupted file and weights of another architecture or shape,
    in about a millisecond; raises CheckpointError saying which. (NaN weights show only when the
    model is loaded.) Results are cached per file version.
    """
    path = Path(path)
    weights = path / WEIGHTS_FILE
    try:
        st = weights.stat()
    except OSError:
        raise CheckpointError(f"{path.name}: {WEIGHTS_FILE} is missing") from None
    error = _header_problem(str(weights), st.st_mtime_ns, st.st_size, json.dumps(card.config.to_dict(), sort_keys=True))
    if error:
        raise CheckpointError(error)


@functools.lru_cache(maxsize=256)
def _header_problem(weights: str, mtime_ns: int, size: int, config_json: str) -> str | None:
    name = Path(weights).parent.name
    try:
        with safe_open(weights, framework="pt") as f:
            got = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        return f"{name}: {WEIGHTS_FILE} is corrupted or truncated ({e})"
    config = VAEConfig.from_dict(json.loads(config_json))
    try:
        with torch.device("meta"):  # shapes only: nothing is allocated or initialised
            model = VAE(config)
    except Exception:  # noqa: BLE001 - a layer that cannot live on the meta device: build it for real
        model = VAE(config)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    try:
        _check_shapes(name, config, expected, got)
    except CheckpointError as e:
        return str(e)
    return None


def list_models(*roots: str | Path) -> list[tuple[Path, ModelCard | None, str | None]]:
    """Every model directory under the given roots: (path, card or None, error or None).

    Broken models are listed with their reason instead of raising, so a picker can show them:
    a missing or unreadable card, and (from its header, see `check_weights`) a missing,
    truncated or mismatched weights file. NaN weights are found when the model is loaded. A
    classifier saved beside the VAEs (`vae.bnn`, e.g. models/mnist-bnn) is not a VAE and is left out.
    """
    found = []
    for root in roots:
        root = Path(root)
        if not root.is_dir():
            continue
        for old in root.glob(".*.old-*"):  # a save killed mid-swap: put its model back first
            _tidy(root / old.name[1 : old.name.rindex(".old-")])
        for path in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            try:
                card = load_card(path)
                check_weights(path, card)
                found.append((path, card, None))
            except NotAVAE:  # a classifier beside the VAEs (models/mnist-bnn): not a VAE to offer
                continue
            except CheckpointError as e:
                found.append((path, None, str(e)))
    return found
