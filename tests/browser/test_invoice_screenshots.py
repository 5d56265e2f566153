"""The hosted invoice in a real Chromium: styled under the strict CSP, no sideways scrolling on a phone,
and screenshots (page in English and German, phone, PDF) written to test-artifacts/ for people to look at."""

import datetime as dt
import shutil
import subprocess
from decimal import Decimal

import time_machine
from django.urls import reverse

from billing.audit import Actor
from billing.models import Invoice
from billing.services.coupons import coupon_create
from billing.services.subscriptions import ItemChange, ItemSpec, subscription_change_items, subscription_create
from tests.browser.conftest import ARTIFACTS
from tests.factories.billing import CustomerFactory, PriceFactory, TaxRateFactory, card

ACTOR = Actor.system("test")
T0 = dt.datetime(2026, 1, 31, 10, 0, tzinfo=dt.UTC)

# Neither the page nor any table inside the card is wider than the viewport.
NOTHING_OVERFLOWS = """
    document.documentElement.scrollWidth <= window.innerWidth
    && [...document.querySelectorAll('.invoice-card table')].every(t => t.getBoundingClientRect().right <= window.innerWidth)
"""


def _open_invoice() -> Invoice:
    """Sent for payment by bank transfer with a due date, after a card payment that failed."""
    with time_machine.travel(T0, tick=False):
        customer = CustomerFactory(
            account__name="Nordlicht Software GmbH",
            name="Jane Doe",
            email="jane@example.com",
            address={
                "line1": "1 Market St",
                "city": "San Francisco",
                "state": "CA",
                "postal_code": "94105",
                "country": "US",
            },
            preferred_locales=[],
        )
        card(customer, "4000000000000341")  # attaches, then fails when charged
        account = customer.account
        vat = TaxRateFactory(account=account, display_name="VAT", percentage=Decimal("19"))
        price = PriceFactory(account=account, product__account=account, product__name="Business plan", unit_amount=9900)
        subscription = subscription_create(
            customer=customer, items=[ItemSpec(price, 1)], actor=ACTOR, default_tax_rates=[vat]
        )
    return subscription.latest_invoice


def _invoices() -> tuple[Invoice, Invoice]:
    """A first invoice with two tax rates and a coupon, and the proration invoice of a seat upgrade."""
    with time_machine.travel(T0, tick=False):
        customer = CustomerFactory(
            account__name="Nordlicht Software GmbH",
            name="Erika Mustermann",
            email="erika.mustermann@example.com",
            address={"line1": "Invalidenstraße 116", "postal_code": "10115", "city": "Berlin", "country": "DE"},
            preferred_locales=[],
        )
        card(customer)
        account = customer.account
        vat = TaxRateFactory(account=account, display_name="VAT", percentage=Decimal("19"))
        reduced = TaxRateFactory(account=account, display_name="VAT", percentage=Decimal("7"), inclusive=True)
        team = PriceFactory(account=account, product__account=account, product__name="Team plan", unit_amount=2900)
        ebooks = PriceFactory(
            account=account,
            product__account=account,
            product__name="E-book library",
            unit_amount=1070,
            tax_behavior="inclusive",
        )
        coupon = coupon_create(account=account, livemode=False, actor=ACTOR, name="Launch", percent_off=10)
        subscription = subscription_create(
            customer=customer,
            items=[ItemSpec(team, 3, tax_rates=[vat]), ItemSpec(ebooks, 1, tax_rates=[reduced])],
            actor=ACTOR,
            coupon=coupon,
        )
    with time_machine.travel(T0 + dt.timedelta(days=14), tick=False):
        team_item = subscription.items.get(price=team)
        subscription_change_items(
            subscription=subscription,
            changes=[ItemChange(item=team_item, quantity=5)],
            actor=ACTOR,
            proration_behavior="always_invoice",
        )
    first = subscription.invoices.get(billing_reason=Invoice.BillingReason.SUBSCRIPTION_CREATE)
    update = subscription.invoices.get(billing_reason=Invoice.BillingReason.SUBSCRIPTION_UPDATE)
    return first, update


def _open(browser, url: str, *, width: int, height: int = 900):
    page = browser.new_page(viewport={"width": width, "height": height}, device_scale_factor=2)
    problems = []

    def on_response(response):
        if response.status >= 400:
            problems.append(f"{response.url} answered {response.status}")

    page.on("console", lambda message: "Refused to" in message.text and problems.append(message.text))
    page.on("response", on_response)
    page.on("requestfailed", lambda request: problems.append(f"{request.url} failed"))
    page.goto(url)
    page.wait_for_load_state("networkidle")
    return page, problems


