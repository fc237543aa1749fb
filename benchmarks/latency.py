"""Benchmark 4: interactive latency of the app, measured in headless Chromium.

Runs `streamlit run app.py` on 127.0.0.1 (a free port, headless, an empty temporary user-models
folder) and drives it with Playwright and Debian's /usr/bin/chromium, as tests/e2e do. Every
interval is measured inside the page with `performance.now()` and event time stamps, never with
Playwright round trips:

1. Live decoder (Decoder page, client-side component): from a pointer move on z0's slider, or on
   the 2-D latent pad, to the canvas redrawn. Start = the move's `pointermove` time stamp (the
   browser's own record of when the input arrived); "drawn" = the requestAnimationFrame callback
   that ran the decoder and wrote the canvas (a MutationObserver sees its `data-frame` change);
   "next frame" = the following animation frame, an upper bound on when the pixels were on
   screen. One move at a time, each waited for, `--moves` per path (default 60). Also for the
   convolutional `models/mnist-conv-z2` (transposed convolutions decoded in the browser; in the
   smoke run too) and the 16-D models (sliders only), `mnist-z16` and `mnist-conv-z16`, when they
   exist.
2. The server-rendered path (the page's "Server-side sliders" toggle): from the key press that
   moves a Streamlit slider to the new server-decoded PNG loaded and shown (rerun of the page's
   fragment, decode in PyTorch, PNG, websocket, image load).
3. Cold start: from spawning `streamlit run` to the home page's first image (test digits over
   their reconstructions by the default shipped model) visible in a browser already running:
   split into "server answers /_stcore/health", "page title drawn" and "first image". What
   dominates is measured separately: the import time of torch, streamlit, plotly and the app's
   modules in fresh interpreters, and the home page's own work (load the model and the test
   set, evaluate the ELBO on it) in a fresh process.
4. Latent map: from the click on the "Latent map" link to the WebGL scatter of every test code
   (10,000 for MNIST) drawn: the first visit (the server encodes the test set), then revisits
   that Streamlit's caches serve.

    .venv/bin/python benchmarks/latency.py [--moves 60] [--cold-repeats 3] [--map-repeats 5] [--smoke]
        [--results PATH|-]

Targets (the project's issues): p95 slider-to-image <= 100 ms, cold start <= 5 s, map <= 1 s;
issue 15: p95 <= 30 ms per frame for the conv decoder, mnist-conv-z2, read as move -> drawn (the
animation frame that carries the new image; "next frame" adds up to one more vsync interval).
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import benchlib as B  # noqa: E402
from tools.appserver import chromium, streamlit_app  # noqa: E402

ROOT = B.REPO_ROOT
DEFAULT_MODEL = "mnist-z2"
CONV_MODEL = "mnist-conv-z2"
SIDEBAR = "section[data-testid='stSidebar']"
PICKER = f"{SIDEBAR} [data-testid='stSelectbox'] input[role='combobox']"
TARGETS = {"slider p95 ms": 100.0, "cold start s": 5.0, "map s": 1.0, "conv frame p95 ms": 30.0}


def parse_args(argv=None):
    p = B.make_parser(__doc__, "a few moves and one of everything; writes no results", data_limits=False)
    p.add_argument("--moves", type=int, default=60, help="pointer moves per live-decoder path (default 60)")
    p.add_argument("--server-moves", type=int, default=50, help="key presses on the server-side slider (default 50)")
    p.add_argument("--cold-repeats", type=int, default=3, help="cold starts (default 3)")
    p.add_argument("--map-repeats", type=int, default=5, help="latent-map revisits after the first visit (default 5)")
    p.add_argument("--import-repeats", type=int, default=3, help="fresh interpreters per import timing (default 3)")
    args = p.parse_args(argv)
    if args.smoke:
        args.moves, args.server_moves, args.cold_repeats, args.map_repeats, args.import_repeats = 5, 3, 1, 1, 1
    if min(args.moves, args.server_moves, args.cold_repeats, args.import_repeats) < 1 or args.map_repeats < 0:
        p.error("--moves, --server-moves, --cold-repeats and --import-repeats must be >= 1, --map-repeats >= 0")
    return args


# ---------------------------------------------------------------------------------------------
# The app server and the browser.


@contextmanager
def app_server(tmp: Path, poll_s: float = 0.02):
    """`streamlit run app.py` headless on 127.0.0.1; yields (url, spawn epoch s, health-OK epoch s)."""
    user_models = tmp / "user-models"
    user_models.mkdir(exist_ok=True)
    with streamlit_app(tmp / f"streamlit-{time.time_ns()}.log", {"VAE_USER_MODELS_DIR": str(user_models)},
                       poll_s=poll_s) as app:
        yield app.url, app.spawned, app.healthy


@contextmanager
def browser_or_exit():
    try:
        with chromium() as browser:
            yield browser
    except FileNotFoundError as e:
        raise SystemExit(str(e)) from None


def new_page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(120_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    return context, page, errors


def shipped(name: str) -> bool:
    return (ROOT / "models" / name / "model.safetensors").is_file()


def wait_idle(page, timeout_ms: int = 120_000) -> None:
    """Until Streamlit's running-script indicator is gone."""
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout_ms)


