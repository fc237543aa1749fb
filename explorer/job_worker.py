"""What runs inside a training job: load the data once, train each model, save it, report.

`explorer.jobs` starts `child_main` in a fresh Python process (or calls `work` in a thread when
`isolate=False`); every report goes through a sink: the job itself in a thread, or `_PipeSink`,
which sends it up a pipe to the job in the server. The child treats Ctrl-C, SIGTERM and the end
of its parent's pipe as Stop: it finishes the step, saves the last finished epoch and exits.
"""

from __future__ import annotations

import logging
import math
import os
import re
import signal
import time
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
import torch

from vae.card import Metrics
from vae.data import DatasetUnavailable, Split, load_dataset
from vae.model import VAE, build_model
from vae.train import StepInfo, flush_denormals, run_training, save_run

from .i18n import N_
from .images import to_uint8
from .jobs import _SEVERITY, MAP_CODES, N_RECON, SMALL_IMAGE_PIXELS, Message, RunOutcome, _Run, _Spec

log = logging.getLogger(__name__)


class _PipeSink:
    """The child process's side of a job: reports go up a pipe. It stops when the job says so, on
    SIGINT or SIGTERM, or when its parent is gone (the control pipe reaches end of file).

    Progress goes up at most every _REPORT_EVERY seconds, as one "report": the epochs finished since
    the last one (records and codes), the latest reconstructions and the step reached. The job's
    thread in the server reads the pipe only when the pages' script runs let it have the GIL; one
    message per tiny epoch (the digits run twenty a second) piled up in the pipe faster than a busy
    server read them, so the page showed an epoch the child had left a dozen epochs before and Stop
    seemed to land late. The stop itself is asked at every step (`_stopped`, a poll that does not
    wait), and where it landed is reported at once.
    """

    _REPORT_EVERY = 0.1  # seconds between progress reports (a new model, its outcome and the end go at once)
    _STEP_KEYS = frozenset({"epoch", "step", "steps_per_epoch"})

    def __init__(self, down: Connection, up: Connection):
        self._down, self._up = down, up
        self._stop = False
        self._last_report = 0.0
        self._epochs: list[tuple[dict[str, Any], np.ndarray | None]] = []  # (record, codes) not sent yet
        self._recon: np.ndarray | None = None
        self._changes: dict[str, Any] = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum, frame) -> None:
        self._stop = True

    def _send(self, kind: str, payload: Any) -> None:
        try:
            self._up.send((kind, payload))
        except OSError:  # the parent is gone: keep going, save, exit
            self._stop = True

    def _report(self, now: bool = False) -> None:
        """Send what changed since the last report, if _REPORT_EVERY has passed (or `now`)."""
        t = time.monotonic()
        if not now and t - self._last_report < self._REPORT_EVERY:
            return
        if self._epochs or self._changes:
            self._send("report", (self._epochs, self._recon, self._changes))
            self._epochs, self._recon, self._changes = [], None, {}
        self._last_report = t

    def _set(self, **changes: Any) -> None:
        self._changes.update(changes)
        self._report(now=not changes.keys() <= self._STEP_KEYS)  # a new message goes at once

    def _epoch(self, record: dict[str, Any], recon: np.ndarray, codes: np.ndarray | None = None) -> None:
        self._epochs.append((dict(record), codes))
        self._recon = recon
        for key in self._STEP_KEYS:  # older than this epoch's end
            self._changes.pop(key, None)
        self._report()

    def _begin(self, index: int) -> None:
        self._report(now=True)
        self._send("begin", (index,))

    def _outcome(self, outcome: RunOutcome) -> None:
        self._report(now=True)
        self._send("outcome", (outcome,))

    def _finish(self, state: str, message: str) -> None:
        self._report(now=True)
        self._send("finish", (state, message))

    def _stopped(self) -> bool:
        if not self._stop:
            try:
                if self._down.poll():
                    self._down.recv()  # "stop"
                    self._stop = True
            except (EOFError, OSError):  # end of file: the parent exited or was killed
                self._stop = True
            if self._stop:
                self._report(now=True)  # where the stop landed, for the page
        return self._stop


_CHILD_NICE = 10  # below the server's pages: training takes the CPU time they leave


def child_main(down_fd: int, up_fd: int) -> None:
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
    flush_denormals()  # before torch starts its worker threads: they copy the setting
    if math.prod(spec.config.input_shape) <= SMALL_IMAGE_PIXELS:
        torch.set_num_threads(1)  # see "Threads" in the module docstring
    try:
        work(spec, sink)
    finally:
        up.close()


