"""Invoice previews against the invoice the same change produces when the customer has a balance, and previews of a
subscription on trial. Expected amounts are Stripe's formulas (``r`` rounds half-up to the minor unit)."""

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

import pytest
import time_machine

from billing.models import Customer, Invoice
from billing.services.customers import customer_balance_adjust
from billing.services.subscriptions import ChangeOptions, ItemChange, subscription_update
from billing.services.subscriptions.preview import subscription_invoice_preview
from tests.billing.helpers import ACTOR, run_cycle, subscribed

UTC = dt.UTC
SECOND = dt.timedelta(seconds=1)


def r(value) -> int:
    return int(Decimal(value).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def _credit(subscription, amount: int) -> None:
    customer_balance_adjust(customer=subscription.customer, amount=-amount, currency="eur", actor=ACTOR)


def _preview(subscription, moment, update=None) -> dict:
    with time_machine.travel(moment, tick=False):
        return subscription_invoice_preview(subscription=subscription, actor=ACTOR, update=update)


# docs.stripe.com/invoicing/customer/balance: "the customer's credit balance ... is applied to the next finalized
# invoice". The preview of the renewal shows it applied once: amount due = 1000 - 300; the renewal then charges that.
def test_renewal_preview_applies_a_credit_balance_once(db):
    subscription = subscribed(at(2023, 4, 1))
    _credit(subscription, 300)
    preview = _preview(subscription, at(2023, 4, 10))
    assert (preview["total"], preview["starting_balance"], preview["amount_due"]) == (1000, -300, 1000 - 300)
    run_cycle(at(2023, 5, 1) + SECOND)
    renewal = Invoice.objects.get(subscription=subscription, billing_reason="subscription_cycle")
    assert (renewal.total, renewal.starting_balance, renewal.amount_due) == (1000, -300, 1000 - 300)
    assert renewal.ending_balance == 0 and Customer.objects.get(pk=subscription.customer_id).balance == 0


# docs.stripe.com/billing/subscriptions/prorations: an always_invoice upgrade 10 -> 20 halfway (Apr 16 of a 30-day
# April) invoices r(2000 x 15/30) - r(1000 x 15/30) at once; a 300 credit pays part of it, once.
@pytest.mark.parametrize("credit", [300, 2000])
def test_always_invoice_preview_equals_the_invoice_with_a_credit_balance(db, credit):
    subscription = subscribed(at(2023, 4, 1))
    _credit(subscription, credit)
    item = subscription.items.get()
    update = {
        "changes": [ItemChange(item=item, quantity=2)],
        "change_options": ChangeOptions(proration_behavior="always_invoice"),
    }
    preview = _preview(subscription, at(2023, 4, 16), update)
    with time_machine.travel(at(2023, 4, 16), tick=False):
        subscription_update(subscription=subscription, actor=ACTOR, **update)
    invoice = Invoice.objects.get(subscription=subscription, billing_reason="subscription_update")
    total = r(2000 * 15 / 30) - r(1000 * 15 / 30)
    assert preview["total"] == invoice.total == total
    assert preview["starting_balance"] == invoice.starting_balance == -credit
    assert preview["amount_due"] == invoice.amount_due == max(total - credit, 0)


# The credit a downgrade leaves (create_prorations) is on the renewal's lines, not the balance: the preview of the
# renewal and the renewal agree on both (500 + r(500 x 15/30) - r(1000 x 15/30), less the 300 credit).
def test_downgrade_preview_with_credit_balance_equals_the_renewal(db):
    subscription = subscribed(at(2023, 4, 1))
    _credit(subscription, 300)
    item = subscription.items.get()
    half = subscribed(at(2023, 4, 1), amount=500, account=subscription.account)
    update = {
        "changes": [ItemChange(item=item, price=half.items.get().price)],
        "change_options": ChangeOptions(proration_behavior="create_prorations"),
    }
    preview = _preview(subscription, at(2023, 4, 16), update)
    with time_machine.travel(at(2023, 4, 16), tick=False):
        subscription_update(subscription=subscription, actor=ACTOR, **update)
    run_cycle(at(2023, 5, 1) + SECOND)
    renewal = Invoice.objects.get(subscription=subscription, billing_reason="subscription_cycle")
    total = 500 + r(500 * 15 / 30) - r(1000 * 15 / 30)
    assert preview["total"] == renewal.total == total
    assert preview["amount_due"] == renewal.amount_due == max(total - 300, 0)


# docs.stripe.com/billing/subscriptions/trials: "the first full invoice follows the trial", and
# docs.stripe.com/billing/subscriptions/billing-cycle: the anchor defaults to "the trial end date". The preview of a
# trialing subscription is the invoice at the trial's end, for the period trial_end -> trial_end + 1 month.
def test_preview_of_a_trial_renews_from_the_trial_end(db):
    subscription = subscribed(at(2024, 1, 10), trial_end=at(2024, 1, 31))
    preview = _preview(subscription, at(2024, 1, 20))
    assert preview["total"] == 1000
    (line,) = preview["lines"]["data"]
    # Anchored on the 31st: the first full period after the trial ends on Feb 29 (2024), then Mar 31.
    assert (line["period"]["start"], line["period"]["end"]) == (_ts(at(2024, 1, 31)), _ts(at(2024, 2, 29)))
    run_cycle(at(2024, 1, 31) + SECOND)
    first = Invoice.objects.get(subscription=subscription, billing_reason="subscription_cycle")
    assert first.total == preview["total"]
    assert [(ln.period_start, ln.period_end) for ln in first.lines.all()] == [(at(2024, 1, 31), at(2024, 2, 29))]
    subscription.refresh_from_db()
    assert subscription.current_period_end == at(2024, 2, 29) and subscription.billing_cycle_anchor == at(2024, 1, 31)
    following = _preview(subscription, at(2024, 2, 10))
    assert (following["lines"]["data"][0]["period"]["end"]) == _ts(at(2024, 3, 31))


# docs.stripe.com/changelog/2018-02-05 ("a free trial to be followed by a prorated period, followed by a fixed billing
# cycle"): the preview after a trial to Feb 8 with an anchor on Mar 1 (2024) bills Feb 8 -> Mar 1, 22 of the 29 days
# of Feb 8 -> Mar 8.
def test_preview_of_a_trial_with_a_later_anchor_bills_the_time_up_to_it(db):
    subscription = subscribed(at(2024, 2, 1), trial_end=at(2024, 2, 8), billing_cycle_anchor=at(2024, 3, 1))
    preview = _preview(subscription, at(2024, 2, 5))
    assert preview["total"] == r(1000 * 22 / 29)
    (line,) = preview["lines"]["data"]
    assert (line["period"]["start"], line["period"]["end"]) == (_ts(at(2024, 2, 8)), _ts(at(2024, 3, 1)))
    run_cycle(at(2024, 2, 8) + SECOND)
    assert Invoice.objects.get(subscription=subscription, billing_reason="subscription_cycle").total == preview["total"]


def _ts(moment: dt.datetime) -> int:
    return int(moment.timestamp())
