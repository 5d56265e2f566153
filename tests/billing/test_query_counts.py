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


def test_a_renewal_with_metered_items_reads_their_usage_in_one_statement(db, t0):
    from billing.models import Meter, Price
    from billing.services.meters import meter_create, meter_event_create
    from billing.services.subscriptions import ItemSpec, subscription_create
    from tests.billing.helpers import ACTOR
    from tests.factories.billing import CustomerFactory, PriceFactory, card

    with time_machine.travel(t0, tick=False):
        customer = CustomerFactory()
        account = customer.account
        card(customer, "4242424242424242")
        items = [ItemSpec(PriceFactory(account=account, product__account=account, unit_amount=1000))]
        meters = []
        for name, formula in (("calls", Meter.Formula.SUM), ("logins", Meter.Formula.COUNT)):
            meter = meter_create(
                account=account, livemode=False, actor=ACTOR, display_name=name, event_name=name, formula=formula
            )
            price = PriceFactory(
                account=account, product__account=account, unit_amount=2, recurring_usage_type=Price.UsageType.METERED
            )
            Price.objects.filter(pk=price.pk).update(meter=meter)
            price.meter = meter
            items.append(ItemSpec(price, 0))
            meters.append(meter)
        subscription = subscription_create(customer=customer, items=items, actor=ACTOR)
        for meter in meters:
            for n in range(25):
                meter_event_create(meter=meter, customer=customer, actor=ACTOR, payload={"value": str(n)})
    with time_machine.travel(FEB_28, tick=False), CaptureQueriesContext(connection) as captured:
        subscription_advance(subscription_id=subscription.pk)
    usage = [sql for sql in statements(captured) if "meterevent" in sql]
    assert len(usage) == 1, "\n".join(usage)
    invoice = subscription.invoices.get(billing_reason="subscription_cycle")
    assert invoice.total == 1000 + 300 * 2 + 25 * 2
    assert sorted(invoice.lines.filter(price__meter__isnull=False).values_list("quantity", "amount")) == [
        (25, 50),
        (300, 600),
    ]
