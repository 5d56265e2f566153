"""Hosted invoice page and PDF, reached through the invoice's 256-bit token."""

import mimetypes
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import unquote, urljoin, urlsplit

from django.conf import settings
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import staticfiles_storage
from django.core.exceptions import SuspiciousFileOperation
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.http import content_disposition_header
from django.utils.translation import gettext, pgettext
from django.views.decorators.http import require_POST, require_safe
from django_countries import countries

from billing.exceptions import NotFound
from billing.models import Charge, Invoice, InvoiceLineItem
from billing.selectors import invoice_get_by_hosted_token
from configurations.selectors import branding_for
from portal import invoice_payment
from portal.leave import redirect_after_post
from portal.locale_selection import choose_locale
from portal.selectors import methods_to_pay
from portal.templatetags.portal_format import CARD_BRANDS
from portal.views.common import brand_colors

# Countries whose addresses put the postal code after city and state.
CITY_FIRST_COUNTRIES = frozenset({"US", "CA", "AU"})


@dataclass(frozen=True)
class LineRow:
    """A line as the customer reads it. ``kind`` picks the translated wording in the template, so German
    readers never see the English description the billing engine stored."""

    line: InvoiceLineItem
    kind: str  # "item", "trial", "unused" (proration credit), "remaining" (proration charge), "custom"
    product: str
    unit_amount: int | None
    discount: int  # negative, as the customer reads it


@dataclass(frozen=True)
class TaxRow:
    display_name: str
    percentage: Decimal
    inclusive: bool
    taxable_amount: int
    amount: int


@dataclass(frozen=True)
class PaymentRow:
    charge: Charge
    method_type: str  # "card", "sepa_debit", or "" when the payment method is gone
    brand: str  # a card brand is a name: never translated
    last4: str


def line_row(line: InvoiceLineItem) -> LineRow:
    price = line.price
    product = price.product.name if price is not None else ""
    if price is None:
        kind = "custom"
    elif line.proration:
        kind = "unused" if line.amount < 0 else "remaining"
    elif line.amount == 0 and not price.is_metered and (price.unit_amount or 0) * line.quantity > 0:
        kind = "trial"
    else:
        kind = "item"
    exact_unit = not line.proration and line.quantity and line.amount % line.quantity == 0
    unit_amount = line.amount // line.quantity if exact_unit else None
    return LineRow(line, kind, product, unit_amount, -line.discount_amount)


def _tax_rows(lines: list[InvoiceLineItem]) -> list[TaxRow]:
    grouped: dict[str, dict] = {}
    for line in lines:
        if line.tax_rate is None:
            continue
        group = grouped.setdefault(line.tax_rate_id, {"rate": line.tax_rate, "taxable": 0, "tax": 0})
        group["taxable"] += line.taxable_amount
        group["tax"] += line.tax_amount
    return [
        TaxRow(g["rate"].display_name, g["rate"].percentage, g["rate"].inclusive, g["taxable"], g["tax"])
        for g in sorted(grouped.values(), key=lambda g: (g["rate"].inclusive, -g["rate"].percentage))
    ]


def _payment_rows(invoice: Invoice) -> list[PaymentRow]:
    rows = []
    for charge in sorted(invoice.charges.all(), key=lambda c: c.id):
        pm = charge.payment_method
        if pm is None:
            rows.append(PaymentRow(charge, "", "", ""))
        else:
            brand = CARD_BRANDS.get(pm.card_brand, pm.card_brand.title()) if pm.type == pm.Type.CARD else ""
            rows.append(PaymentRow(charge, pm.type, brand, pm.last4))
    return rows


def address_lines(address: dict | None) -> list[str]:
    if not address:
        return []
    country = (address.get("country") or "").upper()
    city, state, postal_code = (address.get(key) or "" for key in ("city", "state", "postal_code"))
    if country in CITY_FIRST_COUNTRIES:
        locality = [", ".join(filter(None, [city, " ".join(filter(None, [state, postal_code]))]))]
    else:
        locality = [" ".join(filter(None, [postal_code, city])), state]
    lines = [address.get("line1") or "", address.get("line2") or "", *locality]
    if country:
        lines.append(str(countries.name(country)) or country)
    return [line for line in lines if line]


def invoice_page_context(invoice: Invoice) -> dict:
    """Everything both the page and the PDF show; reads only what the selector prefetched."""
    lines = list(invoice.lines.all())
    token = invoice.hosted_token
    locale = translation.get_language()
    return {
        "invoice": invoice,
        "merchant_name": invoice.account.name,
        "lines": [line_row(line) for line in lines],
        "has_tax": any(line.tax_rate_id for line in lines),
        "tax_rows": _tax_rows(lines),
        "discount_total": -invoice.total_discount,
        "applied_balance": invoice.amount_due - invoice.total,
        "payments": _payment_rows(invoice),
        "billed_to_address": address_lines(invoice.customer_address),
        "page_url": reverse("portal:hosted_invoice", kwargs={"token": token}),
        "pdf_url": reverse("portal:hosted_invoice_pdf", kwargs={"token": token}) + f"?locale={locale}",
    }


def _invoice(request: HttpRequest, token: str) -> Invoice:
    try:
        invoice = invoice_get_by_hosted_token(token=token)
    except NotFound:
        raise Http404("No such invoice")
    # A merchant's custom domain serves that merchant's invoices only.
    domain_account = getattr(request, "custom_domain_account", None)
    if domain_account is not None and domain_account.pk != invoice.account_id:
        raise Http404("No such invoice")
    return invoice


