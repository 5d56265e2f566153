"""The sweeper (transactional outbox and retries), crash recovery, expired secrets, event retention and
the Celery wiring (beat entries, queue routing)."""

import datetime as dt

import pytest
import time_machine
from celery import current_app
from django.conf import settings
from django.utils import timezone

from billing import events as billing_events
from billing.models import Event
from webhooks import queue, sending, services
from webhooks.models import Attempt, Delivery
from webhooks.services import webhook_endpoint_roll_secret

from .conftest import ACTOR


def test_an_event_whose_fan_out_was_lost_is_sent_by_the_sweeper(
    endpoint, customer, receiver, change_customer, run_sweep, monkeypatch
):
    """A crash between commit and enqueue: the event row is the outbox."""
    monkeypatch.setattr(billing_events, "enqueue_fan_out", lambda event_id: None)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        change_customer(customer)
        run_sweep()  # too young: its own fan-out may still be on the way
    assert receiver.requests == []
    event = Event.objects.get(type="customer.updated")
    assert event.fanned_out_at is None

    with time_machine.travel(start + dt.timedelta(minutes=2), tick=False):
        assert run_sweep()["fanned_out"] == 1
    assert [r.event_id for r in receiver.requests] == [event.id]
    event.refresh_from_db()
    assert event.fanned_out_at is not None
    assert Delivery.objects.get().status == Delivery.Status.SUCCEEDED


def test_a_delivery_whose_batch_task_was_lost_is_queued_again(
    endpoint, customer, receiver, change_customer, run_sweep, monkeypatch
):
    """The broker loses the hand-off, then the batch task the sweeper queued for the delivery."""
    monkeypatch.setattr(billing_events, "enqueue_fan_out", lambda event_ids: None)
    real_enqueue = queue.enqueue
    monkeypatch.setattr(
        queue, "enqueue", lambda name, *args: None if name == queue.DELIVER_BATCH else real_enqueue(name, *args)
    )
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        change_customer(customer)
    swept = start + dt.timedelta(seconds=settings.WEBHOOK_OUTBOX_GRACE_SECONDS)
    with time_machine.travel(swept, tick=False):
        assert run_sweep()["fanned_out"] == 1
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.PENDING and delivery.attempts == 0
    monkeypatch.undo()
    assert receiver.requests == []

    requeue = dt.timedelta(seconds=settings.WEBHOOK_REQUEUE_SECONDS)
    with time_machine.travel(swept + requeue - dt.timedelta(seconds=1), tick=False):
        assert run_sweep()["enqueued"] == 0  # queued recently: maybe still waiting in a long queue
    with time_machine.travel(swept + requeue, tick=False):
        assert run_sweep()["enqueued"] == 1
    assert len(receiver.requests) == 1
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SUCCEEDED and delivery.attempts == 1


def test_by_default_what_the_broker_lost_goes_out_with_the_next_minutes_sweep(
    endpoint, customer, receiver, change_customer, run_sweep, monkeypatch
):
    """Billing's hand-off is lost, then the batch message of the sweep that made good for it: each loss is
    repaired by the beat's next sweep, a minute later, not ten."""
    monkeypatch.setattr(billing_events, "enqueue_fan_out", lambda event_ids: None)
    real_enqueue = queue.enqueue
    monkeypatch.setattr(
        queue, "enqueue", lambda name, *args: None if name == queue.DELIVER_BATCH else real_enqueue(name, *args)
    )
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        change_customer(customer)
    with time_machine.travel(start + dt.timedelta(minutes=1), tick=False):
        assert run_sweep()["fanned_out"] == 1
    monkeypatch.undo()
    with time_machine.travel(start + dt.timedelta(minutes=2), tick=False):
        assert run_sweep()["enqueued"] == 1
    assert len(receiver.requests) == 1
    assert Delivery.objects.get().status == Delivery.Status.SUCCEEDED


def test_an_attempt_cut_short_by_a_dying_worker_is_sent_again_after_its_lease(
    endpoint, customer, receiver, change_customer, run_sweep, monkeypatch
):
    def die(*args, **kwargs):
        raise SystemExit("worker killed while sending")

    monkeypatch.setattr(sending, "post", die)
    start = timezone.now()
    with time_machine.travel(start, tick=False), pytest.raises(SystemExit):
        change_customer(customer)
    monkeypatch.undo()
    delivery = Delivery.objects.get()
    assert delivery.attempts == 1 and not Attempt.objects.exists()  # claimed, never recorded

    with time_machine.travel(start + dt.timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS - 1), tick=False):
        run_sweep()  # still leased to the (dead) worker
    assert receiver.requests == []
    with time_machine.travel(start + dt.timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS + 1), tick=False):
        run_sweep()
    delivery.refresh_from_db()
    assert len(receiver.requests) == 1 and delivery.status == Delivery.Status.SUCCEEDED


