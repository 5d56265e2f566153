"""What /processors/<processor>/<account>/webhook accepts and how often it applies an event: Stripe's envelope signed
as Stripe signs it, about payments written through the services (by the built-in test gateway, before the merchant
made Stripe their processor: the rules do not depend on who answered first)."""

import json
import threading
import time

import pytest
from django.db import connection, connections
from django.test import Client
from django.urls import reverse

from billing.gateways import forget_built_gateways, mollie_webhook_url
from billing.gateways.base import CardInput
from billing.models import AuditEntry, Charge, Event, Invoice, PaymentIntent, ProcessorEventReceipt
from billing.services.intents import payment_intent_create, setup_intent_create
from billing.services.payment_methods import payment_method_create
from billing.services.processors import processor_account_set
from tests.factories.billing import AccountFactory, CustomerFactory
from tests.webhooks.processor_helpers import ACTOR, RETURN_URL, WHSEC, WHSEC_LIVE, sepa_invoice_processing
from webhooks.signing import stripe_signature_header


@pytest.fixture(autouse=True)
def _fresh_gateways():
    forget_built_gateways()
    yield
    forget_built_gateways()


def make_stripe_the_processor(account) -> None:
    for livemode, secret in ((False, WHSEC), (True, WHSEC_LIVE)):
        mode = "live" if livemode else "test"
        processor_account_set(
            account=account,
            livemode=livemode,
            processor="stripe",
            actor=ACTOR,
            stripe_secret_key=f"sk_{mode}_unused",
            stripe_webhook_secret=secret,
            stripe_publishable_key=f"pk_{mode}_unused",
        )


@pytest.fixture
def processing(account) -> PaymentIntent:
    """An invoice's SEPA payment waiting for the bank, at a merchant whose processor is now Stripe."""
    invoice = sepa_invoice_processing(account)
    make_stripe_the_processor(account)
    return invoice.payment_intent


def event_body(event_id: str, kind: str, obj: dict, *, livemode: bool = False) -> bytes:
    """Stripe's event envelope (https://docs.stripe.com/api/events/object)."""
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


def payment_event(event_id: str, reference: str, status: str, **fields) -> bytes:
    kind = {"succeeded": "payment_intent.succeeded", "processing": "payment_intent.processing"}.get(
        status, "payment_intent.payment_failed" if status == "requires_payment_method" else f"payment_intent.{status}"
    )
    obj = {"id": reference, "object": "payment_intent", "status": status, "customer": None, "payment_method": None}
    return event_body(event_id, kind, {**obj, **fields})


def deliver(account_id: str, body: bytes, secret: str | None = WHSEC, processor: str = "stripe", sent=None):
    """POST ``body`` signed with ``secret`` (or ``sent`` instead of the body that was signed)."""
    headers = {"Stripe-Signature": stripe_signature_header(body, [secret], int(time.time()))} if secret else {}
    return Client().post(
        f"/processors/{processor}/{account_id}/webhook",
        data=body if sent is None else sent,
        content_type="application/json",
        headers=headers,
    )


# ------------------------------------------------------------------------------------------------ refused


def test_a_webhook_that_is_not_stripes_is_refused_and_changes_nothing(processing, account):
    succeeded = payment_event("evt_1", processing.processor_reference, "succeeded")
    refused = [
        deliver(account.pk, succeeded, secret="whsec_someoneelsessecret"),
        deliver(account.pk, succeeded, secret=None),
        deliver(account.pk, succeeded, sent=succeeded.replace(b"succeeded", b"succeedeD")),  # changed after signing
        deliver(account.pk, succeeded, secret=WHSEC_LIVE),  # a test-mode event signed with the live mode's secret
        deliver(account.pk, b"not json"),
        deliver(account.pk, b'{"id": "evt_2", "type": "payment_intent.succeeded", "livemode": false}'),
    ]
    assert [response.status_code for response in refused] == [400] * 6
    messages = [response.json()["error"]["message"] for response in refused]
    assert "Stripe-Signature" in messages[0] and "other mode" in messages[3]
    assert not any(WHSEC in message or WHSEC_LIVE in message for message in messages)
    assert ProcessorEventReceipt.objects.count() == 0
    processing.refresh_from_db()
    assert processing.status == "processing"


def test_only_the_accounts_configured_processor_posts_here(processing, account):
    body = payment_event("evt_1", processing.processor_reference, "succeeded")
    other = AccountFactory()
    responses = {
        "unknown account": deliver("acct_doesnotexist", body),
        "account without Stripe": deliver(other.pk, body),
        "another processor's address": deliver(account.pk, body, processor="mollie"),
        "the test gateway": deliver(account.pk, body, processor="test"),
    }
    assert {name: response.status_code for name, response in responses.items()} == dict.fromkeys(responses, 400)
    assert Client().get(f"/processors/stripe/{account.pk}/webhook").status_code == 405
    assert ProcessorEventReceipt.objects.count() == 0


# ------------------------------------------------------------------------------------------------ accepted


