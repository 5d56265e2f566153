"""The hosted invoice page and its PDF: content, languages, access, headers, query counts and formatting."""

import datetime as dt
import io
import re
from decimal import Decimal
from html.parser import HTMLParser

import pytest
import time_machine
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from billing import clock
from billing.audit import Actor
from billing.models import Invoice
from billing.services.coupons import coupon_create
from billing.services.invoices import LineSpec, invoice_create_draft, invoice_void
from billing.services.subscriptions import ItemChange, ItemSpec, subscription_change_items, subscription_create
from billing.templatetags.billing_format import billing_date, billing_period, money, percentage
from portal.locale_selection import choose_locale
from portal.views.invoices import static_files_only_fetcher
from tests.factories.billing import CustomerFactory, PriceFactory, TaxRateFactory, card

ACTOR = Actor.system("test")
NBSP = "\u00a0"
THIN = "\u2009"  # CLDR puts thin spaces around the dash of a date range
T0 = dt.datetime(2026, 1, 31, 10, 0, tzinfo=dt.UTC)
ADDRESS = {"line1": "Invalidenstraße 116", "postal_code": "10115", "city": "Berlin", "country": "DE"}

# English words of the page and of the engine's stored line descriptions; none may reach a German reader.
ENGLISH_FRAGMENTS = [
    "Invoice",
    "Subtotal",
    "Total",
    "Amount",
    "Paid",
    "Due",
    "Billed to",
    "Description",
    "Unit price",
    "Download",
    "Payment",
    "Succeeded",
    "Unused time",
    "Remaining time",
    "Trial period",
    "(at ",
    "/ month",
    "after ",
    "January",
    "February",
]


class _VisibleText(HTMLParser):
    def __init__(self):
        super().__init__()
        self.parts, self._skip = [], 0

    def handle_starttag(self, tag, attrs):
        self._skip += tag in ("style", "script")

    def handle_endtag(self, tag):
        self._skip -= tag in ("style", "script")

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def visible_text(response) -> str:
    parser = _VisibleText()
    parser.feed(response.content.decode())
    return re.sub(r"\s+", " ", " ".join(parser.parts).replace(NBSP, "\x00")).replace("\x00", NBSP)


def _customer(**kwargs):
    kwargs.setdefault("account__name", "Acme GmbH")
    kwargs.setdefault("name", "Erika Mustermann")
    kwargs.setdefault("email", "erika@example.com")
    kwargs.setdefault("address", ADDRESS)
    customer = CustomerFactory(**kwargs)
    card(customer)
    return customer


def _price(customer, *, name="Pro", amount=1000, **kwargs):
    return PriceFactory(
        account=customer.account, product__account=customer.account, product__name=name, unit_amount=amount, **kwargs
    )


def _subscribe(customer, items, **kwargs):
    with time_machine.travel(T0, tick=False):
        return subscription_create(customer=customer, items=items, actor=ACTOR, **kwargs)


@pytest.fixture
def vat_invoice(db):
    """One Pro line at €10.00 with 19 % VAT on top: €11.90, paid by Visa •••• 4242."""
    with time_machine.travel(T0, tick=False):
        customer = _customer(preferred_locales=[])
        vat = TaxRateFactory(account=customer.account, display_name="VAT", percentage=Decimal("19"))
        subscription = _subscribe(customer, [ItemSpec(_price(customer), 1)], default_tax_rates=[vat])
    return subscription.latest_invoice


def _url(invoice, **query):
    url = reverse("portal:hosted_invoice", kwargs={"token": invoice.hosted_token})
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def _pdf_url(invoice, **query):
    url = reverse("portal:hosted_invoice_pdf", kwargs={"token": invoice.hosted_token})
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def _prorated(subscription, changes_for):
    """Change items halfway through the period and invoice the prorations at once."""
    with time_machine.travel(T0 + dt.timedelta(days=14), tick=False):
        subscription_change_items(
            subscription=subscription,
            changes=changes_for(list(subscription.items.order_by("id"))),
            actor=ACTOR,
            proration_behavior="always_invoice",
        )
    return subscription.invoices.get(billing_reason=Invoice.BillingReason.SUBSCRIPTION_UPDATE)


