"""Checkout in subscription and payment modes, beyond the basics: one-time prices beside recurring ones are set-up
fees on the first invoice only (Stripe's ``add_invoice_items``); ``subscription_data.description`` is the
subscription's ``description``."""

import pytest

from billing.exceptions import InvalidRequest
from billing.models import Invoice, InvoiceItem, Price
from checkout.services.create import LineItemSpec, checkout_session_create
from tests.checkout.test_completion import confirm
from tests.factories.billing import ACTOR, PriceFactory
from tests.factories.checkout import hosted_card

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