def work(spec: _Spec, sink) -> None:
    """Load the data once, then train and save each model in turn, reporting through `sink` (a
    TrainingJob or a _PipeSink). Every failure is a message; after a stop the rest are skipped."""
    try:
        sink._set(message=Message(N_("loading the dataset")))
        train = load_dataset(spec.dataset, "train", download=spec.download)
        test = load_dataset(spec.dataset, "test", download=spec.download)
        if train.image_shape != spec.config.input_shape:
            raise ValueError(Message(N_("{dataset} images are {shape}, the config expects {expected}"),
                                     dataset=spec.dataset, shape=train.image_shape, expected=spec.config.input_shape))
    except DatasetUnavailable as e:
        sink._finish("failed", str(e))
        return
    except ValueError as e:  # a config that does not fit the data
        sink._finish("failed", Message(N_("could not train: {error}"), error=_reason(e)))
        return
    except Exception as e:  # noqa: BLE001 - the page shows a message, the log keeps the traceback
        log.exception("training job %r could not load %s", spec.runs[0].name, spec.dataset)
        sink._finish("failed", unexpected(e))
        return
    outcomes: list[RunOutcome] = []
    for i, run in enumerate(spec.runs):
        if outcomes and sink._stopped():
            break
        sink._begin(i)
        outcome = _train_or_fail(spec, run, train, test, sink)
        sink._outcome(outcome)
        outcomes.append(outcome)
    sink._finish(*_summary(outcomes, spec.runs))


def unexpected(e: Exception) -> str:
    return Message(N_("training failed unexpectedly ({error}); details are in the server log"),
                   error=f"{type(e).__name__}: {e}")


def _reason(e: Exception) -> str:
    """An exception's text: the Message it was raised with (shown in the reader's language), else its str."""
    return e.args[0] if len(e.args) == 1 and isinstance(e.args[0], Message) else str(e)


# vae.train's TrainingDiverged text, read back into its fields so that the page can say it in the reader's language.
_DIVERGED = re.compile(r"training diverged in epoch (?P<epoch>\d+), step (?P<step>\d+): the loss became (?P<loss>\S+) "
                       r"\(learning rate (?P<lr>\S+) is probably too high\); the model keeps the weights of the last "
                       r"finished epoch \((?P<kept>\d+)\)")


def diverged(error: str | None) -> str:
    """`vae.train`'s "training diverged in epoch ..." as a Message (the same English); another text as it is."""
    match = _DIVERGED.fullmatch(error or "")
    if match is None:
        return str(error)
    return Message(N_("training diverged in epoch {epoch}, step {step}: the loss became {loss} (learning rate {lr} is "
                      "probably too high); the model keeps the weights of the last finished epoch ({kept})"),
                   **match.groupdict())


def _train_or_fail(spec: _Spec, run: _Run, train: Split, test: Split, sink) -> RunOutcome:
    """`_train`, with a failure as a "failed" outcome, so that the next model still trains."""
    t0 = time.perf_counter()
    try:
        return _train(spec, run, train, test, sink)
    except ValueError as e:  # a config the model cannot be built or trained with
        message = Message(N_("could not train: {error}"), error=_reason(e))
    except OSError as e:  # the models folder is not writable, the disk is full...
        log.warning("training job %r could not save: %s", run.name, e)
        message = Message(N_("could not save the model to {path}: {error}"), path=run.path, error=e.strerror or str(e))
    except Exception as e:  # noqa: BLE001 - the page shows a message, the log keeps the traceback
        log.exception("training job %r failed", run.name)
        message = unexpected(e)
    return RunOutcome(run.name, run.train_config.beta, "failed", message, None, time.perf_counter() - t0, 0, None)


