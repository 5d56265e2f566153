"""Webhook tasks. The fan-out creates deliveries for subscribed endpoints (endpoints arrive with the
webhooks feature); until then it marks the event as taken so the outbox stays empty."""

from celery import shared_task
from django.db import transaction

from billing import clock
from billing.models import Event


@shared_task(name="webhooks.tasks.fan_out_event", acks_late=True, ignore_result=True)
def fan_out_event(event_id: str) -> None:
    with transaction.atomic():
        Event.objects.filter(pk=event_id, fanned_out_at__isnull=True).update(fanned_out_at=clock.now())
