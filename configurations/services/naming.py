"""How rule errors name products, prices and billing intervals: as the merchant knows them, the id beside."""

from django.utils import translation
from django.utils.translation import pgettext

from billing import money
from billing.models import Price, Product


def interval_name(interval: str | None) -> str:
    """ "monthly", German "monatlich": never the API's "month"."""
    names = {
        "day": pgettext("billed", "daily"),
        "week": pgettext("billed", "weekly"),
        "month": pgettext("billed", "monthly"),
        "year": pgettext("billed", "yearly"),
    }
    return names.get(interval or "", pgettext("billed", "once"))


def quoted(name: str) -> str:
    return pgettext("quoted name", "“%(name)s”") % {"name": name}


def product_name(product: Product) -> str:
    return f"{quoted(product.name)} ({product.pk})"


def price_name(price: Price) -> str:
    """The nickname, else the amount and interval ("€16.90 monthly"), with the id beside."""
    label = price.nickname
    if not label:
        amount = money.format_amount(price.unit_amount or 0, price.currency, translation.get_language() or "en")
        label = f"{amount} {interval_name(price.recurring_interval)}"
    return f"{quoted(label)} ({price.pk})"
