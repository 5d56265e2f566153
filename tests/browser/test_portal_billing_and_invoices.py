"""Billing details and invoice history in a real Chromium: update the billing address, load more invoices with
htmx, download a PDF, pay an open invoice on its pay page, read a decline; German amounts; screenshots (desktop and
phone, English and German) of the overview, billing details and invoice history, none with serious accessibility
problems."""

import datetime as dt
import re

import pytest
from django.db import transaction
from django.utils import timezone

from billing.audit import Actor
from billing.models import Invoice
from billing.services.customers import customer_update
from billing.services.invoices import LineSpec, invoice_create_draft, invoice_finalize
from billing.services.tax_ids import tax_id_create
from tests.billing.helpers import run_cycle, subscribed
from tests.browser.conftest import axe_violations, watch
from tests.factories.billing import CustomerFactory, card
from tests.factories.portal import full_configuration, session_url

ACTOR = Actor.system("test")
NOTHING_OVERFLOWS = "document.documentElement.scrollWidth <= window.innerWidth"
PAGES = {"overview": "/p/", "billing-details": "/p/billing-details", "invoices": "/p/invoices"}
VIEWPORTS = {"desktop": (1280, 900), "phone": (390, 844)}


def open_invoice(customer, *, amount: int, description: str = "Onboarding workshop") -> Invoice:
    with transaction.atomic():
        now = timezone.now()
        draft = invoice_create_draft(
            customer=customer,
            subscription=None,
            currency="eur",
            billing_reason=Invoice.BillingReason.MANUAL,
            period_start=now,
            period_end=now,
            lines=[LineSpec(description, amount, now, now)],
        )
    return invoice_finalize(invoice=draft, actor=ACTOR)


@pytest.fixture
def customer(transactional_db):
    """A year of paid monthly invoices for €1,234.50, a tax id, and one open invoice."""
    start = timezone.now() - dt.timedelta(days=345)
    subscription = subscribed(start, amount=123450)
    for month in range(1, 12):
        run_cycle(start + dt.timedelta(days=31 * month))
    customer = subscription.customer
    customer_update(
        customer=customer,
        actor=ACTOR,
        name="Erika Mustermann",
        email="erika@example.com",
        address={"line1": "Invalidenstraße 116", "postal_code": "10115", "city": "Berlin", "country": "DE"},
    )
    tax_id_create(customer=customer, type="eu_vat", value="DE123456789", actor=ACTOR)
    open_invoice(customer, amount=4900)
    full_configuration(subscription.account)
    customer.refresh_from_db()
    return customer


def enter_portal(browser, live_server, customer, *, viewport="desktop", locale=None):
    width, height = VIEWPORTS[viewport]
    page = browser.new_page(viewport={"width": width, "height": height})
    problems = watch(page)
    url = re.sub(r"^https?://[^/]+", live_server.url, session_url(customer, **({"locale": locale} if locale else {})))
    page.goto(url)
    assert page.url == f"{live_server.url}/p/"
    return page, problems


