"""Renewals of one merchant in parallel (PostgreSQL, one connection per thread): processor calls run outside every
transaction and lock, so they overlap instead of queueing behind the merchant's invoice numbering."""

import datetime as dt
import threading

import pytest
from django.db import connection, connections

from billing.models import Charge, Invoice
from billing.services.subscriptions import subscription_advance
from tests.billing.gateways import SlowGateway
from tests.billing.helpers import subscribed
from tests.factories.billing import AccountFactory

RENEWALS = 8


def _most_in_flight(spans: list[tuple[float, float]]) -> int:
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    in_flight = most = 0
    for _, step in edges:
        in_flight += step
        most = max(most, in_flight)
    return most


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_processor_calls_of_one_merchants_renewals_overlap(settings):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (run through .ci/run)")
    account = AccountFactory()
    started = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)  # one renewal of each is due now
    subscriptions = [subscribed(started, account=account) for _ in range(RENEWALS)]
    settings.BILLING_GATEWAY = "tests.billing.gateways.SlowGateway"
    SlowGateway.spans.clear()
    barrier = threading.Barrier(RENEWALS)
    failures = []

    def renew(subscription_id):
        try:
            barrier.wait(timeout=30)
            subscription_advance(subscription_id=subscription_id)
        except Exception as error:  # reported below
            failures.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=renew, args=(s.pk,)) for s in subscriptions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    assert len(SlowGateway.spans) == RENEWALS
    assert _most_in_flight(SlowGateway.spans) >= 4, SlowGateway.spans
    renewals = Invoice.objects.filter(account=account, billing_reason="subscription_cycle")
    assert renewals.count() == RENEWALS and set(renewals.values_list("status", flat=True)) == {"paid"}
    numbers = sorted(renewals.values_list("number", flat=True))
    assert len(set(numbers)) == RENEWALS  # numbered without gaps or duplicates, in parallel
    assert Charge.objects.filter(invoice__in=renewals, status="succeeded").count() == RENEWALS