def open_home(page, url: str) -> None:
    page.goto(url)
    page.get_by_text("What is a VAE?").first.wait_for()
    page.locator(PICKER).wait_for()


def pick_model(page, name: str) -> None:
    if page.locator(PICKER).input_value().startswith(name):
        return
    page.locator(PICKER).click()
    page.keyboard.type(name)  # the dropdown renders only the first few options: filter to this one
    page.get_by_role("option", name=f"{name} ·").first.click()
    page.wait_for_function(f"() => document.querySelector(\"{PICKER}\").value.startsWith({json.dumps(name)})")
    wait_idle(page)


def goto_page(page, title: str) -> None:
    page.get_by_role("link", name=title, exact=True).click()


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation between order statistics."""
    if not values:
        return float("nan")
    xs = sorted(values)
    k = (len(xs) - 1) * q / 100
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def summary_row(name: str, values: list[float], extra: list | None = None) -> list:
    if not values:
        return [name, 0, float("nan"), float("nan"), float("nan"), float("nan"), float("nan")] + (extra or [])
    return [name, len(values), statistics.median(values), pct(values, 95), min(values), max(values),
            statistics.mean(values)] + (extra or [])


# ---------------------------------------------------------------------------------------------
# 1. The live decoder.

INSTRUMENT_LIVE = """canvas => {
    const L = window.__vld = {records: [], pointer: null, input: null, missed: 0};
    document.addEventListener('pointermove', e => { if (L.pointer === null) L.pointer = e.timeStamp; }, {capture: true, passive: true});
    document.addEventListener('input', e => { if (L.input === null) L.input = e.timeStamp; }, {capture: true, passive: true});
    new MutationObserver(() => {
        const drawn = performance.now();
        const rec = {pointer: L.pointer, input: L.input, drawn};
        L.pointer = L.input = null;
        requestAnimationFrame(() => { rec.next = performance.now(); L.records.push(rec); });
    }).observe(canvas, {attributes: true, attributeFilter: ['data-frame']});
    return true;
}"""


def open_decoder(page, url: str, model: str) -> object:
    open_home(page, url)
    pick_model(page, model)
    goto_page(page, "Decoder")
    image = page.locator("canvas[data-testid='vld-image']")
    image.wait_for(state="visible")
    page.wait_for_function("c => Number(c.getAttribute('data-frame')) > 0", arg=image.element_handle())
    wait_idle(page)
    return image


def drive_moves(page, points: list[tuple[float, float]], timeout_ms: int = 3000) -> tuple[list[dict], int]:
    """Press at points[0], move through the rest one at a time (waiting for each redraw), release."""
    page.mouse.move(*points[0])
    page.mouse.down()
    page.wait_for_timeout(100)
    page.evaluate("() => { window.__vld.records.length = 0; window.__vld.pointer = window.__vld.input = null; }")
    missed = 0
    for i, (x, y) in enumerate(points[1:], 1):
        done = page.evaluate("() => window.__vld.records.length")
        page.mouse.move(x, y)
        try:
            page.wait_for_function("n => window.__vld.records.length > n", arg=done, timeout=timeout_ms, polling="raf")
        except Exception:  # a move that changed nothing (or a dropped frame): counted, not fatal
            missed += 1
        page.wait_for_timeout(15 + (i * 7) % 20)  # a human's 25-40 Hz, not a burst
    page.mouse.up()
    records = page.evaluate("() => window.__vld.records.slice()")
    return records, missed


def live_decoder(args, browser, url: str) -> tuple[str, dict]:
    context, page, errors = new_page(browser)
    sections, results = [], {}
    try:
        models = [DEFAULT_MODEL] + [name for name in (CONV_MODEL, "mnist-z16", "mnist-conv-z16")
                                    if shipped(name) and (name == CONV_MODEL or not args.smoke)]
        rows = []
        for model in models:
            image = open_decoder(page, url, model)
            page.evaluate(INSTRUMENT_LIVE, image.element_handle())
            paths = []
            slider = page.locator("input.vld-slider[data-dim='0']")
            slider.scroll_into_view_if_needed()
            box = slider.bounding_box()
            y = box["y"] + box["height"] / 2
            # z0 starts at 0, the middle: sweep right and left between 20 % and 80 % of the track.
            xs = [box["x"] + box["width"] * (0.5 + 0.3 * math.sin(2 * math.pi * i / 40)) for i in range(args.moves + 1)]
            paths.append(("slider z0", [(x, y) for x in xs]))
            pad = page.locator("canvas[data-testid='vld-pad']")
            if pad.count() and pad.is_visible():
                pad.scroll_into_view_if_needed()
                pb = pad.bounding_box()
                cx, cy, r = pb["x"] + pb["width"] / 2, pb["y"] + pb["height"] / 2, pb["width"] * 0.3
                circle = [(cx + r * math.cos(2 * math.pi * i / 48), cy + r * math.sin(2 * math.pi * i / 48))
                          for i in range(args.moves)]
                paths.append(("latent pad", [(cx, cy)] + circle))
            for name, points in paths:
                if name == "latent pad":
                    page.locator("canvas[data-testid='vld-pad']").scroll_into_view_if_needed()
                else:
                    slider.scroll_into_view_if_needed()
                with B.timed_tree() as t:
                    records, missed = drive_moves(page, points)
                to_draw = [r["drawn"] - r["pointer"] for r in records if r.get("pointer") is not None]
                to_next = [r["next"] - r["pointer"] for r in records if r.get("pointer") is not None]
                forward = page.locator("[data-testid='vld-image'] ~ .vld-caption, .vld-caption").first.inner_text()
                label = f"{model}: {name}"
                rows.append(summary_row(label + " -> drawn", to_draw, [missed, t.others]))
                rows.append(summary_row(label + " -> next frame", to_next, ["", ""]))
                results[label] = {"drawn": to_draw, "next": to_next, "forward": forward}
                print(f"  {label}: p95 {pct(to_next, 95):.1f} ms to the next frame ({len(to_next)} moves; {forward})",
                      flush=True)
            wait_idle(page)
        table = B.format_table(["live decoder (browser), move ->", "redraws", "median ms", "p95 ms", "min", "max", "mean",
                                "missed", "others' cores"], rows, right=[False] + [True] * 8)
        forwards = "; ".join(f"{k}: {v['forward'].split('·')[-1].strip()}" for k, v in results.items())
        sections.append("\n".join([
            f"1. live decoder: pointer move (its pointermove time stamp) -> canvas drawn in the animation-frame callback "
            f"-> the next animation frame (upper bound for the pixels on screen); {args.moves} moves per path, one at a "
            "time, each waited for; 'redraws' counts the redraws that followed a pointer move",
            "", table, "",
            f"the component's own forward-pass time (moving average it shows under the image): {forwards}",
        ]))
        try:
            sections.append(server_sliders(args, page, url))
        except Exception as e:  # report, keep the other measurements
            sections.append(f"2. server-rendered path: not measured ({type(e).__name__}: {str(e).splitlines()[0][:200]})")
            print(sections[-1], flush=True)
    finally:
        if errors:
            sections.append("page errors: " + "; ".join(errors[:5]))
        context.close()
    return "\n\n".join(sections), results


# ---------------------------------------------------------------------------------------------
# 2. The server-rendered sliders.

INSTRUMENT_SERVER = """() => {
    const S = window.__srv = {records: [], key: null, src: null};
    document.addEventListener('keydown', e => { if (S.key === null) S.key = e.timeStamp; }, {capture: true});
    const image = () => {
        const el = [...document.querySelectorAll("[data-testid='stImage']")].find(e => e.innerText.includes('decoded on the server'));
        return el && el.querySelector('img');
    };
    const check = () => {
        const img = image();
        if (img && img.complete && img.naturalWidth > 0 && img.src !== S.src) {
            if (S.src !== null && S.key !== null) S.records.push({key: S.key, shown: performance.now()});
            S.src = img.src;
            S.key = null;
        }
        requestAnimationFrame(check);
    };
    check();
    return true;
}"""


def server_sliders(args, page, url: str) -> str:
    open_decoder(page, url, DEFAULT_MODEL)  # a fresh session on the 2-D model
    page.get_by_text("Server-side sliders", exact=True).click()
    page.get_by_text("decoded on the server").first.wait_for()
    page.wait_for_timeout(500)
    wait_idle(page)
    page.evaluate(INSTRUMENT_SERVER)
    page.wait_for_function("() => window.__srv.src !== null")
    slider = page.locator("[data-testid='stSlider']").filter(has_text="z₁").first
    slider.wait_for(state="visible")
    slider.scroll_into_view_if_needed()
    thumb = slider.locator("input[type='range']")  # react-aria's hidden range input: focus it, then arrow keys
    thumb.focus()
    missed = 0
    with B.timed_tree() as t:
        for i in range(args.server_moves):
            done = page.evaluate("() => window.__srv.records.length")
            page.keyboard.press("ArrowRight" if (i // 10) % 2 == 0 else "ArrowLeft")
            try:
                page.wait_for_function("n => window.__srv.records.length > n", arg=done, timeout=15_000, polling="raf")
            except Exception:
                missed += 1
            wait_idle(page)
            page.wait_for_timeout(30)
    records = page.evaluate("() => window.__srv.records.slice()")
    shown = [r["shown"] - r["key"] for r in records]
    print(f"  server-side slider: median {statistics.median(shown) if shown else float('nan'):.0f} ms over {len(shown)} key presses",
          flush=True)
    page.get_by_text("Server-side sliders", exact=True).click()  # back to the live decoder
    wait_idle(page)
    table = B.format_table(["server-rendered slider, key press ->", "moves", "median ms", "p95 ms", "min", "max", "mean",
                            "missed", "others' cores"],
                           [summary_row(f"{DEFAULT_MODEL}: new PNG loaded and shown", shown, [missed, t.others])],
                           right=[False] + [True] * 8)
    return "\n".join([
        "2. server-rendered path (the 'Server-side sliders' toggle): key press on a Streamlit slider (its keydown time "
        "stamp) -> fragment rerun, PyTorch decode, PNG, websocket -> the new image loaded, seen in an animation frame",
        "", table])


# ---------------------------------------------------------------------------------------------
# 3. Cold start.

FIRST_IMAGE_JS = """() => {
    const img = [...document.querySelectorAll("[data-testid='stMain'] [data-testid='stImage'] img")]
        .find(i => i.complete && i.naturalWidth > 0);
    return img ? performance.timeOrigin + performance.now() : false;
}"""
TITLE_JS = """() => {
    const h = [...document.querySelectorAll("[data-testid='stMain'] h1")].find(e => e.innerText.includes('VAE Latent Explorer'));
    return h ? performance.timeOrigin + performance.now() : false;
}"""


def cold_start(args, browser, tmp: Path) -> tuple[str, list[dict]]:
    runs = []
    for r in range(args.cold_repeats):
        context, page, errors = new_page(browser)
        try:
            with B.timed_tree() as t, app_server(tmp) as (url, spawned, healthy):
                goto = time.time()
                page.goto(url, wait_until="commit")
                title = page.wait_for_function(TITLE_JS, polling="raf").json_value() / 1e3
                image = page.wait_for_function(FIRST_IMAGE_JS, polling="raf").json_value() / 1e3
            runs.append({"health": healthy - spawned, "goto": goto - spawned, "title": title - spawned,
                         "image": image - spawned, "others": t.others, "errors": errors})
            print(f"  cold start {r + 1}: server up {healthy - spawned:.2f} s, first image {image - spawned:.2f} s", flush=True)
        finally:
            context.close()
    rows = [[i + 1, x["health"], x["title"], x["image"], x["image"] - x["health"], x["others"]] for i, x in enumerate(runs)]
    if len(runs) > 1:
        rows.append(["median"] + [statistics.median(x[k] for x in runs) for k in ("health", "title", "image")]
                    + [statistics.median(x["image"] - x["health"] for x in runs), statistics.median(x["others"] for x in runs)])
    table = B.format_table(["cold start (seconds after spawning streamlit)", "server answers /health", "page title drawn",
                            "first image (home page)", "image - health", "others' cores"], rows)
    return "\n".join([
        "3. cold start: spawn `streamlit run app.py` -> /_stcore/health answers (polled every 20 ms) -> the browser "
        f"(already running) opens the URL -> the home page's title, then its first image: test digits over their "
        f"reconstructions by {DEFAULT_MODEL} (the default model)",
        "", table]), runs


IMPORT_PROBES = [
    ("python -c pass (interpreter start)", "pass"),
    ("import torch", "import torch"),
    ("import torch, torchvision (only to download a dataset)", "import torch, torchvision"),
    ("import streamlit", "import streamlit"),
    ("import plotly.graph_objects", "import plotly.graph_objects"),
    ("import vae (torch included)", "import vae"),
    ("import vae + explorer.figures + explorer.browser_decoder", "import vae, explorer.figures, explorer.browser_decoder"),
    ("streamlit + the app's modules (as app.py imports them)",
     "import streamlit, explorer.i18n, pages.ui.i18n, pages.ui.links, pages.ui.widgets"),
]

HOME_WORK = r"""
import json, sys, time
t0 = time.perf_counter()
import torch, vae
from explorer.registry import showable_split
t1 = time.perf_counter()
model, card = vae.load_model("models/%s", device="cpu")
t2 = t3 = time.perf_counter()
split, note = showable_split(card.dataset, "test")
t4 = time.perf_counter()
assert "torchvision" not in sys.modules, "vae.data imported torchvision to read files already on disk"
m = vae.evaluate(model, split.x, labels=split.y)
t5 = time.perf_counter()
r = vae.latent.reconstruct(model, split.x[:8], labels=split.y[:8])
t6 = time.perf_counter()
print(json.dumps({"import torch + vae": t1 - t0, "vae.load_model": t2 - t1,
                  "read the test set (%%d images)" %% len(split): t4 - t3,
                  "vae.evaluate on it (the home page's live metrics)": t5 - t4, "reconstruct 8 images": t6 - t5}))
