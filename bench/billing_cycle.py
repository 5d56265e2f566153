"""Benchmark: the billing cycle as production runs it, against the SQL floor of the same rows.

Run ``python bench/billing_cycle.py --subscriptions N --workers W --gateway-latency-ms L`` (or ``make bench``:
the defaults). It creates the database named by ``BENCH_DATABASE_URL`` (default
``postgres://postgres@127.0.0.1:5432/billing_bench``), migrates it, builds N active monthly subscriptions that are
all due now, starts W Celery worker processes (solo pool) on a private queue of the Redis at ``BENCH_REDIS_URL``
(default ``redis://127.0.0.1:6379/0``) whose test gateway answers after L ms, and times one pass of the cycle: the
planner queues the batches on the broker, the workers claim and renew, call the processor outside their
transactions and record the answers; the webhook hand-off goes to the broker too (its own queue, not consumed
here: that is ``bench/webhooks.py``'s part). The clock stops when the pass's last batch has finished.

The floor, measured in the same run, writes the same rows per renewal with raw SQL (psycopg, prepared
statements built beforehand, one transaction per renewal, W connections in parallel): the invoice number, the
invoice, its PaymentIntent, its line, the charge, the subscription, the eight events and the audit entry.
``ratio`` is the floor's rate over the cycle's. ``queries_per_renewal`` counts the SQL statements one renewal sends (BEGIN and COMMIT not
counted), on a sample renewed in this process by the same batch code the workers run. One JSON line goes to
stdout; the database is dropped at the end.

``due_subscriptions`` and ``start_workers`` are also used by the tests of the cycle on real workers.
"""

import argparse
import datetime as dt
import json
import os
import secrets
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

if __name__ == "__main__":
    # Run as a script, bench/ is sys.path[0], where a script could shadow a product package of the same name.
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import serving  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/billing_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_SUBSCRIPTIONS = 2_000
DEFAULT_WORKERS = 2
QUERY_SAMPLE = 50
BATCH = 2_000
WAIT_LIMIT_SECONDS = 900
TRANSACTION_CONTROL = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT", "BEGIN", "COMMIT")


# --- data ------------------------------------------------------------------------------------------


def due_subscriptions(account, price, n: int, now: dt.datetime) -> list[str]:
    """``n`` customers with a chargeable card and an active monthly subscription due at ``now``, inserted with
    bulk_create (setup, not measured). Returns the subscription ids."""
    from django.db import transaction

    from billing.models import Customer, PaymentMethod, Subscription, SubscriptionItem
    from billing.periods import add_months, period_end

    anchor = add_months(now, -1) - dt.timedelta(minutes=1)
    due = period_end(anchor, "month", 1, 1)
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
            current_period_end=due,
            next_action_at=due,
            version=1,
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


# --- workers ---------------------------------------------------------------------------------------


