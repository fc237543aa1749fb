"""Benchmark: what a lecturer waits for on a warm server (issue 13's timings).

Runs `streamlit run app.py` on 127.0.0.1 and drives it with Playwright and Debian's Chromium at
1400x1000. Each interaction is timed from the click (or key press) to what the user came for being
on screen and the app idle again, after one untimed warm-up of the same interaction:

- page switch: a sidebar link to the page's own heading, over the Learn and Explore pages;
- model switch: the sidebar picker from one 2-D MNIST model to another, until the page has rerun;
- latent-map click: a click on a test code to its image and code in the detail panel;
- "Prior & holes" toggle: on (until the holes section is drawn) and off again;
- Decoder release: a z slider of the live decoder dragged (drawn in the browser) and let go, until the
  server's code readout shows the new z (the one rerun a drag costs the server);
- the Log-likelihood (IWAE) page with its 1,000-image subset (not an interactive target).

    .venv/bin/python benchmarks/interactions.py [--repeats 5] [--smoke] [--results PATH|-]

Each row also gives the server's CPU time per interaction (user + system time of the `streamlit`
process, all threads, from /proc), the cost issue 14 asks to bring to <= 20 ms for a Decoder release.

Target (issue 13): every interaction under 1 s on a warm server. --smoke: one repeat over two pages and no
IWAE page (a quick check that every step still works), writes nothing.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository, for tools/
import benchlib as B  # noqa: E402

from tools.appserver import chromium, streamlit_app  # noqa: E402

PAGES = ["2-D toy VAE", "KL: exact vs sampled", "Reconstructions", "Latent map", "Decoder", "Clusters",
         "What is a VAE?"]
HEADINGS = {"What is a VAE?": "VAE Latent Explorer", "Decoder": "Decoder: from a code z to an image"}
PICKER = "section[data-testid='stSidebar'] .st-key-model_picker input[role='combobox']"
IDLE = "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
MAP = ".st-key-latent_scatter .js-plotly-plot"


def parse_args(argv=None):
    p = B.make_parser(__doc__, "one repeat of each; writes no results", data_limits=False)
    p.add_argument("--repeats", type=int, default=5, help="timed repeats per interaction (default 5)")
    args = p.parse_args(argv)
    if args.smoke:
        args.repeats = 1
    if args.repeats < 1:
        p.error("--repeats must be >= 1")
    return args


def settle(page) -> None:
    page.wait_for_timeout(150)  # a rerun may start a moment after the click
    page.wait_for_function(IDLE, timeout=300_000)


SERVER_PID = 0  # the app's process, set in main()


def server_cpu() -> float:
    """CPU seconds (user + system, every thread) the server process has used so far."""
    fields = Path(f"/proc/{SERVER_PID}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(page, act, done) -> tuple[float, float]:
    """(wall seconds, server CPU seconds) from `act` until `done` and the app idle again."""
    cpu, start = server_cpu(), time.perf_counter()
    act()
    done()  # drawn by the rerun the action caused: that run has started, so idle now means it has ended
    page.wait_for_function(IDLE, timeout=300_000)
    return time.perf_counter() - start, server_cpu() - cpu


def drag_slider(page, to: float) -> None:
    """Drag the live decoder's first z slider from its middle to `to` (a share of its width) with the mouse."""
    box = page.locator("input.vld-slider[data-dim='0']").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] / 2, y)
    page.mouse.down()
    for i in range(1, 9):
        page.mouse.move(box["x"] + box["width"] * (0.5 + (to - 0.5) * i / 8), y)
        page.wait_for_timeout(30)


def open_page(page, title: str) -> None:
    page.get_by_role("link", name=title, exact=True).click()


def heading(page, title: str):
    return lambda: page.locator("h1").filter(has_text=HEADINGS.get(title, title)).first.wait_for(timeout=300_000)


def pick(page, name: str) -> None:
    page.locator(PICKER).click()
    page.keyboard.type(name)
    page.get_by_role("option", name=f"{name} ·").first.click()


def picked(page, name: str):
    return lambda: page.wait_for_function(f"() => document.querySelector(\"{PICKER}\").value.startsWith('{name} ·')")


def click_a_code(page) -> int:
    """Click a test code on the latent map; returns its row."""
    target = page.evaluate(f"""() => {{
        const gd = document.querySelector("{MAP}");
        const points = gd._fullData.filter(t => t.type === 'scattergl' && t.customdata && t.x.length);
        const t = points[points.length - 1];  // the last drawn: nothing covers its points
        const i = Math.floor(Math.random() * t.x.length);
        const L = gd._fullLayout, box = gd.getBoundingClientRect();
        return {{x: box.left + L.xaxis._offset + L.xaxis.l2p(t.x[i]), y: box.top + L.yaxis._offset + L.yaxis.l2p(t.y[i]),
                row: Number(t.customdata[i])}}; }}""")
    page.mouse.click(target["x"], target["y"])
    return target["row"]


