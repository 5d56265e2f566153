"""The add page with a real processor's hosted fields: Stripe's Payment Element and Mollie Components. Chromium
here cannot reach js.stripe.com or js.mollie.com, so the page is checked for the right element, keys and CSP, and the
server side of the form is driven with the token those fields would give: against a second instance of our own
server playing the merchant's Stripe account (as in tests/billing/gateways/test_stripe.py), and against Mollie's API
answering from its reference (tests/fixtures/mollie)."""

import datetime as dt
import json
from urllib.parse import parse_qs, urlsplit

import pytest
import stripe
from django.test import Client
from django.utils import timezone

from billing.audit import Actor
from billing.gateways.mollie import MollieGateway
from billing.gateways.stripe import StripeGateway
from billing.models import PaymentMethod, SetupIntent
from billing.services.accounts import api_key_create
from billing.services.processors import processor_account_set
from portal.leave import destination
from tests.billing.helpers import subscribed
from tests.billing.processor_stubs import API_KEY, FIXTURES, ConfiguredGateway, MollieStub
from tests.factories.billing import AccountFactory
from tests.factories.portal import full_configuration, open_portal
from tests.portal.payment_fields import ADD

PUBLISHABLE_KEY = "pk_test_51AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
PROFILE_ID = "pfl_QkEhN94Ba"
TOKEN = "tkn_UqAvArS3gw"


@pytest.fixture
def customer(transactional_db):
    """An active EUR subscription (set up before the processor is switched below)."""
    subscription = subscribed(timezone.now() - dt.timedelta(days=2), amount=1500)
    full_configuration(subscription.account)
    return subscription.customer


@pytest.fixture
def processor(settings):
    """The merchant's processor: whichever adapter a test puts into ``processor.adapter``."""
    settings.BILLING_GATEWAY = "tests.billing.processor_stubs.ConfiguredGateway"
    yield ConfiguredGateway
    ConfiguredGateway.adapter = None


@pytest.fixture
def on_stripe(live_server, settings, processor) -> stripe.StripeClient:
    """The merchant's Stripe account (our second instance, its own payments through the test gateway); the portal's
    processor is Stripe with that account's keys."""
    settings.PORTAL_BASE_URL = live_server.url  # where "Stripe" sends customers to authenticate
    account = AccountFactory()
    processor_account_set(account=account, livemode=False, processor="test", actor=Actor.system("test"))
    secret = api_key_create(account=account, livemode=False)[1]
    processor.adapter = StripeGateway(secret_key=secret, publishable_key=PUBLISHABLE_KEY, api_base=live_server.url)
    return stripe.StripeClient(secret, base_addresses={"api": live_server.url}, max_network_retries=0)


@pytest.fixture
def mollie(processor):
    stub = MollieStub()
    stub.thread.start()
    processor.adapter = MollieGateway(api_key=API_KEY, profile_id=PROFILE_ID, api_endpoint=stub.url, timeout=2.0)
    yield stub
    stub.server.shutdown()
    stub.server.server_close()


def policy(response) -> dict[str, list[str]]:
    directives = (part.strip().split() for part in response["Content-Security-Policy"].split(";"))
    return {name: values for name, *values in directives}


def stripe_card(on_stripe, number: str) -> str:
    """What Stripe's Payment Element hands the page: a PaymentMethod of the merchant's Stripe account."""
    card = {"number": number, "exp_month": 12, "exp_year": timezone.now().year + 3, "cvc": "123"}
    return on_stripe.v1.payment_methods.create({"type": "card", "card": card}).id


def follow(portal: Client, location: str):
    url = urlsplit(location)
    return portal.get(f"{url.path}?{url.query}")


# ---------------------------------------------------------------------------------------------- Stripe


def test_the_page_shows_stripes_payment_element_with_the_publishable_key(customer, on_stripe):
    for locale in ("en", "de", "fr", "es", "it", "nl"):
        response = open_portal(customer, locale=locale).get(ADD)
        html = response.content.decode()
        assert 'data-payment-fields="stripe"' in html
        assert f'data-publishable-key="{PUBLISHABLE_KEY}"' in html
        assert 'data-currency="eur"' in html and f'data-locale="{locale}"' in html
        assert '<div class="pm-fields pm-processor-fields" id="stripe-payment-element"></div>' in html
        assert '<script src="https://js.stripe.com/v3" nonce="' in html
        assert "<iframe" not in html and "/vault/" not in html
        csp = policy(response)
        assert "https://js.stripe.com" in csp["script-src"] and "'self'" in csp["script-src"]
        assert {"https://js.stripe.com", "https://hooks.stripe.com"} <= set(csp["frame-src"])
        assert csp["connect-src"] == ["'self'", "https://api.stripe.com"]
    overview = open_portal(customer).get("/p/")
    assert "stripe" not in overview["Content-Security-Policy"]


