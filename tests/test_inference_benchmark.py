"""benchmarks/inference.py --smoke runs, prints its table and writes no results (tests never import benchmarks)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from data_root import data_root

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


def test_inference_benchmark_smoke(tmp_path):
    env = {**os.environ, "VAE_DATA_DIR": str(data_root("mnist"))}
    results = tmp_path / "results.md"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "inference.py"), "--smoke", "--results", str(results)],
                          capture_output=True, text=True, env=env, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for row in ("mnist-z2: optimise 50 steps", "mnist-z2: grid posterior", "mnist-z16: log p(x) by IWAE k=5000",
                "mnist-z16: the gaps of 10 images at once"):
        assert re.search(rf"^{re.escape(row)}.*\s\d+\.\d\d\s", proc.stdout, re.M), proc.stdout
    assert "Inference for one image" in results.read_text()