def start_workers(count: int, *, queue: str, database_url: str, env: dict | None = None, log_level="warning"):
    """``count`` Celery worker processes (solo pool) named ``w1@bench`` … on ``queue``, up and answering a ping.
    Their output goes to a pipe each (``worker.stdout``), billing's batches and the webhook hand-off to ``queue``
    and ``queue + "-webhooks"``."""
    from celery import current_app
    from django.conf import settings

    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "SECRET_KEY": settings.SECRET_KEY,
        "DEBUG": "0",
        "BILLING_QUEUE": queue,
        "WEBHOOK_QUEUE": f"{queue}-webhooks",
        "CONN_MAX_AGE": "60",
        "LOG_LEVEL": "WARNING",
        **(env or {}),
    }
    names = [f"w{i + 1}-{queue}@bench" for i in range(count)]
    workers = []
    for name in names:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queue, "--pool", "solo", "-n", name]
            + ["-l", log_level, "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        worker.name = name
        workers.append(worker)
    deadline = time.monotonic() + 60
    while True:
        answered = {name for reply in current_app.control.ping(destination=names, timeout=1) for name in reply}
        if answered >= set(names):
            return workers
        exited = [worker for worker in workers if worker.poll() is not None]
        if exited or time.monotonic() > deadline:
            stop_workers(workers)
            output = "".join(worker.stdout.read() or "" for worker in workers)
            raise RuntimeError(f"the workers did not start:\n{output[-3000:]}")


def tasks_run(workers) -> dict[str, dict[str, int]]:
    """Per worker name, how many tasks of each name it has run (Celery's own statistics)."""
    from celery import current_app

    stats = current_app.control.inspect(destination=[worker.name for worker in workers], timeout=5).stats() or {}
    return {name: dict(stat.get("total") or {}) for name, stat in stats.items()}


def stop_workers(workers) -> str:
    """Stop the workers (a warm shutdown) and return their output."""
    for worker in workers:
        if worker.poll() is None:
            worker.terminate()
    output = []
    for worker in workers:
        try:
            out, _ = worker.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            out, _ = worker.communicate(timeout=30)
        output.append(out or "")
    return "\n".join(output)


def forget_queues(redis_url: str, queue: str) -> None:
    """Drop the private queues (and what is left in them) and kombu's bindings for them from Redis."""
    import redis

    client = redis.Redis.from_url(redis_url)
    for name in (queue, f"{queue}-webhooks"):
        client.delete(name, f"_kombu.binding.{name}", f"_kombu.binding_permanent.{name}")
    client.close()


def wait_for_pass(run_id: int, workers, limit: float = WAIT_LIMIT_SECONDS) -> None:
    """Until every batch of the pass has finished."""
    from billing.models import BillingCycleRun

    deadline = time.monotonic() + limit
    while True:
        run = BillingCycleRun.objects.get(pk=run_id)
        if run.batches_done >= run.batches_planned:
            return
        if any(worker.poll() is not None for worker in workers):
            raise RuntimeError("a worker exited during the pass")
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {run.batches_done} of {run.batches_planned} batches finished in time")
        time.sleep(0.05)


# --- the floor -------------------------------------------------------------------------------------


def _insert(obj) -> tuple[str, list]:
    from django.db import connection
    from django.db.models import AutoField, BigAutoField
    from django.db.models.sql import InsertQuery

    fields = [f for f in obj._meta.concrete_fields if not isinstance(f, AutoField | BigAutoField)]
    query = InsertQuery(type(obj))
    query.insert_values(fields, [obj])
    [(sql, params)] = query.get_compiler(connection=connection).as_sql()
    return sql, list(params)


def _floor_statements(subscriptions, price, now: dt.datetime) -> list[list[tuple[str, list]]]:
    """Per renewal, the statements that write what a renewal writes (built beforehand, not timed)."""
    from billing.models import AuditEntry, Charge, Event, Invoice, InvoiceLineItem, PaymentIntent
    from billing.models.intents import client_secret

    renewals = []
    end = now + dt.timedelta(days=30)
    for subscription in subscriptions:
        invoice = Invoice(
            account_id=subscription.account_id,
            livemode=False,
            created=now,
            customer_id=subscription.customer_id,
            subscription_id=subscription.id,
            status=Invoice.Status.OPEN,
            number=f"FLOOR-{uuid.uuid4().hex[:12]}",
            currency="eur",
            billing_reason=Invoice.BillingReason.SUBSCRIPTION_CYCLE,
            period_start=now,
            period_end=end,
            subtotal=price.unit_amount,
            total_excluding_tax=price.unit_amount,
            total=price.unit_amount,
            amount_due=price.unit_amount,
            amount_remaining=price.unit_amount,
            attempt_count=1,
            attempted=True,
            finalized_at=now,
        )
        line = InvoiceLineItem(
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
            period_end=end,
        )
        intent = PaymentIntent(
            account_id=subscription.account_id,
            livemode=False,
            created=now,
            customer_id=subscription.customer_id,
            invoice=invoice,
            payment_method_id=subscription.customer.default_payment_method_id,
            amount=price.unit_amount,
            currency="eur",
            status=PaymentIntent.Status.PROCESSING,
            payment_method_types=["card"],
        )
        intent.client_secret = client_secret(intent.id)
        charge = Charge(
            account_id=subscription.account_id,
            livemode=False,
            created=now,
            customer_id=subscription.customer_id,
            invoice=invoice,
            payment_intent=intent,
            payment_method_id=subscription.customer.default_payment_method_id,
            amount=price.unit_amount,
            currency="eur",
            status=Charge.Status.PENDING,
            idempotency_key=f"{invoice.id}:1",
        )
        data = {"id": subscription.id, "object": "subscription", "padding": "x" * 3000}  # an event's usual size
        events = [
            Event(account_id=subscription.account_id, livemode=False, created=now, type=kind, data_object=data)
            for kind in (
                "customer.subscription.updated",
                "invoice.created",
                "invoice.finalized",
                "payment_intent.created",
                "charge.succeeded",
                "payment_intent.succeeded",
                "invoice.paid",
                "invoice.payment_succeeded",
            )
        ]
        audit = AuditEntry(
            account_id=subscription.account_id,
            livemode=False,
            actor_type="system",
            action="subscription.renew",
            object_type="subscription",
            object_id=subscription.id,
        )
        renewals.append(
            [
                (
                    "UPDATE billing_invoicecounter SET next_number = next_number + 1 "
                    "WHERE account_id = %s AND livemode = false RETURNING next_number",
                    [subscription.account_id],
                ),
                _insert(invoice),
                _insert(intent),
                _insert(line),
                _insert(charge),
                (
                    "UPDATE billing_subscription SET current_period_start = %s, current_period_end = %s, "
                    "version = version + 1, next_action_at = %s, latest_invoice_id = %s WHERE id = %s",
                    [now, end, end, invoice.id, subscription.id],
                ),
                *[_insert(event) for event in events],
                _insert(audit),
                ("UPDATE billing_invoice SET status = 'paid', amount_paid = amount_due WHERE id = %s", [invoice.id]),
                ("UPDATE billing_charge SET status = 'succeeded' WHERE id = %s", [charge.id]),
                (
                    "UPDATE billing_paymentintent SET status = 'succeeded', amount_received = amount WHERE id = %s",
                    [intent.id],
                ),
            ]
        )
    return renewals


def _floor(database_url: str, renewals: list, connections_: int) -> float:
    """Seconds for ``connections_`` connections to write the renewals, one transaction each."""
    import psycopg

    shares = [renewals[i::connections_] for i in range(connections_)]
    start = threading.Barrier(connections_ + 1)
    errors = []

    def write(share):
        try:
            with psycopg.connect(database_url, prepare_threshold=0) as conn:
                start.wait()
                for statements in share:
                    with conn.transaction(), conn.cursor() as cursor:
                        for sql, params in statements:
                            cursor.execute(sql, params)
        except Exception as error:
            errors.append(error)
            start.abort()

    threads = [threading.Thread(target=write, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - began


# --- the run ---------------------------------------------------------------------------------------


def _queries_per_renewal(account, price, now: dt.datetime) -> float:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from billing.services.subscriptions import renew_batch

    sample = due_subscriptions(account, price, QUERY_SAMPLE, now)
    with CaptureQueriesContext(connection) as captured:
        summary = renew_batch(sample)
    if summary["subscriptions"] != QUERY_SAMPLE or summary["errors"]:
        raise RuntimeError(f"the query sample did not renew cleanly: {summary}")
    statements = [q for q in captured.captured_queries if not q["sql"].startswith(TRANSACTION_CONTROL)]
    return len(statements) / QUERY_SAMPLE


def run(subscriptions: int, workers: int, gateway_latency_ms: int, *, database_url: str, redis_url: str) -> dict:
    from django.db import connection
    from django.test.utils import override_settings
    from django.utils import timezone

    from billing.audit import Actor
    from billing.models import Charge, Invoice, Subscription
    from billing.services.billing_cycle import billing_cycle_plan

    queue = f"bench-cycle-{uuid.uuid4().hex[:12]}"
    now = timezone.now()
    account, _secret, price = serving.bench_merchant(Actor.system("bench"))
    with override_settings(BILLING_QUEUE=queue, WEBHOOK_QUEUE=f"{queue}-webhooks", CELERY_TASK_ALWAYS_EAGER=False):
        queries_per_renewal = _queries_per_renewal(account, price, now)
        ids = due_subscriptions(account, price, subscriptions, now)
        serving.analyze()
        running = start_workers(
            workers,
            queue=queue,
            database_url=database_url,
            env={"BILLING_TEST_GATEWAY_LATENCY_MS": str(gateway_latency_ms)},
        )
        try:
            started = time.perf_counter()
            planned = billing_cycle_plan()
            if not planned["planned"]:
                raise RuntimeError(f"the pass was not planned: {planned}")
            wait_for_pass(planned["run"], running)
            seconds = time.perf_counter() - started
        finally:
            output = stop_workers(running)
            forget_queues(redis_url, queue)
    renewed = Invoice.objects.filter(subscription_id__in=ids, billing_reason="subscription_cycle", status="paid")
    if renewed.count() != subscriptions:
        raise RuntimeError(f"{renewed.count()} of {subscriptions} renewals were paid:\n{output[-3000:]}")
    if Charge.objects.filter(invoice__in=renewed).count() != subscriptions:
        raise RuntimeError("a renewal was charged more than once")

    floor_subscriptions = list(Subscription.objects.filter(pk__in=ids).select_related("customer"))
    floor_seconds = _floor(database_url, _floor_statements(floor_subscriptions, price, now), workers)
    return {
        "bench": "billing_cycle",
        "subscriptions": subscriptions,
        "workers": workers,
        "gateway_latency_ms": gateway_latency_ms,
        "seconds": round(seconds, 3),
        "renewals_per_s": round(subscriptions / seconds, 1),
        "floor": "the same rows per renewal in raw SQL, one transaction each, as many connections as workers",
        "floor_per_s": round(subscriptions / floor_seconds, 1),
        "ratio": round(seconds / floor_seconds, 2),
        "queries_per_renewal": round(queries_per_renewal, 2),
        "database": connection.vendor,
        "broker": "redis",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=int(os.environ.get("BENCH_N", DEFAULT_SUBSCRIPTIONS)))
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS)
    parser.add_argument("--gateway-latency-ms", type=int, default=0)
    args = parser.parse_args()
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL)
    with serving.fresh_database(bench="billing_cycle", default_url=DEFAULT_DATABASE_URL, redis_url=redis_url) as url:
        from django.db import connections

        result = run(args.subscriptions, args.workers, args.gateway_latency_ms, database_url=url, redis_url=redis_url)
        connections.close_all()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
