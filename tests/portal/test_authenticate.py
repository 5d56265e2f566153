"""The test gateway's 3-D Secure page: reached only with the intent's client secret, test mode only, one answer per
intent, back to the return_url with Stripe's parameters."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from billing.models import Event, PaymentIntent
from billing.services.intents import payment_intent_create
from tests.factories.billing import ACTOR, AccountFactory, CustomerFactory
from tests.portal.leaving import left_for


@pytest.fixture
def intent(db):
    customer = CustomerFactory(preferred_locales=["de"])
    return payment_intent_create(
        account=customer.account,
        livemode=False,
        actor=ACTOR,
        amount=2500,
        currency="eur",
        customer=customer,
        payment_method="pm_card_authenticationRequired",
        return_url="https://shop.example/paid",
        confirm=True,
    )


def url(intent, secret=None) -> str:
    return f"{reverse('portal:authenticate', args=[intent.id])}?client_secret={secret or intent.client_secret}"


def test_the_page_asks_in_the_customers_language(client, intent):
    assert intent.status == "requires_action"
    assert intent.next_action["redirect_to_url"]["url"].endswith(url(intent))
    page = client.get(url(intent))
    assert page.status_code == 200 and page["Content-Language"] == "de"
    html = page.content.decode()
    assert "25,00\xa0€" in html and "Authentifizierung abschließen" in html
    assert page["Cache-Control"].startswith("private") or "no-store" in page["Cache-Control"]


@pytest.mark.parametrize("secret", ["wrong", "", "pi_x_secret_" + "0" * 64])
def test_a_wrong_or_missing_secret_is_not_found(client, intent, secret):
    assert client.get(f"{reverse('portal:authenticate', args=[intent.id])}?client_secret={secret}").status_code == 404
    response = client.post(
        reverse("portal:authenticate", args=[intent.id]), {"client_secret": secret, "outcome": "complete"}
    )
    assert response.status_code == 404
    assert PaymentIntent.objects.get(pk=intent.pk).status == "requires_action"


def test_unknown_ids_are_not_found(client, db):
    assert client.get(reverse("portal:authenticate", args=["pi_nothing"]) + "?client_secret=x").status_code == 404
    assert client.get(reverse("portal:authenticate", args=["cus_nothing"]) + "?client_secret=x").status_code == 404


def test_complete_goes_back_with_stripes_parameters_and_only_once(client, intent):
    response = client.post(
        reverse("portal:authenticate", args=[intent.id]), {"client_secret": intent.client_secret, "outcome": "complete"}
    )
    # The shop is another origin: by the continue page, which goes on by GET (the CSP's form-action 'self').
    back = urlsplit(left_for(client, response))
    assert back.netloc == "shop.example"
    assert parse_qs(back.query) == {
        "payment_intent": [intent.id],
        "payment_intent_client_secret": [intent.client_secret],
        "redirect_status": ["succeeded"],
    }
    intent.refresh_from_db()
    assert intent.status == "succeeded" and intent.amount_received == 2500
    assert Event.objects.filter(type="payment_intent.succeeded", data_object__id=intent.id).count() == 1
    # A second press (back button, double submit) changes nothing.
    again = client.post(
        reverse("portal:authenticate", args=[intent.id]), {"client_secret": intent.client_secret, "outcome": "fail"}
    )
    assert "redirect_status=succeeded" in left_for(client, again)
    assert PaymentIntent.objects.get(pk=intent.pk).status == "succeeded"
    assert intent.charges.count() == 1


def test_live_intents_authenticate_with_their_processor_not_here(client, db):
    account = AccountFactory()
    live = PaymentIntent.objects.create(
        account=account, livemode=True, amount=100, currency="eur", status="requires_action"
    )
    assert client.get(url(live)).status_code == 404