def test_a_queued_manual_resend_that_was_lost_is_queued_again(
    endpoint, customer, receiver, change_customer, run_sweep, monkeypatch
):
    change_customer(customer)
    monkeypatch.setattr(queue, "enqueue", lambda *args: None)
    services.delivery_resend(delivery=Delivery.objects.get(), actor=ACTOR)
    monkeypatch.undo()
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=settings.WEBHOOK_REQUEUE_SECONDS + 1)):
        assert run_sweep()["resends_requeued"] == 1
    assert len(receiver.requests) == 2
    assert Attempt.objects.get(manual=True).succeeded


def test_expired_rolled_secrets_are_forgotten(endpoint, run_sweep):
    endpoint = webhook_endpoint_roll_secret(endpoint=endpoint, expires_in_hours=1, actor=ACTOR)
    run_sweep()
    endpoint.refresh_from_db()
    assert endpoint.previous_secret
    with time_machine.travel(timezone.now() + dt.timedelta(hours=2)):
        assert run_sweep()["expired_secrets"] == 1
    endpoint.refresh_from_db()
    assert endpoint.previous_secret == "" and endpoint.previous_secret_expires_at is None


def test_events_older_than_thirty_days_are_deleted_with_their_deliveries(endpoint, customer, receiver, change_customer):
    now = timezone.now()
    with time_machine.travel(now - dt.timedelta(days=31), tick=False):
        change_customer(customer)
    with time_machine.travel(now - dt.timedelta(days=29), tick=False):
        change_customer(customer)
    old, recent = Event.objects.filter(type="customer.updated").order_by("created")
    assert Delivery.objects.count() == 2 and Attempt.objects.count() == 2

    assert services.events_purge(now=now) >= 1
    assert not Event.objects.filter(pk=old.pk).exists()
    assert Event.objects.filter(pk=recent.pk).exists()
    assert list(Delivery.objects.values_list("event_id", flat=True)) == [recent.pk]
    assert Attempt.objects.count() == 1


def test_the_beat_runs_the_sweeper_every_minute_and_the_purge_hourly():
    sweep = settings.CELERY_BEAT_SCHEDULE["webhooks-sweep"]
    purge = settings.CELERY_BEAT_SCHEDULE["webhooks-purge-events"]
    assert sweep == {"task": "webhooks.tasks.sweep", "schedule": 60.0}
    assert purge["task"] == "webhooks.tasks.purge_events"
    for name in (
        sweep["task"],
        purge["task"],
        queue.FAN_OUT,
        queue.DELIVER_BATCH,
        queue.DELIVER,
        "webhooks.tasks.fan_out_event",
    ):
        assert name in current_app.tasks


def test_webhook_tasks_are_routed_to_the_webhook_queue(settings):
    settings.WEBHOOK_QUEUE = "webhooks-test"
    route = current_app.amqp.router.route({}, billing_events.FAN_OUT_TASK)
    assert route["queue"].name == "webhooks-test"
    assert current_app.amqp.router.route({}, "billing.tasks.run_billing_cycle")["queue"].name != "webhooks-test"


def test_an_event_in_a_test_clocks_time_is_swept_at_once_and_kept_by_the_purge(
    endpoint, customer, receiver, change_customer, run_sweep, monkeypatch
):
    """Dated months ahead (a test clock's time), an event whose fan-out was lost still goes out with the next sweep,
    and the retention purge goes by when it was fanned out, not by its clock's date."""
    from billing import clock

    monkeypatch.setattr(billing_events, "enqueue_fan_out", lambda event_ids: None)
    with clock.simulated_at(timezone.now() + dt.timedelta(days=90)):
        change_customer(customer)
    event = Event.objects.get(type="customer.updated")
    assert event.simulated and event.fanned_out_at is None
    assert run_sweep()["fanned_out"] == 1
    assert [r.event_id for r in receiver.requests] == [event.id]

    with clock.simulated_at(timezone.now() - dt.timedelta(days=400)):
        change_customer(customer)
    old = Event.objects.filter(type="customer.updated").order_by("created").first()
    assert old.simulated
    run_sweep()
    assert services.events_purge() == 0
    assert Event.objects.filter(pk=old.pk).exists()
