"""/v1/invoiceitems and invoices made by hand, through the stripe SDK: pending items are billed by the customer's
next invoice (a renewal, or POST /v1/invoices with pending_invoice_items_behavior=include), drafts change their
lines, are deleted and sent."""

import datetime as dt

import pytest
import stripe
import time_machine

from billing.models import Event, Invoice, InvoiceItem, Subscription
from billing.services.subscriptions import subscription_advance
from tests.billing.helpers import run_cycle
from tests.factories.billing import CustomerFactory, PriceFactory, TaxRateFactory, card


@pytest.fixture
def customer(merchant):
    customer = CustomerFactory(account=merchant, currency="eur")
    card(customer)
    return customer


def _error(call) -> stripe.StripeError:
    with pytest.raises(stripe.StripeError) as raised:
        call()
    assert raised.value.http_status < 500
    return raised.value


def test_invoice_item_crud_and_events(client, merchant, customer):
    rate = TaxRateFactory(account=merchant)
    item = client.v1.invoice_items.create(
        {"customer": customer.id, "amount": 2500, "currency": "eur", "description": "Setup fee", "tax_rates": [rate.id]}
    )
    assert item.id.startswith("ii_") and item.object == "invoiceitem" and item.invoice is None
    assert item.amount == 2500 and item.description == "Setup fee" and [r.id for r in item.tax_rates] == [rate.id]
    assert Event.objects.filter(type="invoiceitem.created").count() == 1

    changed = client.v1.invoice_items.update(item.id, {"unit_amount": 700, "quantity": 3, "metadata": {"a": "b"}})
    assert changed.amount == 2100 and changed.quantity == 3 and changed.metadata.to_dict() == {"a": "b"}
    assert client.v1.invoice_items.retrieve(item.id).amount == 2100
    assert [i.id for i in client.v1.invoice_items.list({"customer": customer.id, "pending": True}).data] == [item.id]

    deleted = client.v1.invoice_items.delete(item.id)
    assert deleted.deleted is True and deleted.id == item.id
    assert Event.objects.filter(type="invoiceitem.deleted").count() == 1
    assert _error(lambda: client.v1.invoice_items.retrieve(item.id)).http_status == 404
    assert _error(lambda: client.v1.invoice_items.create({"customer": customer.id})).code == "parameter_missing"
    recurring = PriceFactory(account=merchant, product__account=merchant)
    assert _error(lambda: client.v1.invoice_items.create({"customer": customer.id, "price": recurring.id})).param == (
        "price"
    )


def test_pending_items_are_billed_by_the_next_renewal(client, merchant, customer):
    price = PriceFactory(account=merchant, product__account=merchant, unit_amount=1000)
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]})
    fee = client.v1.invoice_items.create({"customer": customer.id, "amount": 300, "currency": "eur"})
    own = client.v1.invoice_items.create(
        {"customer": customer.id, "amount": -100, "currency": "eur", "subscription": sub.id}
    )
    preview = client.v1.invoices.create_preview({"subscription": sub.id})
    assert preview.total == 1200

    run_cycle(Subscription.objects.get(pk=sub.id).current_period_end + dt.timedelta(hours=1))
    renewal = Invoice.objects.get(subscription_id=sub.id, billing_reason="subscription_cycle")
    assert renewal.total == 1200
    assert set(InvoiceItem.objects.filter(invoice=renewal).values_list("pk", flat=True)) == {fee.id, own.id}
    billed = client.v1.invoice_items.retrieve(fee.id)
    assert billed.invoice == renewal.id
    assert _error(lambda: client.v1.invoice_items.update(fee.id, {"amount": 1})).http_status == 400
    assert _error(lambda: client.v1.invoice_items.delete(fee.id)).http_status == 400


