"""The outbox and retry sweeper (run by beat every minute) and the retention purge of old events."""

import datetime as dt
import time

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from billing import clock
from billing.models import Event
from webhooks import queue
from webhooks.models import Attempt, Delivery, WebhookEndpoint
from webhooks.services.attempts import BATCH_SIZE, enqueue_deliveries
from webhooks.services.fan_out import events_fan_out

SWEEP_BATCH = 5000
SWEEP_TIME_BUDGET_SECONDS = 45.0
PURGE_BATCH = 1000


def sweep(*, now: dt.datetime | None = None) -> dict:
    """The outbox and retry sweeper (every minute): fans out events whose fan-out was lost, queues due
    retries, deliveries whose task was lost and attempts whose lease ran out (as batch tasks), re-queues
    lost manual resends, drops expired secrets."""
    now = now or clock.now()
    deadline = time.monotonic() + SWEEP_TIME_BUDGET_SECONDS
    grace = dt.timedelta(seconds=settings.WEBHOOK_OUTBOX_GRACE_SECONDS)
    requeue_before = now - dt.timedelta(seconds=settings.WEBHOOK_REQUEUE_SECONDS)

    fanned_out = 0
    # An event recorded in a test clock's time (``simulated``) may be dated months ahead or behind: its ``created``
    # says nothing about how long its fan-out has been waiting, so it is taken at once (a fan-out still on its way
    # then finds it taken).
    stranded = Event.objects.filter(
        Q(created__lte=now - grace) | Q(simulated=True), fanned_out_at__isnull=True
    ).order_by("created")
    event_ids = list(stranded.values_list("pk", flat=True)[:SWEEP_BATCH])
    for start in range(0, len(event_ids), BATCH_SIZE):
        # Written due now and queued as batch tasks; an event fanned out meanwhile is skipped.
        events_fan_out(event_ids=event_ids[start : start + BATCH_SIZE], send=False)
        fanned_out += len(event_ids[start : start + BATCH_SIZE])
        if time.monotonic() > deadline:
            break

    with transaction.atomic():
        due = (
            Delivery.objects.due(now, enqueued_before=requeue_before)
            .select_for_update(skip_locked=True)
            .order_by("next_attempt_at")
            .values_list("pk", flat=True)[:SWEEP_BATCH]
        )
        delivery_ids = list(due)
        if delivery_ids:
            Delivery.objects.filter(pk__in=delivery_ids).update(enqueued_at=now)
            transaction.on_commit(lambda: enqueue_deliveries(delivery_ids))

    lost_resends = list(
        Attempt.objects.filter(
            manual=True,
            started_at__isnull=True,
            requested_at__lte=requeue_before,
            requested_at__gt=now - dt.timedelta(days=1),
        ).values_list("delivery_id", "pk")[:SWEEP_BATCH]
    )
    for delivery_id, attempt_id in lost_resends:
        queue.enqueue(queue.DELIVER, delivery_id, attempt_id)

    expired_secrets = WebhookEndpoint.objects.filter(previous_secret_expires_at__lte=now).update(
        previous_secret="", previous_secret_expires_at=None
    )
    return {
        "fanned_out": fanned_out,
        "enqueued": len(delivery_ids),
        "resends_requeued": len(lost_resends),
        "expired_secrets": expired_secrets,
    }


def events_purge(*, now: dt.datetime | None = None) -> int:
    """Deletes events older than ``WEBHOOK_EVENT_RETENTION_DAYS`` with their deliveries and attempts."""
    cutoff = (now or clock.now()) - dt.timedelta(days=settings.WEBHOOK_EVENT_RETENTION_DAYS)
    deleted = 0
    while True:
        event_ids = list(
            Event.objects.filter(
                # A test clock's event by when it was fanned out (real time), never by its clock's date.
                Q(simulated=False, created__lt=cutoff) | Q(simulated=True, fanned_out_at__lt=cutoff)
            )
            .order_by("created")
            .values_list("pk", flat=True)[:PURGE_BATCH]
        )
        if not event_ids:
            return deleted
        with transaction.atomic():
            Attempt.objects.filter(delivery__event_id__in=event_ids).delete()
            Delivery.objects.filter(event_id__in=event_ids).delete()
            Event.objects.filter(pk__in=event_ids).delete()
        deleted += len(event_ids)
