"""A promotion code's restrictions through the official SDK, on subscription create, on subscription update and on
the invoice preview: ``minimum_amount`` (+ ``minimum_amount_currency``), ``first_time_transaction``,
``max_redemptions`` and ``expires_at`` (docs.stripe.com/api/promotion_codes/create and
docs.stripe.com/billing/subscriptions/coupons#promotion-codes). A refusal is Stripe's ``invalid_request_error`` with
the parameter that carried the code and Stripe's sentence "This promotion code cannot be redeemed because …"."""

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

import pytest
import stripe
import time_machine

from tests.factories.billing import CustomerFactory, PriceFactory, card

UTC = dt.UTC
NOW = dt.datetime(2024, 2, 10, tzinfo=UTC)
PARAM = "discounts[0][promotion_code]"
REFUSED = "This promotion code cannot be redeemed because"


def r(value) -> int:
    return int(Decimal(value).quantize(Decimal(1), rounding=ROUND_HALF_UP))


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def price(merchant):
    return PriceFactory(account=merchant, product__account=merchant, unit_amount=1000, currency="eur")


@pytest.fixture
def coupon(client, frozen):
    return client.v1.coupons.create({"percent_off": 10, "duration": "forever"})


def _customer(merchant):
    customer = CustomerFactory(account=merchant)
    card(customer)
    return customer


def _promo(client, coupon, **extra) -> stripe.PromotionCode:
    return client.v1.promotion_codes.create({"promotion": {"type": "coupon", "coupon": coupon.id}, **extra})


def _refused(call, reason: str) -> None:
    with pytest.raises(stripe.InvalidRequestError) as error:
        call()
    assert error.value.http_status == 400 and error.value.error.type == "invalid_request_error"
    assert error.value.param == PARAM
    assert error.value.user_message.startswith(f"{REFUSED} {reason}")


def _three_ways(client, customer, subscription, price, promo, reason: str) -> None:
    """Create, update and preview with ``promo``: each refused with Stripe's error; nothing redeemed."""
    discounts = [{"promotion_code": promo.id}]
    _refused(
        lambda: client.v1.subscriptions.create(
            {"customer": customer.id, "items": [{"price": price.id}], "discounts": discounts}
        ),
        reason,
    )
    _refused(lambda: client.v1.subscriptions.update(subscription.id, {"discounts": discounts}), reason)
    _refused(
        lambda: client.v1.invoices.create_preview(
            {"customer": customer.id, "subscription": subscription.id, "discounts": discounts}
        ),
        reason,
    )
    _refused(
        lambda: client.v1.invoices.create_preview(
            {"customer": customer.id, "subscription_details": {"items": [{"price": price.id}]}, "discounts": discounts}
        ),
        reason,
    )
    assert client.v1.promotion_codes.retrieve(promo.id).times_redeemed in (0, 1)
    assert not client.v1.subscriptions.retrieve(subscription.id, {"expand": ["discounts"]}).discounts


# restrictions.minimum_amount: "Minimum amount required to redeem this Promotion Code into a Coupon (e.g., a purchase
# must be $100 or more to work)". 1 x 10.00 is below 20.00; 2 x 10.00 meets it and is billed 2000 - 10%.
def test_minimum_amount(client, merchant, price, coupon, frozen):
    promo = _promo(client, coupon, restrictions={"minimum_amount": 2000, "minimum_amount_currency": "eur"})
    customer = _customer(merchant)
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]})
    _three_ways(client, customer, sub, price, promo, "the associated purchase does not meet the minimum amount")
    item = sub["items"].data[0].id
    change = {"items": [{"id": item, "quantity": 2}], "discounts": [{"promotion_code": promo.id}]}
    preview = client.v1.invoices.create_preview(
        {
            "subscription": sub.id,
            "subscription_details": {"items": change["items"], "proration_behavior": "none"},
            "discounts": change["discounts"],
        }
    )
    assert preview.total == 2000 - r(2000 * 0.10)
    updated = client.v1.subscriptions.update(sub.id, {**change, "proration_behavior": "none", "expand": ["discounts"]})
    assert updated.discounts[0].promotion_code == promo.id
    assert client.v1.promotion_codes.retrieve(promo.id).times_redeemed == 1  # the preview redeemed nothing
    other = _customer(merchant)
    created = client.v1.subscriptions.create(
        {
            "customer": other.id,
            "items": [{"price": price.id, "quantity": 2}],
            "discounts": [{"promotion_code": promo.id}],
            "expand": ["latest_invoice"],
        }
    )
    assert created.latest_invoice.total == 2000 - r(2000 * 0.10)


# minimum_amount_currency: the minimum is "in the specified currency"; a purchase in another currency cannot redeem.
def test_minimum_amount_in_another_currency(client, merchant, price, coupon, frozen):
    promo = _promo(client, coupon, restrictions={"minimum_amount": 100, "minimum_amount_currency": "usd"})
    customer = _customer(merchant)
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]})
    _three_ways(client, customer, sub, price, promo, "it requires a purchase in USD")


# restrictions.first_time_transaction: "A Boolean indicating if the Promotion Code should only be redeemed for
# Customers without any successful payments or invoices". The customer's first subscription was paid.
def test_first_time_transaction(client, merchant, price, coupon, frozen):
    promo = _promo(client, coupon, restrictions={"first_time_transaction": True})
    customer = _customer(merchant)
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]})
    assert sub.status == "active"
    _three_ways(client, customer, sub, price, promo, "the associated customer has prior transactions.")
    newcomer = _customer(merchant)
    preview = client.v1.invoices.create_preview(
        {
            "customer": newcomer.id,
            "subscription_details": {"items": [{"price": price.id}]},
            "discounts": [{"promotion_code": promo.id}],
        }
    )
    created = client.v1.subscriptions.create(
        {
            "customer": newcomer.id,
            "items": [{"price": price.id}],
            "discounts": [{"promotion_code": promo.id}],
            "expand": ["latest_invoice"],
        }
    )
    assert created.latest_invoice.total == preview.total == 1000 - r(1000 * 0.10)


# max_redemptions: "A positive integer specifying the number of times the promotion code can be redeemed". Previews
# redeem nothing; after the one redemption, create, update and preview are refused.
def test_max_redemptions(client, merchant, price, coupon, frozen):
    promo = _promo(client, coupon, max_redemptions=1)
    customer = _customer(merchant)
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]})
    for _ in range(2):
        client.v1.invoices.create_preview(
            {"customer": customer.id, "subscription": sub.id, "discounts": [{"promotion_code": promo.id}]}
        )
    first = _customer(merchant)
    client.v1.subscriptions.create(
        {"customer": first.id, "items": [{"price": price.id}], "discounts": [{"promotion_code": promo.id}]}
    )
    assert client.v1.promotion_codes.retrieve(promo.id).times_redeemed == 1
    _three_ways(client, customer, sub, price, promo, "it has been used the maximum number of times.")


# expires_at: "The timestamp at which this promotion code will expire". A day after it, every use is refused.
def test_expires_at(client, merchant, price, coupon, frozen):
    promo = _promo(client, coupon, expires_at=int((NOW + dt.timedelta(days=1)).timestamp()))
    customer = _customer(merchant)
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]})
    with time_machine.travel(NOW + dt.timedelta(days=2), tick=False):
        _three_ways(client, customer, sub, price, promo, "it has expired.")
