"""benchmarks/bnn.py --smoke runs and prints its table (tests never import benchmarks)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from data_root import data_root, require_shipped_model

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


def test_bnn_benchmark_smoke(tmp_path):
    require_shipped_model(ROOT / "models" / "mnist-bnn")
    env = {**os.environ, "VAE_DATA_DIR": str(data_root("mnist"))}
    results = tmp_path / "results.md"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bnn.py"), "--smoke", "--results", str(results)],
                          capture_output=True, text=True, env=env, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for row in ("train both on 100 mnist-z2 codes", "plane: 181x181 grid", "pixels: both networks on 500 test",
                "one digit: 100 weight draws"):
        assert re.search(rf"^{re.escape(row)}.*\s\d+\.\d\d\s", proc.stdout, re.M), proc.stdout
    assert "Bayesian neural network page" in results.read_text()
