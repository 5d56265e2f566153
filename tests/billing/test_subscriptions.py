import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.db import connection

from billing.exceptions import InvalidRequest, StateConflict
from billing.models import Event, Invoice, InvoiceItem, Subscription
from billing.services.coupons import coupon_create
from billing.services.subscriptions import (
    ItemChange,
    ItemSpec,
    subscription_cancel,
    subscription_change_items,
    subscription_create,
    subscription_reactivate,
)
from tests.billing.helpers import ACTOR, run_cycle, subscribed
from tests.factories.billing import CustomerFactory, PriceFactory, TaxRateFactory, card

UTC = dt.UTC
HALF = dt.timedelta(days=14)  # Jan 31 10:00 -> Feb 28 10:00 is 28 days


def _switch(subscription, amount, at, behavior="always_invoice", **price):
    new_price = PriceFactory(
        account=subscription.account,
        product__account=subscription.account,
        unit_amount=amount,
        currency=subscription.currency,
        **price,
    )
    item = subscription.items.get()
    with time_machine.travel(at, tick=False):
        return subscription_change_items(
            subscription=subscription,
            changes=[ItemChange(item=item, price=new_price)],
            actor=ACTOR,
            proration_behavior=behavior,
        )


@pytest.mark.parametrize(
    ("currency", "old", "new", "credit", "charge"),
    [
        ("eur", 1000, 2000, -500, 1000),  # 10 -> 20 EUR at half the period costs +5
        ("jpy", 1001, 2001, -501, 1001),  # zero-decimal: yen, rounded half-up per line
        ("kwd", 10000, 20000, -5000, 10000),  # three-decimal: 10.000 -> 20.000 KWD
    ],
)
def test_upgrade_at_half_period_prorates_to_the_second(db, t0, currency, old, new, credit, charge):
    subscription = subscribed(t0, amount=old, currency=currency)
    _switch(subscription, new, t0 + HALF)
    invoice = subscription.invoices.get(billing_reason="subscription_update")
    assert sorted(line.amount for line in invoice.lines.all()) == [credit, charge]
    assert all(line.proration for line in invoice.lines.all())
    assert invoice.total == credit + charge and invoice.status == "paid"


def test_create_prorations_waits_for_the_next_invoice(db, t0):
    subscription = subscribed(t0)
    _switch(subscription, 2000, t0 + HALF, behavior="create_prorations")
    assert not subscription.invoices.filter(billing_reason="subscription_update").exists()
    assert sorted(InvoiceItem.objects.filter(subscription=subscription).values_list("amount", flat=True)) == [
        -500,
        1000,
    ]
    run_cycle(dt.datetime(2026, 2, 28, 10, tzinfo=UTC))
    renewal = subscription.invoices.get(billing_reason="subscription_cycle")
    assert renewal.total == 2000 + 500
    assert not InvoiceItem.objects.filter(subscription=subscription, invoice__isnull=True).exists()


def test_proration_none_changes_price_from_next_period(db, t0):
    subscription = subscribed(t0)
    _switch(subscription, 2000, t0 + HALF, behavior="none")
    assert subscription.invoices.count() == 1
    run_cycle(dt.datetime(2026, 2, 28, 10, tzinfo=UTC))
    assert subscription.invoices.get(billing_reason="subscription_cycle").total == 2000


def test_preview_equals_the_applied_change(db, t0):
    subscription = subscribed(t0, amount=1234)
    new_price = PriceFactory(account=subscription.account, product__account=subscription.account, unit_amount=4321)
    item = subscription.items.get()
    at = t0 + dt.timedelta(days=9, hours=5, seconds=7)
    events = Event.objects.count()
    with time_machine.travel(at, tick=False):
        preview = subscription_change_items(
            subscription=subscription,
            changes=[ItemChange(item=item, price=new_price, quantity=2)],
            actor=ACTOR,
            proration_behavior="always_invoice",
            dry_run=True,
        )
        assert subscription.items.get().price_id != new_price.id  # rolled back
        assert Event.objects.count() == events  # a dry run records nothing
        subscription_change_items(
            subscription=subscription,
            changes=[ItemChange(item=item, price=new_price, quantity=2)],
            actor=ACTOR,
            proration_behavior="always_invoice",
        )
    invoice = subscription.invoices.get(billing_reason="subscription_update")
    assert preview.due_now == invoice.amount_due
    assert [line.amount for line in preview.due_now_lines] == [line.amount for line in invoice.lines.order_by("id")]
    subscription.refresh_from_db()
    assert preview.next_invoice_at == subscription.current_period_end
    assert preview.next_invoice_total == 4321 * 2


