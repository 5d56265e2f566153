"""Portal wording that depends on numbers and kinds: recurring prices, payment method labels."""

from django import template
from django.utils.translation import gettext, ngettext

from billing.models import PaymentMethod, Price
from billing.templatetags.billing_format import money

register = template.Library()

CARD_BRANDS = {
    "amex": "American Express",
    "diners": "Diners Club",
    "discover": "Discover",
    "jcb": "JCB",
    "mastercard": "Mastercard",
    "unionpay": "UnionPay",
    "visa": "Visa",
}


@register.filter
def recurring_price(price: Price) -> str:
    """``€12.00 per month``, ``€99.00 every 3 months``, in the active language."""
    amount = money(price.unit_amount or 0, price.currency)
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


@register.filter
def card_brand(brand: str) -> str:
    return CARD_BRANDS.get(brand, (brand or "").title())


@register.filter
def payment_method_label(pm: PaymentMethod) -> str:
    """``Visa •••• 4242`` or ``SEPA Direct Debit •••• 3000``."""
    if pm.type == PaymentMethod.Type.CARD:
        return f"{card_brand(pm.card_brand)} •••• {pm.card_last4}"
    return gettext("SEPA Direct Debit •••• %(last4)s") % {"last4": pm.sepa_last4}
