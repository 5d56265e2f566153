"""Charges and refunds through the official stripe SDK."""

import pytest
import stripe
from django.db import transaction

from billing import clock
from billing.models import Customer, Event, Invoice
from billing.services.invoices import LineSpec, invoice_create_draft


def paid_invoice(client: stripe.StripeClient) -> tuple[str, stripe.Invoice]:
    """A customer with pm_card_visa and a paid invoice of 15.00 €."""
    customer = client.v1.customers.create({"email": "buyer@example.com", "name": "Buyer"})
    pm = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    now = clock.now()
    with transaction.atomic():
        draft = invoice_create_draft(
            customer=Customer.objects.get(pk=customer.id),
            subscription=None,
            currency="eur",
            billing_reason=Invoice.BillingReason.MANUAL,
            period_start=now,
            period_end=now,
            lines=[LineSpec("Setup fee", 1500, now, now)],
        )
    client.v1.invoices.finalize_invoice(draft.id)
    invoice = client.v1.invoices.pay(draft.id, {"payment_method": pm.id})
    assert invoice.status == "paid"
    return customer.id, invoice


def test_charges_list_retrieve_search_and_update(client):
    customer, invoice = paid_invoice(client)
    charges = client.v1.charges.list({"customer": customer})
    assert charges.object == "list" and charges.url == "/v1/charges" and len(charges.data) == 1
    charge = client.v1.charges.retrieve(charges.data[0].id)
    assert (charge.object, charge.amount, charge.currency, charge.status) == ("charge", 1500, "eur", "succeeded")
    assert charge.invoice == invoice.id and charge.paid and charge.captured and not charge.refunded
    assert charge.payment_method_details.card.last4 == "4242"

    found = client.v1.charges.search({"query": f'customer:"{customer}" AND status:"succeeded" AND amount>=1500'})
    assert found.object == "search_result" and [c.id for c in found.data] == [charge.id]
    assert client.v1.charges.search({"query": "amount>1500"}).data == []

    updated = client.v1.charges.update(charge.id, {"description": "Setup", "metadata": {"order": "7"}})
    assert (updated.description, updated.metadata.to_dict()) == ("Setup", {"order": "7"})
    by_metadata = client.v1.charges.search({"query": 'metadata["order"]:"7"'})
    assert [c.id for c in by_metadata.data] == [charge.id]
    with pytest.raises(stripe.InvalidRequestError) as bad:
        client.v1.charges.search({"query": 'nonsense:"1"'})
    assert bad.value.http_status == 400 and bad.value.param == "query"


def test_partial_refund_then_the_rest_then_nothing_left(client):
    customer, invoice = paid_invoice(client)
    charge = client.v1.charges.list({"customer": customer}).data[0]

    partial = client.v1.refunds.create({"charge": charge.id, "amount": 500, "reason": "requested_by_customer"})
    assert (partial.object, partial.amount, partial.status, partial.charge) == ("refund", 500, "succeeded", charge.id)
    assert partial.reason == "requested_by_customer"
    after_partial = client.v1.charges.retrieve(charge.id)
    assert after_partial.amount_refunded == 500 and not after_partial.refunded

    rest = client.v1.refunds.create({"charge": charge.id, "metadata": {"why": "rest"}})
    assert rest.amount == 1000 and rest.metadata.to_dict() == {"why": "rest"}
    assert client.v1.charges.retrieve(charge.id).refunded is True

    with pytest.raises(stripe.InvalidRequestError) as third:
        client.v1.refunds.create({"charge": charge.id, "amount": 1})
    assert third.value.http_status == 400 and third.value.code == "charge_already_refunded"

    refunds = client.v1.refunds.list({"charge": charge.id})
    assert refunds.url == "/v1/refunds" and [r.id for r in refunds.data] == [rest.id, partial.id]
    assert client.v1.refunds.retrieve(partial.id).amount == 500
    assert client.v1.refunds.update(partial.id, {"metadata": {"note": "x"}}).metadata.to_dict() == {"note": "x"}

    with pytest.raises(stripe.InvalidRequestError) as cancel:
        client.v1.refunds.cancel(partial.id)
    assert cancel.value.http_status == 400 and cancel.value.code == "refund_not_cancelable"

    # A refunded invoice stays paid, as at Stripe.
    assert client.v1.invoices.retrieve(invoice.id).status == "paid"
    types = set(Event.objects.values_list("type", flat=True))
    assert {"refund.created", "refund.updated", "charge.refunded", "charge.refund.updated"} <= types


def test_refund_errors_are_stripes(client):
    customer, _invoice = paid_invoice(client)
    charge = client.v1.charges.list({"customer": customer}).data[0]
    with pytest.raises(stripe.InvalidRequestError) as too_much:
        client.v1.refunds.create({"charge": charge.id, "amount": 1501})
    error = too_much.value
    assert (error.http_status, error.code, error.param) == (400, "amount_too_large", "amount")
    assert error.user_message == "Refund amount (€15.01) is greater than unrefunded amount on charge (€15.00)"
    for amount in (0, -1):
        with pytest.raises(stripe.InvalidRequestError) as bad:
            client.v1.refunds.create({"charge": charge.id, "amount": amount})
        assert (bad.value.code, bad.value.param) == ("parameter_invalid_integer", "amount")
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.refunds.create({})
    assert missing.value.code == "parameter_missing"
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.refunds.create({"charge": "ch_nope"})
    assert (unknown.value.http_status, unknown.value.code, unknown.value.param) == (404, "resource_missing", "charge")
    with pytest.raises(stripe.InvalidRequestError) as reason:
        client.v1.refunds.create({"charge": charge.id, "reason": "because"})
    assert reason.value.param == "reason"


def test_another_tenants_charges_and_refunds_are_missing(client, other_client):
    customer, _invoice = paid_invoice(client)
    charge = client.v1.charges.list({"customer": customer}).data[0]
    refund = client.v1.refunds.create({"charge": charge.id, "amount": 100})
    calls = [
        lambda: other_client.v1.charges.retrieve(charge.id),
        lambda: other_client.v1.charges.update(charge.id, {"metadata": {"x": "y"}}),
        lambda: other_client.v1.refunds.retrieve(refund.id),
        lambda: other_client.v1.refunds.cancel(refund.id),
        lambda: other_client.v1.refunds.create({"charge": charge.id}),
        lambda: other_client.v1.refunds.list({"charge": charge.id}),
        lambda: other_client.v1.charges.list({"customer": customer}),
    ]
    for call in calls:
        with pytest.raises(stripe.InvalidRequestError) as missing:
            call()
        assert (missing.value.http_status, missing.value.code) == (404, "resource_missing")
    assert other_client.v1.charges.search({"query": 'status:"succeeded"'}).data == []
    assert client.v1.charges.retrieve(charge.id).amount_refunded == 100