def _private(response: HttpResponse, locale: str) -> HttpResponse:
    """The token in the URL is the only key: keep the page out of shared caches, indexes and other sites'
    referrers (``same-origin``, not ``no-referrer``: the page's own Pay form must send its Origin for CSRF)."""
    response["Cache-Control"] = "private, no-store"
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Referrer-Policy"] = "same-origin"
    response["Content-Language"] = locale
    return response


@require_safe
def hosted_invoice(request: HttpRequest, token: str) -> HttpResponse:
    invoice = _invoice(request, token)
    locale = choose_locale(request, invoice.customer)
    with translation.override(locale):
        context = {**invoice_page_context(invoice), **_pay_context(invoice), **_brand(invoice)}
        if request.GET.get("redirect_status") == "failed" and context.get("pay_methods"):
            context["pay_error"] = invoice_payment.not_confirmed()  # back from the bank's page without a confirmation
        response = render(request, "invoices/hosted.html", context)
    return _private(response, locale)


def _brand(invoice: Invoice) -> dict:
    """The merchant's colours, as the portal applies them."""
    return {"brand_colors": brand_colors(branding_for(invoice.account))}


def _pay_context(invoice: Invoice) -> dict:
    """An open invoice can be paid on the page with one of the customer's saved methods."""
    if invoice.status not in (Invoice.Status.OPEN, Invoice.Status.UNCOLLECTIBLE) or invoice.amount_remaining <= 0:
        return {}
    methods = methods_to_pay(invoice)
    default = invoice.customer.default_payment_method_id
    return {"pay_methods": methods, "pay_default": default if any(pm.pk == default for pm in methods) else None}


@require_POST
def hosted_invoice_pay(request: HttpRequest, token: str) -> HttpResponse:
    """Pay an open invoice on its page; the bank may ask the customer to authenticate first (3-D Secure)."""
    invoice = _invoice(request, token)
    locale = choose_locale(request, invoice.customer)
    page_url = settings.PORTAL_BASE_URL + reverse("portal:hosted_invoice", kwargs={"token": token})
    method = next(
        (pm for pm in _pay_context(invoice).get("pay_methods", []) if pm.pk == request.POST.get("payment_method")), None
    )
    with translation.override(locale):
        if method is None:
            outcome = invoice_payment.Outcome(invoice_payment.FAILED, gettext("Choose a payment method."))
        else:
            outcome = invoice_payment.pay(request, invoice, method, return_url=page_url)
    if outcome.status == invoice_payment.ACTION:
        with translation.override(locale):
            return _private(redirect_after_post(request, outcome.redirect_to), locale)
    if outcome.status != invoice_payment.FAILED:
        return _private(HttpResponseRedirect(page_url, status=303), locale)
    invoice = _invoice(request, token)
    with translation.override(locale):
        context = {
            **invoice_page_context(invoice),
            **_pay_context(invoice),
            **_brand(invoice),
            "pay_error": outcome.error,
        }
        response = render(request, "invoices/hosted.html", context, status=402)
    return _private(response, locale)


@require_safe
def hosted_invoice_pdf(request: HttpRequest, token: str) -> HttpResponse:
    invoice = _invoice(request, token)
    locale = choose_locale(request, invoice.customer)
    with translation.override(locale):
        html = render_to_string("invoices/pdf.html", invoice_page_context(invoice), request=request)
        label = pgettext("PDF file name", "Invoice")  # outside the f-string, where xgettext finds it
    response = HttpResponse(_render_pdf(html), content_type="application/pdf")
    response["Content-Disposition"] = content_disposition_header(False, f"{label}-{invoice.number}.pdf")
    return _private(response, locale)


def _render_pdf(html: str) -> bytes:
    # Imported here: WeasyPrint loads Pango and takes most of a second, which only PDF requests should pay.
    import weasyprint

    base_url = f"{settings.PORTAL_BASE_URL}/"
    document = weasyprint.HTML(string=html, base_url=base_url, url_fetcher=static_files_only_fetcher(base_url))
    return document.write_pdf(pdf_tags=True)  # tagged, so screen readers can read the PDF too


def static_files_only_fetcher(base_url: str):
    """A WeasyPrint URL fetcher that reads our own static files (and ``data:`` URLs) and nothing else:
    rendering an invoice never reaches out to the network, whatever a merchant's or customer's text contains."""
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    static_url = urljoin(base_url, settings.STATIC_URL)  # also right when STATIC_URL is a CDN's address
    static_path = urlsplit(static_url).path

    class StaticFilesOnlyFetcher(URLFetcher):
        def fetch(self, url, headers=None):
            if url.startswith("data:"):
                return super().fetch(url, headers)
            if url.startswith(static_url):
                name = unquote(urlsplit(url).path[len(static_path) :])
                body = _static_file_bytes(name)
                if body is not None:
                    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
                    return URLFetcherResponse(url, body, {"Content-Type": content_type})
            raise ValueError(f"Refusing to fetch {url!r} while rendering an invoice PDF.")

    return StaticFilesOnlyFetcher(allowed_protocols=("data", "http", "https"))


def _static_file_bytes(name: str) -> bytes | None:
    try:
        path = finders.find(name)
        if path:
            with open(path, "rb") as file:
                return file.read()
        if staticfiles_storage.exists(name):
            with staticfiles_storage.open(name) as file:
                return file.read()
    except (SuspiciousFileOperation, ValueError, OSError):
        return None
    return None
