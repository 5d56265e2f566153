"""Stripe JSON for events (the webhook body and ``/v1/events``) and webhook endpoints."""

import json

from billing import clock
from billing.models import Event
from webhooks.models import Delivery, WebhookEndpoint


def pending_webhooks(event: Event) -> int:
    return Delivery.objects.filter(event_id=event.pk, status=Delivery.Status.PENDING).count()


def event(obj: Event, *, pending: int | None = None) -> dict:
    """Stripe's event envelope; empty request fields become null, ``previous_attributes`` only if present."""
    data = {"object": obj.data_object}
    if obj.previous_attributes is not None:
        data["previous_attributes"] = obj.previous_attributes
    return {
        "id": obj.id,
        "object": "event",
        "api_version": obj.api_version or None,
        "created": clock.to_unix(obj.created),
        "data": data,
        "livemode": obj.livemode,
        "pending_webhooks": pending_webhooks(obj) if pending is None else pending,
        "request": {"id": obj.request_id or None, "idempotency_key": obj.idempotency_key or None},
        "type": obj.type,
    }


def event_body(obj: Event, *, pending: int | None = None) -> bytes:
    """The exact bytes POSTed (and signed) for one attempt."""
    return json.dumps(event(obj, pending=pending), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def webhook_endpoint(obj: WebhookEndpoint, *, with_secret: bool = False) -> dict:
    """Stripe's ``webhook_endpoint``; the secret only in the answer to create (and to a secret roll)."""
    data = {
        "id": obj.id,
        "object": "webhook_endpoint",
        "api_version": obj.api_version or None,
        "application": None,
        "created": clock.to_unix(obj.created),
        "description": obj.description or None,
        "enabled_events": list(obj.enabled_events),
        "livemode": obj.livemode,
        "metadata": dict(obj.metadata or {}),
        "status": obj.status,
        "url": obj.url,
    }
    if with_secret:
        data["secret"] = obj.secret
    return data


def webhook_endpoint_deleted(endpoint_id: str) -> dict:
    return {"id": endpoint_id, "object": "webhook_endpoint", "deleted": True}
