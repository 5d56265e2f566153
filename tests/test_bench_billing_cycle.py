"""The billing-cycle benchmark's ORM part runs against the test database (no timings asserted)."""

from bench.billing_cycle import run


def test_billing_cycle_bench_renews_every_subscription(db):
    result = run(n=20)
    assert set(result) >= {
        "bench",
        "n",
        "renewals_per_second",
        "seconds",
        "baseline",
        "baseline_seconds",
        "ratio",
        "queries_per_renewal",
    }
    assert result["bench"] == "billing_cycle"
    assert result["n"] == 20 and result["renewed"] == 20
    assert result["queries_per_renewal"] > 0
