"""Paying an open invoice in the portal, in a real Chromium: "Pay now" on the overview or the invoice history opens
the pay page; the customer chooses a card that needs 3-D Secure, confirms (or fails) on the bank's page and comes
back to a paid invoice (or to the pay page with the reason, the invoice still open, and pays with another card). In
English and German; screenshots of the pay page on a desktop and a phone, none with serious accessibility problems."""

import re

import pytest
from django.db import transaction
from django.utils import timezone

from billing.audit import Actor
from billing.models import Charge, Invoice
from billing.services.invoices import LineSpec, invoice_create_draft, invoice_finalize
from tests.browser.conftest import axe_violations, watch
from tests.factories.billing import CustomerFactory, card, sepa
from tests.factories.portal import full_configuration, session_url

ACTOR = Actor.system("test")
NOTHING_OVERFLOWS = "document.documentElement.scrollWidth <= window.innerWidth"
VIEWPORTS = {"desktop": (1280, 900), "phone": (390, 844)}
WORDS = {
    "en": {
        "pay_now": "Pay now",
        "heading": "Pay invoice",
        "pay": "Pay €49.00",
        "complete": "Complete authentication",
        "fail": "Fail authentication",
        "paid": "Invoice paid.",
        "not_confirmed": "The payment was not confirmed with your bank.",
    },
    "de": {
        "pay_now": "Jetzt bezahlen",
        "heading": "Rechnung bezahlen",
        "pay": "49,00\xa0€ bezahlen",
        "complete": "Authentifizierung abschließen",
        "fail": "Authentifizierung fehlschlagen lassen",
        "paid": "Rechnung bezahlt.",
        "not_confirmed": "Die Zahlung wurde nicht bei Ihrer Bank bestätigt.",
    },
}
START = {"overview": "/p/", "history": "/p/invoices"}


def open_invoice(customer, *, amount: int = 4900) -> Invoice:
    now = timezone.now()
    with transaction.atomic():
        draft = invoice_create_draft(
            customer=customer,
            subscription=None,
            currency="eur",
            billing_reason=Invoice.BillingReason.MANUAL,
            period_start=now,
            period_end=now,
            lines=[LineSpec("Onboarding workshop", amount, now, now)],
        )
    return invoice_finalize(invoice=draft, actor=ACTOR)


@pytest.fixture
def customer(transactional_db, live_server, settings):
    """A default Visa ending 4242, a Visa ending 3184 that needs 3-D Secure every time, and an open €49 invoice."""
    settings.PORTAL_BASE_URL = live_server.url  # where the test gateway's bank page is
    customer = CustomerFactory(name="Erika Mustermann")
    card(customer)
    card(customer, "4000002760003184", default=False)
    open_invoice(customer)
    full_configuration(customer.account)
    return customer


def enter_portal(browser, live_server, customer, *, locale="en", viewport="desktop"):
    width, height = VIEWPORTS[viewport]
    # The bank's page is outside the portal session: it speaks the customer's preferred language.
    customer.preferred_locales = [locale]
    customer.save(update_fields=["preferred_locales"])
    page = browser.new_page(viewport={"width": width, "height": height})
    problems = watch(page)
    page.goto(re.sub(r"^https?://[^/]+", live_server.url, session_url(customer, locale=locale)))
    assert page.url == f"{live_server.url}/p/"
    return page, problems


def press_pay_now(page, live_server, start: str, words: dict) -> None:
    if start == "history":
        page.goto(live_server.url + START["history"])
    page.locator(".invoice-row", has=page.get_by_role("link", name=re.compile(words["pay_now"]))).get_by_role(
        "link", name=re.compile(f"^{words['pay_now']}")
    ).click()
    assert page.get_by_role("heading", level=1, name=words["heading"]).is_visible()


@pytest.mark.parametrize("start", ["overview", "history"])
@pytest.mark.parametrize("locale", ["en", "de"])
def test_pay_with_a_card_the_bank_asks_to_confirm(browser, live_server, customer, locale, start):
    words = WORDS[locale]
    page, problems = enter_portal(browser, live_server, customer, locale=locale)
    press_pay_now(page, live_server, start, words)
    assert page.get_by_label(re.compile("4242")).is_checked()  # the default is chosen
    page.get_by_label(re.compile("3184")).check()
    page.get_by_role("button", name=words["pay"]).click()

    page.get_by_role("button", name=words["complete"]).click()
    page.wait_for_url(f"{live_server.url}{START[start]}")
    assert page.locator(".notice-success").inner_text() == words["paid"]
    assert page.get_by_role("link", name=re.compile(words["pay_now"])).count() == 0
    invoice = Invoice.objects.get(customer=customer)
    assert invoice.status == Invoice.Status.PAID
    [charge] = Charge.objects.filter(invoice=invoice)
    assert charge.status == Charge.Status.SUCCEEDED and charge.payment_method.card_last4 == "3184"
    assert problems == []


