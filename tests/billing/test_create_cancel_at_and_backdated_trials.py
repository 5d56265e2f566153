"""Subscription create with ``cancel_at`` and with ``backdate_start_date`` combined with a trial, through the
services. Each expected amount is Stripe's formula (``r`` rounds half-up to the minor unit) from the page cited."""

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

import pytest

from billing.exceptions import InvalidRequest
from billing.models import Invoice, Subscription
from tests.billing.helpers import run_cycle, subscribed

UTC = dt.UTC
SECOND = dt.timedelta(seconds=1)


def r(value) -> int:
    return int(Decimal(value).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def totals(subscription) -> list[int]:
    return list(Invoice.objects.filter(subscription=subscription).order_by("id").values_list("total", flat=True))


# docs.stripe.com/api/subscriptions/create#create_subscription-cancel_at: "If set to a date before the current period
# ends, this will cause a proration if prorations have been enabled using proration_behavior." Created Apr 1 (2023)
# with cancel_at Apr 16: the first invoice bills 1000 less the unused Apr 16 -> May 1, r(1000 x 15/30).
def test_cancel_at_inside_the_first_period_bills_only_the_time_up_to_it(db):
    subscription = subscribed(at(2023, 4, 1), cancel_at=at(2023, 4, 16))
    assert subscription.cancel_at == at(2023, 4, 16) and subscription.status == Subscription.Status.ACTIVE
    assert subscription.current_period_end == at(2023, 5, 1)  # the period stays the natural one
    first = Invoice.objects.get(subscription=subscription)
    assert first.total == 1000 - r(1000 * 15 / 30)
    (line,) = first.lines.all()
    assert line.proration and line.amount == 1000 - r(1000 * 15 / 30)
    run_cycle(at(2023, 4, 16) + SECOND)
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.CANCELED and subscription.ended_at == at(2023, 4, 16)
    assert totals(subscription) == [1000 - r(1000 * 15 / 30)]  # nothing more: the customer paid for what they used
    assert subscription.customer.balance == 0


# With proration_behavior=none, "none" creates no proration: the first period is billed in full, and it still ends.
def test_cancel_at_on_create_without_prorations_bills_the_full_period(db):
    subscription = subscribed(at(2023, 4, 1), cancel_at=at(2023, 4, 16), proration_behavior="none")
    run_cycle(at(2023, 4, 16) + SECOND)
    subscription.refresh_from_db()
    assert totals(subscription) == [1000] and subscription.status == Subscription.Status.CANCELED


# "If set during a future period, this will always cause a proration for that period": cancel_at May 11 bills the
# first period in full and the May renewal 1000 less the unused May 11 -> Jun 1, r(1000 x 21/31).
def test_cancel_at_in_a_later_period_prorates_that_period(db):
    subscription = subscribed(at(2023, 4, 1), cancel_at=at(2023, 5, 11))
    run_cycle(at(2023, 5, 1) + SECOND)
    run_cycle(at(2023, 5, 11) + SECOND)
    subscription.refresh_from_db()
    assert totals(subscription) == [1000, 1000 - r(1000 * 21 / 31)]
    assert subscription.status == Subscription.Status.CANCELED and subscription.ended_at == at(2023, 5, 11)


# A cancel_at inside the trial (docs.stripe.com/billing/subscriptions/trials: the trial's invoice is zero): nothing is
# ever billed; the subscription ends at cancel_at.
def test_cancel_at_during_the_trial(db):
    subscription = subscribed(at(2023, 4, 1), trial_end=at(2023, 4, 8), cancel_at=at(2023, 4, 5))
    run_cycle(at(2023, 4, 8) + SECOND)
    subscription.refresh_from_db()
    assert totals(subscription) == [0]
    assert subscription.status == Subscription.Status.CANCELED and subscription.ended_at == at(2023, 4, 5)


# docs.stripe.com/billing/subscriptions/billing-cycle: created Apr 10 anchored on May 1, the time before the anchor is
# prorated over the interval that starts then (Apr 10 -> May 10, 30 days); ending Apr 20 it bills Apr 10 -> Apr 20,
# r(1000 x 10/30).
def test_cancel_at_before_the_anchor_bills_the_stub_up_to_it(db):
    subscription = subscribed(at(2023, 4, 10), billing_cycle_anchor=at(2023, 5, 1), cancel_at=at(2023, 4, 20))
    assert totals(subscription) == [r(1000 * 10 / 30)]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"cancel_at": at(2023, 3, 31)},  # in the past
        {"cancel_at": at(2023, 4, 1)},  # now
        {"cancel_at": at(2023, 4, 16), "cancel_at_period_end": True},  # both ways of ending
    ],
)
def test_bad_cancel_at_on_create_names_the_param(db, kwargs):
    with pytest.raises(InvalidRequest) as refused:
        subscribed(at(2023, 4, 1), **kwargs)
    assert refused.value.param == "cancel_at"
    assert not Subscription.objects.exists()


# docs.stripe.com/api/subscriptions/create#create_subscription-backdate_start_date: "the first invoice will contain a
# proration for the timespan between the start date and the current time. Can be combined with trials and the
# billing cycle anchor." Created Feb 1 (2023) backdated to Jan 15 with a 7-day trial: the first invoice bills Jan 15
# -> Feb 1 by the backdating rule (docs.stripe.com/billing/subscriptions/backdating: 17/31 of a month), the trial runs
# Feb 1 -> Feb 8, then full months from Feb 8.
def test_backdate_with_a_trial_bills_the_elapsed_time_then_the_trial(db):
    subscription = subscribed(at(2023, 2, 1), backdate_start_date=at(2023, 1, 15), trial_period_days=7)
    assert subscription.status == Subscription.Status.TRIALING
    assert subscription.start_date == at(2023, 1, 15)
    assert (subscription.trial_start, subscription.trial_end) == (at(2023, 2, 1), at(2023, 2, 8))
    first = Invoice.objects.get(subscription=subscription)
    assert first.total == r(1000 * 17 / 31) and first.status == Invoice.Status.PAID
    assert [line.amount for line in first.lines.all()] == [r(1000 * 17 / 31), 0]
    run_cycle(at(2023, 2, 8) + SECOND)
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.ACTIVE and subscription.current_period_end == at(2023, 3, 8)
    assert totals(subscription) == [r(1000 * 17 / 31), 1000]


# The same with proration_behavior=none: "it doesn't charge the customer for backdated time" (backdating page).
def test_backdate_with_a_trial_and_no_prorations_bills_nothing_first(db):
    subscription = subscribed(
        at(2023, 2, 1), backdate_start_date=at(2023, 1, 15), trial_end=at(2023, 2, 8), proration_behavior="none"
    )
    assert subscription.start_date == at(2023, 1, 15) and totals(subscription) == [0]


# Backdate, trial and anchor together: Jan 15 -> Feb 1 (17/31) now, the trial to Feb 8, then Feb 8 -> Mar 1 prorated
# over Feb 8 -> Mar 8 (21 of 28 days, docs.stripe.com/changelog/2018-02-05), then the full month from Mar 1.
def test_backdate_with_a_trial_and_an_anchor(db):
    subscription = subscribed(
        at(2023, 2, 1),
        backdate_start_date=at(2023, 1, 15),
        trial_end=at(2023, 2, 8),
        billing_cycle_anchor=at(2023, 3, 1),
    )
    run_cycle(at(2023, 2, 8) + SECOND)
    run_cycle(at(2023, 3, 1) + SECOND)
    assert totals(subscription) == [r(1000 * 17 / 31), r(1000 * 21 / 28), 1000]
