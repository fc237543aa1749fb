"""Shared by the language tests: find English sentences left in what a page shows in Chinese.

An "English sentence" is two or more English words in a row (so a left-over button label counts too;
words of two or more letters with a lower-case letter: acronyms such as VAE, ELBO, KL or MNIST, model names such as mnist-z2, numbers and
maths do not count). `page_texts` collects what an AppTest page shows: titles, text, captions, alerts,
widget labels, options, help tooltips, metric labels, tab and expander labels, image captions, and the text of its
Plotly figures (titles, axis titles, legend names, annotations, hover templates).
"""

from __future__ import annotations

import json
import re

from streamlit.testing.v1 import AppTest

WORD = r"(?=[A-Za-z]{2})[A-Za-z]*[a-z][A-Za-z]*(?:['’][a-z]+)?"
SENTENCE = re.compile(rf"(?<![\w\-/.])({WORD})(?:[ \t,;:]+(?:{WORD})){{1,}}(?![\w\-/])")
# Written this way in Chinese textbooks too: paper titles and names kept in their language.
ALLOWED = ("Auto-Encoding Variational Bayes", "Importance Weighted Autoencoders", "Kingma & Welling",
           "Burda et al", "Higgins et al", "Alemi et al", "Do Deep Generative Models Know What They Don't Know",
           "Cremer, Li & Duvenaud", "Inference Suboptimality in Variational Autoencoders", "Cremer et al",
           "Bayes by Backprop", "Blundell, Cornebise, Kavukcuoglu & Wierstra", "Weight Uncertainty in Neural Networks")
LATEX = re.compile(r"\$\$.*?\$\$|\$[^$]*\$|\\\(.*?\\\)|\\\[.*?\\\]", re.S)
HTML_TAG = re.compile(r"<[^>]+>")
FIGURE_TEXT_KEYS = {"text", "name", "hovertemplate", "title"}


def english_sentences(text: str) -> list[str]:
    """The English sentences in `text` (maths, HTML tags and allowed names removed first)."""
    text = HTML_TAG.sub(" ", LATEX.sub(" ", text))
    for name in ALLOWED:
        text = text.replace(name, " ")
    text = re.sub(r":material/[a-z_]+:", " ", text)
    return [m.group(0) for m in SENTENCE.finditer(text)]


def _figure_texts(spec: str) -> list[str]:
    out: list[str] = []

    def walk(node, key=None):
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, k)
        elif isinstance(node, list):
            for v in node:
                walk(v, key)
        elif isinstance(node, str) and key in FIGURE_TEXT_KEYS:
            out.append(node)

    try:
        walk(json.loads(spec))
    except ValueError:
        pass
    return out


def page_texts(at: AppTest) -> list[str]:
    """Every piece of text the page (main area and sidebar) shows, as listed in the module docstring."""
    texts: list[str] = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "info", "warning", "error", "success", "text"):
        texts += [str(e.value) for e in getattr(at, kind)]
    for kind in ("button", "checkbox", "toggle", "radio", "selectbox", "slider", "select_slider", "multiselect",
                 "number_input", "text_input", "segmented_control", "pills", "download_button", "file_uploader",
                 "metric", "expander", "tabs", "text_area"):
        try:
            elements = list(at.get(kind))
        except Exception:  # noqa: BLE001 - a kind this Streamlit does not know
            continue
        for e in elements:
            for attr in ("label", "help", "placeholder"):
                value = getattr(e, attr, None)
                if isinstance(value, str):
                    texts.append(value)
            proto = getattr(e, "proto", None)
            options = getattr(e, "options", None)
            if options and not isinstance(options, str):
                texts += [str(o) for o in options]
            if proto is not None and getattr(proto, "label", None) and kind in ("expander", "tabs"):
                texts.append(proto.label)
    for image in at.get("image"):  # an image list's captions
        proto = getattr(image, "proto", None)
        texts += [i.caption for i in getattr(proto, "imgs", [])]
    for chart in at.get("plotly_chart"):
        proto = getattr(chart, "proto", None)
        spec = getattr(proto, "spec", "") or getattr(proto, "figure", None) and proto.figure.spec or ""
        texts += _figure_texts(spec)
    return [t for t in texts if t]


def untranslated(at: AppTest) -> list[str]:
    """The English sentences on an AppTest page (see `english_sentences`), each with the text it sits in."""
    return [f"{s!r} in {t[:120]!r}" for t in page_texts(at) for s in english_sentences(t)]


def open_in_chinese(page: str, monkeypatch, tmp_path, model: str | None = None) -> AppTest:
    """`page` (a file in pages/, or "" for the home page) opened through app.py with ?lang=zh, on the
    default model or `model` (a name such as "digits-z2"); user models in a fresh folder."""
    from apptest import APP, select_model

    monkeypatch.setenv("VAE_USER_MODELS_DIR", str(tmp_path / "user-models"))
    at = AppTest.from_file(str(APP), default_timeout=300)
    at.query_params["lang"] = "zh"
    at.run()
    if model is not None:
        select_model(at, model)
    if page and page != "pages/learn/home.py":
        at.switch_page(page).run()
    return at


def image_captions(at: AppTest) -> list[str]:
    """The captions under the page's images."""
    return [img.caption for el in at.get("image") for img in el.proto.imgs if img.caption]


def assert_chinese(at: AppTest) -> AppTest:
    """No exception on the page and no English sentence in what it shows (`page_texts`); returns `at`."""
    assert not at.exception, [e.value for e in at.exception]
    left = untranslated(at)
    assert not left, "\n".join(left)
    return at


def set_in_chinese(widget, value) -> AppTest:
    """Set a widget whose options are shown translated, and rerun. AppTest matches the value through the
    widget's format_func, called in the test's own thread, which speaks English unless told otherwise."""
    from explorer import i18n

    with i18n.speaking("zh"):
        return widget.set_value(value).run()