# ---------------------------------------------------------------------------------------------- the page


def test_english_page_shows_merchant_number_lines_and_totals(client, vat_invoice):
    response = client.get(_url(vat_invoice))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert '<html lang="en">' in html
    text = visible_text(response)
    assert "Acme GmbH" in text
    assert vat_invoice.number in text
    assert "Paid" in text and "Paid on January 31, 2026" in text
    assert "Invoice date January 31, 2026" in text
    assert "Billed to Erika Mustermann Invalidenstraße 116 10115 Berlin Germany erika@example.com" in text
    assert "Pro" in text and "Jan 31 – Feb 28, 2026" in text
    assert "Subtotal €10.00" in text
    assert "VAT 19% on €10.00 €1.90" in text
    assert "Total €11.90" in text
    assert "Amount paid €11.90" in text
    assert "Amount remaining €0.00" in text
    assert "Visa •••• ending in 4242" in text and "Succeeded" in text
    assert f'href="{_pdf_url(vat_invoice, locale="en")}"' in html


def test_page_is_private_and_not_indexed(client, vat_invoice):
    response = client.get(_url(vat_invoice))

    assert response["Cache-Control"] == "private, no-store"
    assert "noindex" in response["X-Robots-Tag"]
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Content-Language"] == "en"
    assert "style=" not in response.content.decode()  # CSP allows no inline style attributes


@pytest.mark.parametrize(
    ("query", "headers", "preferred"),
    [
        ({"locale": "de"}, {}, ["en"]),
        ({}, {"HTTP_ACCEPT_LANGUAGE": "de-DE,de;q=0.9,en;q=0.5"}, []),
        ({}, {"HTTP_ACCEPT_LANGUAGE": "en-US,en;q=0.9"}, ["pt-BR", "de-AT"]),
    ],
    ids=["query-param", "accept-language", "preferred-locales"],
)
def test_german_page(client, vat_invoice, query, headers, preferred):
    vat_invoice.customer.preferred_locales = preferred
    vat_invoice.customer.save(update_fields=["preferred_locales"])

    response = client.get(_url(vat_invoice, **query), **headers)

    assert response.status_code == 200
    assert '<html lang="de">' in response.content.decode()
    assert response["Content-Language"] == "de"
    text = visible_text(response)
    assert "Rechnung" in text and vat_invoice.number in text
    assert f"Bezahlt am 31.{NBSP}Januar 2026" in text or "Bezahlt am 31. Januar 2026" in text
    assert f"Zwischensumme 10,00{NBSP}€" in text
    assert f"VAT 19{NBSP}% auf 10,00{NBSP}€ 1,90{NBSP}€" in text
    assert f"Gesamtbetrag 11,90{NBSP}€" in text
    assert f"11,90{NBSP}€" in text
    assert "PDF herunterladen" in text
    for fragment in ENGLISH_FRAGMENTS:
        assert fragment not in text, fragment


def test_query_param_beats_preferences_and_english_is_the_fallback(client, vat_invoice):
    vat_invoice.customer.preferred_locales = ["de"]
    vat_invoice.customer.save(update_fields=["preferred_locales"])
    assert client.get(_url(vat_invoice, locale="en"))["Content-Language"] == "en"

    vat_invoice.customer.preferred_locales = ["ja"]
    vat_invoice.customer.save(update_fields=["preferred_locales"])
    response = client.get(_url(vat_invoice, locale="xx"), HTTP_ACCEPT_LANGUAGE="pt")
    assert response["Content-Language"] == "en"


def test_choose_locale():
    factory = RequestFactory()
    customer = CustomerFactory.build(preferred_locales=["de-DE", "en"])
    assert choose_locale(factory.get("/", {"locale": "en"}), customer) == "en"
    assert choose_locale(factory.get("/", {"locale": "DE"}), None) == "de"
    assert choose_locale(factory.get("/"), customer) == "de"
    assert choose_locale(factory.get("/", HTTP_ACCEPT_LANGUAGE="de;q=0.8,en;q=0.9"), None) == "en"
    no_preference = CustomerFactory.build(preferred_locales=[])
    assert choose_locale(factory.get("/", HTTP_ACCEPT_LANGUAGE="de-CH"), no_preference) == "de"
    assert choose_locale(factory.get("/", {"locale": "pt"}), CustomerFactory.build(preferred_locales=["ja"])) == "en"
    assert choose_locale(factory.get("/", {"locale": "fr-CA"}), None) == "fr"
    assert choose_locale(factory.get("/"), CustomerFactory.build(preferred_locales=["es-419"])) == "es"


