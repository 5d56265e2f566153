"""The webhook benchmark end to end, tiny (no timings asserted): with REDIS_URL and PostgreSQL (CI) a real Celery
worker process delivers from the test database and a producer process hands the events over; otherwise the
deliveries run in-process."""

import os

import pytest
from django.db import connection

from bench.webhooks import run
from webhooks.models import Delivery


@pytest.mark.parametrize("rate", [0, 400], ids=["backlog", "paced"])
@pytest.mark.django_db(transaction=True)
def test_webhook_bench_delivers_every_event(rate, settings):
    with_worker = bool(os.environ.get("REDIS_URL")) and connection.vendor == "postgresql"
    settings.CELERY_TASK_ALWAYS_EAGER = not with_worker
    result = run(20, workers=1, per_transaction=3, rate=rate)
    assert set(result) >= {
        "bench",
        "deliveries",
        "workers",
        "deliveries_per_s",
        "baseline_per_s",
        "ratio",
        "queries_per_delivery",
        "database",
        "broker",
    }
    assert result["bench"] == "webhooks"
    assert result["workers"] == (1 if with_worker else 0)
    assert result["broker"] == ("redis" if with_worker else "none (Celery eager, in-process)")
    assert result["deliveries"] == 20 and result["delivered"] == 20
    assert result["deliveries_per_s"] > 0 and result["baseline_per_s"] > 0 and result["ratio"] > 0
    assert result["queries_per_delivery"] > 0
    assert (result["latency_ms_p99"] is not None) == bool(rate)
    assert Delivery.objects.filter(status=Delivery.Status.SUCCEEDED).count() == 22  # with the warm-up