def test_update_the_billing_address(browser, live_server, customer, artifacts):
    page, problems = enter_portal(browser, live_server, customer)
    page.get_by_role("link", name="Update information").click()
    assert page.get_by_role("heading", level=1, name="Billing information").is_visible()
    assert page.get_by_label("Country").input_value() == "DE"

    page.get_by_label("Address line 1").fill("Stephansplatz 1")
    page.get_by_label("Postal code").fill("1010")
    page.get_by_label("City").fill("Wien")
    page.get_by_label("Country").select_option("AT")
    page.get_by_role("button", name="Save").click()

    assert page.url == f"{live_server.url}/p/"
    assert page.get_by_text("Billing information updated.").is_visible()
    details = page.locator("address")
    assert details.get_by_text("Stephansplatz 1").is_visible()
    assert details.get_by_text("Austria").is_visible()
    customer.refresh_from_db()
    assert customer.address["country"] == "AT"

    page.goto(f"{live_server.url}/p/billing-details")
    assert page.get_by_label("Kind of number").input_value() == "eu_vat:AT"  # the customer's country's
    page.get_by_label("Tax ID", exact=True).fill("U1234567")
    page.get_by_role("button", name="Add tax ID").click()
    error = page.locator("#id_value_error")
    assert error.is_visible()
    assert "Compare it with the example: ATU12345678." in error.inner_text()
    assert page.get_by_label("Tax ID", exact=True).get_attribute("aria-invalid") == "true"
    page.get_by_label("Email").fill("not an email")
    page.get_by_role("button", name="Save").click()
    assert page.get_by_role("alert").get_by_text("Please correct the highlighted fields.").is_visible()
    assert page.get_by_label("Email").get_attribute("aria-describedby") == "id_email_helptext id_email_error"
    page.screenshot(path=artifacts / "portal-billing-details-errors-en-desktop.png", full_page=True)
    page.get_by_label("Kind of number").select_option("eu_vat:AT")
    page.get_by_label("Tax ID", exact=True).fill("ATU13585628")  # one digit off
    page.get_by_role("button", name="Add tax ID").click()
    assert "check digit does not match" in page.locator("#id_value_error").inner_text()
    page.locator("#id_value_error").screenshot(path=artifacts / "portal-billing-details-vat-error-en-desktop.png")
    page.get_by_label("Tax ID", exact=True).fill("ATU13585627")
    page.get_by_role("button", name="Add tax ID").click()
    assert page.get_by_text("Tax ID added.").is_visible()
    page.get_by_role("button", name="Remove DE123456789").click()
    assert page.get_by_text("Tax ID removed.").is_visible()
    assert list(customer.tax_ids.values_list("value", flat=True)) == ["ATU13585627"]
    page.get_by_label("Kind of number").select_option("us_ein")
    page.get_by_label("Tax ID", exact=True).fill("04-2103594")
    page.get_by_role("button", name="Add tax ID").click()
    assert page.locator(".bd-tax-id-kind", has_text="United States of America — Tax number (EIN)").is_visible()
    assert problems == []


def test_the_address_fields_follow_the_country(browser, live_server, customer, artifacts, axe_source):
    for locale, words in (
        ("en", ("ZIP code", "State", "Postal code")),
        ("de", ("Postleitzahl (ZIP)", "Bundesstaat", "Postleitzahl")),
    ):
        for viewport in VIEWPORTS:
            page, problems = enter_portal(browser, live_server, customer, viewport=viewport, locale=locale)
            page.goto(f"{live_server.url}/p/billing-details")
            assert page.locator("#id_address_state").count() == 0  # Germany writes no state
            page.locator("#id_address_country").select_option("US")
            page.get_by_label(words[0], exact=True).wait_for()  # re-laid by htmx
            assert page.get_by_label(words[1], exact=True).is_visible()
            assert page.locator("#id_address_line1").input_value() == "Invalidenstraße 116"  # kept
            page.get_by_label(words[0], exact=True).fill("ABCDEFG")
            page.get_by_label(words[1], exact=True).select_option("CA")
            page.get_by_role("button", name="Save" if locale == "en" else "Speichern").click()
            assert page.locator("#id_address_postal_code_error").is_visible()
            page.screenshot(
                path=artifacts / f"portal-billing-details-us-address-{locale}-{viewport}.png", full_page=True
            )
            assert page.evaluate(NOTHING_OVERFLOWS)
            assert axe_violations(page, axe_source) == [], f"{locale} {viewport}"
            assert problems == []
            page.close()
    customer.refresh_from_db()
    assert customer.address["postal_code"] == "10115"  # nothing saved


