"""/v1/subscription_items through the stripe SDK: every operation is a subscription change (prorations, invoices,
customer.subscription.updated, audit), and bad ids answer Stripe's errors."""

import pytest
import stripe

from billing.models import AuditEntry, Event, Invoice, InvoiceItem
from tests.factories.billing import CustomerFactory, PriceFactory, TaxRateFactory, card


@pytest.fixture
def customer(merchant):
    customer = CustomerFactory(account=merchant)
    card(customer)
    return customer


def _price(merchant, amount):
    return PriceFactory(account=merchant, product__account=merchant, unit_amount=amount)


def _updated_events() -> int:
    return Event.objects.filter(type="customer.subscription.updated").count()


def test_create_retrieve_update_list_delete(client, merchant, customer):
    base, seats = _price(merchant, 2000), _price(merchant, 500)
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": base.id}]})
    mid = (sub.current_period_start + sub.current_period_end) // 2
    events = _updated_events()

    rate = TaxRateFactory(account=merchant)
    added = client.v1.subscription_items.create(
        {
            "subscription": sub.id,
            "price": seats.id,
            "quantity": 3,
            "metadata": {"team": "a"},
            "tax_rates": [rate.id],
            "proration_behavior": "always_invoice",
            "proration_date": mid,
        }
    )
    assert added.object == "subscription_item" and added.quantity == 3 and added.price.id == seats.id
    assert added.metadata.to_dict() == {"team": "a"} and [r.id for r in added.tax_rates] == [rate.id]
    assert _updated_events() == events + 1
    invoice = client.v1.invoices.retrieve(client.v1.subscriptions.retrieve(sub.id).latest_invoice)
    assert invoice.billing_reason == "subscription_update" and invoice.subtotal == 750  # half a period of 3 × 5.00

    assert client.v1.subscription_items.retrieve(added.id).quantity == 3
    changed = client.v1.subscription_items.update(
        added.id, {"quantity": 5, "metadata": {"team": "", "cost_center": "7"}, "proration_behavior": "none"}
    )
    assert changed.quantity == 5 and changed.metadata.to_dict() == {"cost_center": "7"}
    assert _updated_events() == events + 2
    assert AuditEntry.objects.filter(action="subscription.change_items").count() == 2

    listed = client.v1.subscription_items.list({"subscription": sub.id})
    assert {item.id for item in listed.data} == {added.id, sub["items"].data[0].id}

    pending = InvoiceItem.objects.filter(invoice__isnull=True).count()
    deleted = client.v1.subscription_items.delete(added.id, {"proration_date": mid})
    assert deleted.id == added.id and deleted.deleted is True
    assert InvoiceItem.objects.filter(invoice__isnull=True).count() == pending + 1  # the credit for unused time
    assert [item.id for item in client.v1.subscriptions.retrieve(sub.id)["items"].data] == [sub["items"].data[0].id]


def test_bad_input_answers_stripes_errors(client, merchant, customer, other_client):
    price = _price(merchant, 1000)
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]})
    only = sub["items"].data[0]
    invoices = Invoice.objects.count()

    def error(call) -> stripe.StripeError:
        with pytest.raises(stripe.StripeError) as raised:
            call()
        assert raised.value.http_status < 500
        return raised.value

    missing = error(lambda: client.v1.subscription_items.retrieve("si_nope"))
    assert missing.http_status == 404 and missing.code == "resource_missing"
    assert error(lambda: other_client.v1.subscription_items.update(only.id, {"quantity": 2})).http_status == 404
    last = error(lambda: client.v1.subscription_items.delete(only.id))
    assert last.http_status == 400 and "at least one item" in last.user_message
    duplicate = error(lambda: client.v1.subscription_items.create({"subscription": sub.id, "price": price.id}))
    assert duplicate.http_status == 400
    assert error(lambda: client.v1.subscription_items.create({"subscription": sub.id})).code == "parameter_missing"
    assert error(lambda: client.v1.subscription_items.list({"subscription": "sub_nope"})).http_status == 404
    client.v1.subscriptions.cancel(sub.id)
    ended = error(lambda: client.v1.subscription_items.update(only.id, {"quantity": 2}))
    assert ended.http_status == 400
    assert Invoice.objects.count() == invoices


def test_subscription_update_sets_item_metadata(client, merchant, customer):
    price = _price(merchant, 1000)
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]})
    item = sub["items"].data[0]
    updated = client.v1.subscriptions.update(sub.id, {"items": [{"id": item.id, "metadata": {"seat": "owner"}}]})
    assert updated["items"].data[0].metadata.to_dict() == {"seat": "owner"}
    event = Event.objects.filter(type="customer.subscription.updated").latest("id")
    assert event.data_object["items"]["data"][0]["metadata"] == {"seat": "owner"}
