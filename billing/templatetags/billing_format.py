"""The one set of template filters for money, dates and percentages, formatted by Babel in the active locale."""

import datetime as dt
import functools
import unicodedata
from decimal import Decimal

from babel.dates import format_date, format_interval
from babel.numbers import format_decimal, format_percent, get_currency_symbol
from django import template
from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext, ngettext

from billing.money import format_amount

register = template.Library()

NBSP = "\u00a0"


def active_locale() -> str:
    """The Babel locale for Django's active language (``de``, ``en_US``)."""
    return translation.to_locale(translation.get_language() or settings.LANGUAGE_CODE)


def _as_date(value) -> dt.date:
    if isinstance(value, dt.datetime):
        return (timezone.localtime(value) if timezone.is_aware(value) else value).date()
    return value


def _is_letter(char: str) -> bool:
    return unicodedata.category(char).startswith("L")


def _space_letter_symbol(text: str, symbol: str) -> str:
    """CLDR's currency spacing, which Babel does not apply: ``KWD1.235`` -> ``KWD 1.235``.

    A symbol made of letters gets a no-break space towards an adjacent digit; ``€`` and ``¥`` do not."""
    position = text.find(symbol)
    if position < 0 or not symbol:
        return text
    end = position + len(symbol)
    if _is_letter(symbol[-1]) and end < len(text) and text[end].isdigit():
        return text[:end] + NBSP + text[end:]
    if _is_letter(symbol[0]) and position > 0 and text[position - 1].isdigit():
        return text[:position] + NBSP + text[position:]
    return text


@register.filter
def money(amount, currency: str) -> str:
    """``{{ 123450|money:"eur" }}`` -> ``€1,234.50`` (en) or ``1.234,50 €`` (de)."""
    if amount is None or not currency:
        return ""
    return _money_text(int(amount), currency, active_locale())


# Formatting is a pure function of its arguments and the locale (Babel's data does not change while running):
# a page that shows the same amounts and dates again (an invoice list, a subscription's prices) formats each once.
@functools.lru_cache(maxsize=4096)
def _money_text(amount: int, currency: str, locale: str) -> str:
    text = format_amount(amount, currency, locale)
    return _space_letter_symbol(text, get_currency_symbol(currency.upper(), locale=locale))


@functools.lru_cache(maxsize=4096)
def _long_date(value: dt.date, locale: str) -> str:
    return format_date(value, format="long", locale=locale)


@register.filter
def billing_date(value) -> str:
    """``{{ invoice.finalized_at|billing_date }}`` -> ``January 31, 2026`` (en) or ``31. Januar 2026`` (de)."""
    if value is None or value == "":
        return ""
    return _long_date(_as_date(value), active_locale())


@register.filter
def billing_period(start, end) -> str:
    """``{{ line.period_start|billing_period:line.period_end }}`` -> ``Jan 31 – Feb 28, 2026``."""
    if start is None or end is None:
        return ""
    first, last = _as_date(start), _as_date(end)
    if first == last:
        return format_date(first, format="medium", locale=active_locale())
    return format_interval(first, last, skeleton="yMMMd", locale=active_locale())


@register.filter
def percentage(value) -> str:
    """``{{ tax_rate.percentage|percentage }}`` (19.0000) -> ``19%`` (en) or ``19 %`` (de); keeps 7.5."""
    if value is None or value == "":
        return ""
    fraction = (Decimal(value) / 100).normalize()
    return format_percent(fraction, locale=active_locale(), decimal_quantization=False)


@register.filter
def billing_number(value) -> str:
    """``{{ 1234|billing_number }}`` -> ``1,234`` (en) or ``1.234`` (de)."""
    return "" if value is None else format_decimal(value, locale=active_locale())


@register.filter
def recurring_price(price) -> str:
    """``€12.00 per month``, ``€99.00 every 3 months``, ``€0.01 per unit`` (metered: billed by usage each period), in
    the active language."""
    amount = money(price.unit_amount or 0, price.currency)
    if price.is_metered:
        return gettext("%(amount)s per unit") % {"amount": amount}
    count = price.recurring_interval_count or 1
    interval = price.recurring_interval
    if interval == "day":
        text = ngettext("%(amount)s per day", "%(amount)s every %(count)d days", count)
    elif interval == "week":
        text = ngettext("%(amount)s per week", "%(amount)s every %(count)d weeks", count)
    elif interval == "year":
        text = ngettext("%(amount)s per year", "%(amount)s every %(count)d years", count)
    elif interval == "month":
        text = ngettext("%(amount)s per month", "%(amount)s every %(count)d months", count)
    else:
        return amount
    return text % {"amount": amount, "count": count}