def test_draft_and_unknown_tokens_are_not_found(client, db):
    customer = _customer()
    with time_machine.travel(T0, tick=False):
        draft = invoice_create_draft(
            customer=customer,
            subscription=None,
            currency="eur",
            billing_reason=Invoice.BillingReason.MANUAL,
            period_start=clock.now(),
            period_end=clock.now(),
            lines=[LineSpec(description="Setup", amount=5000, period_start=clock.now(), period_end=clock.now())],
        )
    assert draft.status == Invoice.Status.DRAFT

    assert client.get(_url(draft)).status_code == 404
    assert client.get(_pdf_url(draft)).status_code == 404
    assert client.get("/i/" + "0" * 64 + "/").status_code == 404
    assert client.get("/i/" + "0" * 64 + "/pdf").status_code == 404


def test_only_safe_methods(client, vat_invoice):
    assert client.post(_url(vat_invoice)).status_code == 405


def test_exclusive_and_inclusive_taxes_are_grouped_per_rate(client, db):
    customer = _customer()
    vat = TaxRateFactory(account=customer.account, display_name="VAT", percentage=Decimal("19"))
    reduced = TaxRateFactory(account=customer.account, display_name="VAT", percentage=Decimal("7"), inclusive=True)
    items = [
        ItemSpec(_price(customer, name="Pro", amount=1000), 2, tax_rates=[vat]),
        ItemSpec(_price(customer, name="Books", amount=1070, tax_behavior="inclusive"), 1, tax_rates=[reduced]),
        ItemSpec(_price(customer, name="Support", amount=500), 1, tax_rates=[vat]),
    ]
    invoice = _subscribe(customer, items).latest_invoice
    # 2 × 10.00 + 5.00 at 19 % on top; 10.70 with 7 % inside (0.70).
    assert (invoice.subtotal, invoice.tax, invoice.total) == (3570, 475 + 70, 3570 + 475)

    text = visible_text(client.get(_url(invoice)))
    assert "Total excluding tax €35.00" in text
    assert "VAT 19% on €25.00 €4.75" in text
    assert "incl. VAT 7% on €10.00 €0.70" in text
    assert "Total €40.45" in text
    assert "2 €10.00 19% €20.00" in text  # quantity, unit price, tax column, amount

    german = visible_text(client.get(_url(invoice, locale="de")))
    assert f"VAT 19{NBSP}% auf 25,00{NBSP}€ 4,75{NBSP}€" in german
    assert f"inkl. VAT 7{NBSP}% auf 10,00{NBSP}€ 0,70{NBSP}€" in german


def test_proration_lines_are_labelled_in_both_languages(client, db):
    customer = _customer()
    subscription = _subscribe(customer, [ItemSpec(_price(customer, name="Pro", amount=1000), 1)])
    premium = _price(customer, name="Premium", amount=2000)
    invoice = _prorated(subscription, lambda items: [ItemChange(item=items[0], price=premium)])
    stored = sorted(invoice.lines.values_list("description", flat=True))
    assert stored[0].startswith("Remaining time on 1 × Premium (at €20.00 / month)")

    text = visible_text(client.get(_url(invoice)))
    assert "Unused time on Pro" in text and "-€5.00" in text
    assert "Remaining time on Premium" in text and "€10.00" in text
    assert text.count("Proration") == 2
    assert "Feb 14 – 28, 2026" in text  # visible_text folds the thin spaces

    german = visible_text(client.get(_url(invoice, locale="de")))
    assert "Nicht genutzte Zeit für Pro" in german and f"-5,00{NBSP}€" in german
    assert "Verbleibende Zeit für Premium" in german
    assert german.count("Anteilige Berechnung") == 2
    for fragment in ENGLISH_FRAGMENTS:
        assert fragment not in german, fragment


