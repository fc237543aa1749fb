"""Shared pieces of the benchmarks: the textbook reference loop, the project's loop, timing,
machine facts, plain-text tables and the RESULTS.md writer.

The textbook loop is pytorch/examples `vae/main.py` as the tutorials teach it: torchvision
`datasets.MNIST` with `transforms.ToTensor()` through a shuffling `DataLoader` (batch 128,
num_workers=0: the example passes workers only on CUDA), the 784-400-20 MLP VAE with a sigmoid
output, Adam (lr 1e-3), loss = BCE(sum) + KL (Kingma & Welling 2014, Appendix B), and
`train_loss += loss.item()` after every batch. The project's loop is `vae.fit` on tensors loaded
once by `vae.load_dataset`. Both report the test -ELBO in nats per image with one z sample.

Importing this module loads no data and parses no arguments.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime as _dt
import linecache
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
DEFAULT_RESULTS = BENCH_DIR / "RESULTS.md"
N_PIXELS = 784
TEXTBOOK = "textbook (pytorch/examples)"
PROJECT = "project (vae.fit)"


# ---------------------------------------------------------------------------------------------
# The textbook reference (pytorch/examples vae/main.py).


class TextbookVAE(nn.Module):
    """pytorch/examples' VAE: fc1 784->400, fc21/fc22 400->20, fc3 20->400, fc4 400->784."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(std)
        return mu + eps * std

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 784))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


def textbook_loss(recon_x, x, mu, logvar):
    """BCE summed over pixels and batch + KL (Kingma & Welling 2014, Appendix B), as the example."""
    bce = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


def textbook_datasets(root: str | Path, train_limit: int | None = None, test_limit: int | None = None):
    """(train, test) torchvision datasets with ToTensor, optionally cut to their first images."""
    from torchvision import datasets, transforms

    train = datasets.MNIST(str(root), train=True, download=False, transform=transforms.ToTensor())
    test = datasets.MNIST(str(root), train=False, download=False, transform=transforms.ToTensor())
    if train_limit:
        train = torch.utils.data.Subset(train, range(min(train_limit, len(train))))
    if test_limit:
        test = torch.utils.data.Subset(test, range(min(test_limit, len(test))))
    return train, test


def textbook_loader(dataset, batch_size: int = 128, shuffle: bool = True):
    # num_workers=0: pytorch/examples passes {'num_workers': 1, 'pin_memory': True} only on CUDA.
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=0)


def textbook_train_epoch(model, optimizer, train_loader, deadline: float | None = None, max_steps: int | None = None):
    """One pass of the example's `train(epoch)`; returns (images seen, summed loss, stopped).

    Stops before fetching a batch once `deadline` (a perf_counter time) has passed or after
    `max_steps` batches; both are None in the example. One statement per line so that a
    sampling profiler can attribute time to each.
    """
    model.train()
    train_loss = 0.0
    seen = 0
    for batch_idx, (data, _) in enumerate(train_loader):
        optimizer.zero_grad()
        recon_batch, mu, logvar = model(data)
        loss = textbook_loss(recon_batch, data, mu, logvar)
        loss.backward()
        train_loss += loss.item()
        optimizer.step()
        seen += len(data)
        if max_steps is not None and batch_idx + 1 >= max_steps:
            return seen, train_loss, True
        if deadline is not None and time.perf_counter() >= deadline:
            return seen, train_loss, True
    return seen, train_loss, False


@torch.no_grad()
def textbook_test_loss(model, test_dataset, seed: int = 0) -> float:
    """The example's `test()`: BCE(sum) + KL over the test set / its size, one z sample (seeded)."""
    torch.manual_seed(seed)
    model.eval()
    loader = textbook_loader(test_dataset, batch_size=128, shuffle=False)
    total = 0.0
    for data, _ in loader:
        recon, mu, logvar = model(data)
        total += textbook_loss(recon, data, mu, logvar).item()
    return total / len(test_dataset)


def textbook_to_project(textbook: TextbookVAE):
    """The same weights in a project `vae.VAE` (784-400-20 MLP, Bernoulli logits).

    fc21/fc22 stack into `to_moments` (mu first, then logvar, as `encode` chunks them), and the
    project's decoder outputs logits where the example applies the sigmoid itself.
    """
    model = project_model(seed=0)
    with torch.no_grad():
        enc, dec = model.encoder[1][0], model.decoder[0]
        enc.weight.copy_(textbook.fc1.weight), enc.bias.copy_(textbook.fc1.bias)
        model.to_moments.weight.copy_(torch.cat([textbook.fc21.weight, textbook.fc22.weight]))
        model.to_moments.bias.copy_(torch.cat([textbook.fc21.bias, textbook.fc22.bias]))
        dec[0].weight.copy_(textbook.fc3.weight), dec[0].bias.copy_(textbook.fc3.bias)
        dec[2].weight.copy_(textbook.fc4.weight), dec[2].bias.copy_(textbook.fc4.bias)
    return model


