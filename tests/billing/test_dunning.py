import datetime as dt

import pytest
import time_machine

from billing.exceptions import CardDeclined
from billing.models import Event
from billing.services.invoices import invoice_pay
from tests.billing.helpers import ACTOR, run_cycle, subscribed
from tests.factories.billing import card

UTC = dt.UTC
FEB_28 = dt.datetime(2026, 2, 28, 10, tzinfo=UTC)


def _failing_renewal(t0):
    subscription = subscribed(t0)
    with time_machine.travel(t0 + dt.timedelta(days=1), tick=False):
        card(subscription.customer, "4000000000000341")  # attaches, fails when charged; now the default
    run_cycle(FEB_28)
    subscription.refresh_from_db()
    return subscription


def test_declined_renewal_goes_past_due_retries_then_unpaid(db, t0):
    subscription = _failing_renewal(t0)
    invoice = subscription.latest_invoice
    assert subscription.status == "past_due"
    assert (invoice.status, invoice.attempt_count) == ("open", 1)
    assert invoice.next_payment_attempt == FEB_28 + dt.timedelta(days=1)
    assert Event.objects.filter(type="invoice.payment_failed").count() == 1

    for day, attempts in ((1, 2), (3, 3)):
        run_cycle(FEB_28 + dt.timedelta(days=day))
        invoice.refresh_from_db()
        assert invoice.attempt_count == attempts
    run_cycle(FEB_28 + dt.timedelta(days=7))
    invoice.refresh_from_db()
    subscription.refresh_from_db()
    assert (invoice.attempt_count, invoice.next_payment_attempt, invoice.status) == (4, None, "open")
    assert subscription.status == "unpaid"
    run_cycle(FEB_28 + dt.timedelta(days=8))
    invoice.refresh_from_db()
    assert invoice.attempt_count == 4  # no more automatic attempts


def test_a_retry_with_a_new_card_brings_the_subscription_back(db, t0):
    subscription = _failing_renewal(t0)
    with time_machine.travel(FEB_28 + dt.timedelta(hours=2), tick=False):
        card(subscription.customer, "5555555555554444")
    run_cycle(FEB_28 + dt.timedelta(days=1))
    subscription.refresh_from_db()
    assert subscription.status == "active"
    assert subscription.latest_invoice.status == "paid"


def test_manual_pay_reports_the_decline_and_keeps_the_attempt(db, t0):
    subscription = _failing_renewal(t0)
    invoice = subscription.latest_invoice
    with time_machine.travel(FEB_28 + dt.timedelta(hours=1), tick=False), pytest.raises(CardDeclined) as error:
        invoice_pay(invoice=invoice, actor=ACTOR)
    assert error.value.message == "Your card was declined."
    assert error.value.charge_id
    invoice.refresh_from_db()
    assert invoice.attempt_count == 2 and invoice.charges.filter(status="failed").count() == 2


def test_paying_a_draft_with_nothing_due_finalizes_it_as_paid(db, t0):
    from billing.models import Invoice
    from billing.services.invoices import invoice_create_draft

    subscription = subscribed(t0)
    with time_machine.travel(t0, tick=False):
        draft = invoice_create_draft(
            customer=subscription.customer,
            subscription=None,
            currency="eur",
            billing_reason="manual",
            period_start=t0,
            period_end=t0,
            lines=[],
        )
        paid = invoice_pay(invoice=draft, actor=ACTOR)
    assert paid.status == Invoice.Status.PAID and paid.number
