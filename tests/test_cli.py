"""The `vae-explorer` command end to end on tiny configs (the bundled 8x8 digits, offline)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vae.checkpoint import load_card, load_model
from vae.cli import main

TINY = ["--dataset", "digits", "--latent-dim", "2", "--hidden-dims", "32", "--epochs", "2", "--batch-size", "64", "--quiet"]


def test_train_then_evaluate_then_info(tmp_path, capsys):
    out = tmp_path / "digits-tiny"
    assert main(["train", *TINY, "--iwae-k", "5", "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert "test metrics on digits" in printed.out and f"saved {out}" in printed.err
    card = load_card(out)
    assert card.dataset == "digits" and card.status == "complete" and len(card.history) == 2
    assert card.train_config.epochs == 2 and card.config.input_shape == (1, 8, 8)
    assert card.train_config.precision == "float32"
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


def test_bfloat16_training_is_recorded_in_the_card(tmp_path):
    out = tmp_path / "model"
    assert main(["train", *TINY, "--precision", "bfloat16", "--quiet", "--out", str(out)]) == 0
    card = load_card(out)
    assert card.train_config.precision == "bfloat16" and card.metrics.neg_elbo > 0
    assert load_model(out)[0].to_moments.weight.dtype == torch.float32


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


def test_console_script_help():
    exe = Path(sys.executable).parent / "vae-explorer"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "vae.cli"]
    for sub in ("train", "evaluate", "info"):
        res = subprocess.run([*cmd, sub, "--help"], capture_output=True, text=True, timeout=120)
        assert res.returncode == 0 and "usage: vae-explorer" in res.stdout
    assert "--latent-dim" in subprocess.run([*cmd, "train", "--help"], capture_output=True, text=True, timeout=120).stdout
