"""Which language a customer reads: an explicit choice, then their preferences, then their browser's."""

from django.conf import settings
from django.http import HttpRequest
from django.utils import translation

from billing.models import Customer

DEFAULT_LOCALE = "en"


def supported_locales() -> tuple[str, ...]:
    return tuple(code for code, _name in settings.LANGUAGES)


def supported_locale(value) -> str | None:
    """``"de-DE"``, ``"de_AT"`` or ``"DE"`` -> ``"de"``; ``None`` for anything we have no translation for."""
    if not isinstance(value, str) or not value.strip():
        return None
    language = value.strip().replace("_", "-").split("-")[0].lower()
    return language if language in supported_locales() else None


def choose_locale(request: HttpRequest, customer: Customer | None) -> str:
    """``?locale=`` wins, then the customer's ``preferred_locales`` (first supported), then Accept-Language."""
    preferred = customer.preferred_locales if customer is not None else None
    if isinstance(preferred, str):
        preferred = [preferred]
    for candidate in (request.GET.get("locale"), *(preferred or ())):
        if locale := supported_locale(candidate):
            return locale
    return supported_locale(translation.get_language_from_request(request)) or DEFAULT_LOCALE
