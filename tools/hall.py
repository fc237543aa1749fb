"""Serve a lecture hall: several app processes behind HAProxy with sticky sessions, on this machine.

    python -m tools.hall --replicas 2 --port 8501        # then open http://127.0.0.1:8501

Starts `--replicas` copies of `streamlit run app.py`, each on its own free port of 127.0.0.1,
all sharing `models/` and one user-models folder (`VAE_USER_MODELS_DIR`, default: the app's own
default), so a model trained through one replica is in every replica's picker. In front of them,
Debian's HAProxy (`apt-get install haproxy`) listens on 127.0.0.1:`--port` and sends each browser
to one replica for good: on its first request HAProxy inserts a cookie naming the replica, and
every later request of that browser (the page, its websocket, uploads, images under /media/)
carries it. A Streamlit session lives in one process, so anything else breaks uploads and images.
(Hashing the client's address would not do here: on loopback every client has the same address.)

Everything binds 127.0.0.1 only. Ctrl-C (or SIGTERM) stops HAProxy and every replica.
For a hall reached over the network, put the same HAProxy section on the host's address instead.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tools.appserver import LOCAL_FLAGS, RunningApp, free_port, stop, streamlit_app, wait_healthy  # noqa: E402

HAPROXY = os.environ.get("VAE_HAPROXY", shutil.which("haproxy") or "/usr/sbin/haproxy")
HAPROXY_MISSING = f"{HAPROXY} is missing: install Debian's haproxy (apt-get install -y haproxy) or set VAE_HAPROXY"
COOKIE = "VAE_REPLICA"


def haproxy_config(port: int, replicas: list[int]) -> str:
    """HAProxy's configuration: 127.0.0.1:`port` in front of the replicas' ports, sticky by an inserted cookie."""
    servers = "\n".join(f"    server r{i + 1} 127.0.0.1:{p} cookie r{i + 1} check inter 2s" for i, p in enumerate(replicas))
    return f"""global
    maxconn 4096

defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    # a websocket stays open for the whole session: after the upgrade only this timeout applies
    timeout tunnel 12h

frontend hall
    bind 127.0.0.1:{port}
    default_backend replicas

backend replicas
    balance roundrobin
    # the replica a browser was sent to first, in a cookie HAProxy adds and reads (never forwarded)
    cookie {COOKIE} insert indirect nocache httponly
    option httpchk GET /_stcore/health
{servers}
"""


@dataclass
class Hall:
    url: str
    replicas: list[RunningApp]
    user_models: Path
    config: Path


@contextmanager
def hall(workdir: Path, replicas: int = 2, port: int | None = None, env: dict[str, str] | None = None,
         flags: tuple[str, ...] = LOCAL_FLAGS, timeout_s: float = 120) -> Iterator[Hall]:
    """The replicas and HAProxy until the block ends; yields once HAProxy answers through to a replica.

    workdir: the logs and HAProxy's configuration. env: added to the replicas' environment (set
    VAE_USER_MODELS_DIR there to choose the shared folder; by default a `user-models` folder in workdir).
    """
    if not Path(HAPROXY).exists():
        raise FileNotFoundError(HAPROXY_MISSING)
    if replicas < 1:
        raise ValueError("a hall needs at least one replica")
    env = {"VAE_USER_MODELS_DIR": str(workdir / "user-models"), **(env or {})}
    Path(env["VAE_USER_MODELS_DIR"]).mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    with ExitStack() as stack:
        apps = [stack.enter_context(streamlit_app(workdir / f"replica-{i + 1}.log", env, flags, timeout_s))
                for i in range(replicas)]
        config = workdir / "haproxy.cfg"
        config.write_text(haproxy_config(port, [a.port for a in apps]))
        check = subprocess.run([HAPROXY, "-c", "-q", "-f", str(config)], capture_output=True, text=True)
        if check.returncode:
            raise RuntimeError(f"haproxy refused its configuration:\n{check.stderr}")
        log = workdir / "haproxy.log"
        with open(log, "wb") as out:
            proxy = subprocess.Popen([HAPROXY, "-db", "-f", str(config)], stdout=out, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_healthy(url + "/_stcore/health", proxy, log, timeout_s=30, poll_s=0.2, name="haproxy")
            yield Hall(url, apps, Path(env["VAE_USER_MODELS_DIR"]), config)
        finally:
            stop(proxy, timeout_s=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicas", type=int, default=os.cpu_count() or 2,
                        help="app processes (default: one per core)")
    parser.add_argument("--port", type=int, default=8501, help="HAProxy's port on 127.0.0.1 (default 8501)")
    args = parser.parse_args(argv)
    if not Path(HAPROXY).exists():
        print(f"error: {HAPROXY_MISSING}", file=sys.stderr)
        return 2
    if args.replicas < 1:
        parser.error("--replicas must be at least 1")
    env = {}
    if "VAE_USER_MODELS_DIR" not in os.environ:  # the app's default folder, shared by every replica
        from explorer.registry import user_models_dir

        env["VAE_USER_MODELS_DIR"] = str(user_models_dir())
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    with tempfile.TemporaryDirectory(prefix="vae-hall-") as tmp, \
            hall(Path(tmp), args.replicas, args.port, env, flags=("--server.headless", "true", "--server.address",
                                                                  "127.0.0.1", "--browser.gatherUsageStats", "false")) as h:
        print(f"{args.replicas} replicas ({', '.join(str(a.port) for a in h.replicas)}) behind HAProxy: open {h.url}\n"
              f"models trained in the app go to {h.user_models} (shared). Ctrl-C stops everything.", flush=True)
        try:
            while not stop["now"]:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
