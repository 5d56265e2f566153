"""Stripe's webhooks at /processors/stripe/<account>/webhook: a second instance of our own server (``live_server``)
plays the merchant's Stripe account, through the account's configured processor; its own events, signed as Stripe
signs them, settle what it left processing or waiting for the customer. A stub stands in for the refunds Stripe
settles later."""

import json
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import stripe
from django.test import Client

from billing.gateways import forget_built_gateways
from billing.gateways.base import CardInput
from billing.models import AuditEntry, Charge, Event, Invoice, ProcessorEventReceipt, Refund
from billing.services.accounts import api_key_create
from billing.services.intents import payment_intent_create, setup_intent_create
from billing.services.intents.payment_intents import payment_intent_poll
from billing.services.payment_methods import payment_method_create
from billing.services.processors import processor_account_set
from billing.services.refunds import refund_create
from tests.billing.processor_stubs import ProcessorStub
from tests.factories.billing import AccountFactory, CustomerFactory
from tests.webhooks.processor_helpers import ACTOR, RETURN_URL, WHSEC, WHSEC_LIVE, sepa_invoice_processing
from webhooks.signing import stripe_signature_header

# Stripe's documented Refund object (https://docs.stripe.com/api/refunds/object), pending until the bank pays back.
REFUND = {
    "id": "re_1Nispe2eZvKYlo2Cd31jOCgZ",
    "object": "refund",
    "amount": 1000,
    "charge": "ch_1NirD82eZvKYlo2CIvbtLWuY",
    "created": 1692942318,
    "currency": "eur",
    "metadata": {},
    "payment_intent": "pi_1GszsK2eZvKYlo2CfhZyoZLp",
    "reason": None,
    "status": "pending",
}


@pytest.fixture(autouse=True)
def _fresh_gateways():
    forget_built_gateways()
    yield
    forget_built_gateways()


@pytest.fixture
def stripe_keys(live_server, settings):
    """The merchant's account on "Stripe" (our second instance): its test and live secret keys."""
    settings.STRIPE_API_BASE = live_server.url
    on_stripe = AccountFactory(name="Stripe")
    return api_key_create(account=on_stripe, livemode=False)[1], api_key_create(account=on_stripe, livemode=True)[1]


@pytest.fixture
def on_stripe(live_server, stripe_keys) -> stripe.StripeClient:
    """What the merchant sees in their Stripe account."""
    return stripe.StripeClient(stripe_keys[0], base_addresses={"api": live_server.url}, max_network_retries=0)


def stripe_processor(account, test_key="sk_test_unused", live_key="sk_live_unused") -> None:
    for livemode, key, secret in ((False, test_key, WHSEC), (True, live_key, WHSEC_LIVE)):
        processor_account_set(
            account=account,
            livemode=livemode,
            processor="stripe",
            actor=ACTOR,
            stripe_secret_key=key,
            stripe_webhook_secret=secret,
            stripe_publishable_key="pk_live_x" if livemode else "pk_test_x",
        )


@pytest.fixture
def merchant(stripe_keys):
    """Our merchant, whose processor in both modes is their Stripe account."""
    account = AccountFactory()
    stripe_processor(account, *stripe_keys)
    return account


def latest_event(on_stripe, kind: str) -> bytes:
    """The event as Stripe POSTs it to the merchant's endpoint."""
    return json.dumps(on_stripe.v1.events.list({"type": kind}).data[0].to_dict()).encode()


def deliver(account, body: bytes, secret: str = WHSEC, processor: str = "stripe"):
    header = stripe_signature_header(body, [secret], int(time.time()))
    return Client().post(
        f"/processors/{processor}/{account.pk}/webhook",
        data=body,
        content_type="application/json",
        headers={"Stripe-Signature": header},
    )


def counts(account) -> tuple[int, int, int]:
    return (
        Event.objects.filter(account=account).count(),
        AuditEntry.objects.filter(account=account).count(),
        ProcessorEventReceipt.objects.filter(account=account).count(),
    )


# ------------------------------------------------------------------------------------------------ end to end


