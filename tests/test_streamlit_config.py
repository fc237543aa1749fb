"""The app's `.streamlit/config.toml`: no first-run e-mail prompt, and Streamlit reads every option in it.

Streamlit asks for an e-mail address in the terminal the first time `streamlit run` starts when it
is not headless (a desktop with DISPLAY set) and waits for the answer before it serves the app;
`server.showEmailPrompt = false` turns that off. (Security settings: test_security.py.)
"""

import json
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
    """Streamlit, started in the project folder, reports each option of the file as set there, with the
    file's value: a misspelt or retired option name would be silently ignored. (Asked through its config
    API rather than `streamlit config show`, which leaves out hidden options such as runner.postScriptGC.)"""
    env = {**os.environ, "HOME": str(tmp_path)}  # no ~/.streamlit/config.toml of the developer's
    expected = {f"{s}.{k}": v for s, options in tomllib.loads(CONFIG.read_text()).items() for k, v in options.items()}
    code = ("import json, sys; from streamlit import config; config.get_config_options(force_reparse=True); "
            "opts = config._config_options; keys = json.loads(sys.argv[1]); "
            "print(json.dumps({k: [opts[k].value, opts[k].where_defined] if k in opts else None for k in keys}))")
    out = subprocess.run([sys.executable, "-c", code, json.dumps(list(expected))], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120, check=True).stdout
    shown = json.loads(out.splitlines()[-1])
    assert {k: v and v[0] for k, v in shown.items()} == expected
    assert all(v[1] == str(CONFIG) for v in shown.values()), shown
    assert expected["server.showEmailPrompt"] is False and expected["runner.postScriptGC"] is False
