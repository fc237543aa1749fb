"""The house rules that keep the code readable, checked: imports run one way, pages stay in their folders.

pages/ -> explorer/ -> vae/: the core imports neither the app package nor Streamlit or Plotly; the
app package never imports Streamlit or the pages; benchmarks and tests never import each other.
"""

import ast
from pathlib import Path

import pytest
from apptest import PAGE_FILES
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
PAGES = PAGE_FILES


def imported_modules(path: Path) -> set[str]:
    """Top-level names of every module a file imports (at any depth in the file)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("folder, forbidden", [
    ("vae", {"explorer", "pages", "streamlit", "plotly", "tests", "benchmarks"}),
    ("explorer", {"pages", "streamlit", "tests", "benchmarks"}),
    ("benchmarks", {"tests"}),
    ("tests", {"benchmarks"}),
])
def test_imports_run_one_way(folder, forbidden):
    offenders = {str(p.relative_to(ROOT)): sorted(imported_modules(p) & forbidden)
                 for p in (ROOT / folder).rglob("*.py")}
    assert not {k: v for k, v in offenders.items() if v}


def test_pages_sit_in_section_folders_and_none_directly_in_pages():
    assert not list((ROOT / "pages").glob("*.py")), "a .py file directly in pages/ turns on Streamlit's legacy multipage mode"
    sections = {Path(p).parent.name for p in PAGES}
    assert sections == {"learn", "explore", "build"}


@pytest.mark.parametrize("page", ["pages/learn/kl.py", "pages/explore/decoder.py", "pages/build/train.py"])
def test_the_sidebar_picker_stays_through_reruns(page, tmp_path, monkeypatch):
    """AppTest keeps app.py's sidebar (the model picker) on every page across reruns."""
    monkeypatch.setenv("VAE_USER_MODELS_DIR", str(tmp_path / "user-models"))
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    at.switch_page(page).run()
    for _ in range(2):
        assert not at.exception, [e.value for e in at.exception]
        assert at.sidebar.selectbox(key="model_picker").value.startswith("mnist-z2 ·")
        at.run()