def main(argv=None) -> int:
    args = parse_args(argv)
    session = B.Session.start(args)
    rows: list[list] = []

    def record(what: str, runs: list[tuple[float, float]]) -> None:
        seconds = [wall for wall, _ in runs]
        med, lo, hi = B.median_min_max(seconds)
        cpu_ms = 1000 * statistics.median(cpu for _, cpu in runs)
        rows.append([what, len(seconds), med, lo, hi, "yes" if max(seconds) < 1.0 else "no", f"{cpu_ms:.0f}"])

    with tempfile.TemporaryDirectory() as tmp, \
            streamlit_app(Path(tmp) / "server.log", env={"VAE_USER_MODELS_DIR": str(Path(tmp) / "models")}) as app, \
            chromium() as browser:
        global SERVER_PID
        SERVER_PID = app.pid
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.set_default_timeout(300_000)
        page.goto(app.url)
        page.get_by_text("This model:").first.wait_for()
        settle(page)
        pages = ["Reconstructions", "Latent map"] if args.smoke else PAGES
        for title in pages:  # warm-up: every page once, so the caches are filled
            open_page(page, title)
            heading(page, title)()
            settle(page)

        switches, slowest = [], {}
        for _ in range(args.repeats):
            for title in pages:
                switches.append(timed(page, lambda t=title: open_page(page, t), heading(page, title)))
                slowest.setdefault(title, []).append(switches[-1][0])
        record(f"page switch ({len(pages)} pages, warm)", switches)

        models, names = [], ["mnist-z2-beta4", "mnist-z2"]
        open_page(page, "Reconstructions")
        heading(page, "Reconstructions")()
        for name in names:  # warm-up
            timed(page, lambda n=name: pick(page, n), picked(page, name))
        for _ in range(args.repeats):
            for name in names:
                models.append(timed(page, lambda n=name: pick(page, n), picked(page, name)))
        record("model switch (Reconstructions page)", models)

        open_page(page, "Latent map")
        heading(page, "Latent map")()
        page.locator(MAP).first.wait_for()
        settle(page)
        page.wait_for_timeout(1000)  # plotly lays out before its axes can be read
        clicks = []
        shown = "() => (document.body.innerText.match(/Test image #\\d+/) || [''])[0]"
        for i in range(args.repeats + 1):
            before = page.evaluate(shown)
            run = timed(page, lambda: click_a_code(page),
                        lambda: page.wait_for_function(f"old => ({shown})() !== '' && ({shown})() !== old", arg=before))
            if i:  # the first click is the warm-up
                clicks.append(run)
        record("latent-map click to its image", clicks)

        toggles_on, toggles_off = [], []
        toggle = page.get_by_text("Prior & holes", exact=True)
        for i in range(args.repeats + 1):
            on = timed(page, toggle.click, lambda: page.get_by_text("Holes: where the prior").first.wait_for())
            off = timed(page, toggle.click,
                        lambda: page.wait_for_function("() => !document.body.innerText.includes('Holes: where the prior')"))
            if i:
                toggles_on.append(on)
                toggles_off.append(off)
        record("'Prior & holes' on", toggles_on)
        record("'Prior & holes' off", toggles_off)

        open_page(page, "Decoder")
        heading(page, "Decoder")()
        page.locator("canvas[data-testid='vld-image']").wait_for()
        settle(page)
        readout = "() => document.querySelector(\"[data-testid='stCode']\").innerText"
        releases = []
        for i in range(args.repeats + 1):
            drag_slider(page, 0.8 if i % 2 == 0 else 0.2)  # drawn in the browser while dragged: no server work
            before = page.evaluate(readout)
            run = timed(page, page.mouse.up, lambda: page.wait_for_function(f"old => ({readout})() !== old", arg=before))
            if i:
                releases.append(run)
        record("Decoder slider release (server answer)", releases)

        iwae = []
        for i in range(0 if args.smoke else min(args.repeats, 2) + 1):
            open_page(page, "What is a VAE?")
            heading(page, "What is a VAE?")()
            settle(page)
            seconds = timed(page, lambda: open_page(page, "Log-likelihood (IWAE)"),
                            lambda: page.get_by_text("Mean gap at k =", exact=False).first.wait_for())  # the page's last text
            if i:
                iwae.append(seconds)
        if iwae:
            record("Log-likelihood (IWAE) page, warm (not interactive)", iwae)

    table = B.format_table(["interaction", "runs", "median s", "min s", "max s", "all < 1 s", "server CPU ms (median)"],
                           rows, right=[False, True, True, True, True, False, True])
    body = "\n".join(["headless Chromium 1400x1000 on 127.0.0.1; each run from the click to the result drawn and "
                      "the app idle; one untimed warm-up each; server CPU: user + system time of the streamlit process "
                      "over the same span", "", table, "",
                      "issue 13's lecturer measured (2 cores): page switch ~1.2 s, model switch ~2.0 s, map click "
                      "1.3 s, 'Prior & holes' 3.0 s, IWAE page 10.5 s."])
    body += "\n\nswitches to each page, s, in order: " + "; ".join(
        f"{t} " + " ".join(f"{v:.2f}" for v in vs) for t, vs in slowest.items())
    print("\n" + body)
    session.finish("Interactions a lecturer waits for (warm server)", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
