"""The billing cycle on real Celery workers over Redis and PostgreSQL: batches shared by two workers, every
renewal done exactly once, and a worker killed in the middle of a batch."""

import datetime as dt
import os
import signal
import time
import uuid

import pytest
from django.db import connection
from django.utils import timezone

from bench import billing_cycle as bench
from bench import serving
from billing.audit import Actor
from billing.models import BillingCycleRun, Charge, Event, Invoice, Subscription
from billing.services.billing_cycle import billing_cycle_plan

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]
RENEWAL_EVENTS = (
    "customer.subscription.updated",
    "invoice.created",
    "invoice.finalized",
    "charge.succeeded",
    "invoice.paid",
    "invoice.payment_succeeded",
)


@pytest.fixture
def cycle_queue(settings):
    if not os.environ.get("REDIS_URL") or connection.vendor != "postgresql":
        pytest.skip("needs REDIS_URL and PostgreSQL (run through .ci/run)")
    queue = f"test-cycle-{uuid.uuid4().hex[:12]}"
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.BILLING_QUEUE = queue
    settings.WEBHOOK_QUEUE = f"{queue}-webhooks"
    yield queue
    bench.forget_queues(os.environ["REDIS_URL"], queue)


def _due(n: int) -> list[str]:
    account, _secret, price = serving.bench_merchant(Actor.system("test"))
    return bench.due_subscriptions(account, price, n, timezone.now())


def _renewals(ids):
    return Invoice.objects.filter(subscription_id__in=ids, billing_reason="subscription_cycle")


def _counts(ids) -> list[int]:
    renewals = _renewals(ids)
    return [
        renewals.count(),
        Charge.objects.filter(invoice__in=renewals).count(),
        Event.objects.filter(type__in=RENEWAL_EVENTS).count(),
    ]


def test_two_workers_share_one_pass_and_renew_each_subscription_once(settings, cycle_queue):
    settings.BILLING_CYCLE_BATCH_SIZE = 25
    ids = _due(300)
    workers = bench.start_workers(2, queue=cycle_queue, database_url=serving.database_url())
    try:
        planned = billing_cycle_plan()
        assert planned["planned"] and planned["batches"] == 12
        bench.wait_for_pass(planned["run"], workers, limit=120)
        after_first = _counts(ids)
        again = billing_cycle_plan()  # the same moment, give or take: nothing is due any more
        bench.wait_for_pass(again["run"], workers, limit=60)
        tasks = bench.tasks_run(workers)
    finally:
        bench.stop_workers(workers)
    renewals = _renewals(ids)
    assert after_first == [300, 300, 300 * len(RENEWAL_EVENTS)]
    assert _counts(ids) == after_first and again["batches"] == 0
    assert set(renewals.values_list("status", flat=True)) == {"paid"}
    assert renewals.values("subscription_id").distinct().count() == 300
    assert len(set(renewals.values_list("number", flat=True))) == 300
    assert not Subscription.objects.filter(pk__in=ids, next_action_at__lte=timezone.now()).exists()
    run = BillingCycleRun.objects.get(pk=planned["run"])
    assert (run.batches_done, run.subscriptions, run.steps, run.errors) == (12, 300, 300, 0)
    # Both workers took batches.
    per_worker = [tasks[worker.name].get("billing.tasks.renew_batch", 0) for worker in workers]
    assert sum(per_worker) == 12 and min(per_worker) >= 1, tasks


def test_a_worker_killed_in_the_middle_of_a_batch_leaves_the_rest_to_the_next_pass(settings, cycle_queue):
    settings.BILLING_CYCLE_BATCH_SIZE = 50
    settings.BILLING_CYCLE_RUN_TIMEOUT_SECONDS = 20
    settings.BILLING_PAYMENT_PENDING_SECONDS = 1
    ids = _due(200)
    slow = {"BILLING_TEST_GATEWAY_LATENCY_MS": "40", "BILLING_PROCESSOR_CONCURRENCY": "2"}
    workers = bench.start_workers(2, queue=cycle_queue, database_url=serving.database_url(), env=slow)
    try:
        first = billing_cycle_plan()
        deadline = time.monotonic() + 60
        while _renewals(ids).count() < 20 and time.monotonic() < deadline:
            time.sleep(0.02)
        workers[0].send_signal(signal.SIGKILL)  # mid-batch: its message stays unacknowledged
        workers[0].wait(timeout=10)
        # The surviving worker takes the other batches; on a loaded machine the pass may expire first, and the
        # batches not yet started are then dropped (their tasks expire with it) and left to the next pass too.
        run = BillingCycleRun.objects.get(pk=first["run"])
        while run.batches_done < first["batches"] - 1 and timezone.now() < run.expires_at:
            time.sleep(0.05)
            run.refresh_from_db()
        time.sleep(max(0.0, (run.expires_at - timezone.now()).total_seconds()) + 0.5)  # the killed batch's pass expires
        second = billing_cycle_plan()
        assert second["planned"] and second["batches"] >= 1
        bench.wait_for_pass(second["run"], workers[1:], limit=120)
        time.sleep(settings.BILLING_PAYMENT_PENDING_SECONDS + 0.5)
        third = billing_cycle_plan()  # anything the killed worker left pending is sent again, same key
        bench.wait_for_pass(third["run"], workers[1:], limit=60)
    finally:
        bench.stop_workers(workers)
    renewals = _renewals(ids)
    assert renewals.count() == 200 and renewals.values("subscription_id").distinct().count() == 200
    assert set(renewals.values_list("status", flat=True)) == {"paid"}
    charges = Charge.objects.filter(invoice__in=renewals)
    assert charges.count() == 200 and set(charges.values_list("status", flat=True)) == {"succeeded"}
    assert not Subscription.objects.filter(
        pk__in=ids, next_action_at__lte=timezone.now() - dt.timedelta(minutes=1)
    ).exists()
