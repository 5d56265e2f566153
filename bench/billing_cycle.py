"""Benchmark: billing-cycle renewals per second on PostgreSQL, against a bare bulk insert of the same invoices.

Run ``python bench/billing_cycle.py`` (or ``make bench``). It creates the database named by
``BENCH_DATABASE_URL`` (default ``postgres://postgres@127.0.0.1:5432/billing_bench``), migrates it,
builds ``BENCH_N`` (default 10 000) active monthly subscriptions that are all due now, times one
``billing_cycle_run`` renewing them (per renewal: invoice, line, number, finalize, charge through the
test gateway, events, audit entry, each in its own transaction), drops the database and prints one
JSON line. The baseline, measured in the same run, is a bare ``bulk_create`` of as many invoices and
line items in one transaction, so ``ratio`` says how much the engine's bookkeeping costs over the
rows it must write anyway.

Webhook fan-out is a separate Celery task and not measured: the script runs without a broker.

``run(n)`` only uses the ORM, so tests can call it against their already configured database.
"""

import datetime as dt
import json
import os
import secrets
import sys
import time
from pathlib import Path

if __name__ == "__main__":
    # Run as a script, bench/ is sys.path[0], where a script could shadow a product package of the same name.
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import serving  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/billing_bench"
DEFAULT_N = 10_000
QUERY_SAMPLE = 20  # subscriptions renewed under CaptureQueriesContext to count queries per renewal
BATCH = 2_000
BASELINE_ROUNDS = 3


def _due_subscriptions(account, price, n: int, now: dt.datetime) -> list[str]:
    """``n`` customers with a chargeable card and an active monthly subscription due at ``now``,
    inserted with bulk_create (setup, not measured). Returns the subscription ids."""
    from django.db import transaction

    from billing.models import Customer, PaymentMethod, Subscription, SubscriptionItem
    from billing.periods import add_months, period_end

    anchor = add_months(now, -1) - dt.timedelta(minutes=1)
    tenant = {"account": account, "livemode": False}
    customers, methods, subscriptions, items = [], [], [], []
    for i in range(n):
        customer = Customer(**tenant, created=anchor, email=f"bench{i}@example.com", name=f"Bench {i}", currency="eur")
        method = PaymentMethod(
            **tenant,
            created=anchor,
            customer=customer,
            type=PaymentMethod.Type.CARD,
            card_brand="visa",
            card_last4="4242",
            card_exp_month=12,
            card_exp_year=now.year + 3,
            card_funding="credit",
            country="US",
            fingerprint=secrets.token_hex(8),
            # The test gateway's reference format for a card whose charges succeed.
            gateway_reference=f"test_succeed_{secrets.token_hex(8)}",
        )
        customer.default_payment_method_id = method.id  # foreign keys are checked at commit
        subscription = Subscription(
            **tenant,
            created=anchor,
            customer=customer,
            status=Subscription.Status.ACTIVE,
            currency="eur",
            billing_cycle_anchor=anchor,
            current_period_start=anchor,
            current_period_end=period_end(anchor, "month", 1, 1),
            period_index=1,
            start_date=anchor,
        )
        item = SubscriptionItem(**tenant, created=anchor, subscription=subscription, price=price, quantity=1)
        customers.append(customer)
        methods.append(method)
        subscriptions.append(subscription)
        items.append(item)
    with transaction.atomic():
        Customer.objects.bulk_create(customers, batch_size=BATCH)
        PaymentMethod.objects.bulk_create(methods, batch_size=BATCH)
        Subscription.objects.bulk_create(subscriptions, batch_size=BATCH)
        SubscriptionItem.objects.bulk_create(items, batch_size=BATCH)
    return [s.id for s in subscriptions]


