"""Background training jobs: `TrainingJob` trains a model in a child process and publishes
snapshots; `SweepJob` trains several models in turn (a beta sweep) through the same machinery.

The app starts a job and redraws from `job.snapshot()` a few times a second; the job never
touches the UI and the UI never touches a model, so the only shared state is a small record
behind a lock (which model is training, its epoch history and step progress, the latest
reconstructions, the models finished so far, the outcome). A thread of this process fills it
from the reports the child process sends up a pipe (or, with `isolate=False`, by training itself).
Stopping sets an event that `fit`'s callbacks return, so training ends at the next step and the
model keeps the last finished epoch (`fit` rolls back), which is then saved like the CLI does:
`save_model` (atomic) with a `ModelCard`, status "complete", "stopped" or "diverged", and the
job's models that have not started yet are skipped. A model that diverges or fails does not stop
the next one.

Each model is built fresh by `build_model(config, seed)`: nothing is shared with models cached
by the app, and the models of a sweep all start from the same initial weights. Several jobs (one
per browser session) can run at once, each saving into its own directories.

The jobs of this server process are kept in a registry keyed by output path (`running_jobs`,
`find_job`), not only in the session that started them: a page reloaded during a run is a new
session, and it must find the run again (its progress, its Stop) rather than lose it while it
goes on. A finished job stays findable for a while (the latest RECENT_JOBS), so a reload just
after the end still shows how it ended.

A model with a 2-D latent space also reports, after every epoch, the codes (means) of a fixed set
of up to MAP_CODES test images, as float16 (4 kB an epoch), so the page can redraw the latent map
as it organises and let the user scrub through the epochs afterwards; at most MAX_MAP_FRAMES
epochs are kept (every other one is dropped when there are more, the latest always kept).

Why a process: a job in a thread of the app's server starved. Every torch operation releases
the GIL and must win it back, and a busy Streamlit server always has a thread holding it (one
per script run), so each of the hundreds of operations in a training step waited for a switch
interval. A child process has its own interpreter and GIL. It is a fresh `python` (not a fork of
a threaded server, which is unsafe) that imports torch and this package and talks to the job
over two pipes. It runs at a lower priority (nice 10), so that on a small machine the pages'
reruns come first and training takes the CPU time they leave. The child process treats Ctrl-C
and SIGTERM as Stop (it finishes the step, saves the last finished epoch and exits) and does the
same when its parent disappears (its pipe from the parent ends), so a killed server never leaves
a training process behind. `isolate=False` trains in a thread of this process instead (quick,
for tests and scripts that are not servers; always so where there are no POSIX pipes to pass).

Threads: on a small CPU machine, GNU OpenMP's default spin-waiting makes concurrent torch work
(two jobs, or a job beside another process) very slow; OMP_WAIT_POLICY=PASSIVE, set before torch
is imported, avoids that: the app sets it, and so does a job process started while another job
trains. A job alone spins a while instead (GOMP_SPINCOUNT, `_child_env`): sleeping
at every wait doubled the time of an MNIST epoch. A child process training on
small images (at most SMALL_IMAGE_PIXELS, the 8x8 digits) uses one torch thread: its matrices
are too small to gain from two, and waking a second thread for every operation costs time.
MNIST-sized models keep torch's default.

Measured: benchmarks/RESULTS.md, "Measurements quoted from code (moved from docstrings)", 'Training jobs'.
"""

from __future__ import annotations

import atexit
import logging
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Self, Sequence

import numpy as np

from vae.card import Metrics
from vae.checkpoint import validate_name
from vae.config import TrainConfig, VAEConfig
from vae.data import DATASETS

from .i18n import N_, _

log = logging.getLogger(__name__)

