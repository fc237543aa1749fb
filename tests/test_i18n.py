"""English and 简体中文: every message the app marks has a Chinese translation, and the switch works."""

from __future__ import annotations

import pytest

from explorer import i18n
from explorer.i18n import _
from tools import i18n as catalogue_tool


def test_every_marked_message_has_a_chinese_translation_with_the_same_fields():
    found = catalogue_tool.extract()
    assert len(found) > 100  # the pages' text is marked, not only a handful of strings
    problems = catalogue_tool.problems("zh")
    assert not problems, "\n".join(problems[:40]) + (f"\n... and {len(problems) - 40} more" if len(problems) > 40 else "")


def test_the_catalogues_pass_babel_s_checks_and_hold_no_stale_messages():
    catalogue = i18n.read_catalogue("zh")
    # Babel also checks printf-style placeholders, and takes "50%, 90%" for them; the messages use
    # str.format fields instead, checked above. Every other check (plural forms) applies.
    errors = [(m.id, msgs) for m, errs in catalogue.check()
              if (msgs := [str(e) for e in errs if "placeholders" not in str(e)])]
    assert not errors, errors[:10]
    in_code = {f.message for f in catalogue_tool.extract()}
    ids = [m.id[0] if isinstance(m.id, (tuple, list)) else m.id for m in catalogue]  # plural entries: the singular
    stale = sorted(i for i in ids if i and i not in in_code)
    assert not stale, f"translations of messages the code no longer has: {stale[:20]}"


def test_speaking_switches_the_language_and_english_is_the_default():
    message = catalogue_tool.extract()[0].message
    assert _(message) == message
    with i18n.speaking("zh"):
        assert i18n.language() == "zh"
        assert _(message) != message
    assert i18n.language() == "en"
    with pytest.raises(ValueError, match="unknown language"):
        with i18n.speaking("fr"):
            pass


def test_fields_are_read_from_format_strings():
    assert i18n.fields("{n} test images, {share:.0%} of them") == {"n", "share"}
    assert i18n.fields("no fields, {{braces}}") == set()


def test_fashion_mnist_class_names_are_shown_translated_and_digits_stay_digits():
    from explorer.registry import FASHION_CLASSES, class_labels
    from vae.data import CLASS_NAMES

    assert tuple(CLASS_NAMES["fashion-mnist"]) == FASHION_CLASSES  # every name the data gives is marked
    with i18n.speaking("zh"):
        shown = class_labels(CLASS_NAMES["fashion-mnist"] + ["3"])
    assert shown[-1] == "3" and shown[CLASS_NAMES["fashion-mnist"].index("Ankle boot")] == "短靴"
    assert not set(shown[:-1]) & set(FASHION_CLASSES)
    assert class_labels(["Ankle boot"]) == ["Ankle boot"]
