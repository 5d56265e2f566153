"""Benchmark: the admin's CSV export of subscriptions on PostgreSQL, against COPY of the same columns.

Run ``python bench/export.py`` (or ``make bench``). It creates the database named by ``BENCH_DATABASE_URL``
(default ``postgres://postgres@127.0.0.1:5432/billing_bench_export``), migrates it, bulk-inserts
``BENCH_EXPORT_N`` (default 100 000) subscriptions, 30 % of them with payment collection paused, each
with its own customer and one item, then downloads the admin's export URL with Django's test client as
the account's logged-in staff member, reading the streamed response chunk by chunk. It prints one JSON
line: seconds, rows and bytes of that download, the peak memory Python allocated during a second,
traced download (tracemalloc slows Python down, so the timed download runs without it), and ``ratio``
against PostgreSQL writing the same columns itself: ``COPY (SELECT …) TO STDOUT WITH CSV``, read
through psycopg's ``cursor.copy`` in the same process. Then it drops the database.

``run(n)`` only uses the ORM, the test client and the connection, so tests can call it against their
configured database; on a database other than PostgreSQL the baseline is the same SELECT written by
Python's csv module.
"""

import csv
import datetime as dt
import json
import os
import sys
import time
import tracemalloc
from pathlib import Path

if __name__ == "__main__":
    # Run as a script, bench/ is sys.path[0], where a script could shadow a product package of the same name.
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import serving  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/billing_bench_export"
DEFAULT_N = 100_000
PAUSED_SHARE = 0.3
BATCH = 2_000
BASELINE_ROUNDS = 3
BEHAVIORS = ("keep_as_draft", "mark_uncollectible", "void")


def _subscriptions(account, price, n: int, now: dt.datetime) -> int:
    """``n`` customers with one active monthly subscription each; every tenth in three is paused
    (behaviours in turn, every other one with a resume date). Returns how many are paused."""
    from django.db import transaction

    from billing.models import Customer, Subscription, SubscriptionItem
    from billing.periods import add_months

    tenant = {"account": account, "livemode": False}
    start = add_months(now, -1) + dt.timedelta(days=1)
    paused = 0
    with transaction.atomic():
        for first in range(0, n, BATCH):
            customers, subscriptions, items = [], [], []
            for i in range(first, min(first + BATCH, n)):
                created = start + dt.timedelta(seconds=i)
                customer = Customer(
                    **tenant, created=created, email=f"bench{i}@example.com", name=f"Bench Customer {i}", currency="eur"
                )
                behavior, resumes_at = "", None
                if i % 10 < PAUSED_SHARE * 10:
                    behavior = BEHAVIORS[paused % len(BEHAVIORS)]
                    resumes_at = now + dt.timedelta(days=1 + i % 60) if paused % 2 else None
                    paused += 1
                subscription = Subscription(
                    **tenant,
                    created=created,
                    customer=customer,
                    status=Subscription.Status.ACTIVE,
                    currency="eur",
                    billing_cycle_anchor=start,
                    current_period_start=start,
                    current_period_end=add_months(start, 1),
                    period_index=1,
                    start_date=start,
                    pause_collection_behavior=behavior,
                    pause_collection_resumes_at=resumes_at,
                )
                items.append(
                    SubscriptionItem(
                        **tenant, created=created, subscription=subscription, price=price, quantity=1 + i % 3
                    )
                )
                customers.append(customer)
                subscriptions.append(subscription)
            Customer.objects.bulk_create(customers)
            Subscription.objects.bulk_create(subscriptions)
            SubscriptionItem.objects.bulk_create(items)
    return paused


def _download(client, url: str) -> tuple[int, int]:
    """GET ``url`` and read the streamed body chunk by chunk; returns (data rows, bytes)."""
    response = client.get(url, secure=True)
    if response.status_code != 200 or not response.streaming:
        raise RuntimeError(f"the export answered {response.status_code}")
    lines = size = 0
    # The test client closes the response (request_finished) once the stream is exhausted.
    for chunk in response.streaming_content:
        lines += chunk.count(b"\n")
        size += len(chunk)
    return lines - 1, size  # the header line is not a row


