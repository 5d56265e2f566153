"""What one renewal costs in SQL statements (transaction control not counted: BEGIN/COMMIT, which tests see as
savepoints)."""

import datetime as dt

import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.models import Invoice
from billing.services.subscriptions import renew_batch, subscription_advance
from tests.billing.helpers import subscribed

FEB_28 = dt.datetime(2026, 2, 28, 10, tzinfo=dt.UTC)
TRANSACTION_CONTROL = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")


def statements(captured: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if not q["sql"].startswith(TRANSACTION_CONTROL)]


def test_one_renewal_with_its_payment_stays_within_fourteen_statements(db, t0):
    subscription = subscribed(t0, quantity=2)
    with time_machine.travel(FEB_28, tick=False), CaptureQueriesContext(connection) as captured:
        subscription_advance(subscription_id=subscription.pk)
    # Claim (with which relations are empty), items, number, the merchant's processor, invoice, its PaymentIntent,
    # lines, charge, subscription, audit, events; after the processor answered: invoice, charge and PaymentIntent
    # (one statement on PostgreSQL), events.
    limit = 14 if connection.vendor == "postgresql" else 15
    assert len(statements(captured)) <= limit, "\n".join(statements(captured))
    assert subscription.invoices.filter(billing_reason="subscription_cycle", status="paid").exists()


def test_renewals_in_a_batch_cost_about_twelve_statements_each(db, t0):
    subscriptions = [subscribed(t0) for _ in range(20)]
    with time_machine.travel(FEB_28, tick=False), CaptureQueriesContext(connection) as captured:
        summary = renew_batch([subscription.pk for subscription in subscriptions])
    assert summary == {"subscriptions": 20, "steps": 20, "errors": 0}
    # Per batch: the subscriptions with everything a renewal reads (6), each merchant's processor once (here every
    # subscription has its own merchant). Per renewal: 9 (with the PaymentIntent), then 3 for the payment (invoice,
    # charge with its PaymentIntent, events; 4 where the database has no data-modifying WITH).
    per_renewal = 12 if connection.vendor == "postgresql" else 13
    assert len(statements(captured)) <= 6 + 20 + 20 * per_renewal
    assert Invoice.objects.filter(billing_reason="subscription_cycle", status="paid").count() == 20


def test_a_renewal_reads_no_relation_twice_and_locks_no_pending_items(db, t0):
    subscription = subscribed(t0)
    with time_machine.travel(FEB_28, tick=False), CaptureQueriesContext(connection) as captured:
        subscription_advance(subscription_id=subscription.pk)
    selects = [sql for sql in statements(captured) if sql.startswith("SELECT")]
    assert len(selects) == len(set(selects))
    assert not any("FOR UPDATE" in sql and "invoiceitem" in sql.split("FROM")[1][:40] for sql in selects)
