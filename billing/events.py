"""Records Stripe-shaped events inside the caller's transaction and hands them to webhooks on commit.

billing never imports webhooks: the fan-out task is enqueued by name, once per transaction with every event
the transaction recorded. If that hand-off fails (the broker is down) the change stays committed and the
webhooks sweeper finds the events by their empty ``fanned_out_at`` (a transactional outbox).

Inside a service door (``billing.services.door``) events are kept in memory and written with one multi-row
INSERT when the door's transaction is about to commit; elsewhere each is written at once.
"""

import contextlib
import contextvars
import logging
from collections.abc import Callable

from django.db import connection, transaction
from django.utils import timezone

from billing import broker, clock, context, statements
from billing.models import Event

logger = logging.getLogger(__name__)

FAN_OUT_TASK = "webhooks.tasks.fan_out_events"
API_VERSION = "2026-06-24.dahlia"

# The events a service door is collecting; None outside a door.
_buffer: contextvars.ContextVar[list[Event] | None] = contextvars.ContextVar("billing_event_buffer", default=None)
# Committed events waiting to be handed over together (a billing-cycle batch); None: hand over at once.
_gathered: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("billing_hand_off", default=None)
HAND_OFF_BATCH = 500
# Which of some events an enabled webhook endpoint subscribes to (their ids), set by the webhooks app; unset, every
# event counts as heard.
_heard: Callable[[list[Event]], set[str]] | None = None


def heard_by(check: Callable[[list[Event]], set[str]]) -> None:
    """Register the check of which events anyone listens to (``webhooks.apps``)."""
    global _heard
    _heard = check


def _to_hand_off(events: list[Event]) -> list[str]:
    """The ids of the events to hand to the fan-out. An event no endpoint listens to is written already taken
    (``fanned_out_at``, in real time even in a test clock's): its fan-out would write nothing, so it costs no task,
    no transaction and no sweep. The check reads the endpoints in the recording transaction: an endpoint added while
    it runs hears the events recorded after it, as Stripe's do. Within a billing-cycle batch (``handoffs_gathered``)
    the events are handed over a few hundred at a time, where one fan-out costs less than a check per transaction."""
    if _heard is None or _gathered.get() is not None:
        return [event.id for event in events]
    heard = _heard(events)
    taken = timezone.now()
    for event in events:
        if event.id not in heard:
            event.fanned_out_at = taken
    return [event.id for event in events if event.id in heard]


def changed_attributes(before: dict, after: dict) -> dict:
    """Stripe's ``previous_attributes``: the old values of top-level keys that changed."""
    return {key: before.get(key) for key in after if before.get(key) != after.get(key)}


def record(*, type: str, obj, data: dict, previous_attributes: dict | None = None) -> Event:
    request = context.current()
    event = Event(
        account_id=obj.account_id,
        livemode=obj.livemode,
        created=clock.now(),
        simulated=clock.simulated(),
        type=type,
        api_version=API_VERSION,
        data_object=data,
        object_id=str(data.get("id") or "")[:40],
        previous_attributes=previous_attributes,
        request_id=request.request_id,
        idempotency_key=request.idempotency_key,
    )
    buffered = _buffer.get()
    if buffered is not None:
        buffered.append(event)
    else:
        heard = _to_hand_off([event])
        event.save(force_insert=True)
        _hand_off(heard)
    return event


def collecting() -> contextvars.Token:
    """Start keeping events in memory (a service door's transaction); :func:`write_collected` writes them."""
    return _buffer.set([])


def write_collected(token: contextvars.Token) -> list[Event]:
    """Write the events kept since :func:`collecting` with one INSERT (inside the still open transaction)."""
    collected = _buffer.get() or []
    _buffer.reset(token)
    if collected:
        heard = _to_hand_off(collected)
        statements.insert(Event, collected)
        _hand_off(heard)
    return collected


def drop_collected(token: contextvars.Token) -> None:
    """The transaction failed: the events kept since :func:`collecting` never happened."""
    _buffer.reset(token)


def collected_count() -> int:
    return len(_buffer.get() or [])


def collected_after(mark: int) -> list[Event]:
    """The events kept since ``mark`` (a :func:`collected_count`), not yet written."""
    return list((_buffer.get() or [])[mark:])


def forget_collected_after(mark: int) -> None:
    """A nested step rolled back to its savepoint: drop the events it had added."""
    collected = _buffer.get()
    if collected is not None:
        del collected[mark:]


def _hand_off(event_ids: list[str]) -> None:
    """One fan-out task per transaction: the ids are gathered on the connection and sent after commit."""
    if not event_ids:
        return
    if not connection.in_atomic_block:
        enqueue_fan_out(event_ids)
        return
    gathered = getattr(connection, "_billing_fan_out", None)
    # The gathered ids belong to a transaction only while its on-commit callback is still registered: a rollback
    # (of the transaction, or of the savepoint that registered it) drops the callback and, with it, those ids.
    if gathered is None or not any(entry[1] is gathered[0] for entry in connection.run_on_commit):
        ids: list[str] = []

        def send():
            connection._billing_fan_out = None
            enqueue_fan_out(ids)

        gathered = connection._billing_fan_out = (send, ids)
        transaction.on_commit(send)
    gathered[1].extend(event_ids)


@contextlib.contextmanager
def handoffs_gathered():
    """Within the block (a billing-cycle batch: many short transactions), committed events are handed to the
    fan-out a few hundred at a time instead of once per transaction, and the rest when the block ends."""
    gathered: list[str] = []
    token = _gathered.set(gathered)
    try:
        yield
    finally:
        _gathered.reset(token)
        enqueue_fan_out(gathered)


def enqueue_fan_out(event_ids: list[str]) -> None:
    """Hand committed events to the webhook fan-out. Never raises: a committed change must answer its success, and
    the sweeper fans out any event whose hand-off was lost."""
    gathered = _gathered.get()
    if gathered is not None:
        gathered.extend(event_ids)
        if len(gathered) < HAND_OFF_BATCH:
            return
        event_ids = gathered[:]
        gathered.clear()
    if event_ids and not broker.send(FAN_OUT_TASK, [event_ids]):
        logger.warning("%d event(s) left for the webhooks sweeper to fan out", len(event_ids))
