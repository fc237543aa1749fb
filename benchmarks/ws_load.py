"""Load test at class size: simulated students that speak Streamlit's own websocket protocol.

`load_test.py` drives real browsers, one Chromium page per student, so it stops at about ten
students on two cores. Here a student is a websocket and a few coroutines, so a class fits beside
the server. Record, then replay:

1. Record. One real browser session (Debian's headless Chromium, Playwright) opens the app, opens
   the Decoder page and drags a latent slider once. Every message it sends on /_stcore/stream
   (Streamlit's `BackMsg` protobufs) is kept, and the app's pages are read from the server's
   `navigation` message.
2. Replay. Each student opens its own websocket (its own Streamlit session) and sends what the
   browser sent: open the app, open the Decoder; then every
   `--release-every` seconds (±50 %, at random) a slider release, the recorded one with a new
   random z; and every `--page-every` seconds another page (the recorded page-open message with
   that page's hash), then back to the Decoder. The recorded messages name the browser's cached
   messages; the replays name none, so the server sends everything in full (a little more work
   than for a browser).

A server answer is the time from sending a message to the server's `script_finished` for it.
Each answer is checked: the run finished (not cut short, not a compile error), it drew no
exception, and after a release the page's address holds the z that was sent (the server took it).
Answers over 30 s are timeouts. Errors: failed checks, timeouts, closed websockets. A student is
starved with fewer than a third of the median student's releases answered (or none).

Before the measured window every page is opened once (a lecturer tries the app before class),
so first-visit computations are cached, as on a warm server. With `--train`, one more session
trains a model on `digits` on the Train page the whole time, in a real browser page (as in
load_test.py), and presses Stop at the end.

    python benchmarks/ws_load.py                              # 30 students + training, 120 s
    python benchmarks/ws_load.py --ramp 30,50,70,100 --seconds 60
    python benchmarks/ws_load.py --students 10 --release-every 0 --page-every 0 --seconds 60
        # the browser load test's mix (release, answer, 0.05-0.25 s look, release ...): compare
    python benchmarks/ws_load.py --ramp 30,50,70,100 --seconds 60 --replicas 2   # through HAProxy
    python benchmarks/ws_load.py --smoke                      # 3 students, 8 s; writes nothing

Loopback only (the server binds 127.0.0.1; the browser gets no network); it stops by itself.
Real runs append a section to benchmarks/RESULTS-load.md (`--results -` writes nothing).
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import datetime as _dt
import json
import os
import random
import shlex
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from load_test import (LOAD_ARGS, Trainer, app_server, cpu_share, cpu_snapshot, finish_training, machine,  # noqa: E402
                       pct, start_training, table)
from streamlit.proto.BackMsg_pb2 import BackMsg  # noqa: E402
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg  # noqa: E402

from tools.appserver import CHROMIUM  # noqa: E402
from tools.hall import HAPROXY, HAPROXY_MISSING, hall  # noqa: E402

DEFAULT_RESULTS = Path(__file__).resolve().parent / "RESULTS-load.md"
ANSWER_TIMEOUT_S = 30.0
STARVED_FRACTION = 1 / 3
LIVE_WIDGET = "-dec_live"  # the end of the live decoder's widget id (key "dec_live")
SIDEBAR_WIDGETS = ("-model_picker", "-large_text")  # sent with every page's messages
DECODER_PATH = "decoder"
Z_RANGE = 2.8  # random codes in [-Z_RANGE, Z_RANGE]: inside the sliders of mnist-z2
OK_STATUSES = (ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY)


# --- the recording ---------------------------------------------------------------------------------

@dataclass
class Recording:
    """What one browser sent (serialised BackMsgs) and the app's pages, {url path: page script hash}."""

    open_app: bytes  # the first run: no page, no widgets
    open_decoder: bytes  # a sidebar click on "Decoder": the sidebar's widgets and the Decoder's hash
    release: bytes  # a slider let go: the live decoder's report with z
    pages: dict[str, str]


def _rerun(data: bytes) -> BackMsg:
    msg = BackMsg()
    msg.ParseFromString(data)
    return msg


def _live_widget(msg: BackMsg):
    return next((w for w in msg.rerun_script.widget_states.widgets if w.id.endswith(LIVE_WIDGET)), None)


