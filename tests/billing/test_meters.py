"""Usage billed in arrears: each formula over the period's bounds, the last invoice of a subscription canceled at
the period end or now with ``invoice_now``, and the usage so far the portal shows."""

import datetime as dt

import pytest
import time_machine

from billing.models import Meter, Price
from billing.services.meters import meter_create, meter_event_create, meter_usage
from billing.services.subscriptions import ItemSpec, subscription_advance, subscription_cancel, subscription_create
from billing.services.subscriptions.usage import usage_so_far
from tests.billing.helpers import ACTOR
from tests.factories.billing import CustomerFactory, PriceFactory, card

FEB_28 = dt.datetime(2026, 2, 28, 10, tzinfo=dt.UTC)


def _metered(t0, formula=Meter.Formula.SUM, unit_amount=5):
    with time_machine.travel(t0, tick=False):
        customer = CustomerFactory()
        account = customer.account
        card(customer, "4242424242424242")
        meter = meter_create(
            account=account, livemode=False, actor=ACTOR, display_name="Calls", event_name="calls", formula=formula
        )
        price = PriceFactory(
            account=account, product__account=account, unit_amount=unit_amount, recurring_usage_type="metered"
        )
        Price.objects.filter(pk=price.pk).update(meter=meter)
        price.meter = meter
        base = PriceFactory(account=account, product__account=account, unit_amount=1000)
        subscription = subscription_create(customer=customer, items=[ItemSpec(base), ItemSpec(price, 0)], actor=ACTOR)
    return subscription, meter


def _event(meter, customer, at, value):
    with time_machine.travel(at, tick=False):
        meter_event_create(meter=meter, customer=customer, actor=ACTOR, payload={"value": str(value)})


@pytest.mark.parametrize(("formula", "expected"), [("sum", 12), ("count", 3), ("last", 7)])
def test_each_formula_counts_the_events_inside_the_period_only(db, t0, formula, expected):
    subscription, meter = _metered(t0, formula)
    customer = subscription.customer
    _event(meter, customer, t0 - dt.timedelta(seconds=1), 100)  # before the period (within 35 days)
    for at, value in ((t0, 2), (t0 + dt.timedelta(days=3), 3), (t0 + dt.timedelta(days=9), 7)):
        _event(meter, customer, at, value)
    start, end = subscription.current_period_start, subscription.current_period_end
    assert meter_usage(customer_id=customer.pk, meter_ids=[meter.pk], start=start, end=end) == {meter.pk: expected}
    with time_machine.travel(t0 + dt.timedelta(days=10), tick=False):
        item = subscription.items.get(price__meter=meter)
        assert usage_so_far(subscription) == {item.pk: (expected, expected * 5)}
    with time_machine.travel(FEB_28, tick=False):
        subscription_advance(subscription_id=subscription.pk)
    renewal = subscription.invoices.get(billing_reason="subscription_cycle")
    line = renewal.lines.get(price__meter=meter)
    assert (line.quantity, line.amount, line.period_start, line.period_end) == (expected, expected * 5, start, end)


def test_a_cancellation_at_the_period_end_bills_the_last_periods_usage(db, t0):
    subscription, meter = _metered(t0)
    _event(meter, subscription.customer, t0 + dt.timedelta(days=2), 40)
    with time_machine.travel(t0 + dt.timedelta(days=3), tick=False):
        subscription_cancel(subscription=subscription, actor=ACTOR, at_period_end=True)
    with time_machine.travel(FEB_28, tick=False):
        subscription_advance(subscription_id=subscription.pk)
    subscription.refresh_from_db()
    assert subscription.status == "canceled"
    last = subscription.invoices.order_by("-created", "-pk").first()
    assert last.total == 200 and last.lines.get().quantity == 40


def test_cancel_now_with_invoice_now_bills_the_usage_so_far_and_without_it_nothing(db, t0):
    subscription, meter = _metered(t0)
    _event(meter, subscription.customer, t0 + dt.timedelta(days=2), 9)
    with time_machine.travel(t0 + dt.timedelta(days=5), tick=False):
        subscription_cancel(subscription=subscription, actor=ACTOR, at_period_end=False, invoice_now=True)
    final = subscription.invoices.order_by("-created", "-pk").first()
    assert final.total == 45 and final.lines.get().period_end == t0 + dt.timedelta(days=5)

    other, other_meter = _metered(t0 + dt.timedelta(days=1))
    _event(other_meter, other.customer, t0 + dt.timedelta(days=2), 9)
    with time_machine.travel(t0 + dt.timedelta(days=5), tick=False):
        subscription_cancel(subscription=other, actor=ACTOR, at_period_end=False)
    assert other.invoices.count() == 1  # only the first invoice