def _train(spec: _Spec, run: _Run, train: Split, test: Split, sink) -> RunOutcome:
    """Train one fresh model (never one the app has cached) and save it if an epoch finished."""
    cfg, tcfg = spec.config, run.train_config
    model = build_model(cfg, tcfg.seed)
    fixed, fixed_y = _fixed_test_images(test.x, test.y)  # (N_RECON, C, H, W), (N_RECON,)
    labels = {"train_labels": train.y, "test_labels": test.y} if cfg.conditional else {}
    map_x = map_y = None
    if cfg.latent_dim == 2:  # the latent map, redrawn after every epoch
        map_x, map_y = _map_images(test.x, test.y)
        sink._set(map_labels=map_y.numpy().astype(np.int16))
    sink._set(message="training", steps_per_epoch=-(-len(train) // tcfg.batch_size), epoch=1)

    def on_step(info: StepInfo) -> bool:
        # Every step asks (a poll of the pipe, no wait), so a stop lands at the next step.
        sink._set(epoch=info.epoch + 1, step=info.step + 1, steps_per_epoch=info.steps_per_epoch)
        return sink._stopped()

    def on_epoch(record: dict[str, Any]) -> bool:
        codes = None if map_x is None else _codes(model, map_x, map_y if cfg.conditional else None)
        sink._epoch(record, _recon_row(model, fixed, fixed_y), codes)
        return sink._stopped()

    result = run_training(model, train.x, test.x, tcfg, on_epoch=on_epoch, on_step=on_step, **labels)
    history, status, error, seconds = result.history, result.status, result.error, result.seconds
    n = len(history)

    def outcome(state: str, message: str, metrics: Metrics | None = None) -> RunOutcome:
        saved_path = None if metrics is None else run.path
        return RunOutcome(run.name, tcfg.beta, state, message, saved_path, seconds, n, metrics)

    if not history:
        if status == "diverged":
            return outcome("diverged", Message(N_("{error}. No epoch finished, so nothing was saved: try a smaller "
                                                  "learning rate."), error=diverged(error)))
        return outcome("stopped", Message(N_("stopped before the first epoch finished: nothing was saved")))
    sink._set(message=Message(N_("computing test metrics and saving")))
    metrics = save_run(model, run.path, result, spec.dataset, tcfg, len(train), test.x, trained_in=spec.trained_in,
                       test_labels=labels.get("test_labels"))
    summary = Message(N_("test -ELBO {neg_elbo:.1f} nats per image"), neg_elbo=metrics.neg_elbo)
    if status == "complete":
        return outcome("done", Message(N_("trained {n} epochs in {seconds:.0f} s ({summary}); saved as {name}"),
                                       n=n, seconds=seconds, summary=summary, name=run.name), metrics)
    if status == "stopped":
        return outcome("stopped", Message(N_("stopped after {n} of {epochs} epochs ({summary}); saved as {name}"),
                                          n=n, epochs=tcfg.epochs, summary=summary, name=run.name), metrics)
    return outcome("diverged", Message(N_("{error}. Saved the last good epoch ({n}) as {name}; try a smaller learning "
                                          "rate."), error=diverged(error), n=n, name=run.name), metrics)


def _summary(outcomes: list[RunOutcome], runs: tuple[_Run, ...]) -> tuple[str, str]:
    """The job's final state and message. A job of one model ends as that model did; a longer one
    in the most serious of its models' states (see _SEVERITY), "stopped" if models were skipped."""
    skipped = [run.name for run in runs[len(outcomes):]]
    state = "stopped" if skipped else max((o.state for o in outcomes), key=_SEVERITY.index)
    if len(runs) == 1:
        return state, outcomes[0].message
    saved = [o.name for o in outcomes if o.saved_path is not None]
    if state == "done":
        return state, Message(N_("trained {n} models; saved as {names}"), n=len(saved), names=", ".join(saved))
    if saved:
        parts = [Message(N_("saved {n} of {total} models ({names})"), n=len(saved), total=len(runs),
                         names=", ".join(saved))]
    else:
        parts = [Message(N_("saved {n} of {total} models"), n=len(saved), total=len(runs))]
    parts += [Message(N_("{name}: {message}"), name=o.name, message=o.message) for o in outcomes if o.state != "done"]
    if skipped:
        parts.append(Message(N_("skipped {names}"), names=", ".join(skipped)))
    return state, Message.join(parts)


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


def _map_images(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Up to MAP_CODES test images and their labels, a seeded random choice kept in dataset order."""
    if len(x) <= MAP_CODES:
        return x, y
    picked = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[:MAP_CODES].sort().values
    return x[picked], y[picked]


@torch.no_grad()
def _codes(model: VAE, x: torch.Tensor, y: torch.Tensor | None = None) -> np.ndarray:
    """(N, 2) float16: the posterior means of x (given y if conditional), small enough to send every epoch."""
    was_training = model.training
    model.eval()
    y = None if y is None else y.to(model.device)
    mu = model.encode(x.to(model.device), y).mu  # (N, 2); N <= MAP_CODES images in one batch
    model.train(was_training)
    return mu.float().cpu().numpy().astype(np.float16)


@torch.no_grad()
def _recon_row(model: VAE, x: torch.Tensor, y: torch.Tensor | None = None) -> np.ndarray:
    """(2, N, H, W) uint8: the inputs and their reconstructions through z = mu (given y if conditional)."""
    was_training = model.training
    model.eval()
    x_hat = model(x.to(model.device), y, sample=False).x_hat.cpu()
    model.train(was_training)
    return np.stack([to_uint8(x), to_uint8(x_hat)])  # to_uint8: (N, 1, H, W) -> (N, H, W)