def project_to_textbook(model) -> TextbookVAE:
    """The inverse of `textbook_to_project`: a project 784-400-20 model as the example's class."""
    textbook = TextbookVAE()
    d = model.config.latent_dim
    enc, dec = model.encoder[1][0], model.decoder[0]
    with torch.no_grad():
        textbook.fc1.weight.copy_(enc.weight), textbook.fc1.bias.copy_(enc.bias)
        textbook.fc21.weight.copy_(model.to_moments.weight[:d]), textbook.fc21.bias.copy_(model.to_moments.bias[:d])
        textbook.fc22.weight.copy_(model.to_moments.weight[d:]), textbook.fc22.bias.copy_(model.to_moments.bias[d:])
        textbook.fc3.weight.copy_(dec[0].weight), textbook.fc3.bias.copy_(dec[0].bias)
        textbook.fc4.weight.copy_(dec[2].weight), textbook.fc4.bias.copy_(dec[2].bias)
    return textbook


# ---------------------------------------------------------------------------------------------
# The project's loop.


def project_vae_config():
    from vae import VAEConfig

    return VAEConfig(input_shape=(1, 28, 28), latent_dim=20, hidden_dims=(400,), likelihood="bernoulli")


def project_train_config(epochs: int, seed: int = 0, **overrides: Any):
    from vae import TrainConfig

    kwargs = dict(batch_size=128, lr=1e-3, schedule="constant", epochs=epochs, device="cpu", seed=seed)
    kwargs.update(overrides)
    return TrainConfig(**kwargs)


def project_model(seed: int = 0):
    from vae import VAE

    torch.manual_seed(seed)
    return VAE(project_vae_config())


def project_test_loss(model, test_x: torch.Tensor, seed: int = 0) -> float:
    """vae.evaluate: mean -ELBO over `test_x` in nats per image, one seeded z sample."""
    from vae import evaluate

    model.eval()
    return float(evaluate(model, test_x, seed=seed)["neg_elbo"])


def param_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def data_available(root: str | Path | None) -> bool:
    from vae import available_offline

    return bool(root) and available_offline("mnist", root)


def data_root_or_exit() -> Path:
    """`VAE_DATA_DIR` when it holds MNIST; otherwise print where to put it and exit 2."""
    root = os.environ.get("VAE_DATA_DIR")
    if not data_available(root):
        sys.exit(f"MNIST not found (VAE_DATA_DIR={root!r}): export VAE_DATA_DIR=/path/holding/MNIST/raw/ "
                 f"(the four IDX files), e.g. ../shared/data")
    return Path(root)


# ---------------------------------------------------------------------------------------------
# Timing.


@dataclass
class Timed:
    """One run's wall-clock seconds, this process's CPU seconds, and the whole machine's busy
    CPU seconds (from /proc/stat) over the same interval.

    cpu_per_wall: cores this process kept busy (near torch's thread count when not starved;
        OpenMP threads spinning while they wait for a descheduled peer count as busy too).
    others: cores kept busy by everything else on the machine meanwhile (the other users' load).
    """

    wall: float = 0.0
    cpu: float = 0.0
    machine_busy: float = float("nan")

    @property
    def cpu_per_wall(self) -> float:
        return self.cpu / self.wall if self.wall > 0 else float("nan")

    @property
    def others(self) -> float:
        return max(0.0, (self.machine_busy - self.cpu) / self.wall) if self.wall > 0 else float("nan")


