"""The API benchmark end to end, tiny: gunicorn serves the test database (committed rows), every request
answers 200 (no timings asserted). gunicorn runs in its own processes, so it needs a shared PostgreSQL."""

import os

import pytest

from bench import api as bench_api
from bench import serving

pytestmark = [
    pytest.mark.services,
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres"),
        reason="gunicorn's workers need the test database on a PostgreSQL server (DATABASE_URL)",
    ),
]


def test_api_bench_serves_every_request_under_gunicorn(transactional_db):
    from django.db import connection

    from billing.models import Customer

    secret = bench_api.prepare(subscriptions=3)
    try:
        result = bench_api.run(
            database_url=serving.database_url(), secret=secret, requests=20, concurrency=2, timeout=120
        )
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM bench_baseline")
            (baseline_rows,) = cursor.fetchone()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS bench_baseline")

    assert result["bench"] == "api" and result["database"] == "postgresql"
    assert result["requests"] == 20 and result["concurrency"] == 2
    for scenario in ("customer_create", "subscription_list_expand"):
        assert set(result[scenario]) >= {"rps", "p50_ms", "p95_ms", "baseline_rps", "ratio"}
        assert result[scenario]["rps"] > 0 and result[scenario]["baseline_rps"] > 0
    # The seeded customers, the content check's one, warm-up and measured creates all reached the database.
    assert Customer.objects.count() >= 3 + 1 + 20
    assert baseline_rows >= 20
