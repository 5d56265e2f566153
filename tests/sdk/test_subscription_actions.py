"""Resuming a paused subscription and removing a subscription's discount, through the stripe SDK."""

import pytest
import stripe

from billing.models import Event, Invoice, Subscription
from tests.factories.billing import CustomerFactory, PriceFactory, card


@pytest.fixture
def customer(merchant):
    customer = CustomerFactory(account=merchant)
    card(customer)
    return customer


@pytest.fixture
def price(merchant):
    return PriceFactory(account=merchant, product__account=merchant, unit_amount=2000)


def test_resume_a_paused_subscription(client, customer, price):
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]})
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.subscriptions.resume(sub.id)
    assert error.value.http_status == 400 and "paused" in error.value.user_message
    Subscription.objects.filter(pk=sub.id).update(status=Subscription.Status.PAUSED)
    invoices = Invoice.objects.filter(subscription_id=sub.id).count()

    resumed = client.v1.subscriptions.resume(sub.id)
    assert resumed.status == "active"
    assert Invoice.objects.filter(subscription_id=sub.id).count() == invoices + 1
    latest = client.v1.invoices.retrieve(resumed.latest_invoice)
    assert latest.total == 2000 and latest.status == "paid"
    assert Event.objects.filter(type="customer.subscription.resumed").count() == 1
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.subscriptions.resume(sub.id, {"billing_cycle_anchor": "unchanged"})
    assert error.value.param == "billing_cycle_anchor"


def test_delete_a_subscriptions_discount(client, customer, price):
    client.v1.coupons.create({"id": "TENOFF", "percent_off": 10, "duration": "forever"})
    sub = client.v1.subscriptions.create(
        {"customer": customer.id, "items": [{"price": price.id}], "discounts": [{"coupon": "TENOFF"}]}
    )
    assert len(sub.discounts) == 1
    deleted = client.v1.subscriptions.delete_discount(sub.id)
    assert deleted.object == "discount" and deleted.deleted is True and deleted.id == sub.discounts[0]
    assert client.v1.subscriptions.retrieve(sub.id).discounts == []
    assert Event.objects.filter(type="customer.discount.deleted").count() == 1
    preview = client.v1.invoices.create_preview({"subscription": sub.id})
    assert preview.total == 2000
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.subscriptions.delete_discount(sub.id)
    assert error.value.http_status == 404