def test_trial_line_and_open_invoice_with_due_date(client, db):
    customer = _customer()
    trial = _subscribe(customer, [ItemSpec(_price(customer, name="Pro"), 1)], trial_period_days=14).latest_invoice
    assert "Trial period for Pro" in visible_text(client.get(_url(trial)))
    assert "Testzeitraum für Pro" in visible_text(client.get(_url(trial, locale="de")))

    other = _customer()
    invoice = _subscribe(
        other, [ItemSpec(_price(other), 1)], collection_method="send_invoice", days_until_due=14
    ).latest_invoice
    text = visible_text(client.get(_url(invoice)))
    assert "Open" in text and "Due on February 14, 2026" in text and "Due date February 14, 2026" in text
    assert "Amount remaining €10.00" in text
    assert "Fällig am 14. Februar 2026" in visible_text(client.get(_url(invoice, locale="de")))

    invoice_void(invoice=invoice, actor=ACTOR)
    text = visible_text(client.get(_url(invoice)))
    assert "Void" in text and "Voided on" in text and "Amount remaining" not in text
    assert "Storniert" in visible_text(client.get(_url(invoice, locale="de")))


def test_failed_payment_and_discounts(client, db):
    customer = _customer()
    card(customer, "4000000000000341")  # attaches, then fails when charged
    coupon = coupon_create(account=customer.account, livemode=False, actor=ACTOR, name="Launch", percent_off=25)
    invoice = _subscribe(customer, [ItemSpec(_price(customer, amount=2000), 1)], coupon=coupon).latest_invoice
    assert invoice.status == Invoice.Status.OPEN and invoice.total_discount == 500

    text = visible_text(client.get(_url(invoice)))
    assert "Failed" in text
    assert "Discount -€5.00" in text  # on the line and in the totals
    assert "Amount remaining €15.00" in text
    german = visible_text(client.get(_url(invoice, locale="de")))
    assert f"Rabatt -5,00{NBSP}€" in german and "Fehlgeschlagen" in german


def test_query_count_does_not_grow_with_lines(client, db, django_assert_max_num_queries):
    small_customer = _customer()
    small_vat = TaxRateFactory(account=small_customer.account, percentage=Decimal("19"))
    small = _subscribe(small_customer, [ItemSpec(_price(small_customer), 1)], default_tax_rates=[small_vat])
    small = small.latest_invoice

    customer = _customer()
    vat = TaxRateFactory(account=customer.account, percentage=Decimal("19"))
    prices = [_price(customer, name=f"Seat pack {n}", amount=1000 + n) for n in range(15)]
    subscription = _subscribe(customer, [ItemSpec(p, 1) for p in prices], default_tax_rates=[vat])
    large = _prorated(subscription, lambda items: [ItemChange(item=item, quantity=2) for item in items])
    assert large.lines.count() == 30

    with CaptureQueriesContext(connection) as one_line:
        assert client.get(_url(small)).status_code == 200
    assert len(one_line) <= 8  # invoice, lines, prices, products, tax rates, charges, payment methods, branding
    with django_assert_max_num_queries(len(one_line)):
        assert client.get(_url(large)).status_code == 200
    with django_assert_max_num_queries(len(one_line)):
        assert client.get(_pdf_url(large)).status_code == 200


# ---------------------------------------------------------------------------------------------- the PDF


def _pdf_text(content: bytes) -> str | None:
    try:
        from pypdf import PdfReader
    except ImportError:
        return None
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def test_pdf_in_english(client, vat_invoice):
    response = client.get(_pdf_url(vat_invoice))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'inline; filename="Invoice-{vat_invoice.number}.pdf"'
    assert response["Cache-Control"] == "private, no-store"
    assert response.content.startswith(b"%PDF")
    assert len(response.content) > 1000
    text = _pdf_text(response.content)
    if text is not None:
        assert vat_invoice.number in text
        assert "Acme GmbH" in text and "€11.90" in text and "VAT 19% on €10.00" in text


