"""Every language in settings.LANGUAGES is complete: every string the code and templates mark for translation has
a text, none is fuzzy, placeholders and markup match the English, and the catalogue compiles cleanly (no
duplicates, right plural forms)."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import django
import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
SOURCES = (
    "api",
    "billing",
    "checkout",
    "config",
    "configurations",
    "portal",
    "webhooks",
    "vault",
    "templates",
    "manage.py",
)
# English is the source language; every other configured language needs a complete catalogue.
TRANSLATED = [code for code, _name in settings.LANGUAGES if code != settings.LANGUAGE_CODE]
# Model, field and choice names (models and apps modules) are shown in the admin only, which is complete in German;
# the other languages may leave them to English. A string also used elsewhere (a template, a form) stays required.
ADMIN_LANGUAGES = {"de"}
ADMIN_ONLY_SOURCE = re.compile(r"(^|/)(models\.py|models/[a-z_]+\.py|apps\.py)$")
# CLDR's plural rules, as gettext's Plural-Forms header spells them.
PLURAL_FORMS = {
    "de": "nplurals=2; plural=(n != 1);",
    "es": "nplurals=2; plural=(n != 1);",
    "fr": "nplurals=2; plural=(n > 1);",
    "it": "nplurals=2; plural=(n != 1);",
    "nl": "nplurals=2; plural=(n != 1);",
}
# %(name)s, %d, %% and {name}: whatever Python or a template fills in must survive translation unchanged.
PLACEHOLDER = re.compile(r"%\([a-z_0-9]+\)[sdf]|%[sdf%]|\{[a-z_0-9]*\}")
TAG = re.compile(r"</?[a-z][a-z0-9]*\b[^>]*>")

pytestmark = pytest.mark.skipif(
    not (shutil.which("xgettext") and shutil.which("msgfmt")), reason="needs GNU gettext (xgettext, msgfmt)"
)


def _key(msgid) -> str:
    return msgid if isinstance(msgid, str) else msgid[0]


def _catalogue(language: str) -> Path:
    return ROOT / "locale" / language / "LC_MESSAGES" / "django.po"


def _translated_by_django(language: str) -> set:
    """Strings Django's own catalogues translate (the admin's "Home", say): gettext finds them there."""
    found = set()
    for mo in Path(django.__file__).parent.glob(f"**/locale/{language}/LC_MESSAGES/django.mo"):
        with open(mo, "rb") as handle:
            found.update(_key(message.id) for message in read_mo(handle) if message.id and message.string)
    return found


def _texts(value) -> tuple:
    return value if isinstance(value, tuple) else (value,)


def _found(pattern: re.Pattern, text: str) -> list:
    """Placeholders as a set (a translation may name the business twice), tags as a sorted list (each kept once)."""
    matches = pattern.findall(text)
    return sorted(set(matches)) if pattern is PLACEHOLDER else sorted(matches)


def test_every_configured_language_but_english_has_plural_rules_here():
    assert set(TRANSLATED) <= set(PLURAL_FORMS), "add the language's Plural-Forms to PLURAL_FORMS"


@pytest.mark.parametrize("language", TRANSLATED)
def test_committed_catalogue_compiles_without_errors(language):
    assert _catalogue(language).exists(), f"locale/{language}/LC_MESSAGES/django.po is missing"
    result = subprocess.run(
        ["msgfmt", "--check", "-o", "/dev/null", str(_catalogue(language))],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    with open(_catalogue(language), "rb") as handle:
        catalog = read_po(handle)
    assert catalog.plural_forms == PLURAL_FORMS[language]


@pytest.mark.parametrize("language", TRANSLATED)
def test_placeholders_and_markup_match_the_english(language):
    with open(_catalogue(language), "rb") as handle:
        catalog = read_po(handle)
    wrong = []
    for message in catalog:
        if not message.id:
            continue
        sources = _texts(message.id)
        for index, text in enumerate(_texts(message.string)):
            if not text:
                continue
            # A plural's later forms follow msgid_plural; the singular may spell the count as a word ("one").
            source = sources[min(index, len(sources) - 1)]
            for pattern in (PLACEHOLDER, TAG):
                expected, found = _found(pattern, source), _found(pattern, text)
                if index == 0 and len(sources) > 1 and pattern is PLACEHOLDER:
                    expected, found = sorted(set(expected) - {"%d"}), sorted(set(found) - {"%d"})
                if expected != found:
                    wrong.append(f"{source!r}: {expected} != {found} in {text!r}")
    assert not wrong, f"{len(wrong)} {language} strings change placeholders or markup:\n" + "\n".join(wrong)


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_marked_string_has_a_translation(tmp_path, language):
    # makemessages rewrites the catalogue: run it on a copy of the sources so the checkout stays untouched.
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "*.mo"))
        else:
            shutil.copy(source, tmp_path / name)
    shutil.copytree(ROOT / "locale", tmp_path / "locale", ignore=shutil.ignore_patterns("*.mo"))
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", language, "--no-obsolete", "--no-wrap", "-v", "0"],
        cwd=tmp_path,
        check=True,
        env={"PATH": "/usr/bin:/bin", "DEBUG": "1", "DJANGO_SETTINGS_MODULE": "config.settings"},
    )
    with open(tmp_path / "locale" / language / "LC_MESSAGES" / "django.po", "rb") as handle:
        catalog = read_po(handle)
    missing = []
    django_strings = _translated_by_django(language)
    for message in catalog:
        if not message.id or _key(message.id) in django_strings:
            continue
        if language not in ADMIN_LANGUAGES and all(ADMIN_ONLY_SOURCE.search(path) for path, _ in message.locations):
            continue
        if message.fuzzy or not all(_texts(message.string)):
            where = ", ".join(sorted({path for path, _line in message.locations}))
            missing.append(f"{message.id!r} ({where})")
    assert not missing, f"{len(missing)} strings without {language} text:\n" + "\n".join(missing)
