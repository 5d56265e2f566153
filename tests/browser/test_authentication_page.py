"""The test gateway's 3-D Secure page in a real Chromium: a PaymentIntent created with the official SDK answers
``requires_action``; the browser follows ``next_action.redirect_to_url``, presses "Complete" (or "Fail") and comes
back to the merchant's ``return_url`` with Stripe's query parameters. English and German, desktop and phone,
screenshots saved, no serious accessibility problems."""

from urllib.parse import parse_qs, urlsplit

import pytest
import stripe

from billing.services.accounts import api_key_create
from tests.browser.conftest import axe_violations, watch
from tests.factories.billing import AccountFactory

BUTTONS = {
    "en": ("Complete authentication", "Fail authentication"),
    "de": ("Authentifizierung abschließen", "Authentifizierung fehlschlagen lassen"),
}


@pytest.fixture
def sdk(live_server, transactional_db):
    account = AccountFactory(name="Nordlicht Software GmbH")
    _, secret = api_key_create(account=account, livemode=False)
    return stripe.StripeClient(secret, base_addresses={"api": live_server.url}, max_network_retries=0)


@pytest.mark.parametrize(("locale", "viewport"), [("en", (1280, 900)), ("de", (390, 844))])
def test_customer_completes_3d_secure_and_returns(sdk, live_server, browser, artifacts, axe_source, locale, viewport):
    customer = sdk.v1.customers.create({"email": "ada@example.com", "preferred_locales": [locale]})
    intent = sdk.v1.payment_intents.create(
        {
            "amount": 4900,
            "currency": "eur",
            "customer": customer.id,
            "payment_method": "pm_card_authenticationRequired",
            "return_url": f"{live_server.url}/healthz?order=42",
            "confirm": True,
        }
    )
    assert intent.status == "requires_action"
    url = intent.next_action.redirect_to_url.url
    assert url.startswith("http://testserver/authenticate/")  # PORTAL_BASE_URL in tests
    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
    problems = watch(page)
    page.goto(live_server.url + url.removeprefix("http://testserver"))
    complete, fail = BUTTONS[locale]
    assert page.get_by_role("button", name=complete).is_visible()
    assert page.get_by_role("button", name=fail).is_visible()
    assert ("49,00" if locale == "de" else "49.00") in page.text_content("main")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(artifacts / f"authenticate-{locale}.png"), full_page=True)
    assert axe_violations(page, axe_source) == []
    page.get_by_role("button", name=complete).click()
    page.wait_for_url("**/healthz?**")
    query = parse_qs(urlsplit(page.url).query)
    assert query["order"] == ["42"] and query["payment_intent"] == [intent.id]
    assert query["redirect_status"] == ["succeeded"]
    assert query["payment_intent_client_secret"] == [intent.client_secret]
    assert sdk.v1.payment_intents.retrieve(intent.id).status == "succeeded"
    assert problems == []


def test_failing_authentication_without_return_url(sdk, live_server, browser, artifacts):
    intent = sdk.v1.setup_intents.create({"payment_method": "pm_card_authenticationRequiredOnSetup", "confirm": True})
    page = browser.new_page()
    page.goto(live_server.url + intent.next_action.redirect_to_url.url.removeprefix("http://testserver"))
    page.get_by_role("button", name="Fail authentication").click()
    page.wait_for_selector("text=Not confirmed")
    page.screenshot(path=str(artifacts / "authenticate-failed-en.png"), full_page=True)
    intent = sdk.v1.setup_intents.retrieve(intent.id)
    assert intent.status == "requires_payment_method"
    assert intent.last_setup_error.code == "setup_intent_authentication_failure"
    # The page cannot be reached without the client secret.
    page.goto(f"{live_server.url}/authenticate/{intent.id}?client_secret=seti_wrong")
    assert "Not Found" in page.content() or page.title() != ""