def test_pdf_in_german(client, vat_invoice):
    response = client.get(_pdf_url(vat_invoice, locale="de"))

    assert response.status_code == 200
    assert response["Content-Disposition"] == f'inline; filename="Rechnung-{vat_invoice.number}.pdf"'
    assert response.content.startswith(b"%PDF")
    text = _pdf_text(response.content)
    if text is not None:
        assert vat_invoice.number in text and "Rechnung" in text and "Gesamtbetrag" in text


def test_pdf_renderer_reads_only_our_static_files(settings):
    fetcher = static_files_only_fetcher("http://testserver/")

    stylesheet = fetcher.fetch("http://testserver/static/css/invoice-pdf.css")
    assert b"@page" in stylesheet.read()
    for url in (
        "https://example.com/logo.png",
        "http://169.254.169.254/latest/meta-data/",
        "file:///etc/passwd",
        "http://testserver/static/../config/settings.py",
        "http://testserver/admin/",
    ):
        with pytest.raises(ValueError):
            fetcher.fetch(url)


# ---------------------------------------------------------------------------------------------- formatting


@pytest.mark.parametrize(
    ("amount", "currency", "english", "german"),
    [
        (123450, "eur", "€1,234.50", f"1.234,50{NBSP}€"),
        (1190, "eur", "€11.90", f"11,90{NBSP}€"),
        (-500, "eur", "-€5.00", f"-5,00{NBSP}€"),
        (1235, "jpy", "¥1,235", f"1.235{NBSP}¥"),
        (1235, "kwd", f"KWD{NBSP}1.235", f"1,235{NBSP}KWD"),
        (1234567, "kwd", f"KWD{NBSP}1,234.567", f"1.234,567{NBSP}KWD"),
        (1190, "usd", "$11.90", f"11,90{NBSP}$"),
        (1190, "chf", f"CHF{NBSP}11.90", f"11,90{NBSP}CHF"),
    ],
)
def test_money_filter(amount, currency, english, german):
    with translation.override("en"):
        assert money(amount, currency) == english
    with translation.override("de"):
        assert money(amount, currency) == german


def test_money_filter_ignores_missing_values():
    assert money(None, "eur") == "" and money(100, "") == ""


def test_date_period_and_percentage_filters():
    start, end = dt.datetime(2026, 1, 31, 10, tzinfo=dt.UTC), dt.datetime(2026, 2, 28, 10, tzinfo=dt.UTC)
    with translation.override("en"):
        assert billing_date(start) == "January 31, 2026"
        assert billing_period(start, end) == f"Jan 31{THIN}–{THIN}Feb 28, 2026"
        assert billing_period(start, start) == "Jan 31, 2026"
        assert percentage(Decimal("19.0000")) == "19%" and percentage(Decimal("7.5")) == "7.5%"
        assert billing_date(None) == ""
    with translation.override("de"):
        assert billing_date(start) == "31. Januar 2026"
        assert billing_period(start, end) == f"31. Jan.{THIN}–{THIN}28. Feb. 2026"
        assert percentage(Decimal("19.0000")) == f"19{NBSP}%" and percentage(Decimal("7.5")) == f"7,5{NBSP}%"


def test_the_page_wears_the_merchants_brand_colours(client, vat_invoice):
    from configurations.services.branding import branding_update

    branding_update(
        account=vat_invoice.account, actor=ACTOR, primary_color="#4338ca", background_color="#f5f3ff", font="serif"
    )
    response = client.get(_url(vat_invoice))
    html = response.content.decode()
    nonce = re.search(r'<style nonce="([^"]+)">', html).group(1)
    assert f"'nonce-{nonce}'" in response["Content-Security-Policy"]
    assert "--color-accent: #4338ca;" in html and "--color-brand-page: #f5f3ff;" in html
    assert ' style="' not in html  # no inline style attributes


def test_the_payment_history_shows_the_card_brands_mark(client, vat_invoice):
    html = client.get(_url(vat_invoice)).content.decode()
    assert 'src="/static/img/payment-methods/visa.svg"' in html


def test_the_language_links_keep_the_query_string(client, vat_invoice):
    html = client.get(_url(vat_invoice, redirect_status="failed")).content.decode()
    assert "?redirect_status=failed&amp;locale=de" in html
