"""Shared by the AppTest page tests: choose a model in the sidebar picker by its name."""

from streamlit.testing.v1 import AppTest


def select_model(at: AppTest, name: str) -> AppTest:
    """Pick the model called `name` (its label starts "name ·") and rerun; returns the rerun app."""
    picker = at.sidebar.selectbox(key="model_picker")
    return picker.select(next(o for o in picker.options if o.startswith(f"{name} ·"))).run()
