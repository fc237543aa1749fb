"""Shared by the page tests: the app's page files, and choosing a model in the sidebar picker by its name."""

import re
from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parent.parent / "app.py"
# every page file in app.py's st.navigation, in menu order
PAGE_FILES = re.findall(r'st\.Page\("(pages/[a-z]+/[a-z_]+\.py)"', APP.read_text())


def select_model(at: AppTest, name: str) -> AppTest:
    """Pick the model called `name` (its label starts "name ·") and rerun; returns the rerun app."""
    picker = at.sidebar.selectbox(key="model_picker")
    return picker.select(next(o for o in picker.options if o.startswith(f"{name} ·"))).run()