@pytest.mark.parametrize("start", ["overview", "history"])
@pytest.mark.parametrize("locale", ["en", "de"])
def test_a_failed_confirmation_keeps_the_invoice_open_and_another_card_pays(
    browser, live_server, customer, locale, start
):
    words = WORDS[locale]
    page, problems = enter_portal(browser, live_server, customer, locale=locale)
    press_pay_now(page, live_server, start, words)
    page.get_by_label(re.compile("3184")).check()
    page.get_by_role("button", name=words["pay"]).click()

    page.get_by_role("button", name=words["fail"]).click()
    page.wait_for_url(re.compile(r"/p/invoices/in_[^/]+/pay(\?return_to=history)?$"))
    assert words["not_confirmed"] in page.locator(".notice-error").inner_text()
    assert page.get_by_role("heading", level=1, name=words["heading"]).is_visible()
    assert Invoice.objects.get(customer=customer).status == Invoice.Status.OPEN

    page.get_by_label(re.compile("4242")).check()
    page.get_by_role("button", name=words["pay"]).click()
    page.wait_for_url(f"{live_server.url}{START[start]}")
    assert page.locator(".notice-success").inner_text() == words["paid"]
    invoice = Invoice.objects.get(customer=customer)
    assert invoice.status == Invoice.Status.PAID
    assert Charge.objects.filter(invoice=invoice, status=Charge.Status.SUCCEEDED).count() == 1
    assert problems == []


def test_pay_page_screenshots_and_accessibility(browser, live_server, customer, artifacts, axe_source):
    sepa(customer)  # a bank account too: three methods to choose from
    invoice = Invoice.objects.get(customer=customer)
    for locale in ("en", "de"):
        for viewport in VIEWPORTS:
            page, problems = enter_portal(browser, live_server, customer, locale=locale, viewport=viewport)
            page.goto(f"{live_server.url}/p/invoices/{invoice.id}/pay?return_to=history")
            page.wait_for_load_state("networkidle")
            page.screenshot(path=artifacts / f"portal-pay-invoice-{locale}-{viewport}.png", full_page=True)
            assert page.evaluate(NOTHING_OVERFLOWS), f"the pay page scrolls sideways on a {viewport}"
            assert axe_violations(page, axe_source) == [], f"pay page ({locale}, {viewport})"
            # Keyboard: the chosen method is one tab stop; the arrow keys move the choice.
            page.get_by_label(re.compile("4242")).focus()
            page.keyboard.press("ArrowDown")
            assert page.locator("input[name=payment_method]:checked").get_attribute("value") != (
                customer.default_payment_method_id
            )
            if viewport == "phone" and locale == "de":
                page.get_by_label(re.compile("3184")).check()
                page.get_by_role("button", name=WORDS["de"]["pay"]).click()  # a failed attempt's page, too
                page.get_by_role("button", name=WORDS["de"]["fail"]).click()
                page.wait_for_url(re.compile(r"/pay\?return_to=history$"))
                page.screenshot(path=artifacts / f"portal-pay-invoice-failed-{locale}-{viewport}.png", full_page=True)
                assert axe_violations(page, axe_source) == []
            assert problems == []
            page.close()


def test_switching_the_language_keeps_the_way_back(browser, live_server, customer):
    """The language links keep ``?return_to=``: the pay page still leads back to the invoice history."""
    invoice = Invoice.objects.get(customer=customer)
    page, problems = enter_portal(browser, live_server, customer)
    page.goto(f"{live_server.url}/p/invoices/{invoice.id}/pay?return_to=history")
    page.get_by_role("link", name="Deutsch").click()
    assert page.url == f"{live_server.url}/p/invoices/{invoice.id}/pay?return_to=history&locale=de"
    assert page.locator("html").get_attribute("lang") == "de"
    assert page.locator('input[name="return_to"]').input_value() == "history"
    assert page.get_by_role("img", name="Visa").first.is_visible()  # the brand's mark beside each card
    assert problems == []