STATES = ("pending", "running", "done", "stopped", "diverged", "failed")
FINISHED = ("done", "stopped", "diverged", "failed")
_SEVERITY = ("done", "diverged", "failed", "stopped")  # least to most serious: see _summary
_REPORTS = ("report", "begin", "outcome", "finish")  # what a child process reports: a method each
N_RECON = 8  # test images reconstructed after every epoch
MAP_CODES = 1000  # test images whose 2-D codes are reported after every epoch (a model with latent_dim 2)
GOMP_SPINCOUNT = "30000"  # a job alone on the machine: see _child_env
MAX_MAP_FRAMES = 200  # epochs of codes a job keeps (about 0.8 MB at MAP_CODES)
RECENT_JOBS = 16  # finished jobs kept findable by path (find_job), the most recent
SMALL_IMAGE_PIXELS = 256  # child processes training on images this small use one torch thread (module docstring)
# Jobs still running in this process, by output path (a sweep under each of its models' paths):
# two sessions must not train into the same directory at once, and an exiting interpreter stops
# them so each saves its last epoch.
_ACTIVE: dict[Path, "TrainingJob"] = {}
_RECENT: dict[Path, "TrainingJob"] = {}  # finished jobs by output path, oldest first (at most RECENT_JOBS)
_ACTIVE_LOCK = threading.Lock()
_EXIT_WAIT_SECONDS = 10.0


class Message(str):
    """Text for the page that is made where the reader's language is not known yet: in a job's thread
    or child process, outside any page's run. The str itself is the English (logs, tests and scripts
    read it as it is); `shown()` says it in the language of the page that shows it, from the English
    template `msgid` (marked with N_) and its fields.

    A field is shown as it is (names, numbers, paths), except a Message (shown in turn) and the parts of
    `Message.join` (each shown, joined with "; "). Picklable: messages travel up the child process's pipe.
    """

    msgid: str
    fields: dict[str, Any]

    def __new__(cls, msgid: str, /, **fields: Any) -> Self:
        text = super().__new__(cls, msgid.format(**{k: _english(v) for k, v in fields.items()}))
        text.msgid, text.fields = msgid, fields
        return text

    def __reduce__(self):
        return _message, (self.msgid, self.fields)

    @classmethod
    def join(cls, parts: Sequence[str]) -> Message:
        """The parts as one message, joined with "; " (each shown in the reader's language)."""
        return cls("{parts}", parts=_Parts(parts))  # not a message to translate: only its parts are

    def shown(self) -> str:
        """The message in the current language."""
        return _(self.msgid).format(**{k: _shown_field(v) for k, v in self.fields.items()})


def _message(msgid: str, fields: dict[str, Any]) -> Message:
    return Message(msgid, **fields)


class _Parts(tuple):
    """The parts of a joined Message."""


JOIN_SEPARATOR = N_("; ")  # between the parts of a joined message


def _english(value: Any) -> Any:
    return "; ".join(map(str, value)) if isinstance(value, _Parts) else value


def _shown_field(value: Any) -> Any:
    if isinstance(value, Message):
        return value.shown()
    if isinstance(value, _Parts):
        return _(JOIN_SEPARATOR).join(str(_shown_field(v)).rstrip("。") for v in value)  # no "。；"
    return value


def shown(text: str) -> str:
    """A job's message (a snapshot's, an outcome's) in the current language: call it where the page shows it.
    A plain str (a message from elsewhere, already made) is shown as it is."""
    return text.shown() if isinstance(text, Message) else text


def _key(path: str | Path) -> Path:
    return Path(path).expanduser().resolve()


def is_training(path: str | Path) -> bool:
    """Is a job in this process training into `path` right now?"""
    with _ACTIVE_LOCK:
        return _key(path) in _ACTIVE


