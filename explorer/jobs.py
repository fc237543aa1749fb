"""Background training jobs: `TrainingJob` runs `fit` in a child process and publishes snapshots.

The app starts a job and redraws from `job.snapshot()` a few times a second; the job never
touches the UI and the UI never touches the model, so the only shared state is a small record
behind a lock (epoch history, step progress, the latest reconstructions, the outcome), filled
by a thread that reads the child's reports from a pipe.
Stopping sets an event that `fit`'s callbacks return, so training ends at the next step and the
model keeps the last finished epoch (`fit` rolls back), which is then saved like the CLI does:
`save_model` (atomic) with a `ModelCard`, status "complete", "stopped" or
"diverged".

Each job builds its own fresh `VAE`: nothing is shared with models cached by the app, and
several jobs (one per browser session) can run at once, each saving into its own directory.

Why a process: a job in a thread of the app's server starved. Every torch operation releases
the GIL and must win it back, and a busy Streamlit server always has a thread holding it (one
per script run), so each of the hundreds of operations in a training step waited for a switch
interval. Measured on 2 cores, digits, MLP 256-128: 62 epochs in 6 s alone, none in 6 s beside
two busy Python threads (34 in a child process); in the browser load test
(benchmarks/load_test.py) 1 epoch in 68 s while ten sessions dragged sliders (683 in 60 s in a
child process). A child process has its own interpreter and GIL. It is a fresh `python` (not a
fork of a threaded server, which is unsafe) that imports torch and this package (about 2 s) and
talks to the job over two pipes. It runs at a lower priority (nice 10), so that on a small
machine the pages' reruns come first and training takes the CPU time they leave. The child
treats Ctrl-C and SIGTERM as Stop (it finishes the step, saves the last finished epoch and
exits) and does the same when its parent disappears (its pipe from the parent ends), so a killed
server never leaves a training process behind. `isolate=False` runs the job in a thread of this
process instead (quick, for tests and scripts that are not servers; always so where there are no
POSIX pipes to pass).

Threads: on a small CPU machine, GNU OpenMP's default spin-waiting makes concurrent torch work
(two jobs, or a job beside another process) very slow; OMP_WAIT_POLICY=PASSIVE, set before torch
is imported (the app and the child process both do), avoids that (measured: 50 digits epochs
66 s -> 7 s on 2 busy cores). A child training on small images (at most SMALL_IMAGE_PIXELS, the
8x8 digits) uses one thread: its matrices are too small to gain from two, and waking a second
thread for every operation cost time. Measured with the Train page's defaults in a browser on 2
cores: the job 4.0 s with one thread against 5.3-6.3 s with torch's default two, and 17-21 s
against 25-36 s while another process kept the cores busy. MNIST-sized models keep torch's
default (benchmark 5: one thread trains the 784-400-20 MLP at about 0.6x the speed of two).
"""

from __future__ import annotations

import atexit
import logging
import math
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vae.checkpoint import validate_name
from vae.config import TrainConfig, VAEConfig
from vae.data import DATASETS, DatasetUnavailable, load_dataset
from vae.model import VAE, build_model
from vae.train import StepInfo, run_training, save_run

from .images import to_uint8

log = logging.getLogger(__name__)

STATES = ("pending", "running", "done", "stopped", "diverged", "failed")
FINISHED = ("done", "stopped", "diverged", "failed")
N_RECON = 8  # test images reconstructed after every epoch
SMALL_IMAGE_PIXELS = 256  # children training on images this small use one torch thread (module docstring)
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


@dataclass(frozen=True)
class _Spec:
    """What a worker needs to train and save one model (picklable: it travels to the child process)."""

    name: str
    dataset: str
    config: VAEConfig
    train_config: TrainConfig
    path: Path
    download: bool | None


