"""Webhook services, the only writers of webhook rows, split by verb: endpoints (create, update, delete,
secrets, disabling, test events), deliveries (fan-out, attempts, resends) and the sweeper (outbox,
retries, retention). Callers import them from here."""

from webhooks.services.deliveries import delivery_attempt, delivery_resend, event_fan_out
from webhooks.services.endpoints import (
    DESCRIPTION_MAX_LENGTH,
    MAX_ENDPOINTS_PER_MODE,
    MAX_ROLL_EXPIRY_HOURS,
    URL_MAX_LENGTH,
    send_test_event,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_roll_secret,
    webhook_endpoint_update,
)
from webhooks.services.sweeper import events_purge, sweep

__all__ = [
    "DESCRIPTION_MAX_LENGTH",
    "MAX_ENDPOINTS_PER_MODE",
    "MAX_ROLL_EXPIRY_HOURS",
    "URL_MAX_LENGTH",
    "delivery_attempt",
    "delivery_resend",
    "event_fan_out",
    "events_purge",
    "send_test_event",
    "sweep",
    "webhook_endpoint_create",
    "webhook_endpoint_delete",
    "webhook_endpoint_roll_secret",
    "webhook_endpoint_update",
]