def test_events_about_objects_that_are_not_ours_are_acknowledged_once(processing, account):
    body = payment_event("evt_theirs", "pi_made_in_the_stripe_dashboard", "succeeded")
    assert deliver(account.pk, body).json() == {"received": True, "events": ["ignored"]}
    receipt = ProcessorEventReceipt.objects.get()
    assert (receipt.event_id, receipt.object_id, receipt.livemode) == ("evt_theirs", "", False)
    assert deliver(account.pk, body).json()["events"] == ["duplicate"]
    # Types we do not apply are acknowledged without a receipt.
    customer = event_body("evt_customer", "customer.created", {"id": "cus_1", "object": "customer"})
    assert deliver(account.pk, customer).json() == {"received": True, "events": []}
    # A live-mode event, signed with the live mode's secret, is the live mode's.
    live = event_body("evt_live", "payment_intent.succeeded", {"id": "pi_live", "status": "succeeded"}, livemode=True)
    assert deliver(account.pk, live, secret=WHSEC_LIVE).json()["events"] == ["ignored"]
    assert ProcessorEventReceipt.objects.get(event_id="evt_live").livemode is True
    processing.refresh_from_db()
    assert processing.status == "processing"


def test_an_answer_older_than_what_we_recorded_does_not_move_the_payment_back(account):
    customer = CustomerFactory(account=account)
    card = CardInput("4000002760003184", 12, 2035, "123")  # 3-D Secure on every payment
    pm = payment_method_create(account=account, livemode=False, actor=ACTOR, card=card)
    intent = payment_intent_create(
        account=account,
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
    make_stripe_the_processor(account)
    reference = intent.processor_reference

    def status_after(event_id: str, status: str, **fields) -> tuple[list[str], str]:
        outcome = deliver(account.pk, payment_event(event_id, reference, status, **fields)).json()["events"]
        intent.refresh_from_db()
        return outcome, intent.status

    # The customer authenticated at the bank; the payment is then processed.
    assert status_after("evt_1", "processing") == (["applied"], "processing")
    assert Charge.objects.get(payment_intent=intent).status == "pending"
    assert status_after("evt_2", "requires_action") == (["ignored"], "processing")
    assert status_after("evt_3", "succeeded") == (["applied"], "succeeded")
    assert status_after("evt_4", "processing") == (["ignored"], "succeeded")
    error = {"last_payment_error": {"code": "card_declined", "message": "Declined."}}
    assert status_after("evt_5", "requires_payment_method", **error) == (["ignored"], "succeeded")
    assert list(Charge.objects.filter(payment_intent=intent).values_list("status", flat=True)) == ["succeeded"]
    assert Event.objects.filter(account=account, type="payment_intent.succeeded").count() == 1


def test_a_setup_waiting_for_the_customer_fails_when_stripe_says_so(account):
    customer = CustomerFactory(account=account)
    card = CardInput("4000002500003155", 12, 2035, "123")  # 3-D Secure when set up
    pm = payment_method_create(account=account, livemode=False, actor=ACTOR, card=card)
    setup = setup_intent_create(
        account=account,
        livemode=False,
        actor=ACTOR,
        customer=customer,
        payment_method=pm,
        return_url=RETURN_URL,
        confirm=True,
    )
    assert setup.status == "requires_action"
    make_stripe_the_processor(account)
    error = {"code": "setup_intent_authentication_failure", "message": "The customer did not authenticate."}
    obj = {"id": setup.processor_reference, "object": "setup_intent", "status": "requires_payment_method"}
    body = event_body("evt_1", "setup_intent.setup_failed", {**obj, "last_setup_error": error})
    assert deliver(account.pk, body).json()["events"] == ["applied"]
    setup.refresh_from_db()
    pm.refresh_from_db()
    assert setup.status == "requires_payment_method" and setup.last_setup_error["message"] == error["message"]
    assert pm.customer_id is None
    assert Event.objects.filter(account=account, type="setup_intent.setup_failed").count() == 1


def test_one_webhook_takes_a_bounded_number_of_queries(processing, account, django_assert_max_num_queries):
    body = payment_event("evt_1", processing.processor_reference, "succeeded")
    # Most of them record the invoice's payment as the billing cycle's poll does (its events render the invoice and
    # the subscription); the webhook's own part is the processor row, the receipt and the locks in lock order.
    with django_assert_max_num_queries(52):
        response = deliver(account.pk, body)
    assert response.json()["events"] == ["applied"]
    with django_assert_max_num_queries(4):
        assert deliver(account.pk, body).json()["events"] == ["duplicate"]


def test_mollie_is_sent_the_address_of_this_endpoint(account):
    path = reverse("webhooks:processor_webhook", args=["mollie", account.pk])
    assert mollie_webhook_url(account.pk).endswith(path) and path == f"/processors/mollie/{account.pk}/webhook"


# ------------------------------------------------------------------------------------------------ concurrency


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_the_same_event_delivered_twice_at_once_is_applied_once():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (run through .ci/run)")
    account = AccountFactory()
    intent = sepa_invoice_processing(account).payment_intent
    make_stripe_the_processor(account)
    body = payment_event("evt_twice", intent.processor_reference, "succeeded")
    barrier = threading.Barrier(2)
    outcomes, failures = [], []

    def post():
        try:
            barrier.wait(timeout=30)
            response = deliver(account.pk, body)
            outcomes.extend(response.json()["events"])
        except Exception as error:  # reported below
            failures.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    assert sorted(outcomes) == ["applied", "duplicate"]
    invoice = Invoice.objects.get(pk=intent.invoice_id)
    assert (invoice.status, invoice.amount_paid) == ("paid", 1500)
    assert Event.objects.filter(account=account, type="invoice.paid").count() == 1
    assert Charge.objects.filter(payment_intent=intent, status="succeeded").count() == 1
    assert AuditEntry.objects.filter(account=account, action="processor_event.apply").count() == 1
    assert ProcessorEventReceipt.objects.filter(account=account).count() == 1
