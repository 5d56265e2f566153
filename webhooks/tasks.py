"""Webhook Celery tasks: thin, idempotent wrappers around ``webhooks.services``.

All are ``acks_late``: a worker that dies mid-task leaves its message to be delivered again, and the
services make a second run harmless. Retries of deliveries are not Celery retries: the sweeper queues
them as batches when ``next_attempt_at`` falls due. A database error is retried a few times after short
pauses.
"""

from celery import shared_task
from django.db import DatabaseError

from webhooks import services

TRANSIENT = {"autoretry_for": (DatabaseError,), "retry_backoff": 2, "retry_backoff_max": 60, "max_retries": 5}


@shared_task(name="webhooks.tasks.fan_out_events", acks_late=True, ignore_result=True, **TRANSIENT)
def fan_out_events(event_ids: list[str]) -> int:
    """The events one committed transaction recorded (billing hands them over once per transaction): their
    deliveries are written and their first attempts sent."""
    return len(services.events_fan_out(event_ids=event_ids))


@shared_task(name="webhooks.tasks.fan_out_event", acks_late=True, ignore_result=True, **TRANSIENT)
def fan_out_event(event_id: str) -> int:
    """One event (messages queued before events were handed over per transaction)."""
    return len(services.events_fan_out(event_ids=[event_id]))


@shared_task(name="webhooks.tasks.deliver_batch", acks_late=True, ignore_result=True, **TRANSIENT)
def deliver_batch(delivery_ids: list[int]) -> int:
    """Due deliveries queued by the sweeper (retries, lost messages, expired leases), sent concurrently."""
    return services.deliveries_attempt(delivery_ids=delivery_ids)


@shared_task(name="webhooks.tasks.deliver", acks_late=True, ignore_result=True, **TRANSIENT)
def deliver(delivery_id: int, attempt_id: int | None = None) -> None:
    """One delivery: a manual resend (``attempt_id``), a test event, or a message queued before batches."""
    services.delivery_attempt(delivery_id=delivery_id, attempt_id=attempt_id)


@shared_task(name="webhooks.tasks.sweep", acks_late=True, ignore_result=True)
def sweep() -> dict:
    return services.sweep()


@shared_task(name="webhooks.tasks.purge_events", acks_late=True, ignore_result=True)
def purge_events() -> int:
    return services.events_purge()