def _child_env(alone: bool) -> dict[str, str]:
    """A job process's environment: how its OpenMP threads wait (see "Threads" in the module docstring).

    Alone, they spin for GOMP_SPINCOUNT iterations before sleeping: MNIST epochs take half the time
    they take when every wait sleeps at once (OMP_WAIT_POLICY=PASSIVE). How long an iteration lasts
    depends on the CPU: on an AMD EPYC 1,000 to 100,000 were all about as fast as libgomp's own
    default, on an Intel Xeon 1,000 took 1.8x the time of 30,000, which matched the default there.
    The job's lower priority (job_worker._CHILD_NICE), not a short spin, is what leaves the server's
    reruns the CPU: they took as long beside a job spinning 30,000 as beside one spinning 1,000. A
    job that starts while another trains waits passively: two spinning processes on two cores
    slowed each other down.
    Measured: benchmarks/RESULTS.md, "OpenMP waiting in a training process".
    """
    env = dict(os.environ)
    if alone:
        env.pop("OMP_WAIT_POLICY", None)  # PASSIVE would override the spin count
        env["GOMP_SPINCOUNT"] = GOMP_SPINCOUNT
    else:
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    return env


def running_jobs() -> list["TrainingJob"]:
    """The jobs of this process that are running now, each once, in the order they started."""
    with _ACTIVE_LOCK:
        return list(dict.fromkeys(_ACTIVE.values()))


def find_job(path: str | Path) -> "TrainingJob | None":
    """The job training into `path` now, else the latest finished one that did (if still kept), else None."""
    key = _key(path)
    with _ACTIVE_LOCK:
        return _ACTIVE.get(key) or _RECENT.get(key)


def _stop_all_at_exit() -> None:
    """Stop running jobs and give them a moment to save (like Ctrl-C in the CLI), then exit."""
    with _ACTIVE_LOCK:
        jobs = list(dict.fromkeys(_ACTIVE.values()))  # each job once, however many paths it holds
    for job in jobs:
        job.stop()
    deadline = time.monotonic() + _EXIT_WAIT_SECONDS
    for job in jobs:
        job.join(max(0.0, deadline - time.monotonic()))


@dataclass(frozen=True)
class RunOutcome:
    """How one model of a job ended (picklable: it travels up from the child process).

    state: "done", "stopped", "diverged" or "failed"; message: says why, and where it was saved.
    saved_path: None when nothing was saved; epochs: finished epochs (those saved).
    metrics: the saved model's test metrics (None when nothing was saved).
    """

    name: str
    beta: float
    state: str
    message: str
    saved_path: Path | None
    seconds: float
    epochs: int
    metrics: Metrics | None


@dataclass(frozen=True)
class JobSnapshot:
    """Everything a page shows about a job, copied at one instant (safe to keep and read).

    name, beta, epoch, epochs, step, history, recon: about the model in training (or the last one).
    run, runs: that model is number run + 1 of the job's `runs` (1 of 1 for a `TrainingJob`).
    history: the epoch records `fit` produced so far (see `vae.train.fit`), as copies.
    recon: (2, N_RECON, H, W) uint8, row 0 fixed test inputs and row 1 their reconstructions
        (decoder means for z = mu) after the latest finished epoch; None before the first.
    progress: fraction of the whole job done, in [0, 1]: each model counts for an equal share,
        split by its training steps.
    outcomes: the models finished so far, in order.
    saved_path: where the latest saved model went (None before one is saved).
    stop_epochs: the epochs the model had finished (as this process knew) when Stop reached the server;
        None until Stop is asked. The child may finish one more before it reads the request.
    map_frames: for a model with a 2-D latent space, (epoch, codes) after each finished epoch (at
        most MAX_MAP_FRAMES of them), codes (M, 2) float16 read-only: the means of M fixed test
        images (M = min(MAP_CODES, test images)); empty otherwise.
    map_labels: (M,) the labels of those images, or None.
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
    run: int
    runs: int
    beta: float
    outcomes: tuple[RunOutcome, ...]
    map_frames: tuple[tuple[int, np.ndarray], ...] = ()
    map_labels: np.ndarray | None = None
    stop_epochs: int | None = None

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    @property
    def running(self) -> bool:
        return self.state in ("pending", "running")


@dataclass
class _Progress:
    state: str = "pending"
    message: str = Message(N_("waiting to start"))
    run: int = 0  # index of the model in training
    epoch: int = 0
    step: int = 0
    steps_per_epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    recon: np.ndarray | None = None
    outcomes: list[RunOutcome] = field(default_factory=list)
    map_frames: list[tuple[int, np.ndarray]] = field(default_factory=list)
    map_labels: np.ndarray | None = None
    t_start: float | None = None
    t_end: float | None = None
    stop_epochs: int | None = None


@dataclass(frozen=True)
class _Run:
    """One model of a job: its directory name, its training run, and where it is saved."""

    name: str
    train_config: TrainConfig
    path: Path


@dataclass(frozen=True)
class _Spec:
    """What a worker needs to train and save a job's models (picklable: it travels to the child process)."""

    dataset: str
    config: VAEConfig
    runs: tuple[_Run, ...]
    download: bool | None
    trained_in: str


