"""Webhook services, the only writers of webhook rows, split by verb: endpoints (create, update, delete,
secrets, disabling, test events), the fan-out, attempts (sending and recording), deliveries (batches of due
attempts, resends) and the sweeper (outbox, retries, retention). Callers import them from here.

Delivery protocol. A delivery is due when it is ``pending`` and ``next_attempt_at <= now``. Whoever sends an
attempt first *claims* it (counts the attempt, pushes ``next_attempt_at`` one lease ahead), so duplicate task
messages and parallel workers never send the same attempt twice.

- The fan-out task takes the events of one committed transaction, and on PostgreSQL up to a batch of other
  events still waiting for their fan-out (a conditional UPDATE on ``fanned_out_at``: a duplicate message, or
  one whose events an earlier fan-out took along, finds nothing to take). In the same transaction it writes
  one delivery per subscribed endpoint, already claimed for its first attempt; after the commit it sends
  those attempts itself. Under load one task so serves many hand-offs.
- Retries, deliveries whose message was lost and attempts whose lease ran out are queued by the sweeper as
  batch tasks. A batch claims its due deliveries with one ``UPDATE … RETURNING`` joined to their events and
  endpoints, which also yields everything needed to sign and send.
- Attempts are sent concurrently, at most ``WEBHOOK_MAX_CONCURRENCY_PER_ENDPOINT`` at once per endpoint, over
  pooled connections, each signed when it leaves. Outcomes are recorded in bulk a chunk at a time, in one
  transaction per chunk: the attempt rows, the deliveries' new state (succeeded, or when to retry) and the
  endpoints' health. A claim is only trusted while its lease runs: what a batch could not send in time is
  handed back, due at once, and queued again as a batch of its own.
- A worker that dies mid-batch leaves claims whose lease runs out; the sweeper queues them again, so nothing
  is lost. Only attempts sent but not yet recorded can go out twice (at least once, never again after a
  recorded success).
"""

from webhooks.services.deliveries import deliveries_attempt, delivery_attempt, delivery_resend
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
from webhooks.services.fan_out import events_fan_out
from webhooks.services.sweeper import events_purge, sweep

__all__ = [
    "DESCRIPTION_MAX_LENGTH",
    "MAX_ENDPOINTS_PER_MODE",
    "MAX_ROLL_EXPIRY_HOURS",
    "URL_MAX_LENGTH",
    "deliveries_attempt",
    "delivery_attempt",
    "delivery_resend",
    "events_fan_out",
    "events_purge",
    "send_test_event",
    "sweep",
    "webhook_endpoint_create",
    "webhook_endpoint_delete",
    "webhook_endpoint_roll_secret",
    "webhook_endpoint_update",
]
