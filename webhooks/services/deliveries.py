"""Webhook delivery services: the fan-out of events to endpoints, delivery attempts and manual resends.

Delivery protocol. A delivery is due when it is ``pending`` and ``next_attempt_at <= now``. The task
that wants to send it first *claims* it with one conditional UPDATE (count the attempt, push
``next_attempt_at`` one lease ahead); only the claimer sends, so duplicate task messages and parallel
workers never send the same attempt twice. The result is recorded in a second transaction that
schedules the retry by setting ``next_attempt_at``. Retries are put on the queue by the sweeper when
they fall due (no long Celery countdowns); a worker that dies mid-attempt leaves a claim whose lease
runs out, and the sweeper queues the delivery again, so nothing is lost.
"""

import datetime as dt

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce

from billing import audit, clock
from billing.audit import Actor
from billing.exceptions import NotFound, StateConflict
from billing.models import Event
from webhooks import queue, representations, sending, signing
from webhooks.models import DISABLE_AFTER_FAILING_FOR, Attempt, Delivery, WebhookEndpoint
from webhooks.services.endpoints import disable_automatically


def event_fan_out(*, event_id: str) -> list[int]:
    """One delivery per enabled endpoint of the event's account and mode that subscribes to its type.

    Idempotent: the first call marks ``fanned_out_at`` (a conditional UPDATE, so concurrent calls
    serialise on the row) and later calls do nothing. Returns the ids of the deliveries it queued."""
    now = clock.now()
    with transaction.atomic():
        if not Event.objects.filter(pk=event_id, fanned_out_at__isnull=True).update(fanned_out_at=now):
            return []
        event = Event.objects.only("id", "account_id", "livemode", "type").get(pk=event_id)
        endpoints = [
            endpoint
            for endpoint in WebhookEndpoint.objects.filter(
                account_id=event.account_id, livemode=event.livemode, status=WebhookEndpoint.Status.ENABLED
            ).only("id", "enabled_events")
            if endpoint.subscribes_to(event.type)
        ]
        if not endpoints:
            return []
        # No conflicts are possible: only the call that set fanned_out_at gets here (the unique
        # constraint on (event, endpoint) is the backstop), so the inserted ids come back directly.
        created = Delivery.objects.bulk_create(
            [
                Delivery(
                    account_id=event.account_id,
                    livemode=event.livemode,
                    created=now,
                    event_id=event.pk,
                    endpoint_id=endpoint.pk,
                    next_attempt_at=now,
                    enqueued_at=now,
                )
                for endpoint in endpoints
            ]
        )
        delivery_ids = [delivery.pk for delivery in created]
        transaction.on_commit(lambda: enqueue_deliveries(delivery_ids))
    return delivery_ids


def enqueue_deliveries(delivery_ids: list[int]) -> None:
    for delivery_id in delivery_ids:
        queue.enqueue(queue.DELIVER, delivery_id)


def _claim(delivery_id: int, now: dt.datetime) -> bool:
    lease = dt.timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS)
    return bool(
        Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.PENDING, next_attempt_at__lte=now).update(
            attempts=F("attempts") + 1,
            next_attempt_at=now + lease,
            enqueued_at=None,  # the message is taken; if this worker dies, the sweeper re-queues after the lease
            last_attempt_at=now,
            first_attempt_at=Coalesce("first_attempt_at", Value(now, output_field=models.DateTimeField())),
        )
    )


def delivery_attempt(*, delivery_id: int, attempt_id: int | None = None) -> Attempt | None:
    """Send one attempt: the automatic one that is due, or the queued manual resend ``attempt_id``.

    Returns the recorded attempt, or None when there was nothing to do (not due, already sent,
    claimed by another worker, deleted)."""
    now = clock.now()
    if attempt_id is None:
        if not _claim(delivery_id, now):
            return None
    elif not Attempt.objects.filter(pk=attempt_id, delivery_id=delivery_id, started_at__isnull=True).update(
        started_at=now
    ):
        return None
    delivery = Delivery.objects.select_related("event", "endpoint").filter(pk=delivery_id).first()
    if delivery is None:
        return None
    endpoint = delivery.endpoint
    if not endpoint.is_enabled:
        outcome = sending.Outcome(None, "", "Not sent: the endpoint is disabled.", 0)
        return _record(delivery, attempt_id, outcome, started=now, abandon=True)
    # Serialised once; exactly these bytes are signed and sent. A new timestamp and signature per attempt.
    body = representations.event_body(delivery.event)
    sent_at = clock.now()
    headers = signing.signature_headers(
        body,
        endpoint.signing_secrets(sent_at),
        message_id=delivery.event_id,
        timestamp=int(sent_at.timestamp()),
    )
    outcome = sending.post(endpoint.url, body, headers, livemode=endpoint.livemode)
    return _record(delivery, attempt_id, outcome, started=now)


