"""Hosted Checkout in a real Chromium, card details typed into the vault's frame (the test gateway's hosted fields on
a second origin): a subscription paid with 4242 (en and de, screenshots), 3-D Secure in the same flow, a decline
that keeps what was typed and a retry, a promotion code, an expired session, a double submit (one subscription),
keyboard and phone widths, no serious accessibility problems."""

import datetime as dt

import pytest
from django.utils import timezone

from billing.models import Customer, Event, Invoice, Subscription
from billing.services.coupons import coupon_create, promotion_code_create
from checkout.models import CheckoutSession
from tests.browser.conftest import axe_violations, watch
from tests.browser.payment_fields import fields_shown, fill_card, screenshot, vault
from tests.factories.billing import ACTOR, PriceFactory, ProductFactory
from tests.factories.checkout import session_for

NOTHING_OVERFLOWS = "document.documentElement.scrollWidth <= window.innerWidth"
DONE = "**/healthz?session=cs_*"  # the shop's success page (here: the test server's health check)
# Paying asks the vault's frame, then the processor, on a machine shared with other test runs.
NAVIGATION_MS = 90_000


@pytest.fixture
def price(transactional_db, two_origins):
    product = ProductFactory(name="Pro plan")
    return PriceFactory(product=product, account=product.account, unit_amount=1500)


@pytest.fixture
def make_session(live_server, price):
    """A session whose success and cancel pages are on the test server (the shop's own pages)."""

    def make(**options):
        options.setdefault("success_url", f"{live_server.url}/healthz?session={{CHECKOUT_SESSION_ID}}")
        options.setdefault("cancel_url", f"{live_server.url}/healthz?cancel=1")
        return session_for(price, **options)

    return make


def open_page(browser, session, live_server, *, width=1280, locale=None):
    page = browser.new_page(viewport={"width": width, "height": 900})
    problems = watch(page)
    query = f"?locale={locale}" if locale else ""
    page.goto(f"{live_server.url}/c/{session.pk}{query}")
    return page, problems


def pay(page, number="4242 4242 4242 4242", *, button="Subscribe"):
    fill_card(page, number)
    fields_shown(page)  # the frame has taken its final height: the button is where it will stay
    submit = page.get_by_role("button", name=button)
    # Typing left the focus in the cross-origin frame; bring the button into view first, as a person scrolls to it.
    submit.scroll_into_view_if_needed()
    submit.click()


@pytest.mark.parametrize("locale", ["en", "de"])
def test_a_subscription_paid_with_a_card(browser, live_server, price, make_session, locale, artifacts, axe_source):
    session = make_session(
        customer_email="",
        billing_address_collection="required",
        phone_number_collection=True,
        tax_id_collection=True,
        locale=locale,
    )
    page, problems = open_page(browser, session, live_server)
    heading = "Subscribe to" if locale == "en" else "Abonnieren bei"
    assert page.get_by_role("heading", level=1).filter(has_text=heading).is_visible()
    assert page.get_by_text("Pro plan").is_visible()
    fields_shown(page)
    screenshot(page, artifacts / f"checkout-subscription-{locale}.png")
    assert axe_violations(page, axe_source) == []
    labels = {
        "en": ("Email", "Full name", "Address line 1", "Postal code", "City", "Country", "Phone number", "Subscribe"),
        "de": (
            "E-Mail",
            "Vollständiger Name",
            "Adresszeile 1",
            "Postleitzahl",
            "Ort",
            "Land",
            "Telefonnummer",
            "Abonnieren",
        ),
    }[locale]
    page.get_by_label(labels[0], exact=True).fill("ada@example.com")
    page.get_by_label(labels[1]).fill("Ada Lovelace")
    page.get_by_label(labels[2]).fill("Hauptstr. 1")
    page.get_by_label(labels[3]).fill("10115")
    page.get_by_label(labels[4], exact=True).fill("Berlin")
    page.get_by_label(labels[5], exact=True).select_option("DE")
    page.get_by_label(labels[6]).fill("+49 30 123456")
    with page.expect_navigation(url=DONE, timeout=NAVIGATION_MS):
        pay(page, button=labels[7])
    assert session.pk in page.url
    session.refresh_from_db()
    assert (session.status, session.payment_status) == ("complete", "paid")
    assert session.subscription.status == "active"
    customer = session.customer
    assert (customer.email, customer.name, customer.address["city"]) == ("ada@example.com", "Ada Lovelace", "Berlin")
    assert Invoice.objects.get(pk=session.invoice_id).status == "paid"
    assert problems == []


def test_3d_secure_in_the_same_flow(browser, live_server, price, make_session):
    session = make_session(customer_email="ada@example.com")
    page, problems = open_page(browser, session, live_server)
    pay(page, "4000 0025 0000 3155")
    page.wait_for_url("**/authenticate/pi_*")
    with page.expect_navigation(url=DONE, timeout=NAVIGATION_MS):
        page.get_by_role("button", name="Complete authentication").click()
    session.refresh_from_db()
    assert session.status == "complete" and session.subscription.status == "active"


