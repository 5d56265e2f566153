"""How rule errors name products, prices, coupons and billing intervals: as the merchant knows them, the id beside (the
API's readers look rows up by id; the admin drops it, see ``configurations.admin.merchant_wording``).

The names are rendered when read, as the messages holding them (``billing.exceptions.lazy_text``): in English for the
API, in the reader's language in the admin and the portal."""

from django.utils import translation
from django.utils.functional import lazy
from django.utils.translation import pgettext

from billing import money
from billing.models import Coupon, Price, Product


def _interval_name(interval: str | None) -> str:
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


def _product_name(product: Product) -> str:
    return f"{quoted(product.name)} ({product.pk})"


def _price_name(price: Price) -> str:
    """The nickname, else the amount and interval ("€16.90 monthly"), with the id beside."""
    label = price.nickname
    if not label:
        amount = money.format_amount(price.unit_amount or 0, price.currency, translation.get_language() or "en")
        label = f"{amount} {_interval_name(price.recurring_interval)}"
    return f"{quoted(label)} ({price.pk})"


def _coupon_name(coupon: Coupon) -> str:
    return f"{quoted(coupon.name)} ({coupon.pk})" if coupon.name else coupon.pk


interval_name = lazy(_interval_name, str)
product_name = lazy(_product_name, str)
price_name = lazy(_price_name, str)
coupon_name = lazy(_coupon_name, str)
