"""Records Stripe-shaped events inside the caller's transaction and hands them to webhooks on commit.

billing never imports webhooks: the fan-out task is enqueued by name. If the enqueue is lost, the
webhooks sweeper finds the event by its empty ``fanned_out_at`` (a transactional outbox).
"""

from celery import current_app
from django.conf import settings
from django.db import transaction

from billing import context
from billing.models import Event

FAN_OUT_TASK = "webhooks.tasks.fan_out_event"
API_VERSION = "2026-06-24.dahlia"


def changed_attributes(before: dict, after: dict) -> dict:
    """Stripe's ``previous_attributes``: the old values of top-level keys that changed."""
    return {key: before.get(key) for key in after if before.get(key) != after.get(key)}


def record(*, type: str, obj, data: dict, previous_attributes: dict | None = None) -> Event:
    request = context.current()
    event = Event.objects.create(
        account_id=obj.account_id,
        livemode=obj.livemode,
        type=type,
        api_version=API_VERSION,
        data_object=data,
        previous_attributes=previous_attributes,
        request_id=request.request_id,
        idempotency_key=request.idempotency_key,
    )
    transaction.on_commit(lambda: enqueue_fan_out(event.id))
    return event


def enqueue_fan_out(event_id: str) -> None:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        # Outside a worker Celery has not imported the apps' task modules yet (autodiscovery is lazy).
        if FAN_OUT_TASK not in current_app.tasks:
            current_app.loader.import_default_modules()
        task = current_app.tasks.get(FAN_OUT_TASK)
        if task is not None:
            task.apply(args=[event_id])
        return
    current_app.send_task(FAN_OUT_TASK, args=[event_id])
