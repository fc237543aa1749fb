"""Links that open a view: the state worth putting in a slide's link, to and from a URL's query string.

A lecturer copies a link to, say, the Decoder at one code z of one model; opening it in a fresh
browser (or reloading the page) must show that view again. Widgets with a key carry their own
values in the URL (Streamlit's `bind="query-params"`); what is not a widget (the model, a code z
dragged in the browser, a point clicked on a map) is written and read here. Every parser returns
None for a missing or malformed value: a link typed or truncated by hand must never break a page.
No Streamlit here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from urllib.parse import urlencode

MODEL = "model"  # the model's name (its folder), e.g. ?model=mnist-z16
CODE = "z"  # a latent code, comma-separated, e.g. ?z=0.50,-1.25
ROW = "row"  # a test image's row in the split the app shows


def format_code(z: Sequence[float]) -> str:
    """A code as the URL carries it: two decimals (the sliders' step), comma-separated."""
    return ",".join(f"{float(v):.2f}".replace("-0.00", "0.00") for v in z)


def parse_code(text: str | None, latent_dim: int, reach: Sequence[float] | None = None) -> list[float] | None:
    """A code of `latent_dim` finite numbers, each clipped to ±reach[k] when given; None if malformed."""
    if not text:
        return None
    try:
        z = [float(v) for v in text.split(",")]
    except ValueError:
        return None
    if len(z) != latent_dim or not all(math.isfinite(v) for v in z):
        return None
    if reach is not None:
        z = [max(-r, min(r, v)) for v, r in zip(z, reach)]
    return z


def parse_index(text: str | None, size: int) -> int | None:
    """A whole number in 0 .. size - 1, or None."""
    if text is None or not text.strip().isdigit():
        return None
    value = int(text)
    return value if value < size else None


def parse_name(text: str | None, names: Sequence[str]) -> str | None:
    """One of `names` exactly, or None."""
    return text if text in names else None


def share_url(app_url: str | None, page_path: str, params: Mapping[str, str]) -> str:
    """The link to a page with these query parameters.

    app_url: the address the browser shows without its query (Streamlit's `st.context.url`: it ends with
    the page's path, e.g. http://host:8501/decoder); None when unknown, and then the link is relative.
    """
    base = (app_url or "").rstrip("/")
    if page_path and not base.endswith(f"/{page_path}"):
        base = f"{base}/{page_path}"
    query = urlencode(sorted(params.items()), safe=",")
    return (base or "/") + (f"?{query}" if query else "")