def pick_recording(sent: list[bytes], pages: dict[str, str]) -> Recording:
    """Find the three messages a replay needs among those the browser sent, in order; ValueError if one is missing."""
    msgs = [_rerun(d) for d in sent]
    reruns = [(d, m) for d, m in zip(sent, msgs) if m.WhichOneof("type") == "rerun_script"]
    decoder_hash = pages.get(DECODER_PATH)
    if not reruns or decoder_hash is None:
        raise ValueError("the recording holds no script run, or the app has no Decoder page")
    try:
        open_decoder = next(d for d, m in reruns if m.rerun_script.page_script_hash == decoder_hash
                            and not m.rerun_script.fragment_id)
        live = [(d, m) for d, m in reruns if _live_widget(m) is not None]
        release = next(d for d, m in live if '"z"' in _live_widget(m).json_value)
    except StopIteration:
        raise ValueError("the recording lacks the Decoder's opening, or a slider release") from None
    return Recording(reruns[0][0], open_decoder, release, pages)


def _fresh(data: bytes) -> BackMsg:
    """A recorded message as a new client would send it: no cached messages named."""
    msg = _rerun(data)
    del msg.rerun_script.cached_message_hashes[:]
    return msg


def release_msg(rec: Recording, z: list[float], report: int, token: int | None = None,
                address: str = "") -> tuple[bytes, str]:
    """The recorded slider release with code `z`, report number `report` and the page's `token` (None:
    the recorded one), sent from a page whose address query is `address` (a browser sends the query
    its address bar holds), and the address query it should give."""
    z = [round(v, 2) + 0.0 for v in z]  # + 0.0: no "-0.00" (the page writes 0.00)
    msg = _fresh(rec.release)
    # The live decoder's report and the sidebar's widgets only. The Decoder's other controls as recorded
    # are not what a browser sends after leaving and coming back (it sends an empty "Start from" then),
    # and the server took the recorded one for a click on it: a reset that dropped the report.
    widgets = msg.rerun_script.widget_states.widgets
    keep = [copy.deepcopy(w) for w in widgets if w.id.endswith((LIVE_WIDGET, *SIDEBAR_WIDGETS))]
    del widgets[:]
    widgets.extend(keep)
    widget = _live_widget(msg)
    value = json.loads(widget.json_value)
    value["z"] = {**value["z"], "z": z, "n": report}
    if token is not None:
        value["z"]["token"] = token
    widget.json_value = json.dumps(value, separators=(",", ":"))
    msg.rerun_script.query_string = address
    return msg.SerializeToString(), "z=" + quote(",".join(f"{v:.2f}" for v in z), safe="")


def page_msg(rec: Recording, path: str) -> bytes:
    """Open the page at URL path `path` as a sidebar click does: the sidebar's widgets, the page's hash."""
    msg = _fresh(rec.open_decoder)
    rs = msg.rerun_script
    rs.page_script_hash = rec.pages[path]
    base = urlsplit(rs.context_info.url)
    rs.context_info.url = f"{base.scheme}://{base.netloc}/{path}"
    keep = [copy.deepcopy(w) for w in rs.widget_states.widgets if not w.id.endswith(LIVE_WIDGET)]
    del rs.widget_states.widgets[:]
    rs.widget_states.widgets.extend(keep)
    return msg.SerializeToString()


