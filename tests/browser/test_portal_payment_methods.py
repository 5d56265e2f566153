"""Payment methods in a real Chromium: add a card, make it the default, a declined card, the keep-one rule,
screenshots of the add form (desktop and phone, English and German) and no serious accessibility problems."""

import datetime as dt
import re

import pytest
from django.utils import timezone

from billing.models import PaymentMethod
from tests.billing.helpers import subscribed
from tests.browser.conftest import axe_violations, watch
from tests.factories.portal import full_configuration, session_url

NOTHING_OVERFLOWS = "document.documentElement.scrollWidth <= window.innerWidth"


@pytest.fixture
def customer(transactional_db):
    """An active subscription paid by a Mastercard ending 4444, the customer's only payment method."""
    subscription = subscribed(timezone.now() - dt.timedelta(days=2), number="5555555555554444")
    full_configuration(subscription.account)
    return subscription.customer


def enter_portal(browser, live_server, customer, *, width=1280, height=900, locale=None):
    page = browser.new_page(viewport={"width": width, "height": height})
    problems = watch(page)
    kwargs = {"locale": locale} if locale else {}
    url = re.sub(r"^https?://[^/]+", live_server.url, session_url(customer, **kwargs))
    page.goto(url)
    return page, problems


def expiry() -> str:
    return f"12 / {(timezone.now().year + 3) % 100:02d}"


def fill_card(page, number: str) -> None:
    page.get_by_label("Card", exact=True).check()
    page.get_by_label("Card number").fill(number)
    page.get_by_label("Expiry date").fill(expiry())
    page.get_by_label("Security code (CVC)").fill("123")
    page.get_by_label("Name on card").fill("Jane Doe")


def test_add_a_card_and_make_it_the_default(browser, live_server, customer):
    page, problems = enter_portal(browser, live_server, customer)
    assert page.url == f"{live_server.url}/p/"
    page.get_by_role("link", name="Add payment method").click()
    assert page.get_by_role("heading", level=1, name="Add a payment method").is_visible()
    assert page.get_by_text("4242 4242 4242 4242").is_visible()  # the test-mode hint
    assert not page.get_by_label("IBAN").is_visible()  # only the chosen type's fields show

    fill_card(page, "4242 4242 4242 4242")
    page.get_by_label("Use as default payment method").uncheck()
    page.get_by_role("button", name="Add payment method").click()
    assert page.url == f"{live_server.url}/p/"
    assert page.get_by_text("Payment method added.").is_visible()

    visa = page.locator(".pm-row", has_text="Visa •••• 4242")
    visa.get_by_role("button", name="Make default").click()
    assert page.get_by_text("Visa •••• 4242 is now your default payment method.").is_visible()
    assert page.locator(".pm-row", has_text="Visa •••• 4242").get_by_text("Default", exact=True).is_visible()
    customer.refresh_from_db()
    assert customer.default_payment_method.card_last4 == "4242"
    assert problems == []


def test_a_declined_card_is_explained_and_not_kept(browser, live_server, customer):
    page, problems = enter_portal(browser, live_server, customer)
    page.goto(f"{live_server.url}/p/payment-methods/new")
    fill_card(page, "4000 0000 0000 0002")
    page.get_by_role("button", name="Add payment method").click()
    assert page.get_by_role("alert").filter(has_text="Your card was declined.").is_visible()
    assert page.get_by_label("Card number").input_value() == ""
    assert page.get_by_label("Security code (CVC)").input_value() == ""
    assert page.get_by_label("Name on card").input_value() == "Jane Doe"
    assert PaymentMethod.objects.filter(customer=customer).count() == 1
    assert problems == []


def test_the_last_payment_method_cannot_be_removed(browser, live_server, customer, axe_source, artifacts):
    page, problems = enter_portal(browser, live_server, customer)
    only = customer.default_payment_method
    assert page.locator(".pm-row").get_by_role("link", name="Remove").count() == 0
    page.goto(f"{live_server.url}/p/payment-methods/{only.pk}/remove")
    assert page.get_by_role("heading", level=1, name="Remove Mastercard •••• 4444?").is_visible()
    assert page.get_by_text("This payment method pays for an active subscription.").is_visible()
    assert page.get_by_role("button", name="Remove").count() == 0
    assert axe_violations(page, axe_source) == []
    page.screenshot(path=artifacts / "portal-payment-method-remove-blocked-desktop-en.png", full_page=True)
    page.get_by_role("link", name="Add payment method").click()
    assert page.url == f"{live_server.url}/p/payment-methods/new"
    assert problems == []


def test_remove_a_payment_method(browser, live_server, customer, axe_source, artifacts):
    page, problems = enter_portal(browser, live_server, customer)
    page.goto(f"{live_server.url}/p/payment-methods/new")
    fill_card(page, "4242 4242 4242 4242")
    page.get_by_role("button", name="Add payment method").click()
    page.locator(".pm-row", has_text="Mastercard •••• 4444").get_by_role("link", name="Remove").click()
    assert page.get_by_role("heading", level=1, name="Remove Mastercard •••• 4444?").is_visible()
    assert axe_violations(page, axe_source) == []
    page.screenshot(path=artifacts / "portal-payment-method-remove-desktop-en.png", full_page=True)
    page.get_by_role("button", name="Remove").click()
    assert page.get_by_text("Mastercard •••• 4444 has been removed.").is_visible()
    assert page.locator(".pm-row").count() == 1
    assert problems == []


@pytest.mark.parametrize("locale", ["en", "de"])
def test_add_form_screenshots_and_accessibility(browser, live_server, customer, axe_source, artifacts, locale):
    for variant, width in (("desktop", 1280), ("phone", 390)):
        page, problems = enter_portal(browser, live_server, customer, width=width, height=844, locale=locale)
        page.goto(f"{live_server.url}/p/payment-methods/new")
        assert page.locator("html").get_attribute("lang") == locale
        assert page.evaluate(NOTHING_OVERFLOWS)
        assert axe_violations(page, axe_source) == []
        page.screenshot(path=artifacts / f"portal-payment-method-add-{variant}-{locale}.png", full_page=True)
        if variant == "desktop":
            page.locator("input[name=type][value=sepa_debit]").check()
            assert page.locator("input[name=iban]").is_visible()
            assert not page.locator("input[name=number]").is_visible()
            page.screenshot(path=artifacts / f"portal-payment-method-add-sepa-{locale}.png", full_page=True)
            # Submitting nothing: the errors are linked to their fields, and the page still passes axe.
            page.locator("input[name=type][value=card]").check()
            page.locator("button[type=submit]").click()
            assert page.locator("[aria-invalid=true]").count() >= 4
            assert axe_violations(page, axe_source) == []
            page.screenshot(path=artifacts / f"portal-payment-method-add-errors-{locale}.png", full_page=True)
        assert problems == []
        page.close()
