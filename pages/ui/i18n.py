"""The session's language: the sidebar's English / 简体中文 switch, kept in the URL as ?lang=zh.

Importing this module tells `explorer.i18n` to read the language from the session, so that `_()`
anywhere in a page's run (the pages' text, the figures' labels, the error messages) speaks the
reader's language. Outside a Streamlit run (tests calling the app package) it stays English.
"""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from explorer import i18n
from explorer.i18n import _

LANG_KEY = "lang"  # the widget's key, and so the URL's parameter: ?lang=zh


def session_language() -> str:
    if get_script_run_ctx() is None:
        return i18n.DEFAULT
    # Before the switch is drawn in a session's first run, a link's ?lang=zh is only in the URL.
    return st.session_state.get(LANG_KEY) or st.query_params.get(LANG_KEY) or i18n.DEFAULT


i18n.use_language_source(session_language)


def language_ui() -> str:
    """The switch, in the sidebar; call it before any text is drawn. Returns the language.

    Not a widget bound to the URL (Streamlit would put the option's shown name, "简体中文", in the
    address): the short code is read from a link on the session's first run and written back on
    every run, so page switches and reloads keep it.
    """
    state = st.session_state
    if state.get(LANG_KEY) not in i18n.LANGUAGES:
        linked = st.query_params.get(LANG_KEY)
        state[LANG_KEY] = linked if linked in i18n.LANGUAGES else i18n.DEFAULT
    with st.sidebar:
        st.segmented_control("Language · 语言", list(i18n.LANGUAGES), format_func=i18n.LANGUAGES.get, key=LANG_KEY,
                             required=True, help=_("The app's language. A link keeps it (?lang=zh)."))
    lang = i18n.language()
    if lang == i18n.DEFAULT:
        st.query_params.pop(LANG_KEY, None)
    else:
        if st.query_params.get(LANG_KEY) != lang:
            st.query_params[LANG_KEY] = lang
        st.html(uploader_css())
    return lang


def uploader_css() -> str:
    """Streamlit's file-upload box writes its button ("Upload") and its limit line ("20MB per file • PNG,
    JPG, ...") in English, with no way to change them: in another language, CSS draws them anew."""
    limit = _("At most {mb} MB per file").format(mb=st.get_option("server.maxUploadSize"))
    return f"""<style>
[data-testid="stFileUploaderDropzone"] button [data-testid="stMarkdownContainer"] p {{ font-size: 0; }}
[data-testid="stFileUploaderDropzone"] button [data-testid="stMarkdownContainer"] p::after {{
  content: "{_("Upload")}"; font-size: 1rem; }}
[data-testid="stFileUploaderDropzoneInstructions"] span {{ font-size: 0; }}
[data-testid="stFileUploaderDropzoneInstructions"] span::after {{ content: "{limit}"; font-size: 0.875rem; }}
</style>"""