def _record(
    delivery: Delivery,
    attempt_id: int | None,
    outcome: sending.Outcome,
    *,
    started: dt.datetime,
    abandon: bool = False,
) -> Attempt | None:
    """Store the outcome of an attempt of ``delivery`` (as loaded right after its claim) and schedule
    the next one. Conditional updates, no row lock: a concurrent disable, resend or newer claim wins."""
    finished = clock.now()
    result = {
        "response_status": outcome.status,
        "response_body": outcome.body,
        "error": outcome.error,
        "duration_ms": outcome.duration_ms,
        "succeeded": outcome.succeeded,
    }
    last = {
        "last_attempt_at": started,
        "last_response_status": outcome.status,
        "last_response_body": outcome.body,
        "last_error": outcome.error,
        "duration_ms": outcome.duration_ms,
    }
    pending = Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.PENDING)
    try:
        with transaction.atomic():
            if attempt_id is None:
                attempt = Attempt.objects.create(
                    delivery_id=delivery.pk, requested_at=started, started_at=started, **result
                )
            else:
                Attempt.objects.filter(pk=attempt_id).update(**result)
                attempt = Attempt.objects.get(pk=attempt_id)
            if outcome.succeeded:
                Delivery.objects.filter(pk=delivery.pk).update(
                    **last,
                    status=Delivery.Status.SUCCEEDED,
                    next_attempt_at=None,
                    enqueued_at=None,
                    delivered_at=Coalesce("delivered_at", Value(finished, output_field=models.DateTimeField())),
                )
            elif abandon:
                if not pending.update(**last, status=Delivery.Status.ABANDONED, next_attempt_at=None, enqueued_at=None):
                    Delivery.objects.filter(pk=delivery.pk).update(**last)
            elif attempt_id is None:
                retry_at = delivery.next_retry_at(finished)
                status = Delivery.Status.PENDING if retry_at else Delivery.Status.FAILED
                # Only while this attempt is still the latest claim (its lease may have run out).
                if not pending.filter(attempts=delivery.attempts).update(
                    **last, status=status, next_attempt_at=retry_at, enqueued_at=None
                ):
                    Delivery.objects.filter(pk=delivery.pk).update(**last)
            else:
                Delivery.objects.filter(pk=delivery.pk).update(**last)
            if not abandon:
                _update_endpoint_health(delivery.endpoint, outcome, finished)
    except (IntegrityError, Attempt.DoesNotExist):
        if Delivery.objects.filter(pk=delivery.pk).exists():
            raise
        return None  # the endpoint (and with it the delivery) was deleted meanwhile
    return attempt


def _update_endpoint_health(endpoint: WebhookEndpoint, outcome: sending.Outcome, now: dt.datetime) -> None:
    """Track the current run of failures (``failing_since``); disable on 410 or after three days of it."""
    endpoints = WebhookEndpoint.objects.filter(pk=endpoint.pk)
    if outcome.succeeded:
        if endpoint.failing_since is not None:
            endpoints.filter(failing_since__isnull=False).update(failing_since=None)
        return
    if endpoint.failing_since is None:
        endpoints.filter(failing_since__isnull=True).update(failing_since=now)
    if outcome.status == 410:
        disable_automatically(endpoint.pk, WebhookEndpoint.DisabledReason.GONE, outcome.error)
    elif endpoint.failing_since is not None and endpoint.failing_since <= now - DISABLE_AFTER_FAILING_FOR:
        disable_automatically(endpoint.pk, WebhookEndpoint.DisabledReason.FAILING, outcome.error)


def delivery_resend(*, delivery: Delivery, actor: Actor) -> Attempt:
    """Queue one more attempt now, whatever the delivery's status (a success marks it succeeded)."""
    with transaction.atomic():
        try:
            delivery = Delivery.objects.select_for_update(no_key=True).select_related("endpoint").get(pk=delivery.pk)
        except Delivery.DoesNotExist:
            raise NotFound(f"No such webhook delivery: '{delivery.pk}'", param="id")
        if not delivery.endpoint.is_enabled:
            raise StateConflict(
                "This webhook endpoint is disabled; enable it before resending events to it.", param="endpoint"
            )
        attempt = Attempt.objects.create(delivery=delivery, manual=True, requested_at=clock.now())
        audit.record(
            actor, "webhook_delivery.resend", delivery, {"event": delivery.event_id, "endpoint": delivery.endpoint_id}
        )
        transaction.on_commit(lambda: queue.enqueue(queue.DELIVER, delivery.pk, attempt.pk))
    return attempt
