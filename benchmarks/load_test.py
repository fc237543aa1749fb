"""Load test: many browser sessions drag the Decoder page's sliders while another session trains.

One Streamlit server (`streamlit run app.py` on 127.0.0.1, a free port, a temporary models
folder) and one headless Chromium (Debian's /usr/bin/chromium, driven by Playwright) with one
browser context per session, so each is its own Streamlit session. Every dragging session
opens the Decoder page on the default model (mnist-z2) and, until the time is up, drags one of
its two latent sliders to a new value (eight pointer moves, 30 ms apart) and lets go, then
waits for the server's answer before the next drag. One more session trains a model on
`digits` on the Train page the whole time and presses Stop at the end.

Measured inside each page (performance.now(), no Playwright round trip in the numbers):
- frame latency: from a slider's `input` event to the decoded image being redrawn (the live
  decoder runs in the browser: this is what a student sees while dragging);
- server latency: from letting go (`change`) to the server-rendered code readout showing the
  new z (the fragment rerun: decode on the server, manifold grid with the red box).
Errors: uncaught page errors, console errors, exception boxes, websocket disconnects, requests
to any host but the server, and server answers that never came (timeouts). An image the page
asked for after the server had replaced it (a 404 on /media/, a known Streamlit race on pages
that redraw fast) is listed as a warning instead. A session is starved when it got fewer than a
third of the median session's server updates (or none). The exit status is 1 when anything
went wrong, so a test can run `--smoke`.

    python benchmarks/load_test.py                       # 10 sessions + 1 training, 60 s
    python benchmarks/load_test.py --sessions 16 --seconds 120
    python benchmarks/load_test.py --smoke               # 2 sessions + training, 5 s, writes nothing

Loopback only (the server binds 127.0.0.1; the browser gets no network), and it stops by
itself. Real runs append a section to benchmarks/RESULTS-load.md (`--results -` writes nothing).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as _dt
import os
import platform
import random
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tools.appserver import CHROMIUM, CHROMIUM_ARGS, streamlit_app  # noqa: E402

DEFAULT_RESULTS = Path(__file__).resolve().parent / "RESULTS-load.md"
# Many pages share one browser: none of them may be throttled as a background page.
LOAD_ARGS = [*CHROMIUM_ARGS, "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
              "--disable-backgrounding-occluded-windows"]
SERVER_TIMEOUT_S = 30.0  # a server answer slower than this counts as a timeout (an error)
STARVED_FRACTION = 1 / 3

# Installed in each page once the live decoder is drawn. Listens on the component's root (the
# `change` event does not cross a shadow root), records input -> redraw and change -> readout.
INSTRUMENT_JS = """canvas => {
    const root = canvas.getRootNode();
    const s = window.__load = {frames: [], server: [], inputs: 0, changes: 0, pendingInput: null, pending: null};
    const isSlider = e => { const t = e.composedPath()[0]; return t && t.classList && t.classList.contains('vld-slider'); };
    const fmt = v => (v < 0 ? '-' : '+') + Math.abs(v).toFixed(2);
    root.addEventListener('input', e => {
        if (!isSlider(e)) return;
        s.inputs += 1;
        if (s.pendingInput === null) s.pendingInput = performance.now();
    }, true);
    new MutationObserver(() => {
        if (s.pendingInput !== null) { s.frames.push(performance.now() - s.pendingInput); s.pendingInput = null; }
    }).observe(canvas, {attributes: true, attributeFilter: ['data-frame']});
    const readout = () => [...document.querySelectorAll("[data-testid='stCode']")].map(e => e.innerText).join('\\n');
    const check = () => {
        if (s.pending && readout().includes(s.pending.text)) {
            s.server.push(performance.now() - s.pending.t);
            s.pending = null;
        }
    };
    root.addEventListener('change', e => {
        if (!isSlider(e)) return;
        s.changes += 1;
        const z = [...root.querySelectorAll('input.vld-slider')].map(i => fmt(Math.round(parseFloat(i.value) * 1e4) / 1e4));
        s.pending = {t: performance.now(), text: 'z = [' + z.join(', ') + ']'};
        check();
    }, true);
    new MutationObserver(check).observe(document.body, {subtree: true, childList: true, characterData: true});
    return true;
}"""


# --- the server -----------------------------------------------------------------------------------

@contextlib.contextmanager
def app_server(tmp: Path):
    """`streamlit run app.py` on 127.0.0.1 with a temporary user-models folder, stopped on exit."""
    with streamlit_app(tmp / "streamlit.log", {"VAE_USER_MODELS_DIR": str(tmp / "models")}) as app:
        yield app


# --- where the CPU went (Linux /proc; "n/a" elsewhere) ----------------------------------------------

def _proc_stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds used) of a process, or None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[1]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def cpu_snapshot(server_pid: int) -> dict[str, float] | None:
    """CPU seconds so far of the server, its child processes (training), the browser, this script
    with Playwright's driver, and the whole machine (busy time of all cores), read from /proc."""
    try:
        busy = sum(int(v) for i, v in enumerate(Path("/proc/stat").read_text().split("\n")[0].split()[1:]) if i not in (3, 4))
    except (OSError, ValueError):
        return None
    stats, exe = {}, {}
    for entry in Path("/proc").glob("[0-9]*"):
        pid = int(entry.name)
        st = _proc_stat(pid)
        if st is None:
            continue
        stats[pid] = st
        try:
            exe[pid] = os.readlink(entry / "exe")
        except OSError:
            exe[pid] = ""
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)

    def tree(root: int) -> list[int]:
        out, todo = [], list(children.get(root, []))
        while todo:
            pid = todo.pop()
            out.append(pid)
            todo += children.get(pid, [])
        return out

    cpu = lambda pids: sum(stats[p][1] for p in pids if p in stats)  # noqa: E731
    browser = {p for p, e in exe.items() if "chrom" in Path(e).name}
    serving = {server_pid, *tree(server_pid)}
    driver = [os.getpid(), *(p for p in tree(os.getpid()) if p not in browser and p not in serving)]  # + Playwright's node
    return {"machine": busy / os.sysconf("SC_CLK_TCK"), "server": cpu([server_pid]), "training": cpu(tree(server_pid)),
            "browser": cpu(browser), "driver": cpu(driver)}