def test_a_card_from_stripes_element_is_set_up_on_stripe_and_added(customer, on_stripe):
    client = open_portal(customer)
    pm_id = stripe_card(on_stripe, "5555555555554444")
    response = client.post(ADD, {"type": "card", "payment_method": pm_id, "make_default": "on"})
    assert response.status_code == 303 and response["Location"] == "/p/"
    added = PaymentMethod.objects.get(customer=customer, gateway_reference=pm_id)
    assert (added.card_brand, added.card_last4) == ("mastercard", "4444")
    customer.refresh_from_db()
    assert customer.default_payment_method_id == added.pk
    on_stripes_side = on_stripe.v1.payment_methods.retrieve(pm_id)
    assert on_stripes_side.customer  # attached to the Stripe customer mirroring ours
    assert on_stripe.v1.customers.retrieve(on_stripes_side.customer).metadata["our_customer"] == customer.id
    assert SetupIntent.objects.get(customer=customer).status == "succeeded"


def test_the_same_card_from_stripes_element_twice_is_not_kept(customer, on_stripe):
    """Stripe's token tells which card it is only once set up: the second copy is detached again, and said so."""
    client = open_portal(customer)
    first = stripe_card(on_stripe, "5555555555554444")
    assert client.post(ADD, {"type": "card", "payment_method": first, "make_default": "on"}).status_code == 303
    again = stripe_card(on_stripe, "5555555555554444")
    response = client.post(ADD, {"type": "card", "payment_method": again, "make_default": "on"})
    assert response.status_code == 400
    assert "This card is already saved." in response.content.decode()
    kept = PaymentMethod.objects.filter(customer=customer, card_last4="4444")
    assert [pm.gateway_reference for pm in kept] == [first]
    customer.refresh_from_db()
    assert customer.default_payment_method.gateway_reference == first


def test_stripes_3d_secure_sends_the_customer_to_stripe_and_back(customer, on_stripe, live_server):
    client = open_portal(customer)
    pm_id = stripe_card(on_stripe, "4000002500003155")
    response = client.post(ADD, {"type": "card", "payment_method": pm_id, "make_default": "on"})
    assert response.status_code == 303
    bank_page = urlsplit(response["Location"])
    assert f"{bank_page.scheme}://{bank_page.netloc}" == live_server.url  # "Stripe"'s page, not ours
    assert not PaymentMethod.objects.filter(customer=customer, gateway_reference=pm_id).exists()

    secret = parse_qs(bank_page.query)["client_secret"][0]
    confirmed = Client().post(bank_page.path, {"client_secret": secret, "outcome": "complete"})
    assert confirmed.status_code == 303
    # "Stripe"'s page leaves its own origin through the same-origin continue page, which goes on by GET.
    leaving = urlsplit(confirmed["Location"])
    assert leaving.path == "/p/continue"
    back_url = destination(parse_qs(leaving.query)["to"][0])["url"]
    back = urlsplit(back_url)
    assert back.path == "/p/payment-methods/new/return"
    query = parse_qs(back.query)
    assert query["setup_intent_id"] == [SetupIntent.objects.get(customer=customer).id]
    assert query["setup_intent"][0] != query["setup_intent_id"][0]  # Stripe's own id, appended by Stripe
    landed = follow(client, back_url)
    assert landed.status_code == 303 and landed["Location"] == "/p/"
    assert PaymentMethod.objects.get(customer=customer, gateway_reference=pm_id).card_last4 == "3155"


def test_a_card_stripe_declines_is_explained_on_the_form(customer, on_stripe):
    response = open_portal(customer, locale="de").post(
        ADD, {"type": "card", "payment_method": stripe_card(on_stripe, "4000000000009995")}
    )
    assert response.status_code == 400
    assert "Ihre Karte ist nicht ausreichend gedeckt." in response.content.decode()
    assert not PaymentMethod.objects.filter(customer=customer, card_last4="9995").exists()


