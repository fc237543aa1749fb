"""The app's `.streamlit/config.toml`: no first-run e-mail prompt, and Streamlit reads every option in it.

Streamlit asks for an e-mail address in the terminal the first time `streamlit run` starts when it
is not headless (a desktop with DISPLAY set) and waits for the answer before it serves the app;
`server.showEmailPrompt = false` turns that off. (Security settings: test_security.py.)
"""

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / ".streamlit" / "config.toml"


def test_config_turns_off_the_email_prompt():
    server = tomllib.loads(CONFIG.read_text())["server"]
    assert server["showEmailPrompt"] is False


@pytest.mark.slow
def test_streamlit_takes_every_option_from_the_config_file(tmp_path):
    """`streamlit config show` in the project folder reports each option of the file as set there,
    with the file's value: a misspelt or retired option name would be silently ignored."""
    env = {**os.environ, "HOME": str(tmp_path)}  # no ~/.streamlit/config.toml of the developer's
    out = subprocess.run([sys.executable, "-m", "streamlit", "config", "show"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120, check=True).stdout
    shown, section, from_file = {}, None, False
    for line in out.splitlines():
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif line == f"# The value below was set in {CONFIG}":
            from_file = True
        elif from_file and line and not line.startswith("#"):
            (key, value), = tomllib.loads(line).items()
            shown[f"{section}.{key}"] = value
            from_file = False
    expected = {f"{s}.{k}": v for s, options in tomllib.loads(CONFIG.read_text()).items() for k, v in options.items()}
    assert shown == expected
    assert shown["server.showEmailPrompt"] is False
