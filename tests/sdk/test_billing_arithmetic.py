"""The new billing parameters through the official SDK: anchors, anchor configs, backdating, cancel_at prorations,
expandable discounts and promotion-code restrictions, with Stripe's errors (and their ``param``) for bad input."""

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

import pytest
import stripe
import time_machine

from billing.services.coupons import coupon_create, promotion_code_create
from tests.factories.billing import ACTOR, CustomerFactory, PriceFactory, card

UTC = dt.UTC
NOW = dt.datetime(2024, 2, 10, 0, 0, 0, 250000, tzinfo=UTC)


def r(value) -> int:
    return int(Decimal(value).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def ts(*args) -> int:
    return int(dt.datetime(*args, tzinfo=UTC).timestamp())


@pytest.fixture
def customer(merchant):
    customer = CustomerFactory(account=merchant)
    card(customer)
    return customer


@pytest.fixture
def price(merchant):
    return PriceFactory(account=merchant, product__account=merchant, unit_amount=1000)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def _error(call) -> stripe.StripeError:
    with pytest.raises(stripe.StripeError) as error:
        call()
    return error.value


# docs.stripe.com/billing/subscriptions/billing-cycle: day_of_month 31 bills on Feb 29 (2024), then Mar 31; the time
# before the anchor (Feb 10 -> Feb 29, 19 of the 29 days of Feb 10 -> Mar 10) is prorated on the first invoice.
def test_anchor_config_and_whole_second_proration_date(client, customer, price, frozen):
    sub = client.v1.subscriptions.create(
        {
            "customer": customer.id,
            "items": [{"price": price.id}],
            "billing_cycle_anchor_config": {"day_of_month": 31, "hour": 0, "minute": 0, "second": 0},
            "expand": ["latest_invoice"],
        }
    )
    assert sub.billing_cycle_anchor == ts(2024, 2, 29) == sub.current_period_end
    assert sub.billing_cycle_anchor_config.day_of_month == 31 and sub.billing_cycle_anchor_config.month is None
    assert sub.current_period_start == ts(2024, 2, 10)
    assert sub.latest_invoice.total == r(1000 * 19 / 29)
    # docs.stripe.com/billing/subscriptions/prorations: a proration_date at the period start Stripe shows is accepted.
    updated = client.v1.subscriptions.update(
        sub.id,
        {
            "items": [{"id": sub["items"].data[0].id, "quantity": 2}],
            "proration_date": sub.current_period_start,
            "proration_behavior": "create_prorations",
        },
    )
    assert updated["items"].data[0].quantity == 2


# docs.stripe.com/billing/subscriptions/backdating: Feb 15 -> Mar 1 (2023) is 14/28 of a month.
def test_backdate_with_anchor(client, customer, price):
    with time_machine.travel(dt.datetime(2023, 2, 20, tzinfo=UTC), tick=False):
        sub = client.v1.subscriptions.create(
            {
                "customer": customer.id,
                "items": [{"price": price.id}],
                "backdate_start_date": ts(2023, 2, 15),
                "billing_cycle_anchor": ts(2023, 3, 1),
                "expand": ["latest_invoice"],
            }
        )
    assert sub.start_date == ts(2023, 2, 15) and sub.billing_cycle_anchor == ts(2023, 3, 1)
    assert sub.latest_invoice.total == r(1000 * 14 / 28)


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"billing_cycle_anchor": ts(2023, 12, 1)}, "billing_cycle_anchor"),  # in the past, beyond one period
        ({"billing_cycle_anchor": ts(2024, 4, 1)}, "billing_cycle_anchor"),  # after the next natural billing date
        ({"backdate_start_date": ts(2024, 3, 1)}, "backdate_start_date"),  # in the future
        ({"billing_cycle_anchor_config": {"day_of_month": 0}}, "billing_cycle_anchor_config[day_of_month]"),
        ({"billing_cycle_anchor_config": {"day_of_month": 32}}, "billing_cycle_anchor_config[day_of_month]"),
        ({"billing_cycle_anchor_config": {"hour": 1}}, "billing_cycle_anchor_config[day_of_month]"),
        ({"billing_cycle_anchor": "tomorrow"}, "billing_cycle_anchor"),  # not a timestamp
        ({"backdate_start_date": "yesterday"}, "backdate_start_date"),
        ({"billing_cycle_anchor_config": {"day_of_month": "last"}}, "billing_cycle_anchor_config[day_of_month]"),
        ({"billing_cycle_anchor_config": {"day_of_month": 31, "month": 13}}, "billing_cycle_anchor_config[month]"),
        ({"billing_cycle_anchor_config": {"day_of_month": 31, "hour": 24}}, "billing_cycle_anchor_config[hour]"),
        ({"cancel_at": ts(2024, 2, 1)}, "cancel_at"),  # in the past
        ({"cancel_at": "soon"}, "cancel_at"),  # not a timestamp
        ({"cancel_at": ts(2024, 2, 20), "cancel_at_period_end": True}, "cancel_at"),
    ],
)
def test_bad_start_parameters_answer_stripe_errors(client, customer, price, frozen, extra, param):
    error = _error(
        lambda: client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}], **extra})
    )
    assert isinstance(error, stripe.InvalidRequestError) and error.http_status == 400
    assert error.param == param and error.error.type == "invalid_request_error"
    assert not client.v1.subscriptions.list({"customer": customer.id}).data


