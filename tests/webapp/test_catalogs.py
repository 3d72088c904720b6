"""Every text the pages show in Chinese has its English: the msgids extracted from the code and templates
(babel.cfg, as `pybabel extract` reads them) against the English catalogs."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
ENGLISH = ROOT / "webapp" / "translations" / "en" / "LC_MESSAGES"
METHODS = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}  # flask_babel's lazy form, imported as _l


def _english() -> set[str | tuple[str, ...]]:
    """The msgids translated in any English catalog (each page family has its own .po)."""
    translated: set[str | tuple[str, ...]] = set()
    for po in sorted(ENGLISH.glob("*.po")):
        with po.open("rb") as handle:
            translated |= {_key(m.id) for m in read_po(handle) if m.string and all(m.string) and not m.fuzzy}
    return translated


def test_every_chinese_text_of_the_web_app_has_an_english_translation() -> None:
    english = _english()
    missing = sorted({f"{path}:{line}: {message}" for path, line, message, *_ in
                      extract_from_dir(str(ROOT / "webapp"), METHODS, keywords=KEYWORDS)
                      if any("\u4e00" <= ch <= "\u9fff" for ch in str(message)) and _key(message) not in english})
    assert not missing, "add these to a catalog under webapp/translations/en:\n" + "\n".join(missing)


def _key(message_id: str | list[str] | tuple[str, ...]) -> str | tuple[str, ...]:
    """A message's id, a plural one (singular, plural) as a tuple whichever reader made it."""
    return message_id if isinstance(message_id, str) else tuple(message_id)


def test_the_compiled_catalogs_hold_what_their_sources_say() -> None:
    for po in sorted(ENGLISH.glob("*.po")):
        with po.open("rb") as source, po.with_suffix(".mo").open("rb") as compiled:
            expected = {_key(m.id) for m in read_po(source) if m.id and m.string and not m.fuzzy}
            assert expected <= {_key(m.id) for m in read_mo(compiled) if m.id}, po.name


def test_a_chinese_text_has_one_english_whichever_catalog_holds_it() -> None:
    """The catalogs are merged and the last one loaded wins: 部门 read "Department" or "department" by load order."""
    english: dict[object, set[str]] = {}
    for po in sorted(ENGLISH.glob("*.po")):
        with po.open("rb") as handle:
            for message in read_po(handle):
                if message.id and message.string:
                    english.setdefault(_key(message.id), set()).add(str(message.string))
    assert {k: v for k, v in english.items() if len(v) > 1} == {}