def record(url: str) -> tuple[Recording, dict]:
    """Drive one real browser session through the Decoder and keep what it sends (see the docstring)."""
    from playwright.sync_api import sync_playwright

    sent: list[bytes] = []
    pages: dict[str, str] = {}

    def on_received(payload) -> None:
        msg = ForwardMsg()
        msg.ParseFromString(payload)
        if msg.WhichOneof("type") == "navigation":
            pages.update({p.url_pathname.strip("/"): p.page_script_hash for p in msg.navigation.app_pages})

    def on_ws(ws) -> None:
        if "_stcore/stream" in ws.url:
            ws.on("framesent", lambda p: sent.append(p if isinstance(p, bytes) else p.encode()))
            ws.on("framereceived", lambda p: on_received(p) if isinstance(p, bytes) else None)

    t0 = time.perf_counter()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LOAD_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(180_000)
        page.on("websocket", on_ws)
        page.goto(url)
        # The sidebar's model picker drawn: the page-open message then carries the sidebar's widgets, as a
        # browser's every later page visit does (the navigation links show before the picker).
        page.locator("section[data-testid='stSidebar'] [data-testid='stSelectbox'] input[role='combobox']").wait_for()
        page.get_by_role("link", name="Decoder", exact=True).click()
        canvas = page.locator("canvas[data-testid='vld-image']")
        canvas.wait_for(state="visible")
        page.wait_for_function("c => Number(c.getAttribute('data-frame')) > 0", arg=canvas.element_handle())
        slider = page.locator("input.vld-slider[data-dim='0']")
        box = slider.bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.move(x, y)
        page.mouse.down()
        for i in range(1, 9):
            page.mouse.move(x + 8 * i, y)
        page.mouse.up()
        page.wait_for_function("() => location.search.includes('z=')")  # the server took the release
        browser.close()
    return pick_recording(sent, pages), {"record_seconds": time.perf_counter() - t0, "messages": len(sent)}


# --- one simulated student -------------------------------------------------------------------------

@dataclass
class Student:
    name: str
    answers: dict[str, list[float]] = field(default_factory=lambda: {"release": [], "page": [], "decoder": []})
    errors: list[str] = field(default_factory=list)
    timeouts: int = 0


@dataclass
class Answer:
    status: int
    exceptions: list[str]
    query: str | None


class Connection:
    """One websocket session: send a BackMsg, wait for its script_finished, with what the run drew."""

    def __init__(self, ws):
        self.ws = ws
        self.waiting: asyncio.Future | None = None
        self.exceptions: list[str] = []
        self.query: str | None = None  # the address query the last answer set, if it set one
        self.address = ""  # the address query the page holds now, as a browser's address bar would
        self.token: int | None = None  # the live decoder's token, as the page last sent it
        self.reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, url: str) -> "Connection":
        from websockets.asyncio.client import connect

        ws = await connect(url.replace("http://", "ws://").rstrip("/") + "/_stcore/stream", subprotocols=["streamlit"],
                           max_size=None, open_timeout=60)
        return cls(ws)

    async def _read(self) -> None:
        try:
            async for data in self.ws:
                msg = ForwardMsg()
                msg.ParseFromString(data)
                kind = msg.WhichOneof("type")
                element = msg.delta.new_element.WhichOneof("type") if kind == "delta" else None
                if element == "exception":
                    exc = msg.delta.new_element.exception
                    self.exceptions.append(f"{exc.type}: {exc.message}"[:200])
                elif element == "bidi_component":
                    self._read_token(msg.delta.new_element.bidi_component)
                elif kind == "page_info_changed":
                    self.query = self.address = msg.page_info_changed.query_string
                elif kind == "script_finished" and self.waiting is not None and not self.waiting.done():
                    self.waiting.set_result(Answer(msg.script_finished, self.exceptions, self.query))
        except Exception as e:  # noqa: BLE001 - a closed connection fails the request that waits on it
            if self.waiting is not None and not self.waiting.done():
                self.waiting.set_exception(ConnectionError(f"websocket closed: {type(e).__name__}"))
            return
        if self.waiting is not None and not self.waiting.done():
            self.waiting.set_exception(ConnectionError("websocket closed by the server"))

    def _read_token(self, component) -> None:
        """A browser's live decoder reports z under the token the page last gave it: keep that token."""
        kind = component.WhichOneof("data")
        text = component.json if kind == "json" else component.mixed.json if kind == "mixed" else ""
        try:
            token = json.loads(text).get("token")
        except (ValueError, AttributeError):
            return
        if isinstance(token, int):
            self.token = token

    async def ask(self, data: bytes) -> tuple[float, Answer]:
        """Send one message; (seconds to its script_finished, what the run drew). TimeoutError after 30 s."""
        self.waiting = asyncio.get_running_loop().create_future()
        self.exceptions, self.query = [], None
        t0 = time.perf_counter()
        await self.ws.send(data)
        answer = await asyncio.wait_for(self.waiting, ANSWER_TIMEOUT_S)
        return time.perf_counter() - t0, answer

    async def close(self) -> None:
        await self.ws.close()
        self.reader.cancel()