def test_a_decline_keeps_what_was_typed_and_a_retry_pays(browser, live_server, price, make_session):
    session = make_session(billing_address_collection="required")
    page, problems = open_page(browser, session, live_server)
    page.get_by_label("Email", exact=True).fill("ada@example.com")
    page.get_by_label("Full name").fill("Ada Lovelace")
    page.get_by_label("Address line 1").fill("Hauptstr. 1")
    page.get_by_label("Postal code").fill("10115")
    page.get_by_label("City", exact=True).fill("Berlin")
    page.get_by_label("Country", exact=True).select_option("DE")
    with page.expect_navigation():
        pay(page, "4000 0000 0000 0002")
    assert page.get_by_role("alert").filter(has_text="Your card was declined.").is_visible()
    assert page.get_by_label("Email", exact=True).input_value() == "ada@example.com"
    assert page.get_by_label("City", exact=True).input_value() == "Berlin"
    assert vault(page).locator("input[name=number]").input_value() == ""
    session.refresh_from_db()
    assert session.status == "open"
    with page.expect_navigation(url=DONE, timeout=NAVIGATION_MS):
        pay(page)
    assert Subscription.objects.filter(customer__account=price.account).count() == 1


def test_a_promotion_code(browser, live_server, price, make_session):
    coupon = coupon_create(account=price.account, livemode=False, actor=ACTOR, percent_off=20, duration="once")
    promotion_code_create(coupon=coupon, code="WELCOME20", actor=ACTOR)
    session = make_session(customer_email="ada@example.com", allow_promotion_codes=True)
    page, problems = open_page(browser, session, live_server)
    page.get_by_label("Promotion code").fill("NOPE")
    page.get_by_role("button", name="Apply").click()
    assert page.get_by_text("This code is not valid.").is_visible()
    page.get_by_label("Promotion code").fill("welcome20")
    page.get_by_role("button", name="Apply").click()
    assert page.get_by_text("Promotion code WELCOME20 applied.").is_visible()
    assert page.locator(".checkout-discount").filter(has_text="€3.00").is_visible()
    with page.expect_navigation(url=DONE, timeout=NAVIGATION_MS):
        pay(page)
    session.refresh_from_db()
    assert Invoice.objects.get(pk=session.invoice_id).amount_paid == 1200
    assert [p for p in problems if "400" not in p] == []


def test_an_expired_session(browser, live_server, price, make_session, artifacts):
    session = make_session(customer_email="ada@example.com")
    CheckoutSession.objects.filter(pk=session.pk).update(expires_at=timezone.now() - dt.timedelta(minutes=1))
    page, problems = open_page(browser, session, live_server, locale="de")
    assert page.get_by_role("heading", name="Dieser Bezahlvorgang ist abgelaufen").is_visible()
    page.screenshot(path=artifacts / "checkout-expired-de.png", full_page=True)
    assert not page.locator("iframe[data-vault]").count()


def test_a_double_submit_makes_one_subscription(browser, live_server, price, make_session):
    """The button is disabled while a payment is under way (one tab cannot post twice); two tabs posting at the same
    moment make one subscription all the same: the second waits for the session's lock and finds it complete."""
    session = make_session(customer_email="ada@example.com")
    first, _ = open_page(browser, session, live_server)
    second, _ = open_page(browser, session, live_server)
    for page in (first, second):
        fill_card(page, "4242 4242 4242 4242")
        fields_shown(page)
        page.get_by_role("button", name="Subscribe").scroll_into_view_if_needed()
    button = first.get_by_role("button", name="Subscribe")
    with first.expect_navigation(url=DONE, timeout=NAVIGATION_MS):
        button.click()
        second.get_by_role("button", name="Subscribe").click()
    second.wait_for_load_state()
    second.wait_for_function("() => !document.querySelector('button[aria-busy=true]')", timeout=NAVIGATION_MS)
    third, _ = open_page(browser, session, live_server)  # a tab opened afterwards goes to the success page
    assert "/healthz?session=" in third.url
    assert Subscription.objects.filter(customer__account=price.account).count() == 1
    assert Customer.objects.filter(account=price.account).count() == 1
    assert Event.objects.filter(type="checkout.session.completed").count() == 1


def test_phone_width_and_keyboard(browser, live_server, price, make_session, artifacts, axe_source):
    session = make_session(customer_email="", allow_promotion_codes=True)
    page, problems = open_page(browser, session, live_server, width=375)
    fields_shown(page)
    assert page.evaluate(NOTHING_OVERFLOWS)
    screenshot(page, artifacts / "checkout-phone-en.png")
    assert axe_violations(page, axe_source) == []
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent").strip() == "Skip to content"
    page.get_by_label("Email", exact=True).focus()
    page.keyboard.type("kim@example.com")
    fill_card(page, "4242 4242 4242 4242")
    vault(page).locator("input[name=name]").focus()
    with page.expect_navigation(url=DONE, timeout=NAVIGATION_MS):
        vault(page).locator("input[name=name]").press("Enter")
    assert CheckoutSession.objects.get(pk=session.pk).status == "complete"
