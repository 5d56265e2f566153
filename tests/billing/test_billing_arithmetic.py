"""Billing arithmetic through the services, one test per point of Stripe's documented behaviour; each expected
amount is Stripe's formula (``r`` rounds half-up to the minor unit) with the page it comes from."""

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

import pytest
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing import clock
from billing.exceptions import InvalidRequest
from billing.models import Discount, Invoice, InvoiceItem, Subscription
from billing.services.coupons import coupon_create, promotion_code_create
from billing.services.subscriptions import ChangeOptions, ItemChange, subscription_update
from billing.services.subscriptions.preview import subscription_invoice_preview
from tests.billing.helpers import ACTOR, run_cycle, subscribed

UTC = dt.UTC
# Microseconds on purpose: Stripe shows whole seconds, so the period we keep must start on one.
APRIL_1 = dt.datetime(2023, 4, 1, 0, 0, 0, 654321, tzinfo=UTC)
SECOND = dt.timedelta(seconds=1)


def r(value) -> int:
    return int(Decimal(value).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def _update(subscription, moment, **kwargs):
    with time_machine.travel(moment, tick=False):
        return subscription_update(subscription=subscription, actor=ACTOR, **kwargs)


# (a) docs.stripe.com/billing/subscriptions/prorations#control-proration-date: a proration_date inside the current
# period; the period start the API shows (whole seconds) is inside it. Credit 1000 x 30/30, charge 2000 x 30/30.
def test_proration_date_equal_to_the_shown_period_start_is_accepted(db):
    subscription = subscribed(APRIL_1)
    assert subscription.current_period_start == at(2023, 4, 1) and subscription.billing_cycle_anchor.microsecond == 0
    shown_start = clock.from_unix(clock.to_unix(subscription.current_period_start))
    item = subscription.items.get()
    _update(
        subscription,
        at(2023, 4, 10),
        changes=[ItemChange(item=item, quantity=2)],
        change_options=ChangeOptions(proration_date=shown_start),
    )
    amounts = sorted(InvoiceItem.objects.filter(subscription=subscription).values_list("amount", flat=True))
    assert amounts == [-1000, 2000]


# (b) docs.stripe.com/api/subscriptions/update#update_subscription-cancel_at: "If set to a date before the current
# period ends, this will cause a proration if prorations have been enabled". Credit: 1000 x 15/30 (Apr 16 -> May 1).
@pytest.mark.parametrize("behavior", ["create_prorations", "always_invoice", "none"])
def test_cancel_at_inside_the_period_credits_the_unused_time(db, behavior):
    subscription = subscribed(APRIL_1)
    credit = -r(1000 * 15 / 30)
    _update(
        subscription,
        at(2023, 4, 10),
        fields={"cancel_at": at(2023, 4, 16)},
        change_options=ChangeOptions(proration_behavior=behavior),
    )
    items = list(InvoiceItem.objects.filter(subscription=subscription))
    # create_prorations keeps the credit for the next invoice; always_invoice invoices it at once.
    assert [item.amount for item in items] == ([credit] if behavior == "create_prorations" else [])
    if behavior == "always_invoice":
        invoice = Invoice.objects.get(subscription=subscription, billing_reason="subscription_update")
        assert invoice.total == credit and invoice.amount_due == 0
    run_cycle(at(2023, 4, 16) + SECOND)
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.CANCELED and subscription.ended_at == at(2023, 4, 16)
    credited = sum(Invoice.objects.filter(subscription=subscription).exclude(billing_reason="subscription_create")
                   .values_list("total", flat=True))  # fmt: skip
    assert credited == (0 if behavior == "none" else credit)
    subscription.customer.refresh_from_db()
    assert subscription.customer.balance == (0 if behavior == "none" else credit)


# (b) Moving cancel_at twice: the credits add up to the credit of the final date, to the minor unit.
def test_cancel_at_moved_twice_adds_up(db):
    subscription = subscribed(APRIL_1, amount=999)
    for moment, cancel_at in ((at(2023, 4, 5), at(2023, 4, 11)), (at(2023, 4, 6), at(2023, 4, 21))):
        _update(subscription, moment, fields={"cancel_at": cancel_at}, change_options=ChangeOptions())
    total = sum(InvoiceItem.objects.filter(subscription=subscription).values_list("amount", flat=True))
    assert total == -r(Decimal(999) * 10 / 30)  # unused: Apr 21 -> May 1


# (b) The preview of a cancel_at change is the invoice it then produces (the final one, with the credit).
def test_cancel_at_preview_equals_the_final_invoice(db):
    subscription = subscribed(APRIL_1)
    update = {"fields": {"cancel_at": at(2023, 4, 16), "proration_behavior": "create_prorations"}}
    with time_machine.travel(at(2023, 4, 10), tick=False):
        preview = subscription_invoice_preview(subscription=subscription, actor=ACTOR, update=update)
    _update(subscription, at(2023, 4, 10), **update)
    run_cycle(at(2023, 4, 16) + SECOND)
    final = Invoice.objects.filter(subscription=subscription).exclude(billing_reason="subscription_create").get()
    assert preview["total"] == final.total == -r(1000 * 15 / 30)
    assert [line["amount"] for line in preview["lines"]["data"]] == [line.amount for line in final.lines.all()]


# (b) A cancel_at inside a later period: "If set during a future period, this will always cause a proration for
# that period": the renewal bills May 1 -> May 11 only, 1000 x 10/31.
def test_cancel_at_in_a_later_period_bills_only_up_to_it(db):
    subscription = subscribed(APRIL_1)
    _update(subscription, at(2023, 4, 10), fields={"cancel_at": at(2023, 5, 11)}, change_options=ChangeOptions())
    run_cycle(at(2023, 5, 1) + SECOND)
    renewal = Invoice.objects.get(subscription=subscription, billing_reason="subscription_cycle")
    assert renewal.total == 1000 - r(1000 * 21 / 31)


# (c) docs.stripe.com/api/discounts/object#discount_object-end: "If the coupon has a duration of repeating, the date
# that this discount will end". 3 months from the start; invoices 800, 800, 800, then 1000.
def test_repeating_discount_has_an_end_and_invoices_name_it(db):
    subscription = subscribed(APRIL_1)
    coupon = coupon_create(
        account=subscription.account, livemode=False, actor=ACTOR, percent_off=Decimal(20), duration="repeating",
        duration_in_months=3,
    )  # fmt: skip
    subscription = subscribed(APRIL_1, account=subscription.account, coupon=coupon)
    discount = Discount.objects.get(subscription=subscription)
    assert discount.start == at(2023, 4, 1) and discount.end == at(2023, 7, 1)
    for month in (5, 6, 7):
        run_cycle(at(2023, month, 1) + SECOND)
    totals = list(Invoice.objects.filter(subscription=subscription).order_by("id").values_list("total", flat=True))
    assert totals == [r(1000 * 0.8)] * 3 + [1000]
    first = Invoice.objects.filter(subscription=subscription).order_by("id").first()
    assert first.discount_ids == [discount.id]


# (d) docs.stripe.com/api/promotion_codes/object#promotion_code_object-restrictions-minimum_amount: "Minimum amount
# required to redeem this Promotion Code into a Coupon (e.g., a purchase must be $100 or more to work)".
def test_promotion_code_minimum_amount_is_enforced(db):
    subscription = subscribed(APRIL_1)
    coupon = coupon_create(account=subscription.account, livemode=False, actor=ACTOR, percent_off=Decimal(10))
    promo = promotion_code_create(
        coupon=coupon, actor=ACTOR, code="BIG20", minimum_amount=2000, minimum_amount_currency="eur"
    )
    with pytest.raises(InvalidRequest) as refused:
        subscribed(APRIL_1, account=subscription.account, amount=1000, promotion_code=promo)
    assert refused.value.param == "promotion_code"
    ok = subscribed(APRIL_1, account=subscription.account, amount=2000, promotion_code=promo)
    assert Invoice.objects.get(subscription=ok).total == 2000 - r(2000 * 0.10)


# (e) docs.stripe.com/billing/subscriptions/billing-cycle: day_of_month 31 anchors on the month's last day
# (Feb 29 2024, then Mar 31, Apr 30); the time before the anchor is prorated over the interval that starts then
# (Feb 10 -> Mar 10 is 29 days; 19 of them before Feb 29).
def test_anchor_config_on_the_31st(db):
    subscription = subscribed(
        at(2024, 2, 10), billing_cycle_anchor_config={"day_of_month": 31, "hour": 0, "minute": 0, "second": 0}
    )
    assert subscription.billing_cycle_anchor == at(2024, 2, 29) and subscription.current_period_end == at(2024, 2, 29)
    first = Invoice.objects.get(subscription=subscription)
    assert first.total == r(1000 * 19 / 29)
    ends = []
    for moment in (at(2024, 2, 29), at(2024, 3, 31), at(2024, 4, 30)):
        run_cycle(moment + SECOND)
        subscription.refresh_from_db()
        ends.append(subscription.current_period_end)
    assert ends == [at(2024, 3, 31), at(2024, 4, 30), at(2024, 5, 31)]


# (e) docs.stripe.com/changelog/2018-02-05: "a free trial to be followed by a prorated period, followed by a fixed
# billing cycle". Trial Feb 1 -> Feb 8, then Feb 8 -> Mar 1 prorated over Feb 8 -> Mar 8 (29 days in 2024).
def test_trial_then_prorated_time_then_anchor(db):
    subscription = subscribed(at(2024, 2, 1), trial_end=at(2024, 2, 8), billing_cycle_anchor=at(2024, 3, 1))
    assert subscription.status == Subscription.Status.TRIALING
    run_cycle(at(2024, 2, 8) + SECOND)
    run_cycle(at(2024, 3, 1) + SECOND)
    totals = list(Invoice.objects.filter(subscription=subscription).order_by("id").values_list("total", flat=True))
    assert totals == [0, r(1000 * 22 / 29), 1000]


# (e) docs.stripe.com/billing/subscriptions/backdating: Feb 15 -> Mar 1 "is exactly half the amount"; Jan 15 ->
# Feb 1 is 17/31, then the full period from now.
def test_backdating(db):
    anchored = subscribed(at(2023, 2, 20), backdate_start_date=at(2023, 2, 15), billing_cycle_anchor=at(2023, 3, 1))
    assert Invoice.objects.get(subscription=anchored).total == r(1000 * 14 / 28)
    assert anchored.start_date == at(2023, 2, 15)
    plain = subscribed(at(2023, 2, 1), backdate_start_date=at(2023, 1, 15))
    assert Invoice.objects.get(subscription=plain).total == r(1000 * 17 / 31) + 1000
    free = subscribed(at(2023, 2, 1), backdate_start_date=at(2023, 1, 15), proration_behavior="none")
    assert Invoice.objects.get(subscription=free).total == 1000


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"billing_cycle_anchor": at(2023, 3, 10)}, "billing_cycle_anchor"),  # in the past
        ({"billing_cycle_anchor": at(2023, 5, 10)}, "billing_cycle_anchor"),  # beyond the next natural date
        ({"backdate_start_date": at(2023, 4, 10)}, "backdate_start_date"),  # in the future
        ({"trial_end": at(2023, 4, 20), "billing_cycle_anchor": at(2023, 4, 15)}, "billing_cycle_anchor"),
        ({"billing_cycle_anchor_config": {"day_of_month": 32}}, "billing_cycle_anchor_config[day_of_month]"),
        ({"billing_cycle_anchor_config": {"day_of_month": 0}}, "billing_cycle_anchor_config[day_of_month]"),
        (
            {"billing_cycle_anchor": at(2023, 4, 20), "billing_cycle_anchor_config": {"day_of_month": 1}},
            "billing_cycle_anchor_config",
        ),
    ],
)
def test_refused_start_parameters(db, kwargs, param):
    with pytest.raises(InvalidRequest) as refused:
        subscribed(at(2023, 4, 1), **kwargs)
    assert refused.value.param == param
    assert not Subscription.objects.exists()