def _baseline(subscription_ids: list[str], price, now: dt.datetime, *, round_: int) -> float:
    """Seconds to bulk insert one invoice and one line item per subscription in one transaction."""
    from django.db import transaction

    from billing.models import Invoice, InvoiceLineItem, Subscription

    subscriptions = list(Subscription.objects.filter(pk__in=subscription_ids).only("id", "account_id", "customer_id"))
    started = time.perf_counter()
    invoices, lines = [], []
    for i, subscription in enumerate(subscriptions):
        invoice = Invoice(
            account_id=subscription.account_id,
            livemode=False,
            created=now,
            customer_id=subscription.customer_id,
            subscription_id=subscription.id,
            status=Invoice.Status.PAID,
            number=f"BASELINE{round_}-{i:06d}",
            currency="eur",
            billing_reason=Invoice.BillingReason.SUBSCRIPTION_CYCLE,
            period_start=now,
            period_end=now + dt.timedelta(days=30),
            subtotal=price.unit_amount,
            total_excluding_tax=price.unit_amount,
            total=price.unit_amount,
            amount_due=price.unit_amount,
            amount_paid=price.unit_amount,
            finalized_at=now,
            paid_at=now,
        )
        invoices.append(invoice)
        lines.append(
            InvoiceLineItem(
                account_id=subscription.account_id,
                livemode=False,
                created=now,
                invoice=invoice,
                subscription_id=subscription.id,
                price=price,
                description="1 × Bench plan",
                amount=price.unit_amount,
                taxable_amount=price.unit_amount,
                currency="eur",
                period_start=now,
                period_end=now + dt.timedelta(days=30),
            )
        )
    with transaction.atomic():
        Invoice.objects.bulk_create(invoices, batch_size=BATCH)
        InvoiceLineItem.objects.bulk_create(lines, batch_size=BATCH)
    return time.perf_counter() - started


def run(n: int) -> dict:
    """Build ``n`` due subscriptions, renew them with the billing cycle and compare with the baseline.

    Needs a configured, migrated Django database (the bench's own, or a test's)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from billing.audit import Actor
    from billing.models import Invoice
    from billing.services.billing_cycle import billing_cycle_run

    actor = Actor.system("bench")
    now = timezone.now()
    account, _secret, price = serving.bench_merchant(actor)

    # Queries per renewal, counted on a small sample (this also warms up connection and caches).
    sample = _due_subscriptions(account, price, QUERY_SAMPLE, now)
    with CaptureQueriesContext(connection) as captured:
        sample_summary = billing_cycle_run(now=now)
    if sample_summary["subscriptions"] != len(sample) or sample_summary["errors"]:
        raise RuntimeError(f"the query sample did not renew cleanly: {sample_summary}")
    queries_per_renewal = len(captured.captured_queries) / len(sample)

    subscription_ids = _due_subscriptions(account, price, n, now)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # fresh bulk-loaded tables: give the planner real statistics
    started = time.perf_counter()
    summary = billing_cycle_run(now=now)
    seconds = time.perf_counter() - started
    if summary["errors"]:
        raise RuntimeError(f"the billing cycle reported errors: {summary}")
    renewed = Invoice.objects.filter(
        subscription_id__in=subscription_ids, billing_reason=Invoice.BillingReason.SUBSCRIPTION_CYCLE, status="paid"
    ).count()

    # Best of a few rounds: one bulk insert is short enough for a checkpoint or autovacuum to skew it.
    baseline_seconds = min(_baseline(subscription_ids, price, now, round_=round_) for round_ in range(BASELINE_ROUNDS))
    return {
        "bench": "billing_cycle",
        "n": n,
        "renewed": renewed,
        "renewals_per_second": round(n / seconds, 1),
        "seconds": round(seconds, 3),
        "baseline": "bulk insert of the same invoices+lines",
        "baseline_seconds": round(baseline_seconds, 3),
        "ratio": round(seconds / baseline_seconds, 1),
        "queries_per_renewal": round(queries_per_renewal, 1),
        "database": connection.vendor,
    }


def main() -> None:
    n = int(os.environ.get("BENCH_N", DEFAULT_N))
    # No broker: the webhook fan-out is not part of what is measured.
    with serving.fresh_database(bench="billing_cycle", default_url=DEFAULT_DATABASE_URL):
        from django.db import connections

        result = run(n)
        connections.close_all()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
