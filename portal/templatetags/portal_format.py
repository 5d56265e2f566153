"""Portal wording that depends on numbers and kinds: recurring prices, payment method labels, status badges; and
the links of a list's rows."""

import functools
import re

from django import template
from django.conf import settings
from django.http import QueryDict
from django.templatetags.static import static
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse
from django.utils.html import format_html
from django.utils.translation import get_language, gettext, pgettext

from billing.models import PaymentMethod
from billing.templatetags.billing_format import money, recurring_price

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


# The wording of a recurring price is the billing app's (the admin names prices with it too).
register.filter("recurring_price", recurring_price)


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


@register.simple_tag
def payment_method_badge(pm: PaymentMethod) -> str:
    """The method's mark and label, as lists and choices of payment methods show it."""
    return format_html(
        '<span class="pm-label"><img class="pm-mark" src="{}" alt="{}" width="40" height="26"><span>{}</span></span>',
        static(payment_method_mark(pm)),
        payment_method_mark_name(pm),
        payment_method_label(pm),
    )


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


@register.simple_tag
def paid_badge(invoice) -> str:
    """A paid invoice's badge: "Paid", or what of it its charges' refunds gave back (refunds leave it paid)."""
    refunded = getattr(invoice, "amount_refunded", None)
    if refunded:
        try:
            fully = refunded >= invoice.amount_charged
        except (AttributeError, TypeError):
            fully = False
        if fully:
            return format_html('<span class="badge badge-neutral">{}</span>', pgettext("invoice status", "Refunded"))
        text = pgettext("invoice status", "Partially refunded (%(amount)s)") % {
            "amount": money(refunded, invoice.currency)
        }
        return format_html('<span class="badge badge-neutral">{}</span>', text)
    return format_html('<span class="badge badge-success">{}</span>', pgettext("invoice status", "Paid"))


# What ``row_url`` substitutes without reversing again: ids and tokens as this app makes them, which reversing
# leaves as they are (no quoting, no converter refuses them).
_PLAIN_ARGUMENT = re.compile(r"[A-Za-z0-9_-]+\Z")
_PLACEHOLDER = "rowurlarg{}x"


@functools.lru_cache(maxsize=256)
def _url_parts(
    urlconf: str, script_prefix: str, language: str | None, view_name: str, arity: int
) -> tuple[str, ...] | None:
    """The URL of ``view_name`` split around its ``arity`` positional arguments, for this URLconf, script prefix
    and language (what a reversal depends on besides its arguments); None if placeholders do not reverse."""
    placeholders = [_PLACEHOLDER.format(i) for i in range(arity)]
    try:
        url = reverse(view_name, args=placeholders, urlconf=urlconf)
    except NoReverseMatch:
        return None
    parts = []
    for placeholder in placeholders:
        if url.count(placeholder) != 1:
            return None
        before, url = url.split(placeholder)
        parts.append(before)
    parts.append(url)
    return tuple(parts)


@register.simple_tag
def row_url(view_name: str, *args) -> str:
    """``{% url %}`` for the rows of a list: the same URL, with the view reversed once per process instead of once
    per row."""
    args = [str(arg) for arg in args]
    parts = None
    if all(_PLAIN_ARGUMENT.match(arg) for arg in args):
        urlconf = get_urlconf() or settings.ROOT_URLCONF
        parts = _url_parts(urlconf, get_script_prefix(), get_language(), view_name, len(args))
    if parts is None:
        return reverse(view_name, args=args)
    return "".join(part for pair in zip(parts, [*args, ""], strict=True) for part in pair)