def cpu_share(before: dict | None, after: dict | None, seconds: float) -> dict[str, float] | None:
    """Average cores each part kept busy between two snapshots ("others": the rest of the machine).

    A process that ended in between (a training process stopped early) counts only up to its end.
    """
    if not before or not after:
        return None
    share = {k: max(0.0, after[k] - before[k]) / seconds for k in before}
    share["others"] = max(0.0, share["machine"] - sum(v for k, v in share.items() if k != "machine"))
    return share


# --- sessions -------------------------------------------------------------------------------------

@dataclass
class Session:
    name: str
    frames: list[float] = field(default_factory=list)  # ms, input -> redraw
    server: list[float] = field(default_factory=list)  # ms, release -> readout
    drags: int = 0
    timeouts: int = 0
    page_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    stale_media: list[str] = field(default_factory=list)  # warnings, see _on_console
    exception_boxes: int = 0
    disconnects: int = 0
    external: list[str] = field(default_factory=list)  # requests to hosts other than the server
    open_seconds: float = 0.0
    closing: bool = False

    def watch(self, page) -> None:
        page.on("pageerror", lambda e: self.page_errors.append(str(e)[:200]))
        page.on("console", self._on_console)
        page.on("request", lambda r: None if r.url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:"))
                else self.external.append(r.url[:200]))

        def on_ws(ws):
            if "_stcore/stream" in ws.url:
                ws.on("close", lambda _ws: None if self.closing else self._disconnected())

        page.on("websocket", on_ws)

    def _on_console(self, message) -> None:
        """Console errors are errors, except one kind, kept apart as a warning: an image the page asks
        for after the server has replaced it (a 404 on /media/ and "Image source error"). Streamlit
        drops a run's images once a newer run replaces them; a page redrawn twice a second (the Train
        page's live view) on a saturated machine can ask too late. The next redraw shows the new image."""
        if message.type != "error":
            return
        where = (message.location or {}).get("url", "")
        stale = ("/media/" in message.text and "Image source error" in message.text) or (
            "status of 404" in message.text and "/media/" in where)
        (self.stale_media if stale else self.console_errors).append(f"{message.text[:160]} {where[-60:]}".strip())

    def _disconnected(self) -> None:
        self.disconnects += 1

    @property
    def errors(self) -> int:
        return (len(self.page_errors) + len(self.console_errors) + self.exception_boxes + self.disconnects + self.timeouts
                + len(self.external))


