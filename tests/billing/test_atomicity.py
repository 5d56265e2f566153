"""The processor is called between two transactions: what a failure there leaves behind, and how it is finished."""

import datetime as dt

import pytest
import time_machine

from billing.models import AuditEntry, Charge, Event, Invoice, InvoiceLineItem, Subscription
from billing.services.subscriptions import ItemSpec, subscription_create
from tests.billing.gateways import LostAnswerGateway
from tests.billing.helpers import ACTOR, run_cycle, subscribed
from tests.factories.billing import CustomerFactory, PriceFactory, card

UNAVAILABLE = "tests.billing.gateways.UnavailableGateway"
LOST_ANSWER = "tests.billing.gateways.LostAnswerGateway"
TEST_GATEWAY = "billing.gateways.test.TestGateway"
FEB_28 = dt.datetime(2026, 2, 28, 10, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _fresh_ledger():
    LostAnswerGateway.ledger.clear()
    LostAnswerGateway.calls.clear()


def test_an_unreachable_processor_leaves_the_first_payment_pending_until_the_cycle_sends_it(db, settings, t0):
    with time_machine.travel(t0, tick=False):
        customer = CustomerFactory()
        price = PriceFactory(account=customer.account, product__account=customer.account)
        card(customer)
        settings.BILLING_GATEWAY = UNAVAILABLE
        subscription = subscription_create(customer=customer, items=[ItemSpec(price)], actor=ACTOR)
    # Committed as Stripe would show it: incomplete, its first invoice open, the attempt waiting for the processor.
    assert subscription.status == Subscription.Status.INCOMPLETE
    invoice = subscription.latest_invoice
    assert (invoice.status, invoice.attempt_count) == ("open", 1)
    assert list(invoice.charges.values_list("status", flat=True)) == ["pending"]

    settings.BILLING_GATEWAY = TEST_GATEWAY
    run_cycle(t0 + dt.timedelta(seconds=settings.BILLING_PAYMENT_PENDING_SECONDS - 1))
    assert invoice.charges.get().status == "pending"  # too early: the first call might still be answering
    run_cycle(t0 + dt.timedelta(seconds=settings.BILLING_PAYMENT_PENDING_SECONDS + 1))
    subscription.refresh_from_db()
    invoice.refresh_from_db()
    assert subscription.status == Subscription.Status.ACTIVE
    assert (invoice.status, invoice.attempt_count) == ("paid", 1)
    assert list(invoice.charges.values_list("status", flat=True)) == ["succeeded"]


def test_an_unreachable_processor_during_a_renewal_keeps_the_renewal_and_its_pending_charge(db, settings, t0):
    subscription = subscribed(t0)
    settings.BILLING_GATEWAY = UNAVAILABLE
    summary = run_cycle(FEB_28)
    assert summary["steps"] == 1
    subscription.refresh_from_db()
    renewal = subscription.latest_invoice
    assert subscription.current_period_start == FEB_28
    assert (renewal.status, renewal.billing_reason, renewal.number != "") == ("open", "subscription_cycle", True)
    assert list(renewal.charges.values_list("status", flat=True)) == ["pending"]
    assert subscription.status == "active"  # nothing was declined

    settings.BILLING_GATEWAY = TEST_GATEWAY
    run_cycle(FEB_28 + dt.timedelta(minutes=10))
    renewal.refresh_from_db()
    assert renewal.status == "paid"
    assert list(renewal.charges.values_list("status", flat=True)) == ["succeeded"]
    assert subscription.invoices.count() == 2


def test_an_answer_lost_between_the_two_transactions_is_fetched_again_never_charged_twice(db, settings, t0):
    subscription = subscribed(t0)
    settings.BILLING_GATEWAY = LOST_ANSWER
    run_cycle(FEB_28)
    renewal = Invoice.objects.get(subscription=subscription, billing_reason="subscription_cycle")
    charge = renewal.charges.get()
    # The processor charged; we never heard: the renewal is written once, its charge pending, nothing half-done.
    assert charge.status == "pending" and renewal.status == "open"
    assert list(LostAnswerGateway.ledger) == [charge.idempotency_key] == [f"{renewal.pk}:1"]
    assert Event.objects.filter(type__in=["charge.succeeded", "invoice.paid"], data_object__id=renewal.pk).count() == 0

    run_cycle(FEB_28 + dt.timedelta(minutes=10))  # the cycle sends the same attempt again, same key
    charge.refresh_from_db()
    renewal.refresh_from_db()
    assert LostAnswerGateway.calls == [charge.idempotency_key, charge.idempotency_key]
    assert len(LostAnswerGateway.ledger) == 1  # one charge at the processor
    assert charge.status == "succeeded"
    assert charge.gateway_reference == LostAnswerGateway.ledger[charge.idempotency_key].reference
    assert (renewal.status, renewal.attempt_count, renewal.charges.count()) == ("paid", 1, 1)

    # Later passes find nothing left to do.
    counts = [model.objects.count() for model in (Invoice, InvoiceLineItem, Charge, Event, AuditEntry)]
    run_cycle(FEB_28 + dt.timedelta(minutes=20))
    assert [model.objects.count() for model in (Invoice, InvoiceLineItem, Charge, Event, AuditEntry)] == counts


def test_running_the_cycle_twice_for_the_same_moment_changes_nothing(db, t0):
    subscriptions = [subscribed(t0), subscribed(t0, number="4242424242424242", trial_period_days=3)]
    failing = subscribed(t0)
    with time_machine.travel(t0 + dt.timedelta(hours=1), tick=False):
        card(failing.customer, "4000000000000341")
    moment = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    first = run_cycle(moment)
    assert first["steps"] == 3
    snapshot = [m.objects.count() for m in (Invoice, InvoiceLineItem, Event, AuditEntry)]
    states = list(Subscription.objects.order_by("id").values_list("status", "current_period_end", "period_index"))
    second = run_cycle(moment)
    assert second == {"subscriptions": 0, "steps": 0, "retries": 0, "errors": 0}
    assert [m.objects.count() for m in (Invoice, InvoiceLineItem, Event, AuditEntry)] == snapshot
    assert (
        list(Subscription.objects.order_by("id").values_list("status", "current_period_end", "period_index")) == states
    )
    assert subscriptions[0].invoices.count() == 2
