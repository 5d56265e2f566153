"""No-code Checkout links in a real Chromium: a merchant makes a link in the admin, a customer opens it, pays with
4242 on the hosted page and gets an active subscription, a paid invoice and checkout.session.completed; a
deactivated link shows its 410 page; a portal customer without a subscription starts one through Checkout. In
English and German, screenshots under test-artifacts/."""

import pytest
from django.conf import settings

from billing.models import Event, Invoice, Subscription
from billing.services.accounts import staff_user_add
from checkout.models import CheckoutLink, CheckoutSession
from checkout.services.links import LinkItemSpec, checkout_link_create, checkout_link_set_active
from configurations.services.portal_configurations import configuration_update
from tests.browser.conftest import axe_violations, watch
from tests.browser.payment_fields import enter_portal, fields_shown, fill_card
from tests.factories.billing import ACTOR, CustomerFactory, PriceFactory, ProductFactory
from tests.factories.portal import full_configuration

NAVIGATION_MS = 90_000
WORDS = {
    "en": {
        "save": "Save",
        "email": "Email",
        "subscribe": "Subscribe",
        "thanks": "Thank you",
        "start": "Start a new subscription",
    },
    "de": {
        "save": "Sichern",
        "email": "E-Mail",
        "subscribe": "Abonnieren",
        "thanks": "Vielen Dank",
        "start": "Neues Abonnement abschließen",
    },
}


@pytest.fixture
def price(transactional_db, two_origins):
    product = ProductFactory(name="Pro plan")
    return PriceFactory(product=product, unit_amount=1500)


def staff_context(browser, client, live_server, account, locale: str):
    client.force_login(staff_user_add(account=account, email="staff@shop.example"))
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale=locale)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}])
    return context


def pay(page, words) -> None:
    fill_card(page, "4242 4242 4242 4242")
    fields_shown(page)
    button = page.get_by_role("button", name=words["subscribe"])
    button.scroll_into_view_if_needed()
    button.click()


@pytest.mark.parametrize("locale", ["en", "de"])
def test_a_link_made_in_the_admin_signs_up_a_customer(
    browser, client, live_server, price, locale, artifacts, axe_source
):
    words = WORDS[locale]
    context = staff_context(browser, client, live_server, price.account, locale)
    admin = context.new_page()
    problems = watch(admin)
    admin.goto(f"{live_server.url}/admin/checkout/checkoutlink/add/")
    admin.locator('input[name="name"]').fill("Pro monthly")
    admin.locator('select[name="items-0-price"]').select_option(price.pk)
    admin.locator('input[name="allow_promotion_codes"]').check()
    admin.locator('[name="_save"]').click()
    admin.wait_for_url("**/admin/checkout/checkoutlink/")
    link = CheckoutLink.objects.get()
    url_field = admin.locator(f"#checkout-link-{link.pk}")
    assert url_field.input_value() == f"{live_server.url}/l/{link.slug}"
    admin.locator(f'[data-copy-target="checkout-link-{link.pk}"]').click()
    assert admin.evaluate("navigator.clipboard.readText()") == f"{live_server.url}/l/{link.slug}"
    admin.screenshot(path=artifacts / f"checkout-links-admin-{locale}.png", full_page=True)

    shopper = browser.new_context(viewport={"width": 1280, "height": 900}, locale=locale).new_page()
    shopper_problems = watch(shopper)
    shopper.goto(url_field.input_value())
    shopper.wait_for_url("**/c/cs_*")
    assert shopper.get_by_text("Pro plan").first.is_visible()
    shopper.get_by_label(words["email"], exact=True).fill("ada@example.com")
    with shopper.expect_navigation(url="**/c/cs_*/done", timeout=NAVIGATION_MS):
        pay(shopper, words)
    assert shopper.get_by_role("heading", name=words["thanks"]).is_visible()
    shopper.screenshot(path=artifacts / f"checkout-link-thanks-{locale}.png", full_page=True)
    assert axe_violations(shopper, axe_source) == []

    session = CheckoutSession.objects.get()
    assert (session.status, session.payment_status, session.checkout_link_id) == ("complete", "paid", link.pk)
    assert Subscription.objects.get(pk=session.subscription_id).status == "active"
    assert Invoice.objects.get(pk=session.invoice_id).status == "paid"
    assert Event.objects.filter(type="checkout.session.completed", account=price.account).count() == 1
    admin.reload()
    assert admin.locator(".field-completed_sessions").first.inner_text() == "1"
    assert problems == [] and shopper_problems == []


@pytest.mark.parametrize("locale", ["en", "de"])
def test_a_deactivated_link_shows_its_page(browser, live_server, price, locale, artifacts, axe_source):
    link = checkout_link_create(account=price.account, livemode=False, actor=ACTOR, items=[LinkItemSpec(price)])
    checkout_link_set_active(link=link, actor=ACTOR, active=False)
    page = browser.new_context(viewport={"width": 1280, "height": 900}, locale=locale).new_page()
    response = page.goto(f"{live_server.url}/l/{link.slug}")
    assert response.status == 410
    heading = {"en": "This link is no longer available", "de": "Dieser Link ist nicht mehr verfügbar"}[locale]
    assert page.get_by_role("heading", name=heading).is_visible()
    page.screenshot(path=artifacts / f"checkout-link-gone-{locale}.png", full_page=True)
    assert axe_violations(page, axe_source) == []
    assert not CheckoutSession.objects.exists()


@pytest.mark.parametrize("locale", ["en", "de"])
def test_a_portal_customer_starts_a_subscription_through_checkout(
    browser, live_server, price, locale, artifacts, axe_source
):
    words = WORDS[locale]
    link = checkout_link_create(account=price.account, livemode=False, actor=ACTOR, items=[LinkItemSpec(price)])
    configuration = configuration_update(
        configuration=full_configuration(price.account),
        actor=ACTOR,
        data={"subscription_start": {"checkout_link": link.pk}},
    )
    customer = CustomerFactory(account=price.account, email="grace@example.com", name="Grace Hopper")
    page, problems = enter_portal(browser, live_server, customer, configuration=configuration, locale=locale)
    button = page.get_by_role("button", name=words["start"])
    assert button.is_visible()
    page.screenshot(path=artifacts / f"portal-start-subscription-{locale}.png", full_page=True)
    assert axe_violations(page, axe_source) == []
    with page.expect_navigation(url="**/c/cs_*"):
        button.click()
    session = CheckoutSession.objects.get()
    assert (session.customer_id, session.checkout_link_id) == (customer.pk, link.pk)
    if locale == "en":
        with page.expect_navigation(url=f"{live_server.url}/p/", timeout=NAVIGATION_MS):
            pay(page, words)
        session.refresh_from_db()
        assert session.status == "complete"
        assert Subscription.objects.get(customer=customer).status == "active"
        assert page.get_by_text("Pro plan").first.is_visible()
        assert not page.get_by_role("button", name=words["start"]).count()
    assert problems == []