class TrainingJob:
    """Train a new VAE on a named dataset in the background and save it to `out_dir / name`.

    name: the model's directory name, checked with `validate_name` (ValueError if unsafe).
    config: the architecture; its input_shape must match the dataset (see `vae.data.image_shape`).
    overwrite: False refuses (ValueError) a name that already exists in `out_dir`; a name that
        another job is training into right now is always refused.
    download: passed to `load_dataset` (None: download only when VAE_DATA_DIR is unset).
    isolate: True (default) trains in a child process, so a busy server cannot starve it (see
        the module docstring); False trains in a daemon thread of this process.
    trained_in: recorded in each saved model's card.
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
        trained_in: str = "app",
    ):
        self._setup([(name, train_config)], dataset, config, out_dir, overwrite, download, isolate, trained_in)

    def _setup(self, runs: Sequence[tuple[str, TrainConfig]], dataset: str, config: VAEConfig, out_dir: str | Path,
               overwrite: bool, download: bool | None, isolate: bool, trained_in: str) -> None:
        if dataset not in DATASETS:
            raise ValueError(_("unknown dataset {dataset}; choose one of {datasets}")
                             .format(dataset=repr(dataset), datasets=", ".join(DATASETS)))
        if not runs:
            raise ValueError(_("a job needs at least one model to train"))
        self.dataset = dataset
        self.config = config
        self.out_dir = Path(out_dir).expanduser()
        self.runs = tuple(_Run(validate_name(name), tcfg, self.out_dir / name) for name, tcfg in runs)
        names = [r.name for r in self.runs]
        if len(set(names)) < len(names):
            raise ValueError(_("two models of one job cannot share a name: {names}").format(names=", ".join(names)))
        for run in self.runs:
            if run.path.exists() and not overwrite:
                raise ValueError(_("a model named {name} already exists in {folder}; choose another name or overwrite it")
                                 .format(name=repr(run.name), folder=self.out_dir))
        self.download = download
        self.trained_in = trained_in
        self.isolate = isolate and os.name == "posix"  # the pipes below need POSIX file descriptors
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._down: Connection | None = None  # to the child process, while it runs
        self._p = _Progress()
        self._thread = threading.Thread(target=self._run, name=f"vae-train-{self.name}", daemon=True)

    @property
    def name(self) -> str:
        """The model's name (a sweep's first model's)."""
        return self.runs[0].name

    @property
    def path(self) -> Path:
        """Where the model is saved (a sweep's first model's)."""
        return self.runs[0].path

    @property
    def train_config(self) -> TrainConfig:
        return self.runs[0].train_config

    # -- control ------------------------------------------------------------------------------

    def start(self) -> "TrainingJob":
        """Start training in the background; returns self. ValueError if a path is taken."""
        keys = [_key(run.path) for run in self.runs]
        with _ACTIVE_LOCK:
            busy = [run.name for run, key in zip(self.runs, keys) if key in _ACTIVE]
            if busy:
                if len(self.runs) == 1:
                    problem = _("a model named {name} is being trained right now; choose another name")
                else:
                    problem = _("a model named {name} is being trained right now; try again when that training ends")
                raise ValueError(problem.format(name=repr(busy[0])))
            if not _ACTIVE:
                atexit.unregister(_stop_all_at_exit)  # registered once, only when jobs exist
                atexit.register(_stop_all_at_exit)
            _ACTIVE.update(dict.fromkeys(keys, self))
        with self._lock:
            self._p.state, self._p.t_start = "running", time.perf_counter()
            self._p.message = Message(N_("starting the training process") if self.isolate else N_("loading the dataset"))
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask training to end at the next step; the last finished epoch is saved, later models are skipped."""
        with self._lock:
            if not self._stop.is_set():
                self._p.stop_epochs = len(self._p.history)
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
            run = self.runs[p.run]
            epochs = run.train_config.epochs
            # p.step counts in epoch p.epoch; once that epoch is in the history (the last one) it is counted there.
            done_steps = len(p.history) * p.steps_per_epoch + (p.step if p.epoch > len(p.history) else 0)
            total = epochs * p.steps_per_epoch
            # Earlier models count in full (even one that stopped or diverged early): never backwards.
            progress = 1.0 if p.state == "done" else (p.run + (done_steps / total if total else 0.0)) / len(self.runs)
            end = p.t_end if p.t_end is not None else time.perf_counter()
            recon = None
            if p.recon is not None:
                recon = p.recon.copy()
                recon.flags.writeable = False
            saved = [o.saved_path for o in p.outcomes if o.saved_path is not None]
            return JobSnapshot(
                name=run.name, dataset=self.dataset, state=p.state, message=p.message,
                epoch=p.epoch, epochs=epochs, step=p.step, steps_per_epoch=p.steps_per_epoch,
                progress=min(1.0, max(0.0, progress)), history=tuple(dict(r) for r in p.history), recon=recon,
                saved_path=saved[-1] if saved else None, elapsed=0.0 if p.t_start is None else end - p.t_start,
                stop_requested=self._stop.is_set(), run=p.run, runs=len(self.runs),
                beta=run.train_config.beta, outcomes=tuple(p.outcomes),
                map_frames=tuple(p.map_frames), map_labels=p.map_labels,  # read-only arrays: shared, not copied
                stop_epochs=p.stop_epochs,
            )

    # -- reports from the worker (here, or read from the child's pipe) -------------------------

    def _set(self, **changes: Any) -> None:
        with self._lock:
            for key, value in changes.items():
                if isinstance(value, np.ndarray):
                    value.flags.writeable = False  # snapshots share it
                setattr(self._p, key, value)

    def _epoch(self, record: dict[str, Any], recon: np.ndarray, codes: np.ndarray | None = None) -> None:
        with self._lock:
            p = self._p
            p.history.append(dict(record))
            p.recon = recon
            # Until the next step's report: the next epoch at step 0, or the last one complete.
            epochs = self.runs[p.run].train_config.epochs
            p.epoch, p.step = (len(p.history) + 1, 0) if len(p.history) < epochs else (epochs, p.steps_per_epoch)
            if codes is not None:
                codes.flags.writeable = False  # snapshots share it
                p.map_frames.append((int(record["epoch"]), codes))
                if len(p.map_frames) > MAX_MAP_FRAMES:  # thin out, keeping the first and the latest
                    p.map_frames = p.map_frames[:-1:2] + p.map_frames[-1:]

    def _report(self, epochs: Sequence[tuple[dict[str, Any], np.ndarray | None]], recon: np.ndarray | None,
                changes: dict[str, Any]) -> None:
        """A child process's progress since its last report: finished epochs (record, codes), the latest
        reconstructions, then the step reached (see `job_worker._PipeSink`)."""
        for record, codes in epochs:
            self._epoch(record, recon, codes)
        if changes:
            self._set(**changes)

    def _begin(self, index: int) -> None:
        """The next model starts: its progress replaces the last one's."""
        with self._lock:
            p = self._p
            p.run, p.epoch, p.step, p.steps_per_epoch, p.history, p.recon = index, 0, 0, 0, [], None
            p.map_frames, p.map_labels = [], None

    def _outcome(self, outcome: RunOutcome) -> None:
        with self._lock:
            self._p.outcomes.append(outcome)

    def _finish(self, state: str, message: str) -> None:
        self._set(state=state, message=message, t_end=time.perf_counter())

    def _stopped(self) -> bool:
        return self._stop.is_set()

    # -- the job's thread in this process: it trains (isolate=False) or waits on the child process ---

    def _spec(self) -> _Spec:
        return _Spec(self.dataset, self.config, self.runs, self.download, self.trained_in)

    def _run(self) -> None:
        from .job_worker import unexpected, work  # the worker imports this module's records

        try:
            if self.isolate:
                self._run_child()
            else:
                work(self._spec(), self)
        except Exception as e:  # noqa: BLE001 - e.g. no process could be started
            log.exception("training job %r failed", self.name)
            self._finish("failed", unexpected(e))
        finally:
            with _ACTIVE_LOCK:
                for run in self.runs:
                    key = _key(run.path)
                    if _ACTIVE.get(key) is self:
                        del _ACTIVE[key]
                    _RECENT.pop(key, None)
                    _RECENT[key] = self  # findable a while longer: a reload just after the end shows it
                for key in list(_RECENT)[:-RECENT_JOBS]:
                    del _RECENT[key]

    def _run_child(self) -> None:
        """Train in a child Python process; apply its reports here until it closes its pipe.

        Two pipes: reports come up as pickled (kind, payload) messages; the way down carries the
        job's spec, then "stop" if asked, and its end of file tells the child that we are gone.
        """
        up_read, up_write = os.pipe()
        down_read, down_write = os.pipe()
        env = _child_env(alone=not any(j is not self for j in running_jobs()))
        code = "import sys, explorer.job_worker as w; w.child_main(int(sys.argv[1]), int(sys.argv[2]))"
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
                if kind in _REPORTS:  # the payload is the arguments of the method of that name
                    getattr(self, f"_{kind}")(*payload)
                    finished = finished or kind == "finish"
        finally:
            reports.close()
            child.wait()
            with self._lock:
                self._down.close()
                self._down = None
        if not finished:
            self._finish("failed", Message(N_("the training process ended unexpectedly (exit code {code}); details "
                                              "are in the server log"), code=child.returncode))


class SweepJob(TrainingJob):
    """Train several models of one dataset and architecture in turn, in one job: a beta sweep, say.

    The data is loaded once and one child process trains them all, each saved to `out_dir / name`
    as soon as it is done. `snapshot()` tells which model is training (run of runs) and lists the
    finished ones; its progress is that of the whole sweep.
    runs: (name, TrainConfig) pairs, trained in this order. Every model is built by
        `build_model(config, seed)`, so models with the same seed start from the same weights.
    overwrite: True (default) replaces models of the same names (an earlier sweep's).
    The other arguments are TrainingJob's. Stop ends the model in training (its last finished
    epoch is saved) and skips the rest; a model that diverges or fails does not stop the next.
    """

    def __init__(
        self,
        runs: Sequence[tuple[str, TrainConfig]],
        dataset: str,
        config: VAEConfig,
        out_dir: str | Path,
        *,
        overwrite: bool = True,
        download: bool | None = None,
        isolate: bool = True,
        trained_in: str = "app",
    ):
        self._setup(list(runs), dataset, config, out_dir, overwrite, download, isolate, trained_in)