def test_a_sepa_debit_that_succeeds_at_stripe_pays_the_invoice_once(merchant, on_stripe):
    invoice = sepa_invoice_processing(merchant)
    assert invoice.payment_intent.processor_reference.startswith("pi_")
    intent = invoice.payment_intent
    payment_intent_poll(intent.processor_reference)  # "Stripe": the bank has paid
    body = latest_event(on_stripe, "payment_intent.succeeded")
    earlier = set(Event.objects.filter(account=merchant).values_list("pk", flat=True))

    response = deliver(merchant, body)

    assert response.status_code == 200 and response.json() == {"received": True, "events": ["applied"]}
    invoice.refresh_from_db()
    intent.refresh_from_db()
    assert (invoice.status, invoice.amount_paid, invoice.amount_remaining) == ("paid", 1500, 0)
    assert (intent.status, intent.amount_received) == ("succeeded", 1500)
    assert invoice.subscription.status == "active"
    assert Charge.objects.get(payment_intent=intent).status == "succeeded"
    written = Event.objects.filter(account=merchant).exclude(pk__in=earlier).values_list("type", flat=True)
    assert sorted(written) == [
        "charge.succeeded",
        "customer.subscription.updated",  # active
        "invoice.paid",
        "invoice.payment_succeeded",
        "payment_intent.succeeded",
    ]
    entry = AuditEntry.objects.get(account=merchant, action="processor_event.apply")
    assert (entry.object_id, entry.changes) == (intent.pk, {"event": json.loads(body)["id"], "status": "succeeded"})
    receipt = ProcessorEventReceipt.objects.get(account=merchant)
    assert (receipt.processor, receipt.livemode, receipt.object_id) == ("stripe", False, intent.pk)

    before = counts(merchant)
    again = deliver(merchant, body)  # Stripe delivers an event more than once
    assert again.status_code == 200 and again.json()["events"] == ["duplicate"]
    assert counts(merchant) == before
    assert Invoice.objects.get(pk=invoice.pk).amount_paid == 1500


def test_a_sepa_debit_the_bank_returns_fails_the_invoice_attempt(merchant, on_stripe):
    invoice = sepa_invoice_processing(merchant, iban="DE62370400440532013001")
    assert invoice.payment_intent.processor_reference.startswith("pi_")
    intent = invoice.payment_intent
    payment_intent_poll(intent.processor_reference)  # "Stripe": the bank refused the debit
    body = latest_event(on_stripe, "payment_intent.payment_failed")

    response = deliver(merchant, body)

    assert response.status_code == 200 and response.json()["events"] == ["applied"]
    intent.refresh_from_db()
    invoice.refresh_from_db()
    assert intent.status == "requires_payment_method" and intent.last_payment_error["code"]
    assert invoice.status == "open" and invoice.amount_paid == 0
    assert Charge.objects.get(payment_intent=intent).status == "failed"
    assert Event.objects.filter(account=merchant, type="invoice.payment_failed").count() == 1
    assert Event.objects.filter(account=merchant, type="payment_intent.payment_failed").count() == 1


def test_authentication_on_the_banks_page_completes_the_payment_and_the_setup(merchant, on_stripe):
    customer = CustomerFactory(account=merchant)
    card = CardInput("4000002760003184", 12, 2035, "123")  # 3-D Secure on every payment
    pm = payment_method_create(account=merchant, livemode=False, actor=ACTOR, card=card)
    intent = payment_intent_create(
        account=merchant,
        livemode=False,
        actor=ACTOR,
        amount=2500,
        currency="eur",
        customer=customer,
        payment_method=pm,
        return_url=RETURN_URL,
        confirm=True,
    )
    assert intent.status == "requires_action"
    authenticate(intent.next_action["redirect_to_url"]["url"])  # on "Stripe"'s page: our portal is not involved
    response = deliver(merchant, latest_event(on_stripe, "payment_intent.succeeded"))
    assert response.status_code == 200 and response.json()["events"] == ["applied"]
    intent.refresh_from_db()
    assert (intent.status, intent.amount_received, intent.next_action) == ("succeeded", 2500, None)
    assert Charge.objects.get(payment_intent=intent).status == "succeeded"

    card = CardInput("4000002500003155", 12, 2035, "123")  # 3-D Secure when set up
    saved = payment_method_create(account=merchant, livemode=False, actor=ACTOR, card=card)
    setup = setup_intent_create(
        account=merchant,
        livemode=False,
        actor=ACTOR,
        customer=customer,
        payment_method=saved,
        return_url=RETURN_URL,
        confirm=True,
    )
    assert setup.status == "requires_action" and saved.customer_id is None
    authenticate(setup.next_action["redirect_to_url"]["url"])
    response = deliver(merchant, latest_event(on_stripe, "setup_intent.succeeded"))
    assert response.status_code == 200 and response.json()["events"] == ["applied"]
    setup.refresh_from_db()
    saved.refresh_from_db()
    assert setup.status == "succeeded" and saved.customer_id == customer.pk
    assert Event.objects.filter(account=merchant, type="setup_intent.succeeded").count() == 1
    assert Event.objects.filter(account=merchant, type="payment_method.attached").count() == 1