async def open_home(page, url: str) -> None:
    await page.goto(url, timeout=180_000)
    await page.get_by_text("What is a VAE?").first.wait_for(timeout=180_000)


async def open_decoder(page, url: str, session: Session) -> None:
    t0 = time.perf_counter()
    await open_home(page, url)
    await page.get_by_role("link", name="Decoder", exact=True).click()
    canvas = page.locator("canvas[data-testid='vld-image']")
    await canvas.wait_for(state="visible", timeout=180_000)
    await page.wait_for_function("c => Number(c.getAttribute('data-frame')) > 0", arg=await canvas.element_handle(),
                                 timeout=180_000)
    await canvas.evaluate(INSTRUMENT_JS)
    session.open_seconds = time.perf_counter() - t0


async def drag_loop(page, session: Session, end: float, seed: int) -> None:
    """Drag a slider to a new value, let go, wait for the server's readout; repeat until `end`."""
    rng = random.Random(seed)
    values = [0.0, 0.0]
    while time.monotonic() < end:
        dim = rng.randrange(2)
        target = values[dim]
        while abs(target - values[dim]) < 0.5 or abs(target) < 0.05:  # a visible move, never to exactly 0
            target = round(rng.uniform(-2.8, 2.8), 2)
        slider = page.locator(f"input.vld-slider[data-dim='{dim}']")
        box = await slider.bounding_box()
        if box is None:
            await asyncio.sleep(0.2)
            continue
        y = box["y"] + box["height"] / 2

        def x_of(v: float) -> float:
            return box["x"] + 8 + (box["width"] - 16) * (v + 3) / 6  # the thumb's centre, 8 px in from each end

        await page.mouse.move(x_of(values[dim]), y)
        await page.mouse.down()
        for i in range(1, 9):
            await page.mouse.move(x_of(values[dim] + (target - values[dim]) * i / 8), y)
            await asyncio.sleep(0.03)
        await page.mouse.up()
        session.drags += 1
        values[dim] = float(await slider.input_value())
        try:
            await page.wait_for_function("() => window.__load.pending === null", timeout=SERVER_TIMEOUT_S * 1000,
                                         polling=50)
        except Exception:  # noqa: BLE001 - a server answer that never came is a measured failure
            session.timeouts += 1
            await page.evaluate("() => { window.__load.pending = null; }")
        await asyncio.sleep(rng.uniform(0.05, 0.25))  # a short look at the result before the next drag


async def collect(page, session: Session) -> None:
    data = await page.evaluate("() => window.__load")
    session.frames = [float(v) for v in data["frames"]]
    session.server = [float(v) for v in data["server"]]
    session.exception_boxes = await page.locator("[data-testid='stException']").count()


@dataclass
class Trainer:
    name: str = "load-train"
    epochs_done: int = 0
    epochs_at_start: int = 0  # finished when the drags began
    outcome: str = ""
    seconds: float = 0.0  # from Start to the saved model
    ended_early: bool = False
    session: Session = field(default_factory=lambda: Session("trainer"))


OUTCOME = ("[data-testid='stAlertContentWarning'], [data-testid='stAlertContentSuccess'], "
           "[data-testid='stAlertContentError']")


