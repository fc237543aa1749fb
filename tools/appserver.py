"""Start `streamlit run app.py` and headless Chromium for a test or a benchmark.

One place for what the browser tests, the security test and the latency and load benchmarks
all need: a free port on 127.0.0.1, the server's output in a log file, /_stcore/health polled
until it answers (or a clear error with the log's tail), the server stopped afterwards; and
Debian's Chromium (never a downloaded browser) with the flags a closed network needs.

The server inherits the caller's environment, `VAE_DATA_DIR` included, so it shows the same test
images the caller sees through `explorer.registry.showable_split` (full MNIST when the folder
holds it, else the bundled 5,000-digit sample).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("VAE_CHROMIUM", "/usr/bin/chromium")
# Without these Chromium stalls on connections the closed network blocks.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
CHROMIUM_MISSING = f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium) or set VAE_CHROMIUM"
# The flags every test server runs with: loopback only, no telemetry, no file watching.
LOCAL_FLAGS = ("--server.headless", "true", "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
               "--server.fileWatcherType", "none", "--server.runOnSave", "false")


@dataclass
class RunningApp:
    url: str
    port: int
    log: Path
    env: dict[str, str]
    pid: int
    spawned: float  # time.time() when the process was started
    healthy: float  # time.time() when /_stcore/health first answered


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def streamlit_app(log: Path, env: dict[str, str] | None = None, flags: tuple[str, ...] = LOCAL_FLAGS,
                  timeout_s: float = 120, poll_s: float = 0.3) -> Iterator[RunningApp]:
    """Run the app until the block ends; yields once it answers on http://127.0.0.1:<port>.

    log: file for the server's output. env: added to this process's environment (VAE_DATA_DIR
    gets no default: set or unset, the server sees the caller's data). flags: `streamlit run`
    options besides the port; pass ("--server.headless", "true") to test what a user's plain
    command line gets.
    """
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), *flags, "--server.port", str(port)]
    url = f"http://127.0.0.1:{port}"
    with open(log, "wb") as out:
        spawned = time.time()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_healthy(url + "/_stcore/health", proc, log, timeout_s, poll_s, "streamlit")
        yield RunningApp(url, port, log, env, proc.pid, spawned, time.time())
    finally:
        stop(proc, timeout_s=15)


def wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout_s: float, poll_s: float, name: str) -> None:
    """Poll `url` until it answers 200; RuntimeError with the log's tail if `proc` exits or time runs out."""
    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with code {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not answer on {url} within {timeout_s:g} s:\n{log.read_text()[-3000:]}")
        time.sleep(poll_s)


def stop(proc: subprocess.Popen, timeout_s: float) -> None:
    """SIGTERM, then SIGKILL if the process has not ended within `timeout_s`."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def chromium(extra_args: tuple[str, ...] = ()):
    """Headless Chromium from CHROMIUM via Playwright's sync API; FileNotFoundError if it is missing."""
    if not Path(CHROMIUM).exists():
        raise FileNotFoundError(CHROMIUM_MISSING)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS, *extra_args])
        try:
            yield browser
        finally:
            browser.close()
