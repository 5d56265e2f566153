"""Checkout in subscription and payment modes, beyond the basics: one-time prices beside recurring ones are set-up
fees on the first invoice only (Stripe's ``add_invoice_items``); ``subscription_data.description`` is the
subscription's ``description``; a promotion code of a payment is redeemed once."""

import pytest

from billing.exceptions import InvalidRequest
from billing.models import Coupon, Invoice, InvoiceItem, Price, PromotionCode
from billing.services.coupons import coupon_create, promotion_code_create
from checkout.services.complete import checkout_session_complete, checkout_session_settle
from checkout.services.create import LineItemSpec, checkout_session_create
from checkout.services.discounts import checkout_session_apply_promotion_code
from tests.checkout.test_completion import confirm
from tests.factories.billing import ACTOR, PriceFactory
from tests.factories.checkout import hosted_card, session_for

pytestmark = pytest.mark.django_db


def one_time(account, amount=4900) -> Price:
    return PriceFactory(
        product__account=account,
        product__name="Set-up",
        type=Price.Type.ONE_TIME,
        recurring_interval="",
        unit_amount=amount,
    )


def subscription_session(*prices, **options):
    options.setdefault("customer_email", "ada@example.com")
    return checkout_session_create(
        account=prices[0].account,
        livemode=False,
        actor=ACTOR,
        mode="subscription",
        line_items=[LineItemSpec(price) for price in prices],
        success_url="https://shop.example/done",
        **options,
    )


def test_a_one_time_price_beside_a_recurring_one_is_a_set_up_fee_on_the_first_invoice():
    monthly = PriceFactory(unit_amount=1500)
    fee = one_time(monthly.account)
    session = subscription_session(monthly, fee)
    assert session.amount_total == 6400
    confirm(session, hosted_card(session.account), name="Ada")
    session.refresh_from_db()
    assert session.status == "complete"
    subscription = session.subscription
    assert subscription.status == "active"
    assert [item.price_id for item in subscription.items.all()] == [monthly.pk]
    invoice = Invoice.objects.get(pk=session.invoice_id)
    assert (invoice.status, invoice.amount_paid) == ("paid", 6400)
    assert sorted(line.amount for line in invoice.lines.all()) == [1500, 4900]
    fee_item = InvoiceItem.objects.get(subscription=subscription)
    assert (fee_item.price_id, fee_item.invoice_id) == (fee.pk, invoice.pk)


def test_a_set_up_fee_and_a_trial_are_refused_together():
    monthly = PriceFactory(unit_amount=1500)
    with pytest.raises(InvalidRequest) as refused:
        subscription_session(monthly, one_time(monthly.account), subscription_data={"trial_period_days": 7})
    assert refused.value.param == "subscription_data[trial_period_days]"


def test_one_time_prices_alone_still_need_payment_mode():
    price = PriceFactory(unit_amount=1500)
    with pytest.raises(InvalidRequest) as refused:
        subscription_session(one_time(price.account))
    assert refused.value.param == "line_items"


def test_the_subscription_takes_subscription_data_description():
    session = subscription_session(PriceFactory(unit_amount=1500), subscription_data={"description": "Team plan"})
    confirm(session, hosted_card(session.account), name="Ada")
    session.refresh_from_db()
    assert session.subscription.description == "Team plan"


@pytest.mark.parametrize("mode", ["payment", "subscription"])
def test_a_promotion_code_is_redeemed_once(mode):
    price = one_time(PriceFactory().account) if mode == "payment" else PriceFactory(unit_amount=1500)
    coupon = coupon_create(account=price.account, livemode=False, actor=ACTOR, percent_off=20, duration="once")
    promo = promotion_code_create(coupon=coupon, code="WELCOME20", actor=ACTOR)
    session = session_for(price, mode=mode, allow_promotion_codes=True, customer_email="ada@example.com")
    session = checkout_session_apply_promotion_code(session=session, code="welcome20")
    confirm(session, hosted_card(price.account), email="ada@example.com", name="Ada")
    checkout_session_settle(session=session)
    checkout_session_complete(session_id=session.pk)
    session.refresh_from_db()
    assert session.status == "complete" and session.amount_discount > 0
    assert PromotionCode.objects.get(pk=promo.pk).times_redeemed == 1
    assert Coupon.objects.get(pk=coupon.pk).times_redeemed == 1