async def epochs_shown(page) -> int:
    """The last finished epoch the Train page's live view shows ("Epoch N: train −ELBO ...")."""
    text = await page.locator("[data-testid='stMain']").inner_text()
    found = re.findall(r"Epoch (\d+): train", text)
    return int(found[-1]) if found else 0


async def start_training(page, url: str, trainer: Trainer, batch_size: int | None = None) -> float:
    """Start a long digits run on the Train page; returns once its first epoch is done (with its start time)."""
    await open_home(page, url)
    await page.get_by_role("link", name="Train a model", exact=True).click()
    await page.get_by_label("Model name", exact=True).fill(trainer.name)
    await page.get_by_label("Epochs", exact=True).fill("1000")
    if batch_size is not None:  # smaller batches: more steps per epoch, a run that lasts longer
        await page.get_by_label("Batch size", exact=True).fill(str(batch_size))
    t0 = time.perf_counter()
    await page.get_by_role("button", name="Start training").click()
    await page.get_by_text(re.compile(r"Epoch \d+: train")).first.wait_for(timeout=180_000)
    trainer.epochs_at_start = await epochs_shown(page)
    return t0


async def finish_training(page, trainer: Trainer, t0: float, end: float) -> None:
    """Keep the run going until `end`, press Stop, and read how far it got."""
    outcome = page.locator(OUTCOME).filter(has_text=trainer.name)
    while time.monotonic() < end and not await outcome.count():
        await asyncio.sleep(0.5)
    if await outcome.count():
        trainer.ended_early = True
    else:
        await page.get_by_role("button", name="Stop").click()
    await outcome.first.wait_for(timeout=180_000)
    trainer.seconds = time.perf_counter() - t0
    trainer.outcome = (await outcome.first.locator("[data-testid='stMarkdownContainer']").first.inner_text()).strip()
    found = re.search(r"after (\d+) of", trainer.outcome) or re.search(r"trained (\d+) epochs", trainer.outcome)
    trainer.epochs_done = int(found.group(1)) if found else 0
    trainer.session.exception_boxes = await page.locator("[data-testid='stException']").count()


async def run(args) -> tuple[list[Session], Trainer | None, dict]:
    from playwright.async_api import async_playwright

    sessions = [Session(f"s{i + 1:02d}") for i in range(args.sessions)]
    trainer = Trainer() if args.train else None
    everyone = sessions + ([trainer.session] if trainer else [])
    info: dict = {"load_before": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="vae-load-") as tmp, app_server(Path(tmp)) as server:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LOAD_ARGS)
            info["chromium"] = browser.version
            pages = []
            for s in everyone:
                context = await browser.new_context(viewport={"width": 1400, "height": 1000})
                page = await context.new_page()
                page.set_default_timeout(180_000)
                s.watch(page)
                pages.append(page)
            # Open a few pages at a time: ten first loads at once on two cores would only measure a queue.
            gate = asyncio.Semaphore(args.open_at_once)

            async def opened(page, s):
                async with gate:
                    await open_decoder(page, server.url, s)

            t_open = time.perf_counter()
            await asyncio.gather(*(opened(pg, s) for pg, s in zip(pages, sessions)))
            info["open_seconds"] = time.perf_counter() - t_open
            t_train = await start_training(pages[-1], server.url, trainer) if trainer else None

            cpu0, t0 = cpu_snapshot(server.pid), time.perf_counter()
            end = time.monotonic() + args.seconds

            async def at_the_end():  # the CPU counts when the drags stop (before Stop ends the training)
                await asyncio.sleep(max(0.0, end - time.monotonic()))
                info["cpu"] = cpu_share(cpu0, cpu_snapshot(server.pid), time.perf_counter() - t0)
                info["load_after"] = os.getloadavg()

            jobs = [drag_loop(pg, s, end, seed=i) for i, (pg, s) in enumerate(zip(pages, sessions))]
            if trainer:
                jobs.append(finish_training(pages[-1], trainer, t_train, end))
            await asyncio.gather(at_the_end(), *jobs)
            info["wall_seconds"] = time.perf_counter() - t0
            for pg, s in zip(pages, sessions):
                await collect(pg, s)
            for s in everyone:
                s.closing = True
            await browser.close()
    return sessions, trainer, info


