"""Links that open a view (see explorer.links): read once from the URL, written back on every run, shown to copy.

Widgets carry their own values in the URL with `bind="query-params"` (their key is the parameter's
name). What is not a widget is read with `from_link` (once per page and session: a fresh browser
opening a link, or a reload, starts a new session) and written with `publish`.
"""

from __future__ import annotations

import streamlit as st

from explorer.i18n import _
from explorer.links import share_url

BIND = "query-params"  # for widgets: st.slider(..., key=..., bind=BIND)


def set_page_path(url_path: str) -> None:
    """Called by app.py with the page st.navigation is about to run."""
    st.session_state["_page_path"] = url_path


def from_link(param: str) -> str | None:
    """The URL's `param` on this page's first run in this session; None on later runs or when absent."""
    seen = st.session_state.setdefault("_read_from_link", set())
    key = (st.session_state.get("_page_path", ""), param)
    if key in seen:
        return None
    seen.add(key)
    return st.query_params.get(param)


def publish(param: str, value: str | None) -> None:
    """Put `param` in the URL (or take it out for None), so a reload or a copied link keeps it."""
    if value is None:
        st.query_params.pop(param, None)
    elif st.query_params.get(param) != value:
        st.query_params[param] = value


def link_ui(key: str) -> None:
    """A button that shows the link to this view, ready to copy."""
    with st.popover(_("Link"), icon=":material/link:", key=key, help=_("A link to this view, to copy into a slide")):
        url = share_url(st.context.url, st.session_state.get("_page_path", ""), st.query_params.to_dict())
        st.caption(_("Copy it with the icon at its right, e.g. into a slide: it opens this page as it is now, "
                     "in any browser that can reach this app."))
        st.code(url, language=None, wrap_lines=True)
