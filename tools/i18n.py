"""The app's messages and their translations: what the code marks, what the catalogues lack.

    python -m tools.i18n extract             # write locales/messages.pot from the code (Babel's extractor)
    python -m tools.i18n missing [FILE ...]  # PO entries, msgstr empty, for messages of FILE (default:
                                             # all) that locales/zh/*.po do not translate yet
    python -m tools.i18n check [FILE ...]    # every message (of FILE; default all) translated, fields
                                             # matching; exit 1 if not

Messages are marked as `explorer.i18n` describes (`_`, `N_`, `ngettext`); the code scanned is
app.py, pages/ and explorer/.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from explorer import i18n

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("app.py", "pages", "explorer")
KEYWORDS = {"_": None, "N_": None, "lazy": None, "ngettext": (1, 2)}


@dataclass(frozen=True)
class Found:
    message: str  # the msgid (for ngettext: the singular)
    plural: str | None
    where: str  # "path:line"


def source_files() -> list[Path]:
    files: list[Path] = []
    for name in SOURCES:
        path = ROOT / name
        files += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return files


def extract(files: list[Path] | None = None) -> list[Found]:
    """Every marked message in `files` (default: all the app's sources), in file order."""
    from babel.messages.extract import extract_from_file

    found: list[Found] = []
    for path in files or source_files():
        for line, message, _comments, _context in extract_from_file("python", path, keywords=KEYWORDS):
            singular, plural = (message[0], message[1]) if isinstance(message, tuple) else (message, None)
            if singular:
                found.append(Found(singular, plural, f"{path.relative_to(ROOT)}:{line}"))
    return found


def problems(lang: str = "zh", files: list[Path] | None = None) -> list[str]:
    """What is wrong with `lang`'s translations of the messages in `files`: missing, empty, fuzzy, or
    with other `{fields}` than the English."""
    catalogue = i18n.read_catalogue(lang)
    out = []
    for f in extract(files):
        entry = catalogue.get(f.message)
        strings = ([] if entry is None else [entry.string] if isinstance(entry.string, str) else list(entry.string))
        if entry is None or not any(strings):
            out.append(f"{f.where}: not translated: {f.message!r}")
        elif entry.fuzzy:
            out.append(f"{f.where}: fuzzy: {f.message!r}")
        else:
            english = i18n.fields(f.message) | (i18n.fields(f.plural) if f.plural else set())
            for s in strings:
                if i18n.fields(s) != english:
                    out.append(f"{f.where}: fields {sorted(i18n.fields(s))} in the translation, "
                               f"{sorted(english)} in {f.message!r}")
    return out


def _po_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'


def missing_po(lang: str = "zh", files: list[Path] | None = None) -> str:
    """PO entries with empty msgstr for the messages of `files` that `lang` does not translate yet."""
    catalogue = i18n.read_catalogue(lang)
    seen: dict[str, list[Found]] = {}
    for f in extract(files):
        entry = catalogue.get(f.message)
        if entry is None or not entry.string or (isinstance(entry.string, tuple) and not any(entry.string)):
            seen.setdefault(f.message, []).append(f)
    blocks = []
    for message, where in seen.items():
        lines = [f"#: {' '.join(w.where for w in where)}", f"msgid {_po_string(message)}"]
        if where[0].plural:
            lines += [f"msgid_plural {_po_string(where[0].plural)}", 'msgstr[0] ""']
        else:
            lines.append('msgstr ""')
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + ("\n" if blocks else "")


def write_template(path: Path) -> int:
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import write_po

    catalogue = Catalog(project="vae-explorer", domain="messages")
    for f in extract():
        file, line = f.where.rsplit(":", 1)
        catalogue.add((f.message, f.plural) if f.plural else f.message, locations=[(file, int(line))])
    with path.open("wb") as out:
        write_po(out, catalogue, width=100, omit_header=False, sort_by_file=True)
    return len(catalogue)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("extract", help="write locales/messages.pot")
    miss = sub.add_parser("missing", help="PO entries still to translate")
    miss.add_argument("files", nargs="*", type=Path)
    check = sub.add_parser("check", help="every message translated, fields matching")
    check.add_argument("files", nargs="*", type=Path)
    args = parser.parse_args(argv)
    if args.command == "extract":
        n = write_template(i18n.LOCALES / "messages.pot")
        print(f"{n} messages -> {i18n.LOCALES / 'messages.pot'}")
        return 0
    if args.command == "missing":
        files = [p.resolve() for p in args.files] or None
        sys.stdout.write(missing_po("zh", files))
        return 0
    found = problems("zh", [p.resolve() for p in args.files] or None)
    print("\n".join(found) if found else "every message has a Chinese translation")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
