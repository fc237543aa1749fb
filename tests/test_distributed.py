"""`vae-explorer train` under torchrun: two gloo processes on the CPU, as a user would start them.

`python -m torch.distributed.run --nproc-per-node 2 --master-port PORT vae-explorer train ...` with
the flags of a plain run must give a model that loads, says `world_size` 2 in its card, and
reaches the test -ELBO of a one-process run with the same global batch and seed (within 2 %); a
process killed mid-run must end the run with a non-zero status, one line from the survivor, and
the model already at --out left as it was. On the bundled 8x8 digits, offline, a few seconds of
training; most of each test is two Python processes importing torch.
"""

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from vae.checkpoint import load_card, load_model
from vae.cli import main

pytestmark = pytest.mark.slow

FLAGS = ["--dataset", "digits", "--latent-dim", "2", "--hidden-dims", "32", "--batch-size", "64", "--lr", "3e-3",
         "--seed", "0", "--offline", "--quiet"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _vae_explorer() -> str:
    exe = Path(sys.executable).parent / "vae-explorer"
    if not exe.exists():
        pytest.skip("the vae-explorer console script is not installed next to this Python (pip install -e .)")
    return str(exe)


def _torchrun(*args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", str(_free_port()),
            _vae_explorer(), "train", *args]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT")}
    env["OMP_NUM_THREADS"] = "1"  # two processes on a small machine (torchrun's own default)
    return env


def test_two_processes_train_the_model_one_process_would(tmp_path, capsys):
    one, two = tmp_path / "one", tmp_path / "two"
    flags = [*FLAGS, "--epochs", "8"]
    assert main(["train", *flags, "--out", str(one)]) == 0
    capsys.readouterr()
    proc = subprocess.run(_torchrun(*flags, "--out", str(two)), capture_output=True, text=True, timeout=300, env=_env())
    assert proc.returncode == 0, proc.stderr[-3000:]
    card1, card2 = load_card(one), load_card(two)
    assert card1.train_config.world_size == 1 and card2.train_config.world_size == 2
    assert card2.train_config.batch_size == 64  # the global batch: 32 images per process per step
    assert card2.train_config.precision == card1.train_config.precision != "auto"
    assert len(card2.history) == 8 and card2.status == "complete" and card2.trained_in == "cli"
    model, _ = load_model(two)
    assert model.config == card1.config
    assert card2.metrics.neg_elbo == pytest.approx(card1.metrics.neg_elbo, rel=0.02)
    # One voice: the epoch lines and the result come from rank 0 alone.
    assert [sum(line.startswith(f"epoch   {e}/8") for line in proc.stderr.splitlines()) for e in (1, 8)] == [1, 1]
    assert proc.stdout.count("test metrics on digits") == 1 and "2 processes" in proc.stderr


def _children(pid: int) -> list[int]:
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        kids.append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    return kids


def _rank_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            env = dict(item.split(b"=", 1) for item in f.read().split(b"\0") if b"=" in item)
    except OSError:
        return None
    return int(env[b"RANK"]) if b"RANK" in env else None


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds torchrun's workers through /proc")
def test_a_killed_process_ends_the_run_with_one_line_and_leaves_the_model_at_out(tmp_path, capsys):
    out = tmp_path / "model"
    assert main(["train", *FLAGS, "--epochs", "1", "--out", str(out)]) == 0  # the model a failed run must not touch
    before = (out / "card.json").read_bytes(), (out / "model.safetensors").read_bytes()
    capsys.readouterr()

    proc = subprocess.Popen(_torchrun(*FLAGS, "--epochs", "100000", "--force", "--out", str(out)), env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stderr], daemon=True).start()
    err = []
    try:
        deadline = time.monotonic() + 240
        while not any(line.startswith("epoch   2/") for line in err):  # training is under way in both
            assert time.monotonic() < deadline and proc.poll() is None, "".join(err)[-3000:]
            try:
                err.append(lines.get(timeout=1))
            except queue.Empty:
                pass
        ranks = {_rank_of(pid): pid for pid in _children(proc.pid)}
        assert set(ranks) >= {0, 1}, ranks
        os.kill(ranks[1], signal.SIGKILL)
        code = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    time.sleep(0.5)
    while not lines.empty():
        err.append(lines.get())
    text = "".join(err)
    assert code != 0
    ours = [line for line in err if line.startswith("error: ")]
    assert len(ours) == 1 and ours[0].rstrip().endswith("nothing was saved"), text[-3000:]
    assert "/vae/" not in text.split("error: ")[0] and 'File "' + str(Path(__file__).parent.parent / "vae") not in text
    assert ((out / "card.json").read_bytes(), (out / "model.safetensors").read_bytes()) == before
    load_model(out)