async def step(conn: Connection, student: Student, kind: str, data: bytes, expect_query: str | None = None,
               measured: bool = True) -> bool:
    """One message and its checks; records the answer time (ms) under `kind` when `measured`. False on an error."""
    try:
        seconds, answer = await conn.ask(data)
    except asyncio.TimeoutError:
        student.timeouts += 1
        student.errors.append(f"{kind}: no answer within {ANSWER_TIMEOUT_S:.0f} s")
        return False
    problems = []
    if answer.status not in OK_STATUSES:
        problems.append(f"run ended with status {ForwardMsg.ScriptFinishedStatus.Name(answer.status)}")
    problems += [f"exception {e}" for e in answer.exceptions]
    if expect_query is not None and (answer.query is None or expect_query not in answer.query):
        problems.append(f"the address says {answer.query!r}, not {expect_query!r}")
    if problems:
        student.errors += [f"{kind}: {p}" for p in problems]
        return False
    if measured:
        student.answers[kind].append(seconds * 1000)
    return True


async def open_decoder(conn: Connection, rec: Recording, student: Student, measured: bool = True) -> bool:
    return await step(conn, student, "decoder", page_msg(rec, DECODER_PATH), measured=measured)


async def _prepare(url: str, rec: Recording, student: Student) -> Connection | None:
    """Connect, open the app and the Decoder (not measured); None (with the error noted) when that fails."""
    try:
        conn = await Connection.open(url)
    except Exception as e:  # noqa: BLE001 - a refused connection is a measured failure
        student.errors.append(f"connect: {type(e).__name__}: {e}"[:200])
        return None
    try:
        if (await step(conn, student, "page", _fresh(rec.open_app).SerializeToString(), measured=False)
                and await open_decoder(conn, rec, student, measured=False)):
            return conn
    except ConnectionError as e:
        student.errors.append(str(e))
    await conn.close()
    return None


async def student_loop(conn: Connection, rec: Recording, student: Student, end: float, release_every: float,
                       page_every: float, seed: int) -> None:
    """Release sliders and visit pages until `end`, then close the connection."""
    rng = random.Random(seed)
    others = sorted(p for p in rec.pages if p != DECODER_PATH)
    try:
        next_page = time.monotonic() + (rng.uniform(0.5, 1.5) * page_every if page_every else float("inf"))
        report = 1
        while time.monotonic() < end:
            if time.monotonic() >= next_page:
                await step(conn, student, "page", page_msg(rec, rng.choice(others)))
                await open_decoder(conn, rec, student)
                next_page = time.monotonic() + rng.uniform(0.5, 1.5) * page_every
            z = [rng.uniform(-Z_RANGE, Z_RANGE) for _ in range(2)]
            report += 1
            data, query = release_msg(rec, z, report, conn.token, conn.address)
            t0 = time.monotonic()
            await step(conn, student, "release", data, expect_query=query)
            pause = rng.uniform(0.5, 1.5) * release_every if release_every else rng.uniform(0.05, 0.25)
            await asyncio.sleep(max(0.0, min(t0 + pause, end) - time.monotonic()))
    except ConnectionError as e:
        student.errors.append(str(e))
    finally:
        await conn.close()


async def warm_every_page(url: str, rec: Recording) -> tuple[float, list[str]]:
    """Open every page once, as a lecturer does before class: first-visit computations get cached."""
    probe = Student("warm-up")
    t0 = time.perf_counter()
    conn = await Connection.open(url)
    try:
        await step(conn, probe, "page", _fresh(rec.open_app).SerializeToString(), measured=False)
        for path in sorted(rec.pages):
            await step(conn, probe, "page", page_msg(rec, path), measured=False)
    finally:
        await conn.close()
    return time.perf_counter() - t0, probe.errors


# --- a run ------------------------------------------------------------------------------------------

def cpu_of_servers(pids: list[int]) -> dict[str, float] | None:
    """cpu_snapshot over several app processes (replicas): their server and training parts summed."""
    snaps = [cpu_snapshot(pid) for pid in pids]
    if any(s is None for s in snaps):
        return None
    return {**snaps[0], "server": sum(s["server"] for s in snaps), "training": sum(s["training"] for s in snaps)}