# --- report ---------------------------------------------------------------------------------------

def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by linear interpolation; nan when empty."""
    if not values:
        return float("nan")
    v = sorted(values)
    k = (len(v) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    return "\n".join([line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *(line(r) for r in rows)])


def starved(sessions: list[Session]) -> list[str]:
    """Sessions that got no server update, or under a third of the median session's."""
    median = statistics.median([len(s.server) for s in sessions]) if sessions else 0
    return [s.name for s in sessions if not s.server or len(s.server) < STARVED_FRACTION * median]


def report(sessions: list[Session], trainer: Trainer | None, info: dict, seconds: float) -> tuple[str, bool]:
    """The tables as text, and whether the run was clean (no error, no starved session)."""
    f1 = lambda v: f"{v:.1f}"  # noqa: E731
    rows = []
    for s in sessions:
        rows.append([s.name, str(s.drags), str(len(s.frames)), f1(pct(s.frames, 0.5)), f1(pct(s.frames, 0.95)),
                     f1(max(s.frames, default=float("nan"))), str(len(s.server)), f1(pct(s.server, 0.5)),
                     f1(pct(s.server, 0.95)), f1(max(s.server, default=float("nan"))), str(s.errors)])
    frames = [v for s in sessions for v in s.frames]
    server = [v for s in sessions for v in s.server]
    rows.append(["all", str(sum(s.drags for s in sessions)), str(len(frames)), f1(pct(frames, 0.5)), f1(pct(frames, 0.95)),
                 f1(max(frames, default=float("nan"))), str(len(server)), f1(pct(server, 0.5)), f1(pct(server, 0.95)),
                 f1(max(server, default=float("nan"))), str(sum(s.errors for s in sessions))])
    out = [f"Latency per session over {seconds:.0f} s (ms; frame = slider input -> image redrawn in the browser, "
           "server = release -> server readout updated)", "",
           table(["session", "drags", "frames", "frame p50", "frame p95", "frame max", "server updates", "server p50",
                  "server p95", "server max", "errors"], rows), ""]
    errs = []
    for s in sessions + ([trainer.session] if trainer else []):
        for kind, items in (("page error", s.page_errors), ("console error", s.console_errors),
                            ("request outside 127.0.0.1", s.external)):
            errs += [[s.name, kind, e] for e in items[:3]]
        errs += [[s.name, "warning: stale media image", e] for e in s.stale_media[:3]]
        for kind, n in (("exception boxes", s.exception_boxes), ("websocket disconnects", s.disconnects),
                        (f"server answers over {SERVER_TIMEOUT_S:.0f} s", s.timeouts)):
            if n:
                errs.append([s.name, kind, str(n)])
    out += ["Errors and warnings", "", table(["session", "kind", "detail"], errs) if errs else "none", ""]
    hungry = starved(sessions)
    out += [f"Starved sessions (no server update, or fewer than {STARVED_FRACTION:.2f} x the median session's): "
            + (", ".join(hungry) if hungry else "none"), ""]
    if trainer:
        state = "finished before the end" if trainer.ended_early else "stopped at the end"
        during = trainer.epochs_done - trainer.epochs_at_start
        out += [f"Training session: {during} digits epochs during the {seconds:.0f} s of dragging "
                f"({during / seconds:.1f} per second); {trainer.epochs_done} in all, {trainer.seconds:.1f} s from Start "
                f"to saved model ({state}); outcome: {' '.join(trainer.outcome.split())}", ""]
    cpu = info.get("cpu")
    if cpu:
        out += [f"CPU during the {seconds:.0f} s, in cores kept busy on average (this machine has {os.cpu_count()}):", "",
                table(["machine", "server", "training process", "browser (all pages)", "this script + Playwright", "others"],
                      [[f"{cpu[k]:.2f}" for k in ("machine", "server", "training", "browser", "driver", "others")]]), ""]
        if server:  # what benchmarks/ws_load.py is checked against
            out += [f"Server CPU per slider release: {cpu['server'] * seconds * 1000 / len(server):.1f} ms "
                    f"(server CPU time over the {seconds:.0f} s / {len(server)} answered releases)", ""]
    out += [f"Pages opened in {info['open_seconds']:.1f} s ({len(sessions)} sessions); load average (1 min) before "
            f"{info['load_before'][0]:.2f}, at the end {info['load_after'][0]:.2f}", ""]
    trainer_errors = trainer.session.errors if trainer else 0
    clean = not hungry and sum(s.errors for s in sessions) == 0 and trainer_errors == 0 and bool(server)
    if trainer:
        clean = clean and trainer.epochs_done > trainer.epochs_at_start  # it kept training while the others dragged
    return "\n".join(out), clean


