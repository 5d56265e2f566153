"""One advance at a time per test clock: an advance request while the clock is advancing answers Stripe's error,
two concurrent requests make one advance (PostgreSQL, threads), and the advance task is safe when the broker
delivers it twice, also at the same time."""

import datetime as dt
import os
import threading
import uuid
from urllib.parse import urlencode

import pytest
import redis
import stripe
import time_machine
from django.db import connection, connections
from django.test import Client

from billing.models import Event, Invoice, TestClock
from billing.periods import add_months
from billing.tasks import advance_test_clock
from tests.factories.billing import PriceFactory

T0 = dt.datetime(2030, 1, 15, 12, 0, tzinfo=dt.UTC)
RENEWED = add_months(T0, 1) + dt.timedelta(hours=1)


def ts(moment: dt.datetime) -> int:
    return int(moment.timestamp())


def _post(http: Client, path: str, **data):
    return http.post(path, urlencode(data), content_type="application/x-www-form-urlencoded")


@pytest.fixture
def queued(settings):
    """Tasks go to the broker and are not run (no worker takes them): an advance stays ``advancing`` until the test
    runs its task. They go to a queue of this test's own (Redis; in memory without REDIS_URL), removed afterwards."""
    queue = f"test-{uuid.uuid4().hex}"
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.BILLING_QUEUE = settings.WEBHOOK_QUEUE = queue
    yield queue
    if os.environ.get("REDIS_URL"):
        redis.Redis.from_url(os.environ["REDIS_URL"]).delete(queue)


def test_an_advance_while_advancing_answers_stripes_error_and_a_second_delivery_changes_nothing(merchant, queued):
    http = Client(HTTP_AUTHORIZATION=f"Bearer {merchant.test_secret}")
    test_clock = _post(http, "/v1/test_helpers/test_clocks", frozen_time=ts(T0)).json()
    path = f"/v1/test_helpers/test_clocks/{test_clock['id']}/advance"
    first = _post(http, path, frozen_time=ts(T0) + 3600)
    assert first.status_code == 200 and first.json()["status"] == "advancing"

    second = _post(http, path, frozen_time=ts(T0) + 7200)
    assert second.status_code == 400
    error = second.json()["error"]
    assert error["type"] == "invalid_request_error" and "code" not in error
    assert error["message"] == (
        f"The test clock {test_clock['id']} is currently advancing. Wait until its status is `ready` before "
        "advancing it again."
    )
    assert TestClock.objects.get(pk=test_clock["id"]).target_frozen_time == T0 + dt.timedelta(hours=1)

    assert advance_test_clock(test_clock["id"]) == "ready"
    assert advance_test_clock(test_clock["id"]) is None  # the broker delivered it again: nothing left to do
    ready = http.get(f"/v1/test_helpers/test_clocks/{test_clock['id']}").json()
    assert (ready["status"], ready["frozen_time"]) == ("ready", ts(T0) + 3600)
    assert Event.objects.filter(type="test_helpers.test_clock.ready").count() == 1


def test_a_redelivered_advance_waits_for_a_live_runner_and_takes_over_from_a_dead_one(merchant, queued):
    http = Client(HTTP_AUTHORIZATION=f"Bearer {merchant.test_secret}")
    test_clock = _post(http, "/v1/test_helpers/test_clocks", frozen_time=ts(T0)).json()
    _post(http, f"/v1/test_helpers/test_clocks/{test_clock['id']}/advance", frozen_time=ts(T0) + 3600)
    now = dt.datetime.now(dt.UTC)
    # A runner holds the clock (its lease runs two minutes, renewed at every step of the advance).
    TestClock.objects.filter(pk=test_clock["id"]).update(advance_lease_until=now + dt.timedelta(minutes=2))
    with time_machine.travel(now + dt.timedelta(minutes=1), tick=False):
        assert advance_test_clock(test_clock["id"]) is None
    assert TestClock.objects.get(pk=test_clock["id"]).status == "advancing"
    with time_machine.travel(now + dt.timedelta(minutes=3), tick=False):  # it stopped renewing: it died
        assert advance_test_clock(test_clock["id"]) == "ready"
    clock = TestClock.objects.get(pk=test_clock["id"])
    assert (clock.status, clock.frozen_time, clock.advance_lease_until) == ("ready", T0 + dt.timedelta(hours=1), None)


def _in_threads(*calls) -> list:
    """Run the calls at the same moment, one thread (and database connection) each; their results or errors."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait(timeout=30)
            results[index] = call()
        except Exception as error:  # compared by the test
            results[index] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


@pytest.mark.services
def test_concurrent_advances_make_one_and_concurrent_deliveries_run_it_once(client, merchant, queued):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (run through .ci/run)")
    price = PriceFactory(account=merchant, product__account=merchant, unit_amount=1500)
    test_clock = client.v1.test_helpers.test_clocks.create({"frozen_time": ts(T0)})
    customer = client.v1.customers.create({"test_clock": test_clock.id})
    card = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    client.v1.customers.update(customer.id, {"invoice_settings": {"default_payment_method": card.id}})
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]})

    advance = client.v1.test_helpers.test_clocks.advance
    answers = _in_threads(*[lambda: advance(test_clock.id, {"frozen_time": ts(RENEWED)})] * 2)
    advancing = [a for a in answers if not isinstance(a, Exception)]
    refused = [a for a in answers if isinstance(a, Exception)]
    assert [a.status for a in advancing] == ["advancing"], answers
    assert len(refused) == 1 and isinstance(refused[0], stripe.InvalidRequestError)
    assert refused[0].http_status == 400 and "is currently advancing" in refused[0].user_message
    assert Event.objects.filter(type="test_helpers.test_clock.advancing").count() == 1

    # The broker hands the advance task to two workers at once (a redelivery): one runs it.
    runs = _in_threads(*[lambda: advance_test_clock(test_clock.id)] * 2)
    assert sorted(runs, key=str) == [None, "ready"], runs
    ready = client.v1.test_helpers.test_clocks.retrieve(test_clock.id)
    assert (ready.status, ready.frozen_time) == ("ready", ts(RENEWED))
    renewals = Invoice.objects.filter(subscription_id=sub.id, billing_reason="subscription_cycle")
    assert renewals.count() == 1 and renewals.get().status == "paid"
    assert Event.objects.filter(type="test_helpers.test_clock.ready").count() == 1
