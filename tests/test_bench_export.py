"""The export benchmark's measured part runs against the test database (no timings asserted)."""

from bench.export import run


def test_export_bench_downloads_every_subscription_through_the_admin(db):
    result = run(n=20)
    assert set(result) >= {
        "bench",
        "n",
        "rows",
        "seconds",
        "peak_memory_bytes",
        "baseline",
        "baseline_seconds",
        "ratio",
    }
    assert result["bench"] == "export"
    assert result["n"] == 20 and result["rows"] == 20 and result["paused_rows"] == 6
    assert result["peak_memory_bytes"] > 0 and result["bytes"] > 0 and result["baseline_bytes"] > 0