class TrainingJob:
    """Train a new VAE on a named dataset in the background and save it to `out_dir / name`.

    name: the model's directory name, checked with `validate_name` (ValueError if unsafe).
    config: the architecture; its input_shape must match the dataset (see `image_shape`).
    overwrite: False refuses (ValueError) a name that already exists in `out_dir`; a name that
        another job is training into right now is always refused.
    download: passed to `load_dataset` (None: download only when VAE_DATA_DIR is unset).
    isolate: True (default) trains in a child process, so a busy server cannot starve it (see
        the module docstring); False trains in a daemon thread of this process.
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
        isolate: bool = True,
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
        self.isolate = isolate and os.name == "posix"  # the pipes below need POSIX file descriptors
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._down: Connection | None = None  # to the child process, while it runs
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
            self._p.state, self._p.t_start = "running", time.perf_counter()
            self._p.message = "starting the training process" if self.isolate else "loading the dataset"
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask training to end at the next step; the last finished epoch is saved."""
        with self._lock:
            self._stop.set()
            if self._down is not None:
                try:
                    self._down.send("stop")
                except OSError:  # the child has just ended
                    pass

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the job to end (its model saved, its process gone); True if it has."""
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

    # -- reports from the worker (here, or read from the child's pipe) -------------------------

    def _set(self, **changes: Any) -> None:
        with self._lock:
            for key, value in changes.items():
                setattr(self._p, key, value)

    def _epoch(self, record: dict[str, Any], recon: np.ndarray) -> None:
        with self._lock:
            self._p.history.append(dict(record))
            self._p.recon, self._p.step = recon, 0

    def _finish(self, state: str, message: str, saved_path: Path | None = None) -> None:
        self._set(state=state, message=message, saved_path=saved_path, t_end=time.perf_counter())

    def _stopped(self) -> bool:
        return self._stop.is_set()

    # -- the background thread ------------------------------------------------------------------

    def _spec(self) -> _Spec:
        return _Spec(self.name, self.dataset, self.config, self.train_config, self.path, self.download)

    def _run(self) -> None:
        try:
            if self.isolate:
                self._run_child()
            else:
                _work(self._spec(), self)
        except Exception as e:  # noqa: BLE001 - e.g. no process could be started
            log.exception("training job %r failed", self.name)
            self._finish("failed", f"training failed unexpectedly ({type(e).__name__}: {e}); details are in the server log")
        finally:
            with _ACTIVE_LOCK:
                if _ACTIVE.get(self.path.resolve()) is self:
                    del _ACTIVE[self.path.resolve()]

    def _run_child(self) -> None:
        """Train in a child Python process; apply its reports here until it closes its pipe.

        Two pipes: reports come up as pickled (kind, payload) messages; the way down carries the
        job's spec, then "stop" if asked, and its end of file tells the child that we are gone.
        """
        up_read, up_write = os.pipe()
        down_read, down_write = os.pipe()
        # Passive OpenMP waiting in the child too (see the module docstring); the app sets it already.
        env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
        code = "import sys, explorer.jobs; explorer.jobs._child_main(int(sys.argv[1]), int(sys.argv[2]))"
        try:
            child = subprocess.Popen([sys.executable, "-c", code, str(down_read), str(up_write)],
                                     pass_fds=(down_read, up_write), env=env, stdin=subprocess.DEVNULL)
        finally:
            os.close(down_read)
            os.close(up_write)  # the child holds the only writing end: end of file when it is gone
        reports = Connection(up_read, writable=False)
        with self._lock:
            self._down = Connection(down_write, readable=False)
            self._down.send(self._spec())
            if self._stop.is_set():  # stopped before the process started
                self._down.send("stop")
        finished = False
        try:
            while True:
                try:
                    kind, payload = reports.recv()
                except (EOFError, OSError):
                    break
                if kind == "set":
                    self._set(**payload)
                elif kind == "epoch":
                    self._epoch(*payload)
                elif kind == "finish":
                    self._finish(*payload)
                    finished = True
        finally:
            reports.close()
            child.wait()
            with self._lock:
                self._down.close()
                self._down = None
        if not finished:
            self._finish("failed", f"the training process ended unexpectedly (exit code {child.returncode}); "
                                   "details are in the server log")


class _PipeSink:
    """The child process's side of a job: reports go up a pipe. It stops when the job says so, on
    SIGINT or SIGTERM, or when its parent is gone (the control pipe reaches end of file)."""

    _STEP_EVERY = 0.1  # seconds between step reports (epochs and the outcome are always sent)

    def __init__(self, down: Connection, up: Connection):
        self._down, self._up = down, up
        self._stop = False
        self._last_step = 0.0
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum, frame) -> None:
        self._stop = True

    def _send(self, kind: str, payload: Any) -> None:
        try:
            self._up.send((kind, payload))
        except OSError:  # the parent is gone: keep going, save, exit
            self._stop = True

    def _set(self, **changes: Any) -> None:
        if set(changes) <= {"epoch", "step", "steps_per_epoch"}:
            now = time.monotonic()
            if now - self._last_step < self._STEP_EVERY:
                return
            self._last_step = now
        self._send("set", changes)

    def _epoch(self, record: dict[str, Any], recon: np.ndarray) -> None:
        self._send("epoch", (dict(record), recon))

    def _finish(self, state: str, message: str, saved_path: Path | None = None) -> None:
        self._send("finish", (state, message, saved_path))

    def _stopped(self) -> bool:
        if not self._stop:
            try:
                if self._down.poll():
                    self._down.recv()  # "stop"
                    self._stop = True
            except (EOFError, OSError):  # end of file: the parent exited or was killed
                self._stop = True
        return self._stop


_CHILD_NICE = 10  # below the server's pages: training takes the CPU time they leave


def _child_main(down_fd: int, up_fd: int) -> None:
    """Entry point of a job's process: read the spec, train, save, report."""
    try:
        os.nice(_CHILD_NICE)
    except (AttributeError, OSError):  # no priorities here: train at the same one
        pass
    down, up = Connection(down_fd, writable=False), Connection(up_fd, readable=False)
    sink = _PipeSink(down, up)
    try:
        spec = down.recv()
    except (EOFError, OSError):
        return
    if math.prod(spec.config.input_shape) <= SMALL_IMAGE_PIXELS:
        torch.set_num_threads(1)  # see "Threads" in the module docstring
    try:
        _work(spec, sink)
    finally:
        up.close()


