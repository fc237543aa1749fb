"""Security settings and what a hostile user or file could try.

- The app listens on 127.0.0.1 only, keeps Streamlit's XSRF protection and a 20 MB upload
  limit: read from .streamlit/config.toml, and checked on a real server started with no
  address flag (it must not answer on the machine's network address, and must refuse an upload
  without the XSRF token).
- The README's command binds to 127.0.0.1.
- No code path unpickles: a pickle planted as a model's weights is refused, never run.
- A model name typed into the Train page cannot leave the models folder.
(Checkpoint-level cases live in test_checkpoint.py; uploads' filenames in e2e/test_hostile_uploads.py.)
"""

from __future__ import annotations

import re
import shutil
import socket
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import torch

from tools.appserver import streamlit_app
from vae.checkpoint import WEIGHTS_FILE, CheckpointError, list_models, load_model

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / ".streamlit" / "config.toml"


def test_config_listens_on_localhost_with_xsrf_on_and_a_bounded_upload():
    server = tomllib.loads(CONFIG.read_text())["server"]
    assert server["address"] == "127.0.0.1"
    assert server["enableXsrfProtection"] is True
    assert server.get("enableCORS", True) is True  # Streamlit turns XSRF off when CORS is off
    assert 1 <= server["maxUploadSize"] <= 20


def test_readme_run_command_binds_to_localhost():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```(?:bash|sh|console)?\n(.*?)```", readme, flags=re.S)
    commands = [line for block in blocks for line in block.splitlines() if "streamlit run" in line]
    assert commands, "the README shows no `streamlit run` command"
    for line in commands:
        assert re.search(r"--server\.address[ =](127\.0\.0\.1|localhost)\b", line), line


def test_no_code_path_unpickles():
    """Weights are safetensors only: nothing in the app or the core calls torch.load or pickle."""
    sources = [ROOT / "app.py", *ROOT.glob("vae/*.py"), *ROOT.glob("explorer/*.py"), *ROOT.glob("pages/**/*.py"), *ROOT.glob("benchmarks/*.py")]
    pattern = re.compile(r"torch\.load\(|pickle\.loads?\(|import pickle|weights_only\s*=\s*False|dill|joblib\.load")
    offenders = [f"{p.relative_to(ROOT)}:{n}" for p in sources for n, line in enumerate(p.read_text().splitlines(), 1)
                 if pattern.search(line)]
    assert not offenders, offenders


def test_a_planted_pickle_is_listed_as_broken_and_never_runs(tmp_path):
    """A model folder whose weights are a pickle with a payload: the picker says it is broken and
    loading it fails; the payload never runs (it would create a file)."""
    shipped = ROOT / "models" / "digits-z2"
    if not (shipped / WEIGHTS_FILE).is_file():
        pytest.skip("the shipped digits-z2 model is not trained yet")
    evil = tmp_path / "models" / "free-model"
    shutil.copytree(shipped, evil)
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (exec, (f"open({str(marker)!r}, 'w').write('pwned')",))

    torch.save({"decoder.weight": Payload()}, evil / WEIGHTS_FILE)
    ((path, card, error),) = list_models(tmp_path / "models")
    assert card is None and "model.safetensors is corrupted or truncated" in error
    with pytest.raises(CheckpointError, match="corrupted or truncated"):
        load_model(evil)
    assert not marker.exists()


UNSAFE_NAMES = ["../escaped", "../../tmp/escaped", "/tmp/escaped-abs", "sub/escaped", "..", ".hidden", "C:\\escaped",
                "two\nlines", "x" * 65]


def test_the_train_page_name_box_cannot_leave_the_models_folder(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    user = tmp_path / "inner" / "user-models"
    user.mkdir(parents=True)
    monkeypatch.setenv("VAE_USER_MODELS_DIR", str(user))
    monkeypatch.chdir(tmp_path)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    at.switch_page("pages/build/train.py").run()
    for name in UNSAFE_NAMES:
        at.text_input(key="train_name").set_value(name)
        at.number_input(key="train_epochs").set_value(1)
        at.button(key="train_start").click().run()
        assert not at.exception, [e.value for e in at.exception]
        assert any("invalid model name" in e.value for e in at.main.error), (name, [e.value for e in at.main.error])
        assert "train_job" not in at.session_state, name
    # Nothing was written anywhere: not in the models folder, not beside or above it.
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == ["inner", "inner/user-models"]
    assert not Path("/tmp/escaped-abs").exists() and not Path("/tmp/escaped").exists()


def _network_address() -> str | None:
    """This machine's address on its network (no packet is sent), or None without one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))
            address = s.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_a_server_started_without_flags_is_local_only_and_checks_xsrf(tmp_path):
    """`streamlit run app.py` with nothing but the project's config: loopback only, XSRF enforced."""
    env = {"VAE_USER_MODELS_DIR": str(tmp_path / "models")}
    with streamlit_app(tmp_path / "server.log", env, flags=("--server.headless", "true"), timeout_s=90) as app:
        address = _network_address()
        if address is not None:
            with pytest.raises(OSError):  # refused: nothing listens there
                socket.create_connection((address, app.port), timeout=2).close()
        request = urllib.request.Request(f"{app.url}/_stcore/upload_file/some-session/some-file",
                                         data=b"x", method="PUT")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 403 and "XSRF" in refused.value.read().decode()
