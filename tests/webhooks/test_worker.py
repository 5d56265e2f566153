"""Webhooks on a real Celery worker over Redis against PostgreSQL: retries arrive, healthy deliveries
arrive exactly once, a worker killed mid-batch loses nothing (acks_late + the sweeper), and a worker keeps
its database connection across tasks but never a broken one.

Needs REDIS_URL and a PostgreSQL DATABASE_URL (CI sets both). Locally:
``DATABASE_URL=postgres://postgres@127.0.0.1:5432/billing_webhooks_check REDIS_URL=redis://127.0.0.1:6379/0``.
"""

import collections
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from celery import current_app
from django.conf import settings
from django.db import connection, transaction

from billing.audit import Actor
from billing.models import Event
from billing.services.customers import customer_update
from tests.factories.billing import AccountFactory, CustomerFactory
from tests.webhooks.receiver import Receiver
from webhooks import services
from webhooks.models import Attempt, Delivery

from .conftest import make_endpoint

ROOT = Path(__file__).resolve().parents[2]
ACTOR = Actor.system("test")

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def _database_url() -> str:
    db = connection.settings_dict
    return (
        f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    )


class Worker:
    """A ``celery worker`` subprocess (one process, solo pool) consuming only ``queue``."""

    def __init__(self, queue: str):
        env = {
            **os.environ,
            "DATABASE_URL": _database_url(),
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "SECRET_KEY": settings.SECRET_KEY,
            "DEBUG": "0",
            "WEBHOOK_QUEUE": queue,
            "WEBHOOK_ALLOW_PRIVATE_TARGETS": "1",
            "WEBHOOK_RETRY_DELAYS_TEST": "1,1",  # three tries, a second apart
            "WEBHOOK_LEASE_SECONDS": "2",  # an attempt cut short is retried after 2 s
            "WEBHOOK_TIMEOUT_SECONDS": "1",  # (the lease must outlast the timeout)
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queue, "--pool", "solo", "-l", "warning"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.terminate()
        output, _ = self.process.communicate(timeout=30)
        return output or ""


@pytest.fixture
def worker_queue(settings):
    if not os.environ.get("REDIS_URL") or connection.vendor != "postgresql":
        pytest.skip("needs REDIS_URL and PostgreSQL (run through .ci/run)")
    queue = f"test-webhooks-{uuid.uuid4().hex}"
    settings.CELERY_TASK_ALWAYS_EAGER = False  # through Redis to the worker
    settings.WEBHOOK_QUEUE = queue  # the test process's enqueues (billing's fan-out, the sweeper) go there
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    yield queue
    import redis

    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
    client.close()


@pytest.fixture
def workers(worker_queue):
    started: list[Worker] = []

    def start() -> Worker:
        started.append(Worker(worker_queue))
        return started[-1]

    yield start
    for worker in started:
        worker.stop()


def emit_events(account, n: int) -> list[str]:
    """``n`` customer.updated events, each committed (and its fan-out enqueued) by the billing service."""
    customers = [CustomerFactory(account=account) for _ in range(n)]
    for customer in customers:
        customer_update(customer=customer, actor=ACTOR, name=f"{customer.name} renamed")
    return list(Event.objects.filter(account=account, type="customer.updated").values_list("pk", flat=True))


def wait_for(condition, *, timeout: float, sweep_every: float | None = None, worker: Worker | None = None) -> bool:
    deadline = time.monotonic() + timeout
    last_sweep = 0.0
    while time.monotonic() < deadline:
        if condition():
            return True
        if worker is not None and worker.process.poll() is not None:
            raise AssertionError(f"the worker died: {worker.stop()}")
        if sweep_every is not None and time.monotonic() - last_sweep >= sweep_every:
            services.sweep()  # what the beat does every minute
            last_sweep = time.monotonic()
        time.sleep(0.1)
    return condition()


def test_failing_twice_then_succeeding_every_event_arrives(workers):
    with Receiver(lambda request, nth: 500 if nth <= 2 else 200) as receiver:
        account = AccountFactory()
        make_endpoint(account, receiver.url)
        worker = workers()
        event_ids = emit_events(account, 5)

        def all_succeeded() -> bool:
            return Delivery.objects.filter(status=Delivery.Status.SUCCEEDED).count() == len(event_ids)

        assert wait_for(all_succeeded, timeout=40, sweep_every=0.5, worker=worker), worker.stop()
        arrivals = collections.Counter(receiver.event_ids())
    assert set(arrivals) == set(event_ids)
    assert all(count == 3 for count in arrivals.values()), arrivals
    assert set(Delivery.objects.values_list("attempts", flat=True)) == {3}


def test_healthy_receiver_gets_each_event_exactly_once(workers):
    with Receiver() as receiver:
        account = AccountFactory()
        make_endpoint(account, receiver.url)
        worker = workers()
        event_ids = emit_events(account, 20)
        assert wait_for(lambda: len(receiver.requests) >= len(event_ids), timeout=30, worker=worker), worker.stop()
        for _ in range(3):
            services.sweep()
        time.sleep(1.0)  # anything wrongly queued again would arrive now
        arrivals = collections.Counter(receiver.event_ids())
    assert sorted(arrivals) == sorted(event_ids)
    assert set(arrivals.values()) == {1}
    assert Delivery.objects.filter(status=Delivery.Status.SUCCEEDED).count() == len(event_ids)


def test_a_worker_killed_mid_batch_loses_nothing(workers, settings):
    """One transaction's 40 events are one fan-out: the worker dies while it sends them concurrently. The leases
    of what it had not recorded run out and the sweeper queues those again for the next worker."""
    settings.WEBHOOK_REQUEUE_SECONDS = 3
    settings.WEBHOOK_OUTBOX_GRACE_SECONDS = 3

    def slow(request, nth):
        time.sleep(0.1)
        return 200

    with Receiver(slow) as receiver:
        account = AccountFactory()
        make_endpoint(account, receiver.url)
        customers = [CustomerFactory(account=account) for _ in range(40)]
        first = workers()
        with transaction.atomic():  # billing hands the 40 events over in one message on commit
            for customer in customers:
                customer_update(customer=customer, actor=ACTOR, name=f"{customer.name} renamed")
        event_ids = set(Event.objects.filter(type="customer.updated").values_list("pk", flat=True))
        assert wait_for(lambda: len(receiver.requests) >= 8, timeout=30, worker=first), first.stop()
        first.kill()
        time.sleep(0.3)  # requests the worker had written before it died still reach the receiver
        received_before_kill = set(receiver.event_ids())
        assert len(received_before_kill) < len(event_ids), "the batch finished before the kill: slow the receiver"
        recorded_before_kill = set(Attempt.objects.values_list("delivery__event_id", flat=True))

        second = workers()

        def all_succeeded() -> bool:
            return Delivery.objects.filter(status=Delivery.Status.SUCCEEDED).count() == len(event_ids)

        assert wait_for(all_succeeded, timeout=40, sweep_every=1.0, worker=second), second.stop()
        arrivals = collections.Counter(receiver.event_ids())
    assert set(arrivals) == event_ids
    # At least once: only what the dead worker had sent but not recorded may arrive twice, nothing more than twice.
    assert {
        event_id for event_id, count in arrivals.items() if count > 1
    } <= received_before_kill - recorded_before_kill
    assert max(arrivals.values()) <= 2
    assert Attempt.objects.filter(succeeded=True).count() == len(event_ids)


def other_backends() -> set[int]:
    """The server processes of the other connections to the test database."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return {pid for (pid,) in cursor.fetchall()}


def test_the_worker_keeps_its_database_connection_and_replaces_a_broken_one(workers):
    earlier = other_backends()  # left by earlier tests (live servers), ending in their own time

    def worker_backends() -> set[int]:
        return other_backends() - earlier

    with Receiver() as receiver:
        account = AccountFactory()
        make_endpoint(account, receiver.url)
        worker = workers()
        emit_events(account, 5)
        assert wait_for(lambda: len(receiver.requests) >= 5, timeout=30, worker=worker), worker.stop()
        backends = worker_backends()
        assert len(backends) == 1  # one connection, still open after its tasks
        (first,) = backends

        emit_events(account, 5)
        assert wait_for(lambda: len(receiver.requests) >= 10, timeout=30, worker=worker), worker.stop()
        assert worker_backends() == backends  # and the same one served the next tasks

        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [first])
        # The beat's sweeper is the first task on the dead connection: its query fails outside any transaction.
        current_app.send_task("webhooks.tasks.sweep", queue=settings.WEBHOOK_QUEUE)
        event_ids = emit_events(account, 5)
        assert wait_for(lambda: len(receiver.requests) >= 15, timeout=30, worker=worker), worker.stop()
        assert len(worker_backends()) == 1 and first not in worker_backends()
    assert set(receiver.event_ids()) == set(event_ids)