def test_an_unknown_stripe_payment_method_is_a_form_error(customer, on_stripe):
    response = open_portal(customer).post(ADD, {"type": "card", "payment_method": "pm_1NotOnThisAccount"})
    assert response.status_code == 400
    assert "could not be added" in response.content.decode()


# ---------------------------------------------------------------------------------------------- Mollie


def test_the_page_shows_mollie_components_for_cards_only(customer, mollie):
    for locale, mollie_locale in (
        ("en", "en_US"),
        ("de", "de_DE"),
        ("fr", "fr_FR"),
        ("es", "es_ES"),
        ("it", "it_IT"),
        ("nl", "nl_NL"),
    ):
        response = open_portal(customer, locale=locale).get(ADD)
        html = response.content.decode()
        assert 'data-payment-fields="mollie"' in html
        assert f'data-profile-id="{PROFILE_ID}"' in html and 'data-testmode="true"' in html
        assert f'data-locale="{mollie_locale}"' in html
        assert '<script src="https://js.mollie.com/v1/mollie.js" nonce="' in html
        for component in ("card-holder", "card-number", "expiry-date", "verification-code"):
            assert f'id="mollie-{component}"' in html
        # Mollie hosts no IBAN field: SEPA Direct Debit is not offered with Mollie, though the customer pays euros.
        assert 'value="sepa_debit"' not in html and '<input type="hidden" name="type" value="card">' in html
        csp = policy(response)
        assert "https://js.mollie.com" in csp["script-src"] and csp["frame-src"] == ["https://js.mollie.com"]
        assert csp["connect-src"] == ["'self'", "https://api.mollie.com"]
    response = open_portal(customer).post(ADD, {"type": "sepa_debit", "payment_method": TOKEN})
    assert response.status_code == 400


def test_a_mollie_card_token_is_authenticated_at_mollies_checkout_then_added(customer, mollie):
    mollie.answer("POST", "customers", "customer_created", status=201)
    mollie.answer("POST", "payments", "payment_setup_open", status=201)
    client = open_portal(customer)
    response = client.post(ADD, {"type": "card", "payment_method": TOKEN, "make_default": "on"})
    assert response.status_code == 303
    assert response["Location"] == "https://www.mollie.com/checkout/credit-card/embedded/44aKxzEbr8"
    intent = SetupIntent.objects.get(customer=customer)
    created = [r for r in mollie.requests if r["path"] == "/v2/payments"][0]["json"]
    assert created["cardToken"] == TOKEN and created["sequenceType"] == "first"
    assert created["redirectUrl"].startswith(
        f"http://testserver/p/payment-methods/new/return?setup_intent_id={intent.id}&"
    )

    paid = json.loads((FIXTURES / "payment_first_paid.json").read_text()) | {"id": "tr_44aKxzEbr8"}
    mollie.answer("GET", "payments/tr_44aKxzEbr8", body=json.dumps(paid).encode())
    landed = follow(client, created["redirectUrl"])  # Mollie sends the customer back, adding nothing to the URL
    assert landed.status_code == 303 and landed["Location"] == "/p/"
    added = PaymentMethod.objects.get(customer=customer, gateway_reference="mandate:cst_8wmqcHMN4U:mdt_h3gAaD5zP")
    customer.refresh_from_db()
    assert customer.default_payment_method_id == added.pk


def test_a_card_mollie_refuses_at_checkout_sends_the_customer_back_with_a_message(customer, mollie):
    mollie.answer("POST", "customers", "customer_created", status=201)
    mollie.answer("POST", "payments", "payment_setup_open", status=201)
    client = open_portal(customer)
    client.post(ADD, {"type": "card", "payment_method": TOKEN})
    failed = json.loads((FIXTURES / "payment_setup_open.json").read_text()) | {
        "status": "failed",
        "details": {"failureReason": "insufficient_funds"},
    }
    mollie.answer("GET", "payments/tr_44aKxzEbr8", body=json.dumps(failed).encode())
    intent = SetupIntent.objects.get(customer=customer)
    landed = client.get(f"/p/payment-methods/new/return?setup_intent_id={intent.id}&default=1")
    assert landed["Location"] == ADD
    assert "Your card has insufficient funds." in client.get(ADD).content.decode()
    assert list(PaymentMethod.objects.filter(customer=customer).values_list("card_last4", flat=True)) == ["4242"]
