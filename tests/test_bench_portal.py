"""The portal benchmark end to end, tiny: gunicorn serves the test database (committed rows), every request
answers 200 (no timings asserted). gunicorn runs in its own processes, so it needs a shared PostgreSQL."""

import os

import pytest

from bench import portal as bench_portal
from bench import serving

pytestmark = [
    pytest.mark.services,
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres"),
        reason="gunicorn's workers need the test database on a PostgreSQL server (DATABASE_URL)",
    ),
]


def test_portal_bench_serves_the_overview_to_every_browser_under_gunicorn(transactional_db):
    from django.db import connection

    from billing.models import Customer, Invoice, PaymentMethod, Subscription
    from configurations.models import PortalSession

    try:
        prepared = bench_portal.prepare(sessions=2)
        result = bench_portal.run(
            database_url=serving.database_url(), prepared=prepared, requests=20, concurrency=2, timeout=180
        )
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS bench_baseline")

    assert result["bench"] == "portal" and result["database"] == "postgresql"
    assert result["requests"] == 20 and result["concurrency"] == 2
    assert (result["invoices"], result["subscriptions"], result["payment_methods"]) == (100, 3, 3)
    overview = result["overview"]
    assert set(overview) >= {"rps", "p50_ms", "p95_ms", "baseline_rps", "baseline_p50_ms", "ratio"}
    assert overview["rps"] > 0 and overview["baseline_rps"] > 0
    # The data the bench claims, built through the services: one customer, one history.
    customer = Customer.objects.get()
    assert Invoice.objects.finalized().filter(customer=customer).count() == 100
    assert Subscription.objects.filter(customer=customer, status=Subscription.Status.ACTIVE).count() == 3
    assert PaymentMethod.objects.filter(customer=customer).count() == 3
    # Each client thread was its own browser, and each one's session was kept alive by its requests.
    sessions = PortalSession.objects.filter(customer=customer)
    assert sessions.count() == 2
    assert all(session.last_activity_at > session.redeemed_at for session in sessions)
