"""The webhook benchmark runs end to end on a small n (no timings asserted)."""

import pytest

from bench.webhooks import run
from webhooks.models import Delivery


@pytest.mark.django_db(transaction=True)
def test_webhook_bench_delivers_every_event():
    result = run(n=20)
    assert result["bench"] == "webhooks"
    assert result["n"] == 20 and result["delivered"] == 20
    assert result["deliveries_per_second"] > 0 and result["baseline_seconds"] > 0 and result["ratio"] > 0
    assert Delivery.objects.filter(status=Delivery.Status.SUCCEEDED).count() == 21  # with the warm-up