def test_a_one_off_invoice_made_by_hand(client, merchant, customer):
    fee = client.v1.invoice_items.create({"customer": customer.id, "amount": 5000, "currency": "eur"})
    excluded = client.v1.invoices.create({"customer": customer.id, "currency": "eur"})
    assert excluded.status == "draft" and excluded.total == 0 and excluded.lines.data == []
    client.v1.invoices.delete(excluded.id)
    assert Event.objects.filter(type="invoice.deleted").count() == 1
    assert _error(lambda: client.v1.invoices.retrieve(excluded.id)).http_status == 404

    draft = client.v1.invoices.create(
        {
            "customer": customer.id,
            "pending_invoice_items_behavior": "include",
            "collection_method": "send_invoice",
            "days_until_due": 14,
            "description": "Consulting",
        }
    )
    assert draft.total == 5000 and [line.amount for line in draft.lines.data] == [5000]
    assert draft.description == "Consulting" and draft.collection_method == "send_invoice"
    assert client.v1.invoice_items.retrieve(fee.id).invoice == draft.id

    added = client.v1.invoices.add_lines(
        draft.id, {"lines": [{"amount": 1200, "description": "Travel"}], "invoice_metadata": {"po": "42"}}
    )
    assert added.total == 6200 and added.metadata.to_dict() == {"po": "42"}
    travel = added.lines.data[1]
    updated = client.v1.invoices.update_lines(draft.id, {"lines": [{"id": travel.id, "amount": 1500}]})
    assert updated.total == 6500 and updated.lines.data[1].id == travel.id
    removed = client.v1.invoices.remove_lines(draft.id, {"lines": [{"id": travel.id, "behavior": "unassign"}]})
    assert removed.total == 5000
    assert client.v1.invoice_items.list({"customer": customer.id, "pending": True}).data[0].amount == 1500
    assert client.v1.invoices.update(draft.id, {"description": "Consulting, May"}).description == "Consulting, May"

    sent = client.v1.invoices.send_invoice(draft.id)
    assert sent.status == "open" and sent.number and sent.amount_due == 5000
    assert Event.objects.filter(type="invoice.sent").count() == 1
    assert _error(lambda: client.v1.invoices.delete(draft.id)).http_status == 400
    assert _error(lambda: client.v1.invoices.add_lines(draft.id, {"lines": [{"amount": 1}]})).http_status == 400
    assert client.v1.invoices.update(draft.id, {"metadata": {"k": "v"}}).metadata.to_dict() == {"po": "42", "k": "v"}


def test_a_subscriptions_invoice_is_not_a_hand_made_draft(client, merchant, customer):
    price = PriceFactory(account=merchant, product__account=merchant, unit_amount=1000)
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]})
    assert _error(lambda: client.v1.invoices.delete(sub.latest_invoice)).http_status == 400
    other = CustomerFactory(account=merchant, currency="eur")
    assert (
        _error(
            lambda: client.v1.invoice_items.create(
                {"customer": other.id, "amount": 100, "currency": "eur", "subscription": sub.id}
            )
        ).param
        == "subscription"
    )


def test_a_customers_item_is_billed_once_by_whichever_subscription_renews_first(client, merchant, customer):
    monthly = PriceFactory(account=merchant, product__account=merchant, unit_amount=1000)
    other = PriceFactory(account=merchant, product__account=merchant, unit_amount=700)
    first = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": monthly.id}]})
    client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": other.id}]})
    fee = client.v1.invoice_items.create({"customer": customer.id, "amount": 250, "currency": "eur"})

    run_cycle(Subscription.objects.get(pk=first.id).current_period_end + dt.timedelta(hours=1))
    renewals = Invoice.objects.filter(customer=customer, billing_reason="subscription_cycle")
    assert sorted(invoice.total for invoice in renewals) in ([700, 1250], [950, 1000])
    billed = InvoiceItem.objects.get(pk=fee.id)
    assert billed.invoice_id in {invoice.pk for invoice in renewals}


def test_a_lone_renewal_takes_the_customers_items(client, merchant, customer):
    price = PriceFactory(account=merchant, product__account=merchant, unit_amount=1000)
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]})
    fee = client.v1.invoice_items.create({"customer": customer.id, "amount": 250, "currency": "eur"})
    with time_machine.travel(Subscription.objects.get(pk=sub.id).current_period_end + dt.timedelta(hours=1)):
        assert subscription_advance(subscription_id=sub.id) == 1
    renewal = Invoice.objects.get(subscription_id=sub.id, billing_reason="subscription_cycle")
    assert renewal.total == 1250 and InvoiceItem.objects.get(pk=fee.id).invoice_id == renewal.pk
