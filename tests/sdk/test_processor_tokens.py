"""A merchant whose processor is Stripe hands our API the ``pm_…`` ids Stripe's Payment Element gave their page: the
official SDK attaches and pays with them here, and the money moves on the merchant's Stripe account (a second
account on our own server plays it)."""

import pytest
import stripe

from billing.audit import Actor
from billing.gateways import forget_built_gateways
from billing.models import PaymentMethod
from billing.services.accounts import api_key_create
from billing.services.processors import processor_account_set
from tests.factories.billing import AccountFactory

VISA = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2031, "cvc": "123"}
DECLINING = {**VISA, "number": "4000000000000002"}


@pytest.fixture
def on_stripe(live_server, db) -> stripe.StripeClient:
    """The merchant's own Stripe account, as the merchant's page and dashboard see it."""
    _, secret = api_key_create(account=AccountFactory(), livemode=False)
    client = stripe.StripeClient(secret, base_addresses={"api": live_server.url}, max_network_retries=0)
    client.secret = secret
    return client


@pytest.fixture
def stripe_processor(settings, live_server, merchant, on_stripe):
    settings.STRIPE_API_BASE = live_server.url
    forget_built_gateways()
    processor_account_set(
        account=merchant,
        livemode=False,
        processor="stripe",
        actor=Actor.system("test"),
        stripe_secret_key=on_stripe.secret,
        stripe_webhook_secret="whsec_processortokenstest",
        stripe_publishable_key="pk_test_processortokens",
    )
    yield
    forget_built_gateways()


def test_a_stripe_payment_method_id_attaches_as_a_payment_method_of_ours(client, on_stripe, stripe_processor):
    customer = client.v1.customers.create({"email": "ada@example.com"})
    elements_pm = on_stripe.v1.payment_methods.create({"type": "card", "card": VISA})

    ours = client.v1.payment_methods.attach(elements_pm.id, {"customer": customer.id})

    assert ours.id != elements_pm.id and ours.customer == customer.id
    assert (ours.card.brand, ours.card.last4, ours.card.exp_year) == ("visa", "4242", 2031)
    assert PaymentMethod.objects.get(pk=ours.id).gateway_reference == elements_pm.id


def test_a_payment_intent_confirmed_with_a_stripe_payment_method_charges_the_merchants_stripe_account(
    client, on_stripe, stripe_processor
):
    customer = client.v1.customers.create({"email": "ada@example.com"})
    elements_pm = on_stripe.v1.payment_methods.create({"type": "card", "card": VISA})

    intent = client.v1.payment_intents.create(
        {
            "amount": 2500,
            "currency": "eur",
            "customer": customer.id,
            "payment_method": elements_pm.id,
            "payment_method_types": ["card"],
            "confirm": True,
        }
    )

    assert intent.status == "succeeded" and intent.payment_method != elements_pm.id
    on_their_side = on_stripe.v1.payment_intents.list({"limit": 1}).data
    assert [(pi.amount, pi.currency, pi.status) for pi in on_their_side] == [(2500, "eur", "succeeded")]


def test_a_declining_stripe_payment_method_is_stripes_decline(client, on_stripe, stripe_processor):
    declining = on_stripe.v1.payment_methods.create({"type": "card", "card": DECLINING})
    with pytest.raises(stripe.CardError) as raised:
        client.v1.payment_intents.create(
            {"amount": 900, "currency": "eur", "payment_method": declining.id, "confirm": True}
        )
    assert raised.value.code == "card_declined"


def test_an_id_neither_we_nor_the_processor_know_is_no_such_payment_method(client, stripe_processor, other_client):
    customer = client.v1.customers.create({})
    foreign = other_client.v1.payment_methods.create({"type": "card", "card": VISA})
    for unknown in ("pm_doesnotexist", foreign.id):
        with pytest.raises(stripe.InvalidRequestError) as raised:
            client.v1.payment_methods.attach(unknown, {"customer": customer.id})
        assert raised.value.code == "resource_missing" and raised.value.param == "payment_method"
        with pytest.raises(stripe.InvalidRequestError) as raised:
            client.v1.payment_intents.create({"amount": 900, "currency": "eur", "payment_method": unknown})
        assert raised.value.code == "resource_missing" and raised.value.param == "payment_method"
