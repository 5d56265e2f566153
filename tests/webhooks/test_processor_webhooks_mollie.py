"""Mollie's webhooks at /processors/mollie/<account>/webhook: Mollie posts ``id=tr_…``, the account's adapter fetches
that payment from a local server answering as Mollie's API does (bodies from its reference), and what it says is
applied once."""

import datetime as dt
import json

import pytest
import time_machine
from django.test import Client

from billing.audit import Actor
from billing.gateways import forget_built_gateways, mollie_webhook_url
from billing.models import AuditEntry, Charge, Event, ProcessorEventReceipt
from billing.services.intents import payment_intent_create
from billing.services.payment_methods import payment_method_create
from billing.services.processors import processor_account_set
from billing.services.refunds import refund_create
from tests.billing.processor_stubs import API_KEY, MollieStub, fixture
from tests.factories.billing import CustomerFactory

ACTOR = Actor.system("test")
TOKEN = "tkn_UqAvArS3gw"
MANDATE = "mandate:cst_8wmqcHMN4U:mdt_h3gAaD5zP"
RETURN_URL = "https://shop.example/back"


@pytest.fixture
def mollie(settings, account):
    """Mollie's API, and the merchant's test mode taking payments with Mollie there."""
    with MollieStub() as stub:
        settings.MOLLIE_API_ENDPOINT = stub.url
        forget_built_gateways()
        processor_account_set(account=account, livemode=False, processor="mollie", actor=ACTOR, mollie_api_key=API_KEY)
        yield stub
    forget_built_gateways()


def post(account, body: str):
    return Client().post(
        f"/processors/mollie/{account.pk}/webhook", data=body, content_type="application/x-www-form-urlencoded"
    )


def counts(account) -> tuple[int, int, int]:
    return (
        Event.objects.filter(account=account).count(),
        AuditEntry.objects.filter(account=account).count(),
        ProcessorEventReceipt.objects.filter(account=account).count(),
    )


def card_payment_at_checkout(account, mollie):
    """A customer pays 10.00 EUR with a card from Mollie's hosted fields; Mollie sends them to its checkout to
    authenticate (an open first payment)."""
    mollie.answer("POST", "customers", "customer_created", status=201)
    mollie.answer("POST", "payments", "payment_first_open", status=201)
    pm = payment_method_create(account=account, livemode=False, actor=ACTOR, token=TOKEN)
    intent = payment_intent_create(
        account=account,
        livemode=False,
        actor=ACTOR,
        amount=1000,
        currency="eur",
        customer=CustomerFactory(account=account),
        payment_method=pm,
        return_url=RETURN_URL,
        confirm=True,
    )
    assert (intent.status, intent.processor_reference) == ("requires_action", "tr_WDqYK6vllg")
    return intent


def test_a_payment_paid_at_mollies_checkout_is_applied_once(account, mollie):
    intent = card_payment_at_checkout(account, mollie)
    created = next(request for request in mollie.requests if request["path"] == "/v2/payments")
    assert created["json"]["webhookUrl"] == mollie_webhook_url(account.pk)  # this endpoint's address
    mollie.answer("GET", "payments/tr_WDqYK6vllg", "payment_first_paid")

    response = post(account, "id=tr_WDqYK6vllg")

    assert response.status_code == 200 and response.json() == {"received": True, "events": ["applied"]}
    intent.refresh_from_db()
    assert (intent.status, intent.amount_received) == ("succeeded", 1000)
    assert Charge.objects.get(payment_intent=intent).status == "succeeded"
    assert intent.payment_method.gateway_reference == MANDATE  # the card is chargeable later through its mandate
    receipt = ProcessorEventReceipt.objects.get(account=account)
    assert (receipt.processor, receipt.event_id, receipt.object_id) == (
        "mollie",
        "mollie:tr_WDqYK6vllg:paid",
        intent.pk,
    )

    before = counts(account)
    again = post(account, "id=tr_WDqYK6vllg")  # Mollie calls again, e.g. after a timeout on our side
    assert again.status_code == 200 and again.json()["events"] == ["duplicate"]
    assert counts(account) == before
    fetched = [r for r in mollie.requests if (r["method"], r["path"]) == ("GET", "/v2/payments/tr_WDqYK6vllg")]
    assert len(fetched) == 2  # each delivery is verified by asking Mollie


def test_a_payment_that_failed_at_mollies_checkout_fails_the_payment_intent(account, mollie):
    intent = card_payment_at_checkout(account, mollie)
    failed = fixture("payment_first_open")
    failed["status"] = "failed"
    failed["details"] = fixture("payment_failed_insufficient_funds")["details"]
    del failed["_links"]["checkout"]
    mollie.answer("GET", "payments/tr_WDqYK6vllg", body=json.dumps(failed).encode())

    response = post(account, "id=tr_WDqYK6vllg")

    assert response.status_code == 200 and response.json()["events"] == ["applied"]
    intent.refresh_from_db()
    assert intent.status == "requires_payment_method"
    assert intent.last_payment_error["decline_code"] == "insufficient_funds"
    charge = Charge.objects.get(payment_intent=intent)
    assert (charge.status, charge.decline_code) == ("failed", "insufficient_funds")
    assert Event.objects.filter(account=account, type="payment_intent.payment_failed").count() == 1


