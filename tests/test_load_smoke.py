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