def _baseline_sql(account_id: str, vendor: str) -> tuple[str, list]:
    """The export's columns in plain SQL, newest first (the bench's only currency has two decimals)."""
    from billing.models import Customer, Price, Subscription, SubscriptionItem

    subscription, customer = Subscription._meta.db_table, Customer._meta.db_table
    item, price = SubscriptionItem._meta.db_table, Price._meta.db_table
    if vendor == "postgresql":
        iso = "to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
        price_ids = f"(SELECT string_agg(i.price_id, ' ' ORDER BY i.id) FROM {item} i WHERE i.subscription_id = s.id)"
        amount = "(coalesce({}, 0) / 100.0)::numeric(20, 2)"
    else:
        iso = "strftime('%%Y-%%m-%%dT%%H:%%M:%%SZ', {})"
        price_ids = f"(SELECT group_concat(i.price_id, ' ') FROM {item} i WHERE i.subscription_id = s.id)"
        amount = "printf('%%.2f', coalesce({}, 0) / 100.0)"
    total = (
        f"(SELECT sum(i.quantity * p.unit_amount) FROM {item} i JOIN {price} p ON p.id = i.price_id "
        "WHERE i.subscription_id = s.id AND p.recurring_usage_type = 'licensed')"
    )
    select = (
        f"SELECT s.id, s.customer_id, c.email, c.name, s.status, s.pause_collection_behavior, "
        f"{iso.format('s.pause_collection_resumes_at')}, {iso.format('s.current_period_end')}, {price_ids}, "
        f"{amount.format(total)}, s.currency, {iso.format('s.created')} "
        f"FROM {subscription} s JOIN {customer} c ON c.id = s.customer_id "
        "WHERE s.account_id = %s ORDER BY s.id DESC"
    )
    return select, [account_id]


class _Sink:
    def __init__(self):
        self.size = 0

    def write(self, text: str) -> None:
        self.size += len(text)


def _baseline(account_id: str) -> tuple[float, int]:
    """Seconds for the database to produce the same CSV; returns (seconds, bytes)."""
    from django.db import connection

    select, params = _baseline_sql(account_id, connection.vendor)
    started = time.perf_counter()
    size = 0
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            raw = cursor.cursor  # psycopg's own cursor: COPY streams from the server in blocks
            with raw.copy(f"COPY ({select}) TO STDOUT WITH CSV HEADER", params) as copy:
                for block in copy:
                    size += len(block)
        else:
            cursor.execute(select, params)
            sink = _Sink()
            writer = csv.writer(sink)
            while rows := cursor.fetchmany(BATCH):
                writer.writerows(rows)
            size = sink.size
    return time.perf_counter() - started, size


def run(n: int) -> dict:
    """Build ``n`` subscriptions, export them through the admin and compare with the database's own CSV.

    Needs a configured, migrated Django database (the bench's own, or a test's)."""
    from django.db import connection
    from django.test import Client
    from django.urls import reverse
    from django.utils import timezone

    from billing.audit import Actor
    from billing.services.accounts import staff_user_add

    actor = Actor.system("bench")
    now = timezone.now()
    account, _secret, price = serving.bench_merchant(actor)
    paused = _subscriptions(account, price, n, now)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # fresh bulk-loaded tables: give the planner real statistics

    client = Client()
    client.force_login(staff_user_add(account=account, email="bench-staff@example.com"))
    url = reverse("admin:billing_subscription_export")
    _download(client, f"{url}?q=warm-up-matches-nothing")  # URL resolving, sessions, imports

    started = time.perf_counter()
    rows, size = _download(client, url)
    seconds = time.perf_counter() - started
    if rows != n:
        raise RuntimeError(f"the export has {rows} rows, expected {n}")

    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        _download(client, url)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    paused_rows, _size = _download(client, f"{url}?collection=paused")
    if paused_rows != paused:
        raise RuntimeError(f"the paused export has {paused_rows} rows, expected {paused}")

    baseline_seconds, baseline_bytes = min(_baseline(account.pk) for _ in range(BASELINE_ROUNDS))
    return {
        "bench": "export",
        "n": n,
        "rows": rows,
        "paused_rows": paused_rows,
        "bytes": size,
        "seconds": round(seconds, 3),
        "rows_per_second": round(rows / seconds, 1),
        "peak_memory_bytes": peak,
        "peak_memory_mib": round(peak / 2**20, 2),
        "baseline": "COPY (SELECT same columns) TO STDOUT WITH CSV"
        if connection.vendor == "postgresql"
        else "the same SELECT through csv.writer",
        "baseline_seconds": round(baseline_seconds, 3),
        "baseline_bytes": baseline_bytes,
        "ratio": round(seconds / baseline_seconds, 1),
        "database": connection.vendor,
    }


def main() -> None:
    n = int(os.environ.get("BENCH_EXPORT_N", DEFAULT_N))
    os.environ["ALLOWED_HOSTS"] = "testserver"  # the test client's host name
    with serving.fresh_database(bench="export", default_url=DEFAULT_DATABASE_URL):
        from django.db import connections

        result = run(n)
        connections.close_all()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
