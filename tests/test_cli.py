"""The `vae-explorer` command end to end on tiny configs (the bundled 8x8 digits, offline)."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import tqdm

import vae.data
from vae.card import ModelCard
from vae.checkpoint import load_card, load_model, save_model
from vae.cli import main
from vae.config import VAEConfig
from vae.model import build_model
from vae.train import model_metrics, resolve_precision

pytestmark = pytest.mark.slow

TINY = ["--dataset", "digits", "--latent-dim", "2", "--hidden-dims", "32", "--epochs", "2", "--batch-size", "64", "--quiet"]
# What the default --precision auto runs as here: bfloat16 on a CPU with AVX512-BF16 or AMX, else float32.
AUTO = resolve_precision("auto", torch.device("cpu"))


def test_train_then_evaluate_then_info(tmp_path, capsys):
    out = tmp_path / "digits-tiny"
    assert main(["train", *TINY, "--iwae-k", "5", "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert "test metrics on digits" in printed.out and f"saved {out}" in printed.err
    card = load_card(out)
    assert card.dataset == "digits" and card.status == "complete" and len(card.history) == 2
    assert card.train_config.epochs == 2 and card.config.input_shape == (1, 8, 8)
    assert card.train_config.precision == AUTO and card.train_config.world_size == 1  # never "auto"
    assert {"neg_elbo", "recon", "kl", "iwae_nll", "active_units"} <= set(card.metrics.to_dict())
    load_model(out)

    assert main(["evaluate", str(out), "--iwae-k", "10", "--n-images", "50", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) >= {"neg_elbo", "recon", "kl", "iwae_nll", "iwae_k", "dataset", "n_images"}
    assert result["dataset"] == "digits" and result["n_images"] == 50 and result["iwae_k"] == 10
    assert result["neg_elbo"] == pytest.approx(result["recon"] + result["kl"])

    assert main(["info", str(out)]) == 0
    assert "latent 2" in capsys.readouterr().out
    assert main(["info", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["dataset"] == "digits"


@pytest.mark.parametrize("flags, check", [
    (["--conditional"], lambda c: c["n_classes"] == 10 and c["prior"] == "standard"),
    (["--prior", "mog", "--prior-components", "3"], lambda c: c["prior"] == "mog" and c["prior_components"] == 3),
])
def test_train_and_evaluate_a_conditional_or_mixture_prior_model(flags, check, tmp_path, capsys):
    out = tmp_path / "model"
    assert main(["train", *TINY, *flags, "--iwae-k", "5", "--out", str(out)]) == 0
    assert check(load_card(out).config.to_dict())
    capsys.readouterr()
    assert main(["evaluate", str(out), "--iwae-k", "5", "--n-images", "40", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n_images"] == 40 and result["iwae_nll"] < result["neg_elbo"] + 1


@pytest.mark.parametrize("precision", ["bfloat16", "float32"])
def test_a_forced_precision_is_recorded_in_the_card(precision, tmp_path, capsys):
    out = tmp_path / "model"
    assert main(["train", *TINY, "--precision", precision, "--out", str(out)]) == 0
    card = load_card(out)
    assert card.train_config.precision == precision and card.metrics.neg_elbo > 0
    assert load_model(out)[0].to_moments.weight.dtype == torch.float32
    assert f"; precision {precision}\n" in capsys.readouterr().err  # the header says what runs


def test_evaluate_can_update_the_card(tmp_path, capsys):
    out = tmp_path / "m"
    assert main(["train", *TINY, "--out", str(out)]) == 0
    assert load_card(out).metrics.iwae_nll is None
    assert main(["evaluate", str(out), "--iwae-k", "3", "--update-card"]) == 0
    assert load_card(out).metrics.iwae_k == 3


@pytest.mark.parametrize(
    "argv, message",
    [
        (["evaluate", "no/such/model"], "not a model directory"),
        (["train", *TINY, "--epochs", "0", "--out", "x"], "epochs must be"),
        (["train", *TINY, "--lr", "-1", "--out", "x"], "lr must be"),
        (["train", "--dataset", "kmnist", "--offline", "--out", "x"], "VAE_DATA_DIR"),
        (["evaluate", "no/such/model", "--device", "tpu"], "unknown --device 'tpu'"),
    ],
)
def test_user_errors_give_one_line_messages_not_tracebacks(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VAE_DATA_DIR", str(tmp_path))  # an empty data folder: kmnist is missing
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err


def test_diverging_run_explains_and_saves_nothing_when_no_epoch_finished(tmp_path, capsys):
    out = tmp_path / "boom"
    code = main(["train", *TINY, "--lr", "1e25", "--schedule", "constant", "--epochs", "3", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and "diverged" in err
    if out.exists():  # some epochs finished before the blow-up: they were saved, and load fine
        card = load_card(out)
        assert card.status == "diverged" and len(card.history) >= 1
        load_model(out)


def test_console_script_help_output_and_exit_codes(tmp_path):
    # The installed command leaves through os._exit (no interpreter teardown): its output must still all
    # arrive through a pipe, and its exit status must be main()'s.
    exe = Path(sys.executable).parent / "vae-explorer"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "vae.cli"]
    res = subprocess.run([*cmd, "train", "--help"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "usage: vae-explorer" in res.stdout and "--latent-dim" in res.stdout
    model = Path(__file__).resolve().parent.parent / "models" / "digits-z2"
    res = subprocess.run([*cmd, "info", str(model)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "digits" in res.stdout and res.stdout.endswith("\n") and len(res.stdout.splitlines()) > 5, res.stdout
    res = subprocess.run([*cmd, "info", str(tmp_path / "missing")], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and res.stderr.startswith("error:") and "Traceback" not in res.stderr


def test_the_command_flushes_subnormal_floats_in_its_worker_threads_too():
    # run() must set the flush before main() (and torch's worker threads) start: the threads copy it.
    # A subnormal (1e-39) times 1 is 0 once flushed; the product is split between 2 threads.
    probe = (
        "import torch, vae.cli\n"
        "torch.set_num_threads(2)\n"
        "x = torch.tensor([1e-39])\n"  # no parallel work before run(): its threads must start after
        "print(float(x[0]))\n"
        "def main():\n"
        "    print(int((x.expand(1 << 20) * 1.0).count_nonzero()))\n"
        "    return 0\n"
        "vae.cli.main = main\n"
        "vae.cli.run()\n"
    )
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    stored, survivors = res.stdout.split()
    assert float(stored) > 0  # the value itself is a subnormal in memory
    if torch.set_flush_denormal(False):  # False (unchanged) here: no test turns it on in this process
        assert int(survivors) == 0, "some subnormal products were not flushed to zero"
    else:  # a CPU that cannot flush
        assert int(survivors) == 1 << 20


def _no_data_loading(monkeypatch, tmp_path):
    """An empty data folder, and a loader that fails the test if a command reaches it."""
    monkeypatch.setenv("VAE_DATA_DIR", str(tmp_path / "data"))

    def refuse(*args, **kwargs):
        raise AssertionError("the command loaded a dataset before checking its flags")

    monkeypatch.setattr(vae.data, "load_dataset", refuse)


@pytest.mark.parametrize("argv, message", [
    (["train", "--dataset", "mnist", "--latent-dim", "0"], "error: latent_dim must be an integer >= 1, got 0"),
    (["train", "--dataset", "fashion-mnist", "--prior", "mog", "--prior-components", "0"], "error: prior_components must be"),
    (["train", "--dataset", "mnist", "--batch-size", "0"], "error: batch_size must be"),
    (["train", "--dataset", "kmnist", "--iwae-k", "-1"], "error: --iwae-k must be an integer >= 0"),
    (["train", "--dataset", "mnist", "--arch", "conv", "--hidden-dims", "32,64,128,256"], "error: arch 'conv' takes two hidden_dims"),
    (["train", "--dataset", "mnist", "--likelihood", "gaussian", "--binarize"], "error: --binarize draws black-and-white"),
])
def test_train_checks_its_flags_before_touching_any_data(argv, message, tmp_path, monkeypatch, capsys):
    _no_data_loading(monkeypatch, tmp_path)
    out = tmp_path / "model"
    assert main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and "not available" not in err and err.count("\n") == 1
    assert not out.exists() and not (tmp_path / "data").exists()


@pytest.mark.parametrize("flags, message", [
    (["--iwae-k", "-5"], "error: --iwae-k must be an integer >= 0 (0: skip), got -5"),
    (["--n-images", "0"], "error: --n-images must be an integer >= 1, got 0"),
])
def test_evaluate_checks_its_flags_before_reading_the_model_or_data(flags, message, tmp_path, monkeypatch, capsys):
    _no_data_loading(monkeypatch, tmp_path)
    assert main(["evaluate", str(tmp_path / "no-such-model"), *flags]) == 2
    assert capsys.readouterr().err.startswith(message)


def test_evaluate_refuses_a_dataset_of_another_image_size_before_loading_it(tmp_path, monkeypatch, capsys):
    out = tmp_path / "m"
    assert main(["train", *TINY, "--epochs", "1", "--out", str(out)]) == 0
    capsys.readouterr()
    _no_data_loading(monkeypatch, tmp_path)
    assert main(["evaluate", str(out), "--dataset", "mnist"]) == 2
    assert "error: mnist images are (1, 28, 28), the model expects (1, 8, 8)" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_a_device_this_machine_lacks_is_refused_at_once(tmp_path, monkeypatch, capsys):
    _no_data_loading(monkeypatch, tmp_path)
    assert main(["train", "--dataset", "mnist", "--device", "cuda", "--out", str(tmp_path / "m")]) == 2
    assert "error: --device cuda: this machine has no CUDA device; use --device auto or cpu" in capsys.readouterr().err


def test_out_keeps_an_existing_model_unless_forced(tmp_path, monkeypatch, capsys):
    out = tmp_path / "digits-tiny"
    assert main(["train", *TINY, "--out", str(out)]) == 0
    first = load_card(out)
    capsys.readouterr()

    with monkeypatch.context() as m:  # refused before any data is loaded or any training done
        _no_data_loading(m, tmp_path)
        assert main(["train", *TINY, "--epochs", "1", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {out} already holds a model: pass --force to replace it, or choose another --out\n"
    assert load_card(out) == first

    assert main(["train", *TINY, "--epochs", "1", "--force", "--out", str(out)]) == 0
    second = load_card(out)
    assert second.train_config.epochs == 1 and len(second.history) == 1 and second.created_at >= first.created_at
    load_model(out)


def test_out_never_replaces_a_folder_that_is_not_a_model(tmp_path, capsys):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "todo.txt").write_text("keep me")
    for force in ([], ["--force"]):
        assert main(["train", *TINY, *force, "--out", str(folder)]) == 2
        assert f"error: {folder} is a folder of other files, not a model: choose another --out" in capsys.readouterr().err
    assert (folder / "todo.txt").read_text() == "keep me" and sorted(p.name for p in folder.iterdir()) == ["todo.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["train", *TINY, "--epochs", "1", "--out", str(empty)]) == 0  # an empty folder is free to use
    load_model(empty)


def test_model_metrics_reports_progress_up_to_the_total():
    x = vae.data.load_dataset("digits", "test").x[:120]
    model = build_model(VAEConfig(input_shape=(1, 8, 8), hidden_dims=(16,)), seed=0).eval()
    calls = []
    metrics = model_metrics(model, x, iwae_k=5, batch_size=50, on_progress=lambda done, total: calls.append((done, total)))
    assert calls == [(0, 120), (50, 120), (100, 120), (120, 120)]  # the ELBO pass, then each IWAE batch
    assert metrics == model_metrics(model, x, iwae_k=5, batch_size=50)  # watching changes nothing
    calls.clear()
    model_metrics(model, x, on_progress=lambda done, total: calls.append((done, total)))
    assert calls == [(120, 120)]  # no IWAE: one call after the ELBO pass


def test_evaluate_shows_a_progress_bar_for_the_iwae_pass_unless_quiet(tmp_path, monkeypatch, capsys):
    out = tmp_path / "m"
    assert main(["train", *TINY, "--epochs", "1", "--out", str(out)]) == 0
    bars = []

    class Bar(tqdm.tqdm):  # the real bar (hidden here: stderr is not a terminal), recorded
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.kwargs, self.updates = kwargs, []
            bars.append(self)

        def update(self, n=1):
            self.updates.append(n)
            return super().update(n)

    monkeypatch.setattr(tqdm, "tqdm", Bar)
    assert main(["evaluate", str(out), "--iwae-k", "20", "--n-images", "60"]) == 0
    [bar] = bars
    assert bar.kwargs["total"] == 60 and bar.kwargs["unit"] == "image" and bar.kwargs["file"] is sys.stderr
    assert bar.kwargs["disable"] is None  # shown on a terminal, silent in a pipe, like train's bar
    assert sum(bar.updates) == 60 and all(n >= 0 for n in bar.updates)
    bars.clear()
    assert main(["evaluate", str(out), "--iwae-k", "20", "--n-images", "60", "--quiet"]) == 0
    assert bars == []


def _info(capsys, path) -> list[str]:
    capsys.readouterr()
    assert main(["info", str(path)]) == 0
    return capsys.readouterr().out.splitlines()


def test_info_describes_a_trained_model_in_aligned_rows(tmp_path, capsys):
    out = tmp_path / "digits-tiny"
    assert main(["train", *TINY, "--iwae-k", "5", "--out", str(out)]) == 0
    lines = _info(capsys, out)
    text = "\n".join(lines)
    assert lines[0] == f"model           {out}"
    assert "dataset         digits (1,437 train / 360 test images)" in lines
    assert "architecture    MLP 32, latent 2, Bernoulli decoder, standard prior" in lines
    assert re.search(r"^training        2 of 2 epochs, complete, \d+\.\d s, trained in the cli$", text, re.M)
    assert f"                batch 64, lr 0.002 (cosine), beta 1, warm-up 0 epochs, seed 0, {AUTO}" in lines
    assert "test metrics    nats per image, 360 images" in lines
    m = load_card(out).metrics
    assert f"  -ELBO           {m.neg_elbo:8.2f}" in lines and f"  -log p(x) IWAE  {m.iwae_nll:8.2f}  (k=5)" in lines
    assert f"  active units    {m.active_units:8d} of 2" in lines
    assert re.search(r"^created         \d{4}-\d\d-\d\d \d\d:\d\d UTC with vae_explorer \S+, torch \S+, python \S+$", text, re.M)
    # Every value starts in the same column.
    assert all(line[16] != " " for line in lines if not line.startswith("  "))


def test_info_on_a_bare_card_says_what_is_unknown(tmp_path, capsys):
    config = VAEConfig(input_shape=(1, 28, 28), latent_dim=3, hidden_dims=(64, 32), likelihood="gaussian",
                       n_classes=10, prior="mog", prior_components=4)
    save_model(build_model(config, seed=0), tmp_path / "bare", ModelCard.new(config, "fashion-mnist", train_seconds=119.6))
    lines = _info(capsys, tmp_path / "bare")
    assert ("architecture    MLP 64-32, latent 3, Gaussian decoder (std 0.1), mixture prior of 4 Gaussians, "
            "conditional on 10 classes") in lines
    assert "dataset         fashion-mnist (? train / ? test images)" in lines
    assert "training        0 epochs, status unknown, 2 min 0 s" in lines
    assert "test metrics    not measured (vae-explorer evaluate --update-card stores them)" in lines