async def measure(url: str, rec: Recording, server_pids: list[int], n: int, seconds: float, release_every: float,
                  page_every: float, trainer: tuple | None = None) -> tuple[list[Student], dict]:
    """`n` students for `seconds`. They connect and open the Decoder a few at a time; the clock (and the
    CPU count) starts when all are ready. trainer: (page, Trainer, its Start time) of a training session
    to stop when the time is up."""
    students = [Student(f"s{i + 1:03d}") for i in range(n)]
    info: dict = {"load_before": os.getloadavg()}
    gate, all_ready, go = asyncio.Semaphore(5), asyncio.Event(), asyncio.Event()
    clock = {"ready": 0}

    async def one(i: int, s: Student) -> None:
        async with gate:  # a whole class loading its first page at once would only measure a queue
            conn = await _prepare(url, rec, s)
        clock["ready"] += 1
        if clock["ready"] == n:
            all_ready.set()
        await go.wait()
        if conn is not None:
            await student_loop(conn, rec, s, clock["end"], release_every, page_every, seed=1000 * n + i)

    t_connect = time.perf_counter()
    tasks = [asyncio.create_task(one(i, s)) for i, s in enumerate(students)]
    await all_ready.wait()
    info["connect_seconds"] = time.perf_counter() - t_connect
    cpu0, t0 = cpu_of_servers(server_pids), time.perf_counter()
    clock["end"] = time.monotonic() + seconds
    go.set()

    async def at_the_end():
        await asyncio.sleep(max(0.0, clock["end"] - time.monotonic()))
        info["cpu"] = cpu_share(cpu0, cpu_of_servers(server_pids), time.perf_counter() - t0)
        info["load_after"] = os.getloadavg()

    jobs = [at_the_end(), *tasks]
    if trainer is not None:
        jobs.append(finish_training(*trainer, clock["end"]))
    await asyncio.gather(*jobs)
    return students, info


async def run_levels(url: str, servers: list, rec: Recording, args) -> tuple[list[dict], dict]:
    """Warm every page (on every replica), then one measured run per class size in `args.levels` (each with
    its own trainer). servers: the app processes (`RunningApp`s); url: theirs, or the proxy's in front of them."""
    info: dict = {"warm_seconds": 0.0, "warm_errors": []}
    for server in servers:
        seconds, errors = await warm_every_page(server.url, rec)
        info["warm_seconds"] += seconds
        info["warm_errors"] += errors
    levels = []
    browser = pw = None
    try:
        if args.train:
            from playwright.async_api import async_playwright

            pw = await async_playwright().start()
            browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=LOAD_ARGS)
            info["chromium"] = browser.version
        for n in args.levels:
            trainer = None
            if browser is not None:
                page = await (await browser.new_context(viewport={"width": 1400, "height": 1000})).new_page()
                page.set_default_timeout(180_000)
                t = Trainer(name=f"load-train-{n}")
                t.session.watch(page)
                # batches of 16 (the default): 1,000 digits epochs outlast a 2-minute window (batches of 128 ran out
                # in 61 s, of 32 in 109 s); smaller batches, more steps: a heavier trainer
                trainer = (page, t, await start_training(page, url, t, batch_size=args.train_batch))
            students, run_info = await measure(url, rec, [s.pid for s in servers], n, args.seconds, args.release_every,
                                               args.page_every, trainer)
            if trainer is not None:
                trainer[1].session.closing = True
                await trainer[0].context.close()
            levels.append({"n": n, "students": students, "info": run_info, "trainer": trainer[1] if trainer else None})
    finally:
        if browser is not None:
            await browser.close()
        if pw is not None:
            await pw.stop()
    return levels, info


# --- report -----------------------------------------------------------------------------------------

def starved(students: list[Student]) -> list[str]:
    counts = [len(s.answers["release"]) for s in students]
    median = statistics.median(counts) if counts else 0
    return [s.name for s, c in zip(students, counts) if c == 0 or c < STARVED_FRACTION * median]


