"""`vae-explorer gaps`: the gap decomposition of a shipped model from the command line."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from data_root import require_shipped_model
from vae.cli import main

pytestmark = pytest.mark.slow  # each test trains or measures a model for seconds

DIGITS = Path(__file__).resolve().parent.parent / "models" / "digits-z2"


def test_gaps_json_on_digits(capsys):
    assert main(["gaps", str(require_shipped_model(DIGITS)), "--n", "4", "--steps", "60", "--json", "--offline"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert {"log_px", "elbo_encoder", "elbo_optimised", "approximation_gap", "amortisation_gap", "n_images",
            "dataset"} <= set(result)
    assert result["n_images"] == 4 and result["dataset"] == "digits" and result["log_px_method"] == "grid"
    assert result["approximation_gap"] == pytest.approx(result["log_px"] - result["elbo_optimised"])
    assert result["amortisation_gap"] == pytest.approx(result["elbo_optimised"] - result["elbo_encoder"])
    assert result["log_px"] >= result["elbo_optimised"] - 0.1 and result["elbo_optimised"] >= result["elbo_encoder"] - 0.1


def test_gaps_table():
    proc = subprocess.run([sys.executable, "-m", "vae.cli", "gaps", str(require_shipped_model(DIGITS)), "--n", "2",
                           "--steps", "20"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "inference gaps on digits (2 test images" in proc.stdout
    assert "approximation gap" in proc.stdout and "amortisation gap" in proc.stdout


@pytest.mark.parametrize("flags, message", [
    (["--n", "0"], "--n must be an integer >= 1"),
    (["--steps", "0"], "--steps must be an integer >= 1"),
    (["--seed", "-1"], "--seed must be an integer >= 0"),
])
def test_bad_flags_are_refused_before_anything_loads(flags, message, tmp_path, capsys):
    # The model folder does not exist: the flag is refused first, with one line and no traceback.
    assert main(["gaps", str(tmp_path / "missing"), *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_missing_model_is_one_line(tmp_path, capsys):
    assert main(["gaps", str(tmp_path / "missing"), "--n", "2"]) == 2
    assert "error:" in capsys.readouterr().err


def test_a_plain_autoencoder_has_no_gaps_and_says_so(capsys):
    ae = require_shipped_model(DIGITS.parent / "mnist-ae-z2")
    assert main(["gaps", str(ae), "--n", "2", "--offline"]) == 2
    err = capsys.readouterr().err
    assert "plain autoencoder" in err and "Traceback" not in err
