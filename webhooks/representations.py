"""Stripe JSON for events (the webhook body and ``/v1/events``) and webhook endpoints."""

import copy
import json

from billing import api_versions, clock
from billing.models import Event
from webhooks.models import Delivery, WebhookEndpoint


def pending_webhooks(event: Event) -> int:
    return Delivery.objects.filter(event_id=event.pk, status=Delivery.Status.PENDING).count()


def event(obj: Event, *, pending: int | None = None, api_version: str = "") -> dict:
    """Stripe's event envelope; empty request fields become null, ``previous_attributes`` only if present. With
    ``api_version`` (a webhook endpoint's), the event says it was rendered in it; the caller adds that version's
    fields (``billing.api_versions.render_in``)."""
    data = {"object": obj.data_object}
    if obj.previous_attributes is not None:
        data["previous_attributes"] = obj.previous_attributes
    return {
        "id": obj.id,
        "object": "event",
        "api_version": api_version or obj.api_version or None,
        "created": clock.to_unix(obj.created),
        "data": data,
        "livemode": obj.livemode,
        "pending_webhooks": pending_webhooks(obj) if pending is None else pending,
        "request": {"id": obj.request_id or None, "idempotency_key": obj.idempotency_key or None},
        "type": obj.type,
    }


def event_body(obj: Event, *, pending: int | None = None, api_version: str = "") -> bytes:
    """The exact bytes POSTed (and signed) for one attempt."""
    return envelope_body(event(obj, pending=pending, api_version=api_version))


def envelope_body(envelope: dict) -> bytes:
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def event_bodies_in_versions(jobs: list[tuple[Event, int, str]]) -> list[bytes]:
    """The bodies of several attempts ``(event, pending, endpoint api_version)``, each event rendered in its
    endpoint's API version (Stripe's rule), with one query for every version difference of them all."""
    envelopes = [event(obj, pending=pending, api_version=version) for obj, pending, version in jobs]
    by_version: dict[tuple[str, str, bool], list[dict]] = {}
    for (obj, _, version), envelope in zip(jobs, envelopes, strict=True):
        if api_versions.differs_from_current(version):
            # A copy: the stored event object is shared by the attempts to every endpoint.
            envelope["data"] = copy.deepcopy(envelope["data"])
            by_version.setdefault((version, obj.account_id, obj.livemode), []).append(envelope["data"])
    for (version, account_id, livemode), data in by_version.items():
        api_versions.render_in(data, version, account_id=account_id, livemode=livemode)
    return [envelope_body(envelope) for envelope in envelopes]


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