def test_interval_switch_starts_a_new_period_and_invoices_now(db, t0):
    subscription = subscribed(t0)
    at = t0 + HALF
    _switch(subscription, 10000, at, recurring_interval="year")
    subscription.refresh_from_db()
    assert subscription.billing_cycle_anchor == at
    assert subscription.current_period_end == at.replace(year=2027)
    invoice = subscription.invoices.get(billing_reason="subscription_update")
    assert invoice.total == 10000 - 500


def test_coupon_20_percent_for_3_months_with_exclusive_and_inclusive_tax(db, t0):
    with time_machine.travel(t0, tick=False):
        customer = CustomerFactory()
        account = customer.account
        vat = TaxRateFactory(account=account, percentage=Decimal(19), inclusive=False)
        reduced = TaxRateFactory(account=account, display_name="USt. ermäßigt", percentage=Decimal(7), inclusive=True)
        standard = PriceFactory(account=account, product__account=account, unit_amount=1000)
        books = PriceFactory(account=account, product__account=account, unit_amount=1070, tax_behavior="inclusive")
        coupon = coupon_create(
            account=account, livemode=False, actor=ACTOR, percent_off=20, duration="repeating", duration_in_months=3
        )
        card(customer)
        subscription = subscription_create(
            customer=customer,
            actor=ACTOR,
            coupon=coupon,
            items=[ItemSpec(standard, 1, [vat]), ItemSpec(books, 1, [reduced])],
        )
    for month_end in (
        dt.datetime(2026, 2, 28, 10, tzinfo=UTC),
        dt.datetime(2026, 3, 31, 10, tzinfo=UTC),
        dt.datetime(2026, 4, 30, 10, tzinfo=UTC),
    ):
        run_cycle(month_end)
    invoices = list(subscription.invoices.order_by("period_start"))
    assert len(invoices) == 4
    discounted = invoices[1]  # a renewal inside the 3 months
    lines = {line.tax_rate_id: line for line in discounted.lines.all()}
    assert (lines[vat.id].discount_amount, lines[vat.id].tax_amount) == (200, 152)
    assert (lines[reduced.id].discount_amount, lines[reduced.id].tax_amount) == (214, 56)
    assert (discounted.subtotal, discounted.total_discount, discounted.tax, discounted.total) == (2070, 414, 208, 1808)
    assert [i.total for i in invoices] == [1808, 1808, 1808, 1190 + 1070]  # the 4th month pays full price
    assert all(i.status == "paid" for i in invoices)


def test_trial_then_first_paid_invoice(db, t0):
    subscription = subscribed(t0, trial_period_days=14)
    assert subscription.status == "trialing"
    assert subscription.latest_invoice.total == 0 and subscription.latest_invoice.status == "paid"
    run_cycle(t0 + dt.timedelta(days=14))
    subscription.refresh_from_db()
    assert subscription.status == "active"
    assert subscription.current_period_end == (t0 + dt.timedelta(days=14)).replace(month=3, day=14)
    assert subscription.latest_invoice.total == 1000 and subscription.latest_invoice.status == "paid"


def test_declined_first_payment_leaves_incomplete_then_expires(db, t0):
    subscription = subscribed(t0, number="4000000000000341")
    assert subscription.status == "incomplete"
    assert subscription.latest_invoice.status == "open"
    run_cycle(t0 + dt.timedelta(hours=24))
    subscription.refresh_from_db()
    assert subscription.status == "incomplete_expired"
    assert subscription.latest_invoice.status == "void"


def test_cancel_at_period_end_then_undo_then_end(db, t0):
    subscription = subscribed(t0)
    with time_machine.travel(t0 + HALF, tick=False):
        subscription_cancel(
            subscription=subscription, actor=ACTOR, at_period_end=True, feedback="too_expensive", comment="Pricey"
        )
        subscription.refresh_from_db()
        assert subscription.cancel_at_period_end and subscription.status == "active"
        assert subscription.cancellation_feedback == "too_expensive"
        subscription_reactivate(subscription=subscription, actor=ACTOR)
        subscription.refresh_from_db()
        assert not subscription.cancel_at_period_end and subscription.canceled_at is None
        subscription_cancel(subscription=subscription, actor=ACTOR, at_period_end=True)
    run_cycle(dt.datetime(2026, 2, 28, 10, tzinfo=UTC))
    subscription.refresh_from_db()
    assert subscription.status == "canceled" and subscription.ended_at == dt.datetime(2026, 2, 28, 10, tzinfo=UTC)
    assert subscription.invoices.count() == 1
    deleted = Event.objects.get(type="customer.subscription.deleted")
    assert deleted.data_object["status"] == "canceled"
    with pytest.raises(StateConflict):
        subscription_reactivate(subscription=subscription, actor=ACTOR)


