"""The benchmarks in benchmarks/: every script's --smoke mode runs, prints its tables and writes
only where --results points; the textbook model and the project's are the same network (checked
against each other as an oracle); the quality benchmark evaluates whatever models a folder holds
(plain, conditional, mixture prior, broken) and recognises a card it reproduces exactly; the
scaling benchmark's line fit and pixel shifts are checked against exact answers. Tests never import
the benchmarks: the scripts run as `python benchmarks/x.py`, their helpers in a fresh interpreter
started in benchmarks/ (`_in_benchmarks`).

The smoke runs read MNIST from `VAE_DATA_DIR` like the other data tests: without it they skip
locally and fail in CI (`CI=true`); the latency smoke run also needs /usr/bin/chromium and the
shipped models/mnist-z2, with the same rule.
"""

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import vae
from data_root import data_root, require_shipped_model

pytestmark = pytest.mark.slow

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
LOOPS = ("textbook (pytorch/examples)", "project (vae.fit)")


def mnist_root() -> Path:
    return data_root("mnist")


def _run(script: str, *args: str, root: Path | None) -> str:
    env = {**os.environ}
    if root is not None:
        env["VAE_DATA_DIR"] = str(root)
    proc = subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True, text=True, env=env,
                          timeout=600, cwd=BENCH.parent)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def _in_benchmarks(code: str):
    """Run `code` in a fresh interpreter in benchmarks/ (first on sys.path, as when a script runs
    there) and return the JSON of its last printed line: a benchmark's helpers, never imported here."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=300, cwd=BENCH)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(proc.stdout.splitlines()[-1])


def _check_both_loops(out: str, loops=LOOPS, keys=("textbook", "project")) -> None:
    assert re.search(r"^loop\s+.*img/s", out, re.M), out  # a table header
    for loop in loops:
        assert re.search(rf"^{re.escape(loop)}\s+\d", out, re.M), f"no table row for {loop}:\n{out}"
    rates = dict(re.findall(r"^RESULT loop=([\w-]+) images_per_s=([\d.]+)", out, re.M))
    assert set(rates) == set(keys), out
    assert all(float(v) > 0 for v in rates.values())
    losses = re.findall(r"^RESULT .* test_neg_elbo=([\d.]+)", out, re.M)
    assert len(losses) == len(keys) and all(0 < float(v) < 1000 for v in losses)


def _wrote_nothing(out: str) -> bool:
    """A script says where it appended its section; a smoke run without --results appends nowhere.
    (Comparing RESULTS.md before and after would race with a real benchmark run at the same time.)"""
    return "appended to" not in out


def test_train_throughput_smoke(tmp_path):
    root = mnist_root()
    results = tmp_path / "results.md"
    out = _run("train_throughput.py", "--smoke", "--profile", "--explore", "--results", str(results), root=root)
    _check_both_loops(out, [*LOOPS, "project (vae.fit, precision=bfloat16)"], ("textbook", "project", "project-bf16"))
    assert re.search(r"^ratio project \(vae.fit, precision=bfloat16\) / textbook: [\d.]+x", out, re.M), out
    assert "parameters: textbook 652,824, project 652,824" in out
    assert "torch.profiler" in out and "variant of the project's loop" in out
    assert f"appended to {results}" in out and "RESULTS.md" not in out.split("appended to", 1)[1]
    text = results.read_text()
    assert "## Benchmark 1" in text and "load average" in text and "textbook (pytorch/examples)" in text


def test_equal_time_smoke():
    root = mnist_root()
    out = _run("equal_time.py", "--smoke", root=root)  # no --results: writes nothing
    _check_both_loops(out)
    assert _wrote_nothing(out)


def test_textbook_model_is_the_project_architecture():
    """Same parameter count, and the same numbers: converted weights give the same -ELBO."""
    r = _in_benchmarks("""
        import json, torch, benchlib as B
        from vae import neg_elbo_per_image
        torch.manual_seed(0)
        textbook = B.TextbookVAE()
        project = B.textbook_to_project(textbook)
        x = torch.rand(16, 1, 28, 28)
        with torch.no_grad():
            mu, logvar = textbook.encode(x.view(-1, 784))
            recon = textbook.decode(mu)  # z = mu on both sides: no sampling noise
            ours = neg_elbo_per_image(project, x, sample=False).mean().item()
            theirs = (B.textbook_loss(recon, x, mu, logvar) / len(x)).item()
            back = B.project_to_textbook(project)
        pairs = list(zip(textbook.state_dict().values(), back.state_dict().values()))
        print(json.dumps({"params": [B.param_count(textbook), B.param_count(project)], "ours": ours, "theirs": theirs,
                          "tensors": len(pairs), "round_trip": all(torch.equal(a, b) for a, b in pairs)}))
    """)
    assert r["params"] == [652_824, 652_824]
    assert r["ours"] == pytest.approx(r["theirs"], rel=1e-5, abs=1e-3)
    assert r["tensors"] == 10 and r["round_trip"]  # fc1, fc21, fc22, fc3, fc4: weights and biases, unchanged


def test_table_columns_line_up():
    lines = _in_benchmarks("""
        import json, benchlib as B
        print(json.dumps(B.format_table(["loop", "img/s"], [["a", 1234.5], ["longer name", 12.25]]).splitlines()))
    """)
    assert len({len(line) for line in lines}) == 1  # numbers right-aligned to one width
    assert lines[2].endswith("1,234") and lines[3].endswith("12.25")


# ---------------------------------------------------------------------------------------------
# Benchmark 3: quality of every model in a folder.


def _tiny_model(folder: Path, name: str, metrics_images: int | None = None, iwae_k: int = 5, **config) -> Path:
    """An untrained small digits model saved with a card; with `metrics_images`, the card holds the
    metrics `vae.model_metrics` gives on that many test images (as `vae.save_run` would write them)."""
    torch.manual_seed(0)
    cfg = vae.VAEConfig(input_shape=(1, 8, 8), latent_dim=2, hidden_dims=(16,), **config)
    model = vae.VAE(cfg).eval()
    metrics = None
    if metrics_images:
        test = vae.load_dataset("digits", "test")
        labels = test.y[:metrics_images] if cfg.conditional else None
        metrics = vae.Metrics.from_dict(vae.model_metrics(model, test.x[:metrics_images], iwae_k=iwae_k, seed=3,
                                                          labels=labels))
    card = vae.ModelCard.new(cfg, "digits", train_config=vae.TrainConfig(epochs=1, seed=3), metrics=metrics)
    return vae.save_model(model, folder / name, card)


def test_quality_evaluates_every_model_in_the_folder_and_names_the_ones_it_cannot(tmp_path):
    models = tmp_path / "models"
    _tiny_model(models, "plain", metrics_images=40)
    _tiny_model(models, "conditional", metrics_images=40, n_classes=10)
    _tiny_model(models, "mixture", prior="mog", prior_components=3)
    (models / "broken").mkdir()
    (models / "broken" / "card.json").write_text("{not json")
    bad_weights = _tiny_model(models, "bad-weights")
    (bad_weights / "model.safetensors").write_bytes(b"truncated")
    mnist_card = _tiny_model(models, "needs-mnist")
    card = json.loads((mnist_card / "card.json").read_text())
    card["dataset"] = "mnist"  # 8x8 weights, 28x28 images: must be refused, not crash
    (mnist_card / "card.json").write_text(json.dumps(card))

    out = _run("quality.py", "--smoke", "--models", str(models), "--n-images", "40", "--iwae-k", "5",
               root=Path(os.environ.get("VAE_DATA_DIR", "/nonexistent")))
    assert _wrote_nothing(out)
    results = dict(re.findall(r"^RESULT model=(\S+) (.*)$", out, re.M))
    assert set(results) == {"plain", "conditional", "mixture", "broken", "bad-weights", "needs-mnist"}, out
    for name in ("plain", "conditional", "mixture"):
        values = dict(kv.split("=") for kv in results[name].split())
        assert float(values["iwae_nll"]) <= float(values["neg_elbo"]) + 1.0  # the IWAE bound is the tighter one
        assert 0 <= int(values["active_units"]) <= 2
    for name in ("broken", "bad-weights", "needs-mnist"):
        assert results[name] == "not_evaluated"
        assert re.search(rf"^{name}\s.*not evaluated: ", out, re.M), out
    # A card written from the same function, images, k and seed is reproduced exactly.
    assert re.search(r"^plain\s.*yes \(all \|diff\| < 0\.01\)", out, re.M), out
    assert re.search(r"^conditional\s.*yes \(all \|diff\| < 0\.01\)", out, re.M), out
    assert re.search(r"^mixture\s.*card has no metrics", out, re.M), out
    assert "NOT comparable" in out  # the binarised-MNIST literature is flagged


def test_quality_smoke_on_the_shipped_models():
    root = mnist_root()
    require_shipped_model(BENCH.parent / "models" / "mnist-z2")
    out = _run("quality.py", "--smoke", "--only", "mnist-z2,digits-z2", root=root)
    assert re.search(r"^RESULT model=mnist-z2 neg_elbo=[\d.]+ iwae_nll=[\d.]+ active_units=\d+", out, re.M), out
    assert re.search(r"^mnist-z2\s+mnist\s+200\s", out, re.M), out
    assert "mnist-z2" in out and "<= 139" in out


def test_grey_level_floor_is_the_entropy_and_bounds_every_reconstruction():
    r = _in_benchmarks("""
        import json, torch, quality
        x = torch.tensor([[[[0.0, 1.0], [0.5, 0.25]]]])
        logits = torch.randn(20, 1, 2, 2, generator=torch.Generator().manual_seed(0))
        bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none")
        print(json.dumps({"floor": quality.grey_level_floor(x), "bce": bce.flatten(1).sum(1).tolist()}))
    """)
    expected = 2 * 0.0 + 0.6931471805599453 + 0.5623351446188083  # H(0)=H(1)=0, H(0.5)=ln 2, H(0.25)
    assert r["floor"] == pytest.approx(expected, abs=1e-9)
    assert min(r["bce"]) >= r["floor"] - 1e-6  # 20 random decoders: none beats the floor


# ---------------------------------------------------------------------------------------------
# Benchmark 5: scaling.


def test_scaling_smoke():
    root = mnist_root()
    out = _run("scaling.py", "--smoke", root=root)
    assert _wrote_nothing(out)
    assert re.search(r"^batch\s+img/s, 1 thread", out, re.M), out
    assert re.search(r"^least-squares line over 3 sizes: .* R\^2 = [\d.]+", out, re.M), out
    rates = re.findall(r"^RESULT batch=128 threads=(\d) images_per_s=([\d.]+)", out, re.M)
    assert {t for t, _ in rates} == {"1", "2"} and all(float(r) > 0 for _, r in rates)


def test_line_fit_recovers_an_exact_line_and_shifts_are_exact():
    r = _in_benchmarks("""
        import json, torch, scaling
        fit = scaling.linear_fit([1.0, 2.0, 4.0, 8.0], [0.5 + 3 * n for n in (1.0, 2.0, 4.0, 8.0)])
        moved = scaling.shifted(torch.arange(25.0).reshape(1, 1, 5, 5), 2, -1)  # down 2, left 1
        print(json.dumps({"fit": fit, "moved": moved[0, 0].tolist()}))
    """)
    assert r["fit"] == [pytest.approx(0.5), pytest.approx(3.0), pytest.approx(1.0)]
    x, moved = torch.arange(25.0).reshape(5, 5), torch.tensor(r["moved"])
    assert torch.equal(moved[2:, :4], x[:3, 1:])
    assert moved[:2].abs().sum() == 0 and moved[:, 4].abs().sum() == 0


# ---------------------------------------------------------------------------------------------
# Benchmark 4: latency in a real browser.


def _require_chromium() -> None:
    chromium = os.environ.get("VAE_CHROMIUM", "/usr/bin/chromium")
    if not Path(chromium).exists():
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"{chromium} is missing: install Debian's chromium")
        pytest.skip(f"{chromium} is missing")


def test_latency_smoke():
    root = mnist_root()
    require_shipped_model(BENCH.parent / "models" / "mnist-z2")
    _require_chromium()
    out = _run("latency.py", "--smoke", root=root)
    assert _wrote_nothing(out)
    assert re.search(r"^mnist-z2: slider z0 -> next frame\s+[5-9]\s+[\d.]+", out, re.M), out  # 5 moves, each redrawn
    assert re.search(r"^mnist-z2: latent pad -> drawn\s+[5-9]\s", out, re.M), out
    assert re.search(r"^mnist-z2: new PNG loaded and shown\s+3\s", out, re.M), out
    assert re.search(r"^first visit \(fresh server and browser session\)\s+10000\s", out, re.M), out
    assert re.search(r"^RESULT slider_p95_ms=[\d.]+ cold_start_s=[\d.]+", out, re.M), out
    assert "page errors" not in out
    assert "(failed" not in out and "probe failed" not in out, out  # an import probe of a renamed module, say


def test_interactions_smoke():
    root = mnist_root()
    require_shipped_model(BENCH.parent / "models" / "mnist-z2")
    _require_chromium()
    out = _run("interactions.py", "--smoke", root=root)
    assert _wrote_nothing(out)
    for row in ("page switch (2 pages, warm)", "model switch (Reconstructions page)", "latent-map click to its image",
                "'Prior & holes' on", "'Prior & holes' off", "Decoder slider release (server answer)"):
        assert re.search(rf"^{re.escape(row)}.*\s\d+\.\d\d\s", out, re.M), out


def test_bnn_benchmark_smoke():
    root = mnist_root()
    require_shipped_model(BENCH.parent / "models" / "mnist-bnn")
    out = _run("bnn.py", "--smoke", root=root)
    assert _wrote_nothing(out)
    for row in ("train both on 100 mnist-z2 codes", "plane: 181x181 grid", "pixels: both networks on 500 test",
                "one digit: 100 weight draws"):
        assert re.search(rf"^{re.escape(row)}.*\s\d+\.\d\d\s", out, re.M), out


def test_quick_recipe_smoke():
    # One run of the Train page's quick recipe, through the job the page starts, stopped after its first epoch.
    out = _run("quick_recipe.py", "--smoke", root=mnist_root())
    assert _wrote_nothing(out)
    assert re.search(r"^1\s+0\s+(-|\d+\.\d)\s+\S+\s+\d+\.\d\s+1\s+\d+\.\d\d\s", out, re.M), out  # one epoch, then Stop
    assert "recipe (explorer.train_form.QUICK_RECIPE): VAEConfig(input_shape=(1, 28, 28), latent_dim=2" in out