"""


def import_times(args) -> str:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "OMP_WAIT_POLICY": "PASSIVE"}  # as app.py sets it
    rows = []
    probes = IMPORT_PROBES[:2] + IMPORT_PROBES[-1:] if args.smoke else IMPORT_PROBES  # the app's own, which can break
    for name, code in probes:
        walls = []
        for _ in range(args.import_repeats):
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
            walls.append(time.perf_counter() - t0)
            if proc.returncode != 0:
                walls = []
                name += f" (failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode})"
                break
        rows.append([name] + (list(B.median_min_max(walls)) if walls else [float("nan")] * 3))
    work_rows = []
    for _ in range(args.import_repeats):
        proc = subprocess.run([sys.executable, "-c", HOME_WORK % DEFAULT_MODEL], cwd=ROOT, env=env, capture_output=True,
                              text=True)
        if proc.returncode == 0:
            work_rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    work = [[k, statistics.median(w[k] for w in work_rows)] for k in work_rows[0]] if work_rows else []
    return "\n".join([
        f"what a cold start pays for: wall-clock of fresh interpreters (median, min, max of {args.import_repeats}; "
        "the OS file cache is warm after the first)",
        "", B.format_table(["fresh interpreter running", "seconds", "min", "max"], rows), "",
        f"the home page's own work for {DEFAULT_MODEL}, in a fresh process with OMP_WAIT_POLICY=PASSIVE like the "
        f"app (median of {len(work_rows)})",
        "", B.format_table(["step", "seconds"], work) if work else "(failed)",
    ])


# ---------------------------------------------------------------------------------------------
# 4. The latent map.

INSTRUMENT_MAP = """() => {
    window.__map = {click: null, dom: null};
    document.addEventListener('click', e => { window.__map.click = e.timeStamp; }, {capture: true});
    return true;
}"""
HOME_MAP_DRAWN = ".st-key-home_map .js-plotly-plot canvas"  # the home page's small latent map, drawn
MAP_READY_JS = """() => {
    const M = window.__map;
    // The Latent map page's own chart (its key), not the home page's small preview map.
    if (M.dom === null && document.querySelector(".st-key-latent_scatter [data-testid='stPlotlyChart']")) M.dom = performance.now();
    const gd = document.querySelector(".st-key-latent_scatter .js-plotly-plot");
    if (!gd || !gd._fullData || !gd.querySelector('canvas')) return false;
    const n = gd._fullData.filter(t => t.type === 'scattergl').reduce((s, t) => s + (t._length || (t.x ? t.x.length : 0)), 0);
    if (n < 1) return false;
    return {n, ready: performance.now(), click: M.click, dom: M.dom === null ? performance.now() : M.dom};
}"""

MAP_SERVER_WORK = r"""
import json, time
t0 = time.perf_counter()
import numpy as np, torch, vae
from explorer.registry import showable_split
from explorer.figures import latent_scatter
model, card = vae.load_model("models/%s", device="cpu")
split, _ = showable_split(card.dataset, "test")
t1 = time.perf_counter()
enc = vae.encode_dataset(model, split.x, split.y)
mu, labels = enc.mu.numpy(), enc.labels.numpy()
t2 = time.perf_counter()
fig = latent_scatter(mu, labels, split.class_names, rows=np.arange(len(mu)))
t3 = time.perf_counter()
text = fig.to_json()
t4 = time.perf_counter()
print(json.dumps({"encode the %%d test images (once per model; the home page map does it first)" %% len(mu): t2 - t1,
                  "build the Plotly figure (figures.latent_scatter)": t3 - t2,
                  "serialise it to JSON (%%.1f MB)" %% (len(text) / 1e6): t4 - t3}))