# docs.stripe.com/api/promotion_codes/object: restrictions.minimum_amount "a purchase must be $100 or more to work".
def test_promotion_code_below_its_minimum(client, merchant, customer, price, frozen):
    coupon = coupon_create(account=merchant, livemode=False, actor=ACTOR, percent_off=Decimal(10))
    promotion_code_create(coupon=coupon, actor=ACTOR, code="BIG", minimum_amount=2000, minimum_amount_currency="eur")
    promo = client.v1.promotion_codes.list({"code": "BIG"}).data[0]
    assert promo.restrictions.minimum_amount == 2000
    for params, param in (
        ({"promotion_code": promo.id}, "promotion_code"),
        ({"discounts": [{"promotion_code": promo.id}]}, "discounts[0][promotion_code]"),
    ):
        error = _error(
            lambda p=params: client.v1.subscriptions.create(
                {"customer": customer.id, "items": [{"price": price.id}], **p}
            )
        )
        assert error.http_status == 400 and error.param == param and "minimum" in error.user_message
    sub = client.v1.subscriptions.create(
        {"customer": customer.id, "items": [{"price": price.id, "quantity": 2}], "promotion_code": promo.id}
    )
    assert sub.status == "active"


# docs.stripe.com/api/subscriptions/object#subscription_object-discounts ("expandable") and /api/discounts/object
# (end: start + duration_in_months for a repeating coupon).
def test_discounts_expand_on_subscriptions_and_invoices(client, merchant, customer, price, frozen):
    coupon = client.v1.coupons.create({"percent_off": 20, "duration": "repeating", "duration_in_months": 3})
    sub = client.v1.subscriptions.create(
        {
            "customer": customer.id,
            "items": [{"price": price.id}],
            "discounts": [{"coupon": coupon.id}],
            "expand": ["discounts", "latest_invoice.discounts"],
        }
    )
    discount = sub.discounts[0]
    assert discount.object == "discount" and discount.coupon.id == coupon.id
    assert discount.start == ts(2024, 2, 10) and discount.end == ts(2024, 5, 10)
    invoice = sub.latest_invoice
    assert invoice.total == r(1000 * 0.8) and invoice.discounts[0].id == discount.id
    assert invoice.total_discount_amounts[0].discount == discount.id