def test_hosted_invoice_in_chromium(transactional_db, live_server, browser, client):
    first, update = _invoices()
    ARTIFACTS.mkdir(exist_ok=True)
    url = live_server.url + reverse("portal:hosted_invoice", kwargs={"token": first.hosted_token})

    for locale in ("en", "de"):
        page, problems = _open(browser, f"{url}?locale={locale}", width=1280)
        assert problems == []  # stylesheets load under the CSP, nothing is blocked
        assert page.locator("html").get_attribute("lang") == locale
        card = page.locator(".invoice-card")
        assert card.evaluate("el => getComputedStyle(el).backgroundColor") == "rgb(255, 255, 255)"
        assert page.get_by_role("link", name="PDF herunterladen" if locale == "de" else "Download PDF").is_visible()
        page.screenshot(path=ARTIFACTS / f"invoice-{locale}.png", full_page=True)
        page.close()

    page, problems = _open(browser, f"{url}?locale=de", width=360, height=800)
    assert problems == []
    assert page.evaluate(NOTHING_OVERFLOWS)
    page.screenshot(path=ARTIFACTS / "invoice-de-phone.png", full_page=True)
    page.close()

    open_invoice = _open_invoice()
    open_url = live_server.url + reverse("portal:hosted_invoice", kwargs={"token": open_invoice.hosted_token})
    for name, width in (("invoice-open-en.png", 1280), ("invoice-open-en-phone.png", 360)):
        page, problems = _open(browser, f"{open_url}?locale=en", width=width)
        assert problems == []
        assert page.evaluate(NOTHING_OVERFLOWS)
        assert page.get_by_text("Failed", exact=True).locator("visible=true").count() == 1
        page.screenshot(path=ARTIFACTS / name, full_page=True)
        page.close()

    proration_url = live_server.url + reverse("portal:hosted_invoice", kwargs={"token": update.hosted_token})
    page, problems = _open(browser, f"{proration_url}?locale=en", width=1280)
    assert problems == []
    assert page.get_by_text("Unused time on Team plan").is_visible()
    page.screenshot(path=ARTIFACTS / "invoice-proration-en.png", full_page=True)
    page.close()

    for locale in ("en", "de"):
        pdf_url = reverse("portal:hosted_invoice_pdf", kwargs={"token": first.hosted_token})
        response = client.get(f"{pdf_url}?locale={locale}")
        assert response.content.startswith(b"%PDF")
        pdf_path = ARTIFACTS / f"invoice-{locale}.pdf"
        pdf_path.write_bytes(response.content)
        if shutil.which("pdftoppm"):  # poppler-utils, optional: only to look at the PDF
            subprocess.run(
                ["pdftoppm", "-png", "-r", "110", "-singlefile", pdf_path, ARTIFACTS / f"invoice-{locale}-pdf"],
                check=True,
            )


def test_the_open_invoice_wears_the_brand_and_shows_card_marks(transactional_db, live_server, browser, axe_source):
    from configurations.services.branding import branding_update
    from tests.browser.conftest import axe_violations, watch

    invoice = _open_invoice()
    card(invoice.customer, "5555555555554444", default=False)
    branding_update(
        account=invoice.account, actor=ACTOR, primary_color="#0f766e", background_color="#f0fdfa", font="serif"
    )
    url = live_server.url + reverse("portal:hosted_invoice", kwargs={"token": invoice.hosted_token})
    for locale in ("en", "de"):
        for viewport, size in (("desktop", (1280, 900)), ("phone", (390, 844))):
            page = browser.new_page(viewport={"width": size[0], "height": size[1]})
            problems = watch(page)
            page.goto(f"{url}?locale={locale}")
            button = page.locator(".pay-form .button-primary")
            assert button.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(15, 118, 110)"
            assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(240, 253, 250)"
            assert page.get_by_role("img", name="Mastercard").is_visible()
            assert page.get_by_role("img", name="Visa").is_visible()
            assert page.evaluate(NOTHING_OVERFLOWS)
            page.screenshot(path=ARTIFACTS / f"invoice-branded-{locale}-{viewport}.png", full_page=True)
            assert axe_violations(page, axe_source) == [], f"{locale} {viewport}"
            assert problems == []
            page.close()