# Properties (docs.stripe.com/billing/subscriptions/prorations): whatever quantity changes happen inside one period,
# the first invoice, the prorations and the renewal together bill exactly what was used plus the next period: each
# segment's use is its amount's remaining share at its start less that at its end, so nothing is created or lost.
CHANGES = st.lists(
    st.tuples(st.integers(min_value=1, max_value=29 * 86400), st.integers(min_value=1, max_value=9)),
    min_size=1,
    max_size=4,
    unique_by=lambda change: change[0],
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=CHANGES, unit=st.integers(min_value=1, max_value=99_999))
def test_no_minor_unit_created_or_lost(db, changes, unit):
    start, end = at(2023, 4, 1), at(2023, 5, 1)
    subscription = subscribed(start, amount=unit)
    item = subscription.items.get()
    from billing.pricing import prorate

    used, quantity, moment = 0, 1, start
    for offset, new_quantity in sorted(changes):
        when = start + dt.timedelta(seconds=offset)
        used += prorate(unit * quantity, start, end, moment) - prorate(unit * quantity, start, end, when)
        _update(
            subscription, when, changes=[ItemChange(item=item, quantity=new_quantity)], change_options=ChangeOptions()
        )
        quantity, moment = new_quantity, when
    used += prorate(unit * quantity, start, end, moment)
    run_cycle(end + SECOND)
    billed = sum(Invoice.objects.filter(subscription=subscription).values_list("total", flat=True))
    assert billed == used + unit * quantity


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    offset=st.integers(min_value=1, max_value=29 * 86400),
    quantity=st.integers(min_value=1, max_value=9),
    behavior=st.sampled_from(["always_invoice", "create_prorations"]),
)
def test_preview_equals_the_invoice_produced(db, offset, quantity, behavior):
    subscription = subscribed(at(2023, 4, 1), amount=1234)
    item = subscription.items.get()
    when = at(2023, 4, 1) + dt.timedelta(seconds=offset)
    update = {
        "changes": [ItemChange(item=item, quantity=quantity + 1)],
        "change_options": ChangeOptions(proration_behavior=behavior),
    }
    with time_machine.travel(when, tick=False):
        preview = subscription_invoice_preview(subscription=subscription, actor=ACTOR, update=update)
    _update(subscription, when, **update)
    if behavior == "create_prorations":
        run_cycle(at(2023, 5, 1) + SECOND)
    produced = Invoice.objects.filter(subscription=subscription).order_by("-id").first()
    assert preview["total"] == produced.total
    assert [line["amount"] for line in preview["lines"]["data"]] == [line.amount for line in produced.lines.all()]