def _machine_busy_seconds() -> float:
    """CPU seconds all processes have spent busy since boot (user+nice+system+irq+softirq+steal)."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
        user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
        return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return float("nan")


@contextlib.contextmanager
def timed() -> Iterable[Timed]:
    t = Timed()
    m0, w0, c0 = _machine_busy_seconds(), time.perf_counter(), time.process_time()
    try:
        yield t
    finally:
        t.wall, t.cpu = time.perf_counter() - w0, time.process_time() - c0
        t.machine_busy = _machine_busy_seconds() - m0


def process_tree_cpu_seconds(root_pid: int | None = None) -> float:
    """CPU seconds (user + system) of `root_pid` (default: this process) and its descendants, from
    /proc: for benchmarks whose work runs in child processes (a server, a browser). Each live
    process counts itself and its reaped children (cutime/cstime), so a child that exits is not lost."""
    root_pid = root_pid or os.getpid()
    tick = os.sysconf("SC_CLK_TCK")
    parents, cpu = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        cpu[int(entry)] = sum(int(v) for v in fields[11:15]) / tick  # utime stime cutime cstime
    total = 0.0
    for pid in cpu:
        p, hops = pid, 0
        while p and p != root_pid and hops < 64:
            p, hops = parents.get(p, 0), hops + 1
        if p == root_pid:
            total += cpu[pid]
    return total


@contextlib.contextmanager
def timed_tree() -> Iterable[Timed]:
    """Like `timed`, but `cpu` counts this process and all its children (e.g. a server and a
    browser), so that `others` is only what the rest of the machine did."""
    t = Timed()
    m0, w0, c0 = _machine_busy_seconds(), time.perf_counter(), process_tree_cpu_seconds()
    try:
        yield t
    finally:
        t.wall, t.cpu = time.perf_counter() - w0, process_tree_cpu_seconds() - c0
        t.machine_busy = _machine_busy_seconds() - m0


def median_min_max(values: Sequence[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


# ---------------------------------------------------------------------------------------------
# Machine facts and reports.


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return platform.processor() or "unknown"


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"


def machine_info() -> dict[str, str]:
    import torchvision

    return {
        "date": _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "cpu": f"{cpu_model()}, {os.cpu_count()} logical cores",
        "python": platform.python_version(),
        "torch": f"{torch.__version__} (torchvision {torchvision.__version__})",
        "threads": f"torch.get_num_threads()={torch.get_num_threads()}, interop={torch.get_num_interop_threads()}",
    }


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], right: Sequence[bool] | None = None) -> str:
    """Aligned plain-text table; numbers right-aligned unless `right` says otherwise."""
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    if right is None:
        right = [i > 0 for i in range(len(headers))]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(r):
        return "  ".join(c.rjust(w) if right[i] else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()

    return "\n".join([line(cells[0]), "  ".join("-" * w for w in widths)] + [line(r) for r in cells[1:]])


def _cell(v: Any) -> str:
    if isinstance(v, float):
        if v != v:
            return "n/a"
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.2f}"
    return str(v)


def command_line() -> str:
    args = " ".join(sys.argv[1:])
    try:
        script = Path(sys.argv[0]).resolve().relative_to(REPO_ROOT)
    except ValueError:
        script = Path(sys.argv[0])
    return f"VAE_DATA_DIR=... .venv/bin/python {script} {args}".rstrip()


def append_results(path: str | Path | None, title: str, info: dict[str, str], load_before: str, load_after: str,
                   body: str) -> None:
    """Append one section to the results file (created with a header when new); None writes nothing."""
    if path is None:
        return
    path = Path(path)
    new = not path.exists()
    with open(path, "a", encoding="utf-8") as f:
        if new:
            f.write("# Benchmark results\n\nWritten by the scripts in `benchmarks/` (see its README); every number "
                    "below was measured by the run whose command is given. Newest sections at the bottom.\n")
        f.write(f"\n## {title} ({info['date']})\n\n")
        f.write(f"- command: `{command_line()}`\n")
        for key in ("cpu", "python", "torch", "threads"):
            f.write(f"- {key}: {info[key]}\n")
        f.write(f"- load average (1, 5, 15 min): before {load_before}; after {load_after}\n\n")
        f.write("```text\n" + body.rstrip() + "\n```\n")
    print(f"\nappended to {path}")


def make_parser(doc: str, smoke_help: str, data_limits: bool = True) -> argparse.ArgumentParser:
    """The options every benchmark shares: --smoke, --threads, --results (and --train/test-limit).

    The description is the first paragraph of `doc` (the script's docstring).
    """
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument("--smoke", action="store_true", help=smoke_help)
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    if data_limits:
        p.add_argument("--train-limit", type=int, default=None, help="use the first N training images")
        p.add_argument("--test-limit", type=int, default=None, help="use the first N test images")
    p.add_argument("--results", default=None,
                   help="results file to append to (default benchmarks/RESULTS.md; '-' = none; smoke: none)")
    return p


def parse_repeats(doc: str, smoke_help: str, default: int, what: str, argv=None) -> argparse.Namespace:
    """make_parser's options and --repeats (at least 1; one under --smoke), parsed."""
    p = make_parser(doc, smoke_help, data_limits=False)
    p.add_argument("--repeats", type=int, default=default, help=f"{what} (default {default})")
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error("--repeats must be >= 1")
    if args.smoke:
        args.repeats = 1
    return args


@dataclass
class Session:
    """One benchmark run's bookkeeping: machine facts and load average at the start, and `finish`,
    which reads the load average again and appends the section to the results file."""

    info: dict[str, str]
    load_before: str
    results: Path | None

    @classmethod
    def start(cls, args: argparse.Namespace) -> "Session":
        """Apply --threads, print the machine line and the load average; nothing is measured yet."""
        if getattr(args, "threads", None):
            torch.set_num_threads(args.threads)
        info = machine_info()
        load_before = load_average()
        print(f"{info['cpu']}; python {info['python']}; torch {info['torch']}; {info['threads']}")
        print(f"load average before: {load_before}", flush=True)
        return cls(info, load_before, results_path(getattr(args, "results", None), getattr(args, "smoke", False)))

    def finish(self, title: str, body: str) -> str:
        """Print the load average after, append the section (unless writing nothing); returns it."""
        load_after = load_average()
        print(f"\nload average after: {load_after}")
        append_results(self.results, title, self.info, self.load_before, load_after, body)
        return load_after


def results_path(arg: str | None, smoke: bool) -> Path | None:
    """--results PATH, or RESULTS.md for real runs and nothing for smoke runs; "-" writes nothing."""
    if arg == "-":
        return None
    if arg:
        return Path(arg)
    return None if smoke else DEFAULT_RESULTS


# ---------------------------------------------------------------------------------------------
# Profiling.


def torch_profile(run: Callable[[], None], steps: int, row_limit: int = 12) -> str:
    """Top ops by self CPU time while `run()` does `steps` training steps, from torch.profiler."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run()
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events)
    events.sort(key=lambda e: e.self_cpu_time_total, reverse=True)
    rows = [[_short(e.key, 60), e.count, e.self_cpu_time_total / 1e3, 100.0 * e.self_cpu_time_total / total]
            for e in events[:row_limit]]
    table = format_table(["op (torch.profiler)", "calls", "self ms", "self %"], rows)
    return f"{table}\n(total self CPU time {total / 1e3:.1f} ms over {steps} steps)"


def find_py_spy(explicit: str | None = None) -> str | None:
    if explicit:
        return explicit if Path(explicit).is_file() else None
    return shutil.which("py-spy")


def py_spy_profile(py_spy: str, argv: list[str], func: str, file_suffix: str, rate: int = 200,
                   top: int = 10) -> str:
    """Run `argv` under `py-spy record` and say where `func` (defined in a file ending in
    `file_suffix`) spends its time: per statement of `func`, and the heaviest functions below it."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "stacks.txt"
        cmd = [py_spy, "record", "-r", str(rate), "-f", "raw", "-o", str(raw), "--", *argv]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0 or not raw.exists():
            return f"py-spy failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}"
        lines = raw.read_text().splitlines()
    frame_re = re.compile(r"^(.*) \((.*):(\d+)\)$")
    by_line: dict[int, int] = defaultdict(int)
    below: dict[str, int] = defaultdict(int)
    total = 0
    source_file = None
    for line in lines:
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        frames = [frame_re.match(f) for f in stack.split(";")]
        idx = next((i for i, m in enumerate(frames) if m and m.group(1) == func and m.group(2).endswith(file_suffix)), None)
        if idx is None:
            continue
        n = int(count)
        total += n
        source_file = frames[idx].group(2)
        by_line[int(frames[idx].group(3))] += n
        seen = set()
        for m in frames[idx + 1:]:
            if m and m.group(1) not in seen:
                seen.add(m.group(1))
                below[f"{m.group(1)} ({Path(m.group(2)).name})"] += n
    if total == 0:
        return f"py-spy: no samples inside {func}()"
    src = _resolve_source(source_file)
    rows = [[_short(linecache.getline(src, ln).strip() if src else "?", 64), ln, 100.0 * n / total]
            for ln, n in sorted(by_line.items(), key=lambda kv: -kv[1])[:top]]
    t1 = format_table([f"statement of {func}() (py-spy)", "line", "% of samples"], rows)
    rows = [[_short(k, 64), 100.0 * n / total] for k, n in sorted(below.items(), key=lambda kv: -kv[1])[:top]]
    t2 = format_table([f"function called from {func}() (inclusive)", "% of samples"], rows)
    return f"{t1}\n\n{t2}\n({total} samples at {rate} Hz inside {func}())"


def _resolve_source(path: str | None) -> str | None:
    if not path:
        return None
    for candidate in (Path(path), REPO_ROOT / path, REPO_ROOT / "vae" / Path(path).name, BENCH_DIR / Path(path).name):
        if candidate.is_file():
            return str(candidate)
    return None


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return copy.deepcopy(model.state_dict())