def test_cancel_immediately_with_proration_credits_the_balance(db, t0):
    subscription = subscribed(t0)
    with time_machine.travel(t0 + HALF, tick=False):
        subscription_cancel(subscription=subscription, actor=ACTOR, at_period_end=False, prorate=True, invoice_now=True)
    subscription.refresh_from_db()
    assert subscription.status == "canceled"
    final = subscription.latest_invoice
    assert final.total == -500 and final.status == "paid"
    subscription.customer.refresh_from_db()
    assert subscription.customer.balance == -500


def test_bad_input_is_refused_with_the_parameter(db, t0):
    subscription = subscribed(t0)
    customer = subscription.customer
    one_off = PriceFactory(
        account=customer.account, product__account=customer.account, type="one_time", recurring_interval=""
    )
    usd = PriceFactory(account=customer.account, product__account=customer.account, currency="usd")
    with pytest.raises(InvalidRequest) as error:
        subscription_create(customer=customer, items=[ItemSpec(one_off)], actor=ACTOR)
    assert error.value.param == "items[0][price]"
    with pytest.raises(InvalidRequest) as error:
        subscription_create(customer=customer, items=[ItemSpec(usd)], actor=ACTOR)
    assert "combine currencies" in error.value.message
    with pytest.raises(InvalidRequest):
        subscription_create(customer=customer, items=[], actor=ACTOR)
    assert Subscription.objects.count() == 1 and Invoice.objects.count() == 1


def test_coupon_applies_to_the_first_invoice_with_a_running_clock(db):
    customer = CustomerFactory()
    price = PriceFactory(account=customer.account, product__account=customer.account, unit_amount=1000)
    coupon = coupon_create(account=customer.account, livemode=False, actor=ACTOR, percent_off=10, duration="once")
    card(customer)
    subscription = subscription_create(customer=customer, items=[ItemSpec(price)], actor=ACTOR, coupon=coupon)
    assert subscription.latest_invoice.total_discount == 100 and subscription.latest_invoice.total == 900


def test_a_second_turning_over_during_create_leaves_no_stub_period(db, t0):
    """The customer's row is locked and written after the start is planned: a lock held for a second by another
    request must not leave a one-second proration between the planned start and the first period."""
    customer = CustomerFactory()
    price = PriceFactory(account=customer.account, product__account=customer.account, unit_amount=100_000)
    card(customer)
    with time_machine.travel(t0 + dt.timedelta(microseconds=999_000), tick=False) as traveller:

        def lock_waits_a_second(execute, sql, params, many, context):
            if sql.startswith('UPDATE "billing_customer"'):
                traveller.shift(dt.timedelta(seconds=1))
            return execute(sql, params, many, context)

        with connection.execute_wrapper(lock_waits_a_second):
            subscription = subscription_create(customer=customer, items=[ItemSpec(price)], actor=ACTOR)
    lines = list(subscription.latest_invoice.lines.all())
    assert [(line.amount, line.proration) for line in lines] == [(100_000, False)]
    assert subscription.start_date == subscription.current_period_start == lines[0].period_start == t0


def test_a_change_right_after_the_period_ended_renews_first_and_then_changes(db, t0):
    subscription = subscribed(t0, trial_period_days=3)
    new_price = PriceFactory(account=subscription.account, product__account=subscription.account, unit_amount=2000)
    item = subscription.items.get()
    with time_machine.travel(t0 + dt.timedelta(days=3, minutes=1), tick=False):  # the cycle has not run yet
        subscription_change_items(
            subscription=subscription, changes=[ItemChange(item=item, price=new_price)], actor=ACTOR
        )
    subscription.refresh_from_db()
    assert subscription.status == "active"
    assert subscription.current_period_start == t0 + dt.timedelta(days=3)  # the trial's end started a new period
    assert subscription.invoices.filter(billing_reason="subscription_cycle").count() == 1
    assert subscription.items.get().price_id == new_price.pk