def summary(level: dict, seconds: float) -> dict:
    """The numbers of one class size: answers by kind, errors, starved students, CPU."""
    students, info = level["students"], level["info"]
    kinds = {k: [v for s in students for v in s.answers[k]] for k in ("release", "page", "decoder")}
    answers = sum(len(v) for v in kinds.values())
    cpu = info.get("cpu")
    server_ms = cpu["server"] * seconds * 1000 / answers if cpu and answers else float("nan")
    per_release = [len(s.answers["release"]) for s in students]
    return {"kinds": kinds, "answers": answers, "errors": sum(len(s.errors) for s in students),
            "timeouts": sum(s.timeouts for s in students), "starved": starved(students), "cpu": cpu,
            "server_ms_per_answer": server_ms, "releases_per_student": per_release,
            "p95": pct(kinds["release"], 0.95)}


def clean(level: dict, seconds: float) -> bool:
    s = summary(level, seconds)
    t = level["trainer"]
    trained = t is None or (t.session.errors == 0 and t.epochs_done > t.epochs_at_start)
    return s["errors"] == 0 and not s["starved"] and bool(s["kinds"]["release"]) and trained


def report(levels: list[dict], info: dict, args) -> str:
    f1 = lambda v: f"{v:.1f}"  # noqa: E731
    out = [f"Pages warmed (each opened once before the clock) in {info['warm_seconds']:.1f} s"
           + (f"; errors: {info['warm_errors'][:3]}" if info["warm_errors"] else ""), ""]
    rows = []
    for level in levels:
        s = summary(level, args.seconds)
        for kind, values in s["kinds"].items():
            if values:
                rows.append([str(level["n"]), kind, str(len(values)), f1(pct(values, 0.5)), f1(pct(values, 0.95)),
                             f1(pct(values, 0.99)), f1(max(values))])
    out += [f"Server answers over {args.seconds:.0f} s (ms, from sending the message to the run's script_finished; "
            "release = a Decoder slider let go, page = another page opened, decoder = back to the Decoder)", "",
            table(["students", "kind", "answers", "p50", "p95", "p99", "max"], rows), ""]
    rows = []
    for level in levels:
        s = summary(level, args.seconds)
        cpu = s["cpu"] or {}
        per = s["releases_per_student"]
        rows.append([str(level["n"]), f"{min(per)} / {statistics.median(per):g} / {max(per)}", str(s["errors"]),
                     str(len(s["starved"])), f"{cpu.get('machine', float('nan')):.2f}", f"{cpu.get('server', float('nan')):.2f}",
                     f"{cpu.get('training', float('nan')):.2f}", f"{cpu.get('browser', float('nan')):.2f}",
                     f"{cpu.get('driver', float('nan')):.2f}", f"{s['server_ms_per_answer']:.1f}",
                     f"{level['info']['connect_seconds']:.1f}"])
    out += ["Per class size: releases answered per student (min / median / max), errors, starved students, CPU in "
            f"cores kept busy on average (this machine has {os.cpu_count()}; generator = this script with its "
            "Playwright driver, and HAProxy in front of replicas), server CPU per answer (server CPU time / answers), seconds to connect everyone", "",
            table(["students", "releases/student", "errors", "starved", "machine", "server", "training", "browser",
                   "generator", "server ms/answer", "connect s"], rows), ""]
    errs = []
    for level in levels:
        seen: dict[str, int] = {}
        for st in level["students"]:
            for e in st.errors:
                seen[e] = seen.get(e, 0) + 1
        errs += [[str(level["n"]), e, str(k)] for e, k in sorted(seen.items(), key=lambda kv: -kv[1])[:5]]
        t = level["trainer"]
        if t is not None and t.session.errors:
            errs.append([str(level["n"]), "training page: " + "; ".join((t.session.page_errors + t.session.console_errors)[:2])
                         or f"{t.session.exception_boxes} exception boxes", "1"])
    out += ["Errors", "", table(["students", "error", "students with it"], errs) if errs else "none", ""]
    for level in levels:
        t = level["trainer"]
        if t is not None:
            during = t.epochs_done - t.epochs_at_start
            out += [f"Training beside {level['n']} students: {during} digits epochs during the {args.seconds:.0f} s "
                    f"({during / args.seconds:.1f} per second); outcome: {' '.join(t.outcome.split())}"]
    breaks = next((lv["n"] for lv in levels if summary(lv, args.seconds)["p95"] > 1000), None)
    if len(levels) > 1:
        out += ["", "Release p95 passes 1 s at: " + (f"{breaks} students" if breaks else
                                                      f"none of these sizes (up to {levels[-1]['n']})")]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=30, help="simulated students (default 30)")
    parser.add_argument("--ramp", default=None, help="class sizes to run one after another, e.g. 30,50,70,100")
    parser.add_argument("--seconds", type=float, default=120.0, help="measured time per class size (default 120)")
    parser.add_argument("--release-every", type=float, default=3.0,
                        help="mean seconds between slider releases (0: the next one 0.05-0.25 s after the answer)")
    parser.add_argument("--page-every", type=float, default=30.0, help="mean seconds between page visits (0: none)")
    parser.add_argument("--replicas", type=int, default=1,
                        help="app processes behind HAProxy with sticky sessions (tools/hall.py); 1: the app alone")
    parser.add_argument("--no-train", dest="train", action="store_false", help="no training session")
    parser.add_argument("--train-batch", type=int, default=16,
                        help="the training session's batch size (default 16: it trains the whole window, on 0.7 cores)")
    parser.add_argument("--smoke", action="store_true", help="3 students for 8 s, pages every 3 s, no training; writes nothing")
    parser.add_argument("--results", default=None, help=f"where to append the results (default {DEFAULT_RESULTS}; '-': nowhere)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.students, args.seconds, args.release_every, args.page_every, args.train = 3, 8.0, 1.0, 3.0, False
    args.levels = [int(v) for v in args.ramp.split(",")] if args.ramp else [args.students]
    if min(args.levels) < 1 or args.seconds <= 0 or args.release_every < 0 or args.page_every < 0:
        parser.error("class sizes must be at least 1, --seconds positive, intervals not negative")
    if not Path(CHROMIUM).exists():
        print(f"error: {CHROMIUM} is missing (the recording needs a real browser): install Debian's chromium",
              file=sys.stderr)
        return 2
    if args.replicas > 1 and not Path(HAPROXY).exists():
        print(f"error: {HAPROXY_MISSING}", file=sys.stderr)
        return 2
    started = _dt.datetime.now().astimezone()
    with tempfile.TemporaryDirectory(prefix="vae-wsload-") as tmp:
        with (hall(Path(tmp), args.replicas) if args.replicas > 1 else app_server(Path(tmp))) as served:
            url, servers = (served.url, served.replicas) if args.replicas > 1 else (served.url, [served])
            rec, rinfo = record(url)
            print(f"recorded {rinfo['messages']} messages from a browser in {rinfo['record_seconds']:.1f} s; "
                  f"{len(rec.pages)} pages", flush=True)
            levels, info = asyncio.run(run_levels(url, servers, rec, args))
    text = report(levels, info, args)
    ok = all(clean(lv, args.seconds) for lv in levels) and not info["warm_errors"]
    print(text)
    print("RESULT:", "clean (no errors, no starved student)" if ok else "PROBLEMS (see above)")
    results = args.results if args.results is not None else ("-" if args.smoke else str(DEFAULT_RESULTS))
    if results != "-":
        command = "python benchmarks/ws_load.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
        mix = (f"each releasing a Decoder slider every {args.release_every:g} s (±50 %)" if args.release_every
               else "each releasing a Decoder slider 0.05-0.25 s after the last answer")
        mix += f" and opening another page every {args.page_every:g} s" if args.page_every else ", no page visits"
        section = [f"## {started:%Y-%m-%d %H:%M %Z} (websocket students)", "", f"- machine: {machine(info)}",
                   f"- command: `{command.strip()}`",
                   f"- load: {', '.join(map(str, args.levels))} simulated students (mnist-z2), {mix}, for "
                   f"{args.seconds:.0f} s" + (f"; 1 browser session training digits on the Train page (batches of {args.train_batch})" if args.train else "")
                   + (f"; {args.replicas} app processes behind HAProxy (sticky cookie)" if args.replicas > 1 else ""),
                   f"- result: {'clean' if ok else 'PROBLEMS'}", "", text]
        with open(results, "a") as f:
            f.write("\n".join(section) + "\n")
        print(f"appended to {results}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
