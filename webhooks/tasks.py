"""Webhook Celery tasks: thin, idempotent wrappers around ``webhooks.services``.

All are ``acks_late``: a worker that dies mid-task leaves its message to be delivered again, and the
services make a second run harmless. Retries of deliveries are not Celery retries: the sweeper queues
them when ``next_attempt_at`` falls due. A database error is retried a few times after short pauses.
"""

from celery import shared_task
from django.db import DatabaseError

from webhooks import services

TRANSIENT = {"autoretry_for": (DatabaseError,), "retry_backoff": 2, "retry_backoff_max": 60, "max_retries": 5}


@shared_task(name="webhooks.tasks.fan_out_events", acks_late=True, ignore_result=True, **TRANSIENT)
def fan_out_events(event_ids: list[str]) -> int:
    """The events one committed transaction recorded (billing hands them over once per transaction)."""
    return sum(len(services.event_fan_out(event_id=event_id)) for event_id in event_ids)


@shared_task(name="webhooks.tasks.fan_out_event", acks_late=True, ignore_result=True, **TRANSIENT)
def fan_out_event(event_id: str) -> int:
    """One event (messages queued before events were handed over per transaction)."""
    return len(services.event_fan_out(event_id=event_id))


@shared_task(name="webhooks.tasks.deliver", acks_late=True, ignore_result=True, **TRANSIENT)
def deliver(delivery_id: int, attempt_id: int | None = None) -> None:
    services.delivery_attempt(delivery_id=delivery_id, attempt_id=attempt_id)


@shared_task(name="webhooks.tasks.sweep", acks_late=True, ignore_result=True)
def sweep() -> dict:
    return services.sweep()


@shared_task(name="webhooks.tasks.purge_events", acks_late=True, ignore_result=True)
def purge_events() -> int:
    return services.events_purge()
