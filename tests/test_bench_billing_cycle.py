"""The billing-cycle benchmark end to end, tiny: two real workers on Redis renew against the test database
(committed rows) and the floor writes the same rows (no timings asserted)."""

import os

import pytest

from bench import billing_cycle as bench
from bench import serving

pytestmark = [
    pytest.mark.services,
    pytest.mark.skipif(
        not (os.environ.get("DATABASE_URL", "").startswith("postgres") and os.environ.get("REDIS_URL")),
        reason="the workers need the test database on PostgreSQL and a Redis broker (run through .ci/run)",
    ),
]


def test_billing_cycle_bench_renews_every_subscription_on_real_workers(transactional_db):
    result = bench.run(30, 2, 0, database_url=serving.database_url(), redis_url=os.environ["REDIS_URL"])
    assert result["bench"] == "billing_cycle" and result["broker"] == "redis" and result["workers"] == 2
    assert set(result) >= {"renewals_per_s", "floor_per_s", "ratio", "queries_per_renewal", "seconds"}
    assert 0 < result["queries_per_renewal"] <= 13  # per renewal with its PaymentIntent, batch reads shared
