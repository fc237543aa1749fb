"""Two languages, English and 简体中文: gettext catalogues read with Babel.

The code is written in English and marks what a reader sees: `_("...")` where the text is shown,
`N_("...")` for a module-level constant that is translated later, where it is shown (`_(CONSTANT)`),
`ngettext(singular, plural, n)` where English needs a plural, `lazy("...")` for text that Streamlit
keeps from import time and turns into text when it shows it (a cache's spinner). Text with values in it uses named
fields, `_("{n} test images").format(n=...)`, never an f-string: the extractor must see the words,
and a translation may move the fields. Maths stays maths (LaTeX in a message is kept as it is).

The Chinese lives in `locales/zh/*.po`, one catalogue file per part of the app (so parts can be
translated side by side), merged when first needed. `locales/messages.pot` is what
`python -m tools.i18n extract` finds in the code; tests check that every message found has a
Chinese translation whose fields match.

This package does not know Streamlit: the pages tell it where the current language comes from
(`use_language_source`, the session's sidebar switch); code without a page (tests, the CLI)
speaks English unless inside `speaking("zh")`. Anything cached that holds text must take the
language as an argument, or the first language to fill the cache would be shown to everyone.
"""

from __future__ import annotations

import gettext
import io
import string
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path

LANGUAGES = {"en": "English", "zh": "简体中文"}  # code (as in ?lang=zh) -> the language's own name
DEFAULT = "en"
LOCALES = Path(__file__).resolve().parent.parent / "locales"
CATALOGUE_LOCALES = {"zh": "zh_Hans_CN"}  # our short codes -> the locale Babel writes in the files

_override: ContextVar[str | None] = ContextVar("vae_explorer_language", default=None)
_source: Callable[[], str] = lambda: DEFAULT


def use_language_source(source: Callable[[], str]) -> None:
    """Where `language()` reads the current language from (the pages: the session's switch)."""
    global _source
    _source = source


def language() -> str:
    """The language text is shown in now: a `speaking(...)` block's, else the source's; "en" if unknown."""
    lang = _override.get() or _source()
    return lang if lang in LANGUAGES else DEFAULT


@contextmanager
def speaking(lang: str) -> Iterator[None]:
    """Within the block, `language()` is `lang` (tests, and code that writes for one reader)."""
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}; choose one of {', '.join(LANGUAGES)}")
    token = _override.set(lang)
    try:
        yield
    finally:
        _override.reset(token)


def catalogue_files(lang: str) -> list[Path]:
    return sorted((LOCALES / lang).glob("*.po"))


def read_catalogue(lang: str):
    """All of `lang`'s .po files as one Babel catalogue (the first file to translate a message wins)."""
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import read_po

    merged = Catalog(locale=CATALOGUE_LOCALES.get(lang, lang), domain="messages")
    for path in catalogue_files(lang):
        with path.open("rb") as f:
            for message in read_po(f, locale=CATALOGUE_LOCALES.get(lang, lang)):
                if message.id and message.id not in merged:
                    merged[message.id] = message
    return merged


@lru_cache(maxsize=None)
def translations(lang: str) -> gettext.NullTranslations:
    """`lang`'s translations (compiled in memory from the .po files); English: the text itself."""
    if lang == DEFAULT:
        return gettext.NullTranslations()
    from babel.messages.mofile import write_mo

    buffer = io.BytesIO()
    write_mo(buffer, read_catalogue(lang), use_fuzzy=False)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def _(message: str) -> str:
    """`message` in the current language (itself where no translation exists)."""
    return translations(language()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(language()).ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark a constant for the extractor; translate it where it is shown, with `_(constant)`."""
    return message


class LazyText(str):
    """A message that translates itself each time it is made text (`str(...)`): for text fixed when a
    module is imported but shown later, such as a cache decorator's spinner."""

    def __str__(self) -> str:
        return _(str.__str__(self))


def lazy(message: str) -> LazyText:
    """`message`, marked for the extractor, translated whenever it is shown (see `LazyText`)."""
    return LazyText(message)


def fields(text: str) -> set[str]:
    """The `str.format` fields a message uses ({n}, {name:.1f} -> {"n", "name"})."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
