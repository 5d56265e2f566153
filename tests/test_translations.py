"""German is complete: every string the code and templates mark for translation has a German text, none is
fuzzy, and the catalogue compiles cleanly (no duplicates, matching placeholders)."""

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

pytestmark = pytest.mark.skipif(
    not (shutil.which("xgettext") and shutil.which("msgfmt")), reason="needs GNU gettext (xgettext, msgfmt)"
)


def _key(msgid) -> str:
    return msgid if isinstance(msgid, str) else msgid[0]


def _translated_by_django() -> set:
    """Strings Django's own German catalogues translate (the admin's "Home", say): gettext finds them there."""
    found = set()
    for mo in Path(django.__file__).parent.glob("**/locale/de/LC_MESSAGES/django.mo"):
        with open(mo, "rb") as handle:
            found.update(_key(message.id) for message in read_mo(handle) if message.id and message.string)
    return found


def test_committed_catalogue_compiles_without_errors():
    result = subprocess.run(
        ["msgfmt", "--check", "-o", "/dev/null", str(ROOT / "locale/de/LC_MESSAGES/django.po")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_every_marked_string_has_a_german_translation(tmp_path):
    # makemessages rewrites the catalogue: run it on a copy of the sources so the checkout stays untouched.
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "*.mo"))
        else:
            shutil.copy(source, tmp_path / name)
    shutil.copytree(ROOT / "locale", tmp_path / "locale", ignore=shutil.ignore_patterns("*.mo"))
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "de", "--no-obsolete", "--no-wrap", "-v", "0"],
        cwd=tmp_path,
        check=True,
        env={"PATH": "/usr/bin:/bin", "DEBUG": "1", "DJANGO_SETTINGS_MODULE": "config.settings"},
    )
    with open(tmp_path / "locale/de/LC_MESSAGES/django.po", "rb") as handle:
        catalog = read_po(handle)
    missing = []
    django_strings = _translated_by_django()
    for message in catalog:
        if not message.id or _key(message.id) in django_strings:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(strings):
            where = ", ".join(sorted({path for path, _line in message.locations}))
            missing.append(f"{message.id!r} ({where})")
    assert not missing, f"{len(missing)} strings without German text:\n" + "\n".join(missing)
