"""Benchmark 1's additions: the whole-process comparison (`--whole-process`), the subnormal-float
comparison (`--denormals`) and the distance to the physical limit run in smoke mode and print their tables; the re-enacted example writes what main.py
writes. Like tests/test_benchmarks.py, the script runs as `python benchmarks/train_throughput.py`
(never imported) and reads MNIST from VAE_DATA_DIR: skipped locally without it, failed in CI.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from data_root import data_root

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "train_throughput.py"


def test_whole_process_denormals_and_limit_sections_in_smoke_mode(tmp_path):
    root = data_root("mnist")
    results = tmp_path / "results.md"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--smoke", "--whole-process", "--denormals", "--results", str(results)],
                          capture_output=True, text=True, timeout=600, env={**os.environ, "VAE_DATA_DIR": str(root)},
                          cwd=SCRIPT.parent.parent)
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:] + proc.stderr[-3000:]
    assert "distance to the physical limit" in out and "3.28 MFLOP per image" in out
    assert re.search(r"^float32\s+[\d,.]+\s+[\d,.]+\s+[\d,.]+", out, re.M), out
    assert re.search(r"^bfloat16\s+[\d,.]+\s+[\d,.]+\s+[\d,.]+", out, re.M), out
    rows = re.findall(r"^\s+1\s+(textbook|project)\s+([\d.]+)\s", out, re.M)
    assert {name for name, _ in rows} == {"textbook", "project"} and all(float(s) > 0 for _, s in rows), out
    assert re.search(r"^median: textbook [\d.]+ s, project [\d.]+ s: [\d.]+x; test -ELBO textbook [\d.]+", out, re.M), out
    # --denormals: the command as shipped and with the flush off, each epoch's seconds and the ratio
    assert "subnormal floats: `vae-explorer train`" in out, out
    assert re.search(r"^\s*1\s+[\d.]+\s+[\d.]+\s+[\d.]+x$", out, re.M), out
    assert re.search(r"^\s*all\s+[\d.]+\s+[\d.]+\s+[\d.]+x$", out, re.M), out
    assert re.search(r"^test -ELBO \(median\): flushed \(default\) [\d.]+, not flushed [\d.]+", out, re.M), out
    text = results.read_text()
    assert "whole process, start to exit" in text and "subnormal floats" in text


def test_the_re_enacted_example_trains_tests_and_saves_its_images(tmp_path):
    root = data_root("mnist")
    work = tmp_path / "run"
    (work / "results").mkdir(parents=True)
    (tmp_path / "data").symlink_to(root.resolve())  # main.py reads ../data
    proc = subprocess.run([sys.executable, str(SCRIPT), "--textbook-main", "1", "--epochs", "1", "--train-limit", "256",
                           "--test-limit", "256"], capture_output=True, text=True, timeout=300, cwd=work)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "====> Epoch: 1 Average loss:" in proc.stdout
    assert 0 < float(re.search(r"====> Test set loss: ([\d.]+)", proc.stdout).group(1)) < 1000
    assert sorted(p.name for p in (work / "results").iterdir()) == ["reconstruction_1.png", "sample_1.png"]