def machine(info: dict) -> str:
    import importlib.metadata as md

    try:
        cpu = next(line.split(":", 1)[1].strip() for line in subprocess.run(["lscpu"], capture_output=True, text=True)
                   .stdout.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration):
        cpu = platform.processor() or "unknown CPU"
    try:
        mem = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                       if line.startswith("MemTotal"))) / 2**20
        mem_text = f", {mem:.0f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        mem_text = ""
    versions = ", ".join(f"{pkg} {md.version(pkg)}" for pkg in ("streamlit", "torch", "playwright"))
    return (f"{cpu}, {os.cpu_count()} cores{mem_text}; {platform.system()} {platform.release()}; Python "
            f"{platform.python_version()}, {versions}, Chromium {info.get('chromium', '?')}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=10, help="browser sessions dragging sliders (default 10)")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long they drag (default 60)")
    parser.add_argument("--no-train", dest="train", action="store_false", help="no training session")
    parser.add_argument("--open-at-once", type=int, default=3, help="pages loading at the same time at the start")
    parser.add_argument("--smoke", action="store_true", help="2 sessions for 5 s; writes no results")
    parser.add_argument("--results", default=None, help=f"where to append the results (default {DEFAULT_RESULTS}; '-': nowhere)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.sessions, args.seconds = 2, 5.0
    if args.sessions < 1 or args.seconds <= 0:
        parser.error("--sessions must be at least 1 and --seconds positive")
    if not Path(CHROMIUM).exists():
        print(f"error: {CHROMIUM} is missing: install Debian's chromium (or set VAE_CHROMIUM)", file=sys.stderr)
        return 2
    started = _dt.datetime.now().astimezone()
    sessions, trainer, info = asyncio.run(run(args))
    text, clean = report(sessions, trainer, info, args.seconds)
    print(text)
    warnings = sum(len(s.stale_media) for s in sessions + ([trainer.session] if trainer else []))
    print("RESULT:", ("clean (no errors, no starved session" + (f"; {warnings} stale-media warnings" if warnings else "")
                      + ")") if clean else "PROBLEMS (see above)")
    results = args.results if args.results is not None else ("-" if args.smoke else str(DEFAULT_RESULTS))
    if results != "-":
        command = "python benchmarks/load_test.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
        load = f"{args.sessions} sessions dragging the Decoder page's sliders (mnist-z2)" + (
            ", 1 session training digits on the Train page" if trainer else "") + f" for {args.seconds:.0f} s"
        section = [f"## {started:%Y-%m-%d %H:%M %Z}", "", f"- machine: {machine(info)}", f"- command: `{command.strip()}`",
                   f"- load: {load}", f"- result: {'clean' if clean else 'PROBLEMS'}", "", text, ""]
        path = Path(results)
        header = "" if path.exists() else ("# Load test results\n\nAppended by `benchmarks/load_test.py` "
                                           "(see its docstring for what is measured).\n\n")
        with open(path, "a") as f:
            f.write(header + "\n".join(section) + "\n")
        print(f"appended to {path}")
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
