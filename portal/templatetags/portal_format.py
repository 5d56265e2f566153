"""Portal wording that depends on numbers and kinds: recurring prices, payment method labels."""

from django import template
from django.conf import settings
from django.http import QueryDict
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


@register.filter
def card_brand(brand: str) -> str:
    return CARD_BRANDS.get(brand, (brand or "").title())


@register.filter
def payment_method_label(pm: PaymentMethod) -> str:
    """``Visa •••• 4242`` or ``SEPA Direct Debit •••• 3000``."""
    if pm.type == PaymentMethod.Type.CARD:
        return f"{card_brand(pm.card_brand)} •••• {pm.card_last4}"
    return gettext("SEPA Direct Debit •••• %(last4)s") % {"last4": pm.sepa_last4}


@register.simple_tag(takes_context=True)
def locale_query(context, locale: str) -> str:
    """``?…&locale=de``: the current query string (``return_to``, filters) with only the language changed, so a
    language link keeps the reader where they are."""
    request = context.get("request")
    query = request.GET.copy() if request is not None else QueryDict(mutable=True)
    query["locale"] = locale
    return "?" + query.urlencode()


@register.simple_tag
def language_choices() -> list[tuple[str, str]]:
    """The language switch's entries: every configured language, named in itself ("Français", not "French")."""
    return list(settings.LANGUAGES)


@register.filter
def payment_method_mark(pm: PaymentMethod) -> str:
    """The static path of the method's mark: its card brand's, SEPA's, or a plain card for any other brand."""
    if pm.type == PaymentMethod.Type.CARD:
        brand = pm.card_brand if pm.card_brand in CARD_BRANDS else "card"
        return f"img/payment-methods/{brand}.svg"
    return "img/payment-methods/sepa_debit.svg"


@register.filter
def payment_method_mark_name(pm: PaymentMethod) -> str:
    """What the mark shows, for its alt text."""
    if pm.type == PaymentMethod.Type.CARD:
        return CARD_BRANDS.get(pm.card_brand) or gettext("Card")
    return gettext("SEPA Direct Debit")


@register.filter
def tax_id_kind(tax_id) -> str:
    """``Germany — VAT number``, ``United States of America — Tax number (EIN)``."""
    from portal.forms.billing_details import tax_id_kind_label

    return tax_id_kind_label(tax_id.type, tax_id.country)