def authenticate(url: str) -> None:
    """The customer's button on the issuer page of "Stripe"."""
    parts = urlsplit(url)
    secret = parse_qs(parts.query)["client_secret"][0]
    response = Client().post(parts.path, {"client_secret": secret, "outcome": "complete"})
    assert response.status_code == 303


def test_refunds_stripe_settles_later(merchant, settings):
    intent = payment_intent_create(
        account=merchant,
        livemode=False,
        actor=ACTOR,
        amount=3000,
        currency="eur",
        payment_method="pm_card_visa",
        confirm=True,
    )
    assert intent.status == "succeeded"
    charge = Charge.objects.get(payment_intent=intent)
    second = {**REFUND, "id": "re_2", "amount": 500}
    with ProcessorStub() as refunds:  # Stripe answers that the refunds are under way
        settings.STRIPE_API_BASE = refunds.url
        forget_built_gateways()
        refunds.route("POST", "/v1/refunds", REFUND)
        first = refund_create(payment_intent=intent, amount=1000, actor=ACTOR)
        refunds.route("POST", "/v1/refunds", second)
        other = refund_create(payment_intent=intent, amount=500, actor=ACTOR)
    first.refresh_from_db()
    assert (first.status, first.processor_reference) == ("pending", REFUND["id"])
    charge.refresh_from_db()
    assert charge.amount_refunded == 1500  # reserved while pending

    refunded = {
        "id": charge.gateway_reference,
        "object": "charge",
        "refunds": {"data": [{**REFUND, "status": "succeeded"}]},
    }
    body = stripe_body("evt_refunded", "charge.refunded", refunded)
    response = deliver(merchant, body)
    assert response.status_code == 200 and response.json()["events"] == ["applied"]
    first.refresh_from_db()
    assert first.status == "succeeded"
    kinds = set(Event.objects.filter(account=merchant).values_list("type", flat=True))
    assert {"refund.updated", "charge.refund.updated", "charge.refunded"} <= kinds
    before = counts(merchant)
    assert deliver(merchant, body).json()["events"] == ["duplicate"]
    assert counts(merchant) == before

    failed = {**second, "status": "failed", "failure_reason": "expired_or_canceled_card"}
    response = deliver(merchant, stripe_body("evt_refund_failed", "refund.updated", failed))
    assert response.status_code == 200 and response.json()["events"] == ["applied"]
    other.refresh_from_db()
    charge.refresh_from_db()
    assert (other.status, other.failure_reason) == ("failed", "expired_or_canceled_card")
    assert charge.amount_refunded == 1000  # the failed refund's reservation is released
    # A late "pending" about a settled refund changes nothing.
    late = deliver(merchant, stripe_body("evt_refund_late", "refund.updated", {**REFUND, "status": "pending"}))
    assert late.json()["events"] == ["ignored"]
    assert Refund.objects.get(pk=first.pk).status == "succeeded"


def stripe_body(event_id: str, kind: str, obj: dict, *, livemode: bool = False) -> bytes:
    """An event in Stripe's envelope (https://docs.stripe.com/api/events/object)."""
    event = {
        "id": event_id,
        "object": "event",
        "api_version": "2025-03-31.basil",
        "created": int(time.time()),
        "type": kind,
        "livemode": livemode,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "data": {"object": obj},
    }
    return json.dumps(event).encode()