# docs.stripe.com/api/subscriptions/update#update_subscription-cancel_at: cancel_at before the period ends prorates
# when prorations are enabled: always_invoice credits 1000 x 19/29 at once (Mar 10 -> Apr 10 has 31 days; here the
# period Feb 10 -> Mar 10 has 29, and Feb 20 leaves 19 of them); none credits nothing.
def test_cancel_at_prorations_and_preview(client, customer, price, frozen):
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]})
    preview = client.v1.invoices.create_preview(
        {
            "subscription": sub.id,
            "subscription_details": {"cancel_at": ts(2024, 2, 20), "proration_behavior": "always_invoice"},
        }
    )
    updated = client.v1.subscriptions.update(
        sub.id, {"cancel_at": ts(2024, 2, 20), "proration_behavior": "always_invoice", "expand": ["latest_invoice"]}
    )
    assert updated.cancel_at == ts(2024, 2, 20)
    assert updated.latest_invoice.total == preview.total == -r(1000 * 19 / 29)
    other = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]})
    none = client.v1.subscriptions.update(
        other.id, {"cancel_at": ts(2024, 2, 20), "proration_behavior": "none", "expand": ["latest_invoice"]}
    )
    assert none.latest_invoice.billing_reason == "subscription_create"


# docs.stripe.com/api/subscriptions/create#create_subscription-cancel_at: "If set to a date before the current period
# ends, this will cause a proration if prorations have been enabled". Feb 10 -> Mar 10 (2024) has 29 days; ending
# Feb 20 the first invoice bills 1000 less the unused 19 days, and the preview of the same create says so.
def test_cancel_at_on_create_and_its_preview(client, customer, price, frozen):
    create = {"customer": customer.id, "items": [{"price": price.id}], "cancel_at": ts(2024, 2, 20)}
    preview = client.v1.invoices.create_preview(
        {
            "customer": customer.id,
            "subscription_details": {"items": [{"price": price.id}], "cancel_at": ts(2024, 2, 20)},
        }
    )
    sub = client.v1.subscriptions.create({**create, "expand": ["latest_invoice"]})
    assert sub.cancel_at == ts(2024, 2, 20) and sub.status == "active"
    assert sub.latest_invoice.total == preview.total == 1000 - r(1000 * 19 / 29)
    none = client.v1.subscriptions.create({**create, "proration_behavior": "none", "expand": ["latest_invoice"]})
    assert none.latest_invoice.total == 1000


# docs.stripe.com/api/subscriptions/create#create_subscription-backdate_start_date: "Can be combined with trials and
# the billing cycle anchor." Backdated to Jan 10 (2024) on Feb 10 with a 7-day trial: the first invoice bills the
# elapsed month in full (Jan 10 -> Feb 10 is one whole interval, docs.stripe.com/billing/subscriptions/backdating).
def test_backdate_with_a_trial(client, customer, price, frozen):
    sub = client.v1.subscriptions.create(
        {
            "customer": customer.id,
            "items": [{"price": price.id}],
            "backdate_start_date": ts(2024, 1, 10),
            "trial_period_days": 7,
            "expand": ["latest_invoice"],
        }
    )
    assert sub.status == "trialing" and sub.start_date == ts(2024, 1, 10)
    assert sub.trial_end == ts(2024, 2, 17) and sub.latest_invoice.total == 1000


# docs.stripe.com/billing/subscriptions/billing-cycle: the anchor defaults to "the trial end date"; the preview of a
# trialing subscription is the first invoice after the trial, for Feb 17 -> Mar 17.
def test_preview_of_a_trial_uses_the_post_trial_anchor(client, customer, price, frozen):
    sub = client.v1.subscriptions.create(
        {"customer": customer.id, "items": [{"price": price.id}], "trial_period_days": 7}
    )
    preview = client.v1.invoices.create_preview({"subscription": sub.id})
    assert preview.total == 1000 and preview.billing_reason == "subscription_cycle"
    line = preview.lines.data[0]
    assert (line.period.start, line.period.end) == (ts(2024, 2, 17), ts(2024, 3, 17))
