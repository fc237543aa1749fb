"""Background training jobs: `TrainingJob` runs `fit` in a thread and publishes snapshots.

The app starts a job and redraws from `job.snapshot()` a few times a second; the job thread
never touches the UI and the UI never touches the model, so the only shared state is a small
record behind a lock (epoch history, step progress, the latest reconstructions, the outcome).
Stopping sets an event that `fit`'s callbacks return, so training ends at the next step and the
model keeps the last finished epoch (`fit` rolls back), which is then saved like the CLI does:
`save_model` (atomic) with a card made by `make_card`, status "complete", "stopped" or
"diverged".

Each job builds its own fresh `VAE`: nothing is shared with models cached by the app, and
several jobs (one per browser session) can run at once, each saving into its own directory.

Threads: `torch.set_num_threads` is deliberately not called. It is not per-thread: the count it
sets is inherited by every thread started afterwards (Streamlit starts one per script run), so
giving a job fewer cores would slow every session's model too. A job's compute competes with
the app's, which stays responsive because torch releases the GIL inside each operation. On a
small CPU machine, GNU OpenMP's default spin-waiting makes concurrent torch work (two jobs, or a
job beside another process) very slow; OMP_WAIT_POLICY=PASSIVE, set before torch is imported,
avoids that (measured: 50 digits epochs 66 s -> 7 s on 2 busy cores).
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .checkpoint import validate_name
from .config import TrainConfig, VAEConfig
from .data import DATASETS, DatasetUnavailable, load_dataset
from .model import VAE
from .train import StepInfo, run_training, save_run
from .viz import to_uint8

log = logging.getLogger(__name__)

STATES = ("pending", "running", "done", "stopped", "diverged", "failed")
FINISHED = ("done", "stopped", "diverged", "failed")
N_RECON = 8  # test images reconstructed after every epoch
# Global RNG seeding + model construction must not interleave between two jobs' threads, or
# the same seed could give different initial weights (torch.manual_seed is process-wide).
_INIT_LOCK = threading.Lock()
# Jobs still running in this process, by output path: two sessions must not train into the
# same directory at once, and an exiting interpreter stops them so each saves its last epoch.
_ACTIVE: dict[Path, "TrainingJob"] = {}
_ACTIVE_LOCK = threading.Lock()
_EXIT_WAIT_SECONDS = 10.0


def is_training(path: str | Path) -> bool:
    """Is a job in this process training into `path` right now?"""
    with _ACTIVE_LOCK:
        return Path(path).expanduser().resolve() in _ACTIVE


def _stop_all_at_exit() -> None:
    """Stop running jobs and give them a moment to save (like Ctrl-C in the CLI), then exit."""
    with _ACTIVE_LOCK:
        jobs = list(_ACTIVE.values())
    for job in jobs:
        job.stop()
    deadline = time.monotonic() + _EXIT_WAIT_SECONDS
    for job in jobs:
        job.join(max(0.0, deadline - time.monotonic()))


def image_shape(dataset: str) -> tuple[int, int, int]:
    """(C, H, W) of a dataset's images without loading it: 8x8 for `digits`, else 28x28."""
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    return (1, 8, 8) if dataset == "digits" else (1, 28, 28)


@dataclass(frozen=True)
class JobSnapshot:
    """Everything a page shows about a job, copied at one instant (safe to keep and read).

    history: the epoch records `fit` produced so far (see `vae.train.fit`), as copies.
    recon: (2, N_RECON, H, W) uint8, row 0 fixed test inputs and row 1 their reconstructions
        (decoder means for z = mu) after the latest finished epoch; None before the first.
    progress: fraction of all training steps done, in [0, 1].
    """

    name: str
    dataset: str
    state: str
    message: str
    epoch: int  # 1-based epoch in progress (or last finished once done)
    epochs: int
    step: int  # steps done in the current epoch
    steps_per_epoch: int
    progress: float
    history: tuple[dict[str, Any], ...]
    recon: np.ndarray | None
    saved_path: Path | None
    elapsed: float
    stop_requested: bool

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    @property
    def running(self) -> bool:
        return self.state in ("pending", "running")