def test_the_legal_links_show_on_a_phone(browser, live_server, customer):
    page, problems = enter_portal(browser, live_server, customer, viewport="phone")
    assert page.get_by_role("link", name="Terms of service").is_visible()
    assert page.get_by_role("link", name="Privacy policy").is_visible()
    page.goto(f"{live_server.url}/p/billing-details")
    assert page.get_by_role("link", name="Terms of service").is_visible()
    assert problems == []


def test_load_more_download_a_pdf_and_pay(browser, live_server, customer):
    page, problems = enter_portal(browser, live_server, customer)
    table = page.locator("#invoice-rows")
    assert table.locator(".invoice-row").count() == 10
    page.get_by_role("link", name="Load more").click()
    table.locator(".invoice-row").nth(12).wait_for()
    assert table.locator(".invoice-row").count() == 13
    assert page.url == f"{live_server.url}/p/"  # appended in place
    assert page.get_by_role("link", name="Load more").count() == 0

    page.goto(f"{live_server.url}/p/invoices")
    pdf_link = page.locator(".invoice-row").first.get_by_role("link", name=re.compile("^PDF"))
    pdf = page.request.get(live_server.url + pdf_link.get_attribute("href"))
    assert pdf.status == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.body().startswith(b"%PDF")

    open_row = page.locator(".invoice-row", has_text="Open")
    assert open_row.count() == 1
    open_row.get_by_role("link", name=re.compile("^Pay now")).click()
    assert page.get_by_label(re.compile("4242")).is_checked()  # the default card
    page.get_by_role("button", name="Pay €49.00").click()
    assert page.url == f"{live_server.url}/p/invoices"
    assert page.get_by_text("Invoice paid.").is_visible()
    assert page.get_by_role("link", name=re.compile("^Pay now")).count() == 0
    assert not Invoice.objects.filter(customer=customer, status=Invoice.Status.OPEN).exists()
    assert problems == []


def test_a_declined_card_is_explained(browser, live_server, transactional_db):
    customer = CustomerFactory(name="Max Mustermann")
    card(customer, "4000000000000341")  # attaches, then fails when charged
    invoice = open_invoice(customer, amount=2900)
    full_configuration(customer.account)

    page, problems = enter_portal(browser, live_server, customer)
    page.get_by_role("link", name=re.compile("^Pay now")).click()
    page.get_by_role("button", name="Pay €29.00").click()
    notice = page.locator(".notice-error")
    assert notice.inner_text() == "Your card was declined."
    assert page.get_by_role("heading", level=1, name="Pay invoice").is_visible()  # still open: pay again
    page.get_by_role("link", name="Back to overview").click()
    assert page.get_by_role("link", name=re.compile("^Pay now")).is_visible()
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.OPEN
    assert problems == []


def test_german_amounts_screenshots_and_accessibility(browser, live_server, customer, artifacts, axe_source):
    for locale in ("en", "de"):
        for viewport in VIEWPORTS:
            page, problems = enter_portal(browser, live_server, customer, viewport=viewport, locale=locale)
            assert page.locator("html").get_attribute("lang") == locale
            for name, path in PAGES.items():
                if path != "/p/":
                    page.goto(live_server.url + path)
                page.wait_for_load_state("networkidle")
                page.screenshot(path=artifacts / f"portal-{name}-{locale}-{viewport}.png", full_page=True)
                assert page.evaluate(NOTHING_OVERFLOWS), f"{name} scrolls sideways on a {viewport}"
                assert axe_violations(page, axe_source) == [], f"{name} ({locale}, {viewport})"
                if locale == "de" and name == "overview":
                    main = page.locator("main").inner_text()
                    assert "1.234,50\xa0€ pro Monat" in main
                    assert "rechnungsverlauf" in main.lower()  # headings are shown in capitals
                    assert "invoice history" not in main.lower()
                if locale == "de" and name == "billing-details":
                    assert page.get_by_label("Land", exact=True).input_value() == "DE"
                    assert page.get_by_role("option", name="Österreich", exact=True).count() == 1
            assert problems == []
            page.close()