def test_mollie_unreachable_answers_503_and_writes_nothing(account, mollie):
    intent = card_payment_at_checkout(account, mollie)
    mollie.answer("GET", "payments/tr_WDqYK6vllg", "error_503", status=503)
    before = counts(account)

    response = post(account, "id=tr_WDqYK6vllg")

    assert response.status_code == 503 and "send it again" in response.json()["error"]["message"]
    assert counts(account) == before
    intent.refresh_from_db()
    assert intent.status == "requires_action"


@pytest.mark.parametrize("body", ["", "id=cst_8wmqcHMN4U", "id=tr_../../customers", "payment=tr_WDqYK6vllg"])
def test_a_request_that_names_no_mollie_payment_is_refused_without_asking_mollie(account, mollie, body):
    response = post(account, body)
    assert response.status_code == 400 and response.json()["error"]["message"]
    assert mollie.requests == [] and ProcessorEventReceipt.objects.count() == 0


def test_a_payment_mollie_does_not_know_is_refused(account, mollie):
    mollie.answer("GET", "payments/tr_doesnotexist", "error_404", status=404)
    response = post(account, "id=tr_doesnotexist")
    assert response.status_code == 400 and "does not know" in response.json()["error"]["message"]


def test_a_refund_mollie_pays_back_later_is_settled_by_the_payments_webhook(account, mollie):
    mollie.answer("POST", "payments", "payment_paid_with_refunds", status=201)
    pm = payment_method_create(account=account, livemode=False, actor=ACTOR, token=TOKEN)
    intent = payment_intent_create(
        account=account,
        livemode=False,
        actor=ACTOR,
        amount=1000,
        currency="eur",
        payment_method=pm,
        return_url=RETURN_URL,
        confirm=True,
    )
    assert intent.status == "succeeded"
    mollie.answer("POST", "payments/tr_5B8cwPMGnU/refunds", "refund_pending", status=201)
    refund = refund_create(payment_intent=intent, amount=500, actor=ACTOR)
    refund.refresh_from_db()
    assert (refund.status, refund.processor_reference) == ("pending", "re_4qqhO89gsT")
    mollie.answer("GET", "payments/tr_5B8cwPMGnU", "payment_paid_with_refunds")
    mollie.answer("GET", "payments/tr_5B8cwPMGnU/refunds", "refunds_list")

    response = post(account, "id=tr_5B8cwPMGnU")

    # The payment's own event is older news (we recorded it paid); its refund's is applied.
    assert response.status_code == 200 and response.json()["events"] == ["ignored", "applied"]
    refund.refresh_from_db()
    assert refund.status == "succeeded"
    assert Event.objects.filter(account=account, type="charge.refunded").count() == 1
    assert post(account, "id=tr_5B8cwPMGnU").json()["events"] == ["duplicate", "duplicate"]


def test_a_sepa_renewal_waits_for_the_bank_and_mollies_webhook_pays_the_invoice(account, mollie):
    """A SEPA debit is ``pending`` at Mollie until the bank answers: the renewal's invoice stays open, untouched by
    dunning, with its PaymentIntent processing; Mollie's webhook then pays it (once)."""
    from billing.models import Invoice, PaymentMethod
    from billing.services.billing_cycle import billing_cycle_plan
    from billing.services.customers import customer_set_default_payment_method
    from billing.services.subscriptions import ItemSpec, subscription_create
    from tests.factories.billing import PriceFactory

    pending = fixture("payment_recurring_paid") | {"status": "pending", "method": "directdebit", "paidAt": None}
    paid = fixture("payment_recurring_paid") | {"method": "directdebit"}
    start = dt.datetime(2026, 1, 10, tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False):
        customer = CustomerFactory(account=account)
        sepa = PaymentMethod.objects.create(
            account=account,
            livemode=False,
            customer=customer,
            type="sepa_debit",
            sepa_last4="3000",
            gateway_reference=MANDATE,
        )
        customer_set_default_payment_method(customer=customer, payment_method=sepa, actor=ACTOR)
        price = PriceFactory(account=account, product__account=account, unit_amount=2500, currency="eur")
        subscription = subscription_create(
            customer=customer, items=[ItemSpec(price, 1)], actor=ACTOR, trial_period_days=14
        )
    mollie.answer("GET", "customers/cst_8wmqcHMN4U/mandates/mdt_h3gAaD5zP", "mandate_directdebit_valid")
    mollie.answer("POST", "payments", body=json.dumps(pending).encode(), status=201)

    with time_machine.travel(start + dt.timedelta(days=15), tick=False):
        billing_cycle_plan(inline=True)
        invoice = Invoice.objects.filter(subscription=subscription).latest("created")
        charge = Charge.objects.get(invoice=invoice)
        intent = charge.payment_intent
        assert (invoice.status, invoice.next_payment_attempt) == ("open", None)
        assert (charge.status, charge.gateway_reference) == ("pending", pending["id"])
        assert (intent.status, intent.processor_reference) == ("processing", pending["id"])
        assert not Event.objects.filter(type="invoice.payment_failed", account=account).exists()

        mollie.answer("GET", f"payments/{pending['id']}", body=json.dumps(paid).encode())
        assert post(account, f"id={pending['id']}").status_code == 200
        assert post(account, f"id={pending['id']}").status_code == 200

    invoice.refresh_from_db()
    charge.refresh_from_db()
    assert (invoice.status, invoice.amount_paid, charge.status) == ("paid", 2500, "succeeded")
    assert Event.objects.filter(type="invoice.paid", account=account, data_object__id=invoice.pk).count() == 1