def _work(spec: _Spec, sink) -> None:
    """Train and save, reporting through `sink` (a TrainingJob or a _PipeSink); every failure is a message."""
    try:
        _train(spec, sink)
    except DatasetUnavailable as e:
        sink._finish("failed", str(e))
    except ValueError as e:  # a config that does not fit the data
        sink._finish("failed", f"could not train: {e}")
    except OSError as e:  # the models folder is not writable, the disk is full...
        log.warning("training job %r could not save: %s", spec.name, e)
        sink._finish("failed", f"could not save the model to {spec.path}: {e.strerror or e}")
    except Exception as e:  # noqa: BLE001 - the page shows a message, the log keeps the traceback
        log.exception("training job %r failed", spec.name)
        sink._finish("failed", f"training failed unexpectedly ({type(e).__name__}: {e}); details are in the server log")


def _train(spec: _Spec, sink) -> None:
    cfg, tcfg = spec.config, spec.train_config
    sink._set(message="loading the dataset")
    train = load_dataset(spec.dataset, "train", download=spec.download)
    test = load_dataset(spec.dataset, "test", download=spec.download)
    if train.image_shape != cfg.input_shape:
        raise ValueError(f"{spec.dataset} images are {train.image_shape}, the config expects {cfg.input_shape}")
    model = build_model(cfg, tcfg.seed)  # a fresh model: never one the app has cached
    fixed, fixed_y = _fixed_test_images(test.x, test.y)  # (N_RECON, C, H, W), (N_RECON,)
    labels = {"train_labels": train.y, "test_labels": test.y} if cfg.conditional else {}
    sink._set(message="training", steps_per_epoch=-(-len(train) // tcfg.batch_size), epoch=1)

    def on_step(info: StepInfo) -> bool:
        sink._set(epoch=info.epoch + 1, step=info.step + 1, steps_per_epoch=info.steps_per_epoch)
        return sink._stopped()

    def on_epoch(record: dict[str, Any]) -> bool:
        sink._epoch(record, _recon_row(model, fixed, fixed_y))
        return sink._stopped()

    run = run_training(model, train.x, test.x, tcfg, on_epoch=on_epoch, on_step=on_step, **labels)
    history, status, error, seconds = run.history, run.status, run.error, run.seconds
    if not history:
        if status == "diverged":
            sink._finish("diverged", f"{error}. No epoch finished, so nothing was saved: try a smaller learning rate.")
        else:
            sink._finish("stopped", "stopped before the first epoch finished: nothing was saved")
        return
    sink._set(message="computing test metrics and saving")
    metrics = save_run(model, spec.path, run, spec.dataset, tcfg, len(train), test.x, trained_in="app",
                       test_labels=labels.get("test_labels"))
    n = len(history)
    summary = f"test -ELBO {metrics.neg_elbo:.1f} nats per image"
    if status == "complete":
        sink._finish("done", f"trained {n} epochs in {seconds:.0f} s ({summary}); saved as {spec.name}", spec.path)
    elif status == "stopped":
        sink._finish("stopped", f"stopped after {n} of {tcfg.epochs} epochs ({summary}); saved as {spec.name}", spec.path)
    else:
        sink._finish(
            "diverged", f"{error}. Saved the last good epoch ({n}) as {spec.name}; try a smaller learning rate.", spec.path
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
