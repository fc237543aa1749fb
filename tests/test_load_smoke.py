"""The load test's smoke mode: two browser sessions drag the Decoder's sliders for 5 s while a third trains.

Runs `benchmarks/load_test.py --smoke` as a subprocess (it starts its own server and Chromium)
and checks that it measured something in every session and found no error and no starved
session. It writes no results file. Without Chromium it skips, except in CI (`CI=true`).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("VAE_CHROMIUM", "/usr/bin/chromium")


def test_load_test_smoke_runs_clean(tmp_path):
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium")
        pytest.skip(f"{CHROMIUM} is missing")
    results = tmp_path / "RESULTS-load.md"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "load_test.py"), "--smoke", "--results", str(results)],
                          cwd=ROOT, capture_output=True, text=True, timeout=540)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "RESULT: clean" in out, out[-4000:]
    # The latency table: session, drags, frames, frame p50/p95/max, server updates, server p50/p95/max, errors.
    rows = {cells[0]: cells for cells in ([c.strip() for c in line.strip("|").split("|")] for line in out.splitlines()
                                          if re.match(r"^\| (s\d\d|all) ", line))}
    assert set(rows) == {"s01", "s02", "all"}, out[-4000:]
    for name in ("s01", "s02"):
        drags, frames, updates, errors = (int(rows[name][i]) for i in (1, 2, 6, 10))
        assert drags >= 1 and frames >= drags and updates >= 1 and errors == 0, rows[name]
    assert re.search(r"Training session: [1-9]\d* digits epochs", out), out[-2000:]
    section = results.read_text()  # --results given: the section is written, with its machine and command
    assert "- machine: " in section and "--smoke" in section and "| all " in section


def _chromium_or_skip() -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium")
        pytest.skip(f"{CHROMIUM} is missing")


def test_websocket_load_smoke_runs_clean(tmp_path):
    """benchmarks/ws_load.py --smoke: a browser is recorded, three protocol students replay it (releases with new
    codes, other pages, back to the Decoder); every answer is checked, so 'clean' means each release's z came back
    in the page's address and no run drew an exception."""
    _chromium_or_skip()
    results = tmp_path / "RESULTS-load.md"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "ws_load.py"), "--smoke", "--results", str(results)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "RESULT: clean" in out, out[-4000:]
    assert re.search(r"recorded \d+ messages from a browser .*; 1[0-9] pages", out), out[-4000:]
    answers = {m[0]: int(m[1]) for m in re.findall(r"^\| 3 +\| (release|page|decoder) +\| (\d+) ", out, re.M)}
    assert answers.get("release", 0) >= 6 and answers.get("page", 0) >= 1 and answers.get("decoder", 0) >= 1, out[-4000:]
    per_class = re.search(r"^\| 3 +\| (\d+) / [\d.]+ / \d+ +\| 0 +\| 0 +\|", out, re.M)  # releases min, errors, starved
    assert per_class and int(per_class.group(1)) >= 1, out[-4000:]
    assert "(websocket students)" in results.read_text()


def test_websocket_messages_are_edited_as_a_browser_would_send_them():
    """The replay's message surgery, on messages shaped like a recording (no server): a release gets the new z,
    report number and token and keeps every other widget; a page visit swaps the page's hash and address and
    drops the Decoder's widget; neither names cached messages."""
    code = r'''
import json, sys
sys.path.insert(0, ".")
from ws_load import pick_recording, release_msg, page_msg, LIVE_WIDGET
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

def rerun(page="", fragment="", live=None, url="http://127.0.0.1:1/"):
    m = BackMsg()
    rs = m.rerun_script
    rs.page_script_hash, rs.fragment_id, rs.context_info.url = page, fragment, url
    rs.cached_message_hashes.append("abc")
    w = rs.widget_states.widgets.add(); w.id = "$$ID-1-model_picker"; w.string_value = "mnist-z2 · z=2"
    if live is not None:
        w = rs.widget_states.widgets.add(); w.id = "$$ID-3-dec_start"; w.string_array_value.data.append("Origin")
        w = rs.widget_states.widgets.add(); w.id = "$$ID-2" + LIVE_WIDGET; w.json_value = json.dumps(live)
    return m.SerializeToString()

pages = {"": "h0", "decoder": "hd", "latent_map": "hl"}
sent = [rerun(), rerun("hd", url="http://127.0.0.1:1/"),
        rerun("hd", "f", {"z": {"z": [1.0, 0.0], "token": 0, "n": 1}}, "http://127.0.0.1:1/decoder")]
rec = pick_recording(sent, pages)
data, query = release_msg(rec, [0.5, -1.234], 7, token=3, address="z=1.00%2C0.00")
m = BackMsg(); m.ParseFromString(data)
ids = [w.id for w in m.rerun_script.widget_states.widgets]
live = json.loads(next(w.json_value for w in m.rerun_script.widget_states.widgets if w.id.endswith(LIVE_WIDGET)))
p = BackMsg(); p.ParseFromString(page_msg(rec, "latent_map"))
try:
    pick_recording(sent[:2], pages)
    missing = "accepted"
except ValueError as e:
    missing = str(e)
print(json.dumps({"query": query, "sent_query": m.rerun_script.query_string, "live": live, "ids": ids, "fragment": m.rerun_script.fragment_id,
                  "cached": len(m.rerun_script.cached_message_hashes) + len(p.rerun_script.cached_message_hashes),
                  "page_hash": p.rerun_script.page_script_hash, "page_url": p.rerun_script.context_info.url,
                  "page_ids": [w.id for w in p.rerun_script.widget_states.widgets], "missing": missing}))
'''
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT / "benchmarks", capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = __import__("json").loads(proc.stdout.splitlines()[-1])
    assert got["query"] == "z=0.50%2C-1.23"
    assert got["sent_query"] == "z=1.00%2C0.00"  # sent from the address the page had, as a browser does
    assert got["live"] == {"z": {"z": [0.5, -1.23], "token": 3, "n": 7}}
    assert got["ids"] == ["$$ID-1-model_picker", "$$ID-2-dec_live"] and got["fragment"] == "f"  # the Decoder's recorded controls dropped
    assert got["cached"] == 0
    assert got["page_hash"] == "hl" and got["page_url"] == "http://127.0.0.1:1/latent_map"
    assert got["page_ids"] == ["$$ID-1-model_picker"]
    assert "lacks" in got["missing"]