@dataclass
class _Progress:
    state: str = "pending"
    message: str = "waiting to start"
    epoch: int = 0
    step: int = 0
    steps_per_epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    recon: np.ndarray | None = None
    saved_path: Path | None = None
    t_start: float | None = None
    t_end: float | None = None


class TrainingJob:
    """Train a new VAE on a named dataset in a daemon thread and save it to `out_dir / name`.

    name: the model's directory name, checked with `validate_name` (ValueError if unsafe).
    config: the architecture; its input_shape must match the dataset (see `image_shape`).
    overwrite: False refuses (ValueError) a name that already exists in `out_dir`; a name that
        another job is training into right now is always refused.
    download: passed to `load_dataset` (None: download only when VAE_DATA_DIR is unset).
    """

    def __init__(
        self,
        name: str,
        dataset: str,
        config: VAEConfig,
        train_config: TrainConfig,
        out_dir: str | Path,
        *,
        overwrite: bool = False,
        download: bool | None = None,
    ):
        self.name = validate_name(name)
        if dataset not in DATASETS:
            raise ValueError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
        self.dataset = dataset
        self.config = config
        self.train_config = train_config
        self.out_dir = Path(out_dir).expanduser()
        self.path = self.out_dir / self.name
        if self.path.exists() and not overwrite:
            raise ValueError(
                f"a model named {self.name!r} already exists in {self.out_dir}; choose another name or overwrite it"
            )
        self.download = download
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._p = _Progress()
        self._thread = threading.Thread(target=self._run, name=f"vae-train-{self.name}", daemon=True)

    # -- control ------------------------------------------------------------------------------

    def start(self) -> "TrainingJob":
        """Start training in the background; returns self. ValueError if the path is taken."""
        key = self.path.resolve()
        with _ACTIVE_LOCK:
            if key in _ACTIVE:
                raise ValueError(f"a model named {self.name!r} is being trained right now; choose another name")
            if not _ACTIVE:
                atexit.unregister(_stop_all_at_exit)  # registered once, only when jobs exist
                atexit.register(_stop_all_at_exit)
            _ACTIVE[key] = self
        with self._lock:
            self._p.state, self._p.message, self._p.t_start = "running", "loading the dataset", time.perf_counter()
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask training to end at the next step; the last finished epoch is saved."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread to end; True if it has."""
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def snapshot(self) -> JobSnapshot:
        with self._lock:
            p = self._p
            epochs = self.train_config.epochs
            done_steps = len(p.history) * p.steps_per_epoch + p.step
            total = epochs * p.steps_per_epoch
            progress = 1.0 if p.state == "done" else (done_steps / total if total else 0.0)
            end = p.t_end if p.t_end is not None else time.perf_counter()
            recon = None
            if p.recon is not None:
                recon = p.recon.copy()
                recon.flags.writeable = False
            return JobSnapshot(
                name=self.name, dataset=self.dataset, state=p.state, message=p.message,
                epoch=p.epoch, epochs=epochs, step=p.step, steps_per_epoch=p.steps_per_epoch,
                progress=min(1.0, max(0.0, progress)), history=tuple(dict(r) for r in p.history), recon=recon,
                saved_path=p.saved_path, elapsed=0.0 if p.t_start is None else end - p.t_start,
                stop_requested=self._stop.is_set(),
            )

    # -- the thread ---------------------------------------------------------------------------

    def _set(self, **changes: Any) -> None:
        with self._lock:
            for key, value in changes.items():
                setattr(self._p, key, value)

    def _run(self) -> None:
        try:
            self._train()
        except DatasetUnavailable as e:
            self._finish("failed", str(e))
        except ValueError as e:  # a config that does not fit the data
            self._finish("failed", f"could not train: {e}")
        except OSError as e:  # the models folder is not writable, the disk is full...
            log.warning("training job %r could not save: %s", self.name, e)
            self._finish("failed", f"could not save the model to {self.path}: {e.strerror or e}")
        except Exception as e:  # noqa: BLE001 - the page shows a message, the log keeps the traceback
            log.exception("training job %r failed", self.name)
            self._finish("failed", f"training failed unexpectedly ({type(e).__name__}: {e}); details are in the server log")
        finally:
            with _ACTIVE_LOCK:
                if _ACTIVE.get(self.path.resolve()) is self:
                    del _ACTIVE[self.path.resolve()]

    def _finish(self, state: str, message: str, saved_path: Path | None = None) -> None:
        self._set(state=state, message=message, saved_path=saved_path, t_end=time.perf_counter())

    def _train(self) -> None:
        cfg, tcfg = self.config, self.train_config
        train = load_dataset(self.dataset, "train", download=self.download)
        test = load_dataset(self.dataset, "test", download=self.download)
        if train.image_shape != cfg.input_shape:
            raise ValueError(f"{self.dataset} images are {train.image_shape}, the config expects {cfg.input_shape}")
        with _INIT_LOCK:
            torch.manual_seed(tcfg.seed)
            model = VAE(cfg)  # a fresh model: never one the app has cached
        fixed, fixed_y = _fixed_test_images(test.x, test.y)  # (N_RECON, C, H, W), (N_RECON,)
        labels = {"train_labels": train.y, "test_labels": test.y} if cfg.conditional else {}
        self._set(message="training", steps_per_epoch=-(-len(train) // tcfg.batch_size), epoch=1)

        def on_step(info: StepInfo) -> bool:
            self._set(epoch=info.epoch + 1, step=info.step + 1, steps_per_epoch=info.steps_per_epoch)
            return self._stop.is_set()

        def on_epoch(record: dict[str, Any]) -> bool:
            recon = _recon_row(model, fixed, fixed_y)
            with self._lock:
                self._p.history.append(dict(record))
                self._p.recon, self._p.step = recon, 0
            return self._stop.is_set()

        run = run_training(model, train.x, test.x, tcfg, on_epoch=on_epoch, on_step=on_step, **labels)
        history, status, error, seconds = run.history, run.status, run.error, run.seconds
        if not history:
            if status == "diverged":
                self._finish("diverged", f"{error}. No epoch finished, so nothing was saved: try a smaller learning rate.")
            else:
                self._finish("stopped", "stopped before the first epoch finished: nothing was saved")
            return
        self._set(message="computing test metrics and saving")
        metrics = save_run(model, self.path, run, self.dataset, tcfg, len(train), test.x, trained_in="app",
                           test_labels=labels.get("test_labels"))
        path = self.path
        n = len(history)
        summary = f"test -ELBO {metrics['neg_elbo']:.1f} nats per image"
        if status == "complete":
            self._finish("done", f"trained {n} epochs in {seconds:.0f} s ({summary}); saved as {self.name}", path)
        elif status == "stopped":
            self._finish("stopped", f"stopped after {n} of {tcfg.epochs} epochs ({summary}); saved as {self.name}", path)
        else:
            self._finish(
                "diverged", f"{error}. Saved the last good epoch ({n}) as {self.name}; try a smaller learning rate.", path
            )


def _fixed_test_images(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """N_RECON test images and their labels, the first of each class in turn, so the row shows different digits."""
    picked: list[int] = []
    for cls in torch.unique(y).tolist():
        picked.append(int((y == cls).nonzero()[0]))
        if len(picked) == N_RECON:
            break
    for i in range(len(x)):  # fewer classes than N_RECON: fill with the first images
        if len(picked) >= N_RECON:
            break
        if i not in picked:
            picked.append(i)
    picked = sorted(picked, key=lambda i: int(y[i]))
    return x[picked].clone(), y[picked].clone()


@torch.no_grad()
def _recon_row(model: VAE, x: torch.Tensor, y: torch.Tensor | None = None) -> np.ndarray:
    """(2, N, H, W) uint8: the inputs and their reconstructions through z = mu (given y if conditional)."""
    was_training = model.training
    model.eval()
    x_hat = model(x.to(model.device), y, sample=False).x_hat.cpu()
    model.train(was_training)
    return np.stack([to_uint8(x), to_uint8(x_hat)])  # to_uint8: (N, 1, H, W) -> (N, H, W)
