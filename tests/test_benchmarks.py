"""The benchmarks in benchmarks/: every script's --smoke mode runs, prints a table with both
loops at a positive images/s, and writes only where --results points; the textbook model and
the project's are the same network (checked against each other as an oracle).

The smoke runs read MNIST from `VAE_DATA_DIR` like the other data tests: without it they skip
locally and fail in CI (`CI=true`).
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import torch

from data_root import data_root
from vae import neg_elbo_per_image

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCH))
import benchlib as B  # noqa: E402

LOOPS = ("textbook (pytorch/examples)", "project (vae.fit)")


def mnist_root() -> Path:
    return data_root("mnist")


def _run(script: str, *args: str, root: Path) -> str:
    env = {**os.environ, "VAE_DATA_DIR": str(root)}
    proc = subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True, text=True, env=env,
                          timeout=300, cwd=BENCH.parent)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def _check_both_loops(out: str) -> None:
    assert re.search(r"^loop\s+.*img/s", out, re.M), out  # a table header
    for loop in LOOPS:
        assert re.search(rf"^{re.escape(loop)}\s+\d", out, re.M), f"no table row for {loop}:\n{out}"
    rates = dict(re.findall(r"^RESULT loop=(\w+) images_per_s=([\d.]+)", out, re.M))
    assert set(rates) == {"textbook", "project"}, out
    assert all(float(v) > 0 for v in rates.values())
    losses = re.findall(r"^RESULT .* test_neg_elbo=([\d.]+)", out, re.M)
    assert len(losses) == 2 and all(0 < float(v) < 1000 for v in losses)


def _results_md_state():
    path = BENCH / "RESULTS.md"
    return path.read_bytes() if path.exists() else None


def test_train_throughput_smoke(tmp_path):
    root = mnist_root()
    before = _results_md_state()
    results = tmp_path / "results.md"
    out = _run("train_throughput.py", "--smoke", "--profile", "--explore", "--results", str(results), root=root)
    _check_both_loops(out)
    assert "parameters: textbook 652,824, project 652,824" in out
    assert "torch.profiler" in out and "variant of the project's loop" in out
    assert _results_md_state() == before  # a smoke run leaves the real results alone
    text = results.read_text()
    assert "## Benchmark 1" in text and "load average" in text and "textbook (pytorch/examples)" in text


def test_equal_time_smoke():
    root = mnist_root()
    before = _results_md_state()
    out = _run("equal_time.py", "--smoke", root=root)  # no --results: writes nothing
    _check_both_loops(out)
    assert "appended to" not in out and _results_md_state() == before


def test_textbook_model_is_the_project_architecture():
    """Same parameter count, and the same numbers: converted weights give the same -ELBO."""
    torch.manual_seed(0)
    textbook = B.TextbookVAE()
    project = B.textbook_to_project(textbook)
    assert B.param_count(textbook) == B.param_count(project) == 652_824
    x = torch.rand(16, 1, 28, 28)
    with torch.no_grad():
        mu, logvar = textbook.encode(x.view(-1, 784))
        recon = textbook.decode(mu)  # z = mu on both sides: no sampling noise
        ours = neg_elbo_per_image(project, x, sample=False).mean()
        theirs = B.textbook_loss(recon, x, mu, logvar) / len(x)
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-3)
        back = B.project_to_textbook(project)
        for a, b in zip(textbook.state_dict().values(), back.state_dict().values()):
            torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_table_columns_line_up():
    table = B.format_table(["loop", "img/s"], [["a", 1234.5], ["longer name", 12.25]])
    lines = table.splitlines()
    assert len({len(line) for line in lines}) == 1  # numbers right-aligned to one width
    assert lines[2].endswith("1,234") and lines[3].endswith("12.25")