"""


def latent_map(args, browser, url: str) -> tuple[str, list[list]]:
    context, page, errors = new_page(browser)
    rows = []
    try:
        open_home(page, url)
        pick_model(page, DEFAULT_MODEL)
        wait_idle(page)
        page.wait_for_selector(HOME_MAP_DRAWN, state="attached")  # the home page is fully drawn, as a reader sees it
        page.evaluate(INSTRUMENT_MAP)
        for visit in range(1 + args.map_repeats):
            page.evaluate("() => { window.__map.click = null; window.__map.dom = null; }")
            with B.timed_tree() as t:
                goto_page(page, "Latent map")
                info = page.wait_for_function(MAP_READY_JS, polling="raf").json_value()
                # One more frame: the WebGL canvas drawn in the frame that found it ready is on screen.
                page.evaluate("() => new Promise(r => requestAnimationFrame(() => r(true)))")
            label = "first visit (fresh server and browser session)" if visit == 0 else f"revisit {visit} (cached)"
            rows.append([label, info["n"], (info["dom"] - info["click"]) / 1e3, (info["ready"] - info["click"]) / 1e3,
                         (info["ready"] - info["dom"]) / 1e3, t.others])
            print(f"  latent map, {label}: {info['n']:,} points drawn {rows[-1][3]:.2f} s after the click", flush=True)
            wait_idle(page)
            goto_page(page, "What is a VAE?")
            page.get_by_text("Squeeze an image").first.wait_for()
            wait_idle(page)
            page.wait_for_selector(HOME_MAP_DRAWN, state="attached")
    finally:
        context.close()
    revisits = [r[3] for r in rows[1:]]
    extra = [["revisits: median", "", statistics.median(r[2] for r in rows[1:]), statistics.median(revisits),
              statistics.median(r[4] for r in rows[1:]), statistics.median(r[5] for r in rows[1:])]] if revisits else []
    table = B.format_table(["latent map of " + DEFAULT_MODEL, "points", "chart element in page s", "scatter drawn s",
                            "drawn - element s", "others' cores"], rows + extra)
    proc = subprocess.run([sys.executable, "-c", MAP_SERVER_WORK % DEFAULT_MODEL], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"})  # as app.py sets it
    work = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else {}
    work_table = B.format_table(["the page's server-side work, in a fresh process", "seconds"], [[k, v] for k, v in work.items()]) \
        if work else f"(server-side work probe failed: {proc.stderr.strip()[-300:]})"
    return "\n".join([
        "4. latent map: with the home page fully drawn (its small preview map included, which loads the browser's "
        "Plotly bundle), click on the 'Latent map' link (its time stamp) -> the chart's element is in the page (the "
        "script's output has arrived; Streamlit mounts it together with Plotly's first draw, so the two times often "
        "coincide) -> Plotly has drawn the WebGL scatter holding every point, plus one animation "
        "frame; then back to the home page and again", "", table, "", work_table]
        + (["page errors: " + "; ".join(errors[:5])] if errors else [])), rows


# ---------------------------------------------------------------------------------------------


def verdicts(live: dict, cold: list[dict], map_rows: list[list]) -> str:
    lines = []
    key = f"{DEFAULT_MODEL}: slider z0"
    if key in live:
        p95 = pct(live[key]["next"], 95)
        lines.append(f"slider -> image p95 (to the next frame) {p95:.1f} ms: target <= 100 ms "
                     f"{'met' if p95 <= TARGETS['slider p95 ms'] else 'NOT met'}")
    if cold:
        med = statistics.median(x["image"] for x in cold)
        lines.append(f"cold start to the first image, median {med:.2f} s: target <= 5 s "
                     f"{'met' if med <= TARGETS['cold start s'] else 'NOT met'}")
    if map_rows:
        first = map_rows[0][3]
        again = statistics.median(r[3] for r in map_rows[1:]) if len(map_rows) > 1 else float("nan")
        lines.append(f"latent map drawn {first:.2f} s after the click on the first visit, {again:.2f} s on revisits "
                     f"(median): target <= 1 s {'met' if again <= TARGETS['map s'] else 'NOT met'} on revisits, "
                     f"{'met' if first <= TARGETS['map s'] else 'NOT met'} on the first visit")
    for path in ("slider z0", "latent pad"):
        key = f"{CONV_MODEL}: {path}"
        if key in live:  # the frame that carries the new image: move -> drawn (next frame: up to one vsync more)
            drawn, after = pct(live[key]["drawn"], 95), pct(live[key]["next"], 95)
            lines.append(f"{CONV_MODEL} (conv decoder) {path}: p95 move -> drawn {drawn:.1f} ms: target <= 30 ms per "
                         f"frame {'met' if drawn <= TARGETS['conv frame p95 ms'] else 'NOT met'} (-> next frame "
                         f"{after:.1f} ms; forward pass {live[key]['forward'].split('·')[-1].strip()})")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    if not (ROOT / "models" / DEFAULT_MODEL / "model.safetensors").is_file():
        sys.exit(f"models/{DEFAULT_MODEL} is missing: the latency benchmark runs on the shipped default model")
    session = B.Session.start(args)
    sections = []
    with tempfile.TemporaryDirectory(prefix="vae-latency-") as tmp, browser_or_exit() as browser:
        tmp = Path(tmp)
        imports = import_times(args)
        print("\n" + imports, flush=True)
        cold_text, cold = cold_start(args, browser, tmp)
        print("\n" + cold_text, flush=True)
        if args.smoke:  # one server for both (the suite's time): the map first, while it is fresh
            with app_server(tmp) as (url, _, _):
                map_text, map_rows = latent_map(args, browser, url)
                live_text, live = live_decoder(args, browser, url)
                print("\n" + live_text + "\n\n" + map_text, flush=True)
        else:
            with app_server(tmp) as (url, _, _):
                warm = new_page(browser)  # a first session warms the server's caches for the live-decoder part
                try:
                    open_decoder(warm[1], url, DEFAULT_MODEL)
                finally:
                    warm[0].close()
                live_text, live = live_decoder(args, browser, url)
                print("\n" + live_text, flush=True)
            with app_server(tmp) as (url, _, _):  # a fresh server: the map's first visit is really the first
                map_text, map_rows = latent_map(args, browser, url)
                print("\n" + map_text, flush=True)
    sections = [live_text, cold_text, imports, map_text]
    verdict = verdicts(live, cold, map_rows)
    body = "\n\n".join(sections + [verdict])
    print("\n" + verdict)
    key = f"{DEFAULT_MODEL}: slider z0"
    if key in live:
        print(f"RESULT slider_p95_ms={pct(live[key]['next'], 95):.2f} cold_start_s={statistics.median(x['image'] for x in cold):.3f}")
    session.finish("Benchmark 4: interactive latency (headless Chromium)", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
