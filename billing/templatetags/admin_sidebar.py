"""The admin sidebar's long model names with their hyphenation points, in the active language."""

import functools

import pyphen
from django import template
from django.utils import translation

register = template.Library()

SOFT_HYPHEN = "\u00ad"
# Words at most this long fit the sidebar's name column as they are.
SHORT_WORD = 12


@functools.lru_cache(maxsize=8)
def _dictionary(language: str) -> pyphen.Pyphen | None:
    found = pyphen.language_fallback(translation.to_locale(language))
    # At least three letters either side of a break: "Abonnement-positionen", never "…positione-n".
    return pyphen.Pyphen(lang=found, left=3, right=3) if found else None


def hyphenated(name: str, language: str) -> str:
    """``Abonnementpositionen`` -> ``Abon­ne­ment­po­si­tio­nen`` (soft hyphens), short words as they are."""
    dictionary = _dictionary(language)
    if dictionary is None:
        return name
    return " ".join(
        dictionary.inserted(word, hyphen=SOFT_HYPHEN) if len(word) > SHORT_WORD else word for word in name.split(" ")
    )


@register.simple_tag
def sidebar_hyphenation(available_apps) -> dict:
    """``{"Abonnementpositionen": "Abon­ne­ment­po­si­tio­nen", …}``: the sidebar's names that get hyphenation points,
    for ``js/admin-sidebar-hyphenation.js``."""
    language = translation.get_language() or "en"
    names = (str(model["name"]) for app in available_apps or () for model in app["models"])
    return {name: text for name in names if (text := hyphenated(name, language)) != name}
